"""The ingest path's fast ways write what the generic ways write, and its caches never go stale.

Bulk event rows (SQLite executemany, PostgreSQL COPY) are compared value for value with the rows
SQLAlchemy writes through the table's own column types; the alias registry kept in memory per
database sees a change made through another engine (another process) on the very next message.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert

from corridor.domain.events import Classifier, Event, EventKind, TransportCall
from corridor.domain.parties import Party, Role
from corridor.ingest.service import Ingestor
from corridor.store import Store
from corridor.store import events as ev
from corridor.store.parties import set_alias, upsert_party
from corridor.store.tables import events

RECEIVED = datetime(2026, 3, 2, 12, 0, 0, 123456, tzinfo=timezone.utc)
ZONES = [timezone(timedelta(hours=5)), timezone.utc, timezone(timedelta(hours=-3, minutes=-30))]
# extra values whose Python equality hides different JSON: 1/True, 0.0/-0.0, and unhashable ones
EXTRAS = [{}, {"dcsa_version": "2.2"}, {"v": 1}, {"v": True}, {"v": 0.0}, {"v": -0.0}, {"v": None},
          {"seals": [{"sealNumber": "S1", "sealType": "WIR"}]}, {"a": {"b": [1, "x"]}}, {"v": "ü\u0416"}]


def varied_events(n: int) -> list[Event]:
    """n distinct events over every shape the row builders branch on."""
    out = []
    for i in range(n):
        t = datetime(2026, 3, 1, 8, 0, tzinfo=ZONES[i % 3]) + timedelta(minutes=i, microseconds=i * 7)
        created = [None, t, t.astimezone(timezone.utc), t - timedelta(hours=1)][i % 4]
        refs = [(), (("BKG", f"BK{i % 5}"),), (("WGN", "12345678"), ("BKG", "B2")), (("BOL", "Ж-1"),)][i % 4]
        call = None
        if i % 3 == 1:
            call = TransportCall(mode="RAIL", location="KZDOS", voyage=f"T{i % 4}", vehicle="loco",
                                 departure_id=f"D{i % 2}", facility_code="DOS1", facility_type="RAMP",
                                 wagon="87654321" if i % 2 else None)
        if i % 7 == 3:
            e = Event(kind=EventKind.SHIPMENT, code="CONF", classifier=Classifier.ACT, event_time=t,
                      references=(("BKG", f"S{i}"),), source_party="CARRIER", reason="confirmed")
        else:
            e = Event(kind=EventKind.EQUIPMENT, code=("GTIN", "LOAD", "DISC", "GTOT")[i % 4],
                      classifier=(Classifier.ACT, Classifier.EST, Classifier.PLN)[i % 3], event_time=t,
                      location=["KZAAU", None, "AZBAK"][i % 3], equipment=f"MSKU{i:07d}"[:11],
                      transport_call=call, references=refs, trip_id=f"trip-{i % 6}" if i % 2 else None,
                      lat=43.65 + i / 1000 if i % 5 == 0 else None, lon=51.2 if i % 5 == 0 else None,
                      source_party=["", "PORT", "KTZ"][i % 3], parties=frozenset({"A", "B"} if i % 2 else set()),
                      message_id=f"m{i % 3}", created_at=created, event_id=f"e{i}",
                      extra=dict(EXTRAS[i % len(EXTRAS)]))
        out.append(e)
    return out


def _raw_rows(conn) -> list[tuple]:
    """The stored values as the database driver returns them (no column type in between)."""
    cols = ",".join(c.name for c in events.columns if c.name != "seq")
    return [tuple(r) for r in conn.exec_driver_sql(f"SELECT {cols} FROM events ORDER BY seq")]


@pytest.mark.parametrize("size", [5, 250])   # the small path, and COPY on PostgreSQL
def test_bulk_rows_equal_the_rows_sqlalchemy_writes(store, size):
    batch = varied_events(size)
    for checked in (False, True):
        with store.tx() as conn:
            stored, dups = ev.append(conn, batch, RECEIVED, checked=checked)
            assert len(stored) == size and not dups
            assert [e for _, e in stored] == batch and [s for s, _ in stored] == sorted(s for s, _ in stored)
            fast = _raw_rows(conn)
            conn.execute(events.delete())
            conn.execute(insert(events), [ev.event_row(e, RECEIVED) for e in batch])
            assert fast == _raw_rows(conn)
            conn.execute(events.delete())


def test_a_copy_that_meets_a_key_stored_meanwhile_lets_the_database_decide(store):
    if store.dialect != "postgresql":
        pytest.skip("on SQLite the write lock held since BEGIN keeps others out between check and insert")
    batch = varied_events(250)
    with store.tx() as conn:
        ev.append(conn, [batch[100]], RECEIVED)           # another writer's, after our key check
        stored, dups = ev.append(conn, batch, RECEIVED, checked=True)
        assert dups == [batch[100]] and [e for _, e in stored] == batch[:100] + batch[101:]
        assert [s for s, _ in stored] == sorted(s for s, _ in stored)
        assert ev.count(conn) == 250



def test_a_small_batch_that_meets_stored_keys_stores_only_the_new_in_order(store):
    # the small path (PostgreSQL: one INSERT .. VALUES .. ON CONFLICT DO NOTHING on the driver)
    batch = varied_events(12)
    with store.tx() as conn:
        first, _ = ev.append(conn, [batch[3], batch[9]], RECEIVED)
        stored, dups = ev.append(conn, batch + [batch[5]], RECEIVED)
        assert [e for _, e in stored] == [e for i, e in enumerate(batch) if i not in (3, 9)]
        assert [s for s, _ in stored] == sorted(s for s, _ in stored) and stored[0][0] > first[-1][0]
        assert sorted(map(id, dups)) == sorted(map(id, [batch[3], batch[9], batch[5]]))
        assert ev.count(conn) == 12

def _gate_in(sender: str, place: str, box: str, ref: str) -> bytes:
    return (f"UNA:+.? 'UNB+UNOC:3+{sender}:ZZZ+CORRIDOR:ZZZ+260302:0810+{ref}'"
            "UNH+1+CODECO:D:95B:UN:ITG14'BGM+34+GI0001+9'"
            f"EQD+CN+{box}+45G1:102:5++2+5'DTM+7:202603020810:203'LOC+165+{place}:139:6'"
            f"CNT+16:1'UNT+7+1'UNZ+1+{ref}'").encode()


def test_registry_changes_made_elsewhere_count_on_the_next_message(loaded_store):
    ing = Ingestor(loaded_store)
    first = ing.ingest(_gate_in("NEWPORT01", "KZQQQ", "MSKU1234565", "1"), fmt="edifact")
    assert first.stored == 0 and "unknown sender id 'NEWPORT01'" in first.reasons[0]

    other = Store(loaded_store.url)      # another process's engine: this one's memory is not told
    with other.tx() as conn:
        upsert_party(conn, Party("NEWPORT", "New port", frozenset({Role.TERMINAL}), edi_ids=("NEWPORT01",)))
    second = ing.ingest(_gate_in("NEWPORT01", "KZQQQ", "TGHU1234567", "2"), fmt="edifact")
    assert second.source_party == "NEWPORT" and "unknown location code 'KZQQQ'" in second.reasons[0]

    with other.tx() as conn:
        set_alias(conn, "location", "KZQQQ", "KZ_AKX")
    other.dispose()
    third = ing.ingest(_gate_in("NEWPORT01", "KZQQQ", "CSQU3054383", "3"), fmt="edifact")
    assert (third.stored, third.quarantined) == (1, 0), third.reasons
    with loaded_store.read() as conn:
        (row,) = conn.execute(ev.select_events()).all()
    stored = ev.row_to_event(row)
    # the alias gives the place and its zone: Aktau local time, UTC+5
    assert stored.location == "KZAAU" and stored.event_time.utcoffset() == timedelta(hours=5)
