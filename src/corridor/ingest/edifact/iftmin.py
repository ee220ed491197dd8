"""IFTMIN railway consignment notes (OSJD: BGM 722 = SMGS, 701 = CIM, 720 = either): RECE events, PLN LOAD.

The note number (BGM 1004) is the SMGS/CIM reference; it is also given as BOL, because a note
without a container is identified by it alone (720, the generic rail note, gives only the BOL).
The acceptance time is DTM+143 (acceptance of the goods, as OSJD railways send it), else DTM+137
(date of the note); the acceptance place LOC+88 (place of receipt), else LOC+5 (departure
station), else LOC+9.
The train is a TDT whose mode is rail (8067 '2', an old two-digit '20', or means 21-25): its
conveyance number is the train number (TRN); wagons are EQD+RR (UIC/OSJD numbers; a failed check
digit is warned about, the number kept). A container is an EQD+CN, or an EQA+CN under a wagon's
EQD+RR ('EQA+CN+<number>/<size type>', the OSJD layout: the container attached to its wagon). A
container's wagon is its EQA+RR, else the wagon EQD just before it, else the only wagon.
One SHIPMENT RECE (ACT) per container (or one for the note when it has no container); when the
note has a planned departure (DTM+133) there is also an EQUIPMENT LOAD (PLN) per container on
that train.
"""

from __future__ import annotations

from corridor.domain.equipment import wagon_number
from corridor.domain.errors import InvalidEquipment
from corridor.domain.events import Classifier, Event, EventKind

from .common import Context, Reject, cancellation, dedupe, find, loc, new_call, new_event
from .interchange import Seg

NOTES = {"722": "SMGS", "701": "CIM"}
# 1001 code 720, 'rail consignment note (generic term)' (DB Cargo's CIM/SMGS generator sends it): a rail
# note that does not say whether it is CIM or SMGS, so its number is kept as the B/L reference only
GENERIC_NOTE = "720"
WAGON_QUALIFIERS = ("RR", "RW")   # railcar; some railways send RW (railway wagon)
ACCEPTED = ("143", "137")         # acceptance of the goods (OSJD), else the date of the note


def map_message(ctx: Context) -> list[Event]:
    """Return the events of one IFTMIN railway consignment note."""
    body = ctx.msg.body
    bgm = find(body, "BGM")
    doc = bgm.el(0) if bgm else ""
    kind = NOTES.get(doc) or ("rail consignment note" if doc == GENERIC_NOTE else None)
    if kind is None:
        raise Reject(f"IFTMIN BGM document code {bgm.el(0) if bgm else None!r} is not a railway consignment note",
                     bgm or ctx.msg.unh, "BGM/1001",
                     "722 (SMGS consignment note), 701 (CIM consignment note) or 720 (rail consignment note)")
    cancellation(bgm)
    number = bgm.el(1)
    if not number:
        raise Reject(f"{kind} consignment note without a number", bgm, "BGM/1004", "the note number")
    place, facility = loc(find(body, "LOC", "88") or find(body, "LOC", "5") or find(body, "LOC", "9"))
    if place is None:
        raise Reject(f"{kind} note {number}: no place of acceptance", bgm, "LOC+88",
                     "LOC+88 (place of receipt) or LOC+5 (departure station)")
    accepted = ctx.first_time(body, ACCEPTED, place)
    if accepted is None:
        raise Reject(f"{kind} note {number}: no DTM+143 (acceptance of the goods) nor DTM+137 (date of the note)",
                     bgm, "DTM+143", "DTM+143:<CCYYMMDDHHMM>:203 or DTM+137:<CCYYMMDDHHMM>:203")
    train_tdt = next((s for s in body if s.tag == "TDT" and _mode(ctx, s) == "RAIL"), None)
    train = train_tdt.el(1) if train_tdt is not None else ""
    units = _units(ctx, body)
    planned = ctx.first_time(body, ("133",), place)
    base_refs = (([(kind, number)] if doc in NOTES else []) + [("BOL", number)] + ctx.references(body)
                 + ([("TRN", train)] if train else []))
    events = []
    for eq, size, empty, wagon, seg in units or [(None, None, None, None, bgm)]:
        refs = tuple(dict.fromkeys(base_refs + ([("WGN", wagon)] if wagon else [])))
        common = dict(location=place, equipment=eq, size_type=size, empty=empty, references=refs,
                      source_party=ctx.source_party, message_id=ctx.message_id, created_at=accepted[0],
                      event_id=f"{ctx.msg.ref}:{seg.pos}")
        events.append(new_event(kind=EventKind.SHIPMENT, code="RECE", classifier=Classifier.ACT,
                                event_time=accepted[0], **common))
        if planned and eq:
            call = new_call(mode="RAIL", location=place, facility_code=facility,
                            voyage=train or None, wagon=wagon)
            events.append(new_event(kind=EventKind.EQUIPMENT, code="LOAD", classifier=Classifier.PLN,
                                    event_time=planned[0], transport_call=call, **common))
    return dedupe(ctx, events)


def _mode(ctx: Context, tdt: Seg) -> str | None:
    """The TDT's mode; a code that names none clearly costs the note its train number, not the note."""
    try:
        return ctx.mode(tdt)
    except Reject as r:
        ctx.warn(f"segment {tdt.pos}: {r.reason}; this TDT is not read as the train")
        return None


def _units(ctx: Context, body):
    """(container, size, empty, wagon, EQD segment) per container; wagons as described above."""
    wagons, containers = [], []
    last_wagon = None
    in_wagon = False   # between a wagon's EQD and the next EQD: its EQA+CN are the containers it carries
    for i, s in enumerate(body):
        if s.tag == "EQA" and in_wagon and s.el(0) == "CN" and s.el(1).strip():
            number, _, size = s.el(1).partition("/")
            try:
                eq, _, _ = ctx.equipment(Seg("EQD", ["CN", number.strip()], s.pos))
            except Reject as r:
                ctx.reject(r)
                continue
            containers.append([eq, size.strip() or None, None, last_wagon, s])
            continue
        if s.tag != "EQD":
            continue
        in_wagon = s.el(0) in WAGON_QUALIFIERS
        if s.el(0) in WAGON_QUALIFIERS:
            last_wagon = _wagon(ctx, s.el(1))
            wagons.append(last_wagon)
        elif s.el(0) == "CN":
            try:
                eq, size, empty = ctx.equipment(s)
            except Reject as r:
                ctx.reject(r)
                continue
            eqa = next((t for t in body[i + 1:] if t.tag in ("EQD", "EQA")), None)
            own = _wagon(ctx, eqa.el(1)) if eqa is not None and eqa.tag == "EQA" and eqa.el(0) in WAGON_QUALIFIERS else None
            containers.append([eq, size, empty, own or last_wagon, s])
    for c in containers:
        if c[3] is None and len(wagons) == 1:
            c[3] = wagons[0]
    return [tuple(c) for c in containers]


def _wagon(ctx: Context, raw: str) -> str | None:
    """The wagon number, normalised when its check digit holds, else as sent (with a warning)."""
    if not raw:
        return None
    try:
        return wagon_number(raw)
    except InvalidEquipment as exc:
        ctx.warn(f"{exc}; kept as sent")
        return raw.strip()
