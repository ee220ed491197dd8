"""CODECO (container gate-in/gate-out report): one GTIN or GTOT per container at the terminal.

BGM 1001 34 = gate-in report -> GTIN, 36 = gate-out report -> GTOT (SMDG CODECO manual).
The terminal is LOC+165 (of the EQD group, else of the header; its related place is the
facility code), the time DTM+7 (effective date/time of the move, group else header). The
inland means (TDT+1 / TDT in the group: truck, rail) is the transport call, TRUCK by default.
"""

from __future__ import annotations

from corridor.domain.events import Classifier, Event, EventKind

from .common import Context, Reject, cancellation, dedupe, find, loc, new_event, split

DIRECTION = {"34": "GTIN", "36": "GTOT"}


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
    head_tdt = find(head, "TDT")
    head_refs = ctx.references(head)
    events = []
    for group in groups:
        try:
            place, facility = loc(find(group, "LOC", "165") or find(head, "LOC", "165"))
            if place is None:
                raise Reject("no LOC+165 (terminal of the gate move) in the EQD group or the header", group[0],
                             "LOC+165", "LOC+165+<UN/LOCODE>:139:6+<terminal code>:TER:ZZZ")
            timed = ctx.first_time(group, ("7",), place) or ctx.first_time(head, ("7",), place)
            if timed is None:
                raise Reject("no DTM+7 (effective date/time of the gate move)", group[0], "DTM+7",
                             "DTM+7:<CCYYMMDDHHMM>:203")
            eq, size, empty = ctx.equipment(group[0])
            call = ctx.transport(find(group, "TDT") or head_tdt, "TRUCK", place, facility)
            events.append(new_event(
                kind=EventKind.EQUIPMENT, code=code, classifier=Classifier.ACT, event_time=timed[0],
                location=place, equipment=eq, size_type=size, empty=empty, transport_call=call,
                references=tuple(head_refs + ctx.references(group)),
                source_party=ctx.source_party, message_id=ctx.message_id, created_at=created,
                event_id=f"{ctx.msg.ref}:{group[0].pos}"))
        except Reject as r:
            ctx.reject(r)
    return dedupe(ctx, events)
