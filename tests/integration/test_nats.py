"""Ingest through NATS JetStream (127.0.0.1:4222): a worker killed mid-stream loses nothing (both stores)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest

from corridor.domain.parties import Party, Role
from corridor.ingest.nats import JetStreamPublisher, StreamConfig
from corridor.ingest.service import Ingestor
from corridor.store import events as ev
from corridor.store import ingest as repo
from corridor.store.parties import upsert_party

pytestmark = pytest.mark.services
URL = "nats://127.0.0.1:4222"
N = 300

WORKER = """
import sys
from corridor.store import Store
from corridor.ingest.nats import StreamConfig, run_ingest_worker
stream, subject, durable = sys.argv[2:5]
run_ingest_worker(Store(sys.argv[1]), "nats://127.0.0.1:4222", batch=5,
                  cfg=StreamConfig(stream=stream, subject=subject, durable=durable, ack_wait=2.0))
"""


def _server() -> None:
    try:
        socket.create_connection(("127.0.0.1", 4222), timeout=2).close()
    except OSError as e:
        pytest.skip(f"NATS not reachable on 127.0.0.1:4222 ({e}); start nats-server -js")


def _delete_stream(name: str) -> None:
    async def run():
        import nats
        nc = await nats.connect(URL)
        try:
            await nc.jetstream().delete_stream(name)
        except Exception:
            pass
        await nc.close()
    asyncio.run(run())


def _worker(store, cfg: StreamConfig) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WORKER, store.url, cfg.stream, cfg.subject, cfg.durable],
                            env={**os.environ, "PYTHONUNBUFFERED": "1"}, stderr=subprocess.DEVNULL)


def _state(store) -> tuple[int, int]:
    with store.read() as conn:
        return ev.count(conn), len(repo.pending_raw(conn, limit=10 * N))


def test_a_killed_worker_loses_nothing_and_duplicates_nothing(store):
    _server()
    with store.tx() as conn:
        upsert_party(conn, Party("ACME", "Acme Trading", frozenset({Role.SHIPPER})))
    tag = uuid.uuid4().hex[:8]
    cfg = StreamConfig(stream=f"TEST_INGEST_{tag}", subject=f"test.ingest.{tag}", durable=f"w{tag}", ack_wait=2.0)
    ing = Ingestor(store)
    pub = JetStreamPublisher(URL, cfg)
    workers: list[subprocess.Popen] = []
    try:
        for i in range(N):
            fix = {"time": f"2026-03-04T{i // 60:02d}:{i % 60:02d}:00+05:00", "lat": 43.6, "lon": 51.2 + i / 1e4,
                   "device": "trk-1", "container": "MSKU1234565"}
            mid, fmt, _ = ing.keep(json.dumps(fix).encode(), source_party="ACME", fmt="position-json")
            pub.publish(mid, check_visibility=True)
        assert _state(store) == (0, N)          # kept first, nothing processed yet

        workers.append(_worker(store, cfg))
        deadline = time.monotonic() + 60
        while _state(store)[0] < 20 and time.monotonic() < deadline:
            time.sleep(0.005)
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(10)
        killed_at = _state(store)[0]
        assert 0 < killed_at < N, "the worker must die mid-stream"

        workers.append(_worker(store, cfg))
        while _state(store) != (N, 0) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _state(store) == (N, 0)
        with store.read() as conn:
            rows = conn.execute(ev.select_events()).all()
        assert len({r.dedup_key for r in rows}) == N and len({r.message_id for r in rows}) == N
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait(10)
        pub.close()
        _delete_stream(cfg.stream)
