"""What the KPIs are computed from: the actual (ACT) moves of container trips the viewer may see.

Portable SQL through SQLAlchemy Core (SQLite and PostgreSQL alike) selects the rows; the KPIs
aggregate in Python. A trip belongs to the period in which its first actual move happened.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, select

from ..access.visibility import Viewer, booking_clause, event_clause
from ..domain.equipment import teu_of
from ..domain.network import Location, Network
from ..store.network import load_network
from ..store.retractions import visible_if
from ..store.tables import bookings, events, trips

# a trip that started in the period may finish after it, and last year's trips are the growth base
LOOK_AHEAD = timedelta(days=120)
YEAR = timedelta(days=365)

ARRIVALS = ("ARRI", "DISC", "GTIN")       # a container reaching a place
DEPARTURES = ("DEPA", "LOAD", "GTOT")     # a container leaving (or about to leave) it


@dataclass(frozen=True, slots=True)
class Move:
    """One actual event of a container trip."""

    t: datetime            # aware, UTC
    kind: str
    code: str
    location: str | None
    mode: str | None
    voyage: str | None
    departure_id: str | None
    source_party: str


@dataclass
class TripFacts:
    """A container trip with its moves in time order."""

    id: str
    equipment: str
    teu: int
    booking_ref: str | None
    moves: list[Move] = field(default_factory=list)
    ends_at: datetime | None = None    # set once the container began its next trip

    @property
    def start(self) -> datetime:
        return self.moves[0].t

    @property
    def origin(self) -> str | None:
        return next((m.location for m in self.moves if m.location), None)

    @property
    def last_location(self) -> str | None:
        return next((m.location for m in reversed(self.moves) if m.location), None)


@dataclass(frozen=True, slots=True)
class BookingFacts:
    ref: str
    origin: str            # location ref (UN/LOCODE or id), as events name places
    destination: str
    teu: int
    promised_arrival: datetime | None
    status: str


@dataclass
class Facts:
    """Everything one KPI run reads, loaded once."""

    start: datetime
    end: datetime
    network: Network | None
    places: dict[str, Location]                 # location ref and id -> Location
    trips: list[TripFacts]                      # started in [start - 1 year, end)
    bookings: dict[str, BookingFacts]
    train_runs: list[tuple[str, datetime]]      # (train number, first departure) per train run
    journeys: dict = field(default_factory=dict)  # trip id -> kpi.Journey, worked out once per run

    def in_period(self, t: datetime) -> bool:
        return self.start <= t < self.end

    def place(self, ref: str | None) -> Location | None:
        return self.places.get(ref) if ref else None


def _where(viewer: Viewer | None, *conds):
    vis = event_clause(viewer) if viewer is not None else None
    return and_(*conds, *([vis] if vis is not None else []))


def _standing(conn: Connection) -> tuple:
    """Leaves out the events a retraction withdrew (none kept: no condition, the query of before)."""
    vis = visible_if(conn)
    return () if vis is None else (vis,)


def load_facts(conn: Connection, viewer: Viewer | None, start: datetime, end: datetime) -> Facts:
    """The trips, bookings and train runs behind the KPIs of [start, end) and the year before it."""
    network = load_network(conn)
    places: dict[str, Location] = {}
    for loc in (network.locations.values() if network else ()):
        places[loc.id] = loc
        places[loc.ref] = loc
    lo, hi = start - YEAR, end + LOOK_AHEAD
    standing = _standing(conn)
    q = (select(events.c.trip_id, events.c.kind, events.c.code, events.c.event_time, events.c.location,
                events.c.mode, events.c.voyage, events.c.departure_id, events.c.source_party,
                trips.c.equipment, trips.c.size_type, trips.c.booking_ref, trips.c.ends_at)
         .join(trips, trips.c.id == events.c.trip_id)
         .where(_where(viewer, events.c.classifier == "ACT", events.c.kind.in_(("TRANSPORT", "EQUIPMENT")),
                       events.c.event_time >= lo, events.c.event_time < hi, *standing))
         .order_by(events.c.trip_id, events.c.event_time, events.c.seq))
    by_trip: dict[str, TripFacts] = {}
    for r in conn.execute(q):
        tf = by_trip.get(r.trip_id)
        if tf is None:
            tf = by_trip[r.trip_id] = TripFacts(r.trip_id, r.equipment, teu_of(r.size_type), r.booking_ref,
                                                ends_at=r.ends_at)
        tf.moves.append(Move(r.event_time, r.kind, r.code, r.location, r.mode, r.voyage, r.departure_id,
                             r.source_party))
    kept = [t for t in by_trip.values() if lo <= t.start < end]
    kept.sort(key=lambda t: (t.start, t.id))

    bq = select(bookings.c.ref, bookings.c.origin, bookings.c.destination, bookings.c.teu,
                bookings.c.promised_arrival, bookings.c.status)
    bvis = booking_clause(viewer) if viewer is not None else None
    refs = {t.booking_ref for t in kept if t.booking_ref}
    if bvis is not None:
        bq = bq.where(bvis)
    booked = {}
    for r in conn.execute(bq):
        if r.ref in refs:
            o, d = places.get(r.origin), places.get(r.destination)
            booked[r.ref] = BookingFacts(r.ref, o.ref if o else r.origin, d.ref if d else r.destination,
                                         r.teu, r.promised_arrival, r.status)

    tq = (select(events.c.voyage, events.c.event_time).distinct()
          .where(_where(viewer, events.c.classifier == "ACT", events.c.kind == "TRANSPORT",
                        events.c.code == "DEPA", events.c.mode == "RAIL", events.c.voyage.is_not(None),
                        events.c.event_time >= lo, events.c.event_time < end, *standing)))
    return Facts(start, end, network, places, kept, booked, train_runs(conn.execute(tq).all()))


# a train number seen again after this long is a new run of the same service
RUN_GAP = timedelta(days=10)


def train_runs(rows) -> list[tuple[str, datetime]]:
    """(train number, first departure) per run: departures of one number within RUN_GAP are one run."""
    by_no: dict[str, list[datetime]] = defaultdict(list)
    for voyage, t in rows:
        by_no[voyage].append(t)
    out = []
    for no, times in by_no.items():
        times.sort()
        first = prev = times[0]
        for t in times[1:]:
            if t - prev > RUN_GAP:
                out.append((no, first))
                first = t
            prev = t
        out.append((no, first))
    return sorted(out, key=lambda x: (x[1], x[0]))
