"""Engine set-up for SQLite (WAL, immediate write transactions) and PostgreSQL; the unit of work."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url

from .tables import metadata

MIGRATIONS = Path(__file__).with_name("migrations")
# called with the store before its engine is disposed (outer layers register: the audit writer)
BEFORE_DISPOSE: list = []


def _sqlite_setup(engine: Engine) -> None:
    """WAL + NORMAL sync; writers take the lock at BEGIN so concurrent writers queue, not deadlock."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN below be the only one
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        # the event log's indexes are on random keys: a page cache of 64 MiB (not 2) keeps their
        # inner pages in memory; reads of the rest go through a shared memory map (no read call per
        # page, no copy per connection); checkpoints every 64 MiB of WAL (not 4) write a page
        # re-dirtied by many transactions back once (a simulated year: about 10% faster)
        cur.execute("PRAGMA cache_size=-65536")
        cur.execute("PRAGMA mmap_size=268435456")
        cur.execute("PRAGMA wal_autocheckpoint=16384")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        opts = conn.get_execution_options()
        if opts.get("isolation_level") != "AUTOCOMMIT" and not opts.get("corridor_read"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite files get WAL and serialised writers, PostgreSQL a pool."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # a checkout never waits (no overflow limit): the API reads SQLite on the event loop
        # (api.deps.on_store), where a wait for a free connection would stall every request
        pool = {"pool_size": 16, "max_overflow": -1} if u.database and u.database != ":memory:" else {}
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 60}, **pool)
        _sqlite_setup(engine)
        return engine
    if u.drivername in ("postgresql", "postgres"):
        url = u.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


class Store:
    """One database: the engine, migrations, and `tx()` — the unit of work every write goes through."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        """A transaction: commits when the block ends, rolls back on any exception."""
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads (no write lock taken on SQLite)."""
        with self.engine.connect() as conn:
            if self.dialect == "sqlite":
                # a read needs no IMMEDIATE lock: the driver is in autocommit from connect, so no
                # BEGIN at all. Not isolation_level="AUTOCOMMIT": SQLAlchemy resets that at checkin
                # with PRAGMA read_uncommitted, which expires every prepared statement of the
                # connection (each request compiled its reads again: 100-300 us)
                conn = conn.execution_options(corridor_read=True)
            yield conn

    def upgrade(self, revision: str = "head") -> None:
        """Apply the Alembic migrations up to `revision`."""
        from alembic import command
        command.upgrade(alembic_config(self.url), revision)

    def current_revision(self) -> str | None:
        """The Alembic revision the database is at, or None for an empty database."""
        with self.engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()

    def is_reachable(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            return True
        except Exception:
            return False

    def dispose(self) -> None:
        for hook in BEFORE_DISPOSE:   # work queued for this store (audit rows) is stored first
            hook(self)
        self.engine.dispose()


def alembic_config(url: str):
    """An Alembic Config pointing at the packaged migrations and `url`."""
    from alembic.config import Config
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["corridor_url"] = url
    return cfg


def open_store(url: str | None = None, *, migrate: bool = False) -> Store:
    """The store named by `url` or CORRIDOR_DATABASE_URL; migrated first when `migrate`."""
    if url is None:
        from ..settings import get_settings
        url = get_settings().database_url
    store = Store(url)
    if migrate:
        store.upgrade()
    return store


__all__ = ["Store", "open_store", "make_engine", "metadata", "alembic_config", "os"]
