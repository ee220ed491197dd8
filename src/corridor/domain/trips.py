"""Container trips: one container number, reused trip after trip, is one trip at a time.

Timelines, ETAs, de-duplication scope and visibility hang off the trip, never off the bare
container number, so one shipper never sees another's use of the same box.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Trip:
    """The use of one container for one booking or shipment within a time window."""

    id: str
    equipment: str
    booking_ref: str | None
    parties: frozenset[str]
    starts_at: datetime
    ends_at: datetime | None = None   # open while the trip runs

    def covers(self, when: datetime, slack: timedelta = timedelta(days=2)) -> bool:
        """True when `when` falls in this trip's window (with slack for early/late reports)."""
        if when < self.starts_at - slack:
            return False
        return self.ends_at is None or when <= self.ends_at + slack


@dataclass(frozen=True, slots=True)
class Attribution:
    """The outcome of attributing an event: a trip, or held with the reason."""

    trip: Trip | None
    reason: str | None = None


def attribute(trips: list[Trip], when: datetime, booking_ref: str | None) -> Attribution:
    """Pick the one trip an event belongs to, or hold it with the reason; never guess.

    A booking reference decides when present. Otherwise the time window must point at exactly
    one trip of that container.
    """
    if booking_ref:
        hits = [t for t in trips if t.booking_ref == booking_ref]
        if len(hits) == 1:
            return Attribution(hits[0])
        if not hits:
            return Attribution(None, f"no trip of this container has booking {booking_ref}")
    hits = [t for t in trips if t.covers(when)]
    if len(hits) == 1:
        return Attribution(hits[0])
    if not hits:
        return Attribution(None, "no trip of this container covers the event time")
    return Attribution(None, "event time falls in {} trips ({}); a booking reference is needed".format(
        len(hits), ", ".join(t.id for t in hits)))
