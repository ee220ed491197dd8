"""Writers of one SQLite file in one process take turns first come, first served (store.db.WriterQueue).

Without the queue SQLite's busy wait let a writer that commits and begins again at once win the
lock over and over: a lone API post or audit write waited seconds and, in the demo, failed
"database is locked" after 60 s."""

from __future__ import annotations

import threading
import time

import pytest

from corridor.store import Store
from corridor.store.db import WriterQueue


def test_a_waiting_writer_goes_before_the_holder_writes_again():
    q = WriterQueue()
    order: list[str] = []
    waiting = threading.Event()

    def lone():
        waiting.set()
        with q.turn():
            order.append("lone")

    q.acquire()
    t = threading.Thread(target=lone)
    t.start()
    waiting.wait(5)
    deadline = time.monotonic() + 5
    while q._next < 2 and time.monotonic() < deadline:   # the lone writer has taken its turn number
        time.sleep(0.001)
    order.append("busy 1")
    q.release()
    with q.turn():   # the busy writer begins again at once: it queues behind the lone one
        order.append("busy 2")
    t.join(5)
    assert order == ["busy 1", "lone", "busy 2"]


def test_turns_are_reentrant_and_a_turn_given_up_is_skipped():
    q = WriterQueue(timeout=0.2)
    with q.turn():
        with q.turn():   # the same thread again: no wait on itself
            pass
        errors = []

        def impatient():
            try:
                with q.turn():
                    pass
            except TimeoutError as e:
                errors.append(e)

        t = threading.Thread(target=impatient)
        t.start()
        t.join(5)
        assert errors and "no turn to write" in str(errors[0])
    # the abandoned turn does not block the next writer
    done = threading.Event()
    threading.Thread(target=lambda: (q.acquire(), q.release(), done.set())).start()
    assert done.wait(5)


def test_store_writers_of_one_file_share_a_queue_and_none_starves(tmp_path):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    a, b = Store(url), Store(url)
    try:
        a.upgrade()
        with a.tx() as c:
            c.exec_driver_sql("CREATE TABLE t (who TEXT, n INTEGER)")
        stop = threading.Event()

        def busy():   # back-to-back write transactions, as the twin catching up
            n = 0
            while not stop.is_set():
                with a.tx() as c:
                    c.exec_driver_sql("INSERT INTO t VALUES ('busy', ?)", (n,))
                    time.sleep(0.01)
                n += 1

        t = threading.Thread(target=busy)
        t.start()
        try:
            time.sleep(0.05)
            for i in range(5):
                # each lone write lands before the busy writer's next-but-one transaction
                with b.read() as c:
                    before = c.exec_driver_sql("SELECT count(*) FROM t WHERE who = 'busy'").scalar()
                with b.tx() as c:
                    c.exec_driver_sql("INSERT INTO t VALUES ('lone', ?)", (i,))
                    during = c.exec_driver_sql("SELECT count(*) FROM t WHERE who = 'busy'").scalar()
                assert during - before <= 2, (before, during)
        finally:
            stop.set()
            t.join(10)
    finally:
        a.dispose()
        b.dispose()


@pytest.mark.parametrize("n", [8])
def test_many_threads_each_write_once_without_a_locked_error(tmp_path, n):
    s = Store(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        s.upgrade()
        with s.tx() as c:
            c.exec_driver_sql("CREATE TABLE t (n INTEGER)")
        errors: list[BaseException] = []

        def write(i):
            try:
                for _ in range(20):
                    with s.tx() as c:
                        c.exec_driver_sql("INSERT INTO t VALUES (?)", (i,))
            except BaseException as e:  # noqa: BLE001 - collected for the assertion
                errors.append(e)

        ts = [threading.Thread(target=write, args=(i,)) for i in range(n)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        assert not errors
        with s.read() as c:
            assert c.exec_driver_sql("SELECT count(*) FROM t").scalar() == 20 * n
    finally:
        s.dispose()
