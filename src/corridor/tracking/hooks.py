"""The tracking steps on the ingest path, inside the ingest transaction (`AFTER_APPEND`).

Importing this module registers them once: trip status folded in, ETA refreshed and published
as an EST event when it moves, alerts raised, and outbox rows written for every subscription —
all committed or rolled back together with the events themselves.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection

from ..domain.events import Classifier, Event, EventKind
from ..ingest import service
from ..store import events as evstore
from ..store import tracking as repo
from . import alerts, outbox, status
from .eta import Places, current_places, trip_etas

CORRIDOR = "CORRIDOR"
ETA_THRESHOLD = timedelta(hours=6)   # publish a new EST when the ETA moves by more than this


def after_append(conn: Connection, stored: list[tuple[int, Event]]) -> None:
    """The AFTER_APPEND hook: status, ETA, alerts, outbox for newly stored events."""
    if not stored:
        return
    moved, rows = status.fold(conn, stored)
    derived: list[tuple[int, Event]] = []
    if moved:
        # a fixed number of queries per batch, whatever the number of trips that moved
        sts = [rows[t] for t in sorted(moved)]
        derived = store_derived(conn, _refresh(conn, sts, current_places(conn)), rows)
    outbox.fan_out(conn, stored + derived)


def refresh(conn: Connection, trip_id: str) -> list[tuple[int, Event]]:
    """Recompute one trip's ETA, publish it if it moved, raise alerts; returns what was stored."""
    st = status.get(conn, trip_id)
    if st is None:
        return []
    return store_derived(conn, _refresh(conn, [st], current_places(conn)))


def _refresh(conn: Connection, sts: list[dict], places: Places) -> list[Event]:
    """The ETAs of these trips stored on their status rows; returns the EST and alert events they imply."""
    if not sts:
        return []
    ids = [st["trip_id"] for st in sts]
    published = last_published_many(conn, ids)
    missed = repo.alerted_pairs(conn, ids, "MISS", CORRIDOR, ("booked", "next"))
    etas = trip_etas(conn, sts, key=str(conn.engine.url), places=places)
    repo.set_etas(conn, [(st["trip_id"], *((eta.at, eta.low, eta.high) if eta else (None, None, None)))
                         for st, (eta, _) in zip(sts, etas)])
    new: list[Event] = []
    for st, (eta, ctx) in zip(sts, etas):
        new += alerts.on_eta(st, eta, ctx, places, said=missed.get(st["trip_id"], ()))
        if eta is not None and ctx.get("destination"):
            last = published.get(st["trip_id"])
            if last is None or abs(eta.at - last) > ETA_THRESHOLD:
                new.append(est_event(st, eta, places.ref_of.get(ctx["destination"], ctx["destination"])))
    return new


def store_derived(conn: Connection, new: list[Event], known: dict[str, dict] | None = None
                  ) -> list[tuple[int, Event]]:
    """Append Corridor's own events (EST, ALERT) and fold them into the status (`known`: status.fold's rows)."""
    if not new:
        return []
    stored, _ = evstore.append(conn, new)
    status.fold(conn, stored, known)
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
    return repo.last_published(conn, [trip_id], CORRIDOR).get(trip_id)


def last_published_many(conn: Connection, trip_ids: list[str]) -> dict[str, datetime]:
    """Trip id -> event time of the latest ETA Corridor published for it (one query)."""
    return repo.last_published(conn, trip_ids, CORRIDOR)


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
