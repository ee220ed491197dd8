"""API keys on both stores: the rate-limit bucket is the authenticated key's (a forged secret or a
made-up key id draws on the client address, refused without a store read once spent); each scope
allows its endpoint family and nothing else; a new key's expiry and scopes are checked as the CLI
checks them."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from corridor.access import keycache, keys
from corridor.api.app import create_app
from corridor.bootstrap import ADMIN_PARTY
from corridor.domain.parties import Party, Role
from corridor.settings import Settings
from corridor.store import parties as ps
from corridor.tracking.dcsa_out import to_dcsa_22

from tracking_helpers import box_event

KTZ_ADDR, OTHER_ADDR = ("198.51.100.20", 40000), ("203.0.113.66", 40000)


def _h(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def _clients(store, per_minute: int):
    app = create_app(Settings(database_url=store.url, rate_limit_per_minute=per_minute, nats_url=None), store=store)
    return TestClient(app, client=KTZ_ADDR), TestClient(app, client=OTHER_ADDR)


@pytest.fixture
def parties(loaded_store):
    """KTZ (railway), ACME (shipper) and the administrator, with a key of each scope set."""
    with loaded_store.tx() as conn:
        ps.upsert_party(conn, Party(ADMIN_PARTY, "Corridor", frozenset({Role.ADMIN})))
        ps.upsert_party(conn, Party("KTZ", "KTZ Express", frozenset({Role.RAILWAY, Role.TERMINAL}), "KZ",
                                    frozenset({"KZ_DOS"})))
        ps.upsert_party(conn, Party("ACME", "Acme", frozenset({Role.SHIPPER}), "CN"))
        k = {"ktz": keys.create_key(conn, "KTZ"),
             "admin": keys.create_key(conn, ADMIN_PARTY, scopes=("read", "write", "admin")),
             "admin_read": keys.create_key(conn, ADMIN_PARTY, scopes=("read",)),
             "none": keys.create_key(conn, "ACME", scopes=()),
             "read": keys.create_key(conn, "ACME", scopes=("read",)),
             "write": keys.create_key(conn, "ACME", scopes=("write",)),
             "post": keys.create_key(conn, "ACME", scopes=("post",)),
             "rw": keys.create_key(conn, "ACME", scopes=("read", "write"))}
    return k


# --- 1. rate limits ------------------------------------------------------------------------------

def test_a_forged_secret_on_a_known_key_id_never_spends_that_keys_budget(loaded_store, parties):
    attacker, ktz = _clients(loaded_store, per_minute=5)
    forged = f"cor_{keys.split(parties['ktz'])[0]}_forgedsecret0123456789"
    codes = [attacker.get("/v2/events", headers=_h(forged)).status_code for _ in range(12)]
    assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}       # the attacker's address is held back
    # KTZ's real key, from its own address, still has its whole budget
    assert [ktz.get("/v2/events", headers=_h(parties["ktz"])).status_code for _ in range(5)] == [200] * 5
    r = ktz.get("/v2/events", headers=_h(parties["ktz"]))
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1   # and its own limit holds


def test_made_up_key_ids_share_the_address_bucket_and_cost_no_store_read_once_it_is_spent(
        loaded_store, parties, monkeypatch):
    attacker, other = _clients(loaded_store, per_minute=5)
    reads = []
    real_verify = keycache.verify
    monkeypatch.setattr(keycache, "verify", lambda conn, key, now=None: reads.append(key) or real_verify(conn, key, now))
    codes = [attacker.get("/api/v1/network", headers=_h(f"cor_madeup{i:04d}_{'s' * 24}")).status_code
             for i in range(40)]
    assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}
    assert len(reads) == 5                                             # the 35 refused never reached the store
    r = attacker.get("/api/v1/network", headers=_h("cor_madeup9999_" + "s" * 24))
    assert r.headers["content-type"].startswith("application/problem+json") and r.json()["status"] == 429
    # another address is not held back by it
    assert other.get("/api/v1/network", headers=_h("cor_madeup0000_" + "s" * 24)).status_code == 401


def test_a_key_verified_moments_ago_passes_an_address_spent_by_failures(loaded_store, parties):
    """Behind one NAT address: an integration in use keeps working while a neighbour floods."""
    shared, _ = _clients(loaded_store, per_minute=5)
    assert shared.get("/api/v1/me", headers=_h(parties["ktz"])).status_code == 200   # verified: kept a few seconds
    for i in range(8):
        shared.get("/api/v1/me", headers=_h(f"cor_nat{i}_{'x' * 20}"))
    assert shared.get("/api/v1/me", headers=_h("cor_nat99_" + "x" * 20)).status_code == 429
    assert [shared.get("/api/v1/me", headers=_h(parties["ktz"])).status_code for _ in range(3)] == [200] * 3


def test_a_valid_keys_requests_do_not_draw_on_its_address(loaded_store, parties):
    client, _ = _clients(loaded_store, per_minute=4)
    assert [client.get("/api/v1/me", headers=_h(parties["ktz"])).status_code for _ in range(4)] == [200] * 4
    assert client.get("/api/v1/me", headers=_h(parties["ktz"])).status_code == 429
    assert client.get("/signin").status_code == 200                    # the address has its own budget
    assert client.get("/api/v1/me", headers=_h(parties["rw"])).status_code == 200   # and another key its own


def test_a_made_up_key_on_a_page_does_not_lift_the_address_limit(loaded_store, parties):
    client, _ = _clients(loaded_store, per_minute=4)
    codes = [client.get("/signin", headers=_h(f"cor_page{i}_{'p' * 20}")).status_code for i in range(7)]
    assert codes[:4] == [200] * 4 and set(codes[4:]) == {429}
    assert client.get("/signin").status_code == 429


def test_ipv6_clients_are_counted_by_their_64():
    from corridor.access.limits import address_bucket
    assert address_bucket("2001:db8:1:2::1") == address_bucket("2001:db8:1:2:ffff::9") != address_bucket("2001:db8:1:3::1")
    assert address_bucket("::ffff:192.0.2.1") == address_bucket("192.0.2.1") != address_bucket("192.0.2.2")


# --- 2. scopes -----------------------------------------------------------------------------------

READS = ["/v2/events", "/api/v1/network", "/api/v1/bookings", "/api/v1/search?q=MSCU1234566",
         "/api/v1/containers/MSCU1234566", "/api/v1/quarantine", "/api/v1/kpi", "/api/v1/departures",
         "/v2/event-subscriptions", "/api/v1/notices", "/api/v1/positions/latest"]


def _event_body(box: str) -> str:
    t = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=2)
    return json.dumps([to_dcsa_22(box_event("GTIN", t, "KZDOS", box=box, bkg="ACME-OWN-1"), f"scope-{box}", t)])


def _quote() -> dict:
    ready = (datetime.now(timezone.utc) + timedelta(days=2)).strftime("%Y-%m-%d")
    return {"origin": "CNXIA", "destination": "TRIST", "ready": ready, "containers": "1x40"}


@pytest.mark.parametrize("scope", ["none", "write"])
def test_a_key_without_read_reads_nothing(loaded_store, parties, scope):
    client, _ = _clients(loaded_store, per_minute=10**6)
    h = _h(parties[scope])
    for path in READS:
        r = client.get(path, headers=h)
        assert r.status_code == 403 and "'read' scope" in r.text, (path, r.status_code, r.text)
    assert client.post("/api/v1/quotes", headers=h, json=_quote()).status_code == 403
    me = client.get("/api/v1/me", headers=h)                           # a key may always see itself
    assert me.status_code == 200 and me.json()["key"]["scopes"] == ([] if scope == "none" else ["write"])


def test_a_read_key_reads_but_neither_posts_nor_books(loaded_store, parties):
    client, _ = _clients(loaded_store, per_minute=10**6)
    h = _h(parties["read"])
    for path in READS:
        r = client.get(path, headers=h)
        assert r.status_code in (200, 404), (path, r.status_code, r.text)   # 404: no such box visible
    assert client.post("/api/v1/quotes", headers=h, json=_quote()).status_code == 200   # a quote is a read
    for path, kw, scope in _SENDS + _COMMITS:
        r = client.post(path, headers=h, **kw)
        assert r.status_code == 403 and f"'{scope}' scope" in r.text, (path, r.status_code, r.text)


_NOTICE = {"kind": "closure", "location": "KZDOS", "starts_at": "2026-03-02T08:10:00+05:00"}
# what sends data ('post') and what commits the party or subscribes ('write')
_SENDS = [("/api/v1/events", {"content": _event_body("MSCU1234566")}, "post"),
          ("/api/v1/messages", {"content": b"event_type,event_code,classifier,event_time,location,equipment\n"}, "post"),
          ("/api/v1/positions", {"json": {"time": "2026-03-02T08:10:00+05:00", "lat": 43.6, "lon": 51.2,
                                          "device": "trk-1"}}, "post"),
          ("/api/v1/notices", {"json": _NOTICE}, "post")]
_COMMITS = [("/api/v1/bookings", {"json": {**_quote(), "option": 1}}, "write"),
            ("/v2/event-subscriptions", {"json": {"callbackUrl": "http://127.0.0.1:9/cb",
                                                  "secret": "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI="}}, "write")]


def test_a_post_key_sends_data_but_neither_books_nor_subscribes(loaded_store, parties):
    """A gateway's key ('post'): a leaked one can send data in its party's name, never book for it."""
    client, _ = _clients(loaded_store, per_minute=10**6)
    h = _h(parties["post"])
    r = client.post("/api/v1/events", headers=h, content=_event_body("MSCU1234566"))
    assert r.status_code in (200, 202) and r.json()["stored"] == 1, r.text
    for path, kw, _ in _SENDS[1:]:
        r = client.post(path, headers=h, **kw)
        # the scope lets it through: what follows is judged on content and the party's rights
        # (a shipper publishes no notice)
        assert r.status_code != 401 and "scope" not in r.text, (path, r.status_code, r.text)
    for path, kw, scope in _COMMITS:
        r = client.post(path, headers=h, **kw)
        assert r.status_code == 403 and "'write' scope" in r.text, (path, r.status_code, r.text)
    assert client.get("/v2/events", headers=h).status_code == 403          # nor reads
    assert client.get("/api/v1/me", headers=h).json()["key"]["scopes"] == ["post"]


def test_a_write_only_key_posts_events_and_books(loaded_store, parties):
    """An EDI gateway's key: it sends, it does not read."""
    client, _ = _clients(loaded_store, per_minute=10**6)
    r = client.post("/api/v1/events", headers=_h(parties["write"]), content=_event_body("MSCU1234566"))
    assert r.status_code in (200, 202), r.text
    assert r.json()["stored"] == 1
    r = client.post("/api/v1/bookings", headers=_h(parties["write"]), json={**_quote(), "option": 1})
    assert r.status_code == 201, r.text
    assert client.get(f"/api/v1/bookings/{r.json()['ref']}", headers=_h(parties["write"])).status_code == 403
    assert client.get(f"/api/v1/bookings/{r.json()['ref']}", headers=_h(parties["rw"])).status_code == 200


def test_administering_needs_the_admin_scope_on_the_administrators_key(loaded_store, parties):
    client, _ = _clients(loaded_store, per_minute=10**6)
    ro = _h(parties["admin_read"])
    assert client.get("/v2/events", headers=ro).status_code == 200
    for method, path, kw in [("get", "/api/v1/keys", {}), ("get", "/api/v1/audit", {}),
                             ("post", "/api/v1/keys", {"json": {"party_id": "ACME"}}),
                             ("post", "/api/v1/parties", {"json": {"id": "EVIL", "name": "x", "roles": ["admin"]}}),
                             ("delete", f"/api/v1/keys/{keys.split(parties['ktz'])[0]}", {})]:
        r = getattr(client, method)(path, headers=ro, **kw)
        assert r.status_code == 403 and "'admin' scope" in r.text, (method, path, r.status_code)
    assert client.get("/api/v1/me", headers=_h(parties["ktz"])).status_code == 200   # nothing was revoked
    assert client.get("/api/v1/keys", headers=_h(parties["admin"])).status_code == 200


# --- 2. a new key's expiry and scopes, as `corridor key create` checks them ----------------------

@pytest.mark.parametrize("body, says", [
    ({"expires_at": "2020-01-01T00:00:00Z"}, "not in the future"),
    ({"expires_at": "2030-01-01T00:00:00"}, "no UTC offset"),
    ({"expires_at": "2030-01-01"}, "no UTC offset"),
    ({"scopes": []}, "at least one scope"),
    ({"scopes": ["read", "delete"]}, "unknown scopes"),
])
def test_a_key_that_could_not_be_used_as_asked_is_refused(loaded_store, parties, body, says):
    client, _ = _clients(loaded_store, per_minute=10**6)
    with loaded_store.read() as conn:
        before = len(keys.list_keys(conn, "ACME"))
    r = client.post("/api/v1/keys", headers=_h(parties["admin"]), json={"party_id": "ACME", **body})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json") and says in r.json()["detail"]
    with loaded_store.read() as conn:
        assert len(keys.list_keys(conn, "ACME")) == before             # nothing was created


def test_a_future_expiry_with_an_offset_is_kept_in_utc_and_honoured(loaded_store, parties):
    client, _ = _clients(loaded_store, per_minute=10**6)
    r = client.post("/api/v1/keys", headers=_h(parties["admin"]),
                    json={"party_id": "ACME", "expires_at": "2031-06-01T12:00:00+05:00",
                          "scopes": ["write", "read", "read"]})
    assert r.status_code == 201, r.text
    assert r.json()["scopes"] == ["read", "write"]
    assert datetime.fromisoformat(r.json()["expires_at"]) == datetime(2031, 6, 1, 7, tzinfo=timezone.utc)
    me = client.get("/api/v1/me", headers=_h(r.json()["key"])).json()["key"]
    assert datetime.fromisoformat(me["expires_at"]) == datetime(2031, 6, 1, 7, tzinfo=timezone.utc)
    assert me["scopes"] == ["read", "write"]
