"""The per-key token bucket: requests beyond the rate wait, and keys anyone can invent do not
pile up in memory."""

from __future__ import annotations

import pytest

from corridor.access import limits
from corridor.access.limits import RateLimiter


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(limits.time, "monotonic", lambda: now[0])
    return now


def test_a_key_past_its_rate_waits_for_the_next_token(clock):
    rl = RateLimiter(per_minute=2)
    assert rl.take("a") == 0 and rl.take("a") == 0
    assert rl.take("a") == pytest.approx(30.0)          # one token a 30 s
    assert rl.take("b") == 0                            # another key has its own bucket
    clock[0] += 30
    assert rl.take("a") == 0


def test_buckets_refilled_to_capacity_are_dropped_when_invented_keys_pile_up(clock):
    rl = RateLimiter(per_minute=60, max_keys=100)
    rl.take("busy")
    for _ in range(60):
        rl.take("busy")                                 # emptied: it is holding its client back
    for i in range(5000):                               # one request each from made-up keys
        rl.take(f"k{i}")
        clock[0] += 0.1
    assert len(rl._buckets) <= 100
    assert "busy" not in rl._buckets or rl.take("busy") == 0   # refilled by now: dropping it changed nothing
    held = RateLimiter(per_minute=60, max_keys=3)
    for _ in range(61):
        held.take("busy")
    for k in ("x", "y", "z", "w"):
        held.take(k)
    assert held.take("busy") > 0                         # a bucket still holding back is never dropped
