"""Webhook delivery from the outbox: signed DCSA callbacks, in order per subscription.

Each attempt posts the oldest pending events of one subscription as one JSON array, signed
`Notification-Signature: sha256=<hex>` (HMAC-SHA256 of the raw body with the subscription's key).
Failures back off exponentially (2 s doubling up to MAX_BACKOFF_S, dead after MAX_ATTEMPTS),
honour `Retry-After` on 429/503 (seconds or an HTTP date, within the same cap), halve the bundle on
413, never follow redirects, and every attempt is logged in `deliveries`. One subscription's
failure, of any kind, is recorded and backed off for that subscription only. Nothing is skipped:
a later event is never sent before an earlier one of the same subscription. A callback host that
resolves to a non-public address is not posted to (the attempt fails with the reason and backs
off), unless the installation allows private receivers (CORRIDOR_WEBHOOK_ALLOW_PRIVATE): access/callbacks.py.
The receiver's contract: docs/api.md, "Webhooks".
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import threading
import time
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

import httpx
from sqlalchemy import func, insert, select, update

from ..access import callbacks
from ..store.events import row_to_event
from ..store.tables import deliveries, events, outbox, subscriptions
from ..store.tracking import departure_services
from .dcsa_out import departures_to_name, place_names, to_dcsa_22
from .outbox import event_uuid

log = logging.getLogger("corridor.webhooks")
API_VERSION = "2.2.0"
BUNDLE = 100
BASE_BACKOFF_S = 2.0
MAX_BACKOFF_S = 3600.0
MAX_ATTEMPTS = 200          # about a week at the maximum back-off before a row is marked dead


def sign(secret: bytes, body: bytes) -> str:
    """The Notification-Signature header value for `body`."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secret: bytes, body: bytes, header: str) -> bool:
    """True when `header` is the right signature of `body` (constant-time)."""
    return hmac.compare_digest(sign(secret, body), (header or "").strip())


def retry_after(value: str | None, now: datetime, cap: float = MAX_BACKOFF_S) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), at most `cap`.

    None (the usual back-off applies) for a missing, negative, NaN, infinite or unreadable value.
    The header is the receiver's to write: `1e12` overflowed the next-attempt time and stopped
    every subscription's delivery, `99999999999` parked one until the year 5195."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        secs = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
            if when.tzinfo is None:     # "-0000": HTTP dates are in GMT
                when = when.replace(tzinfo=timezone.utc)
            secs = max(0.0, (when - now).total_seconds())   # a date gone by: retry now
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if not math.isfinite(secs) or secs < 0:
        return None
    return min(float(cap), secs)


def body_of(rows, corridor_format: bool, services: dict | None = None, names: dict | None = None) -> bytes:
    """The callback body: a JSON array of DCSA 2.2 events (or Corridor events) in sequence order.

    `services`: departure id -> service, for calls that name none (`dcsa_out.departures_to_name`);
    `names`: `dcsa_out.place_names`."""
    items, services = [], services or {}
    for r in rows:
        e = row_to_event(r)
        if corridor_format:
            from .timeline import event_json
            items.append(event_json(r.seq, e, r.received_at))
        else:
            items.append(to_dcsa_22(e, event_uuid(r.seq), r.received_at,
                                    departure_service=services.get(r.departure_id), names=names))
    return json.dumps(items, separators=(",", ":"), ensure_ascii=False).encode()


class Deliverer:
    """The delivery worker over one store; `run_once` is one pass, `start` runs it in a thread."""

    def __init__(self, store, *, client: httpx.Client | None = None, bundle: int = BUNDLE,
                 base_backoff_s: float = BASE_BACKOFF_S, max_backoff_s: float = MAX_BACKOFF_S,
                 timeout_s: float = 10.0, allow_private: bool | None = None):
        """`allow_private`: deliver to loopback, private and link-local hosts too (default: the
        installation's CORRIDOR_WEBHOOK_ALLOW_PRIVATE)."""
        if allow_private is None:
            from ..settings import get_settings
            allow_private = get_settings().webhook_allow_private
        self.allow_private = allow_private
        self.store = store
        self.client = client or httpx.Client(follow_redirects=False, timeout=timeout_s)
        self.bundle, self.base, self.cap = bundle, base_backoff_s, max_backoff_s
        self._size: dict[str, int] = {}     # current bundle size per subscription (halved on 413)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self, now: datetime | None = None) -> int:
        """Try every subscription whose oldest pending row is due; returns events delivered."""
        now = now or datetime.now(timezone.utc)
        with self.store.read() as conn:
            heads = conn.execute(select(outbox.c.subscription_id, func.min(outbox.c.id).label("head"))
                                 .where(outbox.c.status == "pending").group_by(outbox.c.subscription_id)).all()
            due = []
            for sid, head in heads:
                nxt = conn.execute(select(outbox.c.next_attempt_at).where(outbox.c.id == head)).scalar_one()
                if nxt <= now:
                    due.append(sid)
        delivered = 0
        for sid in due:
            # one subscription's failure is its own: logged, recorded in its delivery log and
            # backed off; the others are still delivered in this pass
            try:
                delivered += self._deliver(sid, now)
            except Exception as e:  # noqa: BLE001 - any failure preparing or posting one bundle
                log.exception("delivery to %s failed", sid)
                self._record_failure(sid, now, f"{e.__class__.__name__}: {e}")
        return delivered

    def _record_failure(self, sid: str, now: datetime, err: str) -> None:
        """Log an attempt that failed inside Corridor and back off the subscription's head rows."""
        try:
            with self.store.tx() as conn:
                pend = conn.execute(select(outbox.c.id, outbox.c.attempts)
                                    .where(outbox.c.subscription_id == sid, outbox.c.status == "pending")
                                    .order_by(outbox.c.id).limit(self._size.get(sid, self.bundle))).all()
                if not pend:
                    return
                conn.execute(insert(deliveries).values(subscription_id=sid, attempted_at=now, events=len(pend),
                                                       status_code=None, error=err[:2000], duration_ms=0.0))
                self._back_off(conn, [p.id for p in pend], pend[0].attempts + 1, err[:2000], now, None)
        except Exception:  # noqa: BLE001 - the store itself failing: the next pass tries again
            log.exception("could not record the failed delivery to %s", sid)

    def _back_off(self, conn, ids: list[int], attempts: int, err: str, now: datetime, wait: float | None) -> float:
        """Schedule the next attempt of rows `ids` (dead after MAX_ATTEMPTS); returns the delay.

        A receiver's Retry-After replaces the exponential back-off, within [base, cap]."""
        delay = min(self.cap, max(self.base, wait)) if wait is not None \
            else min(self.cap, self.base * 2 ** min(attempts - 1, 64))
        status = "dead" if attempts >= MAX_ATTEMPTS else "pending"
        conn.execute(update(outbox).where(outbox.c.id.in_(ids)).values(
            attempts=outbox.c.attempts + 1, last_error=err, status=status,
            next_attempt_at=now + timedelta(seconds=delay)))
        return delay

    def _deliver(self, sid: str, now: datetime) -> int:
        size = self._size.get(sid, self.bundle)
        with self.store.read() as conn:
            sub = conn.execute(select(subscriptions).where(subscriptions.c.id == sid)).first()
            if sub is None or not sub.active:
                return 0
            pend = conn.execute(select(outbox.c.id, outbox.c.event_seq, outbox.c.attempts)
                                .where(outbox.c.subscription_id == sid, outbox.c.status == "pending")
                                .order_by(outbox.c.id).limit(size)).all()
            if not pend:
                return 0
            rows = conn.execute(select(events).where(events.c.seq.in_([p.event_seq for p in pend]))).all()
            corridor_format = (sub.filters or {}).get("format") == "corridor"
            services = {} if corridor_format else departure_services(conn, departures_to_name(rows))
            names = {} if corridor_format else place_names(conn)
        by_seq = {r.seq: r for r in rows}
        rows = [by_seq[p.event_seq] for p in pend if p.event_seq in by_seq]
        body = body_of(rows, corridor_format, services, names)
        headers = {"Content-Type": "application/json", "Notification-Signature": sign(bytes(sub.secret), body),
                   "Subscription-ID": sid, "API-Version": API_VERSION}
        t0 = time.perf_counter()
        code, err, wait = None, None, None
        try:
            # checked again now (DNS may have changed since the subscription was made) and posted
            # to the address checked, not to a second look-up's
            to = callbacks.target(sub.callback_url, self.allow_private)
            resp = self.client.post(to.url, content=body, headers=headers | to.headers, extensions=to.extensions)
            code = resp.status_code
            if 300 <= code < 400:
                err = f"redirect to {resp.headers.get('location', '?')} not followed"
            elif code in (429, 503):
                wait = retry_after(resp.headers.get("Retry-After"), now, self.cap)
                err = f"HTTP {code}"
            elif code >= 400:
                err = f"HTTP {code}"
        except callbacks.CallbackRefused as e:
            err = f"not delivered: {e}"
        except httpx.HTTPError as e:
            err = f"{e.__class__.__name__}: {e}"
        ms = (time.perf_counter() - t0) * 1000
        ids = [p.id for p in pend]
        with self.store.tx() as conn:
            conn.execute(insert(deliveries).values(subscription_id=sid, attempted_at=now, events=len(ids),
                                                   status_code=code, error=err, duration_ms=ms))
            if err is None:
                conn.execute(update(outbox).where(outbox.c.id.in_(ids)).values(status="delivered", last_error=None))
                self._size[sid] = min(self.bundle, size * 2)
                return len(ids)
            if code == 413 and size > 1:
                # too large for the receiver: retry at once with half the bundle
                self._size[sid] = max(1, size // 2)
                conn.execute(update(outbox).where(outbox.c.id.in_(ids)).values(last_error=err))
                return 0
            delay = self._back_off(conn, ids, pend[0].attempts + 1, err, now, wait)
        log.info("delivery to %s failed (%s); next in %.1fs", sid, err, delay)
        return 0

    def start(self, interval_s: float = 0.5) -> threading.Thread:
        """Run passes every `interval_s` in a daemon thread until `stop()`."""
        def loop():
            while not self._stop.is_set():
                try:
                    self.run_once()
                except Exception:   # noqa: BLE001 - the worker must outlive one bad pass
                    log.exception("delivery pass failed")
                self._stop.wait(interval_s)
        self._thread = threading.Thread(target=loop, name="corridor-webhooks", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
