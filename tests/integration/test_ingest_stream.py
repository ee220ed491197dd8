"""A large message's events stream to PostgreSQL while they are attributed (store.events.Stream).

The streamed rows equal those `append` writes; a key another writer stored meanwhile, or a failure
half-way, leaves the log as `append` would; and through the ingest path a message with held events
stores the same events on both stores. The ingest path's pause of the garbage collector is undone
after each message and never turns on a collector the application keeps off.
"""

from __future__ import annotations

import gc
import json
import threading
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from corridor.domain.equipment import with_check_digit
from corridor.domain.parties import Party, Role
from corridor.ingest import service
from corridor.ingest.service import Ingestor
from corridor.store import events as ev
from corridor.store.parties import upsert_party
from corridor.store.tables import events

from test_ingest_fastpaths import RECEIVED, _raw_rows, varied_events


def _pg_only(store):
    if store.dialect != "postgresql":
        pytest.skip("the stream is PostgreSQL's (COPY); SQLite appends in its own process")


def test_streamed_rows_equal_the_rows_append_writes(store):
    _pg_only(store)
    batch = varied_events(250)
    with store.tx() as conn:
        assert ev.streams(conn, len(batch))
        with ev.Stream(conn, RECEIVED, len(batch) + 1) as log:
            for e in batch + [batch[7]]:        # a key twice in one message: the second is a duplicate
                log.add(e, ev.event_keys(e))
        stored, dups = log.result()
        assert [e for _, e in stored] == batch and dups == [batch[7]]
        assert [s for s, _ in stored] == sorted(s for s, _ in stored)
        streamed = _raw_rows(conn)
        conn.execute(events.delete())
        ev.append(conn, batch, RECEIVED, checked=True)
        assert streamed == _raw_rows(conn)


def test_a_stream_that_meets_a_key_stored_meanwhile_lets_the_database_decide(store):
    _pg_only(store)
    batch = varied_events(250)
    with store.tx() as conn:
        ev.append(conn, [batch[100]], RECEIVED)   # another writer's, after our key check
        with ev.Stream(conn, RECEIVED, len(batch)) as log:
            for e in batch:
                log.add(e, ev.event_keys(e))
        stored, dups = log.result()
        assert dups == [batch[100]] and [e for _, e in stored] == batch[:100] + batch[101:]
        assert [s for s, _ in stored] == sorted(s for s, _ in stored)
        assert ev.count(conn) == 250


def test_a_failure_while_streaming_leaves_the_transaction_as_it_was(store):
    _pg_only(store)
    batch = varied_events(250)
    with store.tx() as conn:
        ev.append(conn, batch[:3], RECEIVED)
        with pytest.raises(RuntimeError, match="attribution failed"):
            with ev.Stream(conn, RECEIVED, len(batch)) as log:
                for i, e in enumerate(batch[3:]):
                    log.add(e, ev.event_keys(e))
                    if i == 200:
                        raise RuntimeError("attribution failed")
        assert ev.count(conn) == 3   # the COPY was undone, the transaction still usable
        stored, _ = ev.append(conn, batch[3:], RECEIVED, checked=True)
        assert len(stored) == 247


def _dcsa(events_: list[tuple[str, str, datetime, str | None]]) -> bytes:
    """A DCSA 2.2 array of gate-in/load events: (container, code, time, booking or None)."""
    out = []
    for box, code, t, bkg in events_:
        e = {"eventID": str(uuid.uuid4()), "eventType": "EQUIPMENT", "eventClassifierCode": "ACT",
             "eventDateTime": t.isoformat(), "eventCreatedDateTime": t.isoformat(),
             "equipmentEventTypeCode": code, "equipmentReference": box, "emptyIndicatorCode": "LADEN",
             "eventLocation": {"UNLocationCode": "KZDOS"}}
        if bkg:
            e["documentReferences"] = [{"documentReferenceType": "BKG", "documentReferenceValue": bkg}]
        out.append(e)
    return json.dumps(out).encode()


def test_a_large_message_with_a_held_event_stores_the_rest_in_order(loaded_store):
    with loaded_store.tx() as conn:
        upsert_party(conn, Party("DOSPORT", "Dostyk terminal", frozenset({Role.TERMINAL})))
    t0 = datetime(2026, 1, 10, 8, 0, tzinfo=timezone(timedelta(hours=5)))
    boxes = [with_check_digit(f"STRU{i:06d}") for i in range(130)]
    items = [(b, code, t0 + timedelta(hours=h, minutes=i), f"BK{i:04d}")
             for h, code in ((0, "GTIN"), (6, "LOAD")) for i, b in enumerate(boxes)]
    odd = with_check_digit("STRU999999")
    # two trips of one box (two bookings), then a report without booking 60 days before both: held
    items += [(odd, "GTIN", t0, "BKA"), (odd, "GTIN", t0 + timedelta(days=10), "BKB"),
              (odd, "GTOT", t0 - timedelta(days=60), None)]
    content = _dcsa(items)
    ing = Ingestor(loaded_store)
    out = ing.ingest(content, source_party="DOSPORT", fmt="dcsa-json",
                     received_at=datetime(2026, 3, 1, tzinfo=timezone.utc))
    assert (out.stored, out.duplicates, out.quarantined) == (len(items) - 1, 0, 1)
    assert odd in out.reasons[0]
    with loaded_store.read() as conn:
        rows = conn.exec_driver_sql("SELECT seq, equipment, code, trip_id, message_id FROM events ORDER BY seq").all()
    assert len(rows) == len(items) - 1
    assert {r.message_id for r in rows} == {out.message_id}
    assert all(r.trip_id and r.trip_id.startswith(r.equipment) for r in rows)
    # append order is message order, the held event left out
    assert [(r.equipment, r.code) for r in rows] == [(b, c) for b, c, _, _ in items[:-1]]
    again = ing.ingest(content, source_party="DOSPORT", fmt="dcsa-json",
                       received_at=datetime(2026, 3, 1, tzinfo=timezone.utc))
    assert (again.stored, again.duplicates, again.quarantined) == (0, len(items) - 1, 1)


def test_the_collector_pause_is_undone_and_respects_an_application_that_keeps_it_off():
    assert gc.isenabled()
    with service.collector_paused():
        assert not gc.isenabled()
        with service.collector_paused():   # nested (another message in flight)
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ValueError):
        with service.collector_paused():
            raise ValueError("boom")
    assert gc.isenabled()
    with service.collector_paused(False):
        assert gc.isenabled()
    gc.disable()
    try:
        with service.collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_collector_resumes_when_the_last_of_concurrent_messages_is_done():
    first_in, release = threading.Event(), threading.Event()

    def first():
        with service.collector_paused():
            first_in.set()
            release.wait(5)

    t = threading.Thread(target=first)
    t.start()
    first_in.wait(5)
    with service.collector_paused():
        pass
    assert not gc.isenabled()    # the first message is still in flight
    release.set()
    t.join(5)
    assert gc.isenabled()
