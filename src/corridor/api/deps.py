"""Request-scoped dependencies: the store, and the authenticated principal behind a Bearer key."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from ..access import audit
from ..access.keycache import verified
from ..access.keys import KeyInfo, KeyRejected
from ..access.visibility import cached_viewer, is_read_only, owners_of
from ..domain.parties import Party, Role
from ..store import Store
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


async def principal(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Principal:
    """The caller; 401 with the reason for a missing, unknown, expired or revoked key.

    The key and its party come from the per-process key cache (access.keycache), and a GET is
    audited on the same read connection (no write transaction on the request path)."""
    store: Store = request.app.state.store
    return await on_store(store, _principal, request, creds, store)


async def on_store(store: Store, fn, *args):
    """Run `fn(*args)` (short store work): inline on SQLite, where one or two indexed reads of a
    local file (WAL readers never wait for the writer; the pool never makes a checkout wait) cost
    less than the hop to a worker thread and back; in a worker thread on PostgreSQL, where it
    waits on the network."""
    if store.dialect == "sqlite":
        return fn(*args)
    return await run_in_threadpool(fn, *args)


def _principal(request: Request, creds: HTTPAuthorizationCredentials | None, store: Store) -> Principal:
    key = bearer_key(creds)
    with store.read() as conn:
        p = authenticate(request, key, conn)
        if request.method == "GET":
            audit_read(request, p, store, conn)
    return p


def bearer_key(creds: HTTPAuthorizationCredentials | None) -> str:
    """The presented API key; 401 when there is none."""
    if creds is None or creds.scheme.lower() != "bearer":
        raise Problem(401, "Unauthorized", "missing Authorization: Bearer <API key>")
    return creds.credentials


def authenticate(request: Request, key: str, conn: Connection) -> Principal:
    """The caller behind `key`, read on `conn` (401 for an unknown, expired or revoked key, or a
    party gone); kept on the request for the edge middleware. Reads are audited by the caller:
    `principal` does it, an endpoint that reads on the same connection does it itself."""
    try:
        info, party = verified(conn, key)
    except KeyRejected as e:
        raise Problem(401, "Unauthorized", str(e))
    if party is None:
        raise Problem(401, "Unauthorized", "the key's party no longer exists")
    request.state.principal = p = Principal(info, party)
    return p


async def writer(p: Principal = Depends(principal)) -> Principal:
    """A caller allowed to write (scope 'write'; never an authority, which reads only)."""
    if is_read_only(p.party):
        raise Problem(403, "Forbidden", f"party {p.party.id} is an authority: read-only")
    if not p.can("write"):
        raise Problem(403, "Forbidden", "this API key is read-only")
    return p


# --- audit of reads of another party's data ----------------------------------------------------

# one record: (route template, what its path parameter names, which path parameter).
# GET /api/v1/containers/{ref} decides in its endpoint (api.tracking.container), on the trip it shows.
_ONE = {"/api/v1/bookings/{ref}": ("booking", "ref"),
        "/api/v1/bookings/{ref}/timeline": ("booking", "ref"),
        "/api/v1/bookings/{ref}/reroute": ("booking", "ref"),
        "/v2/events/{eventID}": ("event", "eventID")}
# lists whose rows are other parties' data for anyone who is not a shipper or forwarder
_LISTS = {"/api/v1/bookings", "/api/v1/search", "/api/v1/stream", "/api/v1/kpi/iftsta", "/v2/events",
          "/api/v1/locations/{code}/queue"}
# lists that show others' rows to the administrator only (everyone else gets its own)
_ADMIN_LISTS = {"/api/v1/quarantine", "/api/v1/quarantine/{entry_id}", "/v2/event-subscriptions",
                "/v2/event-subscriptions/{subscriptionID}"}


def audit_read(request: Request, p: Principal, store: Store, conn: Connection) -> None:
    """Log the caller's read when what it reads belongs to another party (never the key itself).

    Decided on the read connection `conn`; the row is queued to the store's audit writer."""
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    party = p.party
    if path in _ONE:
        kind, param = _ONE[path]
        ref = str(request.path_params.get(param, ""))
        if kind == "event":
            from ..tracking.outbox import seq_of
            seq = seq_of(ref)
            ref = "" if seq is None else str(seq)
        audit_one(request, p, store, owners_of(conn, cached_viewer(conn, party), kind, ref) if ref else None)
        return
    broad = (path in _LISTS and not party.roles & {Role.SHIPPER, Role.FORWARDER}) or \
        (path in _ADMIN_LISTS and party.is_admin)
    if broad:
        audit.later(store, party_id=party.id, key_id=p.key.key_id, action=f"READ {request.url.path}",
                    target=request.url.path)


def audit_one(request: Request, p: Principal, store: Store, owners: set[str] | None) -> None:
    """Log the caller's read of one record whose parties are `owners` (None: nothing was shown),
    unless it is one of them; the row is queued to the store's audit writer."""
    if owners is not None:
        audit.read_of_others_later(store, party_id=p.party.id, key_id=p.key.key_id, target=request.url.path,
                                   owners=owners)


async def admin(p: Principal = Depends(principal)) -> Principal:
    """The corridor administrator."""
    if not p.party.is_admin:
        raise Problem(403, "Forbidden", "administrator only")
    return p
