"""Persistence of parties (organisations) and the alias registry of outside codes."""

from __future__ import annotations

import unicodedata
import uuid
from datetime import datetime, timezone

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..domain.parties import Party, Role
from .tables import aliases, meta_kv, parties

# meta_kv key of the registry generation: a fresh random value on every alias or party change,
# so each process's cache of look-ups (store.ingest.Registry) knows it must read again
REGISTRY_GENERATION = "registry_generation"


def fold(value: str) -> str:
    """Alias lookup form: case-, accent- and space-insensitive."""
    norm = unicodedata.normalize("NFKD", value or "")
    return " ".join("".join(c for c in norm if not unicodedata.combining(c)).casefold().split())


def upsert_party(conn: Connection, p: Party) -> None:
    """Create or replace a party."""
    values = dict(name=p.name, roles=sorted(r.value for r in p.roles), country=p.country,
                  facilities=sorted(p.facilities), services=sorted(p.services), edi_ids=list(p.edi_ids))
    # update in place: keys, bookings and audit rows refer to the party
    if conn.execute(update(parties).where(parties.c.id == p.id).values(**values)).rowcount == 0:
        conn.execute(insert(parties).values(id=p.id, created_at=datetime.now(timezone.utc), **values))
    for edi in p.edi_ids:
        set_alias(conn, "party", edi, p.id, note="EDIFACT interchange id")
    registry_changed(conn)   # a new party id is a sender the ingest path may now resolve


def _party(r) -> Party:
    return Party(id=r.id, name=r.name, roles=frozenset(Role(x) for x in r.roles), country=r.country,
                 facilities=frozenset(r.facilities), services=frozenset(r.services), edi_ids=tuple(r.edi_ids))


def get_party(conn: Connection, party_id: str) -> Party | None:
    r = conn.execute(select(parties).where(parties.c.id == party_id)).first()
    return _party(r) if r else None


def list_parties(conn: Connection) -> list[Party]:
    return [_party(r) for r in conn.execute(select(parties).order_by(parties.c.id)).all()]


def set_alias(conn: Connection, kind: str, value: str, target: str, note: str = "") -> None:
    """Map an outside code or spelling (`kind`: party | location | operator) to a Corridor id."""
    key = fold(value)
    conn.execute(delete(aliases).where(aliases.c.kind == kind, aliases.c.value == key))
    conn.execute(insert(aliases).values(kind=kind, value=key, target=target, note=note))
    registry_changed(conn)


def registry_changed(conn: Connection) -> None:
    """Mark the alias registry and the parties changed, in the same transaction as the change.

    A random value, not a counter: a database copied or re-created from a template can never
    present an old generation with new contents.
    """
    token = uuid.uuid4().hex
    ins = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(meta_kv)
    conn.execute(ins.values(key=REGISTRY_GENERATION, value=token)
                 .on_conflict_do_update(index_elements=["key"], set_={"value": token}))


def registry_generation(conn: Connection) -> str | None:
    """The current registry generation (None before any alias or party was saved)."""
    return conn.execute(select(meta_kv.c.value).where(meta_kv.c.key == REGISTRY_GENERATION)).scalar()


def resolve_alias(conn: Connection, kind: str, value: str) -> str | None:
    """The Corridor id an outside code stands for, or None when unknown."""
    return conn.execute(select(aliases.c.target).where(aliases.c.kind == kind, aliases.c.value == fold(value))
                        ).scalar()


def all_aliases(conn: Connection, kind: str | None = None) -> list[tuple[str, str, str, str]]:
    q = select(aliases).order_by(aliases.c.kind, aliases.c.value)
    if kind:
        q = q.where(aliases.c.kind == kind)
    return [(r.kind, r.value, r.target, r.note) for r in conn.execute(q).all()]
