"""The audit log: every write, and every read of another party's data. Never secrets or keys.

Writes are recorded in the request's own transaction (`record`). Reads are queued (`later`,
`read_of_others_later`) and written by one background thread per database in batches, so a GET
takes no write lock; `flush(store)` writes everything queued so far, and is run before the log
is read over HTTP, at app shutdown and at interpreter exit.
"""

from __future__ import annotations

import atexit
import logging
import threading
from datetime import datetime, timezone

from sqlalchemy import Connection, insert, select

from ..store import db as _db
from ..store.tables import audit_log

log = logging.getLogger("corridor.audit")

_SECRET_WORDS = ("secret", "key", "password", "token", "authorization")


def scrub(detail: dict | None) -> dict | None:
    """A copy of `detail` with anything that looks like a secret replaced by '***'."""
    if not detail:
        return detail
    return {k: ("***" if any(w in k.lower() for w in _SECRET_WORDS) else v) for k, v in detail.items()}


def _row(*, party_id: str, action: str, target: str = "", key_id: str | None = None,
         detail: dict | None = None) -> dict:
    return dict(at=datetime.now(timezone.utc), party_id=party_id, key_id=key_id, action=action[:60],
                target=target[:200], detail=scrub(detail))


def record(conn: Connection, *, party_id: str, action: str, target: str = "", key_id: str | None = None,
           detail: dict | None = None) -> None:
    """Append one audit entry."""
    conn.execute(insert(audit_log).values(**_row(party_id=party_id, key_id=key_id, action=action, target=target,
                                                 detail=detail)))


def _read_row(party_id: str, target: str, owners, key_id: str | None) -> dict | None:
    owners = {o for o in owners if o}
    if party_id in owners:
        return None
    return _row(party_id=party_id, key_id=key_id, action=f"READ {target}", target=target,
                detail={"owners": sorted(owners)} if owners else None)


def read_of_others(conn: Connection, *, party_id: str, target: str, owners, key_id: str | None = None) -> bool:
    """Record a read of data that belongs to `owners`; True when recorded (the reader is not one of them)."""
    row = _read_row(party_id, target, owners, key_id)
    if row is not None:
        conn.execute(insert(audit_log).values(**row))
    return row is not None


# --- reads, written off the request path --------------------------------------------------------

BATCH_SECONDS = 0.1     # a queued row waits at most this long (plus a write) before it is stored
BATCH_ROWS = 500        # or until this many are queued
IDLE_SECONDS = 5.0      # a writer thread with nothing to do for this long ends; the next row starts one
RETRY_SECONDS = 1.0     # pause after a failed write (the database restarting): the rows are kept


class _Writer:
    """The queue of one database's audit rows and the thread that stores them, oldest first."""

    def __init__(self, store):
        self.store = store
        self.cond = threading.Condition()
        self.pending: list[tuple[int, dict]] = []   # (sequence number, row), oldest first
        self.inflight: list[int] = []   # the oldest sequence number of each batch being written
        self.seq = 0                    # of the last row queued
        self.hurry = False              # a flush waits: write without waiting for a batch
        self.thread: threading.Thread | None = None

    def _start(self) -> None:   # under self.cond
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="corridor-audit", daemon=True)
            self.thread.start()

    def put(self, row: dict) -> None:
        with self.cond:
            self.seq += 1
            self.pending.append((self.seq, row))
            self._start()
            if len(self.pending) >= BATCH_ROWS:
                self.cond.notify_all()

    def _take(self) -> list[tuple[int, dict]]:   # under self.cond
        rows, self.pending = self.pending, []
        if rows:
            self.inflight.append(rows[0][0])
        return rows

    def _write(self, rows: list[tuple[int, dict]]) -> bool:
        """Store `rows` in one transaction; on failure put them back in order and return False."""
        try:
            with self.store.tx() as conn:
                conn.execute(insert(audit_log), [r for _, r in rows])
            ok = True
        except Exception:  # noqa: BLE001 - the database may be restarting: keep the rows, try again
            log.exception("%d audit rows not stored yet; will retry", len(rows))
            ok = False
        with self.cond:
            self.inflight.remove(rows[0][0])
            if not ok:
                self.pending = sorted(rows + self.pending, key=lambda r: r[0])
                self._start()
            self.cond.notify_all()
        return ok

    def _oldest(self) -> int | None:   # under self.cond: the oldest row not stored yet
        firsts = [*self.inflight, self.pending[0][0]] if self.pending else self.inflight
        return min(firsts, default=None)

    def _done_up_to(self, seq: int) -> bool:   # under self.cond
        oldest = self._oldest()
        return oldest is None or oldest > seq

    def _run(self) -> None:
        while True:
            with self.cond:
                if not self.cond.wait_for(lambda: self.pending, timeout=IDLE_SECONDS):
                    self.thread = None   # idle: end; the next put() starts another
                    return
                self.cond.wait_for(lambda: self.hurry or len(self.pending) >= BATCH_ROWS, timeout=BATCH_SECONDS)
                self.hurry = False
                rows = self._take()
            if rows and not self._write(rows):
                with self.cond:
                    self.cond.wait_for(lambda: self.hurry, timeout=RETRY_SECONDS)

    def flush(self, timeout: float) -> bool:
        """Store every row queued before this call; False when they could not all be stored in time."""
        with self.cond:
            target = self.seq
            rows = self._take()
        if rows and not self._write(rows):   # in the caller's thread: needs no writer thread
            return False
        with self.cond:
            self.hurry = True   # a batch the thread holds, or one put back after a failure
            self.cond.notify_all()
            return self.cond.wait_for(lambda: self._done_up_to(target), timeout=timeout)


_writers: dict = {}   # engine -> _Writer (a few per process; their threads end when idle)
_writers_lock = threading.Lock()


def _writer(store) -> _Writer:
    with _writers_lock:
        w = _writers.get(store.engine)
        if w is None:
            w = _writers[store.engine] = _Writer(store)
        return w


def later(store, *, party_id: str, action: str, target: str = "", key_id: str | None = None,
          detail: dict | None = None) -> None:
    """Queue one audit entry (stamped now) for the background writer of `store`."""
    _writer(store).put(_row(party_id=party_id, key_id=key_id, action=action, target=target, detail=detail))


def read_of_others_later(store, *, party_id: str, target: str, owners, key_id: str | None = None) -> bool:
    """`read_of_others`, queued: True when a row was queued (the reader is not one of the owners)."""
    row = _read_row(party_id, target, owners, key_id)
    if row is not None:
        _writer(store).put(row)
    return row is not None


def flush(store=None, timeout: float = 30.0) -> bool:
    """Store the queued audit rows of `store` (of every store when None); True when all were stored."""
    with _writers_lock:
        ws = list(_writers.values()) if store is None else [w for w in (_writers.get(store.engine),) if w]
    ok = True
    for w in ws:
        ok = w.flush(timeout) and ok
    return ok


def _on_dispose(store) -> None:
    """A store being closed stores its queued rows first, and its writer is let go."""
    if not flush(store, timeout=10.0):
        log.error("audit rows of %s could not be stored before it closed", store.engine.url)
    with _writers_lock:
        _writers.pop(store.engine, None)


_db.BEFORE_DISPOSE.append(_on_dispose)


@atexit.register
def _flush_at_exit() -> None:
    # daemon threads are still alive while atexit handlers run: an app that never ran its
    # shutdown (a TestClient without `with`, a script) still stores its audit rows
    if not flush(timeout=10.0):
        log.error("audit rows could not be stored before exit")


def entries(conn: Connection, *, party_id: str | None = None, limit: int = 100) -> list[dict]:
    """Newest audit entries first."""
    # by time: a queued read is stamped when it happened, but may be stored after a later write
    q = select(audit_log).order_by(audit_log.c.at.desc(), audit_log.c.id.desc()).limit(limit)
    if party_id:
        q = q.where(audit_log.c.party_id == party_id)
    return [dict(r._mapping) for r in conn.execute(q).all()]
