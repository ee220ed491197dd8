"""Callbacks go to public addresses only, unless the installation allows private ones (docs/access.md).

The reviewer's case: ACME subscribed `http://127.0.0.1:<port>/hook` and the delivery worker posted
there from inside the installation. Now the subscription is refused (400) and, for one made before
(or whose host's DNS changed since), the delivery worker does not post: the attempt fails with
the reason and backs off. CORRIDOR_WEBHOOK_ALLOW_PRIVATE=1 (the test suite's own setting, see
tests/conftest.py) lets both through. Both stores.
"""

from __future__ import annotations

import base64
import ipaddress
import socket
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from corridor.api.app import create_app
from corridor.domain.parties import Role
from corridor.settings import Settings
from corridor.store.tables import deliveries, outbox
from corridor.tracking.delivery import Deliverer

from test_webhooks import Receiver, _free_port
from tracking_helpers import box_event, ingest, party

BOX = "MSCU1234566"
SETTING = "CORRIDOR_WEBHOOK_ALLOW_PRIVATE"
SECRET = base64.b64encode(b"k" * 32).decode()
PRIVATE = ["http://127.0.0.1:18039/hook", "http://127.1/hook", "http://2130706433/hook", "http://[::1]/hook",
           "http://[::ffff:127.0.0.1]/hook", "http://0.0.0.0/hook", "http://10.1.2.3/hook",
           "http://192.168.0.10:8080/hook", "http://172.16.5.5/hook", "http://100.64.0.1/hook",
           "http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/hook", "http://[fd00::1]/hook",
           "https://localhost/hook", "https://api.localhost/hook", "http://224.0.0.1/hook",
           "http://[64:ff9b::7f00:1]/hook", "http://[2002:7f00:1::]/hook"]


def _client(store, allow_private: bool) -> TestClient:
    return TestClient(create_app(Settings(database_url=store.url, nats_url=None, rate_limit_per_minute=1_000_000,
                                          webhook_allow_private=allow_private), store=store))


def test_the_setting_is_off_unless_the_installation_sets_it(monkeypatch):
    from corridor.access import callbacks
    assert callbacks.SETTING == SETTING
    monkeypatch.delenv(SETTING, raising=False)
    assert Settings().webhook_allow_private is False
    monkeypatch.setenv(SETTING, "1")
    assert Settings().webhook_allow_private is True


@pytest.mark.parametrize("url", PRIVATE)
def test_non_public_hosts_are_refused(url):
    from corridor.access import callbacks
    with pytest.raises(callbacks.CallbackRefused) as e:
        callbacks.check(url)
    assert "public addresses only" in str(e.value) or "this machine" in str(e.value)
    assert callbacks.target(url, allow_private=True).url == url   # the installation allows them: as given


def test_a_host_name_is_judged_by_what_it_resolves_to():
    """This machine's own name (from /etc/hosts here) resolves to a local address: refused by it."""
    from corridor.access import callbacks
    name = socket.gethostname()
    try:
        found = {i[4][0] for i in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}
    except socket.gaierror:
        pytest.skip(f"{name} does not resolve here")
    if all(ipaddress.ip_address(a.split("%")[0]).is_global for a in found):
        pytest.skip(f"{name} resolves to public addresses here ({found})")
    with pytest.raises(callbacks.CallbackRefused, match="public addresses only"):
        callbacks.check(f"http://{name}:9/hook")


def test_a_public_address_is_pinned_for_delivery():
    """The delivery goes to the address that was checked; the host still names it (Host, TLS SNI)."""
    from corridor.access import callbacks
    t = callbacks.target("https://203.0.114.7:8443/cb?x=1", allow_private=False)   # a literal: no DNS needed
    assert callbacks.check("https://203.0.114.7:8443/cb") == ["203.0.114.7"]
    assert t.url == "https://203.0.114.7:8443/cb?x=1" and t.headers["Host"] == "203.0.114.7:8443"
    assert t.extensions == {"sni_hostname": "203.0.114.7"} and t.headers["Connection"] == "close"
    plain = callbacks.target("http://[2001:4860:4860::8888]/cb", allow_private=False)
    assert plain.url == "http://[2001:4860:4860::8888]/cb" and not plain.extensions


def test_a_subscription_to_a_private_host_is_refused_with_the_reason(store):
    acme = {"Authorization": f"Bearer {party(store, 'ACME', Role.SHIPPER)}"}
    c = _client(store, allow_private=False)
    for url in ("http://127.0.0.1:18039/hook", "http://169.254.169.254/latest/meta-data/"):
        r = c.post("/v2/event-subscriptions", headers=acme, json={"callbackUrl": url, "secret": SECRET})
        assert r.status_code == 400, r.text
        assert "public addresses only" in r.json()["errors"][0]["message"], r.text
    assert c.get("/v2/event-subscriptions", headers=acme).json() == []
    # nor can an existing subscription be pointed there
    ok = _client(store, allow_private=True).post("/v2/event-subscriptions", headers=acme, json={
        "callbackUrl": "https://203.0.114.7/hook", "secret": SECRET})
    assert ok.status_code == 201, ok.text
    sid = ok.json()["subscriptionID"]
    put = c.put(f"/v2/event-subscriptions/{sid}", headers=acme, json={"callbackUrl": "http://[::1]:18039/hook"})
    assert put.status_code == 400 and "loopback" in put.json()["errors"][0]["message"]
    assert c.get(f"/v2/event-subscriptions/{sid}", headers=acme).json()["callbackUrl"] == "https://203.0.114.7/hook"


def test_the_delivery_worker_does_not_post_to_a_private_host(loaded_store):
    """A subscription to 127.0.0.1 made while private hosts were allowed (or before this check):
    a worker of an installation that does not allow them refuses at delivery, and says why."""
    store = loaded_store
    acme = {"Authorization": f"Bearer {party(store, 'ACME', Role.SHIPPER)}"}
    port = _free_port()
    sid = _client(store, allow_private=True).post("/v2/event-subscriptions", headers=acme, json={
        "callbackUrl": f"http://127.0.0.1:{port}/hook", "secret": SECRET}).json()["subscriptionID"]
    t0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=1)
    ingest(store, [box_event("GTIN", t0, "KZDOS", box=BOX, bkg="B1")], "ACME")
    rx = Receiver(port, [])
    try:
        now = datetime.now(timezone.utc)
        assert Deliverer(store, allow_private=False).run_once(now) == 0
        assert rx.got == []
        with store.read() as conn:
            log = conn.execute(select(deliveries.c.status_code, deliveries.c.error)
                               .where(deliveries.c.subscription_id == sid)).all()
            left = conn.execute(select(outbox.c.status, outbox.c.attempts, outbox.c.next_attempt_at)
                                .where(outbox.c.subscription_id == sid)).all()
        assert len(log) == 1 and log[0].status_code is None and "loopback" in log[0].error
        assert left and all(r.status == "pending" and r.attempts == 1 and r.next_attempt_at > now for r in left)
        # the owner reads why in its delivery log
        seen = _client(store, allow_private=False).get(f"/api/v1/subscriptions/{sid}/deliveries",
                                                       headers=acme).json()["deliveries"]
        assert "public addresses only" in seen[0]["error"]
        # where the installation allows private receivers, the same rows go out
        assert Deliverer(store, allow_private=True).run_once(now + timedelta(hours=1)) >= 1
        assert len(rx.got) == 1
    finally:
        rx.close()


def test_the_worker_reads_the_installation_setting(monkeypatch):
    from corridor.settings import get_settings
    monkeypatch.setenv(SETTING, "0")
    get_settings.cache_clear()
    try:
        assert Deliverer(None).allow_private is False
    finally:
        get_settings.cache_clear()


def test_a_callback_url_the_client_cannot_call_is_refused_even_where_private_hosts_are_allowed(store):
    """A control character in the URL passed the check (only the scheme and host were looked at)
    and made every delivery attempt fail inside Corridor (httpx.InvalidURL)."""
    acme = {"Authorization": f"Bearer {party(store, 'ACME', Role.SHIPPER)}"}
    c = _client(store, allow_private=True)
    for url in ("http://127.0.0.1:18039/ho\x07ok", "http://127.0.0.1:18039/hook\r\nX-Injected: 1"):
        r = c.post("/v2/event-subscriptions", headers=acme, json={"callbackUrl": url, "secret": SECRET})
        assert r.status_code == 400, r.text
        assert "not a URL that can be called" in r.json()["errors"][0]["message"]
    assert c.get("/v2/event-subscriptions", headers=acme).json() == []
