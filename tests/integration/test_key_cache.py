"""Kept keys and queued read audits, on both stores: a revocation, a party change or an expiry is
seen at once (in this process and from another one), and every audited read is stored."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select, update

from corridor.access import audit, keycache, keys
from corridor.api.app import create_app
from corridor.domain.parties import ADMIN_PARTY, Party, Role
from corridor.settings import Settings
from corridor.store import Store
from corridor.store import parties as ps
from corridor.store.tables import api_keys, audit_log

from test_access_matrix import BOX_A, ROLES, build_world

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def app_keys(store):
    with store.tx() as conn:
        ps.upsert_party(conn, Party(ADMIN_PARTY, "Corridor", frozenset({Role.ADMIN})))
        ps.upsert_party(conn, Party("ACME", "Acme", frozenset({Role.SHIPPER})))
        admin = keys.create_key(conn, ADMIN_PARTY, scopes=("read", "write", "admin"))
        acme = keys.create_key(conn, "ACME")
    app = create_app(Settings(database_url=store.url, rate_limit_per_minute=10**6), store=store)
    return TestClient(app), {"admin": admin, "acme": acme}


def _h(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


class KeyReads:
    """Counts the statements that read `api_keys` on an engine: zero means the key came from the cache."""

    def __init__(self, engine):
        self.n = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn, _cursor, statement, *_a):
        if "api_keys" in statement:
            self.n += 1


def _me(client, key: str):
    return client.get("/api/v1/me", headers=_h(key))


def test_a_verified_key_is_kept_and_a_revocation_here_is_seen_at_once(store, app_keys):
    client, k = app_keys
    reads = KeyReads(store.engine)
    assert _me(client, k["acme"]).status_code == 200
    first = reads.n
    assert first >= 1
    for _ in range(5):
        assert _me(client, k["acme"]).status_code == 200
    assert reads.n == first, "a kept key was read again"

    assert client.delete(f"/api/v1/keys/{keys.split(k['acme'])[0]}", headers=_h(k["admin"])).status_code == 204
    r = _me(client, k["acme"])
    assert r.status_code == 401 and "revoked" in r.json()["detail"]


def test_a_revocation_by_another_process_is_seen_on_the_next_request(store, app_keys):
    client, k = app_keys
    assert _me(client, k["acme"]).status_code == 200   # kept now
    key_id = keys.split(k["acme"])[0]
    cli = [sys.executable, "-c", "from corridor.cli import main; main()"]
    done = subprocess.run([*cli, "key", "revoke", key_id, "--json"],
                          env={**os.environ, "CORRIDOR_DATABASE_URL": store.url,
                               "PYTHONPATH": str(ROOT / "src")}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    r = _me(client, k["acme"])
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    assert _me(client, k["admin"]).status_code == 200   # other keys still work


def test_a_party_change_elsewhere_is_seen_on_the_next_request(store, app_keys):
    client, k = app_keys
    assert _me(client, k["acme"]).json()["party"]["name"] == "Acme"
    other = Store(store.url)   # another engine: its writes do not touch this process's kept keys
    try:
        with other.tx() as conn:
            ps.upsert_party(conn, Party("ACME", "Acme Renamed", frozenset({Role.SHIPPER, Role.FORWARDER})))
    finally:
        other.dispose()
    body = _me(client, k["acme"]).json()["party"]
    assert body["name"] == "Acme Renamed" and body["roles"] == ["forwarder", "shipper"]


def test_a_change_behind_the_codes_back_is_seen_within_the_ttl(store, app_keys, monkeypatch):
    monkeypatch.setenv("CORRIDOR_KEY_CACHE_SECONDS", "0.5")
    client, k = app_keys
    assert _me(client, k["acme"]).status_code == 200
    with store.tx() as conn:   # plain SQL: no generation renewed
        conn.execute(update(api_keys).where(api_keys.c.id == keys.split(k["acme"])[0])
                     .values(revoked_at=datetime.now(timezone.utc)))
    assert _me(client, k["acme"]).status_code == 200   # kept: nothing told this process
    time.sleep(0.6)
    r = _me(client, k["acme"])
    assert r.status_code == 401 and "revoked" in r.json()["detail"]


def test_the_cache_can_be_turned_off(store, app_keys, monkeypatch):
    monkeypatch.setenv("CORRIDOR_KEY_CACHE_SECONDS", "0")
    client, k = app_keys
    reads = KeyReads(store.engine)
    for _ in range(3):
        assert _me(client, k["acme"]).status_code == 200
    assert reads.n == 3


def test_an_expired_key_is_refused_even_when_kept(store, app_keys):
    client, k = app_keys
    with store.tx() as conn:
        short = keys.create_key(conn, "ACME", expires_at=datetime.now(timezone.utc) + timedelta(hours=1))
    assert _me(client, short).status_code == 200   # kept now
    reads = KeyReads(store.engine)
    with store.read() as conn:
        info, party = keycache.verified(conn, short)   # a hit: no read of api_keys
        assert reads.n == 0 and party.id == "ACME"
        with pytest.raises(keys.KeyRejected, match="expired"):
            keycache.verified(conn, short, now=datetime.now(timezone.utc) + timedelta(hours=2))
        assert reads.n == 0, "expiry must be decided on the kept copy, against the clock"


def test_the_key_is_kept_under_a_hash_never_in_clear(store, app_keys):
    client, k = app_keys
    assert _me(client, k["acme"]).status_code == 200
    kept = keycache._caches[store.engine]
    secret = keys.split(k["acme"])[1]
    assert kept and all(isinstance(d, bytes) and len(d) == 32 for d in kept)
    assert not any(k["acme"] in repr(v) or secret in repr(v) for v in kept.values())


# --- reads of others' data: queued, all stored ---------------------------------------------------

def _reads(store) -> list[tuple[str, str]]:
    with store.read() as conn:
        return [(r.party_id, r.target) for r in conn.execute(
            select(audit_log.c.party_id, audit_log.c.target).where(audit_log.c.action.like("READ %"))).all()]


def test_every_read_of_others_data_is_stored_and_none_of_own(loaded_store, monkeypatch):
    monkeypatch.setattr(audit, "BATCH_SECONDS", 60.0)   # rows stay queued until something flushes
    w = build_world(loaded_store)
    c, box = w.client, f"/api/v1/containers/{BOX_A}"
    before = len(_reads(loaded_store))
    for _ in range(40):
        assert c.get(box, headers=w.h("admin")).status_code == 200
        assert c.get(box, headers=w.h("shipper")).status_code == 200          # its own box
    for _ in range(10):
        assert c.get(box, headers=w.h("authority_kz")).status_code == 200
        assert c.get(box, headers=w.h("other_shipper")).status_code == 404    # sees nothing
        assert c.get("/v2/events", headers=w.h("admin")).status_code == 200
    assert len(_reads(loaded_store)) == before, "reads were written on the request path"

    # the audit endpoint stores the queue first: every read is there
    listed = c.get("/api/v1/audit", params={"limit": 1000}, headers=w.h("admin")).json()
    got = [(a["party_id"], a["target"]) for a in listed if a["action"].startswith("READ ")]
    assert got.count((ROLES["admin"], box)) == 40
    assert got.count((ROLES["authority_kz"], box)) == 10
    assert got.count((ROLES["admin"], "/v2/events")) == 10
    assert not [p for p, _ in got if p in (ROLES["shipper"], ROLES["other_shipper"])]
    assert len(_reads(loaded_store)) - before == 60


def test_shutdown_stores_the_queued_reads(loaded_store, monkeypatch):
    monkeypatch.setattr(audit, "BATCH_SECONDS", 60.0)
    w = build_world(loaded_store)
    before = len(_reads(loaded_store))
    with TestClient(w.client.app) as c:   # runs the app's lifespan
        for _ in range(25):
            assert c.get(f"/api/v1/containers/{BOX_A}", headers=w.h("admin")).status_code == 200
        assert len(_reads(loaded_store)) == before
    assert len(_reads(loaded_store)) - before == 25


CHILD = """
import sys
from fastapi.testclient import TestClient
from corridor.access import audit
from corridor.api.app import create_app
from corridor.settings import Settings
from corridor.store import Store
audit.BATCH_SECONDS = 600.0
url, key = sys.argv[1], sys.argv[2]
client = TestClient(create_app(Settings(database_url=url), store=Store(url)))   # no lifespan run
for _ in range(7):
    assert client.get("/v2/events", headers={"Authorization": "Bearer " + key}).status_code == 200
"""


def test_a_process_that_ends_without_shutdown_still_stores_its_reads(store):
    with store.tx() as conn:
        ps.upsert_party(conn, Party(ADMIN_PARTY, "Corridor", frozenset({Role.ADMIN})))
        key = keys.create_key(conn, ADMIN_PARTY, scopes=("read", "admin"))
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(CHILD), store.url, key],
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    with store.read() as conn:
        n = conn.execute(select(func.count()).select_from(audit_log)
                         .where(audit_log.c.action == "READ /v2/events")).scalar_one()
    assert n == 7
