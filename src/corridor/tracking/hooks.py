"""The tracking steps on the ingest path, inside the ingest transaction (`AFTER_APPEND`).

Importing this module registers them once: trip status folded in, ETA refreshed and published
as an EST event when it moves, alerts raised, and outbox rows written for every subscription —
all committed or rolled back together with the events themselves.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, select

from ..domain.events import Classifier, Event, EventKind
from ..ingest import service
from ..store import events as evstore
from ..store import tracking as repo
from ..store.tables import events
from . import alerts, outbox, status
from .eta import Places, trip_eta

CORRIDOR = "CORRIDOR"
ETA_THRESHOLD = timedelta(hours=6)   # publish a new EST when the ETA moves by more than this


def after_append(conn: Connection, stored: list[tuple[int, Event]]) -> None:
    """The AFTER_APPEND hook: status, ETA, alerts, outbox for newly stored events."""
    if not stored:
        return
    moved = status.apply(conn, stored)
    derived: list[tuple[int, Event]] = []
    if moved:
        # one read of the places and of the published ETAs per batch, then the ETA of each moved trip
        places = Places(conn)
        published = last_published_many(conn, sorted(moved))
        rows = repo.statuses(conn, sorted(moved))
        new: list[Event] = []
        for trip_id in sorted(moved):
            if trip_id in rows:
                new += _refresh(conn, rows[trip_id], places, published.get(trip_id))
        derived = store_derived(conn, new)
    outbox.fan_out(conn, stored + derived)


def refresh(conn: Connection, trip_id: str) -> list[tuple[int, Event]]:
    """Recompute one trip's ETA, publish it if it moved, raise alerts; returns what was stored."""
    st = status.get(conn, trip_id)
    if st is None:
        return []
    return store_derived(conn, _refresh(conn, st, Places(conn), last_published(conn, trip_id)))


def _refresh(conn: Connection, st: dict, places: Places, last: datetime | None) -> list[Event]:
    """The ETA of one trip stored on its status row; returns the EST and alert events it implies."""
    eta, ctx = trip_eta(conn, st, key=str(conn.engine.url), places=places)
    status.set_eta(conn, st["trip_id"], *(eta.at, eta.low, eta.high) if eta else (None, None, None))
    new: list[Event] = alerts.on_eta(st, eta, ctx, places)
    if eta is not None and ctx.get("destination"):
        if last is None or abs(eta.at - last) > ETA_THRESHOLD:
            new.append(est_event(st, eta, places.ref_of.get(ctx["destination"], ctx["destination"])))
    return new


def store_derived(conn: Connection, new: list[Event]) -> list[tuple[int, Event]]:
    """Append Corridor's own events (EST, ALERT) and fold them into the status."""
    if not new:
        return []
    stored, _ = evstore.append(conn, new)
    status.apply(conn, stored)
    return stored


def est_event(st: dict, eta, destination_ref: str) -> Event:
    """The EST discharge-at-destination event that publishes an ETA (range in `extra`)."""
    refs = (("BKG", st["booking_ref"]),) if st.get("booking_ref") else ()
    return Event(kind=EventKind.EQUIPMENT, code="DISC", classifier=Classifier.EST, event_time=eta.at,
                 location=destination_ref, equipment=st["equipment"], references=refs, trip_id=st["trip_id"],
                 source_party=CORRIDOR, parties=frozenset(st["parties"].split()),
                 reason="Corridor ETA laid on the timetable",
                 extra={"eta_low": eta.low.isoformat(), "eta_high": eta.high.isoformat()})


def last_published(conn: Connection, trip_id: str) -> datetime | None:
    """The event time of the latest ETA Corridor published for a trip."""
    r = conn.execute(select(events.c.event_time).where(
        events.c.trip_id == trip_id, events.c.source_party == CORRIDOR, events.c.classifier == "EST")
        .order_by(events.c.seq.desc()).limit(1)).first()
    return r.event_time if r else None


def last_published_many(conn: Connection, trip_ids: list[str]) -> dict[str, datetime]:
    """Trip id -> event time of the latest ETA Corridor published for it (one query)."""
    if not trip_ids:
        return {}
    rows = conn.execute(select(events.c.trip_id, events.c.event_time).where(
        events.c.trip_id.in_(trip_ids), events.c.source_party == CORRIDOR, events.c.classifier == "EST")
        .order_by(events.c.seq)).all()
    return {r.trip_id: r.event_time for r in rows}   # ascending seq: the latest wins


def sweep(store, now: datetime, *, silent_hours: float = alerts.SILENT_HOURS) -> int:
    """Raise the time-driven alerts (silence, dwell) and queue them; returns how many were new."""
    with store.tx() as conn:
        stored = store_derived(conn, alerts.sweep(conn, now, silent_hours=silent_hours))
        outbox.fan_out(conn, stored)
        return len(stored)


def install() -> None:
    """Register the hook once (idempotent)."""
    if after_append not in service.AFTER_APPEND:
        service.AFTER_APPEND.append(after_append)


install()
