"""Read-side queries of tracking (container status, trip heads, a trip's events), lean enough for
the request path.

Each statement is built from the tables with SQLAlchemy Core, compiled once per dialect and key,
and run on the DB-API connection of the caller's: no SQL compile, no Row objects and no
execution context per request (SQLAlchemy took 115 µs for a one-row read the driver does in 18).
Values still go through the column types' own processors, so a time comes back as the same aware
UTC datetime SQLAlchemy gives. Visibility is the caller's: a `where` clause from access.visibility.
"""

from __future__ import annotations

import threading
from collections import namedtuple
from datetime import datetime
from functools import partial
from typing import Callable

from sqlalchemy import Connection, Select, Text, bindparam, func, literal_column, select, type_coerce

from .tables import bookings, events, locations, trip_milestones, trip_status, trip_timelines, trips
from .types import JSONText, UTCDateTime


class Prepared:
    """One compiled statement whose one run-time parameter is `ref` (every other value, such as a
    viewer's visibility patterns, is fixed when it is built); rows come back as named tuples."""

    __slots__ = ("sql", "args", "slots", "lone", "times", "readers", "names", "make")

    def __init__(self, stmt: Select, conn: Connection):
        dialect = conn.dialect
        c = stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        self.sql = str(c)
        self.names = tuple(col.key for col in stmt.selected_columns)
        self.make = namedtuple("Row", self.names)._make
        fixed = dict(c.params)
        for k, b in c.binds.items():   # the fixed values go through their types' bind step once, here
            if k != "ref" and (p := b.type.bind_processor(dialect)) is not None and fixed.get(k) is not None:
                fixed[k] = p(fixed[k])
        if c.positional:               # SQLite: a list in placeholder order, `ref` put in its slots
            self.args = [fixed[k] for k in c.positiontup]
            self.slots = [i for i, k in enumerate(c.positiontup) if k == "ref"]
        else:                          # psycopg: named
            self.args, self.slots = fixed, None
        self.lone = self.slots == [0] and len(self.args) == 1   # `ref` the only placeholder
        cols = list(stmt.selected_columns)
        self.times = tuple((i, partial(col.type.process_result_value, dialect=dialect))
                           for i, col in enumerate(cols) if isinstance(col.type, UTCDateTime))
        self.readers = tuple((i, f) for i, col in enumerate(cols)
                             if not isinstance(col.type, UTCDateTime) and (f := _reader(col.type, dialect)))

    def rows(self, conn: Connection, ref) -> list[tuple]:
        """The rows for this `ref`, values as SQLAlchemy would give them."""
        slots = self.slots
        if slots is None:
            args = {**self.args, "ref": ref}
        elif self.lone:
            args = (ref,)
        else:
            args = self.args.copy()
            for i in slots:
                args[i] = ref
        got = conn.connection.dbapi_connection.execute(self.sql, args).fetchall()
        times, readers, make = self.times, self.readers, self.make
        if not times and not readers:
            return [make(r) for r in got]
        out = []
        for r in got:
            r = list(r)
            for i, slow in times:
                v = r[i]
                if v is not None:
                    # SQLite's stored text is UTC without an offset: one parse (datetime.replace costs 3 µs)
                    r[i] = _fromiso(v + "+00:00") if v.__class__ is str and len(v) <= 26 else slow(v)
            for i, f in readers:
                if r[i] is not None:
                    r[i] = f(r[i])
            out.append(make(r))
        return out


_fromiso = datetime.fromisoformat


def _reader(t, dialect) -> Callable | None:
    """How a column's driver value becomes Python, as SQLAlchemy would do it (JSONText is text to
    the driver: its own step is called directly)."""
    if isinstance(t, JSONText):
        return partial(t.process_result_value, dialect=dialect)
    return t.result_processor(dialect, None)


_PREPARED: dict[tuple, Prepared] = {}
_LOCK = threading.Lock()
MAX_PREPARED = 512   # one per query shape and viewer; a viewer's clause is rebuilt only on a miss


def prepared(conn: Connection, key: tuple, build: Callable[..., Select], *args) -> Prepared:
    """The compiled statement of `key` on this connection's dialect; `build(*args)` only on a miss."""
    k = (conn.dialect.name, *key)
    p = _PREPARED.get(k)
    if p is None:
        p = Prepared(build(*args), conn)
        with _LOCK:
            if len(_PREPARED) >= MAX_PREPARED:
                _PREPARED.pop(next(iter(_PREPARED)))
            _PREPARED[k] = p
    return p


# --- statements -----------------------------------------------------------------------------------

def _ref():
    """The parameter given on each run (None only so that the statement compiles without it)."""
    return bindparam("ref", value=None)


def _latest(q: Select, by: str, where) -> Select:
    col = {"equipment": trips.c.equipment, "trip": trips.c.id, "booking": trips.c.booking_ref}[by]
    q = q.where(col == _ref())
    if where is not None:
        q = q.where(where)
    if by == "booking":
        return q.order_by(trips.c.equipment, trips.c.id)
    # a literal LIMIT: SQLite runs the same read with bound LIMIT/OFFSET values 7 µs slower
    return q.order_by(trips.c.starts_at.desc()).limit(literal_column("1")).offset(literal_column("0"))


def status_query(by: str, where=None) -> Select:
    """The status row of the latest visible trip of a container (`by` equipment) or of a trip id:
    trips (for 'latest' and visibility) left-joined to its trip_status row, one indexed read."""
    q = select(trips.c.id.label("trip"), *trip_status.columns).select_from(
        trips.outerjoin(trip_status, trip_status.c.trip_id == trips.c.id))
    return _latest(q, by, where)


def head_query(by: str, where=None) -> Select:
    """Everything a trip's timeline depends on besides its events, in one row per trip: the trips
    row (parties as stored text), its status row, the booking's destination (as events name
    places: its UN/LOCODE, else its id) and when the booking last changed (its plan is in the
    timeline), the newest event seq (an index probe), and its stored timeline's row
    (`trip_timelines`). Equal rows mean an unchanged timeline."""
    newest = select(events.c.seq).where(events.c.trip_id == trips.c.id).order_by(events.c.seq.desc()) \
        .limit(literal_column("1")).offset(literal_column("0")).scalar_subquery()
    tl = trip_timelines.c
    q = select(trips.c.id, trips.c.equipment, trips.c.booking_ref, type_coerce(trips.c.parties, Text).label("parties"),
               trips.c.starts_at, trips.c.ends_at,
               *[c.label("st_" + c.name) for c in trip_status.columns],
               func.coalesce(locations.c.code, bookings.c.destination).label("destination"),
               bookings.c.updated_at.label("booking_updated_at"), newest.label("newest_seq"),
               tl.last_seq.label("tl_last_seq"), tl.basis.label("tl_basis"), tl.alerts.label("tl_alerts")).select_from(
        trips.outerjoin(trip_status, trip_status.c.trip_id == trips.c.id)
             .outerjoin(bookings, bookings.c.ref == trips.c.booking_ref)
             .outerjoin(locations, locations.c.id == bookings.c.destination)
             .outerjoin(trip_timelines, tl.trip_id == trips.c.id))
    return _latest(q, by, where)


EVENT_FACTS = ("seq", "kind", "code", "classifier", "event_time", "event_offset", "location", "mode", "voyage",
               "vehicle", "departure_id", "facility_code", "extra", "reason", "created_at")


def trip_events_query(where=None) -> Select:
    """What a timeline reads of each event of one trip (`ref`: its id), in append order."""
    q = select(*[events.c[n] for n in EVENT_FACTS]).where(events.c.trip_id == _ref())
    if where is not None:
        q = q.where(where)
    return q.order_by(events.c.seq)


def milestones_query() -> Select:
    """A trip's stored milestones (`ref`: its id), in the order first reported: what a timeline's
    legs and order take, and each as sent."""
    m = trip_milestones.c
    return select(m.code, m.location, m.vehicle, m.mode, m.departure_id, m.planned, m.estimated, m.actual, m.seq,
                  m.body, m.times) \
        .where(m.trip_id == _ref()).order_by(m.n)


def booking_query() -> Select:
    """The booking facts a booking timeline shows (`ref`)."""
    origin, dest = locations.alias("o"), locations.alias("d")
    return select(func.coalesce(origin.c.code, bookings.c.origin).label("origin"),
                  func.coalesce(dest.c.code, bookings.c.destination).label("destination"),
                  bookings.c.promised_arrival, bookings.c.status) \
        .select_from(bookings.outerjoin(origin, origin.c.id == bookings.c.origin)
                     .outerjoin(dest, dest.c.id == bookings.c.destination)) \
        .where(bookings.c.ref == _ref())
