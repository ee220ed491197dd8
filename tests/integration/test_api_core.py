"""The server skeleton on both stores: health, auth, problem+json, network, parties and keys."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from corridor.access import keys
from corridor.api.app import create_app
from corridor.bootstrap import ensure_admin
from corridor.domain.parties import Party, Role
from corridor.settings import Settings
from corridor.store import parties as ps


@pytest.fixture
def client_and_keys(loaded_store):
    _, _ = ensure_admin(loaded_store, "cor_admintest_" + "a" * 24)
    with loaded_store.tx() as conn:
        ps.upsert_party(conn, Party("ACME", "Acme", frozenset({Role.SHIPPER})))
        shipper = keys.create_key(conn, "ACME")
        expired = keys.create_key(conn, "ACME", expires_at=datetime.now(timezone.utc) - timedelta(minutes=1))
        revoked = keys.create_key(conn, "ACME")
        keys.revoke(conn, keys.split(revoked)[0])
    app = create_app(Settings(database_url=loaded_store.url), store=loaded_store)
    return TestClient(app), {"admin": "cor_admintest_" + "a" * 24, "shipper": shipper,
                             "expired": expired, "revoked": revoked}


def _h(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def test_health_needs_no_key(client_and_keys):
    client, _ = client_and_keys
    r = client.get("/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"


@pytest.mark.parametrize("which, reason", [(None, "missing"), ("expired", "expired"), ("revoked", "revoked"),
                                           ("bogus", "unknown")])
def test_bad_keys_are_refused_with_the_reason(client_and_keys, which, reason):
    client, k = client_and_keys
    headers = {} if which is None else _h(k.get(which, "cor_nosuchkey_" + "b" * 24))
    r = client.get("/api/v1/network", headers=headers)
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert reason in r.json()["detail"]


def test_network_has_the_stable_shape(client_and_keys):
    client, k = client_and_keys
    r = client.get("/api/v1/network", headers=_h(k["shipper"]))
    assert r.status_code == 200
    body = r.json()
    assert len(body["locations"]) >= 30
    loc = next(l for l in body["locations"] if l["code"] == "KZAAU")
    assert {"code", "name", "country", "timezone", "kind", "lat", "lon"} <= set(loc)
    assert loc["country"] == "KZ"
    assert {l["country"] for l in body["locations"]} >= {"CN", "KZ", "TM", "AZ", "GE", "TR"}
    assert body["links"] and {"from", "to", "mode"} <= set(body["links"][0])


def test_only_the_administrator_manages_keys_and_it_is_audited(client_and_keys):
    client, k = client_and_keys
    assert client.get("/api/v1/keys", headers=_h(k["shipper"])).status_code == 403
    r = client.post("/api/v1/keys", headers=_h(k["admin"]), json={"party_id": "ACME", "label": "erp"})
    assert r.status_code == 201
    new = r.json()["key"]
    assert client.get("/api/v1/me", headers=_h(new)).json()["party"]["id"] == "ACME"
    listed = client.get("/api/v1/keys", headers=_h(k["admin"])).json()
    assert new not in str(listed) and r.json()["id"] in str(listed)
    audit = client.get("/api/v1/audit", headers=_h(k["admin"])).json()
    assert any(a["action"] == "POST /api/v1/keys" for a in audit)
    assert new not in str(audit)


def test_rate_limit_answers_429_with_retry_after(loaded_store):
    ensure_admin(loaded_store, "cor_admintest_" + "a" * 24)
    app = create_app(Settings(database_url=loaded_store.url, rate_limit_per_minute=3), store=loaded_store)
    client = TestClient(app)
    codes = [client.get("/api/v1/me", headers=_h("cor_admintest_" + "a" * 24)).status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[3] == 429


def test_oversized_bodies_are_refused(loaded_store):
    app = create_app(Settings(database_url=loaded_store.url, max_body_bytes=100), store=loaded_store)
    r = TestClient(app).post("/api/v1/parties", content=b"x" * 500, headers={"content-type": "application/json"})
    assert r.status_code == 413
