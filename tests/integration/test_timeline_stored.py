"""Stored timelines (`trip_timelines`, `trip_milestones`, folded on ingest by
tracking.timeline.fold_in): the answer a read makes from the stored rows is, byte for byte, the one
built from the trip's events, after each batch, for trips from before the tables and after a
network change; and GET /api/v1/containers/{ref} authenticates, audits and reads on one
connection — on both stores."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, event, func, insert, select, update

from corridor.access import audit
from corridor.access.visibility import viewer_for
from corridor.domain.events import Classifier, Event, EventKind, TransportCall
from corridor.domain.parties import Party, Role
from corridor.store import events as evstore
from corridor.store import tracking as repo
from corridor.store.tables import audit_log, events, locations, trip_milestones, trip_timelines, trips
from corridor.tracking import status, timeline

from tracking_helpers import app_for, party

BOX = "MSCU1234566"
TRIP = f"{BOX}-202503010000"
ADMIN = Party("ADM", "admin", frozenset({Role.ADMIN}))
ALMATY = timezone(timedelta(hours=5))


def _event(code, when, where, kind=EventKind.EQUIPMENT, cls=Classifier.ACT, voyage=None, mode="RAIL", **kw):
    tc = TransportCall(mode, location=where, voyage=voyage) if voyage else None
    return Event(kind, code, cls, when, location=where, equipment=BOX, transport_call=tc,
                 references=(("BKG", "B1"),), trip_id=TRIP, source_party=kw.pop("source", "ACME"),
                 parties=frozenset({"ACME"}), **kw)


def _append(store, batch: list[Event]) -> None:
    """Store a batch as the ingest path does: appended, then the status step (which folds the timeline)."""
    with store.tx() as conn:
        if conn.execute(select(func.count()).select_from(trips).where(trips.c.id == TRIP)).scalar_one() == 0:
            t0 = datetime(2025, 3, 1, tzinfo=timezone.utc)
            conn.execute(insert(trips).values(id=TRIP, equipment=BOX, booking_ref="B1", parties=["ACME"],
                                              starts_at=t0, created_at=t0))
        stored, _ = evstore.append(conn, batch)
        status.apply(conn, stored)


def _answers(store, v) -> tuple[bytes, bytes, bool]:
    """(the answer a first read makes now, the answer built from the trip's events alone, whether
    the first read took the stored milestones)."""
    with store.read() as conn:
        timeline.forget(conn)
        stored = timeline.container_json(conn, BOX, v)
    with store.tx() as conn:   # nothing of it is kept: rolled back
        conn.execute(update(trip_milestones).where(trip_milestones.c.trip_id == TRIP).values(
            body=func.replace(trip_milestones.c.body, '"milestone":"', '"milestone":"marked ')))
        timeline.forget(conn)
        marked = timeline.container_json(conn, BOX, v)
        conn.execute(delete(trip_timelines).where(trip_timelines.c.trip_id == TRIP))   # as before the tables
        timeline.forget(conn)
        built = timeline.container_json(conn, BOX, v)
        conn.rollback()
    timeline.forget()
    return stored, built, b'"milestone":"marked ' in marked


def _row(store):
    """The trip's stored timeline row, its milestone rows, and its newest event seq."""
    with store.read() as conn:
        row = conn.execute(select(trip_timelines).where(trip_timelines.c.trip_id == TRIP)).first()
        ms = conn.execute(select(trip_milestones).where(trip_milestones.c.trip_id == TRIP)
                          .order_by(trip_milestones.c.n)).all()
        newest = conn.execute(select(func.max(events.c.seq)).where(events.c.trip_id == TRIP)).scalar_one()
    return row, ms, newest


def _batches(t0: datetime) -> list[list[Event]]:
    """A trip in four batches: moves, a position, estimates with ranges superseding each other, an
    alert, a report without its vehicle (joins the milestone), a late report, a sender's offset."""
    h = timedelta(hours=1)
    return [
        [_event("GTIN", t0, "KZDOS"), _event("LOAD", t0 + 5 * h, "KZDOS", voyage="T100"),
         _event("DEPA", t0 + 6 * h, "KZDOS", kind=EventKind.TRANSPORT, voyage="T100"),
         _event("DISC", t0 + 90 * h, "KZAAU", cls=Classifier.EST, voyage="T100")],
        [_event("POSI", t0 + 20 * h, None, kind=EventKind.IOT, lat=44.1, lon=61.2),
         _event("DISC", t0 + 80 * h, "KZAAU", cls=Classifier.EST, source="CORRIDOR",
                extra={"eta_low": (t0 + 70 * h).isoformat(), "eta_high": (t0 + 95 * h).isoformat()}),
         _event("LATE", t0 + 21 * h, "KZDOS", kind=EventKind.ALERT, source="CORRIDOR", reason="behind the timetable")],
        [_event("ARRI", (t0 + 75 * h).astimezone(ALMATY), "KZAAU", kind=EventKind.TRANSPORT, voyage="T100"),
         _event("DISC", (t0 + 76 * h).astimezone(ALMATY), "KZAAU", voyage="T100"),
         _event("LOAD", t0 + 100 * h, "KZAAU", voyage="V7", mode="VESSEL"),
         _event("POSI", t0 + 110 * h, None, kind=EventKind.IOT, lat=42.5, lon=50.3)],
        [_event("GTIN", t0 - 2 * h, "KZDOS", cls=Classifier.PLN),        # late: planned before it all began
         _event("DISC", t0 + 130 * h, "AZALA", cls=Classifier.EST, voyage="V7", mode="VESSEL"),
         _event("DISC", t0 + 128 * h, "AZALA", cls=Classifier.EST, source="CORRIDOR")],   # no vehicle: joins it
    ]


def test_the_stored_timeline_is_the_one_built_from_the_events_after_each_batch(loaded_store):
    party(loaded_store, "ACME", Role.SHIPPER)
    party(loaded_store, "KTZ", Role.RAILWAY, facilities=frozenset({"KZDOS"}))
    with loaded_store.read() as conn:
        admin, acme = viewer_for(conn, ADMIN), viewer_for(conn, Party("ACME", "ACME", frozenset({Role.SHIPPER})))
        ktz = viewer_for(conn, Party("KTZ", "KTZ", frozenset({Role.RAILWAY}), facilities=frozenset({"KZDOS"})))
    t0 = datetime(2025, 3, 1, 6, tzinfo=timezone.utc)
    written = []
    for n, batch in enumerate(_batches(t0), 1):
        before = {m.n: (m.body, m.seq) for m in _row(loaded_store)[1]}
        _append(loaded_store, batch)
        row, ms, newest = _row(loaded_store)
        assert row is not None and row.last_seq == newest, n          # folded up to the newest event
        written.append({m.n for m in ms if before.get(m.n) != (m.body, m.seq)})
        stored, built, used = _answers(loaded_store, admin)
        assert stored == built and used, n                            # the read took the stored rows
        assert _answers(loaded_store, acme)[0] == stored              # the trip's party sees all of it
    # only the milestones a batch made or changed were written: the 2nd only the joined estimate at
    # Aktau, the 3rd an arrival, a load and the discharge, the 4th the GTIN plan and the Alat estimate
    assert [len(w) for w in written] == [4, 1, 3, 2]
    with loaded_store.tx() as conn:   # an ETA on the status row: laid at the last estimated discharge place
        status.set_eta(conn, TRIP, t0 + timedelta(hours=129), t0 + timedelta(hours=125), t0 + timedelta(hours=140))
    stored, built, used = _answers(loaded_store, admin)
    assert stored == built and used
    doc = json.loads(stored)
    assert doc["eta"]["destination"] == "AZALA" and doc["eta"]["timezone"]
    assert doc["position"]["leg"] == "V7" and doc["alerts"][0]["code"] == "LATE"
    disc = next(m for m in doc["milestones"] if m["code"] == "DISC" and m["location"] == "AZALA")
    assert datetime.fromisoformat(disc["estimated"]) == t0 + timedelta(hours=128)   # the later report won
    assert disc["vehicle"] == "V7" and disc["place"]
    assert next(m for m in doc["milestones"] if m["code"] == "GTIN")["planned"]
    with loaded_store.read() as conn:   # a viewer who sees part of the trip: its events only, as before
        part = json.loads(timeline.container_json(conn, BOX, ktz))
    assert {m["location"] for m in part["milestones"]} == {"KZDOS"} and part["alerts"] == doc["alerts"]


def test_trips_from_before_the_tables_and_a_changed_network_are_folded_again(loaded_store, monkeypatch):
    party(loaded_store, "ACME", Role.SHIPPER)
    monkeypatch.setattr(repo, "PLACES_TTL_S", 0.0)   # every read sees the network as it is now
    with loaded_store.read() as conn:
        admin = viewer_for(conn, ADMIN)
    first, second, third, fourth = _batches(datetime(2025, 3, 1, 6, tzinfo=timezone.utc))
    _append(loaded_store, first)
    with loaded_store.tx() as conn:   # as if its events came before the tables
        conn.execute(delete(trip_timelines))
        conn.execute(delete(trip_milestones))
    stored, built, used = _answers(loaded_store, admin)
    assert _row(loaded_store)[0] is None and stored == built and not used   # read from the events meanwhile
    _append(loaded_store, second)
    row, ms, newest = _row(loaded_store)
    assert row.last_seq == newest and [m.code for m in ms] == ["GTIN", "LOAD", "DEPA", "DISC"]   # from all events
    stored, built, used = _answers(loaded_store, admin)
    assert stored == built and used

    # the operator renames Aktau: stored milestones made with the old name are not used
    with loaded_store.tx() as conn:
        conn.execute(update(locations).where(locations.c.code == "KZAAU").values(name="Aktau Sea Port"))
    stored, built, used = _answers(loaded_store, admin)
    assert stored == built and b"Aktau Sea Port" in stored and not used
    _append(loaded_store, third)                                       # the next event folds it anew
    row, ms, newest = _row(loaded_store)
    assert row.last_seq == newest and any("Aktau Sea Port" in m.body for m in ms)
    stored, built, used = _answers(loaded_store, admin)
    assert stored == built and used

    # rows behind the trip's newest event (an append that skipped the fold) are not used either
    with loaded_store.tx() as conn:
        evstore.append(conn, fourth)
    stored, built, used = _answers(loaded_store, admin)
    assert stored == built and b"AZALA" in stored and not used


def test_a_container_read_authenticates_audits_and_reads_on_one_connection(loaded_store):
    admin, acme, other = (party(loaded_store, p, r) for p, r in
                          (("ADM", Role.ADMIN), ("ACME", Role.SHIPPER), ("OTHER", Role.SHIPPER)))
    _append(loaded_store, _batches(datetime(2025, 3, 1, 6, tzinfo=timezone.utc))[0])
    c = app_for(loaded_store)
    checkouts: list[str] = []
    event.listen(loaded_store.engine, "checkout",
                 lambda *_: checkouts.append(threading.current_thread().name))
    assert audit.flush(loaded_store)
    with loaded_store.read() as conn:
        before = conn.execute(select(func.max(audit_log.c.id))).scalar() or 0
    checkouts.clear()
    for key, want in ((admin, 200), (acme, 200), (other, 404)):
        r = c.get(f"/api/v1/containers/{BOX}", headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == want
    assert c.get(f"/api/v1/containers/{TRIP}", headers={"Authorization": f"Bearer {admin}"}).status_code == 200
    # one checkout per request (the audit writer's own are its thread's)
    assert len([t for t in checkouts if t != "corridor-audit"]) == 4, checkouts
    assert c.get(f"/api/v1/containers/{BOX}").json()["detail"] == "missing Authorization: Bearer <API key>"
    bad = c.get(f"/api/v1/containers/{BOX}", headers={"Authorization": "Bearer cor_nope_nope"})
    assert bad.status_code == 401
    assert audit.flush(loaded_store)
    with loaded_store.read() as conn:
        rows = conn.execute(select(audit_log).where(audit_log.c.id > before).order_by(audit_log.c.id)).all()
    # the administrator's reads of ACME's box are logged with its owners; ACME's own and OTHER's refused one are not
    assert [(r.party_id, r.target, r.detail) for r in rows] == [
        ("ADM", f"/api/v1/containers/{BOX}", {"owners": ["ACME"]}),
        ("ADM", f"/api/v1/containers/{TRIP}", {"owners": ["ACME"]})]


def test_the_vehicles_first_report_takes_over_the_milestone_the_eta_made_without_it(loaded_store):
    # Corridor's ETA estimates the discharge at Aktau without a vehicle; the train's discharge
    # report then names it: one milestone with both times (no estimate left dangling beside the
    # actual), stored as built, and a second vehicle's report there is a milestone of its own
    party(loaded_store, "ACME", Role.SHIPPER)
    with loaded_store.read() as conn:
        admin = viewer_for(conn, ADMIN)
    t0 = datetime(2025, 3, 1, 6, tzinfo=timezone.utc)
    h = timedelta(hours=1)
    batches = [[_event("GTIN", t0, "KZDOS"), _event("LOAD", t0 + 5 * h, "KZDOS", voyage="T100")],
               [_event("DISC", t0 + 80 * h, "KZAAU", cls=Classifier.EST, source="CORRIDOR")],
               [_event("DISC", t0 + 76 * h, "KZAAU", voyage="T100"),
                _event("DISC", t0 + 77 * h, "KZAAU", cls=Classifier.EST, source="CORRIDOR")],
               [_event("DISC", t0 + 99 * h, "KZAAU", voyage="T200")]]
    for n, batch in enumerate(batches, 1):
        _append(loaded_store, batch)
        stored, built, used = _answers(loaded_store, admin)
        assert stored == built and used, n
    discs = [m for m in json.loads(stored)["milestones"] if m["code"] == "DISC"]
    assert [(m["vehicle"], m["estimated"] is not None, m["actual"] is not None) for m in discs] == [
        ("T100", True, True), ("T200", False, True)]
    assert datetime.fromisoformat(discs[0]["estimated"]) == t0 + 77 * h
    assert datetime.fromisoformat(discs[0]["actual"]) == t0 + 76 * h
    # and a timeline built from the events alone says the same
    with loaded_store.read() as conn:
        facts = repo.event_facts(conn, [TRIP])[TRIP]
        places = timeline._places(conn)
    assert [(m["vehicle"], m["estimated"] is not None) for m in timeline.milestones(facts, places)
            if m["code"] == "DISC"] == [("T100", True), ("T200", False)]
