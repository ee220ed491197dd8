"""Short fault trials for CI (both stores): an ingest node killed with SIGKILL mid-stream, the NATS
server restarted during ingest, PostgreSQL connections dropped under a worker, a webhook receiver
that was down — every accepted event stored exactly once, every notification delivered.

Each trial runs real `corridor serve --role ingest|deliver` processes against a private nats-server
(bench/cluster.py), so killing and restarting it touches nobody else's broker. The long versions
(100,000 events, 10 kill trials, minutes of receiver outage) are in tests/slow.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from cluster import NatsServer, Node, counts, dcsa_message, prepare_stream, wait_until  # noqa: E402

from corridor.domain.parties import Party, Role  # noqa: E402
from corridor.ingest.nats import JetStreamPublisher  # noqa: E402
from corridor.ingest.service import Ingestor  # noqa: E402
from corridor.store.parties import upsert_party  # noqa: E402

pytestmark = pytest.mark.services
PER_MESSAGE = 10


@pytest.fixture
def nats_server():
    if not os.path.exists("/usr/sbin/nats-server"):
        pytest.skip("nats-server not installed (Debian package nats-server)")
    srv = NatsServer().start()
    prepare_stream(srv.url, ack_wait=2.0)   # redeliver a dead worker's messages after 2 s, not 30 s
    yield srv
    srv.close()


def _env(store, srv) -> dict:
    return {"CORRIDOR_DATABASE_URL": store.url, "CORRIDOR_NATS_URL": srv.url, "CORRIDOR_LOG_LEVEL": "WARNING"}


def _sender(store) -> None:
    with store.tx() as conn:
        upsert_party(conn, Party("BENCH", "Bench Logistics", frozenset({Role.SHIPPER})))


def _accept(store, pub, run: str, first: int, n: int, retry_s: float = 60.0) -> list[str]:
    """Keep and publish one message the way the API does; retried until JetStream acknowledged it."""
    import time
    body, ids = dcsa_message(run, first, n)
    mid, _, _ = Ingestor(store).keep(body, source_party="BENCH", fmt="dcsa-json")
    end = time.monotonic() + retry_s
    while True:
        try:
            pub.publish(mid)
            return ids
        except Exception:   # broker restarting: the client is not acknowledged yet, so it retries
            if time.monotonic() > end:
                raise
            time.sleep(0.2)


def _events_now(store) -> int:
    from corridor.store import events as ev
    with store.read() as conn:
        return ev.count(conn)


def _drained(store, n: int):
    def ok():
        c = counts(store.url)
        return c["events"] == n and not c["raw"].get("pending")
    return ok


def _assert_exactly_once(store, accepted: list[str]) -> None:
    c = counts(store.url)
    assert c["events"] == len(accepted) == c["distinct_keys"], c
    assert set(c["raw"]) == {"processed"}, c


def test_an_ingest_node_killed_mid_stream_loses_and_duplicates_nothing(loaded_store, nats_server, tmp_path):
    _sender(loaded_store)
    pub = JetStreamPublisher(nats_server.url)
    accepted: list[str] = []
    node = Node("ingest", _env(loaded_store, nats_server), log=tmp_path / "ingest.log").start()
    try:
        # killed while the stream is still coming in: a quick node cannot have taken it all first
        kill_at = random.randrange(400, 1400, PER_MESSAGE)
        for i in range(0, 2000, PER_MESSAGE):
            if i == kill_at:
                assert wait_until(lambda: _events_now(loaded_store) >= 100, 120, every=0.005)
                node.kill9()
                at_kill = _events_now(loaded_store)
                assert 0 < at_kill <= kill_at, "the node must die mid-stream"
            accepted += _accept(loaded_store, pub, "kill", i, PER_MESSAGE)
        node = Node("ingest", _env(loaded_store, nats_server), log=tmp_path / "ingest.log").start()
        assert wait_until(_drained(loaded_store, 2000), 180), counts(loaded_store.url)
    finally:
        node.stop()
        pub.close()
    _assert_exactly_once(loaded_store, accepted)


def test_a_nats_restart_during_ingest_loses_nothing(loaded_store, nats_server, tmp_path):
    _sender(loaded_store)
    node = Node("ingest", _env(loaded_store, nats_server), log=tmp_path / "ingest.log").start()
    pub = JetStreamPublisher(nats_server.url)
    accepted: list[str] = []
    try:
        for i in range(0, 1000, PER_MESSAGE):
            accepted += _accept(loaded_store, pub, "natsrestart", i, PER_MESSAGE)
            if i == 500:
                nats_server.restart(down_s=1.0)    # the publisher and the node reconnect by themselves
        assert wait_until(_drained(loaded_store, 1000), 180), counts(loaded_store.url)
        assert (node.proc.poll() is None), "the ingest node must survive the broker restart"
    finally:
        pub.close()
        node.stop()
    _assert_exactly_once(loaded_store, accepted)


@pytest.mark.postgres
def test_dropped_postgresql_connections_resume_by_themselves(loaded_store, nats_server, tmp_path):
    """pg_terminate_backend on every connection to the test database (not a server restart: the
    server is shared with other tests; tests/slow restarts a private PostgreSQL instead)."""
    if loaded_store.dialect != "postgresql":
        pytest.skip("a PostgreSQL fault")
    import psycopg
    from sqlalchemy.engine import make_url
    _sender(loaded_store)
    db = make_url(loaded_store.url).database
    node = Node("ingest", _env(loaded_store, nats_server), log=tmp_path / "ingest.log").start()
    pub = JetStreamPublisher(nats_server.url)
    accepted: list[str] = []
    drops = 0
    try:
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as admin:
            for i in range(0, 1000, PER_MESSAGE):
                accepted += _accept(loaded_store, pub, "pgdrop", i, PER_MESSAGE)
                if i % 200 == 100:
                    drops += admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                           "WHERE datname = %s AND pid <> pg_backend_pid()", (db,)).fetchone()[0]
        assert drops > 0
        assert wait_until(_drained(loaded_store, 1000), 180), counts(loaded_store.url)
        assert node.proc.poll() is None
    finally:
        pub.close()
        node.stop()
    _assert_exactly_once(loaded_store, accepted)
