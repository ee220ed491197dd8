"""Trip status, timetable-aware ETA, timelines, search and the DCSA /v2 API on both stores."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import yaml

from corridor.domain.events import Classifier
from corridor.domain.parties import Role
from corridor.store.tables import events, trip_status
from sqlalchemy import select

from tracking_helpers import app_for, box_event, ingest, party

BOX, OTHER = "MSCU1234566", "TGHU1234567"
SPEC = __import__("pathlib").Path(__file__).resolve().parents[2].parent / "shared" / "standards" / "dcsa-tnt" / "TNT_v2.2.0-resolved.yaml"


def _journey(store, t0):
    ingest(store, [box_event("GTIN", t0, "KZDOS", box=BOX, bkg="B1", bol="BL77"),
                   box_event("LOAD", t0 + timedelta(hours=5), "KZDOS", box=BOX, bkg="B1", voyage="T100"),
                   box_event("DISC", t0 + timedelta(days=4), "KZAAU", box=BOX, bkg="B1", voyage="T100",
                             cls=Classifier.EST)], "ACME")
    ingest(store, [box_event("GTIN", t0, "KZDOS", box=OTHER, bkg="B2")], "OTHER")


def test_status_eta_and_est_are_kept_incrementally(loaded_store):
    party(loaded_store, "ACME", Role.SHIPPER)
    party(loaded_store, "OTHER", Role.SHIPPER)
    t0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=3)
    _journey(loaded_store, t0)
    with loaded_store.read() as conn:
        st = conn.execute(select(trip_status).where(trip_status.c.equipment == BOX)).one()
        est = conn.execute(select(events).where(events.c.source_party == "CORRIDOR", events.c.classifier == "EST",
                                                events.c.equipment == BOX)).all()
    assert (st.state, st.location, st.vehicle) == ("on_rail", "KZDOS", "T100")
    assert st.since == t0 + timedelta(hours=5)
    # laid on a real Dostyk -> Aktau departure after the load: after it, within the range
    assert st.eta is not None and st.eta_low <= st.eta <= st.eta_high and st.eta > st.since
    assert len(est) == 1 and est[0].event_time == st.eta and est[0].location == "KZAAU"


def test_timeline_search_and_dcsa_events(loaded_store):
    admin = party(loaded_store, "ADM", Role.ADMIN)
    acme = party(loaded_store, "ACME", Role.SHIPPER)
    party(loaded_store, "OTHER", Role.SHIPPER)
    _journey(loaded_store, datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=3))
    c = app_for(loaded_store)
    h = {"Authorization": f"Bearer {admin}"}
    tl = c.get(f"/api/v1/containers/{BOX}", headers=h).json()
    assert tl["status"]["state"] == "on_rail" and tl["eta"]["low"] <= tl["eta"]["eta"] <= tl["eta"]["high"]
    codes = {(m["code"], m["location"]) for m in tl["milestones"]}
    assert {("GTIN", "KZDOS"), ("LOAD", "KZDOS"), ("DISC", "KZAAU")} <= codes
    disc = next(m for m in tl["milestones"] if m["code"] == "DISC")
    assert disc["estimated"] and disc["estimated_range"]           # Corridor's EST superseded the sender's
    assert c.get("/api/v1/search?q=BL77", headers=h).json()["results"][0]["type"] == "bill_of_lading"
    assert c.get("/api/v1/search?q=T100", headers=h).json()["results"][0]["type"] == "train"
    assert c.get("/api/v1/bookings/B1/timeline", headers=h).json()["containers"][0]["equipment"] == BOX
    # DCSA: visibility, filters, paging
    mine = c.get("/v2/events", headers={"Authorization": f"Bearer {acme}"}).json()
    assert mine and all(e.get("equipmentReference") != OTHER for e in mine)
    r = c.get("/v2/events?equipmentEventTypeCode=LOAD,GTIN&limit=1", headers=h)
    assert r.status_code == 200 and len(r.json()) == 1 and "Next-Page" in r.headers
    r2 = c.get(r.headers["Next-Page"], headers=h)
    assert r2.json()[0]["eventID"] != r.json()[0]["eventID"] and "Prev-Page" in r2.headers
    assert c.get(r2.headers["Prev-Page"], headers=h).json() == r.json()
    one = c.get(f"/v2/events/{r.json()[0]['eventID']}", headers=h)
    assert one.status_code == 200 and one.json() == r.json()[0]
    since = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
    assert c.get("/v2/events", params={"eventCreatedDateTime:gte": since}, headers=h).json()
    assert c.get("/v2/events", params={"eventCreatedDateTime:gt": "2999-01-01T00:00:00Z"}, headers=h).json() == []
    for bad in ("eventType=ALERT", "limit=0", "UNLocationCode=kz1", "eventCreatedDateTime:after=x",
                "equipmentReference:gte=X", "nope=1", "cursor=garbage",
                "eventCreatedDateTime=2024-01-01T00:00:00"):
        r = c.get(f"/v2/events?{bad}", headers=h)
        assert r.status_code == 400, bad
        assert r.json()["errors"][0]["message"], bad


def test_responses_validate_against_the_dcsa_22_spec(loaded_store):
    jsonschema = pytest.importorskip("jsonschema")
    if not SPEC.exists():
        pytest.skip(f"DCSA spec not found at {SPEC}")
    spec = yaml.safe_load(SPEC.read_text())
    admin = party(loaded_store, "ADM", Role.ADMIN)
    party(loaded_store, "ACME", Role.SHIPPER)
    party(loaded_store, "OTHER", Role.SHIPPER)
    _journey(loaded_store, datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=3))
    c = app_for(loaded_store)
    h = {"Authorization": f"Bearer {admin}"}

    def check(schema, doc):
        jsonschema.validate(doc, {**schema, "components": spec["components"]})

    paths = spec["paths"]
    body = c.get("/v2/events", headers=h).json()
    assert len(body) >= 4
    check(paths["/v2/events"]["get"]["responses"]["200"]["content"]["application/json"]["schema"], body)
    err = c.get("/v2/events?limit=0", headers=h).json()
    check({"$ref": "#/components/schemas/error"}, err)
    sub = c.post("/v2/event-subscriptions", headers=h, json={
        "callbackUrl": "http://127.0.0.1:9/cb", "secret": "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI=",
        "eventType": ["EQUIPMENT"], "equipmentReference": BOX})
    assert sub.status_code == 201 and "secret" not in sub.json()
    check({"$ref": "#/components/schemas/subscription"}, sub.json())
    sid = sub.json()["subscriptionID"]
    lst = c.get("/v2/event-subscriptions", headers=h)
    assert lst.headers["Current-Page"] and [s["subscriptionID"] for s in lst.json()] == [sid]
    put = c.put(f"/v2/event-subscriptions/{sid}", headers=h, json={"callbackUrl": "http://127.0.0.1:9/x"})
    assert put.json()["callbackUrl"].endswith("/x")
    assert c.put(f"/v2/event-subscriptions/{sid}/secret", headers=h, json={"secret": "c2hvcnQ="}).status_code == 400
    assert c.delete(f"/v2/event-subscriptions/{sid}", headers=h).status_code == 204
    assert c.get(f"/v2/event-subscriptions/{sid}", headers=h).status_code == 404


def test_a_shipper_sees_its_container_and_not_the_other(loaded_store):
    acme = party(loaded_store, "ACME", Role.SHIPPER)
    party(loaded_store, "OTHER", Role.SHIPPER)
    _journey(loaded_store, datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=3))
    c = app_for(loaded_store)
    h = {"Authorization": f"Bearer {acme}"}
    assert c.get(f"/api/v1/containers/{OTHER}", headers=h).status_code == 404
    assert c.get(f"/api/v1/containers/{BOX}", headers=h).status_code == 200


def test_latest_positions_for_the_live_map(loaded_store):
    admin = party(loaded_store, "ADM", Role.ADMIN)
    acme = party(loaded_store, "ACME", Role.SHIPPER)
    party(loaded_store, "OTHER", Role.SHIPPER)
    _journey(loaded_store, datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=3))
    c = app_for(loaded_store)
    every = c.get("/api/v1/positions/latest", headers={"Authorization": f"Bearer {admin}"}).json()
    assert {t["equipment"] for t in every["trips"]} == {BOX, OTHER}
    mine = c.get("/api/v1/positions/latest", headers={"Authorization": f"Bearer {acme}"}).json()
    assert [t["equipment"] for t in mine["trips"]] == [BOX]
    box = mine["trips"][0]
    # no GPS yet: placed at the facility it was last at, in that place's local time
    assert box["source"] == "facility" and box["state"] == "on_rail" and box["vehicle"] == "T100"
    assert datetime.fromisoformat(box["at"]).utcoffset() == timedelta(hours=5)   # Kazakhstan, UTC+5
    assert [(v["vehicle"], v["containers"]) for v in mine["vehicles"]] == [("T100", 1)]
