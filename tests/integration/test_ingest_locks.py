"""Trip attribution locks: a message of thousands of containers goes in on PostgreSQL (one advisory
lock per box ran the server's shared lock table out: "out of shared memory"), the locks still keep
two workers from making two trips of one box, and two messages of other boxes do not wait for each
other — both stores where a store is involved."""

from __future__ import annotations

import json
import threading
import time

import pytest
from sqlalchemy import func, select

from corridor.domain.equipment import with_check_digit
from corridor.domain.parties import Party, Role
from corridor.ingest.service import Ingestor
from corridor.store import ingest as repo
from corridor.store.parties import upsert_party
from corridor.store.tables import quarantine, trips
from test_ingest import dcsa_event


def _port(store) -> None:
    with store.tx() as conn:
        upsert_party(conn, Party("PORTAKTAU", "Aktau", frozenset({Role.TERMINAL}), "KZ", frozenset({"KZ_AKX"})))


def boxes(prefix: str, n: int, first: int = 0) -> list[str]:
    return [with_check_digit(f"{prefix}U{i:06d}") for i in range(first, first + n)]


def _trips_per_box(store) -> dict[str, int]:
    with store.read() as conn:
        return dict(conn.execute(select(trips.c.equipment, func.count()).group_by(trips.c.equipment)).all())


def test_a_gate_report_of_7000_containers_goes_in(loaded_store):
    """A terminal's yard census as one message: every box stored, one trip each."""
    _port(loaded_store)
    yard = boxes("YRD", 7000)
    body = json.dumps([dcsa_event("2026-03-02T08:10:00+05:00", box=b) for b in yard]).encode()
    out = Ingestor(loaded_store).ingest(body, source_party="PORTAKTAU", fmt="dcsa-json")
    assert (out.stored, out.quarantined, out.reasons) == (7000, 0, [])
    per_box = _trips_per_box(loaded_store)
    assert len(per_box) == 7000 and set(per_box.values()) == {1}


@pytest.mark.postgres
def test_a_message_holds_a_bounded_number_of_locks(loaded_store):
    if loaded_store.dialect != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's")
    for n in (1, repo.BOX_LOCKS_MAX, repo.BOX_LOCKS_MAX + 1, 7000):
        with loaded_store.tx() as conn:
            repo.lock_containers(conn, boxes("LCK", n))
            held = conn.exec_driver_sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                        "AND pid = pg_backend_pid()").scalar_one()
        assert 1 <= held <= (2 * n if n <= repo.BOX_LOCKS_MAX else repo.LOCK_BUCKETS), (n, held)


def _blocks(store, first: list[str], second: list[str]) -> bool:
    """True when a transaction holding `first`'s locks makes `second`'s wait."""
    import psycopg
    with store.engine.connect() as a, store.engine.connect() as b:
        ta = a.begin()
        repo.lock_containers(a, first)
        tb = b.begin()
        b.exec_driver_sql("SET LOCAL lock_timeout = '300ms'")
        try:
            repo.lock_containers(b, second)
            blocked = False
        except Exception as e:   # noqa: BLE001 - only the lock timeout means "waited"
            assert isinstance(getattr(e, "orig", e), psycopg.errors.LockNotAvailable) or \
                isinstance(e, psycopg.errors.LockNotAvailable), e
            blocked = True
        tb.rollback()
        ta.rollback()
    return blocked


@pytest.mark.postgres
def test_two_holds_of_one_box_exclude_each_other_and_other_boxes_run_side_by_side(loaded_store):
    if loaded_store.dialect != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's")
    box = with_check_digit("MSKU123456")
    small = [box, *boxes("SML", 3)]
    large = boxes("LRG", repo.BOX_LOCKS_MAX + 50) + [box]
    other_large = boxes("OLG", 3000) + [box]
    for first, second in ((small, [box]), ([box], small), (large, [box]), ([box], large), (large, other_large),
                          (small, large)):
        assert _blocks(loaded_store, first, second), (len(first), len(second))
    # small messages of other boxes do not wait for each other (whatever buckets they share)
    assert not _blocks(loaded_store, boxes("AAA", 20), boxes("BBB", 20))


def test_concurrent_large_and_small_messages_make_one_trip_per_box(loaded_store):
    """Four workers at one moment: three messages of 100 boxes (bucket locks) and one of 3 boxes
    (box locks), all naming the same containers: one trip each, nothing held."""
    _port(loaded_store)
    fleet = boxes("CNC", 100)
    msgs = [json.dumps([dcsa_event(f"2026-03-02T08:{m:02d}:00+05:00", box=b, code=c) for b in fleet]).encode()
            for m, c in ((10, "GTIN"), (11, "LOAD"), (12, "DISC"))]
    msgs.append(json.dumps([dcsa_event("2026-03-02T08:13:00+05:00", box=b, code="GTOT")
                            for b in (fleet[0], fleet[50], fleet[99])]).encode())
    ing = Ingestor(loaded_store)
    barrier, errors = threading.Barrier(len(msgs)), []

    def worker(raw: bytes) -> None:
        barrier.wait()
        try:
            ing.ingest(raw, source_party="PORTAKTAU", fmt="dcsa-json")
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(m,)) for m in msgs]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and time.monotonic() - t0 < 120
    with loaded_store.read() as conn:
        held = conn.execute(select(func.count()).select_from(quarantine)).scalar_one()
    assert _trips_per_box(loaded_store) == {b: 1 for b in fleet} and held == 0
