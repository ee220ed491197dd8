"""POST /api/v1/quotes, /api/v1/bookings (+ cancel, amend), GET /api/v1/departures on both stores."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient

from corridor.access.keys import create_key
from corridor.api import bookings as bookings_api
from corridor.api.app import create_app
from corridor.domain.parties import Party, Role
from corridor.store.parties import upsert_party


@pytest.fixture
def api(loaded_store):
    with loaded_store.tx() as conn:
        upsert_party(conn, Party("ACME", "Acme Trading", frozenset({Role.SHIPPER})))
        upsert_party(conn, Party("BETA", "Beta Goods", frozenset({Role.SHIPPER})))
        upsert_party(conn, Party("FWD", "Silk Forwarding", frozenset({Role.FORWARDER})))
        keys = {p: create_key(conn, p) for p in ("ACME", "BETA", "FWD")}
    app = create_app(store=loaded_store)
    if not any(getattr(r, "path", "") == "/api/v1/quotes" for r in app.routes):
        app.include_router(bookings_api.router)   # until app.ROUTERS lists "bookings"
    client = TestClient(app)

    def call(method, path, party="ACME", **kw):
        return client.request(method, path, headers={"Authorization": f"Bearer {keys[party]}"}, **kw)
    return call


# a ready day a week ahead: the timetable starts a month back from today and quotes refuse past days
READY = (date.today() + timedelta(days=7)).isoformat()
REQ = {"origin": "Xi'an", "destination": "TRIST", "ready": READY, "containers": "2x40"}


def test_quote_shape(api):
    r = api("POST", "/api/v1/quotes", json=REQ)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["origin"] == "CNXIA" and doc["teu"] == 4
    opt = doc["options"][0]
    assert {"route", "departure", "arrival", "transit_hours", "transit_days", "price", "co2e_kg", "legs"} <= set(opt)
    assert set(opt["price"]) == {"amount", "currency"}
    assert opt["departure"].endswith("+08:00") and opt["legs"][0]["departure_id"]


def test_a_corridor_without_an_option_says_why(api):
    # the Northern route serves Europe through Brest, never Istanbul: the shipper is told so
    doc = api("POST", "/api/v1/quotes", json=REQ).json()
    offered = {o["corridor"] for o in doc["options"]}
    missing = {n["corridor"]: n["reason"] for n in doc["not_offered"]}
    assert "middle" in offered and set(missing) == {"middle", "northern", "sea"} - offered
    assert missing["northern"] == "the Northern route does not reach TRIST (Istanbul) from CNXIA"


def test_ambiguous_and_bad_input_are_problems(api):
    r = api("POST", "/api/v1/quotes", json={**REQ, "destination": "Baku"})
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json")
    assert any("AZALA" in c for c in r.json()["candidates"])
    r = api("POST", "/api/v1/quotes", json={**REQ, "ready": "2026-13-01"})
    assert r.status_code == 400 and "2026-13-01" in r.json()["detail"]
    r = api("POST", "/api/v1/quotes", json={**REQ, "containers": "0x40"})
    assert r.status_code == 400 and "at least 1" in r.json()["detail"]
    r = api("POST", "/api/v1/quotes", json={**REQ, "origin": "Xyzzy"})
    assert r.status_code == 400 and "Xyzzy" in r.json()["detail"]


def test_book_list_visibility_cancel(api):
    r = api("POST", "/api/v1/bookings", json={**REQ, "option": 1})
    assert r.status_code == 201, r.text
    b = r.json()
    assert b["status"] == "confirmed" and b["shipper"] == "ACME" and b["legs"]
    ref = b["ref"]
    dep = b["legs"][0]["departure_id"]
    deps = api("GET", "/api/v1/departures", params={"from": "Xi'an", "start": f"{READY}T00:00:00+08:00",
                                                     "limit": 50}).json()["departures"]
    row = next(d for d in deps if d["id"] == dep)
    assert row["reserved_teu"] == 4 and row["free_teu"] == row["capacity_teu"] - 4
    assert [x["ref"] for x in api("GET", "/api/v1/bookings").json()["bookings"]] == [ref]
    assert api("GET", "/api/v1/bookings", party="BETA").json()["bookings"] == []
    assert api("GET", f"/api/v1/bookings/{ref}", party="BETA").status_code == 404
    assert api("POST", f"/api/v1/bookings/{ref}/cancel", party="BETA").status_code == 404
    r = api("POST", f"/api/v1/bookings/{ref}/cancel", json={"reason": "order withdrawn"})
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert api("POST", f"/api/v1/bookings/{ref}/cancel").status_code == 409


def test_forwarder_books_for_a_shipper_who_then_sees_it(api):
    r = api("POST", "/api/v1/bookings", party="FWD", json={**REQ, "option": 1, "shipper": "BETA"})
    assert r.status_code == 201, r.text
    assert r.json()["forwarder"] == "FWD"
    ref = r.json()["ref"]
    assert api("GET", f"/api/v1/bookings/{ref}", party="BETA").status_code == 200
    assert api("POST", "/api/v1/bookings", party="ACME", json={**REQ, "option": 1, "shipper": "BETA"}).status_code == 403


def test_full_departure_is_409_with_alternatives(api, loaded_store):
    from corridor.store import network as netstore
    q = api("POST", "/api/v1/quotes", json=REQ).json()["options"][0]
    ferry = next(x for x in q["legs"] if x["mode"] in ("ferry", "feeder"))
    with loaded_store.tx() as conn:
        dep, _ = netstore.get_departure(conn, ferry["departure_id"])
        assert netstore.reserve(conn, dep.id, dep.capacity_teu)
    ids = [x["departure_id"] for x in q["legs"]]
    r = api("POST", "/api/v1/bookings", json={**REQ, "departure_ids": ids})
    assert r.status_code == 409
    p = r.json()
    assert p["departure_id"] == ferry["departure_id"] and p["free_teu"] == 0 and p["alternatives"]
    assert ferry["departure_id"] in p["detail"]


def test_amend_reroutes_through_the_api(api):
    b = api("POST", "/api/v1/bookings", json={**REQ, "option": 1}).json()
    ferry = next(x for x in b["legs"] if x["from"] == "KZAAU" or x["from"] == "KZKUR" or x["from"] == "TMKRW")
    opts = api("GET", f"/api/v1/bookings/{b['ref']}/reroute",
               params={"from": ferry["from"], "avoid": [ferry["departure_id"]]}).json()["options"]
    assert opts and all(ferry["departure_id"] not in [x["departure_id"] for x in o["legs"]] for o in opts)
    r = api("POST", f"/api/v1/bookings/{b['ref']}/amend",
            json={"from": ferry["from"], "option": 1, "avoid": [ferry["departure_id"]], "reason": "missed ferry"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert ferry["departure_id"] in [x["departure_id"] for x in out["history"]]
    assert ferry["departure_id"] not in [x["departure_id"] for x in out["legs"]]
