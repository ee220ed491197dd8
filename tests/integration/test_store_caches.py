"""What a process keeps per store goes with the store: a disposed store leaves no entry in the
caches keyed by its URL (a loaded store's ETA timetable alone is some 110 MB; the suite, a store per
test, grew to 18 GB while they were kept)."""

from __future__ import annotations

from datetime import datetime, timezone

from corridor.store import Store
from corridor.store import tracking as st
from corridor.tracking import alerts, eta, hooks


def _held(keys: set[str]) -> dict[str, list]:
    """The entries under `keys` in each cache kept per store URL."""
    out = {name: [k for k in keys if k in cache] for name, cache in
           (("alerts._MOVES", alerts._MOVES), ("hooks._SAID", hooks._SAID), ("eta._TIMETABLES", eta._TIMETABLES),
            ("eta._PLACES", eta._PLACES), ("eta._HISTORY", eta._HISTORY))}
    out["store.tracking._CACHE"] = [k for k in st._CACHE if k[0] in keys]
    return out


def test_a_disposed_store_leaves_nothing_in_the_caches_kept_per_store(loaded_store):
    other = Store(loaded_store.url)   # the fixture's store stays open: only `other` is disposed here
    keys = other.cache_keys()
    try:
        # a sweep reads the ETA's history, places and timetable and keeps the expected moves
        hooks.sweep(other, datetime(2026, 3, 1, tzinfo=timezone.utc))
        held = _held(keys)
        assert held["alerts._MOVES"] and held["hooks._SAID"] and held["eta._TIMETABLES"] and held["eta._HISTORY"]
    finally:
        other.dispose()
    assert _held(keys) == {name: [] for name in held}


def test_cache_keys_name_the_url_as_given_and_as_the_engine_spells_it(loaded_store):
    keys = loaded_store.cache_keys()
    assert loaded_store.url in keys
    assert loaded_store.engine.url.render_as_string(hide_password=True) in keys
    assert str(loaded_store.engine.url) in keys
