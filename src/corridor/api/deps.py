"""Request-scoped dependencies: the store, and the authenticated principal behind a Bearer key."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..access.keys import KeyInfo, KeyRejected, verify
from ..domain.parties import Party
from ..store import Store
from ..store.parties import get_party
from .problems import Problem

bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")


def get_store(request: Request) -> Store:
    return request.app.state.store


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key and the party it belongs to."""

    key: KeyInfo
    party: Party

    def can(self, scope: str) -> bool:
        return scope in self.key.scopes or "admin" in self.key.scopes


def principal(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer),
              store: Store = Depends(get_store)) -> Principal:
    """The caller; 401 with the reason for a missing, unknown, expired or revoked key."""
    if creds is None or creds.scheme.lower() != "bearer":
        raise Problem(401, "Unauthorized", "missing Authorization: Bearer <API key>")
    try:
        with store.read() as conn:
            info = verify(conn, creds.credentials)
            party = get_party(conn, info.party_id)
    except KeyRejected as e:
        raise Problem(401, "Unauthorized", str(e))
    if party is None:
        raise Problem(401, "Unauthorized", "the key's party no longer exists")
    request.state.principal = Principal(info, party)
    return request.state.principal


def writer(p: Principal = Depends(principal)) -> Principal:
    """A caller allowed to write (scope 'write')."""
    if not p.can("write"):
        raise Problem(403, "Forbidden", "this API key is read-only")
    return p


def admin(p: Principal = Depends(principal)) -> Principal:
    """The corridor administrator."""
    if not p.party.is_admin:
        raise Problem(403, "Forbidden", "administrator only")
    return p
