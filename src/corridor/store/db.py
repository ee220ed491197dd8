"""Engine set-up for SQLite (WAL, immediate write transactions) and PostgreSQL; the unit of work."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import weakref
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Iterator
from urllib.request import pathname2url

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url

from .tables import metadata

MIGRATIONS = Path(__file__).with_name("migrations")
# called with the store before its engine is disposed (outer layers register: the audit writer)
BEFORE_DISPOSE: list = []
log = logging.getLogger(__name__)

# WAL checkpoints of a file store run on a thread of their own (CORRIDOR_SQLITE_CHECKPOINTER=0: in
# the committing writer, as SQLite does by itself). SQLite has one writer, and the automatic
# checkpoint made the commit that crossed 64 MiB of WAL copy it back into the file and sync both
# (12% of the ingest writer's time over a simulated year); the thread's connection does that while
# the writer works on (Python's sqlite3 lets go of the GIL inside SQLite).
CHECKPOINT_POLL_SECONDS = 0.25  # how often the thread looks at the WAL (one stat call) and, when it
                                # changed, checkpoints what was written since
CHECKPOINT_IDLE_SECONDS = 2.0   # a WAL unchanged this long is checkpointed whole and truncated
# The writer's own automatic checkpoint stays, at 4x the size: it bounds the WAL if the thread is
# gone, and it is what lets the WAL start over under a writer that never pauses (a WAL starts over
# at a write transaction that begins with all of it in the file, which a checkpoint beside a busy
# writer never sees); by then the thread has copied all but the last quarter second.
BACKSTOP_PAGES = 65536
_WRITER_AUTOCHECKPOINT = 16384  # pages, without the thread: 64 MiB, see _on_connect


def _sqlite_file(url: str) -> str | None:
    """The absolute path of a file-backed SQLite database, else None (memory, URI names, PostgreSQL)."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:" \
            or u.database.startswith("file:") or "uri" in u.query:
        return None
    return os.path.abspath(os.path.expanduser(u.database))


def _checkpointer_wanted() -> bool:
    return os.environ.get("CORRIDOR_SQLITE_CHECKPOINTER", "1").strip().lower() not in ("0", "false", "no", "off")


_live_checkpointers: "weakref.WeakSet[WalCheckpointer]" = weakref.WeakSet()


class WalCheckpointer:
    """PASSIVE checkpoints of one SQLite file on a daemon thread, started by the first write.

    PASSIVE takes no lock the writer or a reader holds, never waits, and copies only frames no
    reader still needs: safe beside a writer, in this process or another (a second process doing
    the same gets SQLITE_BUSY for its pass, which is logged, not raised). The thread's connection
    runs nothing but the checkpoint pragma, so it never holds a read transaction that would keep
    the WAL from starting over. It is opened by the thread and seen by no other, so a forked child
    never uses it. The WAL's size and time stamp come from a stat call: the files are never opened
    beside SQLite (closing such a descriptor would drop this process's POSIX locks on them).
    """

    def __init__(self, path: str):
        self.path = path
        self.wal = path + "-wal"
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop: threading.Event | None = None
        self._abandoned = False
        _live_checkpointers.add(self)

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        """Start the thread (no-op when it runs); never raises."""
        with self._lock:
            if self._thread is not None or self._abandoned:
                return
            stop = threading.Event()
            t = threading.Thread(target=self._run, args=(stop,), name="corridor-wal-checkpoint", daemon=True)
            try:
                t.start()
            except Exception as e:  # noqa: BLE001 - no thread: the writer's backstop checkpoints
                log.warning("WAL checkpoint thread for %s not started: %s", self.path, e)
                return
            self._thread, self._stop = t, stop

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the thread and wait for it (a checkpoint under way finishes first)."""
        with self._lock:
            t, stop = self._thread, self._stop
            self._thread = self._stop = None
        if t is None:
            return
        stop.set()
        t.join(timeout)
        if t.is_alive():
            log.warning("WAL checkpoint thread for %s still running after %.0f s", self.path, timeout)

    def abandon(self) -> None:
        """Tell the thread to end, without waiting for it, and start none again (store dropped, exit)."""
        with self._lock:
            self._abandoned = True
            stop, self._thread, self._stop = self._stop, None, None
        if stop is not None:
            stop.set()

    def _after_fork(self) -> None:
        # a forked child has the object but not the thread: it starts its own at its first write
        self._lock = threading.Lock()
        self._thread = self._stop = None

    def _connect(self) -> sqlite3.Connection:
        # mode=rw: a store whose file was removed is not created again; timeout 0: never waits
        conn = sqlite3.connect(f"file:{pathname2url(self.path)}?mode=rw", uri=True, timeout=0,
                               isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _wal_state(self) -> tuple[int, int]:
        try:
            st = os.stat(self.wal)
            return st.st_size, st.st_mtime_ns
        except FileNotFoundError:
            return 0, 0

    def _run(self, stop: threading.Event) -> None:
        conn = None
        done = (0, 0)     # the WAL's (size, mtime) when the last pass began
        seen = (0, 0)     # ... at the last look
        quiet_since = time.monotonic()
        tidy = True       # an idle WAL was checkpointed whole and truncated (or none was written)
        warned = False

        def checkpoint(mode: str) -> None:
            nonlocal conn
            if conn is None:
                conn = self._connect()
            t0 = time.perf_counter()
            # fetchall steps the pragma to its end: the statement holds nothing afterwards
            busy, frames, copied = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchall()[0]
            log.debug("WAL checkpoint %s of %s: busy=%s frames=%s checkpointed=%s in %.3f s",
                      mode, self.path, busy, frames, copied, time.perf_counter() - t0)

        try:
            while not stop.wait(CHECKPOINT_POLL_SECONDS):
                try:
                    state, now = self._wal_state(), time.monotonic()
                    if state != seen:
                        seen, quiet_since, tidy = state, now, False
                    if state[0] == 0:
                        if not os.path.exists(self.path):
                            log.debug("WAL checkpoint thread of %s ends: the file is gone", self.path)
                            return
                        done = state
                    elif state != done:
                        # a commit in the same clock tick as this look leaves the time stamp as it
                        # is: a look that close to the last write is not taken as the last word
                        done = state if time.time_ns() - state[1] > 50_000_000 else (0, 0)
                        checkpoint("PASSIVE")
                    elif not tidy and now - quiet_since >= CHECKPOINT_IDLE_SECONDS:
                        tidy = True
                        # the rest and a WAL of zero bytes; with no busy wait it gives up (busy=1)
                        # while a reader still uses the WAL or a writer is at work
                        checkpoint("TRUNCATE")
                except Exception as e:  # noqa: BLE001 - never into the application; tried again later
                    (log.debug if warned else log.warning)("WAL checkpoint of %s failed: %s", self.path, e)
                    warned = True
                    if conn is not None:
                        try:
                            conn.close()
                        except Exception:  # noqa: BLE001
                            pass
                        conn = None
        except BaseException as e:  # noqa: BLE001 - the writer's backstop keeps the WAL bounded
            log.warning("WAL checkpoint thread of %s ended: %s", self.path, e)
        finally:
            if conn is not None:
                try:
                    conn.close()
                except Exception:  # noqa: BLE001
                    pass


def _forget_checkpoint_threads() -> None:
    for cp in list(_live_checkpointers):
        cp._after_fork()
    _WRITERS.clear()   # a forked child holds none of its parent's turns


class WriterQueue:
    """The threads of this process take a SQLite file's one write lock in turn, first come first served.

    SQLite's own wait for the lock (busy_timeout) polls, sleeping up to 100 ms between tries: a
    writer that commits and begins again at once (the twin catching up, a NATS or MQTT consumer)
    wins almost every time, and a lone writer beside it (an API post, the audit log, the alert
    sweep) measured waits of 1-14 s behind 20-ms transactions and failed "database is locked" after
    60 s in the demo. In a queue each waits only for those ahead of it. Re-entrant per thread; a
    turn not reached in `timeout` seconds is given up (TimeoutError) and skipped when it comes."""

    def __init__(self, timeout: float = 60.0):
        self.timeout = timeout
        self._cond = threading.Condition(threading.Lock())
        self._next = 0           # the next turn handed out
        self._serving = 0        # the turn that may write now
        self._gone: set[int] = set()   # turns given up before they came
        self._owner: int | None = None
        self._depth = 0

    def acquire(self) -> None:
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return
            turn, self._next = self._next, self._next + 1
            deadline = time.monotonic() + self.timeout
            while turn != self._serving:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._gone.add(turn)
                    raise TimeoutError(f"no turn to write after {self.timeout:.0f} s: another writer of this "
                                       "process holds the database")
                self._cond.wait(left)
            self._owner, self._depth = me, 1

    def release(self) -> None:
        with self._cond:
            self._depth -= 1
            if self._depth:
                return
            self._owner = None
            self._serving += 1
            while self._serving in self._gone:
                self._gone.discard(self._serving)
                self._serving += 1
            self._cond.notify_all()

    @contextmanager
    def turn(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()


_WRITERS: dict[str, WriterQueue] = {}
_WRITERS_LOCK = threading.Lock()


def writer_queue(path: str) -> WriterQueue:
    """The queue of writers of one SQLite file in this process (every Store of that file shares it)."""
    with _WRITERS_LOCK:
        q = _WRITERS.get(path)
        if q is None:
            q = _WRITERS[path] = WriterQueue()
        return q


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_checkpoint_threads)


def _sqlite_setup(engine: Engine, checkpointer: WalCheckpointer | None = None) -> None:
    """WAL + NORMAL sync; writers take the lock at BEGIN so concurrent writers queue, not deadlock."""
    autocheckpoint = BACKSTOP_PAGES if checkpointer is not None else _WRITER_AUTOCHECKPOINT

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
        # re-dirtied by many transactions back once (a simulated year: about 10% faster); with the
        # checkpoint thread the writer's own come at BACKSTOP_PAGES
        cur.execute("PRAGMA cache_size=-65536")
        cur.execute("PRAGMA mmap_size=268435456")
        cur.execute(f"PRAGMA wal_autocheckpoint={autocheckpoint}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        opts = conn.get_execution_options()
        if opts.get("isolation_level") != "AUTOCOMMIT" and not opts.get("corridor_read"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            if checkpointer is not None and checkpointer._thread is None and not checkpointer._abandoned:
                checkpointer.start()   # with the first write: a process that only reads needs none


def make_engine(url: str, checkpointer: WalCheckpointer | None = None) -> Engine:
    """An engine for `url`; SQLite files get WAL and serialised writers, PostgreSQL a pool.

    `checkpointer`: checkpoints the file's WAL off the writers' commits (`Store` passes one).
    """
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # a checkout never waits (no overflow limit): the API reads SQLite on the event loop
        # (api.deps.on_store), where a wait for a free connection would stall every request
        pool = {"pool_size": 16, "max_overflow": -1} if u.database and u.database != ":memory:" else {}
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 60}, **pool)
        _sqlite_setup(engine, checkpointer if _sqlite_file(url) else None)
        return engine
    if u.drivername in ("postgresql", "postgres"):
        url = u.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


class Store:
    """One database: the engine, migrations, and `tx()` — the unit of work every write goes through."""

    def __init__(self, url: str):
        self.url = url
        self._file = file = _sqlite_file(url)
        path = file if _checkpointer_wanted() else None
        self.checkpointer = WalCheckpointer(path) if path else None
        self.engine = make_engine(url, self.checkpointer)
        if self.checkpointer is not None:
            # a store dropped without dispose() does not leave its thread behind
            weakref.finalize(self, self.checkpointer.abandon)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        """A transaction: commits when the block ends, rolls back on any exception."""
        with self.writing(), self.engine.begin() as conn:
            yield conn

    def writing(self):
        """Hold this process's turn to write (SQLite files: `WriterQueue`; nothing to wait for otherwise).
        Every write transaction on a SQLite file begins inside it."""
        # looked up each time: a forked child starts with queues of its own
        return writer_queue(self._file).turn() if self._file else nullcontext()

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

    def cache_keys(self) -> set[str]:
        """The spellings of this store's URL that per-store caches are keyed by (as given, and the
        engine's, with the password hidden): a BEFORE_DISPOSE hook drops its entries under them."""
        return {self.url, self.engine.url.render_as_string(hide_password=True)}

    def dispose(self) -> None:
        for hook in BEFORE_DISPOSE:   # work queued for this store (audit rows) is stored first
            hook(self)
        if self.checkpointer is not None:
            # before the engine's connections close: the last one to close checkpoints the WAL
            # into the file and removes it, as without the thread
            self.checkpointer.stop()
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
