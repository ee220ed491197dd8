"""Verified API keys kept per process, so a request does not re-read its key and party.

An entry is the (KeyInfo, Party) of a key that verified, stored under a SHA-256 of the full
presented key (never the key itself), per database (engine). A hit is used only when

- it is younger than `CORRIDOR_KEY_CACHE_SECONDS` (default 5; 0 turns the cache off), and
- the access generation read on the request's connection is the one the entry was read under:
  every key revocation (`keys.revoke`) and every party or alias change
  (`store.parties.registry_changed`, via `upsert_party`) renews it in its own transaction, so a
  change committed by any process, the CLI included, is seen on the next request; and
- the key's `expires_at` is still in the future (checked against the clock on every hit).

The TTL bounds only changes made behind the code's back (hand-written SQL on `api_keys`).
Refusals are never kept: an unknown, revoked or expired key is re-read on every attempt.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import weakref
from datetime import datetime, timezone

from sqlalchemy import Connection

from ..domain.parties import Party
from ..store.parties import REGISTRY_GENERATION, get_party
from .keys import ACCESS_GENERATION, KeyInfo, KeyRejected, verify

DEFAULT_SECONDS = 5.0
MAX_ENTRIES = 10_000   # presented keys kept per database; over it the cache starts again

_lock = threading.Lock()
# engine -> {sha256(key): (key id, generation, monotonic stamp, KeyInfo, Party)}
_caches: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def ttl_seconds() -> float:
    """How long a verified key is kept: CORRIDOR_KEY_CACHE_SECONDS (0 or less: not kept)."""
    try:
        return float(os.environ.get("CORRIDOR_KEY_CACHE_SECONDS", DEFAULT_SECONDS))
    except ValueError:
        return DEFAULT_SECONDS


def generation(conn: Connection) -> tuple:
    """The access generation: (registry generation, key generation), one indexed read."""
    pg = conn.dialect.name == "postgresql"
    sql = "SELECT key, value FROM meta_kv WHERE key IN " + ("(%s, %s)" if pg else "(?, ?)")
    # the DB-API connection under `conn`, in its transaction: no SQLAlchemy statement overhead
    rows = dict(conn.connection.driver_connection.execute(sql, (REGISTRY_GENERATION, ACCESS_GENERATION)).fetchall())
    return rows.get(REGISTRY_GENERATION), rows.get(ACCESS_GENERATION)


def verified(conn: Connection, key: str, now: datetime | None = None) -> tuple[KeyInfo, Party | None]:
    """(KeyInfo, Party or None) of a valid key, from the cache when it may be used; KeyRejected otherwise."""
    ttl = ttl_seconds()
    if ttl <= 0:
        info = verify(conn, key, now)
        return info, get_party(conn, info.party_id)
    digest = hashlib.sha256(key.encode()).digest()
    gen = generation(conn)   # read before the key: an entry only holds reads made after its generation
    with _lock:
        cache = _caches.get(conn.engine)
        hit = cache.get(digest) if cache is not None else None
    if hit is not None and hit[1] == gen and time.monotonic() - hit[2] < ttl:
        info, party = hit[3], hit[4]
        now = now or datetime.now(timezone.utc)
        if info.expires_at is not None and info.expires_at <= now:
            forget(conn.engine, digest=digest)
            raise KeyRejected("API key expired")
        return info, party
    info = verify(conn, key, now)
    party = get_party(conn, info.party_id)
    if party is not None:
        with _lock:
            cache = _caches.setdefault(conn.engine, {})
            if len(cache) >= MAX_ENTRIES:
                cache.clear()
            cache[digest] = (info.key_id, gen, time.monotonic(), info, party)
    return info, party


def known(engine, key: str) -> str | None:
    """The key id of `key` when it verified in this process within the TTL, else None; no store
    read. Only for deciding cheaply which rate-limit bucket a request would draw on: the request
    is still authenticated by `verified`."""
    ttl = ttl_seconds()
    if ttl <= 0:
        return None
    digest = hashlib.sha256(key.encode()).digest()
    with _lock:
        cache = _caches.get(engine)
        hit = cache.get(digest) if cache is not None else None
    return hit[0] if hit is not None and time.monotonic() - hit[2] < ttl else None


def forget(engine=None, *, key_id: str | None = None, party_id: str | None = None,
           digest: bytes | None = None) -> None:
    """Drop kept keys: one entry, a key id's or a party's entries, or (no filter) all of them;
    of one database (engine) or of every one."""
    with _lock:
        caches = [_caches.get(engine)] if engine is not None else list(_caches.values())
        for cache in filter(None, caches):
            if key_id is None and party_id is None and digest is None:
                cache.clear()
                continue
            for d, entry in list(cache.items()):
                if d == digest or entry[0] == key_id or entry[3].party_id == party_id:
                    del cache[d]
