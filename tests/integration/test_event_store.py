"""The event log on both stores: exactly-once append, offsets kept, concurrent appenders."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from corridor.domain.events import Classifier, Event, EventKind, TransportCall
from corridor.store import events as ev

AQTAU = timezone(timedelta(hours=5))


def _load(i: int, when: datetime | None = None) -> Event:
    return Event(EventKind.EQUIPMENT, "LOAD", Classifier.ACT,
                 when or datetime(2026, 11, 1, 10, 0, tzinfo=AQTAU) + timedelta(minutes=i),
                 location="KZAAU", equipment="MSKU1234565", source_party="PORTAKTAU",
                 transport_call=TransportCall("VESSEL", voyage=f"V{i}"), references=(("BKG", "B1"),))


def test_append_is_exactly_once(store):
    batch = [_load(i) for i in range(10)]
    with store.tx() as conn:
        stored, dups = ev.append(conn, batch + batch[:3])
    assert len(stored) == 10 and len(dups) == 3
    with store.tx() as conn:
        stored, dups = ev.append(conn, batch)
    assert stored == [] and len(dups) == 10
    with store.read() as conn:
        assert ev.count(conn) == 10


def test_offsets_and_fields_survive_a_round_trip(store):
    e = _load(1)
    with store.tx() as conn:
        (seq, _), = ev.append(conn, [e])[0]
    with store.read() as conn:
        back = ev.row_to_event(conn.execute(ev.select_events()).first())
    assert back.event_time == e.event_time and back.event_time.utcoffset() == timedelta(hours=5)
    assert back.reference("BKG") == "B1" and back.transport_call.voyage == "V1"
    assert back.dedup_key == e.dedup_key and "PORTAKTAU" in back.parties


def test_one_batch_keeps_each_events_own_offset_across_a_dst_change(store):
    # Duisburg is UTC+1 in winter and UTC+2 in summer: one zone object, two offsets in one batch
    berlin = ZoneInfo("Europe/Berlin")
    batch = [_load(i, datetime(2026, m, 2, 9, 0, tzinfo=berlin)) for i, m in enumerate((1, 7, 1, 7))]
    with store.tx() as conn:
        stored, _ = ev.append(conn, batch)
    assert len(stored) == 4
    with store.read() as conn:
        back = [ev.row_to_event(r) for r in conn.execute(ev.select_events()).all()]
    assert sorted((b.event_time.utcoffset(), b.event_time) for b in back) == sorted(
        (e.event_time.utcoffset(), e.event_time) for e in batch)
    assert {b.event_time.utcoffset() for b in back} == {timedelta(hours=1), timedelta(hours=2)}


def test_a_later_estimate_is_a_new_row_of_the_same_milestone(store):
    t = datetime(2026, 11, 5, 8, 0, tzinfo=AQTAU)
    est1 = Event(EventKind.TRANSPORT, "ARRI", Classifier.EST, t, location="AZALA",
                 transport_call=TransportCall("VESSEL", voyage="ASCO-1"))
    est2 = Event(EventKind.TRANSPORT, "ARRI", Classifier.EST, t + timedelta(hours=9), location="AZALA",
                 transport_call=TransportCall("VESSEL", voyage="ASCO-1"))
    assert est1.milestone_key == est2.milestone_key and est1.dedup_key != est2.dedup_key
    with store.tx() as conn:
        stored, _ = ev.append(conn, [est1, est2])
    assert len(stored) == 2


def test_concurrent_appenders_store_each_event_once(store):
    batch = [_load(i) for i in range(200)]
    results = []

    def worker():
        with store.tx() as conn:
            s, d = ev.append(conn, batch)
            results.append((len(s), len(d)))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(s for s, _ in results) == 200
    assert sum(d for _, d in results) == 600
    with store.read() as conn:
        assert ev.count(conn) == 200


def test_naive_times_are_refused(store):
    import pytest
    with pytest.raises(ValueError):
        Event(EventKind.EQUIPMENT, "LOAD", Classifier.ACT, datetime(2026, 1, 1))
