"""The twin's shippers book through the real booking service, on concrete timetable departures.

The model knows the way a train's boxes will go (origin, Chinese border, Kazakh border, Caspian
port, Alat, onward); the booker finds, hop by hop, the first departure with room that connects,
and books it with `BookingService.book` (reserved space, legs, promised arrival, PLN events).
"""

from __future__ import annotations

import bisect
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from corridor.booking.service import BookingService
from corridor.domain.bookings import ContainerRequest
from corridor.domain.errors import DomainError
from corridor.domain.network import Network
from corridor.domain.timetable import Departure
from corridor.store import Store
from corridor.store import network as netstore

log = logging.getLogger("corridor.twin")
CONNECT = timedelta(hours=2)          # least time between arriving somewhere and leaving again
SEARCH = timedelta(days=10)           # how far ahead a hop looks for a departure with room


@dataclass(frozen=True, slots=True)
class Booked:
    """A booking the twin made: its reference and the departure of each hop."""

    ref: str
    legs: dict                         # (from, to) -> Departure


class Booker:
    """Books shippers' shares of a train on the timetable of one store (departures read once)."""

    def __init__(self, store: Store, hops: set[tuple[str, str]], start: datetime, end: datetime,
                 network: Network | None = None, clock: Callable[[], datetime] | None = None):
        # bookings are made, stamped and numbered in simulated time: `clock`, or else the time of
        # the booking being made, as the model books a share when its train is loaded (ready = now)
        self._clock, self._booking_at = clock, start
        self.service = BookingService(store, clock=self.now)
        # the connection a departure needs before it, as the route planner applies it: the link's
        # dwell at its origin (border formalities, gauge change, vessel handling) or the station's
        # least transfer time. Booking tighter connections promised arrivals no box could keep.
        self.connect: dict[str, timedelta] = {}
        if network is not None:
            for link in network.links:
                self.connect[link.id] = max(CONNECT, timedelta(hours=max(
                    link.dwell_hours, network.locations[link.origin].min_transfer_hours)))
        self.deps: dict[tuple[str, str], list[Departure]] = defaultdict(list)
        self.free: dict[str, int] = {}
        with store.read() as conn:
            for a, b in hops:
                for dep, reserved in netstore.list_departures(conn, start=start, end=end, origin=a, destination=b):
                    if dep.status != "cancelled":
                        self.deps[(a, b)].append(dep)
                        self.free[dep.id] = dep.capacity_teu - reserved
        self.times = {k: [d.departs_at for d in v] for k, v in self.deps.items()}
        self.failed = 0
        self.teu: dict[str, int] = {}      # booking ref -> its TEU (for re-routing)

    def now(self) -> datetime:
        """The simulated time the service books at."""
        return self._clock() if self._clock else self._booking_at

    def covers(self, when: datetime) -> bool:
        """Whether the timetable read has departures after `when` (else booking is pointless)."""
        return any(ts and ts[-1] > when for ts in self.times.values())

    def first(self, hop: tuple[str, str], after: datetime, teu: int, after_arrival: bool = False
              ) -> Departure | None:
        """The first departure on `hop` leaving at or after `after` with `teu` free, within SEARCH;
        `after_arrival`: `after` is when the box arrives, so the departure's connection time applies."""
        deps, times = self.deps.get(hop), self.times.get(hop)
        if not deps:
            return None
        # at the origin `after` is now: a departure leaving this minute has gone (the service refuses it)
        first = bisect.bisect_left(times, after + CONNECT) if after_arrival else bisect.bisect_right(times, after)
        for i in range(first, len(deps)):
            d = deps[i]
            if d.departs_at > after + SEARCH:
                return None
            if after_arrival and d.departs_at < after + self.connect.get(d.link_id, CONNECT):
                continue
            if self.free[d.id] >= teu and d.status != "cancelled":
                return d
        return None

    def journey(self, path: list[str], ready: datetime, teu: int, first: Departure | None = None,
                leave_after: datetime | None = None) -> list[Departure] | None:
        """Connected departures along `path` from `ready`, or None when a hop has no room.
        `first`: the departure of the first hop, when it is settled (the train the boxes are on);
        `leave_after`: the first hop leaves no earlier (the train needs its formation time)."""
        out, t = [], leave_after or ready
        if first is not None:
            if self.free.get(first.id, 0) < teu or first.departs_at < t:
                return None
            out, t = [first], first.arrives_at
        for a, b in list(zip(path, path[1:]))[len(out):]:
            d = self.first((a, b), t, teu, after_arrival=bool(out))
            if d is None:
                return None
            out.append(d)
            t = d.arrives_at
        return out

    def book(self, shipper: str, forwarder: str | None, path: list[str], ready: datetime,
             sizes: dict[str, int], first: Departure | None = None,
             leave_after: datetime | None = None) -> Booked | None:
        """A confirmed booking along `path`; None when no journey has room (the share goes unbooked).
        `first`, `leave_after`: as `journey` (a share of a train that leaves on a departure already)."""
        containers = tuple(ContainerRequest(n, s) for s, n in sorted(sizes.items()))
        teu = sum(c.teu for c in containers)
        self._booking_at = ready
        deps = self.journey(path, ready, teu, first, leave_after)
        if deps is None:
            if first is None:
                self.failed += 1
            return None
        try:
            rec = self.service.book(shipper, path[0], path[-1], ready, containers, [d.id for d in deps],
                                    forwarder=forwarder, created_by="twin", with_alternatives=False)
        except DomainError as e:            # another client took the space meanwhile: unbooked, said why
            log.info("twin booking %s -> %s not made: %s", path[0], path[-1], e)
            self.failed += 1
            return None
        for d in deps:
            self.free[d.id] -= teu
        self.teu[rec.booking.ref] = teu
        return Booked(rec.booking.ref, {(d.origin, d.destination): d for d in deps})

    def next_free(self, hop: tuple[str, str], after: datetime, teu: int) -> Departure | None:
        """The first departure on `hop` leaving at or after `after` with `teu` free (0: any that runs)."""
        return self.first(hop, after - timedelta(seconds=1), teu)

    def reroute(self, ref: str, path: list[str], first: Departure, legs: dict, now: datetime,
                reason: str) -> dict | None:
        """Re-book the rest of booking `ref` from `path[0]` on `first` and connected departures after
        it (`BookingService.amend`: the booking's plan follows the box that rolled to a later
        departure). The new legs by hop, or None when no journey has room or the service refuses
        (the booking is left as it was: the sweep's MISS alert tells the shipper)."""
        teu = self.teu.get(ref)
        if teu is None:
            return None
        old = {hop: d for hop, d in legs.items() if hop[0] in path[:-1]}
        for d in old.values():              # the space the booking holds from here is its own
            self.free[d.id] += teu
        deps = self.journey(path, now, teu, first)
        if deps is None:
            for d in old.values():
                self.free[d.id] -= teu
            return None
        self._booking_at = now
        try:
            self.service.amend(ref, [d.id for d in deps], reason=reason)
        except DomainError as e:
            log.info("twin booking %s not re-routed from %s: %s", ref, path[0], e)
            for d in old.values():
                self.free[d.id] -= teu
            return None
        for d in deps:
            self.free[d.id] -= teu
        return {(d.origin, d.destination): d for d in deps}

    def cancel_from(self, location: str, start: datetime, end: datetime,
                    modes: list[str] | None = None) -> list[str]:
        """Forget departures a closure notice cancelled (of its `modes`, when it names them), so
        later bookings avoid them; their ids."""
        out = []
        for (a, _b), deps in self.deps.items():
            if a == location:
                for d in deps:
                    if start <= d.departs_at < end and (not modes or getattr(d.mode, "value", d.mode) in modes):
                        self.free[d.id] = -1
                        out.append(d.id)
        return out
