"""The background workers of a node: which run for which role, started and stopped together.

`corridor serve --role` picks them:

- ``api``     the HTTP API and web pages only (stateless; as many nodes as you like);
- ``ingest``  the NATS JetStream ingest worker (needs CORRIDOR_NATS_URL; several nodes share the
              durable consumer) and, when CORRIDOR_MQTT_URL is set, the MQTT positions consumer;
- ``deliver`` webhook delivery and the periodic alert sweep, run by one holder of a lease at a time
              (a PostgreSQL advisory lock, or a lock file next to a SQLite database), so extra
              deliver nodes are hot standbys that never send a notification twice;
- ``all``     everything above that is configured, in one process (the embedded single machine).

Migrations are not run here: `corridor init` runs them once; worker nodes refuse a database that
is not at the head revision.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .settings import Settings
from .store import Store

log = logging.getLogger("corridor.runtime")

ROLES = ("api", "ingest", "deliver", "all")
LEASE_KEY = 0x636F7272   # 'corr': the advisory lock id of the delivery lease
SWEEP_EVERY_S = 60.0      # how often the time-driven alerts (silence, dwell) are raised
RETRY_S = 2.0             # pause before a worker reconnects after NATS or the database failed


def workers_for(role: str, settings: Settings) -> list[str]:
    """The worker names a node of `role` runs with these settings (``nats-ingest``, ``mqtt``, ``deliver``)."""
    if role not in ROLES:
        raise ValueError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    out = []
    if role in ("ingest", "all") and settings.nats_url:
        out.append("nats-ingest")
    if role in ("ingest", "all") and settings.mqtt_url:
        out.append("mqtt")
    if role in ("deliver", "all"):
        out.append("deliver")
    return out


def check_role(role: str, settings: Settings) -> str | None:
    """Why a node of `role` cannot start with these settings, or None when it can."""
    if role not in ROLES:
        return f"role {role!r}: expected one of {', '.join(ROLES)}"
    if role == "ingest" and not (settings.nats_url or settings.mqtt_url):
        return "--role ingest needs CORRIDOR_NATS_URL (and/or CORRIDOR_MQTT_URL): without a broker, " \
               "API nodes ingest in-process and there is nothing to consume"
    return None


def schema_problem(store: Store) -> str | None:
    """Why the database is not ready for a worker node (not migrated to head), or None."""
    from alembic.script import ScriptDirectory

    from .store.db import alembic_config
    head = ScriptDirectory.from_config(alembic_config(store.url)).get_current_head()
    try:
        current = store.current_revision()
    except Exception as e:  # noqa: BLE001 - an unreachable database is reported, not raised
        return f"database not reachable: {e.__class__.__name__}: {e}"
    if current != head:
        return f"database at revision {current or 'empty'}, code expects {head}: run `corridor init` once first"
    return None


class Lease:
    """One holder at a time across nodes: a PostgreSQL advisory lock, or a lock file for SQLite."""

    def __init__(self, store: Store, key: int = LEASE_KEY):
        self.store, self.key = store, key
        self._conn = None
        self._file = None

    def hold(self) -> bool:
        """True while this node holds the lease (takes it when free; notices a lost connection)."""
        if self.store.dialect == "postgresql":
            return self._hold_pg()
        return self._hold_file()

    def _hold_pg(self) -> bool:
        try:
            if self._conn is not None:
                self._conn.exec_driver_sql("SELECT 1")   # the lock lives as long as this session
                return True
            conn = self.store.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            if conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({self.key})").scalar():
                self._conn = conn
                log.info("delivery lease taken")
                return True
            conn.close()
            return False
        except Exception:  # noqa: BLE001 - database restarted: the lock went with the session
            self.release()
            return False

    def _hold_file(self) -> bool:
        import fcntl
        if self._file is not None:
            return True
        db = self.store.engine.url.database
        path = Path(f"{db}.deliver.lock") if db and db != ":memory:" else None
        if path is None:
            return True   # an in-memory database has one process by definition
        f = open(path, "a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            return False
        self._file = f
        return True

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
        if self._file is not None:
            self._file.close()   # closing drops the flock
            self._file = None


@dataclass
class Runtime:
    """The running workers of one node; `start()` then `stop()` (idempotent)."""

    store: Store
    settings: Settings
    role: str
    sweep_every_s: float = SWEEP_EVERY_S
    deliver_every_s: float = 0.5
    stop_event: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    mqtt: object | None = None
    lease: Lease | None = None

    @property
    def workers(self) -> list[str]:
        return workers_for(self.role, self.settings)

    def start(self) -> "Runtime":
        """Start this role's workers in daemon threads; returns self."""
        from .tracking import hooks  # noqa: F401 - registers status/ETA/alerts/outbox on the ingest path
        for w in self.workers:
            if w == "nats-ingest":
                self._thread("corridor-nats-ingest", self._nats_loop)
            elif w == "deliver":
                self.lease = Lease(self.store)
                self._thread("corridor-deliver", self._deliver_loop)
            elif w == "mqtt":
                self._thread("corridor-mqtt", self._mqtt_start)
        log.info("role %s: workers %s", self.role, ", ".join(self.workers) or "none")
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Stop every worker: in-flight work commits (or rolls back) before the threads end."""
        self.stop_event.set()
        if self.mqtt is not None:
            with contextlib.suppress(Exception):
                self.mqtt.stop()
            self.mqtt = None
        end = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.1, end - time.monotonic()))
        if self.lease is not None:
            self.lease.release()

    def alive(self) -> dict[str, bool]:
        """Worker thread name -> running, for /health."""
        return {t.name: t.is_alive() for t in self.threads}

    # -- workers -------------------------------------------------------------------------------
    def _thread(self, name: str, target) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)
        t.start()
        self.threads.append(t)

    def _bump(self, key: str, n: int) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def _nats_loop(self) -> None:
        from .ingest.nats import run_ingest_worker
        while not self.stop_event.is_set():
            try:
                self._bump("ingested", run_ingest_worker(self.store, self.settings.nats_url, stop=self.stop_event))
            except Exception:  # noqa: BLE001 - NATS down at start or the connection broke: reconnect
                log.exception("NATS ingest worker stopped; reconnecting in %.0fs", RETRY_S)
                self.stop_event.wait(RETRY_S)

    def _deliver_loop(self) -> None:
        """Deliver webhooks while this node holds the lease; the alert sweep runs beside it in its
        own thread on its own schedule, so neither a failing delivery pass nor a slow receiver
        (up to the 10 s timeout per subscription) holds up the time-driven alerts."""
        from .tracking.delivery import Deliverer
        from .tracking.hooks import sweep
        deliverer = Deliverer(self.store, allow_private=self.settings.webhook_allow_private)
        holding = threading.Event()     # set while this node holds the lease: only then sweep

        def sweeper() -> None:
            while not self.stop_event.is_set():
                if not holding.wait(0.5):
                    continue
                try:
                    self._bump("alerts", sweep(self.store, datetime.now(timezone.utc)))
                    pause = self.sweep_every_s
                except Exception:  # noqa: BLE001 - the database may be restarting: try again soon
                    log.exception("alert sweep failed")
                    pause = min(RETRY_S, self.sweep_every_s)
                self.stop_event.wait(pause)

        self._thread("corridor-sweep", sweeper)
        while not self.stop_event.is_set():
            try:
                held = self.lease.hold()
            except Exception:  # noqa: BLE001 - the lock file or the database is unreachable
                log.exception("delivery lease check failed")
                held = False
            if not held:
                holding.clear()
                self.stop_event.wait(RETRY_S)   # a standby: try for the lease again later
                continue
            holding.set()
            try:
                self._bump("delivered", deliverer.run_once())
            except Exception:  # noqa: BLE001 - the database may be restarting: the next pass retries
                log.exception("delivery pass failed")
                self.stop_event.wait(RETRY_S)
            self.stop_event.wait(self.deliver_every_s)
        holding.clear()

    def _mqtt_start(self) -> None:
        from .ingest.mqtt import start_mqtt_consumer
        while not self.stop_event.is_set():
            try:
                self.mqtt = start_mqtt_consumer(self.store, self.settings.mqtt_url,
                                                client_id=os.environ.get("CORRIDOR_MQTT_CLIENT_ID",
                                                                         "corridor-ingest"))
                return   # paho's own thread consumes and reconnects from here on
            except Exception:  # noqa: BLE001 - broker down at start: keep trying
                log.exception("MQTT consumer could not start; retrying in %.0fs", RETRY_S)
                self.stop_event.wait(RETRY_S)


def close_publisher(app) -> None:
    """Close the API's NATS publisher (`app.state.ingest_publisher`) if one was opened."""
    pub = getattr(app.state, "ingest_publisher", None)
    if pub is not None:
        app.state.ingest_publisher = None
        with contextlib.suppress(Exception):
            pub.close()


def flush_audit(app) -> None:
    """Store the app's queued audit rows (reads of others' data) before the process ends."""
    from .access import audit
    store = getattr(app.state, "store", None)
    if store is not None and not audit.flush(store):
        log.error("shutdown: queued audit rows could not all be stored")


def install_lifespan(app, runtime: Runtime | None = None) -> None:
    """Wrap the app's lifespan: start the node's runtime at startup; stop it, close the NATS
    publisher and store the queued audit rows at shutdown. Safe to call again to attach a runtime
    to an already wrapped app."""
    if runtime is not None:
        app.state.corridor_runtime = runtime
    if getattr(app.state, "corridor_lifespan", False):
        return
    app.state.corridor_lifespan = True
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a):
        async with inner(a) as state:
            rt = getattr(a.state, "corridor_runtime", None)
            if rt is not None:
                rt.start()
                a.state.runtime = rt
            try:
                yield state
            finally:
                if rt is not None:
                    rt.stop()
                close_publisher(a)
                flush_audit(a)

    app.router.lifespan_context = lifespan


def health_app(store: Store, runtime: Runtime):
    """A FastAPI app with /health only, for worker nodes (ingest, deliver)."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    from . import __version__
    app = FastAPI(title=f"Corridor {runtime.role} worker", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.store = store

    @app.get("/health")
    def health():
        db_ok = store.is_reachable()
        threads = runtime.alive()
        ok = db_ok and all(threads.values())
        return JSONResponse({"status": "ok" if ok else "unavailable", "version": __version__, "role": runtime.role,
                             "database": store.dialect if db_ok else "unreachable", "workers": threads,
                             "counts": runtime.counts,
                             "lease": bool(runtime.lease and (runtime.lease._conn or runtime.lease._file))},
                            status_code=200 if ok else 503)

    install_lifespan(app, runtime)
    return app


def node_app(role: str, settings: Settings, store: Store):
    """The ASGI app `corridor serve --role` runs: the full API for api/all, /health only for workers."""
    runtime = Runtime(store, settings, role)
    if role in ("api", "all"):
        from .api.app import create_app
        app = create_app(settings, store, role)
        install_lifespan(app, runtime)
        return app
    return health_app(store, runtime)
