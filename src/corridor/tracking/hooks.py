"""The tracking steps on the ingest path, inside the ingest transaction (`AFTER_APPEND`).

Importing this module registers them once: trip status folded in, ETA refreshed and published
as an EST event when it moves, alerts raised, and outbox rows written for every subscription —
all committed or rolled back together with the events themselves. The time-driven `sweep` does
the same for what no event announces: silence, long dwell, and a departure the ETA was laid on
that left without the box.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import Connection

from ..domain.events import Classifier, Event, EventKind, event_keys, reasserted_key
from ..ingest import service
from ..store import db as _db
from ..store import events as evstore
from ..store import ingest as ingest_store
from ..store import retractions
from ..store import tracking as repo
from . import alerts, outbox, status, timeline
from .eta import Places, current_places, trip_etas

CORRIDOR = "CORRIDOR"
ETA_THRESHOLD = timedelta(hours=6)   # publish a new EST when the ETA moves by more than this
# a laid departure counts as gone without the box this long after it left: its load report may lag
SAILED_GRACE = timedelta(hours=1)
RELAY_BATCH = 500                    # trips laid again per transaction of the sweep


def after_append(conn: Connection, stored: list[tuple[int, Event]]) -> None:
    """The AFTER_APPEND hook: status, ETA, alerts, outbox for newly stored events."""
    if not stored:
        return
    pending: tuple[dict, dict] = ({}, {})   # the batch's and its derived events, for one timeline fold
    moved, rows = status.fold(conn, stored, pending=pending)
    _follow_bookings(conn, rows)
    derived: list[tuple[int, Event]] = []
    if moved:
        # a fixed number of queries per batch, whatever the number of trips that moved
        sts = [rows[t] for t in sorted(moved)]
        derived = store_derived(conn, _refresh(conn, sts, current_places(conn), _noticed_at(stored)), rows, pending)
    timeline.fold_in(conn, *pending, replan=_replanned(conn, stored))
    gone = retractions.withdrawn_now(conn)
    if gone:   # stored earlier in this batch, retracted by a later message of it: no subscriber is told
        stored = [(seq, e) for seq, e in stored if (e.source_party, e.event_id) not in gone]
    outbox.fan_out(conn, stored + derived)


def _noticed_at(stored: list[tuple[int, Event]]) -> datetime | None:
    """When a notice whose alerts this batch holds was published (None for any other batch). The
    ETAs it lays again are laid as of then: a departure that left before it, and the box is not
    reported on, left without the box (as in the sweep), whatever the box's last report says."""
    times = [e.event_time for _, e in stored
             if e.kind is EventKind.ALERT and e.code == "NOTC" and e.source_party == CORRIDOR]
    return max(times) if times else None


_UNDER_WAY = frozenset(("on_rail", "at_sea", "on_road", "in_transit", "delivered"))


def _follow_bookings(conn: Connection, rows: dict[str, dict]) -> None:
    """A booking is in transit once one of its containers is under way, delivered once all are."""
    moving = {r["booking_ref"] for r in rows.values() if r.get("booking_ref") and r.get("state") in _UNDER_WAY}
    if moving:
        done = {r["booking_ref"] for r in rows.values() if r.get("booking_ref") and r.get("state") == "delivered"}
        # stamped when its containers moved (the twin's simulated time, a late report's own time),
        # not at the wall clock of the batch
        times = [t for r in rows.values() if r.get("booking_ref") in moving and (t := r.get("since"))]
        repo.advance_bookings(conn, moving, done, max(times) if times else datetime.now(timezone.utc))


def _replanned(conn: Connection, stored: list[tuple[int, Event]]) -> set[str]:
    """The trips whose booking's plan this batch stored anew (a re-routed booking's planned
    departures): their timelines show the booking's plan, so they are folded again."""
    refs = [e.reference("BKG") for _, e in stored
            if e.trip_id is None and e.classifier is Classifier.PLN and e.kind is EventKind.TRANSPORT]
    refs = [r for r in refs if r]
    return set(repo.trips_of_bookings(conn, refs)) if refs else set()


def refresh(conn: Connection, trip_id: str) -> list[tuple[int, Event]]:
    """Recompute one trip's ETA, publish it if it moved, raise alerts; returns what was stored."""
    st = status.get(conn, trip_id)
    if st is None:
        return []
    return store_derived(conn, _refresh(conn, [st], current_places(conn)))


def _refresh(conn: Connection, sts: list[dict], places: Places, now: datetime | None = None) -> list[Event]:
    """The ETAs of these trips stored on their status rows; returns the EST and alert events they imply.

    `now` (the sweep's): departures that left before it, less SAILED_GRACE, left without the box,
    and the ESTs say when they were laid (`created_at`). Without it the ETA is laid from what the
    trip's events say (the ingest path: its clock is the senders')."""
    if not sts:
        return []
    # kept on the status rows by status.fold (the rows read or folded for this batch)
    published = {st["trip_id"]: st.get("published_eta") for st in sts}
    etas = trip_etas(conn, sts, key=str(conn.engine.url), places=places,
                     not_before=now - SAILED_GRACE if now is not None else None)
    # what was said of missed departures: read only for the trips that miss one now (few)
    missed = repo.alerted_pairs(conn, [st["trip_id"] for st, (eta, _) in zip(sts, etas) if eta and eta.missed],
                                "MISS", CORRIDOR, ("booked", "as"))
    nexts = [eta.next_departure() if eta else None for eta, _ in etas]
    repo.set_etas(conn, [(st["trip_id"], *((eta.at, eta.low, eta.high) if eta else (None, None, None)))
                         for st, (eta, _) in zip(sts, etas)],
                  [(n.departure_id, n.departs_at) if n else (None, None) for n in nexts])
    new: list[Event] = []
    for st, (eta, ctx) in zip(sts, etas):
        new += alerts.on_eta(st, eta, ctx, places, said=missed.get(st["trip_id"], ()), now=now)
        if eta is not None and ctx.get("destination"):
            last = published.get(st["trip_id"])
            if last is None or abs(eta.at - last) > ETA_THRESHOLD:
                new.append(est_event(st, eta, places.ref_of.get(ctx["destination"], ctx["destination"]), now))
    return new


def store_derived(conn: Connection, new: list[Event], known: dict[str, dict] | None = None,
                  pending: tuple[dict, dict] | None = None) -> list[tuple[int, Event]]:
    """Append Corridor's own events (EST, ALERT) and fold them into the status (`known`: status.fold's
    rows; `pending`: its timeline events, folded by the caller)."""
    if not new:
        return []
    keys = [event_keys(e) for e in new]
    ests = [k[1] for e, k in zip(new, keys) if e.classifier is Classifier.EST]
    if ests and (held := ingest_store.known_events(conn, ests)):
        # an ETA Corridor goes back to (A, then B, then A): published anew under its own key (only
        # a moved ETA is published, so it differs from the current one), else the feed keeps B
        now = datetime.now(timezone.utc)
        keys = [(m, reasserted_key(d, e.created_at or now)) if d in held and e.classifier is Classifier.EST
                else (m, d) for e, (m, d) in zip(new, keys)]
    stored, _ = evstore.append(conn, new, keys=keys)
    status.fold(conn, stored, known, pending)
    return stored


def est_event(st: dict, eta, destination_ref: str, laid_at: datetime | None = None) -> Event:
    """The EST discharge-at-destination event that publishes an ETA (range in `extra`; `laid_at`:
    when, where no report of the trip says so: the sweep's time)."""
    refs = (("BKG", st["booking_ref"]),) if st.get("booking_ref") else ()
    return Event(kind=EventKind.EQUIPMENT, code="DISC", classifier=Classifier.EST, event_time=eta.at,
                 location=destination_ref, equipment=st["equipment"], references=refs, trip_id=st["trip_id"],
                 source_party=CORRIDOR, parties=frozenset(st["parties"].split()), created_at=laid_at,
                 reason="Corridor ETA laid on the timetable",
                 extra={"eta_low": eta.low.isoformat(), "eta_high": eta.high.isoformat()})


def last_published(conn: Connection, trip_id: str) -> datetime | None:
    """The event time of the latest ETA Corridor published for a trip."""
    return repo.published_etas(conn, [trip_id]).get(trip_id)


def sweep(store, now: datetime, *, silent_hours: float = alerts.SILENT_HOURS) -> int:
    """Raise the time-driven alerts (silence, dwell) and queue them, and lay again the ETAs whose
    next departure left without the box (`relay_missed`); returns how many of those alerts were new."""
    return sweep_counts(store, now, silent_hours=silent_hours)[0]


def sweep_counts(store, now: datetime, *, silent_hours: float = alerts.SILENT_HOURS) -> tuple[int, int]:
    """`sweep`, returning (new time-driven alerts, events stored by `relay_missed`)."""
    with store.tx() as conn:
        new, due = alerts.sweep(conn, now, silent_hours=silent_hours, said=_SAID.get(store.url, frozenset()))
        stored = store_derived(conn, new)
        outbox.fan_out(conn, stored)
    _SAID[store.url] = due      # committed: every alert due now is stored
    return len(stored), relay_missed(store, now)


# store URL -> (trip, code, place, time) of the time-driven alerts this process's last sweep left stored
_SAID: dict[str, set[tuple]] = {}


def _forget(store) -> None:
    for k in store.cache_keys():
        _SAID.pop(k, None)


_db.BEFORE_DISPOSE.append(_forget)


def relay_missed(store, now: datetime) -> int:
    """Lay again the ETAs of the open trips whose next laid departure left before `now` (less
    SAILED_GRACE) while the box was not reported aboard — it would otherwise keep an ETA on a
    ferry gone without it until someone reports the box — publishing ESTs and alerts as ingest
    does. RELAY_BATCH trips per transaction, a fixed number of queries each; nothing due costs
    one read of the partial index on next_departs_at. Returns how many events were stored."""
    cutoff, seen, n = now - SAILED_GRACE, set(), 0
    with store.read() as conn:      # no write lock (SQLite) for a sweep with nothing due
        if not repo.departed_without(conn, cutoff, 1):
            return 0
    while True:
        with store.tx() as conn:
            due = [d for d in repo.departed_without(conn, cutoff, RELAY_BATCH) if d[0] not in seen]
            if not due:     # (each laid row leaves the due range: nothing it lays on left before cutoff)
                return n
            seen.update(t for t, _ in due)
            repo.forget_next_departures(conn, [t for t, under_way in due if not under_way])
            rows = repo.statuses(conn, [t for t, under_way in due if under_way])
            sts = [rows[t] for t, _ in due if t in rows]
            # no `known` rows for the fold: it reads them again, so an ingest that moved one of
            # these trips meanwhile is not written over (PostgreSQL: no lock was taken here)
            stored = store_derived(conn, _refresh(conn, sts, current_places(conn), now))
            outbox.fan_out(conn, stored)
            n += len(stored)


def install() -> None:
    """Register the hook once (idempotent)."""
    if after_append not in service.AFTER_APPEND:
        service.AFTER_APPEND.append(after_append)
    if outbox.withdraw not in retractions.AFTER_WITHDRAW:
        retractions.AFTER_WITHDRAW.append(outbox.withdraw)


install()
