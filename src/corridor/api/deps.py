"""Request-scoped dependencies: the store, and the authenticated principal behind a Bearer key."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from ..access import audit
from ..access.keycache import known, verified
from ..access.keys import KeyInfo, KeyRejected, grants
from ..access.limits import address_bucket, key_bucket
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
        return grants(self.key.scopes, scope)


async def principal(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Principal:
    """A caller whose key may read (scope 'read'); 401 with the reason for a missing, unknown,
    expired or revoked key, 403 for a key without the scope.

    The key and its party come from the per-process key cache (access.keycache), and a GET is
    audited on the same read connection (no write transaction on the request path)."""
    store: Store = request.app.state.store
    return await on_store(store, _principal, request, creds, store, "read")


async def caller(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Principal:
    """Any authenticated key, whatever its scopes: only for `GET /api/v1/me`, which shows the key itself."""
    store: Store = request.app.state.store
    return await on_store(store, _principal, request, creds, store, None)


async def on_store(store: Store, fn, *args):
    """Run `fn(*args)` (short store work): inline on SQLite, where one or two indexed reads of a
    local file (WAL readers never wait for the writer; the pool never makes a checkout wait) cost
    less than the hop to a worker thread and back; in a worker thread on PostgreSQL, where it
    waits on the network."""
    if store.dialect == "sqlite":
        return fn(*args)
    return await run_in_threadpool(fn, *args)


def _principal(request: Request, creds: HTTPAuthorizationCredentials | None, store: Store,
               scope: str | None) -> Principal:
    key = bearer_key(creds)
    with store.read() as conn:
        p = authenticate(request, key, conn, scope)
        if request.method == "GET":
            audit_read(request, p, store, conn)
    return p


def bearer_key(creds: HTTPAuthorizationCredentials | None) -> str:
    """The presented API key; 401 when there is none."""
    if creds is None or creds.scheme.lower() != "bearer":
        raise Problem(401, "Unauthorized", "missing Authorization: Bearer <API key>")
    return creds.credentials


def authenticate(request: Request, key: str, conn: Connection, scope: str | None = "read") -> Principal:
    """The caller behind `key`, read on `conn`, whose key grants `scope` (None: any key); kept on
    the request for the edge middleware. Reads are audited by the caller: `principal` does it, an
    endpoint that reads on the same connection does it itself.

    401 for an unknown, expired or revoked key, or a party gone: the failure draws on the client
    address's rate-limit bucket, never on the key id's (anyone may know a key id). A key that
    verified draws on its own bucket (429 when spent), then 403 when it lacks `scope`."""
    limiter = request.app.state.limiter
    request.state.rate_counted = True   # the edge need not count this request against the address
    try:
        info, party = verified(conn, key)
        if party is None:
            raise KeyRejected("the key's party no longer exists")
    except KeyRejected as e:
        wait = limiter.take(address_bucket(request.client.host if request.client else None))
        if wait:
            raise too_many(request, wait)
        raise Problem(401, "Unauthorized", str(e))
    # one token per request, also when an endpoint authenticates twice
    if getattr(request.state, "key_token_of", None) != info.key_id:
        wait = limiter.take(key_bucket(info.key_id))
        if wait:
            raise too_many(request, wait)
        request.state.key_token_of = info.key_id
    if scope is not None and not grants(info.scopes, scope):
        raise Problem(403, "Forbidden", f"this API key lacks the '{scope}' scope (it has: "
                                        f"{', '.join(info.scopes) or 'none'}); see docs/access.md")
    request.state.principal = p = Principal(info, party)
    return p


def too_many(request: Request, wait: float) -> HTTPException:
    """429 with Retry-After in whole seconds."""
    per_minute = request.app.state.settings.rate_limit_per_minute
    return HTTPException(429, f"rate limit of {per_minute}/min reached", headers={"Retry-After": str(max(1, round(wait)))})


def edge_wait(request: Request) -> float:
    """The edge's rate-limit decision, before any store read: seconds to wait (0: go ahead).

    - No Bearer key (pages, static files, a missing key): one token from the client address.
    - A key this process verified moments ago (access.keycache, in memory): refused while its
      own bucket is spent; `authenticate` takes the token once the secret is verified again.
    - Any other key: refused while the client address's bucket is spent (its failed
      authentications spent it), so a flood of made-up keys costs no store read; otherwise
      `authenticate` decides, after verifying the secret.
    A request that presents a key but reaches no authenticating endpoint is counted against the
    address afterwards (`count_unauthenticated`)."""
    limiter = request.app.state.limiter
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    key = key.strip()
    addr = address_bucket(request.client.host if request.client else None)
    if scheme.lower() != "bearer" or not key:
        request.state.rate_counted = True
        return limiter.take(addr)
    key_id = known(request.app.state.store.engine, key)
    return limiter.wait(key_bucket(key_id) if key_id is not None else addr)


def count_unauthenticated(request: Request) -> None:
    """After the response: a request that presented a key no endpoint authenticated (a page, a
    static file, a 404) draws on the address, so adding a made-up key does not lift its limit."""
    if not getattr(request.state, "rate_counted", False):
        request.app.state.limiter.take(address_bucket(request.client.host if request.client else None))


async def writer(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Principal:
    """A caller allowed to write: webhook subscriptions and their replays, and bookings (scope
    'write'; never an authority, which reads only)."""
    return await _writing(request, creds, "write", "it may not book or subscribe")


async def poster(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Principal:
    """A caller allowed to send data: events, messages, positions, notices, quarantine replay
    (scope 'post', or 'write' which includes it; never an authority)."""
    return await _writing(request, creds, "post", "it may not post data")


async def _writing(request: Request, creds, scope: str, what: str) -> Principal:
    store: Store = request.app.state.store
    p = await on_store(store, _principal, request, creds, store, None)
    if is_read_only(p.party):
        raise Problem(403, "Forbidden", f"party {p.party.id} is an authority: read-only")
    if not p.can(scope):
        raise Problem(403, "Forbidden", f"this API key lacks the '{scope}' scope: {what} (see docs/access.md)")
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


async def admin(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Principal:
    """The corridor administrator, with a key that has the 'admin' scope (the administrator's
    read-only key administers nothing)."""
    store: Store = request.app.state.store
    p = await on_store(store, _principal, request, creds, store, None)
    if not p.party.is_admin:
        raise Problem(403, "Forbidden", "administrator only")
    if not p.can("admin"):
        raise Problem(403, "Forbidden", "this API key lacks the 'admin' scope")
    return p
