"""What every ingest format returns: events, rejections with reasons, schedules, stowage and
retractions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from corridor.domain.events import Event


@dataclass(frozen=True, slots=True)
class Rejection:
    """Something that could not be read or mapped, with the reason a person can act on."""

    reason: str
    segment: int | None = None       # EDIFACT: segment position in the file; JSON/CSV: item or line
    element: str | None = None       # the segment tag / element / JSON path concerned
    expected: str | None = None      # what would have been accepted
    message_ref: str | None = None   # the message (UNH reference, message id) it belongs to


@dataclass(frozen=True, slots=True)
class ScheduleUpdate:
    """One port call of a sailing as a schedule message reports it (IFTSAI)."""

    location: str                           # UN/LOCODE of the call
    voyage: str | None = None
    vessel: str | None = None               # vessel name, else its call sign / IMO number
    vessel_id: str | None = None            # call sign or IMO number as sent
    carrier: str | None = None
    call_role: str | None = None            # EDIFACT LOC qualifier of the call (9, 11, 94, 152...)
    facility_code: str | None = None        # terminal code
    planned_arrival: datetime | None = None     # all aware
    planned_departure: datetime | None = None
    estimated_arrival: datetime | None = None
    estimated_departure: datetime | None = None
    actual_arrival: datetime | None = None
    actual_departure: datetime | None = None
    status: str | None = None               # None | "cancelled" | "delayed"
    message_ref: str | None = None


@dataclass(frozen=True, slots=True)
class Stowage:
    """One container on board a sailing, as a bay plan (BAPLIE) places it."""

    equipment: str                          # ISO 6346 number (or the id as sent, see warnings)
    vessel: str | None = None
    vessel_id: str | None = None            # call sign or IMO number as sent
    voyage: str | None = None
    size_type: str | None = None
    position: str | None = None             # bay-row-tier (BBBRRTT) or the sender's format
    port_of_loading: str | None = None
    port_of_discharge: str | None = None
    port_of_departure: str | None = None    # the port the plan was made for (LOC+5)
    weight_kg: float | None = None
    empty: bool | None = None
    operator: str | None = None             # container operator (NAD+CA)
    message_ref: str | None = None


@dataclass(frozen=True, slots=True)
class Retraction:
    """A sender withdrawing an event it sent (DCSA 3.0 `isRetracted`): the event's data "must be
    discarded or ignored". It names the event by the sender's own eventID, so it only ever applies
    to that sender's events (store.retractions)."""

    event_id: str                           # the sender's eventID, as the events table keeps it
    path: str | None = None                 # where in the message (JSON path), for the warnings
    retracted_at: datetime | None = None    # when the sender retracted it (eventUpdatedDateTime), aware


@dataclass
class ParseResult:
    """The outcome of reading one received file: never an exception, always reasons."""

    format: str
    events: list[Event] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    schedule: list[ScheduleUpdate] = field(default_factory=list)
    stowage: list[Stowage] = field(default_factory=list)
    retractions: list[Retraction] = field(default_factory=list)   # DCSA 3.0 only; the others send none
    meta: dict = field(default_factory=dict)   # sender, recipient, interchange ref, types, charset

    @property
    def ok(self) -> bool:
        """True when nothing was rejected."""
        return not self.rejections
