"""Per-key rate limits (token bucket, in process) and request body caps."""

from __future__ import annotations

import threading
import time


class RateLimiter:
    """A token bucket per key: `per_minute` requests, refilled continuously.

    The key comes from the request before it is authenticated, so anyone can make new ones: past
    `max_keys` buckets, those refilled to capacity are dropped (a full bucket and a missing one
    limit alike), and the dict stays the size of the clients actually held back."""

    def __init__(self, per_minute: int, max_keys: int = 10_000):
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when the request may go ahead, else the seconds to wait (for Retry-After)."""
        now = time.monotonic()
        with self._lock:
            if len(self._buckets) >= self.max_keys and key not in self._buckets:
                self._drop_full(now)
            tokens, at = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - at) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate

    def _drop_full(self, now: float) -> None:
        full = [k for k, (tokens, at) in self._buckets.items() if tokens + (now - at) * self.rate >= self.capacity]
        for k in full:
            del self._buckets[k]
