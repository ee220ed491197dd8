"""The timetable: concrete departures (block trains, Caspian sailings, feeders) with capacity."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .network import Mode


@dataclass(frozen=True, slots=True)
class Departure:
    """One run of a service over one link: a train path or a sailing, with its capacity in TEU.

    Times are timezone-aware; `departs_at` is when the train leaves or the vessel sails from
    `origin` (after the link's dwell), `arrives_at` when it reaches `destination`.
    """

    id: str                 # e.g. L15-20261201-1: link, local date, run of the day
    link_id: str
    service: str            # service or line code (e.g. "KZ-AZ FEEDER", train number series)
    operator: str           # party id of the carrier running it
    mode: Mode
    origin: str             # Location.id
    destination: str        # Location.id
    departs_at: datetime
    arrives_at: datetime
    capacity_teu: int
    price_usd_per_teu: float = 0.0
    vehicle: str = ""       # vessel name / train number
    voyage: str = ""        # carrier voyage number or train number
    status: str = "scheduled"   # scheduled | cancelled | delayed

    @property
    def running_hours(self) -> float:
        return (self.arrives_at - self.departs_at).total_seconds() / 3600.0
