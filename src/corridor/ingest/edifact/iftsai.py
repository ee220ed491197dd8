"""IFTSAI (schedule and availability): port calls of a sailing as ScheduleUpdates and TRANSPORT events.

Per TDT (the sailing: voyage, carrier, vessel) every LOC that follows is a call; its DTMs give
132 estimated arrival, 133 estimated departure, 178 actual arrival, 186 actual departure,
232 scheduled arrival. Each time also becomes a TRANSPORT event (ARRI/DEPA, EST/ACT/PLN) of the
voyage at that call, so the ETA machinery sees it. BGM message function 1 (cancellation) marks
every call "cancelled" and yields no events; an estimated arrival later than the scheduled one
marks the call "delayed".
"""

from __future__ import annotations

from corridor.domain.events import Classifier, Event, EventKind
from corridor.ingest.results import ScheduleUpdate

from .common import Context, Reject, find, loc, new_event

TIMES = {"132": ("estimated_arrival", "ARRI", Classifier.EST), "133": ("estimated_departure", "DEPA", Classifier.EST),
         "178": ("actual_arrival", "ARRI", Classifier.ACT), "186": ("actual_departure", "DEPA", Classifier.ACT),
         "232": ("planned_arrival", "ARRI", Classifier.PLN)}


def map_message(ctx: Context) -> tuple[list[Event], list[ScheduleUpdate]]:
    """Return (TRANSPORT events, schedule updates) of one IFTSAI message; bad calls are rejected."""
    body = ctx.msg.body
    bgm = find(body, "BGM")
    cancelled = bgm is not None and bgm.el(2) == "1"
    sailings, current = [], None
    for s in body:
        if s.tag == "TDT":
            current = (s, [])
            sailings.append(current)
        elif current is not None:
            if s.tag == "LOC":
                current[1].append([s])
            elif current[1]:
                current[1][-1].append(s)
    if not sailings:
        raise Reject("IFTSAI without TDT (no sailing)", bgm or ctx.msg.unh, "TDT", "TDT+20+<voyage>...")
    created = ctx.created()
    events, updates = [], []
    for tdt, calls in sailings:
        call_base = ctx.transport(tdt, "VESSEL")
        carrier = tdt.el(4) or None
        if not calls:
            ctx.warn(f"segment {tdt.pos}: sailing {tdt.el(1)!r} lists no port call (LOC)")
        for group in calls:
            try:
                place, facility = loc(group[0])
                if place is None:
                    raise Reject("LOC without a location code", group[0], "LOC/C517", "a UN/LOCODE")
                times = {}
                for s in group:
                    if s.tag == "DTM" and s.el(0) in TIMES:
                        if not s.el(0, 1):
                            ctx.warn(f"segment {s.pos}: DTM+{s.el(0)} has an empty date; ignored")
                            continue
                        times.setdefault(s.el(0), (s, ctx.when(s, place)))
                fields = {TIMES[q][0]: t for q, (_, t) in times.items()}
                status = "cancelled" if cancelled else (
                    "delayed" if fields.get("estimated_arrival") and fields.get("planned_arrival")
                    and fields["estimated_arrival"] > fields["planned_arrival"] else None)
                updates.append(ScheduleUpdate(
                    location=place, voyage=call_base.voyage, vessel=call_base.vehicle, vessel_id=tdt.el(7) or None,
                    carrier=carrier, call_role=group[0].el(0) or None, facility_code=facility, status=status,
                    message_ref=ctx.msg.ref, **fields))
                if cancelled:
                    continue
                call = ctx.transport(tdt, "VESSEL", place, facility)
                for q, (seg, when) in times.items():
                    _, code, classifier = TIMES[q]
                    events.append(new_event(
                        kind=EventKind.TRANSPORT, code=code, classifier=classifier, event_time=when,
                        location=place, transport_call=call, source_party=ctx.source_party,
                        message_id=ctx.message_id, created_at=created, event_id=f"{ctx.msg.ref}:{seg.pos}",
                        extra={"call_role": group[0].el(0)}))
            except Reject as r:
                ctx.reject(r)
    if not updates and not any(r.message_ref == ctx.msg.ref for r in ctx.result.rejections):
        raise Reject("IFTSAI lists no port call (LOC after the TDT)", sailings[0][0], "LOC",
                     "LOC+<qualifier>+<UN/LOCODE>:139:6 followed by DTM+132/133")
    return events, updates
