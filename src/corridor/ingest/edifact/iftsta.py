"""IFTSTA (international multimodal status report): each STS group becomes an event per container.

Status table (STS element C556, code 9011; the code list agency is not needed to read these):

| STS code       | meaning (source vocabulary)                       | Corridor event          | mode hint |
| -------------- | ------------------------------------------------- | ----------------------- | --------- |
| GTIN GTOT LOAD DISC STUF STRP PICK DROP INSP | DCSA codes sent as such  | EQUIPMENT, same code    |           |
| ARRI DEPA      | DCSA codes sent as such                           | TRANSPORT, same code    |           |
| I              | in-gate (ANSI X12 315, carrier IFTSTA)            | EQUIPMENT GTIN          |           |
| OA             | out-gate                                          | EQUIPMENT GTOT          |           |
| AE             | loaded on vessel                                  | EQUIPMENT LOAD          | VESSEL    |
| UV             | unloaded from vessel                              | EQUIPMENT DISC          | VESSEL    |
| VD / VA        | vessel departure / arrival                        | TRANSPORT DEPA / ARRI   | VESSEL    |
| AL / UR        | loaded on / unloaded from rail                    | EQUIPMENT LOAD / DISC   | RAIL      |
| RL / AR        | rail departure / rail arrival                     | TRANSPORT DEPA / ARRI   | RAIL      |
| AM             | loaded on truck                                   | EQUIPMENT LOAD          | TRUCK     |
| EE             | empty equipment dispatched to the shipper         | EQUIPMENT GTOT (empty)  |           |
| RD             | empty container returned                          | EQUIPMENT GTIN (empty)  |           |

UN/ECE Recommendation 24 (the code list the UN directories name for C555 4405/9011, numeric), when
no code list agency or agency 6 (UN/ECE) is given; another agency's numeric codes are its own:

| Rec 24 code    | meaning                                           | Corridor event          | mode hint |
| -------------- | ------------------------------------------------- | ----------------------- | --------- |
| 1              | arrived (means of transport)                      | TRANSPORT ARRI          |           |
| 24             | departed (departure completed)                    | TRANSPORT DEPA          |           |
| 40             | arrived at port                                   | TRANSPORT ARRI          | VESSEL    |
| 26             | deramped (unloaded from a rail wagon)             | EQUIPMENT DISC          | RAIL      |
| 28             | stripped                                          | EQUIPMENT STRP          |           |
| 29             | unloaded                                          | EQUIPMENT DISC          |           |

A code outside the table is read from its description (STS C556 9010) when the text says clearly
what happened (gate in/out, unloaded/discharged, loaded, departed, arrived), with a warning that
names the code so the table can grow; otherwise the STS group is rejected. DTM+334 (status
change, else DTM+7 effective date/time) is the event time (ACT); a group with only DTM+132/133
becomes an EST event. LOC+175 (else the group's first LOC) is the place of the activity; a group
with no LOC before its TDT takes the TDT's port of loading (LOAD/DEPA) or discharge (DISC/ARRI),
warned (LOC+12, port of discharge, counts as LOC+11). EQD (else RFF+EQ) is the container, one
event per container.
The route LOCs of the TDT group are kept in `extra["route"]`, not turned into events: they may
belong to another leg (a vessel) than the TDT's own means (a train).
"""

from __future__ import annotations

import re

from corridor.domain.events import Classifier, Event, EventKind

from .common import Context, Reject, cancellation, find, loc, new_event
from .interchange import Seg

EQ, TR = EventKind.EQUIPMENT, EventKind.TRANSPORT
STATUS = {
    **{c: (EQ, c, None, None) for c in ("GTIN", "GTOT", "LOAD", "DISC", "STUF", "STRP", "PICK", "DROP", "INSP")},
    "ARRI": (TR, "ARRI", None, None), "DEPA": (TR, "DEPA", None, None),
    "I": (EQ, "GTIN", None, None), "OA": (EQ, "GTOT", None, None),
    "AE": (EQ, "LOAD", "VESSEL", None), "UV": (EQ, "DISC", "VESSEL", None),
    "VD": (TR, "DEPA", "VESSEL", None), "VA": (TR, "ARRI", "VESSEL", None),
    "AL": (EQ, "LOAD", "RAIL", None), "UR": (EQ, "DISC", "RAIL", None),
    "RL": (TR, "DEPA", "RAIL", None), "AR": (TR, "ARRI", "RAIL", None),
    "AM": (EQ, "LOAD", "TRUCK", None),
    "EE": (EQ, "GTOT", None, True), "RD": (EQ, "GTIN", None, True),
}
# UN/ECE Recommendation 24 transport status codes (C555 with no agency or agency 6): the unambiguous ones
REC24 = {"1": (TR, "ARRI", None, None), "24": (TR, "DEPA", None, None), "40": (TR, "ARRI", "VESSEL", None),
         "26": (EQ, "DISC", "RAIL", None), "28": (EQ, "STRP", None, None), "29": (EQ, "DISC", None, None)}
REC24_AGENCIES = ("", "6")
# description fallback, most specific first ("unloaded" before "loaded", "gate" before "arrived")
_TEXT = [
    (re.compile(r"gate[- ]?in|in[- ]?gate", re.I), (EQ, "GTIN")),
    (re.compile(r"gate[- ]?out|out[- ]?gate", re.I), (EQ, "GTOT")),
    (re.compile(r"\b(discharg|unload)", re.I), (EQ, "DISC")),
    (re.compile(r"\bloaded\b", re.I), (EQ, "LOAD")),
    (re.compile(r"\bdepart", re.I), (TR, "DEPA")),
    (re.compile(r"\barriv", re.I), (TR, "ARRI")),
]
# times of the status itself, in preference: 334 status change, 7 effective date/time (many carriers)
_ACTUAL = ("334", "7")
_TEXT_MODE = [(re.compile(r"\brail", re.I), "RAIL"), (re.compile(r"\b(vessel|ship)", re.I), "VESSEL"),
              (re.compile(r"\btruck", re.I), "TRUCK"), (re.compile(r"\bbarge", re.I), "BARGE")]


def map_message(ctx: Context) -> list[Event]:
    """Return the events of one IFTSTA message; bad STS groups are rejected one by one."""
    head, consignments = _structure(ctx.msg.body)
    cancellation(find(head, "BGM"))
    if not any(groups for _, groups in consignments):
        raise Reject("IFTSTA without any STS status segment", ctx.msg.unh, "STS", "STS+<category>+<status code>")
    created = ctx.created()
    events: list[Event] = []
    for cni_segs, groups in consignments:
        refs_outer = ctx.references(head) + ctx.references(cni_segs)
        for group in groups:
            try:
                events += _status_events(ctx, group, refs_outer, created)
            except Reject as r:
                ctx.reject(r)
    return events


def _structure(body):
    """(header, [(CNI segments, [STS groups])]) — a message without CNI is one consignment."""
    head, consignments = [], []
    current = None
    for s in body:
        if s.tag == "CNI":
            current = ([s], [])
            consignments.append(current)
        elif s.tag == "STS":
            if current is None:
                current = ([], [])
                consignments.append(current)
            current[1].append([s])
        elif current is None:
            head.append(s)
        elif current[1]:
            current[1][-1].append(s)
        else:
            current[0].append(s)
    return head, consignments


def _status_events(ctx: Context, group, refs_outer, created) -> list[Event]:
    sts = group[0]
    code, agency, text = sts.el(1), sts.el(1, 2), sts.el(1, 3)
    kind, dcsa, mode_hint, empty_hint = _status(ctx, sts, code, agency, text)
    tdt_at = next((i for i, s in enumerate(group) if s.tag == "TDT"), len(group))
    own, tdt_group = group[:tdt_at], group[tdt_at:]
    place, facility = loc(find(own, "LOC", "175") or find(own, "LOC"))
    if place is None:
        place, facility = _route_place(ctx, code, dcsa, tdt_group)
    timed = ctx.first_time(own, _ACTUAL, place) or ctx.first_time(own, ("132", "133"), place)
    if timed is None:
        raise Reject(f"STS {code!r} has no DTM+334 (status change date/time)", sts, "DTM+334",
                     "DTM+334:<CCYYMMDDHHMM>:203 in the STS group")
    when, qual = timed
    classifier = Classifier.ACT if qual in _ACTUAL else Classifier.EST
    tdt = find(tdt_group, "TDT")
    call = ctx.transport(tdt, mode_hint or "VESSEL", place, facility)
    if mode_hint and tdt is not None and call.mode != mode_hint:
        ctx.warn(f"STS {code!r} implies {mode_hint} but the TDT names {call.mode}; TDT kept")
    refs = list(dict.fromkeys(refs_outer + ctx.references(group)))
    equipment = _equipment(ctx, group)
    if not equipment:
        if kind == EQ:
            raise Reject(f"STS {code!r} ({dcsa}) concerns no container: no EQD or RFF+EQ in its group", sts,
                         "EQD", "EQD+CN+<container number>")
        equipment = [(None, None, None)]
    route = [{"qualifier": s.el(0), "location": s.el(1)} for s in tdt_group if s.tag == "LOC"]
    events = []
    for eq, size, empty in equipment:
        events.append(new_event(
            kind=kind, code=dcsa, classifier=classifier, event_time=when, location=place,
            equipment=eq, size_type=size, empty=empty if empty is not None else empty_hint,
            transport_call=call, references=tuple(refs), source_party=ctx.source_party,
            message_id=ctx.message_id, created_at=created, event_id=f"{ctx.msg.ref}:{sts.pos}",
            extra={"status_code": code, "status_agency": agency, "status_text": text, "route": route}))
    return events


def _route_place(ctx: Context, code: str, dcsa: str, tdt_group) -> tuple[str | None, str | None]:
    """The place of a status whose group has no LOC of its own, from the route LOCs of its TDT.

    A load or departure happens at the port of loading / place of departure (LOC+9, LOC+5), a
    discharge or arrival at the port of discharge / place of arrival (LOC+11, LOC+12, LOC+8,
    LOC+7); a gate or other status has no such port and keeps no place."""
    quals = {"LOAD": ("9", "5"), "DEPA": ("9", "5"), "DISC": ("11", "12", "8", "7"),
             "ARRI": ("11", "12", "8", "7")}.get(dcsa)
    for q in quals or ():
        found = find(tdt_group, "LOC", q)
        if found is not None and loc(found)[0]:
            place, facility = loc(found)
            ctx.warn(f"STS {code!r} ({dcsa}) has no LOC of its own; the place is the TDT's LOC+{q} {place}")
            return place, facility
    return None, None


def _status(ctx: Context, sts, code: str, agency: str, text: str):
    """(kind, DCSA code, mode hint, empty hint) of an STS, from the table or its description."""
    if code.upper() in STATUS:
        return STATUS[code.upper()]
    if code.strip() in REC24 and agency.strip() in REC24_AGENCIES:
        return REC24[code.strip()]
    for pattern, (kind, dcsa) in _TEXT:
        if text and pattern.search(text):
            mode = next((m for p, m in _TEXT_MODE if p.search(text)), None)
            ctx.warn(f"STS code {code!r} (agency {agency or '-'}) is not in the status table; "
                     f"mapped to {dcsa} from its text {text!r}")
            return kind, dcsa, mode, None
    if not code and not text:
        category = ":".join(c for c in (sts.el(0), sts.el(0, 1), sts.el(0, 2)) if c)
        raise Reject(f"STS has no status code (C555 status, 4405 empty; category {category or '-'}): "
                     f"nothing says what happened", sts, "STS/C555", "STS+<category>+<status code>, e.g. STS+1+AE")
    own = (f"; a numeric code under agency {agency!r} is that agency's own list, not UN/ECE Rec 24"
           if code.isdigit() and code in REC24 and agency.strip() not in REC24_AGENCIES else "")
    raise Reject(f"STS status {code!r} (agency {agency or '-'}, text {text!r}) has no DCSA equivalent{own}",
                 sts, "STS/C556", "a status code from the table in corridor.ingest.edifact.iftsta")


def _equipment(ctx: Context, group):
    """(id, size type, empty) per container of an STS group: its EQDs, else its RFF+EQ."""
    eqds = [s for s in group if s.tag == "EQD"]
    if eqds:
        return [ctx.equipment(s) for s in eqds]
    out = []
    for s in group:
        if s.tag == "RFF" and s.el(0) == "EQ" and s.el(0, 1):
            out.append(ctx.equipment(Seg("EQD", ["CN", s.el(0, 1)], s.pos)))
    return out
