"""Tracking reads and writes: trip status rows, booking plans, published ETAs, the ETA's reference
data (places, timetable, history), subscriptions and their outbox, zones, positions, deliveries.

Bulk by design: the ingest hook calls these once per batch of events, never once per event or trip.
"""

from __future__ import annotations

import json
import time
from collections import namedtuple
from datetime import datetime, timezone
from typing import Callable

from sqlalchemy import Connection, String, delete, func, insert, select, type_coerce, update

from .reads import EVENT_FACTS
from .retractions import VISIBLE_SQL, visible_if, visible_sql_if
from .tables import (deliveries, departures, events, links, locations, outbox,
                     subscriptions, trip_milestones, trip_status, trip_timelines, trips)
from .db import BEFORE_DISPOSE
from .types import UTCDateTime

STATUS_COLUMNS = [c.name for c in trip_status.columns if c.name != "trip_id"]
PLACES_TTL_S = 60.0   # places change only when an operator edits the network
_CACHE: dict[tuple[str, str], tuple[float, object]] = {}   # (store URL, what) -> (read at, value)


def _forget(store) -> None:
    keys = store.cache_keys()
    for k in [k for k in _CACHE if k[0] in keys]:
        _CACHE.pop(k, None)


BEFORE_DISPOSE.append(_forget)


def cached(conn: Connection, name: str, build: Callable[[Connection], object]):
    """`build(conn)` once per store and PLACES_TTL_S: reference data read on every request."""
    key = (str(conn.engine.url), name)
    hit = _CACHE.get(key)
    if hit and time.monotonic() - hit[0] < PLACES_TTL_S:
        return hit[1]
    value = build(conn)
    _CACHE[key] = (time.monotonic(), value)
    return value


# The status rows are read and written on every ingest batch: plain driver SQL there, because
# SQLAlchemy's per-value processing cost more than the queries. Values convert as UTCDateTime does.
_STATUS_NAMES = [c.name for c in trip_status.columns]
_STATUS_TIMES = {c.name for c in trip_status.columns if isinstance(c.type, UTCDateTime)}
# what folding events in changes; equipment, booking and the ETA stay as they were read
MOVING_COLUMNS = ["state", "location", "vehicle", "departure_id", "since", "last_event_seq", "last_heard_at",
                  "lat", "lon", "position_at", "parties", "published_eta"]
_CHUNK = 500   # bound parameters per IN list (old SQLite builds allow 999)
_UTC = timezone.utc


def _ph(conn: Connection) -> str:
    return "?" if conn.dialect.name == "sqlite" else "%s"


def _from_db(v):
    """A stored time as an aware UTC datetime (what UTCDateTime returns)."""
    if v is None:
        return None
    if isinstance(v, str):
        v = datetime.fromisoformat(v)
    return v.replace(tzinfo=_UTC) if v.tzinfo is None else v.astimezone(_UTC)


def _to_db(conn: Connection) -> Callable:
    """Aware datetime -> the driver value UTCDateTime would bind (SQLite: SQLAlchemy's text format).

    Memoised per call: the boxes of one train share their times."""
    memo: dict = {None: None}
    sqlite = conn.dialect.name == "sqlite"

    def to_db(v):
        out = memo.get(v, memo)
        if out is memo:
            u = v.astimezone(_UTC)
            out = memo[v] = u.replace(tzinfo=None).isoformat(" ", "microseconds") if sqlite else u
        return out
    return to_db


def _times_from_db() -> Callable:
    """`_from_db`, memoised for one read."""
    memo: dict = {None: None}

    def from_db(v):
        out = memo.get(v, memo)
        if out is memo:
            out = memo[v] = _from_db(v)
        return out
    return from_db


def _in_chunks(conn: Connection, sql: str, keys: list, *params):
    """Rows of `sql` (its `{}` becomes an IN list of placeholders) over `keys` in chunks, then `params`."""
    ph = _ph(conn)
    for i in range(0, len(keys), _CHUNK):
        part = keys[i:i + _CHUNK]
        yield from conn.exec_driver_sql(sql.format(",".join([ph] * len(part))), (*part, *params))


def statuses(conn: Connection, trip_ids: list[str]) -> dict[str, dict]:
    """The trip_status rows of these trips as dicts, by trip id (one query per 500 trips)."""
    out: dict[str, dict] = {}
    from_db = _times_from_db()
    times = [i for i, n in enumerate(_STATUS_NAMES) if n in _STATUS_TIMES]
    sql = f"SELECT {', '.join(_STATUS_NAMES)} FROM trip_status WHERE trip_id IN ({{}})"
    for r in _in_chunks(conn, sql, sorted(set(trip_ids))):
        r = list(r)
        for i in times:
            r[i] = from_db(r[i])
        out[r[0]] = dict(zip(_STATUS_NAMES, r))
    return out


def trip_heads(conn: Connection, trip_ids: list[str]) -> dict[str, object]:
    """The trips rows (equipment, booking, parties) of these trips, by id (one query)."""
    if not trip_ids:
        return {}
    rows = conn.execute(select(trips.c.id, trips.c.equipment, trips.c.booking_ref, trips.c.parties)
                        .where(trips.c.id.in_(sorted(set(trip_ids))))).all()
    return {r.id: r for r in rows}


def destination_refs(conn: Connection, booking_refs: list[str]) -> dict[str, set[str]]:
    """Booking ref -> refs (id and code) of its destination (one query per 500 bookings)."""
    sql = ("SELECT b.ref, l.id, l.code FROM bookings b JOIN locations l ON b.destination = l.id "
           "WHERE b.ref IN ({})")
    return {ref: {i, code} - {None} for ref, i, code in _in_chunks(conn, sql, sorted({b for b in booking_refs if b}))}


# the mode a box is aboard by the mode of the departure that carries it (`tracking.status.vehicle_state`)
_DEPARTURE_MODE = {"rail": "RAIL", "ferry": "VESSEL", "feeder": "VESSEL", "deep_sea": "VESSEL", "truck": "TRUCK"}


def booked_modes(conn: Connection, booking_refs: list[str]) -> dict[str, dict[str, str]]:
    """Booking ref -> {place ref (UN/LOCODE, else id): the mode of the first active booked leg out
    of it (RAIL, VESSEL, TRUCK)} (one query per 500 bookings): how a box loaded there without a
    vehicle named is carried."""
    sql = (f"SELECT l.booking_ref, COALESCE(o.code, l.origin), x.mode FROM booking_legs l "
           f"JOIN locations o ON o.id = l.origin JOIN departures x ON x.id = l.departure_id "
           f"WHERE l.booking_ref IN ({{}}) AND l.active = {_ph(conn)} ORDER BY l.booking_ref, l.seq")
    out: dict[str, dict[str, str]] = {}
    for ref, origin, mode in _in_chunks(conn, sql, sorted({b for b in booking_refs if b}), True):
        if mode in _DEPARTURE_MODE:
            out.setdefault(ref, {}).setdefault(origin, _DEPARTURE_MODE[mode])   # the first leg out of there
    return out


def save_statuses(conn: Connection, new: list[dict], changed: list[dict],
                  columns: list[str] = STATUS_COLUMNS) -> None:
    """Insert new status rows and update `columns` of changed ones, each as one executemany."""
    to_db, ph = _to_db(conn), _ph(conn)

    def rows(dicts: list[dict], cols: list[str]) -> list[tuple]:
        times = [i for i, c in enumerate(cols) if c in _STATUS_TIMES]
        out = []
        for r in dicts:
            v = [r.get(c) for c in cols]
            for i in times:
                v[i] = to_db(v[i])
            out.append(tuple(v))
        return out
    if new:
        conn.exec_driver_sql(f"INSERT INTO trip_status ({', '.join(_STATUS_NAMES)}) "
                             f"VALUES ({', '.join([ph] * len(_STATUS_NAMES))})", rows(new, _STATUS_NAMES))
    if changed:
        conn.exec_driver_sql(f"UPDATE trip_status SET {', '.join(f'{c} = {ph}' for c in columns)} WHERE trip_id = {ph}",
                             rows(changed, [*columns, "trip_id"]))


# --- stored timelines (tracking.timeline.fold_in) -------------------------------------------------

def timeline_heads(conn: Connection, trip_ids: list[str]) -> dict[str, tuple[int, str, str, int]]:
    """Trip id -> (last_seq, basis, alerts, milestones) of the stored timelines of these trips (one
    query per 500).

    On PostgreSQL the rows are locked, in trip order, until the transaction ends: two transactions
    folding events of one trip (an ingest and an alert sweep) then fold one after the other, and
    the second sees what the first stored. SQLite's writers are serial already."""
    lock = " ORDER BY trip_id FOR UPDATE" if conn.dialect.name == "postgresql" else ""
    sql = f"SELECT trip_id, last_seq, basis, alerts, milestones FROM trip_timelines " \
          f"WHERE trip_id IN ({{}}){lock}"
    return {r[0]: r[1:] for r in _driver_rows(conn, sql, sorted(set(trip_ids)))}


def milestone_rows(conn: Connection, keys: dict[str, set[tuple[str, str | None]]]) -> dict[str, list[tuple]]:
    """Trip id -> (n, code, location, vehicle, (planned, estimated, actual, estimated_range, body)) of
    its stored milestones at one of its (code, place) keys in `keys` (trip id -> keys; place None:
    none), in order: those that its events can join, not every milestone of the trip. One query
    per 300 trips (at most 900 bound values: old SQLite builds allow 999)."""
    ph, db = _ph(conn), conn.connection.driver_connection
    out: dict[str, list[tuple]] = {}

    def read(part: list[str]) -> None:
        named = [(t, *k) for t in part for k in keys[t] if k[1] is not None]
        bare = [(t, k[0]) for t in part for k in keys[t] if k[1] is None]
        terms = [f"(trip_id, code, location) IN (VALUES {', '.join([f'({ph}, {ph}, {ph})'] * len(named))})"] \
            if named else []
        if bare:
            pairs = ", ".join([f"({ph}, {ph})"] * len(bare))
            terms.append(f"(location IS NULL AND (trip_id, code) IN (VALUES {pairs}))")
        if not terms:
            return
        # trip_id IN first: SQLite reads each trip's rows by the primary key (the row values alone: a scan)
        sql = (f"SELECT trip_id, n, code, location, vehicle, planned, estimated, actual, estimated_range, body "
               f"FROM trip_milestones WHERE trip_id IN ({', '.join([ph] * len(part))}) AND ({' OR '.join(terms)}) "
               f"ORDER BY trip_id, n")
        for r in db.execute(sql, (*part, *[v for k in named for v in k], *[v for k in bare for v in k])).fetchall():
            got = out.get(r[0])
            if got is None:
                got = out[r[0]] = []
            got.append((*r[1:5], r[5:]))

    part, bound = [], 0
    for t in sorted(keys):
        n = 1 + 3 * len(keys[t])
        if part and (len(part) >= 300 or bound + n > 900):
            read(part)
            part, bound = [], 0
        part.append(t)
        bound += n
    if part:
        read(part)
    return out


def trip_milestone_rows(conn: Connection, trip_ids: list[str]) -> dict[str, list[tuple]]:
    """Trip id -> every stored milestone row of it (MILESTONE_COLUMNS, as `save_timelines` takes
    them), in order (one query per 500 trips)."""
    sql = f"SELECT {', '.join(MILESTONE_COLUMNS)} FROM trip_milestones WHERE trip_id IN ({{}}) ORDER BY trip_id, n"
    out: dict[str, list[tuple]] = {}
    for r in _driver_rows(conn, sql, sorted(set(trip_ids))):
        got = out.get(r[0])
        if got is None:
            got = out[r[0]] = []
        got.append(tuple(r))
    return out


def _driver_rows(conn: Connection, sql: str, keys: list, *params) -> list[tuple]:
    """`_in_chunks` on the DB-API connection, all rows at once: no result object per row (these
    reads run on every ingest batch)."""
    db, ph, out = conn.connection.driver_connection, _ph(conn), []
    for i in range(0, len(keys), _CHUNK):
        part = keys[i:i + _CHUNK]
        out += db.execute(sql.format(",".join([ph] * len(part))), (*part, *params)).fetchall()
    return out


EventFact = namedtuple("EventFact", EVENT_FACTS)
_FACT_EXTRA = EVENT_FACTS.index("extra")
_FACT_TIMES = (EVENT_FACTS.index("event_time"), EVENT_FACTS.index("created_at"))


def event_facts(conn: Connection, trip_ids: list[str]) -> dict[str, list]:
    """Trip id -> what a timeline reads of each of its events (`store.reads.EVENT_FACTS`, values as
    the table's types give them), in append order (one query per 500 trips). Plain driver SQL: a
    re-planned booking's trips are read whole, on the ingest path. Events their sender retracted
    are left out (`store.retractions`)."""
    from_db, out = _times_from_db(), {}
    sql = f"SELECT trip_id, {', '.join(EVENT_FACTS)} FROM events WHERE trip_id IN ({{}}) AND {VISIBLE_SQL} ORDER BY seq"
    for r in _driver_rows(conn, sql, sorted(set(trip_ids))):
        v = list(r[1:])
        for i in _FACT_TIMES:
            v[i] = from_db(v[i])
        if isinstance(v[_FACT_EXTRA], str):   # JSONText
            v[_FACT_EXTRA] = json.loads(v[_FACT_EXTRA])
        got = out.get(r[0])
        if got is None:
            got = out[r[0]] = []
        got.append(EventFact._make(v))
    return out


def newest_seqs(conn: Connection, trip_ids: list[str]) -> dict[str, int]:
    """Trip id -> the seq of its newest event (one probe of the trip index per trip, 500 a query)."""
    return dict(_driver_rows(conn, "SELECT trip_id, MAX(seq) FROM events WHERE trip_id IN ({}) GROUP BY trip_id",
                             sorted(set(trip_ids))))


def booked_plans(conn: Connection, trip_ids: list[str]) -> dict[str, list[tuple]]:
    """Trip id -> (departure id, origin ref, destination ref, departs at, arrives at, voyage, mode)
    of each active leg of its booking, in order (refs: the places' UN/LOCODEs, else their ids, as
    events carry them; voyage and mode: the booked departure's, as the timetable names it, None
    when it is no longer in the timetable); trips without a booking Corridor holds have none. One
    query per 500 trips."""
    return _active_legs(conn, "t.id", trip_ids)


def booking_plan(conn: Connection, ref: str) -> list[tuple]:
    """`booked_plans` of one booking."""
    return _active_legs(conn, "l.booking_ref", [ref]).get(ref, [])


def _active_legs(conn: Connection, key: str, keys: list[str]) -> dict[str, list[tuple]]:
    from_db = _times_from_db()
    sql = (f"SELECT {key}, l.departure_id, COALESCE(o.code, l.origin), COALESCE(d.code, l.destination), "
           f"l.departs_at, l.arrives_at, x.voyage, x.mode FROM booking_legs l "
           f"{'JOIN trips t ON t.booking_ref = l.booking_ref ' if key.startswith('t.') else ''}"
           f"JOIN locations o ON o.id = l.origin JOIN locations d ON d.id = l.destination "
           f"LEFT OUTER JOIN departures x ON x.id = l.departure_id "
           f"WHERE {key} IN ({{}}) AND l.active = {_ph(conn)} ORDER BY {key}, l.seq")
    out: dict[str, list[tuple]] = {}
    for k, dep, origin, dest, departs, arrives, voyage, mode in _driver_rows(conn, sql, sorted(set(keys)), True):
        out.setdefault(k, []).append((dep, origin, dest, from_db(departs), from_db(arrives), voyage, mode))
    return out


def advance_bookings(conn: Connection, moving: set[str], delivered: set[str], now: datetime) -> None:
    """Bookings follow their containers (the lifecycle of `domain.bookings`): confirmed -> in
    transit when one of them is under way (`moving`); in transit -> delivered when as many of its
    trips are delivered as it booked containers (`delivered`: the bookings to look at)."""
    to_db, ph = _to_db(conn), _ph(conn)
    refs = sorted(moving | delivered)
    if refs:
        for i in range(0, len(refs), _CHUNK):
            part = refs[i:i + _CHUNK]
            conn.exec_driver_sql(f"UPDATE bookings SET status = 'in_transit', updated_at = {ph} "
                                 f"WHERE status = 'confirmed' AND ref IN ({', '.join([ph] * len(part))})",
                                 (to_db(now), *part))
    if not delivered:
        return
    done = dict(_driver_rows(conn, "SELECT t.booking_ref, COUNT(*) FROM trips t JOIN trip_status s ON s.trip_id = t.id "
                                   "WHERE s.state = 'delivered' AND t.booking_ref IN ({}) GROUP BY t.booking_ref",
                             sorted(delivered)))
    booked = _driver_rows(conn, "SELECT ref, containers FROM bookings WHERE status = 'in_transit' AND ref IN ({})",
                          sorted(done))
    full = [ref for ref, boxes in booked
            if done[ref] >= sum(int(c.get("count", 1)) for c in (json.loads(boxes) if isinstance(boxes, str) else boxes))]
    for i in range(0, len(full), _CHUNK):
        part = full[i:i + _CHUNK]
        conn.exec_driver_sql(f"UPDATE bookings SET status = 'delivered', updated_at = {ph} "
                             f"WHERE status = 'in_transit' AND ref IN ({', '.join([ph] * len(part))})",
                             (to_db(now), *part))


def trips_of_bookings(conn: Connection, booking_refs: list[str]) -> list[str]:
    """Ids of the trips of these bookings (one query per 500)."""
    return [r[0] for r in _driver_rows(conn, "SELECT id FROM trips WHERE booking_ref IN ({})", sorted(set(booking_refs)))]


TIMELINE_COLUMNS = [c.name for c in trip_timelines.columns]
MILESTONE_COLUMNS = [c.name for c in trip_milestones.columns]


def save_timelines(conn: Connection, heads: list[tuple], milestones: list[tuple], anew: list[str] = ()) -> None:
    """Store timelines: their trip rows and changed milestone rows (tuples in TIMELINE_COLUMNS and
    MILESTONE_COLUMNS order; new, or replacing the row of the same key), after dropping the
    milestones of the trips in `anew` (folded again from all their events). One executemany each."""
    ph = _ph(conn)

    def upsert(table: str, names: list[str], keys: int, rows: list[tuple]) -> None:
        if rows:
            conn.exec_driver_sql(
                f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join([ph] * len(names))}) "
                f"ON CONFLICT ({', '.join(names[:keys])}) DO UPDATE SET "
                f"{', '.join(f'{c} = excluded.{c}' for c in names[keys:])}", rows)
    for i in range(0, len(anew), _CHUNK):
        part = tuple(anew[i:i + _CHUNK])
        conn.exec_driver_sql(f"DELETE FROM trip_milestones WHERE trip_id IN ({', '.join([ph] * len(part))})", part)
    upsert("trip_timelines", TIMELINE_COLUMNS, 1, heads)
    upsert("trip_milestones", MILESTONE_COLUMNS, 2, milestones)


def status(conn: Connection, trip_id: str) -> dict | None:
    """The status row of one trip as a dict, or None."""
    r = conn.execute(select(trip_status).where(trip_status.c.trip_id == trip_id)).first()
    return dict(r._mapping) if r else None


_ALERTED = ["trip_id", "equipment", "booking_ref", "state", "location", "vehicle", "departure_id", "since",
            "last_heard_at", "next_departs_at", "parties"]
_ALERTED_TIMES = [i for i, n in enumerate(_ALERTED) if n in _STATUS_TIMES]


def alert_candidates(conn: Connection, quiet: tuple[datetime, datetime], settled: tuple[datetime, datetime]
                     ) -> list[dict]:
    """What the time-driven alerts read of the trips under way that may be due: last heard from in
    the range `quiet` (since, before), or before it and laid on a departure not before its start
    (silence; a box may wait long for its departure), or at a facility since a time in the
    range `settled` (dwell) — `_ALERTED` of their status rows, as dicts, once each. Each term is a
    range read of an index over open rows, not a scan of every trip ever tracked. Plain driver
    SQL: this runs on every sweep."""
    from_db, to_db = _times_from_db(), _to_db(conn)
    # the second term: laid on a departure since the window opened, and heard before it (else the first term's)
    params = tuple(to_db(t) for t in (*quiet, quiet[0], quiet[0], *settled))
    out = []
    for r in conn.connection.driver_connection.execute(alert_candidates_sql(conn), params).fetchall():
        r = list(r)
        for i in _ALERTED_TIMES:
            r[i] = from_db(r[i])
        out.append(dict(zip(_ALERTED, r)))
    return out


def alert_candidates_sql(conn: Connection) -> str:
    """`alert_candidates`' query: three index range reads (see the indexes on trip_status)."""
    ph = _ph(conn)
    cols = (f"SELECT {', '.join('s.' + n for n in _ALERTED)} FROM trip_status s JOIN trips t ON t.id = s.trip_id "
            f"WHERE t.ends_at IS NULL AND ")
    # the second term reads the departures index: SQLite's planner would take the range of old
    # reports, every box left for months, were it not told off that index by the unary +
    plus = "+" if conn.dialect.name == "sqlite" else ""
    return (f"{cols}s.state != 'delivered' AND s.last_heard_at >= {ph} AND s.last_heard_at < {ph} UNION "
            f"{cols}s.state != 'delivered' AND s.next_departs_at >= {ph} AND {plus}s.last_heard_at < {ph} UNION "
            f"{cols}s.state = 'at_facility' AND s.since >= {ph} AND s.since < {ph}")


def set_etas(conn: Connection, etas: list[tuple[str, datetime | None, datetime | None, datetime | None]],
             laid_on: list[tuple[str | None, datetime | None]] | None = None) -> None:
    """Store (trip id, ETA, low, high) on the status rows (one executemany); with `laid_on`, each
    row's (id, departure time) of the first laid departure the box has not boarded, too."""
    if not etas:
        return
    to_db, ph = _to_db(conn), _ph(conn)
    if laid_on is None:
        conn.exec_driver_sql(f"UPDATE trip_status SET eta = {ph}, eta_low = {ph}, eta_high = {ph} WHERE trip_id = {ph}",
                             [(to_db(at), to_db(low), to_db(high), t) for t, at, low, high in etas])
        return
    conn.exec_driver_sql(f"UPDATE trip_status SET eta = {ph}, eta_low = {ph}, eta_high = {ph}, "
                         f"next_departure_id = {ph}, next_departs_at = {ph} WHERE trip_id = {ph}",
                         [(to_db(at), to_db(low), to_db(high), dep, to_db(dep_at), t)
                          for (t, at, low, high), (dep, dep_at) in zip(etas, laid_on, strict=True)])


def departed_without(conn: Connection, before: datetime, limit: int) -> list[tuple[str, bool]]:
    """(trip id, still under way) of up to `limit` status rows whose next laid departure left before
    `before`, the earliest first: one range read of the partial index on next_departs_at."""
    ph = _ph(conn)
    sql = ("SELECT s.trip_id, s.state, t.ends_at FROM trip_status s JOIN trips t ON t.id = s.trip_id "
           f"WHERE s.next_departs_at < {ph} ORDER BY s.next_departs_at, s.trip_id LIMIT {int(limit)}")
    return [(t, state != "delivered" and ends is None)
            for t, state, ends in conn.exec_driver_sql(sql, (_to_db(conn)(before),))]


def forget_next_departures(conn: Connection, trip_ids: list[str]) -> None:
    """Clear the next laid departure of these trips (ended or delivered: nothing to lay again)."""
    for i in range(0, len(trip_ids), _CHUNK):
        part = trip_ids[i:i + _CHUNK]
        conn.exec_driver_sql("UPDATE trip_status SET next_departure_id = NULL, next_departs_at = NULL "
                             f"WHERE trip_id IN ({', '.join([_ph(conn)] * len(part))})", tuple(part))


def booking_plans(conn: Connection, booking_refs: list[str | None]
                  ) -> dict[str, tuple[list[tuple[str, str, str]], str | None, datetime | None]]:
    """Booking ref -> (active legs as (origin, destination, departure id) in order, destination,
    promised arrival) (two queries per 500 bookings). A ref with legs but no booking row has no destination here."""
    refs = sorted({b for b in booking_refs if b})
    out: dict[str, tuple[list, str | None, datetime | None]] = {
        ref: ([], dest, _from_db(promised)) for ref, dest, promised in _in_chunks(
            conn, "SELECT ref, destination, promised_arrival FROM bookings WHERE ref IN ({})", refs)}
    sql = (f"SELECT booking_ref, origin, destination, departure_id FROM booking_legs "
           f"WHERE booking_ref IN ({{}}) AND active = {_ph(conn)} ORDER BY booking_ref, seq")
    for ref, origin, dest, dep in _in_chunks(conn, sql, refs, True):
        out.setdefault(ref, ([], None, None))[0].append((origin, dest, dep))
    return out


def planned_places(conn: Connection, trip_ids: list[str]) -> dict[str, str]:
    """Trip id -> place of its latest planned/estimated milestone from outside Corridor (one query)."""
    if not trip_ids:
        return {}
    rows = conn.execute(select(events.c.trip_id, events.c.location).where(
        events.c.trip_id.in_(sorted(set(trip_ids))), events.c.classifier.in_(("PLN", "EST")),
        events.c.location.is_not(None), events.c.source_party != "CORRIDOR", *_standing(conn))
        .order_by(events.c.event_time, events.c.seq)).all()
    return {r.trip_id: r.location for r in rows}   # ascending time: the latest wins


def last_published(conn: Connection, trip_ids: list[str], publisher: str) -> dict[str, datetime]:
    """Trip id -> event time of the latest ETA (EST) `publisher` published for it, from the event log
    (one query per 500 trips; Corridor's own is kept on the status rows: `published_etas`)."""
    ph = _ph(conn)
    sql = ("SELECT e.trip_id, e.event_time FROM events e JOIN (SELECT MAX(seq) AS seq FROM events "
           f"WHERE trip_id IN ({{}}) AND source_party = {ph} AND classifier = 'EST' "
           f"AND {visible_sql_if(conn)} GROUP BY trip_id) m "
           "ON e.seq = m.seq")
    return {t: _from_db(at) for t, at in _in_chunks(conn, sql, sorted(set(trip_ids)), publisher)}


def published_etas(conn: Connection, trip_ids: list[str]) -> dict[str, datetime]:
    """Trip id -> the time of the latest ETA Corridor published for it (`trip_status.published_eta`)."""
    sql = "SELECT trip_id, published_eta FROM trip_status WHERE trip_id IN ({}) AND published_eta IS NOT NULL"
    return {t: _from_db(at) for t, at in _in_chunks(conn, sql, sorted(set(trip_ids)))}


def alerted_pairs(conn: Connection, trip_ids: list[str], code: str, publisher: str,
                  fields: tuple[str, str]) -> dict[str, set[tuple]]:
    """Trip id -> the (extra[fields[0]], extra[fields[1]]) of every `code` alert `publisher` raised
    on it: what was said already (one query per 500 trips, on the trip index)."""
    ph = _ph(conn)
    sql = (f"SELECT trip_id, extra FROM events WHERE trip_id IN ({{}}) AND source_party = {ph} "
           f"AND kind = 'ALERT' AND code = {ph}")
    out: dict[str, set[tuple]] = {}
    for trip_id, extra in _in_chunks(conn, sql, sorted(set(trip_ids)), publisher, code):
        x = json.loads(extra) if isinstance(extra, str) else (extra or {})
        out.setdefault(trip_id, set()).add((x.get(fields[0]), x.get(fields[1])))
    return out


# --- reference data of the ETA: places, links, the timetable, observed history -----------------

def place_rows(conn: Connection) -> list:
    """(id, code, data) of every location."""
    return conn.execute(select(locations.c.id, locations.c.code, locations.c.data)).all()


def link_data(conn: Connection) -> dict[str, dict]:
    """Link id -> its data (origin, destination, mode, ...)."""
    return {r.id: r.data for r in conn.execute(select(links.c.id, links.c.data)).all()}


def network_texts(conn: Connection) -> tuple:
    """The stored locations and links as plain driver values: cheap to compare, to see whether they changed."""
    return (tuple(conn.exec_driver_sql("SELECT id, code, data FROM locations ORDER BY id")),
            tuple(conn.exec_driver_sql("SELECT id, data FROM links ORDER BY id")))


def departure_marks(conn: Connection) -> list[tuple]:
    """(id, status, departs_at, arrives_at) of every departure as plain driver values, in table order.

    These are all that change in a stored departure (store.network.set_status; new ones are
    inserted, none deleted), so comparing them tells which rows a cached timetable must read again."""
    return [tuple(r) for r in conn.exec_driver_sql("SELECT id, status, departs_at, arrives_at FROM departures")]


def departure_rows(conn: Connection, ids: list[str] | None = None) -> list:
    """Every departures row, or those with these ids (one query per 500)."""
    if ids is None:
        return conn.execute(select(departures)).all()
    return [r for i in range(0, len(ids), _CHUNK)
            for r in conn.execute(select(departures).where(departures.c.id.in_(ids[i:i + _CHUNK]))).all()]


def _standing(conn: Connection) -> tuple:
    """The condition that leaves out events withdrawn by a retraction, when any is kept (none: no
    condition, the query of before at its cost)."""
    vis = visible_if(conn)
    return () if vis is None else (vis,)


Arrival = namedtuple("Arrival", "link_id departure_id event_time arrives_at departs_at")


def arrivals_against_timetable(conn: Connection, max_rows: int) -> list[Arrival]:
    """The latest actual arrivals (ARRI/DISC at a departure's destination) among the newest
    `max_rows` such reports, one per departure (its newest: every box on it arrived together),
    newest first. The times of the rows not kept are never converted (most rows: a train's boxes)."""
    raw = lambda c: type_coerce(c, String)   # noqa: E731 - the driver's value, converted below if kept
    rows = conn.execute(
        select(departures.c.link_id, events.c.departure_id, raw(events.c.event_time), raw(departures.c.arrives_at),
               raw(departures.c.departs_at))
        .join(departures, departures.c.id == events.c.departure_id)
        .join(locations, locations.c.id == departures.c.destination)
        .where(events.c.classifier == "ACT", events.c.code.in_(("ARRI", "DISC")),
               (events.c.location == locations.c.code) | (events.c.location == locations.c.id), *_standing(conn))
        .order_by(events.c.seq.desc()).limit(max_rows)).all()
    seen: set[str] = set()
    out: list[Arrival] = []
    for link, dep, t, arr, left in rows:
        if dep not in seen:
            seen.add(dep)
            out.append(Arrival(link, dep, _from_db(t), _from_db(arr), _from_db(left)))
    return out


def departures_heard_leaving(conn: Connection, dep_ids) -> dict[str, datetime]:
    """Departure id -> when it was first heard leaving (an actual DEPA of it at its origin), for
    the departures `dep_ids`: read through the departure index, not by a scan of the newest
    reports (few are DEPAs of a departure: such a scan read the whole log)."""
    ids = sorted(dep_ids)
    out: dict[str, datetime] = {}
    standing = _standing(conn) if ids else ()
    for i in range(0, len(ids), _CHUNK):
        for dep, t in conn.execute(
                select(events.c.departure_id, events.c.event_time)
                .join(departures, departures.c.id == events.c.departure_id)
                .join(locations, locations.c.id == departures.c.origin)
                .where(events.c.departure_id.in_(ids[i:i + _CHUNK]), events.c.classifier == "ACT",
                       events.c.code == "DEPA",
                       (events.c.location == locations.c.code) | (events.c.location == locations.c.id),
                       *standing)).all():
            if dep not in out or t < out[dep]:
                out[dep] = t
    return out


Stay = namedtuple("Stay", "trip_id code location event_time")


def discharges_and_loads(conn: Connection, max_rows: int) -> list[Stay]:
    """The latest actual DISC/LOAD of container trips, newest first: (trip_id, code, location, event_time)."""
    from_db = _times_from_db()      # a train's boxes share their times: each converted once
    return [Stay(trip, code, loc, from_db(t)) for trip, code, loc, t in conn.execute(
        select(events.c.trip_id, events.c.code, events.c.location, type_coerce(events.c.event_time, String))
        .where(events.c.classifier == "ACT", events.c.code.in_(("DISC", "LOAD")), events.c.trip_id.is_not(None),
               *_standing(conn))
        .order_by(events.c.seq.desc()).limit(max_rows)).all()]


# --- subscriptions and the outbox ---------------------------------------------------------------

def active_subscriptions(conn: Connection) -> list:
    return conn.execute(select(subscriptions).where(subscriptions.c.active.is_(True)).order_by(subscriptions.c.id)).all()


def departure_operators(conn: Connection, dep_ids: set[str]) -> dict[str, str]:
    """Departure id -> operator (one query)."""
    if not dep_ids:
        return {}
    return dict(conn.execute(select(departures.c.id, departures.c.operator)
                             .where(departures.c.id.in_(sorted(dep_ids)))).all())


def departure_services(conn: Connection, dep_ids: set[str]) -> dict[str, str]:
    """Departure id -> its service code, for those that have one (one query)."""
    if not dep_ids:
        return {}
    return dict(conn.execute(select(departures.c.id, departures.c.service).where(
        departures.c.id.in_(sorted(dep_ids)), departures.c.service.is_not(None))).all())


def queue(conn: Connection, pending: list[tuple[str, int]], now: datetime) -> None:
    """Queue (subscription id, event seq) pairs as pending outbox rows, due `now` (one executemany)."""
    if pending:
        at, ph = _to_db(conn)(now), _ph(conn)
        conn.exec_driver_sql("INSERT INTO outbox (subscription_id, event_seq, status, attempts, next_attempt_at, "
                             f"created_at) VALUES ({ph}, {ph}, 'pending', 0, {ph}, {ph})",
                             [(sid, seq, at, at) for sid, seq in pending])


def hold_back(conn: Connection, seqs: list[int], status: str) -> int:
    """Mark the outbox rows of events `seqs` still pending with `status` (the worker delivers only
    pending rows); returns how many (one update per 500)."""
    n, ids = 0, sorted(set(seqs))
    for i in range(0, len(ids), _CHUNK):
        n += conn.execute(update(outbox).where(outbox.c.event_seq.in_(ids[i:i + _CHUNK]), outbox.c.status == "pending")
                          .values(status=status)).rowcount
    return n


def advance_cursors(conn: Connection, cursors: dict[str, int]) -> None:
    """Move each subscription's cursor forward to the given seq (never back)."""
    for sid, cur in cursors.items():
        conn.execute(update(subscriptions).where(subscriptions.c.id == sid, subscriptions.c.cursor < cur)
                     .values(cursor=cur))


def event_head(conn: Connection) -> int:
    """The highest event seq stored (0 when there is none)."""
    return conn.execute(select(func.coalesce(func.max(events.c.seq), 0))).scalar_one()


def add_subscription(conn: Connection, **values) -> None:
    conn.execute(insert(subscriptions).values(**values))


def subscription(conn: Connection, sid: str):
    return conn.execute(select(subscriptions).where(subscriptions.c.id == sid)).first()


def subscriptions_of(conn: Connection, party_id: str | None) -> list:
    """Subscriptions of a party (every one for None), oldest first."""
    q = select(subscriptions).order_by(subscriptions.c.created_at, subscriptions.c.id)
    return conn.execute(q if party_id is None else q.where(subscriptions.c.party_id == party_id)).all()


def change_subscription(conn: Connection, sid: str, **values) -> bool:
    return conn.execute(update(subscriptions).where(subscriptions.c.id == sid).values(**values)).rowcount == 1


def remove_subscription(conn: Connection, sid: str) -> bool:
    """Delete a subscription and its queued rows."""
    conn.execute(delete(outbox).where(outbox.c.subscription_id == sid))
    return conn.execute(delete(subscriptions).where(subscriptions.c.id == sid)).rowcount == 1


def unqueue_after(conn: Connection, sid: str, after_seq: int) -> None:
    """Drop a subscription's queued rows for events after `after_seq` (before a replay)."""
    conn.execute(delete(outbox).where(outbox.c.subscription_id == sid, outbox.c.event_seq > after_seq))


def event_rows_between(conn: Connection, after_seq: int, upto_seq: int) -> list:
    """Full event rows with after_seq < seq <= upto_seq, in append order (store.events.row_to_event
    reads them), but those a retraction withdrew."""
    from .events import select_events
    return conn.execute(select_events().where(events.c.seq > after_seq, events.c.seq <= upto_seq,
                                              *_standing(conn))).all()


def zones(conn: Connection) -> dict[str, str]:
    """Location ref (id and UN/LOCODE) -> IANA zone name (cached)."""
    return cached(conn, "zones", _zones)


def _zones(conn: Connection) -> dict[str, str]:
    out: dict[str, str] = {}
    for r in conn.execute(select(locations.c.id, locations.c.code, locations.c.timezone)).all():
        out[r.id] = r.timezone
        if r.code:
            out.setdefault(r.code, r.timezone)
    return out


def latest_positions(conn: Connection, where=None, limit: int = 5000) -> list:
    """Status rows with a known position (or a vehicle), newest first; `where` narrows the trips."""
    q = (select(trip_status.c.trip_id, trip_status.c.equipment, trip_status.c.booking_ref, trip_status.c.state,
                trip_status.c.location, trip_status.c.vehicle, trip_status.c.departure_id, trip_status.c.lat,
                trip_status.c.lon, trip_status.c.position_at, trip_status.c.since, trip_status.c.eta,
                departures.c.mode, departures.c.operator, departures.c.origin, departures.c.destination)
         .join(trips, trips.c.id == trip_status.c.trip_id)
         .outerjoin(departures, departures.c.id == trip_status.c.departure_id)
         .where(trips.c.ends_at.is_(None), trip_status.c.state != "delivered")
         .order_by(trip_status.c.position_at.desc(), trip_status.c.trip_id).limit(limit))
    return conn.execute(q if where is None else q.where(where)).all()


def location_points(conn: Connection) -> dict[str, tuple[float, float]]:
    """Location ref (id and code) -> (lat, lon) (cached)."""
    return cached(conn, "points", _points)


def _points(conn: Connection) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    for r in conn.execute(select(locations.c.id, locations.c.code, locations.c.lat, locations.c.lon)).all():
        out[r.id] = (r.lat, r.lon)
        if r.code:
            out.setdefault(r.code, (r.lat, r.lon))
    return out


def delivery_log(conn: Connection, sid: str, *, limit: int = 100, before: int | None = None) -> list:
    """A subscription's delivery attempts, newest first (`before`: page by id)."""
    q = select(deliveries).where(deliveries.c.subscription_id == sid)
    if before is not None:
        q = q.where(deliveries.c.id < before)
    return conn.execute(q.order_by(deliveries.c.id.desc()).limit(limit)).all()


def subscription_owner(conn: Connection, sid: str) -> str | None:
    """The party that owns a subscription, or None when there is no such subscription."""
    return conn.execute(select(subscriptions.c.party_id).where(subscriptions.c.id == sid)).scalar_one_or_none()

