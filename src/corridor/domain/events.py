"""The one event model every input becomes: DCSA Track & Trace 2.2 semantics, 3.0-ready.

Three DCSA kinds (transport, equipment, shipment) plus IoT positions and corridor alerts. Each
event carries PLN/EST/ACT, an aware event time, where it happened, what it concerns (equipment,
transport call, trip, references) and who may see it (`parties`). Two derived keys make ingest
exactly-once: `dedup_key` identifies the very same report (re-sent files collapse onto it) and
`milestone_key` identifies the milestone, so a later estimate supersedes an earlier one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from enum import StrEnum


class EventKind(StrEnum):
    TRANSPORT = "TRANSPORT"   # ARRI / DEPA of a vehicle at a transport call
    EQUIPMENT = "EQUIPMENT"   # LOAD, DISC, GTIN, GTOT, STUF, STRP, PICK, DROP, INSP, RSEA, RMVD
    SHIPMENT = "SHIPMENT"     # RECE, CONF, ISSU, HOLD, RELS ... on a booking or document
    IOT = "IOT"               # POSI: a GPS/tracker position (no DCSA 2.2 counterpart)
    ALERT = "ALERT"           # corridor's own: LATE, DWEL, MISS, SILN, OFFR


class Classifier(StrEnum):
    PLN = "PLN"  # planned
    EST = "EST"  # estimated
    ACT = "ACT"  # actual


TRANSPORT_CODES = {"ARRI", "DEPA"}
EQUIPMENT_CODES = {"LOAD", "DISC", "GTIN", "GTOT", "STUF", "STRP", "PICK", "DROP", "INSP", "RSEA", "RMVD"}
SHIPMENT_CODES = {"RECE", "DRFT", "PENA", "PENU", "REJE", "APPR", "ISSU", "SURR", "SUBM", "VOID",
                  "CONF", "REQS", "CMPL", "HOLD", "RELS", "CANC"}
IOT_CODES = {"POSI"}
ALERT_CODES = {"LATE", "DWEL", "MISS", "SILN", "OFFR", "NOTC"}
CODES = {EventKind.TRANSPORT: TRANSPORT_CODES, EventKind.EQUIPMENT: EQUIPMENT_CODES,
         EventKind.SHIPMENT: SHIPMENT_CODES, EventKind.IOT: IOT_CODES, EventKind.ALERT: ALERT_CODES}


@dataclass(frozen=True, slots=True)
class TransportCall:
    """The vehicle and place of an event: which train or sailing, where (DCSA transportCall)."""

    mode: str                        # RAIL | VESSEL | TRUCK | BARGE (DCSA modeOfTransport)
    location: str | None = None      # UN/LOCODE or corridor location id
    facility_code: str | None = None # SMDG / BIC / ESR code of the terminal or station
    facility_type: str | None = None # POTE, RAMP, INTE, BOCR, DEPO, BRTH
    voyage: str | None = None        # carrier voyage number, or the train number on rail
    service: str | None = None       # carrier service code
    vehicle: str | None = None       # vessel name or IMO, train or truck id
    departure_id: str | None = None  # the Corridor timetable departure this call belongs to
    wagon: str | None = None         # wagon number when the railway reports per wagon


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened, is planned or is expected, in one model for every source."""

    kind: EventKind
    code: str
    classifier: Classifier
    event_time: datetime                     # aware; kept in the sender's offset
    location: str | None = None              # UN/LOCODE or corridor location id
    equipment: str | None = None             # ISO 6346 container number
    size_type: str | None = None             # ISO size-type code (22G1, 45G1)
    empty: bool | None = None                # DCSA emptyIndicatorCode EMPTY/LADEN
    transport_call: TransportCall | None = None
    references: tuple[tuple[str, str], ...] = ()   # (BKG|BOL|SMGS|CIM|TRN|WGN, value)
    trip_id: str | None = None               # the container trip it belongs to (set at attribution)
    lat: float | None = None
    lon: float | None = None
    source_party: str = ""                   # party id of the sender
    parties: frozenset[str] = frozenset()    # who may see it, besides the administrator
    message_id: str | None = None            # the raw message it came from
    created_at: datetime | None = None       # eventCreatedDateTime: when the sender made it
    reason: str | None = None                # alerts and shipment events: why (free text)
    event_id: str | None = None              # sender's id (DCSA eventID), kept for traceability
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.event_time.tzinfo is None:
            raise ValueError("event_time must carry a UTC offset (ISO 8601 with offset)")
        if self.code not in CODES[self.kind]:
            raise ValueError(f"{self.code!r} is not a {self.kind.value} event type code")

    def reference(self, kind: str) -> str | None:
        """The first reference of that kind (BKG, BOL, SMGS, TRN, WGN), or None."""
        return next((v for k, v in self.references if k == kind), None)

    @property
    def subject(self) -> str:
        """What the event is about: the container, else the vehicle, else the booking."""
        tc = self.transport_call
        return (self.equipment or (tc.voyage or tc.vehicle if tc else None)
                or self.reference("BKG") or self.reference("BOL") or "")

    @property
    def milestone_key(self) -> str:
        """Identity of the milestone (not of the report): EST/PLN updates share it."""
        return event_keys(self)[0]

    @property
    def dedup_key(self) -> str:
        """Identity of the report: same milestone, same time, same position = the same event."""
        return event_keys(self)[1]

    def with_trip(self, trip_id: str, parties: frozenset[str]) -> "Event":
        """The same event attributed to a trip, visible to that trip's parties as well."""
        return replace(self, trip_id=trip_id, parties=self.parties | parties)


def _unpickle(cls, values: tuple):
    new = object.__new__(cls)
    for setter, v in zip(_SETTERS[cls], values):
        setter(new, v)
    return new


def _reduce(self):
    # events cross process boundaries (parsing on other cores: corridor.ingest.pool); they are
    # validated already, so they are rebuilt slot by slot, not by dataclass's generic __setstate__
    return _unpickle, (type(self), tuple(getattr(self, n) for n in self.__slots__))


_SETTERS: dict[type, list] = {}
for _cls in (TransportCall, Event):
    _SETTERS[_cls] = [_cls.__dict__[n].__set__ for n in _cls.__slots__]
    _cls.__reduce__ = _reduce


def event_keys(e: Event) -> tuple[str, str]:
    """(milestone_key, dedup_key) of an event, computed together on the append path.

    The milestone leaves out the trip on purpose: attribution may come later than the report, and
    one container cannot reach the same milestone on the same vehicle in two trips at once. A
    planned (PLN) event that names a booking keeps that booking in its milestone: two bookings
    planned on the same train are two plans, never one. The report key leaves out the sender's
    eventID: many systems mint a new one on every re-send, which is how public platforms end up
    delivering each event three times.
    """
    tc = e.transport_call
    bkg = None
    for kind, value in e.references:
        if kind == "BKG":
            bkg = value
            break
    if tc is not None:
        vehicle = tc.voyage or tc.vehicle or tc.departure_id or ""
        if tc.wagon and not e.equipment:
            vehicle += "/" + tc.wagon   # a railway's per-wagon report: one milestone per wagon
        subject = e.equipment or tc.voyage or tc.vehicle
    else:
        vehicle = ""
        subject = e.equipment
    subject = subject or bkg or e.reference("BOL") or ""
    # the enums' values through plain dicts: Enum.value and EventKind.X are Python-level look-ups,
    # and this runs for every event ingested
    kind = e.kind
    parts = [_KIND_VALUE[kind], e.code, _CLASSIFIER_VALUE[e.classifier], subject, e.location or "", vehicle]
    if bkg and subject != bkg and e.classifier is _PLN:
        parts.append(bkg)   # appended only here, so every other milestone keeps its key
    if kind is _ALERT and e.extra and e.extra.get("booked"):
        # a missed connection is about one booked departure, said as foreseen, missed or cancelled:
        # two of them at the same time and place are two alerts (a repeat still collapses)
        parts += [e.extra["booked"], e.extra.get("as") or ""]
    milestone = _digest(parts)
    when = _utc_seconds(e.event_time)
    pos = f"{e.lat:.5f},{e.lon:.5f}" if e.lat is not None and e.lon is not None else ""
    dedup = _digest((milestone, when, pos, e.source_party if kind is _IOT else ""))
    return milestone, dedup


def reasserted_key(dedup_key: str, created: datetime) -> str:
    """The report key of an estimate its sender goes back to (A, then B, then A again): the same
    report made anew at `created`, so a re-send of it still collapses onto it."""
    return _digest((dedup_key, _utc_seconds(created)))


_UTC = timezone.utc
_KIND_VALUE = {k: k.value for k in EventKind}
_CLASSIFIER_VALUE = {c: c.value for c in Classifier}
_PLN, _ALERT, _IOT = Classifier.PLN, EventKind.ALERT, EventKind.IOT


def _utc_seconds(t: datetime) -> str:
    """`t.astimezone(timezone.utc).isoformat(timespec="seconds")`; a time without a fraction of a
    second reads the same without the keyword, which costs as much as the rest of the call."""
    u = t.astimezone(_UTC)
    return u.isoformat(timespec="seconds") if u.microsecond else u.isoformat()


def _digest(parts) -> str:
    # surrogatepass: a lone surrogate a sender slipped into a reference must not break storage
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]
