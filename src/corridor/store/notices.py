"""Persistence of operator notices and the departures and bookings they touch."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, and_, insert, or_, select

from .tables import booking_legs, bookings, departures, locations, notices

OPEN_BOOKINGS = ("requested", "confirmed", "in_transit")


def add_notice(conn: Connection, **values) -> int:
    return conn.execute(insert(notices).values(**values).returning(notices.c.id)).scalar_one()


def list_notices(conn: Connection, *, active_at: datetime | None = None, location: str | None = None,
                 limit: int = 200) -> list:
    q = select(notices).order_by(notices.c.starts_at.desc()).limit(limit)
    if active_at:
        q = q.where(notices.c.starts_at <= active_at, or_(notices.c.ends_at.is_(None), notices.c.ends_at > active_at))
    if location:
        q = q.where(notices.c.location == location)
    return conn.execute(q).all()


def closures(conn: Connection) -> dict[str, list[tuple[datetime, datetime, frozenset | None]]]:
    """Location id -> (starts, ends, modes or None for every mode) of the closures with an
    announced end, in time order."""
    out: dict[str, list[tuple[datetime, datetime, frozenset | None]]] = {}
    for loc, start, end, modes in conn.execute(
            select(notices.c.location, notices.c.starts_at, notices.c.ends_at, notices.c.modes)
            .where(notices.c.kind == "closure", notices.c.location.is_not(None), notices.c.ends_at.is_not(None))
            .order_by(notices.c.starts_at)):
        out.setdefault(loc, []).append((start, end, frozenset(modes) if modes else None))
    return out


def departures_from(conn: Connection, location_id: str, start: datetime, end: datetime | None,
                    modes: list[str] | None = None) -> list[str]:
    """Ids of the scheduled departures leaving a location in [start, end) (of `modes` only, when given)."""
    cond = [departures.c.origin == location_id, departures.c.departs_at >= start, departures.c.status != "cancelled"]
    if end:
        cond.append(departures.c.departs_at < end)
    if modes:
        cond.append(departures.c.mode.in_(modes))
    return list(conn.execute(select(departures.c.id).where(and_(*cond))).scalars())


def departures_into(conn: Connection, location_id: str, start: datetime, end: datetime | None,
                    modes: list[str] | None = None) -> list[str]:
    """Ids of the departures not cancelled that are due to arrive at a location in [start, end)
    (of `modes` only, when given)."""
    cond = [departures.c.destination == location_id, departures.c.arrives_at >= start,
            departures.c.status != "cancelled"]
    if end:
        cond.append(departures.c.arrives_at < end)
    if modes:
        cond.append(departures.c.mode.in_(modes))
    return list(conn.execute(select(departures.c.id).where(and_(*cond))).scalars())


def bookings_on(conn: Connection, departure_ids: list[str]) -> list:
    """Open bookings with an active leg on any of the departures: (ref, shipper, forwarder, nominated, leg)."""
    if not departure_ids:
        return []
    q = (select(bookings.c.ref, bookings.c.shipper, bookings.c.forwarder, bookings.c.nominated,
                bookings.c.destination, booking_legs.c.departure_id, booking_legs.c.origin,
                booking_legs.c.departs_at)
         .join(booking_legs, booking_legs.c.booking_ref == bookings.c.ref)
         .where(booking_legs.c.departure_id.in_(departure_ids), booking_legs.c.active.is_(True),
                bookings.c.status.in_(OPEN_BOOKINGS))
         .order_by(bookings.c.ref))
    return conn.execute(q).all()


def place_of(conn: Connection, location_id: str | None) -> tuple[str | None, str | None]:
    """(ref as events name it: its UN/LOCODE, else its id; IANA zone) of a location id."""
    if not location_id:
        return None, None
    r = conn.execute(select(locations.c.code, locations.c.timezone).where(locations.c.id == location_id)).first()
    return (r.code or location_id, r.timezone) if r else (location_id, None)
