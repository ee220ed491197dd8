"""Ingest through NATS JetStream: keep the raw message, publish its id, process, ack after commit.

Accepted raw messages are first kept in the store (raw_messages, status 'pending'), then their id
is published to a JetStream stream. Workers pull, process through the same `Ingestor.process`
path and acknowledge only after the transaction committed, so a worker that dies loses nothing:
JetStream redelivers what was not acknowledged, and a redelivered message that was already
committed is skipped (its status is no longer 'pending'). Pending messages whose publish was lost
(a crash between commit and publish) are published again by the workers' sweep.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from ..store import Store

log = logging.getLogger("corridor.ingest.nats")

STREAM = "CORRIDOR_INGEST"
SUBJECT = "corridor.ingest.raw"
DURABLE = "corridor-ingest"
CHECK_HEADER = "Corridor-Check-Visibility"   # "1": apply the sender's posting rights (API posts)


@dataclass(frozen=True)
class StreamConfig:
    """Where raw message ids travel; tests use their own names."""

    stream: str = STREAM
    subject: str = SUBJECT
    durable: str = DURABLE
    ack_wait: float = 30.0          # seconds before an unacknowledged message is redelivered


async def _ensure_stream(js, cfg: StreamConfig) -> None:
    from nats.js.api import RetentionPolicy, StorageType, StreamConfig as JsStreamConfig
    from nats.js.errors import NotFoundError
    try:
        await js.stream_info(cfg.stream)
    except NotFoundError:
        await js.add_stream(JsStreamConfig(name=cfg.stream, subjects=[cfg.subject], storage=StorageType.FILE,
                                           retention=RetentionPolicy.WORK_QUEUE))


class JetStreamPublisher:
    """A synchronous publisher for the API's worker threads (its own event loop in a thread)."""

    def __init__(self, url: str, cfg: StreamConfig = StreamConfig(), timeout: float = 10.0):
        self.url, self.cfg, self.timeout = url, cfg, timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="nats-publisher", daemon=True)
        self._thread.start()
        self._nc = self._js = None
        self._call(self._connect())

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(self.timeout)

    async def _connect(self):
        import nats
        self._nc = await nats.connect(self.url, connect_timeout=self.timeout, max_reconnect_attempts=-1)
        self._js = self._nc.jetstream()
        await _ensure_stream(self._js, self.cfg)

    def publish(self, message_id: str, check_visibility: bool = False) -> None:
        """Publish a kept message's id; returns once JetStream has stored it."""
        headers = {CHECK_HEADER: "1" if check_visibility else "0"}
        self._call(self._js.publish(self.cfg.subject, message_id.encode(), headers=headers))

    def close(self) -> None:
        try:
            self._call(self._nc.drain())
        except Exception:  # noqa: BLE001 - closing a broken connection
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def sender_rights(store: Store, party_id: str):
    """`allowed(event)` for a party's posting rights (None for the administrator or unknown)."""
    from ..access.visibility import posting_rights
    from ..store.parties import get_party, resolve_alias
    with store.read() as conn:
        party = get_party(conn, resolve_alias(conn, "party", party_id) or party_id) if party_id else None
        return None if party is None else posting_rights(conn, party)


def run_ingest_worker(store: Store, url: str, *, cfg: StreamConfig = StreamConfig(), batch: int = 20,
                      stop: threading.Event | None = None, sweep_after: float = 60.0,
                      idle_exit: float | None = None) -> int:
    """Consume raw message ids until `stop` is set (or idle for `idle_exit` s); returns messages processed.

    This is `corridor serve --role ingest`. Each message is processed in its own transaction and
    acknowledged only after it committed; a failure is negatively acknowledged and retried.
    """
    return asyncio.run(_work(store, url, cfg, batch, stop or threading.Event(), sweep_after, idle_exit))


async def _work(store, url, cfg, batch, stop, sweep_after, idle_exit) -> int:
    import nats
    from nats.errors import TimeoutError as NatsTimeout
    from nats.js.api import AckPolicy, ConsumerConfig

    from ..store import ingest as repo
    from .service import Ingestor

    ingestor = Ingestor(store)
    nc = await nats.connect(url, max_reconnect_attempts=-1)
    js = nc.jetstream()
    await _ensure_stream(js, cfg)
    sub = await js.pull_subscribe(cfg.subject, durable=cfg.durable, stream=cfg.stream,
                                  config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=cfg.ack_wait,
                                                        max_deliver=-1))
    loop = asyncio.get_running_loop()
    done, idle_since, last_sweep = 0, time.monotonic(), 0.0
    rights: dict[str, object] = {}
    try:
        while not stop.is_set():
            if time.monotonic() - last_sweep > sweep_after:
                last_sweep = time.monotonic()
                await _sweep(store, js, cfg, sweep_after)
            try:
                msgs = await sub.fetch(batch, timeout=1)
            except NatsTimeout:
                if idle_exit is not None and time.monotonic() - idle_since > idle_exit:
                    break
                continue
            idle_since = time.monotonic()
            for msg in msgs:
                mid = msg.data.decode()
                try:
                    allowed = None
                    if (msg.headers or {}).get(CHECK_HEADER) == "1":
                        with store.read() as conn:
                            raw = repo.get_raw(conn, mid)
                        party = raw.source_party if raw else ""
                        if party not in rights:
                            rights[party] = sender_rights(store, party)
                        allowed = rights[party]
                    # the store work is blocking: keep the event loop (and NATS heartbeats) free
                    await loop.run_in_executor(None, lambda: ingestor.process(mid, allowed, only_pending=True))
                except KeyError:
                    log.warning("raw message %s is not in the store; dropping its id", mid)
                except Exception:  # noqa: BLE001 - retried after a pause, never lost
                    log.exception("ingest of %s failed; it will be redelivered", mid)
                    await msg.nak(delay=5)
                    continue
                await msg.ack_sync()   # after commit: a crash before this line redelivers
                done += 1
    finally:
        await nc.close()
    return done


async def _sweep(store, js, cfg: StreamConfig, older_than: float) -> None:
    """Publish again the ids of messages kept as pending but never processed (lost publish)."""
    from ..store import ingest as repo
    cutoff = datetime.now(timezone.utc) - timedelta(seconds=older_than)
    with store.read() as conn:
        ids = repo.pending_raw(conn, limit=1000, received_before=cutoff)
    for mid in ids:
        await js.publish(cfg.subject, mid.encode(), headers={CHECK_HEADER: "1"})
    if ids:
        log.info("re-published %d pending raw messages", len(ids))
