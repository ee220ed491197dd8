"""Rate limits (token bucket, in process): one bucket per authenticated API key, one per client
address for requests that present no valid key (docs/access.md, "Rate limits")."""

from __future__ import annotations

import ipaddress
import threading
import time


def key_bucket(key_id: str) -> str:
    """The bucket of an authenticated key: only a request whose secret verified draws on it."""
    return f"key:{key_id}"


def address_bucket(host: str | None) -> str:
    """The bucket of a client address, for requests without a valid key (pages, failed
    authentications). An IPv6 client is counted by its /64: one host holds a whole /64 and could
    otherwise draw a fresh address, and so a fresh bucket, for every request."""
    if not host:
        return "addr:unknown"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return f"addr:{host}"
    if ip.version == 6:
        if ip.ipv4_mapped is not None:   # ::ffff:a.b.c.d is the IPv4 client a.b.c.d
            return f"addr:{ip.ipv4_mapped}"
        return f"addr:{ipaddress.ip_network(f'{ip}/64', strict=False)}"
    return f"addr:{ip}"


class RateLimiter:
    """A token bucket per name: `per_minute` requests, refilled continuously.

    Past `max_keys` buckets, those refilled to capacity are dropped (a full bucket and a missing
    one limit alike), so the dict stays the size of the clients actually held back."""

    def __init__(self, per_minute: int, max_keys: int = 10_000):
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when the request may go ahead (a token is taken), else the seconds to wait (for Retry-After)."""
        now = time.monotonic()
        with self._lock:
            if len(self._buckets) >= self.max_keys and key not in self._buckets:
                self._drop_full(now)
            tokens = self._tokens(key, now)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate

    def wait(self, key: str) -> float:
        """What `take` would answer, without taking: 0 while a token is left, else the seconds to wait.
        Lets the edge refuse a spent bucket before any store read."""
        now = time.monotonic()
        with self._lock:
            tokens = self._tokens(key, now)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def _tokens(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (self.capacity, now))
        return min(self.capacity, tokens + (now - at) * self.rate)

    def _drop_full(self, now: float) -> None:
        full = [k for k, (tokens, at) in self._buckets.items() if tokens + (now - at) * self.rate >= self.capacity]
        for k in full:
            del self._buckets[k]
