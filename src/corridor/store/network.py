"""Persistence of the network and its timetable (locations, links, departures)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from typing import Iterable, Sequence

from sqlalchemy import Connection, and_, delete, func, insert, select, update

from ..domain.network import Corridor, FacilityType, Link, Location, Mode, Network
from ..domain.timetable import Departure
from .tables import departures, links, locations


def save_network(conn: Connection, network: Network) -> None:
    """Replace the stored locations and links with `network` (departures are kept)."""
    conn.execute(delete(links))
    conn.execute(delete(locations))
    conn.execute(insert(locations), [{
        "id": l.id, "code": l.code, "name": l.name, "country": l.country, "timezone": l.timezone,
        "lat": l.lat, "lon": l.lon, "kind": l.kind, "facility_type": l.facility_type.value,
        "data": {"gauges": list(l.gauges), "aliases": list(l.aliases), "min_transfer_hours": l.min_transfer_hours,
                 "estimated": list(l.estimated), "source": l.source},
    } for l in network.locations.values()])
    conn.execute(insert(links), [{
        "id": k.id, "origin": k.origin, "destination": k.destination, "mode": k.mode.value,
        "operator": k.operator, "status": k.status,
        "data": {**{f: v for f, v in asdict(k).items() if f not in ("corridors",)},
                 "corridors": sorted(c.value for c in k.corridors)},
    } for k in network.links])


def load_network(conn: Connection, name: str = "corridor") -> Network | None:
    """The stored network, or None when the database has none yet."""
    locs = {}
    for r in conn.execute(select(locations)).all():
        d = r.data
        locs[r.id] = Location(
            id=r.id, code=r.code, name=r.name, country=r.country, timezone=r.timezone, lat=r.lat, lon=r.lon,
            kind=r.kind, facility_type=FacilityType(r.facility_type), gauges=tuple(d.get("gauges", ())),
            aliases=tuple(d.get("aliases", ())), min_transfer_hours=d.get("min_transfer_hours", 0.0),
            estimated=tuple(d.get("estimated", ())), source=d.get("source", ""))
    if not locs:
        return None
    out = []
    for r in conn.execute(select(links).order_by(links.c.id)).all():
        d = dict(r.data)
        d["mode"] = Mode(d["mode"])
        d["corridors"] = frozenset(Corridor(c) for c in d["corridors"])
        d["dwell_hours_range"] = tuple(d["dwell_hours_range"]) if d.get("dwell_hours_range") else None
        d["estimated"] = tuple(d.get("estimated", ()))
        out.append(Link(**d))
    return Network(locations=locs, links=out, name=name)


# Bumped whenever departures are added or change status in this process, so in-memory
# timetables (the ETA's) know to reload; other processes rely on their cache's time-to-live.
TIMETABLE_GENERATION = [0]
# generation -> the one departure that change touched (a notice's set_status), so a cached
# timetable re-reads those rows alone; a generation missing here (new departures) means all
CHANGED_DEPARTURE: dict[int, str] = {}
_CHANGES_KEPT = 10_000


def _timetable_changed(dep_id: str | None = None) -> None:
    TIMETABLE_GENERATION[0] += 1
    if dep_id is not None:
        CHANGED_DEPARTURE[TIMETABLE_GENERATION[0]] = dep_id
        CHANGED_DEPARTURE.pop(TIMETABLE_GENERATION[0] - _CHANGES_KEPT, None)


def changed_since(generation: int) -> set[str] | None:
    """The departures changed in this process after `generation`; None when some change was not
    of single departures (a timetable load) or is too old to be known."""
    ids = set()
    for g in range(generation + 1, TIMETABLE_GENERATION[0] + 1):
        d = CHANGED_DEPARTURE.get(g)
        if d is None:
            return None
        ids.add(d)
    return ids


def _offset(dt: datetime) -> int:
    off = dt.utcoffset()
    return int(off.total_seconds() // 60) if off else 0


def departure_row(d: Departure) -> dict:
    return {
        "id": d.id, "link_id": d.link_id, "service": d.service, "operator": d.operator, "mode": d.mode.value,
        "origin": d.origin, "destination": d.destination, "departs_at": d.departs_at, "arrives_at": d.arrives_at,
        "departs_offset": _offset(d.departs_at), "arrives_offset": _offset(d.arrives_at),
        "capacity_teu": d.capacity_teu, "reserved_teu": 0, "price_usd_per_teu": d.price_usd_per_teu,
        "vehicle": d.vehicle, "voyage": d.voyage, "status": d.status,
    }


def save_departures(conn: Connection, deps: Iterable[Departure], chunk: int = 5000) -> int:
    """Insert departures (new ids only); returns how many were inserted."""
    existing = set(conn.execute(select(departures.c.id)).scalars())
    rows = [departure_row(d) for d in deps if d.id not in existing]
    for i in range(0, len(rows), chunk):
        conn.execute(insert(departures), rows[i:i + chunk])
    _timetable_changed()
    return len(rows)


def row_to_departure(r) -> Departure:
    """The Departure of a stored row, in the local offsets it was published with."""
    dep_tz = timezone(timedelta(minutes=r.departs_offset))
    arr_tz = timezone(timedelta(minutes=r.arrives_offset))
    return Departure(id=r.id, link_id=r.link_id, service=r.service, operator=r.operator, mode=Mode(r.mode),
                     origin=r.origin, destination=r.destination, departs_at=r.departs_at.astimezone(dep_tz),
                     arrives_at=r.arrives_at.astimezone(arr_tz), capacity_teu=r.capacity_teu,
                     price_usd_per_teu=r.price_usd_per_teu, vehicle=r.vehicle, voyage=r.voyage, status=r.status)


# which time a departures window bounds (and orders by): when it leaves, or when it arrives
WINDOWS = ("departure", "arrival")


def list_departures(conn: Connection, *, start: datetime | None = None, end: datetime | None = None,
                    origin: str | None = None, destination: str | None = None, mode: str | None = None,
                    limit: int | None = None, window: str = "departure") -> list[tuple[Departure, int]]:
    """Departures as (departure, reserved TEU) whose departure time (`window` "departure") or
    arrival time (`window` "arrival") falls in [start, end), ordered by that time.

    The arrival window is what a place expects: a train that left days ago and arrives tomorrow is
    in it, and a delay notice's shifted arrival counts (`set_status` moves both times)."""
    if window not in WINDOWS:
        raise ValueError(f"window {window!r}: one of {', '.join(WINDOWS)}")
    at = departures.c.departs_at if window == "departure" else departures.c.arrives_at
    q = select(departures)
    conds = []
    if start:
        conds.append(at >= start)
    if end:
        conds.append(at < end)
    if origin:
        conds.append(departures.c.origin == origin)
    if destination:
        conds.append(departures.c.destination == destination)
    if mode:
        conds.append(departures.c.mode == mode)
    if conds:
        q = q.where(and_(*conds))
    q = q.order_by(at, departures.c.id)
    if limit:
        q = q.limit(limit)
    return [(row_to_departure(r), r.reserved_teu) for r in conn.execute(q).all()]


def get_departure(conn: Connection, dep_id: str) -> tuple[Departure, int] | None:
    r = conn.execute(select(departures).where(departures.c.id == dep_id)).first()
    return (row_to_departure(r), r.reserved_teu) if r else None


def get_departures(conn: Connection, dep_ids: Sequence[str]) -> dict[str, tuple[Departure, int]]:
    """`get_departure` of several ids in one read: id -> (departure, reserved TEU); unknown ids left out."""
    rows = conn.execute(select(departures).where(departures.c.id.in_(sorted(set(dep_ids))))).all()
    return {r.id: (row_to_departure(r), r.reserved_teu) for r in rows}


def reserve_all(conn: Connection, dep_ids: Sequence[str], teu: int) -> bool:
    """Reserve `teu` on every one of these departures in one statement; False (and nothing
    reserved) when any is cancelled or would be oversold. The check and the reservation are one
    statement inside the caller's transaction: the row locks (PostgreSQL) or the write lock
    (SQLite) hold until it ends, so no other booking slips in between."""
    ids = sorted(set(dep_ids))
    fits = (departures.c.id.in_(ids), departures.c.status != "cancelled",
            departures.c.reserved_teu + teu <= departures.c.capacity_teu)
    done = conn.execute(update(departures).where(*fits).values(reserved_teu=departures.c.reserved_teu + teu)
                        .returning(departures.c.id)).scalars().all()
    if len(done) == len(ids):
        return True
    if done:   # the whole journey or none of it
        conn.execute(update(departures).where(departures.c.id.in_(done))
                     .values(reserved_teu=departures.c.reserved_teu - teu))
    return False


def reserved_map(conn: Connection, start: datetime | None = None) -> dict[str, int]:
    """Reserved TEU per departure id (only departures with reservations)."""
    q = select(departures.c.id, departures.c.reserved_teu).where(departures.c.reserved_teu > 0)
    if start:
        q = q.where(departures.c.departs_at >= start)
    return {i: n for i, n in conn.execute(q).all()}


def reserve(conn: Connection, dep_id: str, teu: int) -> bool:
    """Reserve `teu` on a departure atomically; False when it would oversell (the ferry never is)."""
    res = conn.execute(
        update(departures)
        .where(departures.c.id == dep_id, departures.c.status != "cancelled",
               departures.c.reserved_teu + teu <= departures.c.capacity_teu)
        .values(reserved_teu=departures.c.reserved_teu + teu))
    return res.rowcount == 1


def release(conn: Connection, dep_id: str, teu: int) -> None:
    """Give `teu` back to a departure (cancellation, re-routing)."""
    conn.execute(update(departures).where(departures.c.id == dep_id)
                 .values(reserved_teu=func.max(0, departures.c.reserved_teu - teu)
                         if conn.dialect.name == "sqlite"
                         else func.greatest(0, departures.c.reserved_teu - teu)))


def set_status(conn: Connection, dep_id: str, status: str, delay: timedelta | None = None) -> bool:
    """Mark a departure cancelled/delayed (operator notice); shifts times by `delay`."""
    values: dict = {"status": status}
    if delay:
        row = conn.execute(select(departures.c.departs_at, departures.c.arrives_at)
                           .where(departures.c.id == dep_id)).first()
        if row is None:
            return False
        values["departs_at"], values["arrives_at"] = row.departs_at + delay, row.arrives_at + delay
    _timetable_changed(dep_id)
    return conn.execute(update(departures).where(departures.c.id == dep_id).values(**values)).rowcount == 1


def count_departures(conn: Connection) -> int:
    return conn.execute(select(func.count()).select_from(departures)).scalar_one()
