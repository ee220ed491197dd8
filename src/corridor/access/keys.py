"""API keys: 'cor_<id>_<secret>', stored as a SHA-256 of the secret, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..store.tables import api_keys, meta_kv

PREFIX = "cor_"
# What a key may do (docs/access.md, "API keys, scopes and rate limits"): 'read' every read
# endpoint (GETs, quotes, the stream); 'post' sending data only (events, messages, positions,
# notices, quarantine replay), for a gateway that must not book; 'write' all 'post' allows,
# webhook subscriptions and bookings; 'admin' everything, the administrator's endpoints included
# (on a key of the administrator party).
SCOPES = ("read", "post", "write", "admin")
# meta_kv key renewed by every revocation, so each process's kept keys (access.keycache) are
# re-read on the next request; a random value for the reason given at store.parties.registry_changed
ACCESS_GENERATION = "access_generation"


@dataclass(frozen=True)
class KeyInfo:
    """What a verified key grants: its party and scopes."""

    key_id: str
    party_id: str
    scopes: tuple[str, ...]
    label: str
    expires_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime


def grants(scopes, scope: str) -> bool:
    """Whether a key with `scopes` may do what `scope` allows ('admin' allows everything, 'write'
    all that 'post' does)."""
    return scope in scopes or "admin" in scopes or (scope == "post" and "write" in scopes)


def check_scopes(scopes) -> tuple[str, ...]:
    """The scopes of a new key, deduplicated in SCOPES order; ValueError for an unknown one or none."""
    bad = sorted(set(scopes) - set(SCOPES))
    if bad:
        raise ValueError(f"unknown scopes {bad}; use {', '.join(SCOPES)}")
    if not scopes:
        raise ValueError(f"a key needs at least one scope ({', '.join(SCOPES)}): one without any could do nothing")
    return tuple(s for s in SCOPES if s in scopes)


def check_expiry(expires_at: datetime | None, now: datetime | None = None) -> datetime | None:
    """The expiry of a new key in UTC; ValueError when it has no UTC offset (its instant would be
    a guess) or is not in the future (the key would be refused from its first use)."""
    if expires_at is None:
        return None
    if expires_at.tzinfo is None or expires_at.utcoffset() is None:
        raise ValueError(f"expires_at {expires_at.isoformat()} has no UTC offset; "
                         "give one, e.g. 2027-01-01T00:00:00Z")
    expires_at = expires_at.astimezone(timezone.utc)
    if expires_at <= (now or datetime.now(timezone.utc)):
        raise ValueError(f"expires_at {expires_at.isoformat()} is not in the future")
    return expires_at


class KeyRejected(Exception):
    """Why a presented key does not authenticate (missing, malformed, unknown, expired, revoked)."""


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split(key: str) -> tuple[str, str]:
    """(key id, secret) of a presented key, or KeyRejected for a malformed one."""
    if not key or not key.startswith(PREFIX):
        raise KeyRejected("malformed API key")
    body = key[len(PREFIX):]
    key_id, sep, secret = body.partition("_")
    if not sep or not key_id or len(secret) < 16:
        raise KeyRejected("malformed API key")
    return key_id, secret


def create_key(conn: Connection, party_id: str, *, scopes=("read", "write"), label: str = "",
               expires_at: datetime | None = None, key: str | None = None) -> str:
    """Create a key for a party and return it in full: the only time it is ever shown."""
    if key is None:
        key = f"{PREFIX}{secrets.token_hex(6)}_{secrets.token_urlsafe(24)}"
    key_id, secret = split(key)
    conn.execute(insert(api_keys).values(
        id=key_id, party_id=party_id, secret_hash=_hash(secret), label=label, scopes=list(scopes),
        created_at=datetime.now(timezone.utc), expires_at=expires_at))
    return key


def verify(conn: Connection, key: str, now: datetime | None = None) -> KeyInfo:
    """The KeyInfo of a valid key; KeyRejected with the reason otherwise."""
    key_id, secret = split(key)
    r = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
    # compare even when unknown so timing does not reveal which key ids exist
    expected = r.secret_hash if r else _hash("x" * 32)
    if not hmac.compare_digest(expected, _hash(secret)) or r is None:
        raise KeyRejected("unknown API key")
    now = now or datetime.now(timezone.utc)
    if r.revoked_at is not None:
        raise KeyRejected("API key revoked")
    if r.expires_at is not None and r.expires_at <= now:
        raise KeyRejected("API key expired")
    return KeyInfo(r.id, r.party_id, tuple(r.scopes), r.label, r.expires_at, r.revoked_at, r.created_at)


def list_keys(conn: Connection, party_id: str | None = None) -> list[KeyInfo]:
    """Keys (never their secrets), newest first."""
    q = select(api_keys).order_by(api_keys.c.created_at.desc())
    if party_id:
        q = q.where(api_keys.c.party_id == party_id)
    return [KeyInfo(r.id, r.party_id, tuple(r.scopes), r.label, r.expires_at, r.revoked_at, r.created_at)
            for r in conn.execute(q).all()]


def revoke(conn: Connection, key_id: str) -> bool:
    """Revoke a key by id; False when there is no such active key.

    Refused from the next request on, in every process: the access generation is renewed in the
    same transaction, and this process's kept copy is dropped at once."""
    res = conn.execute(update(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                       .values(revoked_at=datetime.now(timezone.utc)))
    if res.rowcount != 1:
        return False
    token = secrets.token_hex(16)
    ins = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(meta_kv)
    conn.execute(ins.values(key=ACCESS_GENERATION, value=token)
                 .on_conflict_do_update(index_elements=["key"], set_={"value": token}))
    from .keycache import forget
    forget(conn.engine, key_id=key_id)
    return True
