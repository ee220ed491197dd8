"""A Corridor cluster on localhost for fault tests and load runs: our own nats-server, serve nodes.

The NATS server here is a private one (its own port and store directory) so that killing or
restarting it disturbs nobody else's broker; the nodes are real `corridor serve --role` processes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

NATS_BIN = shutil.which("nats-server") or "/usr/sbin/nats-server"
ROOT = Path(__file__).resolve().parents[1]
CORRIDOR_BIN = str(Path(sys.executable).with_name("corridor"))
PLACES = ["CNXIA", "KZDOS", "KZAAU", "AZALA", "GEPTI", "TRIST"]
CODES = ["GTIN", "LOAD", "DISC", "GTOT"]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 20.0, up: bool = True) -> bool:
    """True once 127.0.0.1:port accepts connections (or refuses them, with up=False)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            if up:
                return True
        except OSError:
            if not up:
                return True
        time.sleep(0.05)
    return False


class NatsServer:
    """A private nats-server with JetStream (file storage survives a restart, as in production)."""

    def __init__(self, port: int | None = None, store_dir: str | None = None):
        self.port = port or free_port()
        self.dir = store_dir or tempfile.mkdtemp(prefix="corridor-nats-")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> "NatsServer":
        if not os.path.exists(NATS_BIN):
            raise FileNotFoundError("nats-server not installed")
        self.proc = subprocess.Popen([NATS_BIN, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", self.dir],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_port(self.port):
            raise RuntimeError(f"nats-server did not start on {self.port}")
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(20)
        wait_port(self.port, up=False)

    def restart(self, down_s: float = 0.0, sig: int = signal.SIGTERM) -> None:
        self.stop(sig)
        time.sleep(down_s)
        self.start()

    def close(self) -> None:
        self.stop(signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass
class Node:
    """One `corridor serve --role ROLE` process."""

    role: str
    env: dict
    port: int = field(default_factory=free_port)
    log: Path | None = None
    proc: subprocess.Popen | None = None

    def start(self, wait: float = 60.0) -> "Node":
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL
        self.proc = subprocess.Popen([CORRIDOR_BIN, "serve", "--role", self.role,
                                      "--port", str(self.port)], env={**os.environ, **self.env},
                                     stdout=out, stderr=subprocess.STDOUT)
        end = time.monotonic() + wait
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.role} node exited with {self.proc.returncode} (log: {self.log})")
            if health(self.port) is not None:
                return self
            time.sleep(0.1)
        raise RuntimeError(f"{self.role} node not healthy after {wait}s (log: {self.log})")

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill9()


def health(port: int) -> dict | None:
    """The /health document of a node, or None when it does not answer 200."""
    import httpx
    try:
        r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
        return r.json() if r.status_code == 200 else None
    except httpx.HTTPError:
        return None


def box(i: int) -> str:
    """A valid ISO 6346 container number for index i."""
    from corridor.domain.equipment import with_check_digit
    return with_check_digit(f"TGHU{i % 1_000_000:06d}")


def dcsa_message(run: str, first: int, n: int, boxes: int = 500) -> tuple[bytes, list[str]]:
    """A DCSA 2.2 event array of n distinct events (indices first..first+n-1); returns (body, eventIDs)."""
    t0 = datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=5)))
    items, ids = [], []
    for i in range(first, first + n):
        t = t0 + timedelta(minutes=i)
        eid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"corridor-bench/{run}/{i}"))
        b = i % boxes
        items.append({"eventID": eid, "eventType": "EQUIPMENT", "eventClassifierCode": "ACT",
                      "eventDateTime": t.isoformat(), "eventCreatedDateTime": t.isoformat(),
                      "equipmentEventTypeCode": CODES[(i // boxes) % 4], "equipmentReference": box(b),
                      "emptyIndicatorCode": "LADEN", "eventLocation": {"UNLocationCode": PLACES[i % 6]},
                      "documentReferences": [{"documentReferenceType": "BKG",
                                              "documentReferenceValue": f"BK{run[:6]}{b:05d}"}]})
        ids.append(eid)
    return json.dumps(items).encode(), ids


def prepare_stream(url: str, ack_wait: float) -> None:
    """Create Corridor's stream and durable consumer with a short `ack_wait` (workers reuse them)."""
    import asyncio

    import nats
    from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig

    from corridor.ingest.nats import DURABLE, STREAM, SUBJECT

    async def run():
        nc = await nats.connect(url)
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name=STREAM, subjects=[SUBJECT], storage=StorageType.FILE,
                                         retention=RetentionPolicy.WORK_QUEUE))
        await js.add_consumer(STREAM, ConsumerConfig(durable_name=DURABLE, name=DURABLE, filter_subject=SUBJECT,
                                                     ack_policy=AckPolicy.EXPLICIT, ack_wait=ack_wait,
                                                     max_deliver=-1))
        await nc.close()
    asyncio.run(run())


def counts(url: str) -> dict:
    """Events, distinct natural keys, raw messages by status, outbox by status of the store at `url`."""
    from sqlalchemy import func, select

    from corridor.store import Store
    from corridor.store.tables import events, outbox, raw_messages
    s = Store(url)
    try:
        with s.read() as conn:
            n = conn.execute(select(func.count()).select_from(events).where(events.c.source_party != "CORRIDOR")).scalar()
            keys = conn.execute(select(func.count(func.distinct(events.c.dedup_key)))
                                .where(events.c.source_party != "CORRIDOR")).scalar()
            raw = dict(conn.execute(select(raw_messages.c.status, func.count()).group_by(raw_messages.c.status)).all())
            ob = dict(conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status)).all())
        return {"events": n, "distinct_keys": keys, "raw": raw, "outbox": ob}
    finally:
        s.dispose()


def wait_until(pred, timeout: float, every: float = 0.2) -> bool:
    """Poll `pred()` until true or `timeout` s; returns the last answer."""
    end = time.monotonic() + timeout
    while True:
        ok = pred()
        if ok or time.monotonic() > end:
            return bool(ok)
        time.sleep(every)
