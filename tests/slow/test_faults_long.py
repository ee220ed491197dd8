"""Long fault trials (slow suite): SIGKILL of ingest nodes at random points during 100,000 events,
NATS restarts, a PostgreSQL restart, a webhook receiver down for minutes.

    pytest tests/slow --run-slow            # CORRIDOR_FAULT_EVENTS / _TRIALS / _DOWN_S scale it

Nodes are real `corridor serve --role` processes; NATS is a private nats-server (bench/cluster.py).
"""

from __future__ import annotations

import base64
import json
import os
import random
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[2] / "bench"))
sys.path.insert(0, str(HERE.parents[1] / "integration"))

from cluster import NatsServer, Node, counts, dcsa_message, free_port, prepare_stream, wait_until  # noqa: E402

from corridor.domain.parties import Party, Role  # noqa: E402
from corridor.ingest.nats import JetStreamPublisher  # noqa: E402
from corridor.ingest.service import Ingestor  # noqa: E402
from corridor.store.parties import upsert_party  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.services]
EVENTS = int(os.environ.get("CORRIDOR_FAULT_EVENTS", "100000"))
TRIALS = int(os.environ.get("CORRIDOR_FAULT_TRIALS", "10"))
DOWN_S = float(os.environ.get("CORRIDOR_FAULT_DOWN_S", "180"))
PER_MESSAGE = 100


@pytest.fixture
def nats_server():
    srv = NatsServer().start()
    prepare_stream(srv.url, ack_wait=3.0)
    yield srv
    srv.close()


def _env(store, srv) -> dict:
    return {"CORRIDOR_DATABASE_URL": store.url, "CORRIDOR_NATS_URL": srv.url, "CORRIDOR_LOG_LEVEL": "WARNING"}


class Producer(threading.Thread):
    """Keeps and publishes messages as the API does; `accepted` holds the eventIDs JetStream acknowledged."""

    def __init__(self, store, url: str, run: str, events: int):
        super().__init__(daemon=True)
        self.store, self.url, self.run_id, self.events = store, url, run, events
        self.accepted: list[str] = []
        self.error: BaseException | None = None

    def run(self):
        pub = JetStreamPublisher(self.url)
        ing = Ingestor(self.store)
        try:
            for first in range(0, self.events, PER_MESSAGE):
                body, ids = dcsa_message(self.run_id, first, min(PER_MESSAGE, self.events - first))
                mid, _, _ = ing.keep(body, source_party="BENCH", fmt="dcsa-json")
                while True:
                    try:
                        pub.publish(mid)
                        break
                    except Exception:   # not acknowledged yet: the client retries
                        time.sleep(0.2)
                self.accepted += ids
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.error = e
        finally:
            pub.close()


def _sender(store):
    with store.tx() as conn:
        upsert_party(conn, Party("BENCH", "Bench Logistics", frozenset({Role.SHIPPER})))


def _exactly_once(store, accepted, total):
    c = counts(store.url)
    print("final state:", json.dumps(c))
    assert len(accepted) == total
    assert c["events"] == c["distinct_keys"] == total, c
    assert set(c["raw"]) == {"processed"}, c


def test_ingest_nodes_killed_at_random_points_during_100k_events(loaded_store, nats_server, tmp_path):
    _sender(loaded_store)
    env = _env(loaded_store, nats_server)
    nodes = [Node("ingest", env, log=tmp_path / f"ingest{i}.log").start() for i in range(2)]
    prod = Producer(loaded_store, nats_server.url, "kill100k", EVENTS)
    prod.start()
    rnd = random.Random(int(os.environ.get("CORRIDOR_FAULT_SEED", "10")))
    kills = []
    try:
        step = EVENTS / (TRIALS + 1)
        for trial in range(TRIALS):
            target = int(step * (trial + rnd.uniform(0.5, 1.0)))
            wait_until(lambda: counts(loaded_store.url)["events"] >= target, 3600, every=0.05)
            time.sleep(rnd.uniform(0, 0.5))    # a random point inside a transaction or between them
            victim = rnd.randrange(len(nodes))
            before = counts(loaded_store.url)["events"]
            nodes[victim].kill9()
            kills.append((trial, victim, before))
            nodes[victim] = Node("ingest", env, log=tmp_path / f"ingest{victim}.log").start()
        prod.join(3600)
        assert prod.error is None, prod.error
        assert wait_until(lambda: counts(loaded_store.url)["events"] >= EVENTS
                          and not counts(loaded_store.url)["raw"].get("pending"), 3600, every=1)
    finally:
        for n in nodes:
            n.stop()
    print("kills (trial, node, events stored at the kill):", kills)
    # the last kill may land after the final commit on a small run; the others are mid-stream
    assert len(kills) == TRIALS and sum(0 < k[2] < EVENTS for k in kills) >= max(1, TRIALS - 1)
    _exactly_once(loaded_store, prod.accepted, EVENTS)


def test_nats_restarted_three_times_during_ingest(loaded_store, nats_server, tmp_path):
    _sender(loaded_store)
    n = min(EVENTS, 20000)
    node = Node("ingest", _env(loaded_store, nats_server), log=tmp_path / "ingest.log").start()
    prod = Producer(loaded_store, nats_server.url, "natsx3", n)
    prod.start()
    try:
        for k in (1, 2, 3):
            wait_until(lambda: len(prod.accepted) >= k * n // 4, 1800)
            nats_server.restart(down_s=3.0)
        prod.join(1800)
        assert prod.error is None, prod.error
        assert wait_until(lambda: counts(loaded_store.url)["events"] >= n
                          and not counts(loaded_store.url)["raw"].get("pending"), 1800, every=1)
        assert node.proc.poll() is None
    finally:
        node.stop()
    _exactly_once(loaded_store, prod.accepted, n)


@pytest.mark.postgres
def test_postgresql_restart_during_ingest(loaded_store, nats_server, tmp_path):
    """A full server restart (pg_ctlcluster restart). It stops every database on the server, so it
    runs only with CORRIDOR_FAULT_PG_RESTART=1 on a machine nobody else is testing on."""
    if loaded_store.dialect != "postgresql":
        pytest.skip("a PostgreSQL fault")
    if os.environ.get("CORRIDOR_FAULT_PG_RESTART") != "1":
        pytest.skip("restarts the shared PostgreSQL server: set CORRIDOR_FAULT_PG_RESTART=1")
    import subprocess
    _sender(loaded_store)
    n = min(EVENTS, 20000)
    node = Node("ingest", _env(loaded_store, nats_server), log=tmp_path / "ingest.log").start()
    prod = Producer(loaded_store, nats_server.url, "pgrestart", n)
    prod.start()
    try:
        wait_until(lambda: counts(loaded_store.url)["events"] >= n // 3, 1800, every=0.1)
        version = sorted(os.listdir("/etc/postgresql"))[-1]
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"], check=True)
        prod.join(1800)
        assert prod.error is None, prod.error
        assert wait_until(lambda: counts(loaded_store.url)["events"] >= n
                          and not counts(loaded_store.url)["raw"].get("pending"), 1800, every=1)
        assert node.proc.poll() is None
    finally:
        node.stop()
    _exactly_once(loaded_store, prod.accepted, n)


def test_a_webhook_receiver_down_for_minutes_gets_everything_afterwards(loaded_store, tmp_path):
    from test_webhooks import Receiver
    from tracking_helpers import app_for, box_event, ingest, party
    from corridor.tracking.delivery import verify
    admin = party(loaded_store, "ADM", Role.ADMIN)
    party(loaded_store, "ACME", Role.SHIPPER)
    port, secret = free_port(), os.urandom(32)
    sid = app_for(loaded_store).post("/v2/event-subscriptions", headers={"Authorization": f"Bearer {admin}"}, json={
        "callbackUrl": f"http://127.0.0.1:{port}/cb", "secret": base64.b64encode(secret).decode(),
        "eventType": ["EQUIPMENT"]}).json()["subscriptionID"]
    node = Node("deliver", {"CORRIDOR_DATABASE_URL": loaded_store.url, "CORRIDOR_LOG_LEVEL": "WARNING"},
                log=tmp_path / "deliver.log").start()
    t0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=5)
    sent = 0
    try:
        start = time.monotonic()
        i = 0
        while time.monotonic() - start < DOWN_S:     # events keep arriving while the receiver is down
            ingest(loaded_store, [box_event("GTIN" if i % 2 == 0 else "GTOT", t0 + timedelta(minutes=i), "KZDOS",
                                            box="MSCU1234566", bkg="B1")], "ACME")
            i += 1
            time.sleep(max(1.0, DOWN_S / 60))
        sent = i
        rx = Receiver(port, [])
        try:
            assert wait_until(lambda: not counts(loaded_store.url)["outbox"].get("pending"), 3700, every=1)
            got = list(rx.got)
        finally:
            rx.close()
    finally:
        node.stop()
    ids = []
    for headers, body in got:
        assert headers["Subscription-ID"] == sid and verify(secret, body, headers["Notification-Signature"])
        ids += [e["eventID"] for e in json.loads(body)]
    c = counts(loaded_store.url)
    print(f"receiver down {DOWN_S:.0f}s, {sent} ingests, {len(ids)} notifications, outbox {c['outbox']}")
    assert len(ids) == len(set(ids)) == c["outbox"].get("delivered", 0) and len(ids) >= sent
    assert ids == sorted(ids)
