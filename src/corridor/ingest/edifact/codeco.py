"""CODECO (container gate-in/gate-out report): one GTIN or GTOT per container at the terminal.

BGM 1001 34 = gate-in report -> GTIN, 36 = gate-out report -> GTOT (SMDG CODECO manual).
The place of the move is LOC+165 (of the EQD group, else of the header; its related place is the
facility code). Depots that report empties give it as the place of empty equipment return
(LOC+99, gate-in) or despatch (LOC+98, gate-out) instead, seen in depot CODECOs written for lines;
that is read next, with a warning. Nothing else is a place of the move: LOC+9/11 (ports of the
main carriage) and LOC+7/8 (delivery, destination) lie elsewhere for an inland depot, and a party
(NAD+MS, the UNB sender) is no place. A message that names none is rejected once, with the reason.
The time is DTM+7 (effective date/time), else DTM+203 (execution), group else header.
The inland means is the TDT of the EQD group, else a header TDT that is not the main carriage
(TDT+1 pre-carriage, TDT+30 on-carriage: truck, rail, barge), TRUCK by default. The header's
TDT+20 is the sea leg the box is for, not the vehicle at the gate: a gate-in by truck of an
export box is never a vessel move; its voyage and vessel are kept in extra["vessel_voyage"] and
extra["vessel"].
"""

from __future__ import annotations

from corridor.domain.events import Classifier, Event, EventKind

from .common import Context, Reject, cancellation, dedupe, find, loc, new_event, split

DIRECTION = {"34": "GTIN", "36": "GTOT"}
# where a depot puts the place of an empty's move when it has no LOC+165 (3227: 99 return, 98 despatch)
EMPTY_PLACE = {"GTIN": "99", "GTOT": "98"}
TIMES = ("7", "203")
MAIN_CARRIAGE = "20"


def map_message(ctx: Context) -> list[Event]:
    """Return the gate events of one CODECO message; bad EQD groups are rejected one by one."""
    head, groups = split(ctx.msg.body, "EQD")
    bgm = find(head, "BGM")
    code = DIRECTION.get(bgm.el(0) if bgm else "")
    if code is None:
        raise Reject(f"CODECO BGM document code {bgm.el(0) if bgm else None!r} is neither gate-in nor gate-out",
                     bgm or ctx.msg.unh, "BGM/1001", "34 (gate-in report) or 36 (gate-out report)")
    cancellation(bgm)
    if not groups:
        raise Reject("CODECO without any EQD (container)", bgm, "EQD", "EQD+CN+<container number>")
    created = ctx.created()
    empty_qual = EMPTY_PLACE[code]
    head_place = find(head, "LOC", "165") or find(head, "LOC", empty_qual)
    places = [find(g, "LOC", "165") or find(g, "LOC", empty_qual) or head_place for g in groups]
    if not any(places):
        raise Reject(_no_place(head, groups, code, empty_qual), bgm, "LOC+165",
                     "LOC+165+<UN/LOCODE>:139:6+<terminal code>:TER:ZZZ in the header or each EQD group")
    head_tdt = next((s for s in head if s.tag == "TDT" and s.el(0) != MAIN_CARRIAGE), None)
    vessel = find(head, "TDT", MAIN_CARRIAGE)
    carried = {}
    if vessel is not None:
        carried = {k: v for k, v in (("vessel_voyage", vessel.el(1)), ("vessel", vessel.el(7, 3) or vessel.el(7)))
                   if v}
    head_refs = ctx.references(head)
    events = []
    for group, where in zip(groups, places):
        try:
            if where is None:
                raise Reject(f"no LOC+165 (place of the gate move) in this EQD group or the header, nor "
                             f"LOC+{empty_qual} (place of empty equipment {_RETURN_OR_DESPATCH[code]})", group[0],
                             "LOC+165", "LOC+165+<UN/LOCODE>:139:6+<terminal code>:TER:ZZZ")
            if where.el(0) != "165":
                ctx.warn(f"CODECO has no LOC+165; the place of the gate move is taken from LOC+{where.el(0)} (place "
                         f"of empty equipment {_RETURN_OR_DESPATCH[code]})")
            place, facility = loc(where)
            timed = ctx.first_time(group, TIMES, place) or ctx.first_time(head, TIMES, place)
            if timed is None:
                raise Reject("no DTM+7 (effective date/time of the gate move) nor DTM+203 (execution)", group[0],
                             "DTM+7", "DTM+7:<CCYYMMDDHHMM>:203")
            eq, size, empty = ctx.equipment(group[0])
            tdt = next((s for s in group if s.tag == "TDT" and s.el(0) != MAIN_CARRIAGE), None) or head_tdt
            call = ctx.transport(tdt, "TRUCK", place, facility)
            events.append(new_event(
                kind=EventKind.EQUIPMENT, code=code, classifier=Classifier.ACT, event_time=timed[0],
                location=place, equipment=eq, size_type=size, empty=empty, transport_call=call,
                references=tuple(head_refs + ctx.references(group)),
                source_party=ctx.source_party, message_id=ctx.message_id, created_at=created,
                event_id=f"{ctx.msg.ref}:{group[0].pos}", extra=dict(carried)))
        except Reject as r:
            ctx.reject(r)
    return dedupe(ctx, events)


_RETURN_OR_DESPATCH = {"GTIN": "return", "GTOT": "despatch"}


def _no_place(head, groups, code: str, empty_qual: str) -> str:
    """Why a CODECO names no place for any of its containers, with what it does name instead."""
    others = sorted({f"LOC+{s.el(0)} {loc(s)[0]}" for g in [head, *groups] for s in g
                     if s.tag == "LOC" and s.el(0) not in ("165", empty_qual) and loc(s)[0]})
    parties = sorted({f"NAD+{s.el(0)} {s.el(1)}" for s in head if s.tag == "NAD" and s.el(1)})
    said = "; it names " + ", ".join(others + parties) if others or parties else ""
    return (f"CODECO names no place for its {len(groups)} gate move(s): no LOC+165 (place of the gate move) nor "
            f"LOC+{empty_qual} (place of empty equipment {_RETURN_OR_DESPATCH[code]}) in the header or any EQD group"
            f"{said}, which are not where the gate is (ports of the sea leg, delivery places, parties): ask the "
            f"sender to add LOC+165, then replay")
