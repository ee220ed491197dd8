"""WAL checkpoints of a file-backed SQLite store run on a thread beside the writer (store.db.WalCheckpointer)."""

from __future__ import annotations

import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from corridor.domain.events import Classifier, Event, EventKind, TransportCall
from corridor.store import Store
from corridor.store import db
from corridor.store import events as ev

AQTAU = timezone(timedelta(hours=5))
BATCHES, PER_BATCH = 8, 500


def _loads(batch: int) -> list[Event]:
    """A vessel's loading at Aktau: one box per event, each with its own booking."""
    t0 = datetime(2026, 11, 1, 6, 0, tzinfo=AQTAU)
    return [Event(EventKind.EQUIPMENT, "LOAD", Classifier.ACT, t0 + timedelta(minutes=batch * PER_BATCH + i),
                  location="KZAAU", equipment=f"MSKU{batch * PER_BATCH + i:07d}", source_party="PORTAKTAU",
                  transport_call=TransportCall("VESSEL", voyage=f"AKT{batch:03d}"),
                  references=(("BKG", f"BKG{batch:03d}{i:04d}"),))
            for i in range(PER_BATCH)]


def _wait_for(check, seconds: float = 10.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.02)
    return check()


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _autocheckpoint(store: Store) -> int:
    with store.read() as conn:
        return conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()


@pytest.fixture
def quick(monkeypatch):
    """The thread looks every 50 ms and calls the WAL idle after 0.5 s (not 0.25 / 2 s)."""
    monkeypatch.setattr(db, "CHECKPOINT_POLL_SECONDS", 0.05)
    monkeypatch.setattr(db, "CHECKPOINT_IDLE_SECONDS", 0.5)


def test_the_wal_is_copied_into_the_file_beside_the_writer_and_truncated_when_idle(templates, quick):
    url = templates.sqlite_copy(False)
    path = Path(url.removeprefix("sqlite:///"))
    wal = Path(f"{path}-wal")
    store = Store(url)
    assert _autocheckpoint(store) == db.BACKSTOP_PAGES   # the writer's own: a backstop far off
    assert not store.checkpointer.running                  # reads start no thread
    start_size = _size(path)

    with store.tx() as conn:
        ev.append(conn, _loads(0))
    thread = store.checkpointer._thread
    assert thread is not None and thread.is_alive() and thread.daemon
    for b in range(1, BATCHES):
        with store.tx() as conn:
            ev.append(conn, _loads(b))
    written = _size(wal)
    # a few MiB of WAL, far below the writer's own checkpoint (BACKSTOP_PAGES): only the thread
    # copies it into the database file, while the store's connections stay open
    assert 1 << 20 < written < db.BACKSTOP_PAGES * 4096
    assert _wait_for(lambda: _size(path) >= start_size + written // 2), (start_size, _size(path), written)
    # and once the WAL has been idle, it is checkpointed whole and cut to nothing
    assert _wait_for(lambda: wal.exists() and _size(wal) == 0), _size(wal)
    with store.read() as conn:
        assert ev.count(conn) == BATCHES * PER_BATCH

    store.dispose()
    assert not thread.is_alive() and thread not in threading.enumerate()
    assert not store.checkpointer.running

    again = Store(url)
    with again.read() as conn:
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        assert ev.count(conn) == BATCHES * PER_BATCH
        boxes = conn.exec_driver_sql("SELECT count(DISTINCT equipment) FROM events").scalar()
        last = conn.exec_driver_sql("SELECT booking_ref FROM events ORDER BY seq DESC LIMIT 1").scalar()
    assert boxes == BATCHES * PER_BATCH and last == f"BKG{BATCHES - 1:03d}{PER_BATCH - 1:04d}"
    assert not again.checkpointer.running
    again.dispose()


def test_the_switch_leaves_checkpoints_to_the_writer(templates, monkeypatch, quick):
    monkeypatch.setenv("CORRIDOR_SQLITE_CHECKPOINTER", "0")
    url = templates.sqlite_copy(False)
    path = Path(url.removeprefix("sqlite:///"))
    before = set(threading.enumerate())
    store = Store(url)
    assert store.checkpointer is None
    assert _autocheckpoint(store) == 16384
    start_size = _size(path)
    for b in range(3):
        with store.tx() as conn:
            ev.append(conn, _loads(b))
    time.sleep(0.3)
    assert _size(path) == start_size   # nothing copied before the writer's 64 MiB
    assert not [t for t in set(threading.enumerate()) - before if t.name == "corridor-wal-checkpoint"]
    store.dispose()


def test_a_store_without_a_file_has_no_thread(store):
    """PostgreSQL and an in-memory SQLite have no WAL file to checkpoint."""
    assert (store.checkpointer is None) == (store.dialect == "postgresql")
    mem = Store("sqlite://")
    assert mem.checkpointer is None
    with mem.tx() as conn:
        conn.exec_driver_sql("CREATE TABLE berth (code TEXT)")
    mem.dispose()


def test_a_dropped_store_ends_its_thread(templates, quick):
    store = Store(templates.sqlite_copy(False))
    with store.tx() as conn:
        ev.append(conn, _loads(0))
    thread = store.checkpointer._thread
    assert thread.is_alive()
    del store, conn
    assert _wait_for(lambda: not thread.is_alive(), 5.0)


def _worker_threads() -> tuple[list[str], bool]:
    from corridor.ingest import pool
    with pool._store.read() as conn:
        conn.exec_driver_sql("SELECT count(*) FROM events").scalar()
    return [t.name for t in threading.enumerate()], pool._store.checkpointer.running


def test_a_spawned_parse_worker_reads_without_a_thread_of_its_own(templates, quick):
    """corridor.ingest.pool's workers only read: the writer's process is the one that checkpoints."""
    from corridor.ingest.pool import _start
    store = Store(templates.sqlite_copy(False))
    with store.tx() as conn:
        ev.append(conn, _loads(0))
    assert store.checkpointer.running
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_start, initargs=(store.url,)) as workers:
        names, running = workers.submit(_worker_threads).result(timeout=120)
    assert "corridor-wal-checkpoint" not in names and not running
    assert store.checkpointer.running
    store.dispose()
