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
names the code so the table can grow; otherwise the STS group is rejected. A table code whose own
description says something else (a parcel carrier's 'I::87:DELIVERED') is rejected too: the
letters are the sender's list, not the table's. DTM+334 (status
change, else DTM+7 effective date/time) is the event time (ACT); a group with only DTM+132/133
becomes an EST event. LOC+175 (else the group's first LOC) is the place of the activity; a group
with no LOC before its TDT takes the TDT's port of loading (LOAD/DEPA) or discharge (DISC/ARRI),
warned (LOC+12, port of discharge, counts as LOC+11). EQD (else RFF+EQ) is the container, one
event per container. A container number that fails ISO 6346 is rejected alone (its EQD segment);
the status of the group's other containers is kept, and a vehicle status (departure, arrival)
without any readable container is kept as the vehicle's event. A sender that writes each EQD
before its STS has each status read with the EQD(s) before it (warned).
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
# a delivery to the consignee: no container move Corridor maps, and not a gate-in whatever the code says
_DELIVERED = re.compile(r"\bdeliver", re.I)
# times of the status itself, in preference: 334 status change, 7 effective date/time (many carriers)
_ACTUAL = ("334", "7")
_TEXT_MODE = [(re.compile(r"\brail", re.I), "RAIL"), (re.compile(r"\b(vessel|ship)", re.I), "VESSEL"),
              (re.compile(r"\btruck", re.I), "TRUCK"), (re.compile(r"\bbarge", re.I), "BARGE")]


def map_message(ctx: Context) -> list[Event]:
    """Return the events of one IFTSTA message; bad STS groups are rejected one by one."""
    head, consignments = _structure(ctx, ctx.msg.body)
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


def _structure(ctx: Context, body):
    """(header, [(CNI segments, [STS groups])]) — a message without CNI is one consignment.

    The directories put EQD inside the STS group, after the STS. Some senders write the container
    first ('EQD / STS / DTM / LOC', once per box): read the standard way, each box would be given to
    the status before it. When a consignment's first EQD comes before its first STS, each status is
    read with the EQD(s) written before it instead (warned)."""
    head, parts = [], []
    for s in body:
        if s.tag == "CNI":
            parts.append(([s], []))
        elif parts:
            parts[-1][1].append(s)
        elif s.tag in ("STS", "EQD"):
            parts.append(([], [s]))
        else:
            head.append(s)
    consignments = []
    for cni, segs in parts:
        first_sts = next((i for i, s in enumerate(segs) if s.tag == "STS"), len(segs))
        first_eqd = next((i for i, s in enumerate(segs) if s.tag == "EQD"), len(segs))
        if first_eqd < first_sts:
            ctx.warn(f"message {ctx.msg.ref!r}: EQD written before its STS; each status is read with the EQD(s) "
                     f"before it")
            consignments.append((cni + segs[:first_eqd], _eqd_first(ctx, segs[first_eqd:])))
            continue
        groups = []
        for s in segs[first_sts:]:
            if s.tag == "STS":
                groups.append([s])
            else:
                groups[-1].append(s)
        consignments.append((cni + segs[:first_sts], groups))
    return head, consignments


def _eqd_first(ctx: Context, segs) -> list[list]:
    """STS groups of a stretch written 'EQD... STS...': a unit runs from an EQD to the next EQD that follows
    a status; each STS of the unit becomes a group holding it, then the unit's segments before the first
    STS (its EQDs and their LOC/RFF), then its own segments up to the next STS."""
    units = []
    for s in segs:
        if s.tag == "EQD" and (not units or any(t.tag == "STS" for t in units[-1])):
            units.append([s])
        else:
            units[-1].append(s)
    groups = []
    for unit in units:
        at = [i for i, s in enumerate(unit) if s.tag == "STS"]
        if not at:
            boxes = ", ".join(s.el(1) for s in unit if s.tag == "EQD")
            ctx.warn(f"segment {unit[0].pos}: EQD {boxes} is followed by no STS; nothing says what happened to it")
            continue
        prefix = unit[:at[0]]
        for i, j in zip(at, at[1:] + [len(unit)]):
            groups.append([unit[i], *prefix, *unit[i + 1:j]])
    return groups


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
    equipment, bad = _equipment(ctx, group)
    for r in bad:   # a wrong container number costs that container, not the status of the others or the vehicle
        ctx.reject(r)
    if bad and (equipment or kind == TR):
        ctx.warn(f"STS {code!r} ({dcsa}) at segment {sts.pos}: kept without {len(bad)} container(s) whose number is "
                 f"rejected")
    if not equipment:
        if kind == EQ:
            if bad:
                return []
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
        _agrees(sts, code, agency, text, STATUS[code.upper()][1])
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


def _agrees(sts, code: str, agency: str, text: str, dcsa: str) -> None:
    """Reject a table code whose own description (C556 9010) says something else happened.

    The letter codes are carriers' own (ANSI 315 in EDIFACT): a parcel carrier's 'I::87:DELIVERED' is
    no in-gate. A text that fits the table's meaning, or that says nothing the patterns know, passes."""
    if not text:
        return
    said = [d for p, (_, d) in _TEXT if p.search(text)] + (["delivered"] if _DELIVERED.search(text) else [])
    if not said or dcsa in said:
        return
    raise Reject(f"STS code {code!r} (agency {agency or '-'}) is {dcsa} in Corridor's status table but its text "
                 f"{text!r} says {said[0]}: the sender's code list is not that table", sts, "STS/C556",
                 "a status code whose description agrees with the table in corridor.ingest.edifact.iftsta")


def _equipment(ctx: Context, group) -> tuple[list, list[Reject]]:
    """([(id, size type, empty)] per readable container of an STS group, [Reject] per unreadable one).

    The containers are its EQDs, else its RFF+EQ."""
    eqds = [s for s in group if s.tag == "EQD"] or [
        Seg("EQD", ["CN", s.el(0, 1)], s.pos) for s in group if s.tag == "RFF" and s.el(0) == "EQ" and s.el(0, 1)]
    good, bad = [], []
    for s in eqds:
        try:
            good.append(ctx.equipment(s))
        except Reject as r:
            bad.append(r)
    return good, bad
