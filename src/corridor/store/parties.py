"""Persistence of parties (organisations) and the alias registry of outside codes."""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import datetime, timezone

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..domain.errors import DomainError
from ..domain.parties import Party, Role
from .tables import aliases, meta_kv, parties

# meta_kv key of the registry generation: a fresh random value on every alias or party change,
# so each process's cache of look-ups (store.ingest.Registry) knows it must read again
REGISTRY_GENERATION = "registry_generation"


def fold(value: str) -> str:
    """Alias lookup form: case-, accent- and space-insensitive."""
    norm = unicodedata.normalize("NFKD", value or "")
    return " ".join("".join(c for c in norm if not unicodedata.combining(c)).casefold().split())


# What a party may be called: the API's schema (api.access.PartyIn) and the command line both use these
PARTY_ID_PATTERN = r"^[A-Z0-9][A-Z0-9_-]{1,39}$"
COUNTRY_PATTERN = r"^[A-Z]{2}$"


class InvalidParty(DomainError):
    """A party whose id, name, country or EDIFACT ids are not well-formed."""


class AliasConflict(DomainError):
    """An outside code that already stands for something else; `existing` is what it stands for.
    `replaceable` says whether `replace=True` may point it elsewhere (a registry entry may be
    re-pointed; a network's own code, id or name, or another party's id, never)."""

    def __init__(self, message: str, existing: str, replaceable: bool):
        super().__init__(message)
        self.existing, self.replaceable = existing, replaceable


def check_party(p: Party) -> None:
    """Raise InvalidParty unless the party's fields are well-formed (ids, name, country)."""
    if not re.fullmatch(PARTY_ID_PATTERN, p.id or ""):
        raise InvalidParty(f"party id {p.id!r}: 2 to 40 characters A-Z, 0-9, '_' or '-', starting with a "
                           f"letter or digit (e.g. KTZ, PORT-AKTAU)")
    if not (p.name or "").strip():
        raise InvalidParty(f"party {p.id}: the name is empty")
    if p.country is not None and not re.fullmatch(COUNTRY_PATTERN, p.country):
        raise InvalidParty(f"party {p.id}: country {p.country!r} is not an ISO 3166 alpha-2 code (e.g. KZ)")
    for edi in p.edi_ids:
        if not fold(edi):
            raise InvalidParty(f"party {p.id}: an EDIFACT interchange id is empty")


def upsert_party(conn: Connection, p: Party) -> None:
    """Create or replace a party.

    Raises InvalidParty for a malformed party and AliasConflict for an EDIFACT interchange id that
    already stands for another party (its messages would be attributed to this one).
    """
    check_party(p)
    for edi in p.edi_ids:
        check_alias(conn, "party", edi, p.id, what="EDIFACT interchange id")
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


def alias_conflict(conn: Connection, kind: str, value: str, target: str,
                   what: str = "alias") -> AliasConflict | None:
    """Why `value` may not be made to mean `target` (an AliasConflict, not raised), or None.

    A location alias may not take a code, id, name or spelling a network location has (unless it is
    that location's); a party alias may not take another party's id (a sender id resolves to its
    alias before its party); and an alias may not silently re-point an entry of the registry.
    """
    key = fold(value)
    if kind == "location":
        from .network import load_network
        net = load_network(conn)
        for loc in (net.locations.values() if net else ()):
            spellings = {loc.id, loc.code or "", loc.name, *loc.aliases}
            if loc.id != target and key in {fold(s) for s in spellings}:
                return AliasConflict(f"{what} {value!r} is already {loc.ref} ({loc.name}) in the network; "
                                     f"it cannot be made to mean {target}", loc.id, replaceable=False)
    elif kind == "party" and value != target and get_party(conn, value) is not None:
        return AliasConflict(f"{what} {value!r} is the id of party {value}; it cannot be made to mean {target}",
                             value, replaceable=False)
    if kind == "party":
        for other in list_parties(conn):
            if other.id != target and key in {fold(e) for e in other.edi_ids}:
                return AliasConflict(f"{what} {value!r} is already an EDIFACT interchange id of party "
                                     f"{other.id}", other.id, replaceable=False)
    held = resolve_alias(conn, kind, value)
    if held is not None and held != target:
        return AliasConflict(f"{what} {value!r} already stands for {kind} {held}", held, replaceable=True)
    return None


def check_alias(conn: Connection, kind: str, value: str, target: str, *, replace: bool = False,
                what: str = "alias") -> None:
    """Raise AliasConflict when `value` may not be made to mean `target` (see alias_conflict); with
    `replace`, an entry of the registry pointing elsewhere may be re-pointed."""
    conflict = alias_conflict(conn, kind, value, target, what)
    if conflict is not None and not (replace and conflict.replaceable):
        raise conflict


def add_alias(conn: Connection, kind: str, value: str, target: str, note: str = "", *,
              replace: bool = False) -> None:
    """Map an outside code to a Corridor id, refusing one that already means something else
    (AliasConflict; `replace` re-points a registry entry). The checked form of set_alias."""
    check_alias(conn, kind, value, target, replace=replace)
    set_alias(conn, kind, value, target, note=note)


def set_alias(conn: Connection, kind: str, value: str, target: str, note: str = "") -> None:
    """Map an outside code or spelling (`kind`: party | location | operator) to a Corridor id.

    Unchecked: it replaces whatever the code meant. For loaders writing a consistent set (the
    default network's spellings); people's additions go through add_alias.
    """
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
