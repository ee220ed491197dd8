"""Kept timelines (tracking.timeline keeps built timelines per process): a change is seen at once,
each viewer still sees only what it may, and a kept answer equals one built from scratch — on
both stores."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from corridor.access.visibility import viewer_for
from corridor.domain.events import Classifier
from corridor.domain.parties import Party, Role
from corridor.store import ingest as ingest_store
from corridor.store.parties import get_party
from corridor.tracking import status, timeline

from tracking_helpers import app_for, box_event, ingest, party

BOX, OTHER = "MSCU1234566", "TGHU1234567"


def _fresh(conn, ref, v):
    """The same answer built from scratch: nothing kept."""
    timeline.forget(conn)
    return timeline.container_timeline(conn, ref, v)


def test_a_new_event_an_eta_and_a_trip_change_are_seen_at_once(loaded_store):
    admin = Party("ADM", "admin", frozenset({Role.ADMIN}))
    party(loaded_store, "ACME", Role.SHIPPER)
    t0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=3)
    ingest(loaded_store, [box_event("GTIN", t0, "KZDOS", box=BOX, bkg="B1")], "ACME")
    with loaded_store.read() as conn:
        v = viewer_for(conn, admin)
        first = timeline.container_timeline(conn, BOX, v)
        body = timeline.container_json(conn, BOX, v)
        assert timeline.container_json(conn, BOX, v) is body               # kept: nothing built again
        assert [m["code"] for m in first["milestones"]] == ["GTIN"] and json.loads(body) == first
        first["milestones"].clear()                                          # a caller's copy is its own
        assert timeline.container_timeline(conn, BOX, v) == json.loads(body)
    # a new event
    ingest(loaded_store, [box_event("LOAD", t0 + timedelta(hours=5), "KZDOS", box=BOX, bkg="B1", voyage="T100")],
           "ACME")
    with loaded_store.read() as conn:
        after = timeline.container_timeline(conn, BOX, v)
        assert timeline.container_json(conn, BOX, v) != body
        assert {m["code"] for m in after["milestones"]} >= {"GTIN", "LOAD"}
        assert after["status"]["state"] == "on_rail"
        assert after == _fresh(conn, BOX, v)
    # a new ETA on the status row, without any event
    eta = t0 + timedelta(days=9)
    with loaded_store.tx() as conn:
        status.set_eta(conn, timeline.latest_trip(conn, BOX, v), eta, eta - timedelta(hours=6),
                       eta + timedelta(hours=6))
    with loaded_store.read() as conn:
        tl = timeline.container_timeline(conn, BOX, v)
        assert datetime.fromisoformat(tl["eta"]["eta"]) == eta
        assert tl == _fresh(conn, BOX, v)
    # the trip itself (its end), without any event or ETA
    with loaded_store.tx() as conn:
        ingest_store.end_trip(conn, tl["trip_id"], t0 + timedelta(days=10))
    with loaded_store.read() as conn:
        ended = timeline.container_timeline(conn, BOX, v)
        assert ended["ends_at"] is not None and ended == _fresh(conn, BOX, v)
    # the API answers the same document, made once
    c = app_for(loaded_store)
    key = party(loaded_store, "ADM", Role.ADMIN)
    body = c.get(f"/api/v1/containers/{BOX}", headers={"Authorization": f"Bearer {key}"})
    assert body.status_code == 200 and body.headers["content-type"] == "application/json"
    assert body.json() == json.loads(json.dumps(ended))


def test_each_viewer_sees_only_its_part_after_the_administrator_read_it(loaded_store):
    party(loaded_store, "ACME", Role.SHIPPER)
    party(loaded_store, "OTHER", Role.SHIPPER)
    party(loaded_store, "KTZ", Role.RAILWAY, facilities=frozenset({"KZDOS"}))
    t0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=3)
    ingest(loaded_store, [box_event("GTIN", t0, "KZDOS", box=BOX, bkg="B1"),
                          box_event("LOAD", t0 + timedelta(hours=5), "KZDOS", box=BOX, bkg="B1", voyage="T100"),
                          box_event("DISC", t0 + timedelta(days=4), "KZAAU", box=BOX, bkg="B1", voyage="T100",
                                    cls=Classifier.EST)], "ACME")
    ingest(loaded_store, [box_event("GTIN", t0, "KZDOS", box=OTHER, bkg="B2")], "OTHER")
    with loaded_store.read() as conn:
        admin = viewer_for(conn, Party("ADM", "admin", frozenset({Role.ADMIN})))
        acme, other, ktz = (viewer_for(conn, get_party(conn, p)) for p in ("ACME", "OTHER", "KTZ"))
        whole = timeline.container_timeline(conn, BOX, admin)              # kept now
        kept = timeline.container_json(conn, BOX, admin)
        assert timeline.container_json(conn, BOX, acme) is kept            # the trip's party sees all of it
        assert timeline.container_timeline(conn, BOX, other) is None       # not its trip
        assert timeline.container_status(conn, BOX, other) is None
        assert timeline.booking_timeline(conn, "B1", other) is None
        part = timeline.container_timeline(conn, BOX, ktz)                 # the railway: its station only
        assert part is not None and part != whole and json.loads(timeline.container_json(conn, BOX, ktz)) == part
        assert {m["location"] for m in part["milestones"]} == {"KZDOS"}
        assert {m["location"] for m in whole["milestones"]} == {"KZDOS", "KZAAU"}
        assert part == _fresh(conn, BOX, ktz)
        st = timeline.container_status(conn, BOX, acme)
        assert (st.trip, st.state, st.vehicle) == (whole["trip_id"], "on_rail", "T100")
        assert timeline.latest_trip(conn, whole["trip_id"], acme) == whole["trip_id"]   # by trip id too
        assert timeline.booking_timeline(conn, "B1", acme)["containers"] == [whole]
