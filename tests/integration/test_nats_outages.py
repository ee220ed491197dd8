"""NATS trouble as the API and the ingest workers meet it (both stores):

- NATS down before the API first publishes, or gone after it connected: POST keeps the message and
  answers 202 at once with a note that processing is deferred; one publisher thread whatever
  happens; the workers' sweep publishes the kept messages once NATS is back, and they are processed.
- A message whose processing fails every time is quarantined with the reason after
  `max_deliver` deliveries, not redelivered for ever; a replay takes it in after the fix.

Outages use a private nats-server (bench/cluster.py) on a port of its own; the shared broker on
4222 only carries streams named for the test.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from cluster import NatsServer, free_port  # noqa: E402

from corridor.access.keys import create_key  # noqa: E402
from corridor.api.app import create_app  # noqa: E402
from corridor.domain.parties import Party, Role  # noqa: E402
from corridor.ingest.nats import JetStreamPublisher, StreamConfig, run_ingest_worker  # noqa: E402
from corridor.ingest.service import Ingestor  # noqa: E402
from corridor.settings import Settings  # noqa: E402
from corridor.store import ingest as repo  # noqa: E402
from corridor.store.parties import upsert_party  # noqa: E402
from test_ingest import dcsa_event  # noqa: E402

pytestmark = pytest.mark.services
SHARED = "nats://127.0.0.1:4222"


def _nats_bin() -> None:
    if not os.path.exists("/usr/sbin/nats-server"):
        pytest.skip("nats-server not installed (Debian package nats-server)")


def _publishers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "nats-publisher" and t.is_alive()]


@pytest.fixture
def api_on(loaded_store):
    """An API on `url`'s NATS: (client, closer)."""
    with loaded_store.tx() as conn:
        upsert_party(conn, Party("PORTAKTAU", "Aktau Sea Port", frozenset({Role.TERMINAL}), "KZ",
                                 facilities=frozenset({"KZ_AKX"})))
        key = create_key(conn, "PORTAKTAU", scopes=("read", "write"))
    apps = []

    def make(url: str) -> TestClient:
        app = create_app(Settings(database_url=loaded_store.url, nats_url=url), store=loaded_store)
        apps.append(app)
        client = TestClient(app, raise_server_exceptions=False)
        client.key = {"Authorization": f"Bearer {key}"}
        return client

    yield make
    for app in apps:
        pub = getattr(app.state, "ingest_publisher", None)
        if pub is not None:
            pub.close()


def _report(minute: int) -> bytes:
    return json.dumps([dcsa_event(f"2026-03-02T08:{minute:02d}:00+05:00", box="MSKU1234565", code="GTIN")]).encode()


def _post(client, minute: int) -> tuple[dict, float]:
    t0 = time.monotonic()
    r = client.post("/api/v1/events", content=_report(minute), headers=client.key)
    took = time.monotonic() - t0
    assert r.status_code == 202, r.text
    return r.json(), took


def _status(store, mid: str) -> str:
    with store.read() as conn:
        return repo.get_raw(conn, mid).status


def _until(pred, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return pred()


def _drain(store, url: str, mids: list[str]) -> None:
    """One ingest worker with a quick sweep until every kept message is processed."""
    stop = threading.Event()
    worker = threading.Thread(target=run_ingest_worker, args=(store, url),
                              kwargs={"stop": stop, "sweep_after": 0.5}, daemon=True)
    worker.start()
    try:
        assert _until(lambda: all(_status(store, m) == "processed" for m in mids), 60), \
            [_status(store, m) for m in mids]
    finally:
        stop.set()
        worker.join(30)


def test_nats_down_before_first_use_answers_202_at_once_and_leaks_no_thread(loaded_store, api_on):
    _nats_bin()
    port = free_port()
    client = api_on(f"nats://127.0.0.1:{port}")           # nothing listens there yet
    before = len(_publishers())
    kept = []
    for minute in range(10, 16):
        doc, took = _post(client, minute)
        assert took < 3.0, took                            # was 10 s each, one request at a time
        assert (doc["status"], doc["queued"]) == ("pending", False) and "deferred" in doc["note"], doc
        kept.append(doc["message_id"])
    assert len(_publishers()) - before <= 1                # was one more event-loop thread per request
    assert {_status(loaded_store, m) for m in kept} == {"pending"}

    srv = NatsServer(port=port).start()                    # NATS comes up: the publisher connects by itself
    try:
        assert _until(lambda: _post(client, 30)[0]["queued"], 20)
        _drain(loaded_store, srv.url, kept)                # the sweep publishes what was kept meanwhile
        assert len(_publishers()) - before <= 1
    finally:
        srv.close()


def test_nats_gone_after_the_publisher_connected_answers_202_deferred(loaded_store, api_on):
    _nats_bin()
    srv = NatsServer().start()
    try:
        client = api_on(srv.url)
        first, _ = _post(client, 10)
        assert first["queued"] is True and "note" not in first
        before = len(_publishers())
        srv.stop()                                         # the broker goes away under the connected client
        later = []
        for minute in range(11, 15):
            doc, took = _post(client, minute)
            assert took < 3.0, took                        # was 5 s, then a plain-text 500
            assert (doc["status"], doc["queued"]) == ("pending", False) and "deferred" in doc["note"], doc
            later.append(doc["message_id"])
        assert len(_publishers()) == before
        assert {_status(loaded_store, m) for m in later} == {"pending"}
        srv.start()                                        # back, with its stored stream
        assert _until(lambda: _post(client, 20)[0]["queued"], 20)
        _drain(loaded_store, srv.url, [first["message_id"], *later])
    finally:
        srv.close()


def test_a_publisher_that_cannot_connect_raises_and_leaves_no_thread():
    port = free_port()
    before = len(_publishers())
    for _ in range(3):
        t0 = time.monotonic()
        with pytest.raises(ConnectionError):
            JetStreamPublisher(f"nats://127.0.0.1:{port}")
        assert time.monotonic() - t0 < 4
    assert len(_publishers()) == before


def _delete_stream(name: str) -> None:
    async def run():
        import nats
        nc = await nats.connect(SHARED)
        try:
            await nc.jetstream().delete_stream(name)
        except Exception:  # noqa: BLE001 - gone already
            pass
        await nc.close()
    asyncio.run(run())


def _consumer_state(cfg: StreamConfig) -> tuple[int, int]:
    async def run():
        import nats
        nc = await nats.connect(SHARED)
        try:
            info = await nc.jetstream().consumer_info(cfg.stream, cfg.durable)
            return info.num_pending, info.num_ack_pending
        finally:
            await nc.close()
    return asyncio.run(run())


def test_a_message_that_fails_every_time_is_quarantined_after_max_deliveries(store, monkeypatch):
    try:
        import socket
        socket.create_connection(("127.0.0.1", 4222), timeout=2).close()
    except OSError as e:
        pytest.skip(f"NATS not reachable on 127.0.0.1:4222 ({e}); start nats-server -js")
    with store.tx() as conn:
        upsert_party(conn, Party("ACME", "Acme Trading", frozenset({Role.SHIPPER})))
    tag = uuid.uuid4().hex[:8]
    cfg = StreamConfig(stream=f"TEST_POISON_{tag}", subject=f"test.poison.{tag}", durable=f"p{tag}",
                       ack_wait=5.0, max_deliver=3, retry_delay=0.2)
    ing = Ingestor(store)
    fix = {"time": "2026-03-04T08:00:00+05:00", "lat": 43.6, "lon": 51.2, "device": "trk-1",
           "container": "MSKU1234565"}
    mid, _, _ = ing.keep(json.dumps(fix).encode(), source_party="ACME", fmt="position-json")
    good, _, _ = ing.keep(json.dumps({**fix, "time": "2026-03-04T09:00:00+05:00"}).encode(), source_party="ACME",
                          fmt="position-json")

    # a fault the message meets every time it is processed (as the lock table ran out for one of 6,000 boxes)
    real, tries = Ingestor.process, []

    def failing(self, message_id, allowed=None, only_pending=False):
        if message_id == mid:
            tries.append(time.monotonic())
            raise RuntimeError("out of shared memory")
        return real(self, message_id, allowed, only_pending)

    monkeypatch.setattr(Ingestor, "process", failing)
    pub = JetStreamPublisher(SHARED, cfg)
    stop = threading.Event()
    worker = threading.Thread(target=run_ingest_worker, args=(store, SHARED),
                              kwargs={"cfg": cfg, "stop": stop, "sweep_after": 3600.0}, daemon=True)
    try:
        pub.publish(mid, check_visibility=True)
        pub.publish(good, check_visibility=True)
        worker.start()
        assert _until(lambda: _status(store, mid) == "quarantined" and _status(store, good) == "processed", 30)
        time.sleep(1.0)                                     # nothing more comes back
        assert len(tries) == cfg.max_deliver
        assert _consumer_state(cfg) == (0, 0)               # acknowledged: JetStream holds nothing for it
        with store.read() as conn:
            held = repo.quarantine_open_for(conn, mid)
            assert mid not in repo.pending_raw(conn)        # the sweep does not publish it again
        assert [h.kind for h in held] == ["failed"]
        assert "3 times" in held[0].reason and "RuntimeError: out of shared memory" in held[0].reason
    finally:
        stop.set()
        worker.join(30)
        pub.close()
        _delete_stream(cfg.stream)

    monkeypatch.setattr(Ingestor, "process", real)          # the cause fixed: a replay takes it in
    out = Ingestor(store).replay(mid)
    assert (out.stored, out.quarantined) == (1, 0)
    with store.read() as conn:
        assert repo.quarantine_open_for(conn, mid) == [] and _status(store, mid) == "processed"
