"""A real Corridor server for the browser tests (and for looking at the pages by hand).

`python -m tests.browser.server` is not needed: run `python tests/browser/server.py DB_URL` to serve
an already initialised database with the demo parties on a free port and print their keys.
"""

from __future__ import annotations

import importlib
import socket
import threading
import time

import uvicorn

from corridor.access import keys
from corridor.access.demo import DEMO_PARTIES
from corridor.api.app import ROUTERS, create_app
from corridor.bootstrap import ensure_admin
from corridor.settings import Settings
from corridor.store import Store
from corridor.store import parties as ps

# API routers the pages call; those already in the app factory's list are not added twice.
API_ROUTERS = ("network", "access", "notices", "ingest", "tracking", "dcsa", "bookings", "kpi")
ADMIN_KEY = "cor_webadmin_" + "w" * 24


def web_app(store: Store):
    """The app factory's app on `store`, plus the API routers the pages use and the web pages."""
    app = create_app(Settings(database_url=store.url, rate_limit_per_minute=100_000), store=store)
    for name in API_ROUTERS:
        if name in ROUTERS:
            continue
        try:
            mod = importlib.import_module(f"corridor.api.{name}")
        except ModuleNotFoundError:
            continue   # that capability is not built yet
        app.include_router(mod.router)
    if "web" not in ROUTERS:
        from corridor.web.pages import router
        app.include_router(router)
    return app


def demo_keys(store: Store) -> dict[str, str]:
    """Create the demo parties and one key each for the administrator, a shipper and two operators."""
    ensure_admin(store, ADMIN_KEY)
    out = {"admin": ADMIN_KEY}
    with store.tx() as conn:
        for p in DEMO_PARTIES:
            ps.upsert_party(conn, p)
        for who in ("ACME", "BOSPHORUS", "PORTAKTAU", "KTZ", "ASCO"):
            out[who] = keys.create_key(conn, who, label="browser test")
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """uvicorn serving `app` on 127.0.0.1:<free port> in a thread."""

    def __init__(self, app):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                             timeout_graceful_shutdown=1, lifespan="off")
        self.server = uvicorn.Server(cfg)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        t0 = time.monotonic()
        while not self.server.started:
            if time.monotonic() - t0 > 20 or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


if __name__ == "__main__":
    import sys
    st = Store(sys.argv[1])
    ks = demo_keys(st)
    with LiveServer(web_app(st)) as srv:
        print(srv.url, flush=True)
        for k, v in ks.items():
            print(f"{k}: {v}", flush=True)
        while True:
            time.sleep(3600)
