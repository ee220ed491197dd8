"""The current state of each container trip, kept up to date event by event (`trip_status`), and
with it the trip's stored timeline (`trip_timelines`, `trip_milestones`: tracking.timeline.fold_in)."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Connection

from ..domain.events import Classifier, Event, EventKind
from ..store.events import party_set
from ..store import retractions
from ..store import tracking as repo
from . import timeline

# state after an actual movement; the mode decides between rail and sea
_ON_VEHICLE = {"LOAD", "DEPA"}
_AT_FACILITY = {"DISC", "GTIN", "ARRI", "DROP", "STRP", "STUF", "INSP", "RSEA"}
_TIMES = ("since", "last_heard_at", "position_at", "published_eta")   # the times folding sets (from event times)
CORRIDOR = "CORRIDOR"   # Corridor's own events: its ETAs (EST) and alerts


def vehicle_state(mode: str | None) -> str:
    """The state of a box aboard a vehicle of `mode`."""
    return {"RAIL": "on_rail", "VESSEL": "at_sea", "BARGE": "at_sea", "TRUCK": "on_road"}.get(mode or "", "in_transit")


def _next_state(row: dict, e: Event, final_refs: set[str], booked: dict[str, str] | None = None) -> bool:
    """Apply one ACT movement to a status row; True when where/how the box is changed, or the
    departure it is on (the ETA is laid again). `booked`: place -> the mode of the booked leg out
    of it (`store.tracking.booked_modes`), for a load or departure that names no mode."""
    tc = e.transport_call
    if e.code in _ON_VEHICLE:
        # loaded or gone: on a vehicle, though the report may not name it (a terminal's load list
        # without the vessel): not at the facility, not waiting there any more
        mode = (tc.mode if tc else None) or (booked or {}).get(e.location or "")
        state = vehicle_state(mode)
        vehicle, dep = (tc.voyage or tc.vehicle, tc.departure_id) if tc else (None, None)
    elif e.code == "ARRI" and tc is not None and row.get("state") in ("on_rail", "at_sea", "on_road"):
        state, vehicle, dep = row["state"], row.get("vehicle"), row.get("departure_id")   # still aboard
    elif e.code in _AT_FACILITY:
        state, vehicle, dep = "at_facility", None, None
    elif e.code in ("GTOT", "PICK"):
        state = "delivered" if e.location in final_refs else "on_road"
        vehicle, dep = (tc.voyage or tc.vehicle if tc else None), None
    else:
        return False
    changed = (state, e.location, vehicle) != (row.get("state"), row.get("location"), row.get("vehicle"))
    # news for the ETA too, though the box stays where it was: the departure it is on is named now,
    # or that departure was heard leaving (early or late against its timetable)
    news = changed or dep != row.get("departure_id") or (e.code == "DEPA" and dep is not None)
    row.update(state=state, location=e.location or row.get("location"), vehicle=vehicle, departure_id=dep)
    if changed:
        row["since"] = e.event_time
    return news


def apply(conn: Connection, stored: list[tuple[int, Event]]) -> set[str]:
    """Fold newly stored events into `trip_status` and the trips' stored timelines; returns the
    trips whose position/state moved.

    Only the rows of the touched trips are read and written, in a fixed number of queries per
    batch (not per event or per trip): nothing is recomputed from scratch. Late reports (older
    than the current state) update `last_heard_at` but not the state.
    """
    return fold(conn, stored)[0]


def fold(conn: Connection, stored: list[tuple[int, Event]], known: dict[str, dict] | None = None,
         pending: tuple[dict, dict] | None = None) -> tuple[set[str], dict[str, dict]]:
    """`apply`, also returning the touched status rows as stored (times in UTC, like a read gives).

    `known`: rows a `fold` of this same transaction returned, used instead of reading them again.
    `pending`: (events by trip, prior seq by trip) the caller folds into the stored timelines
    itself, later in the transaction (`timeline.fold_in(conn, *pending)`): the events are added to
    it instead, so a batch and Corridor's events derived from it are folded in one go."""
    by_trip: dict[str, list[tuple[int, Event]]] = {}
    gone = retractions.withdrawn_now(conn)
    if gone:   # stored earlier in this transaction, retracted since (a batch: the steps come at its end)
        stored = [(seq, e) for seq, e in stored if (e.source_party, e.event_id) not in gone]
    for seq, e in stored:
        if e.trip_id:
            by_trip.setdefault(e.trip_id, []).append((seq, e))
    if not by_trip:
        return set(), {}
    known = known or {}
    current = {t: known[t] for t in by_trip if t in known}
    current.update(repo.statuses(conn, [t for t in by_trip if t not in current]))
    missing = [t for t in by_trip if t not in current]
    heads = repo.trip_heads(conn, missing)
    rows: dict[str, dict] = {}
    for trip_id in by_trip:
        if trip_id in current:
            rows[trip_id] = current[trip_id]
        elif (t := heads.get(trip_id)) is not None:
            rows[trip_id] = {**dict.fromkeys(repo.STATUS_COLUMNS), "trip_id": trip_id, "equipment": t.equipment,
                             "booking_ref": t.booking_ref, "state": "planned", "last_event_seq": 0,
                             "parties": party_set(t.parties)}
    finals = repo.destination_refs(conn, [r.get("booking_ref") for r in rows.values()])
    # the booked modes, read only for a load or departure that names no mode (rare)
    modeless = [r.get("booking_ref") for t, r in rows.items() if r.get("booking_ref") and any(
        e.code in _ON_VEHICLE and e.classifier is Classifier.ACT and not (e.transport_call and e.transport_call.mode)
        for _, e in by_trip[t])]
    modes = repo.booked_modes(conn, modeless) if modeless else {}
    prior = {t: r["last_event_seq"] for t, r in rows.items()}   # what the stored timelines hold already
    moved: set[str] = set()
    for trip_id, row in rows.items():
        final = finals.get(row.get("booking_ref"), set())
        parties = set(row["parties"].split())
        published = 0
        for seq, e in sorted(by_trip[trip_id], key=lambda p: p[1].event_time):
            row["last_event_seq"] = max(row["last_event_seq"], seq)
            parties |= e.parties
            parties.add(e.source_party)
            if e.classifier is Classifier.EST and e.source_party == CORRIDOR and seq > published:
                row["published_eta"], published = e.event_time, seq   # the latest ETA Corridor published
            if e.kind == EventKind.ALERT and e.code == "NOTC":
                moved.add(trip_id)   # a notice changed the timetable its ETA is laid on
            if e.classifier != Classifier.ACT or e.source_party == CORRIDOR and e.kind == EventKind.ALERT:
                continue
            if row.get("last_heard_at") is None or e.event_time > row["last_heard_at"]:
                row["last_heard_at"] = e.event_time
            if e.kind == EventKind.IOT:
                if e.lat is not None and (row.get("position_at") is None or e.event_time >= row["position_at"]):
                    row.update(lat=e.lat, lon=e.lon, position_at=e.event_time)
                continue
            if e.kind == EventKind.ALERT or (row.get("since") and e.event_time < row["since"]):
                continue
            if _next_state(row, e, final, modes.get(row.get("booking_ref"))):
                moved.add(trip_id)
        row["parties"] = party_set(parties)
        for c in _TIMES:
            if row[c] is not None:
                row[c] = row[c].astimezone(timezone.utc)
    new = [r for t, r in rows.items() if t not in current]
    moved |= {r["trip_id"] for r in new}
    repo.save_statuses(conn, new, [r for t, r in rows.items() if t in current], repo.MOVING_COLUMNS)
    if pending is None:
        timeline.fold_in(conn, {t: by_trip[t] for t in rows}, prior)
    else:
        for t in rows:
            pending[0].setdefault(t, []).extend(by_trip[t])
            pending[1].setdefault(t, prior[t])   # what the stored timeline held before the first
    return moved, rows


# what a trip's status is before any event (the moving columns a fold sets from the events)
_UNHEARD = {"state": "planned", "location": None, "vehicle": None, "departure_id": None, "since": None,
            "last_event_seq": 0, "last_heard_at": None, "lat": None, "lon": None, "position_at": None,
            "published_eta": None}


def refold(conn: Connection, trip_ids: list[str]) -> None:
    """The status rows of trips that lost events to a retraction (`store.retractions.AFTER_RETRACT`,
    in the ingest transaction), folded again from the events still standing, and their ETAs laid
    again (a retracted departure no longer carries the box). Their stored timelines are set
    aside by the retraction: made again from the standing events."""
    rows = repo.statuses(conn, trip_ids)
    if not rows:
        return
    standing = retractions.standing_events(conn, list(rows))
    fresh = {t: {**r, **_UNHEARD} for t, r in rows.items()}   # parties stay: who may see the trip
    fold(conn, [p for t in fresh for p in standing.get(t, ())], known=fresh, pending=({}, {}))
    # (a trip none of whose events stands is not folded: it goes back to planned here)
    repo.save_statuses(conn, [], [r for t, r in fresh.items() if t not in standing], repo.MOVING_COLUMNS)
    from . import hooks, outbox   # (hooks folds the status itself: imported when first needed)
    for t in sorted(rows):
        outbox.fan_out(conn, hooks.refresh(conn, t))


if refold not in retractions.AFTER_RETRACT:
    retractions.AFTER_RETRACT.append(refold)


def get(conn: Connection, trip_id: str) -> dict | None:
    """The status row of a trip as a dict, or None."""
    return repo.status(conn, trip_id)


def set_eta(conn: Connection, trip_id: str, eta: datetime | None, low: datetime | None,
            high: datetime | None) -> None:
    """Store the current ETA and its range on the status row."""
    repo.set_etas(conn, [(trip_id, eta, low, high)])
