"""What waits at a place: the containers whose current status is at a facility, read from the
incremental status rows (`trip_status`) rather than replayed from events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import json

from sqlalchemy import Connection, select

from ..access.visibility import Viewer, queue_clause, sees_departure_of

from ..domain.timetable import Departure
from . import events as evstore
from . import network as netstore
from .tables import booking_legs, trip_status, trips


@dataclass(frozen=True)
class Waiting:
    """One box at the facility: since when, what it is booked out on from here, what the ETA
    expects it to leave on (the first laid departure it has not boarded)."""

    trip_id: str
    equipment: str
    size_type: str | None
    booking_ref: str | None
    since: datetime | None
    last_heard_at: datetime | None
    booked: tuple[Departure, int] | None        # the booking's active leg out of this place
    expected: tuple[Departure, int] | None      # trip_status.next_departure_id


_CHUNK = 500   # booking refs per IN list (PostgreSQL and SQLite both take far more; plans stay small)


def facility_queue(conn: Connection, ref: str, location_id: str, viewer: Viewer | None = None
                   ) -> list[Waiting]:
    """The containers at place `ref` (as events name it: UN/LOCODE, else the corridor id) whose
    open trip's latest status is `at_facility` there, longest waiting first, as `viewer` may see
    them (None: everything). A box loaded aboard a ship or train is no longer at_facility; a box
    whose trip was closed by a later one (it moved on under a new trip) is not here.

    Which boxes: `access.visibility.queue_clause` (a ferry line sees the boxes booked on its
    sailings from here, a shipper its own, ...); of each, the departure it is booked or expected
    out on only where `sees_departure_of` allows (a ferry line is not told another line's sailing).
    Three reads: the status rows, the booking legs out of `location_id`, their departures."""
    s, t = trip_status.c, trips.c
    q = (select(s.trip_id, s.equipment, s.booking_ref, s.since, s.last_heard_at, s.next_departure_id, t.size_type,
                t.parties)
         .select_from(trip_status.join(trips, trips.c.id == s.trip_id))
         .where(s.state == "at_facility", s.location == ref, t.ends_at.is_(None)))
    where = None if viewer is None else queue_clause(viewer, ref, location_id)
    if where is not None:
        q = q.where(where)
    rows = conn.execute(q.order_by(s.since.asc().nulls_last(), s.equipment)).all()
    out_leg: dict[str, str] = {}
    refs = sorted({r.booking_ref for r in rows if r.booking_ref})
    for i in range(0, len(refs), _CHUNK):
        legs = conn.execute(
            select(booking_legs.c.booking_ref, booking_legs.c.departure_id)
            .where(booking_legs.c.booking_ref.in_(refs[i:i + _CHUNK]), booking_legs.c.active.is_(True),
                   booking_legs.c.origin == location_id)
            .order_by(booking_legs.c.booking_ref, booking_legs.c.seq)).all()
        for b, dep in legs:
            out_leg.setdefault(b, dep)   # the first leg out of here, should a route pass twice
    deps = netstore.get_departures(conn, [*out_leg.values(), *(r.next_departure_id for r in rows
                                                                if r.next_departure_id)])

    def shown(dep, r):
        if dep is None or viewer is None:
            return dep
        parties = json.loads(r.parties) if isinstance(r.parties, str) else r.parties
        return dep if sees_departure_of(viewer, ref, parties, dep[0].operator) else None
    return [Waiting(r.trip_id, r.equipment, r.size_type, r.booking_ref, r.since, r.last_heard_at,
                    shown(deps.get(out_leg.get(r.booking_ref or "")), r), shown(deps.get(r.next_departure_id or ""), r))
            for r in rows]


def events_head(conn: Connection) -> int:
    """The event sequence number to follow on from (0 for none): read before the queue, a stream
    that resumes after it misses nothing the queue did not yet show (a replayed event changes
    nothing twice). Not the newest seq: on PostgreSQL a transaction may still be writing lower
    ones, so the horizon below every one still in flight (store.events.head)."""
    return evstore.head(conn)
