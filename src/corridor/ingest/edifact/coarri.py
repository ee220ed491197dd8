"""COARRI (container discharge/loading report): LOAD or DISC per container on a vessel voyage.

The direction comes from the vessel call's LOC in the header: LOC+9 (port of loading) = LOAD,
LOC+11 (port of discharge) = DISC; BGM 46 (loading report) / 44 (discharge report) decides
when that LOC is missing, and a conflict is warned about (the LOC wins). A header naming both
LOC+9 and LOC+11 (one is the far end of the leg) takes the BGM code's side; else the port that
is also the previous/next port of call (LOC+94/LOC+61) is the far end; else it is rejected. The voyage and vessel
are the header TDT+20; the time is DTM+203 (execution) of the EQD group; LOC+147 (stowage
cell) is kept in `extra["position"]`.
"""

from __future__ import annotations

from corridor.domain.events import Classifier, Event, EventKind

from .common import Context, Reject, cancellation, dedupe, direction, find, loc, new_event, split

BGM_DIRECTION = {"46": "LOAD", "44": "DISC"}


def map_message(ctx: Context) -> list[Event]:
    """Return the LOAD/DISC events of one COARRI message; bad EQD groups are rejected one by one."""
    return vessel_operations(ctx, BGM_DIRECTION, Classifier.ACT, ("203",), "COARRI")


def vessel_operations(ctx: Context, bgm_direction: dict, classifier: Classifier, time_quals,
                      name: str) -> list[Event]:
    """Events of a COARRI/COPRAR: one per EQD group, at the vessel call of the header."""
    head, groups = split(ctx.msg.body, "EQD")
    bgm = find(head, "BGM")
    cancellation(bgm)
    code, call_loc = direction(ctx, head, bgm, bgm_direction, name)
    place, facility = loc(call_loc)
    tdt = find(head, "TDT", "20") or find(head, "TDT")
    if tdt is None:
        raise Reject(f"{name} without TDT+20 (the vessel voyage)", bgm or ctx.msg.unh, "TDT+20",
                     "TDT+20+<voyage>+1++<carrier>:172:20+++<call sign>:103::<vessel name>")
    call = ctx.transport(tdt, "VESSEL", place, facility)
    if not groups:
        raise Reject(f"{name} without any EQD (container)", tdt, "EQD", "EQD+CN+<container number>")
    created = ctx.created()
    header_time = None
    if time_quals is None:   # planned orders: the time of the vessel call itself
        quals = ("133", "132") if code == "LOAD" else ("132", "133")
        header_time = ctx.first_time(head, quals, place)
        if header_time is None:
            raise Reject(f"{name} has no DTM+132/133 (vessel arrival/departure) for the call", tdt, "DTM+132",
                         "DTM+132:<CCYYMMDDHHMM>:203 after the TDT+20")
    events = []
    for group in groups:
        try:
            timed = header_time or ctx.first_time(group, time_quals, place)
            if timed is None:
                raise Reject(f"no DTM+{time_quals[0]} (execution date/time) for the container", group[0],
                             f"DTM+{time_quals[0]}", f"DTM+{time_quals[0]}:<CCYYMMDDHHMM>:203 in the EQD group")
            eq, size, empty = ctx.equipment(group[0])
            cell = find(group, "LOC", "147")
            extra = {"position": cell.el(1)} if cell is not None and cell.el(1) else {}
            events.append(new_event(
                kind=EventKind.EQUIPMENT, code=code, classifier=classifier, event_time=timed[0],
                location=place, equipment=eq, size_type=size, empty=empty, transport_call=call,
                references=tuple(dict.fromkeys(ctx.references(head) + ctx.references(group))),
                source_party=ctx.source_party, message_id=ctx.message_id, created_at=created,
                event_id=f"{ctx.msg.ref}:{group[0].pos}", extra=extra))
        except Reject as r:
            ctx.reject(r)
    return dedupe(ctx, events)
