"""Parties, API keys and the audit log over HTTP (administrator), and `GET /api/v1/me`."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query
from pydantic import Field, field_validator

from ..access import audit, keys
from ..domain.parties import Party, Role
from ..store import Store
from ..store import parties as partystore
from .bodies import StrictBody
from .deps import Principal, admin, caller, get_store
from .problems import Problem

router = APIRouter(prefix="/api/v1", tags=["parties and access"])


class PartyIn(StrictBody):
    id: str = Field(pattern=partystore.PARTY_ID_PATTERN, description="Short stable id, e.g. KTZ")
    name: str
    roles: list[Role]
    country: str | None = Field(None, pattern=partystore.COUNTRY_PATTERN)
    facilities: list[str] = []
    services: list[str] = []
    edi_ids: list[str] = []


class KeyIn(StrictBody):
    party_id: str
    label: str = ""
    scopes: list[str] = Field(["read", "write"], description="read, post, write, admin (docs/access.md)")
    expires_at: datetime | None = Field(None, description="in the future, with a UTC offset (2027-01-01T00:00:00Z)")

    # the same rules as `corridor key create` (422 problem+json, the field named)
    @field_validator("scopes")
    @classmethod
    def _known_scopes(cls, v: list[str]) -> list[str]:
        return list(keys.check_scopes(v))

    @field_validator("expires_at")
    @classmethod
    def _future_expiry(cls, v: datetime | None) -> datetime | None:
        return keys.check_expiry(v)


def _party_json(p: Party) -> dict:
    return {"id": p.id, "name": p.name, "roles": sorted(r.value for r in p.roles), "country": p.country,
            "facilities": sorted(p.facilities), "services": sorted(p.services), "edi_ids": list(p.edi_ids)}


def _key_json(k: keys.KeyInfo) -> dict:
    return {"id": k.key_id, "party_id": k.party_id, "label": k.label, "scopes": list(k.scopes),
            "created_at": k.created_at, "expires_at": k.expires_at, "revoked_at": k.revoked_at}


@router.get("/me", summary="The calling party and key")
def me(p: Principal = Depends(caller)) -> dict:
    """The party behind the presented key, with the key's scopes (any key may ask, whatever its scopes)."""
    return {"party": _party_json(p.party), "key": _key_json(p.key)}


@router.get("/parties", summary="Every party (administrator)")
def list_parties(_: Principal = Depends(admin), store: Store = Depends(get_store)) -> list[dict]:
    with store.read() as conn:
        return [_party_json(p) for p in partystore.list_parties(conn)]


@router.post("/parties", status_code=201, summary="Create or replace a party (administrator)")
def add_party(body: PartyIn, _: Principal = Depends(admin), store: Store = Depends(get_store)) -> dict:
    party = Party(body.id, body.name, frozenset(body.roles), body.country, frozenset(body.facilities),
                  frozenset(body.services), tuple(body.edi_ids))
    with store.tx() as conn:
        partystore.upsert_party(conn, party)
    return _party_json(party)


@router.post("/keys", status_code=201, summary="Create an API key (administrator); the key is shown once")
def create_key(body: KeyIn, _: Principal = Depends(admin), store: Store = Depends(get_store)) -> dict:
    with store.tx() as conn:
        if partystore.get_party(conn, body.party_id) is None:
            raise Problem(404, "Not Found", f"no party {body.party_id!r}")
        key = keys.create_key(conn, body.party_id, scopes=body.scopes, label=body.label, expires_at=body.expires_at)
    return {"key": key, "id": keys.split(key)[0], "party_id": body.party_id, "scopes": body.scopes,
            "expires_at": body.expires_at}


@router.get("/keys", summary="API keys, never their secrets (administrator)")
def list_keys(party_id: str | None = None, _: Principal = Depends(admin), store: Store = Depends(get_store)):
    with store.read() as conn:
        return [_key_json(k) for k in keys.list_keys(conn, party_id)]


@router.delete("/keys/{key_id}", status_code=204, summary="Revoke an API key (administrator)")
def revoke_key(key_id: str, _: Principal = Depends(admin), store: Store = Depends(get_store)) -> None:
    with store.tx() as conn:
        if not keys.revoke(conn, key_id):
            raise Problem(404, "Not Found", f"no active key {key_id!r}")


@router.get("/audit", summary="The audit log, newest first (administrator)")
def audit_log(party_id: str | None = None, limit: int = Query(100, ge=1, le=1000), _: Principal = Depends(admin),
              store: Store = Depends(get_store)) -> list[dict]:
    audit.flush(store)   # reads are queued: show every one made before this request
    with store.read() as conn:
        return audit.entries(conn, party_id=party_id, limit=min(limit, 1000))
