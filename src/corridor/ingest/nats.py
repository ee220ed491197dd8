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
    max_deliver: int = 5            # deliveries of one message that fail before it is quarantined
    retry_delay: float = 5.0        # seconds before a failed message is delivered again


async def _ensure_stream(js, cfg: StreamConfig) -> None:
    from nats.js.api import RetentionPolicy, StorageType, StreamConfig as JsStreamConfig
    from nats.js.errors import NotFoundError
    try:
        await js.stream_info(cfg.stream)
    except NotFoundError:
        await js.add_stream(JsStreamConfig(name=cfg.stream, subjects=[cfg.subject], storage=StorageType.FILE,
                                           retention=RetentionPolicy.WORK_QUEUE))


class PublishDeferred(ConnectionError):
    """JetStream did not take a message id now (unreachable, or no answer in time). The message
    is kept as pending all the same: the ingest workers' sweep publishes it once NATS is back."""


class JetStreamPublisher:
    """A synchronous publisher for the API's worker threads: one event loop in one thread for the
    publisher's whole life, however often NATS goes away.

    The connection is made on that loop and kept by the client, which reconnects by itself; the
    first attempt never blocks a caller longer than `connect_timeout`. While NATS is unreachable
    `publish` fails at once with PublishDeferred instead of waiting for an answer that cannot come.
    `wait`: the constructor waits for the first attempt and raises ConnectionError (closing what it
    started: no thread or loop is left behind) when it failed; the API passes False, so a broker
    that is down costs no request its time.
    """

    def __init__(self, url: str, cfg: StreamConfig = StreamConfig(), timeout: float = 5.0, *,
                 connect_timeout: float = 2.0, wait: bool = True):
        from nats.aio.client import Client
        self.url, self.cfg, self.timeout, self.connect_timeout = url, cfg, timeout, connect_timeout
        self._nc = Client()
        self._js = self._nc.jetstream()
        self._stream_ready = False
        self._error: BaseException | None = None
        self._tried = threading.Event()      # the first connection attempt is over (either way)
        self._closed = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="nats-publisher", daemon=True)
        self._thread.start()
        self._connecting = asyncio.run_coroutine_threadsafe(self._connect(), self._loop)
        if wait and not (self._tried.wait(connect_timeout + 1.0) and self.connected):
            why = self._why()
            self.close()
            raise ConnectionError(why)

    @property
    def connected(self) -> bool:
        return self._nc.is_connected

    def _why(self) -> str:
        return f"NATS not reachable at {self.url}" + (f": {self._error}" if self._error else "")

    async def _connect(self) -> None:
        async def failed(e: Exception) -> None:
            # the client's error callback: each failed (re)connection attempt comes here
            if not self._tried.is_set() or type(e) is not type(self._error):
                log.warning("NATS at %s: %s", self.url, e or type(e).__name__)
            self._error = e
            self._tried.set()

        try:
            # never gives up (max_reconnect_attempts=-1): it returns once a server answers
            await self._nc.connect(self.url, connect_timeout=self.connect_timeout, reconnect_time_wait=1,
                                   max_reconnect_attempts=-1, error_cb=failed, name="corridor-api")
            self._error = None
            await self._ensure()
        except Exception as e:  # noqa: BLE001 - publish reports it
            self._error = e
        finally:
            self._tried.set()

    async def _ensure(self) -> None:
        if not self._stream_ready:
            await _ensure_stream(self._js, self.cfg)
            self._stream_ready = True

    async def _publish(self, message_id: str, headers: dict) -> None:
        await self._ensure()
        await self._js.publish(self.cfg.subject, message_id.encode(), headers=headers, timeout=self.timeout)

    def publish(self, message_id: str, check_visibility: bool = False) -> None:
        """Publish a kept message's id; returns once JetStream has stored it, else raises
        PublishDeferred (at once while NATS is unreachable)."""
        if self._closed:
            raise PublishDeferred("the NATS publisher is closed")
        self._tried.wait(self.connect_timeout + 1.0)
        if not self.connected:
            raise PublishDeferred(self._why())
        headers = {CHECK_HEADER: "1" if check_visibility else "0"}
        fut = asyncio.run_coroutine_threadsafe(self._publish(message_id, headers), self._loop)
        try:
            fut.result(self.timeout + 1.0)
        except Exception as e:
            fut.cancel()
            raise PublishDeferred(f"JetStream did not acknowledge {message_id} ({type(e).__name__}: {e})") from e

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True

        async def shut():
            self._connecting.cancel()   # still connecting: stop trying
            try:
                if self._nc.is_connected:
                    await asyncio.wait_for(self._nc.drain(), 5)
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass
            try:
                await self._nc.close()
            except Exception:  # noqa: BLE001
                pass

        try:
            asyncio.run_coroutine_threadsafe(shut(), self._loop).result(10)
        except Exception:  # noqa: BLE001 - the loop is stopped below all the same
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()


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
                                  # deliveries are counted here (cfg.max_deliver), not capped by JetStream:
                                  # a capped message would lie parked, and only the worker that sees its
                                  # last failure can quarantine it with the reason
                                  config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=cfg.ack_wait,
                                                        max_deliver=-1))
    from ..access.keycache import generation as access_generation
    from .mqtt import MAX_SENDERS

    loop = asyncio.get_running_loop()
    done, idle_since, last_sweep = 0, time.monotonic(), 0.0
    # party -> posting rights, read under the registry/access generation `held` (as the MQTT
    # consumer keeps them): a facility taken from a party counts from its next message
    rights: dict[str, object] = {}
    held = None
    try:
        while not stop.is_set():
            if time.monotonic() - last_sweep > sweep_after:
                last_sweep = time.monotonic()
                await _sweep(store, js, cfg, sweep_after)
            try:
                msgs = await sub.fetch(batch, timeout=1)
            except (NatsTimeout, asyncio.TimeoutError):   # nats-py also raises the plain one when its deadline ran out
                if idle_exit is not None and time.monotonic() - idle_since > idle_exit:
                    break
                continue
            idle_since = time.monotonic()
            for msg in msgs:
                mid = msg.data.decode()
                tries = _deliveries(msg)
                try:
                    allowed = None
                    if (msg.headers or {}).get(CHECK_HEADER) == "1":
                        with store.read() as conn:
                            now = access_generation(conn)   # before the rights: they are read under it
                            raw = repo.raw_sender(conn, mid)
                        party = raw.source_party if raw else ""
                        if now != held or (party not in rights and len(rights) >= MAX_SENDERS):
                            rights, held = {}, now
                        if party not in rights:
                            rights[party] = sender_rights(store, party)
                        allowed = rights[party]
                    # the store work is blocking: keep the event loop (and NATS heartbeats) free
                    await loop.run_in_executor(None, lambda: ingestor.process(mid, allowed, only_pending=True))
                except KeyError:
                    log.warning("raw message %s is not in the store; dropping its id", mid)
                except Exception as e:  # noqa: BLE001 - retried after a pause, then quarantined: never lost
                    if not await loop.run_in_executor(None, store.is_reachable):
                        # the store is down, not the message at fault: never counted against it; no
                        # more is taken until the store answers again
                        log.warning("ingest of %s failed with the store unreachable (%s); waiting for it", mid, e)
                        await msg.nak(delay=cfg.retry_delay)
                        while not stop.is_set() and not await loop.run_in_executor(None, store.is_reachable):
                            await asyncio.sleep(1.0)
                        continue
                    if tries < cfg.max_deliver:
                        log.exception("ingest of %s failed (delivery %d of %d); it will be redelivered",
                                      mid, tries, cfg.max_deliver)
                        await msg.nak(delay=cfg.retry_delay)
                        continue
                    # the same failure every time must not come back forever: kept, quarantined with it
                    log.exception("ingest of %s failed %d times; quarantined", mid, tries)
                    why = f"{type(e).__name__}: {e}".strip()[:2000]
                    try:
                        await loop.run_in_executor(None, _give_up, store, mid, (
                            f"processing failed {tries} times, last with {why}; replay it once the cause is fixed"))
                    except Exception:  # noqa: BLE001 - the store itself is failing: try again later
                        log.exception("could not quarantine %s; it will be redelivered", mid)
                        await msg.nak(delay=cfg.retry_delay)
                        continue
                await msg.ack_sync()   # after commit: a crash before this line redelivers
                done += 1
    finally:
        await nc.close()
    return done


def _deliveries(msg) -> int:
    """How often JetStream delivered this message (1 the first time)."""
    try:
        return int(msg.metadata.num_delivered)
    except Exception:  # noqa: BLE001 - not a JetStream delivery (no metadata): count it as the first
        return 1


def _give_up(store: Store, mid: str, reason: str) -> None:
    """Quarantine a kept message that processing cannot get through, with `reason`; its status leaves
    'pending', so the sweep does not publish it again. A replay takes it up and resolves the entry."""
    from ..store import ingest as repo
    with store.tx() as conn:
        raw = repo.get_raw(conn, mid)
        if raw is None or raw.status != "pending":
            return   # gone, or processed meanwhile by another worker
        repo.quarantine_add(conn, [{"message_id": mid, "kind": "failed", "format": raw.format,
                                    "source_party": raw.source_party or "", "reason": reason,
                                    "detail": {"fix": "replay the message (POST /api/v1/quarantine/{id}/replay)"},
                                    "status": "open", "attempts": 0,
                                    "created_at": datetime.now(timezone.utc)}])
        # the whole message is one record held back: the senders' data quality (quarantine rate)
        # counts it, as it counts a message quarantined at its first processing
        repo.finish_raw(conn, mid, status="quarantined", stored=0, duplicates=0, rejected=1)


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
