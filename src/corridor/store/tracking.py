"""Tracking reads and writes: trip status rows, booking destinations, zones, positions, deliveries.

Bulk by design: the ingest hook calls these once per batch of events, never once per event.
"""

from __future__ import annotations

import time
from typing import Callable

from sqlalchemy import Connection, bindparam, insert, select, update

from .tables import bookings, deliveries, departures, locations, subscriptions, trip_status, trips

STATUS_COLUMNS = [c.name for c in trip_status.columns if c.name != "trip_id"]
PLACES_TTL_S = 60.0   # places change only when an operator edits the network
_CACHE: dict[tuple[str, str], tuple[float, object]] = {}


def cached(conn: Connection, name: str, build: Callable[[Connection], object]):
    """`build(conn)` once per store and PLACES_TTL_S: reference data read on every request."""
    key = (str(conn.engine.url), name)
    hit = _CACHE.get(key)
    if hit and time.monotonic() - hit[0] < PLACES_TTL_S:
        return hit[1]
    value = build(conn)
    _CACHE[key] = (time.monotonic(), value)
    return value


def statuses(conn: Connection, trip_ids: list[str]) -> dict[str, dict]:
    """The trip_status rows of these trips as dicts, by trip id (one query)."""
    if not trip_ids:
        return {}
    rows = conn.execute(select(trip_status).where(trip_status.c.trip_id.in_(sorted(set(trip_ids))))).all()
    return {r.trip_id: dict(r._mapping) for r in rows}


def trip_heads(conn: Connection, trip_ids: list[str]) -> dict[str, object]:
    """The trips rows (equipment, booking, parties) of these trips, by id (one query)."""
    if not trip_ids:
        return {}
    rows = conn.execute(select(trips.c.id, trips.c.equipment, trips.c.booking_ref, trips.c.parties)
                        .where(trips.c.id.in_(sorted(set(trip_ids))))).all()
    return {r.id: r for r in rows}


def destination_refs(conn: Connection, booking_refs: list[str]) -> dict[str, set[str]]:
    """Booking ref -> refs (id and code) of its destination (one query)."""
    refs = sorted({b for b in booking_refs if b})
    if not refs:
        return {}
    rows = conn.execute(select(bookings.c.ref, locations.c.id, locations.c.code)
                        .join(locations, bookings.c.destination == locations.c.id)
                        .where(bookings.c.ref.in_(refs))).all()
    return {r.ref: {r.id, r.code} - {None} for r in rows}


def save_statuses(conn: Connection, new: list[dict], changed: list[dict]) -> None:
    """Insert new status rows and update changed ones, each as one executemany."""
    if new:
        conn.execute(insert(trip_status), [{c: r.get(c) for c in ["trip_id", *STATUS_COLUMNS]} for r in new])
    if changed:
        stmt = update(trip_status).where(trip_status.c.trip_id == bindparam("_tid")).values(
            {c: bindparam(c) for c in STATUS_COLUMNS})
        conn.execute(stmt, [{"_tid": r["trip_id"], **{c: r.get(c) for c in STATUS_COLUMNS}} for r in changed])


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

