"""Ingest over HTTP on both stores: messages, DCSA events, positions, quarantine, aliases, rights."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from corridor.access.keys import create_key
from corridor.api import ingest as api_ingest
from corridor.api.app import create_app
from corridor.domain.parties import ADMIN_PARTY, Party, Role
from corridor.settings import Settings
from corridor.store.parties import upsert_party

from test_ingest import dcsa_event, gate_in


def ingest_client(store, parties, *, raise_server_exceptions: bool = True, **settings) -> TestClient:
    """A client of the ingest API over `store`: `parties` saved with a read/write key each, the
    administrator with an admin key (`client.keys[party id]` / `["admin"]`: the auth header);
    `settings` as `Settings` takes them."""
    with store.tx() as conn:
        upsert_party(conn, Party(ADMIN_PARTY, "Corridor", frozenset({Role.ADMIN})))
        for p in parties:
            upsert_party(conn, p)
        keys = {p.id: create_key(conn, p.id, scopes=("read", "write")) for p in parties}
        keys["admin"] = create_key(conn, ADMIN_PARTY, scopes=("read", "write", "admin"))
    app = create_app(Settings(database_url=store.url, nats_url=None, **settings), store=store)
    if not any(getattr(r, "path", "") == "/api/v1/messages" for r in app.routes):
        app.include_router(api_ingest.router)
    client = TestClient(app, raise_server_exceptions=raise_server_exceptions)
    client.keys = {p: {"Authorization": f"Bearer {k}"} for p, k in keys.items()}
    client.store = store
    return client


@pytest.fixture
def api(loaded_store):
    return ingest_client(loaded_store, [
        Party("PORTAKTAU", "Aktau Sea Port", frozenset({Role.TERMINAL}), "KZ", facilities=frozenset({"KZ_AKX"})),
        Party("ACME", "Acme Trading", frozenset({Role.SHIPPER}))])


def test_post_edifact_then_again(api):
    r = api.post("/api/v1/messages?filename=gate.edi", content=gate_in(place="KZAAU"), headers=api.keys["PORTAKTAU"])
    assert r.status_code == 200, r.text
    doc = r.json()
    assert (doc["format"], doc["stored"], doc["source_party"]) == ("edifact", 1, "PORTAKTAU")
    again = api.post("/api/v1/messages", content=gate_in(place="KZAAU"), headers=api.keys["PORTAKTAU"]).json()
    assert (again["stored"], again["duplicates"], again["message_id"]) == (0, 1, doc["message_id"])


def test_operator_event_outside_its_facilities_is_quarantined_with_the_reason(api):
    body = json.dumps([dcsa_event("2026-03-02T08:10:00+05:00"),
                       dcsa_event("2026-03-06T08:10:00+04:00", place="AZALA", code="GTOT")])
    doc = api.post("/api/v1/events", content=body, headers=api.keys["PORTAKTAU"]).json()
    assert (doc["stored"], doc["quarantined"]) == (1, 1)
    q = api.get("/api/v1/quarantine", headers=api.keys["PORTAKTAU"]).json()["entries"]
    assert len(q) == 1 and "only for its own facilities" in q[0]["reason"]
    # another party does not see it; the administrator does
    assert api.get("/api/v1/quarantine", headers=api.keys["ACME"]).json()["entries"] == []
    assert api.get(f"/api/v1/quarantine/{q[0]['id']}", headers=api.keys["ACME"]).status_code == 404
    shown = api.get(f"/api/v1/quarantine/{q[0]['id']}", headers=api.keys["admin"]).json()
    assert shown["message"]["content"] == body
    # the operator's own replay does not get round its rights
    r = api.post(f"/api/v1/quarantine/{q[0]['id']}/replay", headers=api.keys["PORTAKTAU"]).json()
    assert (r["stored"], r["duplicates"], r["quarantined"]) == (0, 1, 1)


def test_unknown_code_alias_and_replay_over_http(api):
    doc = api.post("/api/v1/messages", content=gate_in(sender="KZAKTAU01", place="KZAAU"),
                   headers=api.keys["admin"]).json()
    assert doc["quarantined"] == 1 and "KZAKTAU01" in doc["reasons"][0]
    assert api.post("/api/v1/aliases", json={"kind": "party", "value": "KZAKTAU01", "target": "PORTAKTAU"},
                    headers=api.keys["PORTAKTAU"]).status_code == 403
    r = api.post("/api/v1/aliases", json={"kind": "party", "value": "KZAKTAU01", "target": "PORTAKTAU",
                                          "note": "Aktau port EDI id"}, headers=api.keys["admin"])
    assert r.status_code == 201 and r.json()["target"] == "PORTAKTAU"
    assert api.post("/api/v1/aliases", json={"kind": "party", "value": "X", "target": "NOBODY"},
                    headers=api.keys["admin"]).headers["content-type"].startswith("application/problem+json")
    (entry,) = api.get("/api/v1/quarantine", headers=api.keys["admin"]).json()["entries"]
    r = api.post(f"/api/v1/quarantine/{entry['id']}/replay", headers=api.keys["admin"]).json()
    assert (r["stored"], r["quarantined"], r["source_party"]) == (1, 0, "PORTAKTAU")
    aliases = api.get("/api/v1/aliases?kind=party", headers=api.keys["ACME"]).json()["aliases"]
    assert {"kind": "party", "value": "kzaktau01", "target": "PORTAKTAU", "note": "Aktau port EDI id"} in aliases


def test_positions_over_http_are_stored_once(api):
    fix = {"time": "2026-03-04T12:00:00+05:00", "lat": 43.61, "lon": 51.2, "device": "trk-77",
           "container": "MSKU1234565"}
    doc = api.post("/api/v1/positions", json=[fix, {**fix, "time": "2026-03-04T12:05:00+05:00"}],
                   headers=api.keys["ACME"]).json()
    assert (doc["format"], doc["stored"], doc["source_party"]) == ("position-json", 2, "ACME")
    doc = api.post("/api/v1/positions", json=fix, headers=api.keys["ACME"]).json()
    assert (doc["stored"], doc["duplicates"]) == (0, 1)
    bad = api.post("/api/v1/positions", json={**fix, "lat": 123}, headers=api.keys["ACME"]).json()
    assert bad["quarantined"] == 1 and "lat" in bad["reasons"][0]


def test_requests_without_a_writer_key_are_refused(api, loaded_store):
    assert api.post("/api/v1/messages", content=b"x").status_code == 401
    assert api.post("/api/v1/messages", content=b"  ", headers=api.keys["ACME"]).status_code == 400
    assert api.post("/api/v1/messages?party=ACME", content=b"x", headers=api.keys["PORTAKTAU"]).status_code == 403


def test_an_alias_that_already_means_something_else_is_refused_over_http(api):
    admin = api.keys["admin"]
    # a place's own code (Xi'an's) may never be made to mean Poti: ingest would move Xi'an's reports
    r = api.post("/api/v1/aliases", json={"kind": "location", "value": "CNXIA", "target": "GEPTI"}, headers=admin)
    assert r.status_code == 409 and r.json()["replaceable"] is False
    r = api.post("/api/v1/aliases", json={"kind": "location", "value": "CNXIA", "target": "GEPTI", "replace": True},
                 headers=admin)
    assert r.status_code == 409
    # a registry entry may be re-pointed, when asked to
    assert api.post("/api/v1/aliases", json={"kind": "location", "value": "PORT-9", "target": "KZAAU"},
                    headers=admin).status_code == 201
    r = api.post("/api/v1/aliases", json={"kind": "location", "value": "PORT-9", "target": "AZALA"}, headers=admin)
    assert r.status_code == 409 and r.json()["replaceable"] is True
    assert api.post("/api/v1/aliases", json={"kind": "location", "value": "PORT-9", "target": "AZALA",
                                             "replace": True}, headers=admin).status_code == 201
