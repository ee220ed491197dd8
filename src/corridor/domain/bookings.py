"""Bookings: space reserved on concrete departures, and their lifecycle."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from .errors import InvalidTransition


class BookingStatus(StrEnum):
    REQUESTED = "requested"
    CONFIRMED = "confirmed"
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


# which status may follow which; amendments (re-routing) keep a booking confirmed/in transit
_NEXT = {
    BookingStatus.REQUESTED: {BookingStatus.CONFIRMED, BookingStatus.CANCELLED},
    BookingStatus.CONFIRMED: {BookingStatus.IN_TRANSIT, BookingStatus.CANCELLED, BookingStatus.CONFIRMED},
    BookingStatus.IN_TRANSIT: {BookingStatus.DELIVERED, BookingStatus.IN_TRANSIT},
    BookingStatus.DELIVERED: set(),
    BookingStatus.CANCELLED: set(),
}


def check_transition(current: BookingStatus, new: BookingStatus) -> None:
    """Raise InvalidTransition unless the lifecycle allows `current` -> `new`."""
    if new not in _NEXT[current]:
        raise InvalidTransition(f"a {current.value} booking cannot become {new.value}")


@dataclass(frozen=True, slots=True)
class BookingLeg:
    """One leg of a booked journey: the departure and the TEU reserved on it."""

    seq: int
    departure_id: str
    origin: str
    destination: str
    departs_at: datetime
    arrives_at: datetime
    teu: int


@dataclass(frozen=True, slots=True)
class ContainerRequest:
    """'2x40' = two 40' boxes: the quantity and the ISO size-type."""

    count: int
    size_type: str   # 22G1, 42G1, 45G1

    @property
    def teu(self) -> int:
        from .equipment import teu_of
        return self.count * teu_of(self.size_type)


@dataclass
class Booking:
    """A shipper's reservation of space from origin to destination on concrete departures."""

    ref: str
    shipper: str                     # party id
    origin: str
    destination: str
    ready_at: datetime
    containers: tuple[ContainerRequest, ...]
    status: BookingStatus = BookingStatus.REQUESTED
    legs: list[BookingLeg] = field(default_factory=list)
    forwarder: str | None = None
    nominated: frozenset[str] = frozenset()   # other parties the shipper lets see it
    price_usd: float = 0.0
    co2e_kg: float = 0.0
    equipment: list[str] = field(default_factory=list)   # container numbers once assigned

    @property
    def teu(self) -> int:
        return sum(c.teu for c in self.containers)

    @property
    def parties(self) -> frozenset[str]:
        """Everyone who may see this booking (besides operators on its legs and the admin)."""
        return frozenset({self.shipper, *(p for p in [self.forwarder] if p), *self.nominated})

    def transition(self, new: BookingStatus) -> None:
        check_transition(self.status, new)
        self.status = new
