"""The FastAPI app factory: one store, the routers, problem+json errors, health, structured logs."""

from __future__ import annotations

import importlib
import json
import logging
import threading
import time
from typing import Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from .. import __version__
from ..settings import Settings, get_settings
from ..store import Store, open_store
from ..store.network import load_network
from ..access import audit
from ..access.limits import RateLimiter
from . import problems
from .deps import count_unauthenticated, edge_wait

log = logging.getLogger("corridor.http")

# Router modules with a module-level `router`; optional ones are added by capability work.
ROUTERS = ["network", "access", "notices", "ingest", "tracking", "dcsa", "bookings", "kpi", "corridor.web.pages"]


class _NetworkCache:
    """The stored network, loaded once and reloaded when an operator changes it."""

    def __init__(self, store: Store):
        self.store, self._net, self._lock = store, None, threading.Lock()

    def __call__(self):
        with self._lock:
            if self._net is None:
                with self.store.read() as conn:
                    self._net = load_network(conn)
            return self._net

    def invalidate(self) -> None:
        with self._lock:
            self._net = None


def create_app(settings: Settings | None = None, store: Store | None = None, role: str = "all") -> FastAPI:
    """A configured Corridor app on `store` (default: CORRIDOR_DATABASE_URL)."""
    from ..wiring import ensure_wired
    ensure_wired()
    settings = settings or get_settings()
    store = store or open_store(settings.database_url)
    app = FastAPI(title="Corridor API", version=__version__,
                  description="The shared platform of the Trans-Caspian (Middle) Corridor: network, "
                              "timetable, bookings, track and trace (DCSA 2.2 at /v2), ingest.")
    app.state.store = store
    app.state.settings = settings
    app.state.network = _NetworkCache(store)
    app.state.role = role
    problems.install(app)

    limiter = RateLimiter(settings.rate_limit_per_minute)
    app.state.limiter = limiter

    @app.middleware("http")
    async def _edge(request: Request, call_next: Callable):
        """Body cap, per-key rate limit, audit of writes, one structured log line per request."""
        t0 = time.perf_counter()
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > settings.max_body_bytes:
            return problems.problem_response(request, 413, "Content Too Large",
                                             f"request body over {settings.max_body_bytes} bytes")
        if length is None and "transfer-encoding" in request.headers:
            # a chunked body announces no length: count it as it comes, and stop at the cap
            # before it is held whole (the endpoint gets the body read here)
            chunks, size = [], 0
            try:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > settings.max_body_bytes:
                        # the rest is never read: the connection cannot carry another request
                        return problems.problem_response(request, 413, "Content Too Large",
                                                         f"request body over {settings.max_body_bytes} bytes",
                                                         headers={"Connection": "close"})
                    chunks.append(chunk)
            except ClientDisconnect:
                return problems.problem_response(request, 400, "Bad Request", "the client left before its body ended")
            request._body = b"".join(chunks)   # what Request.body() caches; passed downstream as the body
        # the bucket is the authenticated key's, taken in deps.authenticate once its secret is
        # verified; here only what needs no store read (docs/access.md, "Rate limits")
        limited = request.url.path != "/health"
        if limited:
            wait = edge_wait(request)
            if wait:
                return problems.problem_response(request, 429, "Too Many Requests",
                                                 f"rate limit of {settings.rate_limit_per_minute}/min reached",
                                                 headers={"Retry-After": str(max(1, round(wait)))})
        response = await call_next(request)
        if limited:
            count_unauthenticated(request)
        p = getattr(request.state, "principal", None)
        if p and request.method in ("POST", "PUT", "PATCH", "DELETE"):
            with store.tx() as conn:
                audit.record(conn, party_id=p.party.id, key_id=p.key.key_id,
                             action=f"{request.method} {request.url.path}"[:60], target=request.url.path,
                             detail={"status": response.status_code})
        log.info(json.dumps({"method": request.method, "path": request.url.path, "status": response.status_code,
                             "ms": round((time.perf_counter() - t0) * 1000, 2),
                             "party": p.party.id if p else None}))
        return response

    @app.get("/health", tags=["health"], summary="Liveness: 200 while the store is reachable")
    def health(request: Request):
        # the store from the app, not this closure: FastAPI keeps endpoints in a process-wide cache
        # (4096 entries), which would keep every app's store and engine made in this process alive
        store = request.app.state.store
        ok = store.is_reachable()
        return JSONResponse({"status": "ok" if ok else "unavailable", "version": __version__,
                             "database": store.dialect}, status_code=200 if ok else 503)

    for name in ROUTERS:
        mod = importlib.import_module(name if "." in name else f"{__package__}.{name}")
        app.include_router(mod.router)
    from ..runtime import install_lifespan
    install_lifespan(app)   # closes the NATS publisher on shutdown; `serve` adds its workers
    return app
