"""Group commit (Ingestor.ingest_many) stores what one transaction per message stores (both stores)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from corridor.ingest.service import Incoming, Ingestor
from corridor.store.tables import consists, events, raw_messages, trip_status, trips
from corridor.store import Store
from corridor.twin.run import Sink, simulate
from corridor.wiring import ensure_wired
from test_twin_ingest import _small

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "edifact"
AT = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)


def _reported(conn) -> list[tuple]:
    """What the senders reported (Corridor's own EST/ALERT events depend on when tracking ran)."""
    return sorted(tuple(r) for r in conn.execute(select(
        events.c.dedup_key, events.c.trip_id, events.c.equipment, events.c.location, events.c.message_id,
        events.c.parties).where(events.c.source_party != "CORRIDOR")).all())


def _state(conn) -> dict:
    return {
        "events": _reported(conn),
        "trips": sorted(tuple(r) for r in conn.execute(select(
            trips.c.id, trips.c.booking_ref, trips.c.starts_at, trips.c.ends_at, trips.c.parties)).all()),
        "consists": sorted(tuple(r) for r in conn.execute(select(
            consists.c.carrier_kind, consists.c.carrier_id, consists.c.member_id, consists.c.since,
            consists.c.until)).all()),
        "raw": sorted(tuple(r) for r in conn.execute(select(
            raw_messages.c.id, raw_messages.c.status, raw_messages.c.stored, raw_messages.c.duplicates)).all()),
        "status": sorted(tuple(r) for r in conn.execute(select(
            trip_status.c.trip_id, trip_status.c.state, trip_status.c.location, trip_status.c.vehicle,
            trip_status.c.last_event_seq > 0)).all()),
    }


def test_a_window_in_one_transaction_stores_what_one_transaction_per_message_stores(loaded_store, templates,
                                                                                    request):
    ensure_wired()
    other = Store(templates.sqlite_copy(True) if loaded_store.dialect == "sqlite" else templates.pg_copy(True))
    request.addfinalizer(other.dispose)
    stores = [loaded_store, other]
    one_by_one = Sink.window

    def per_message(self, messages, received_at):
        for m in messages:
            self(m, received_at)

    batched = simulate(stores[0], _small(), days=16, seed=5)
    Sink.window = per_message
    try:
        single = simulate(stores[1], _small(), days=16, seed=5)
    finally:
        Sink.window = one_by_one
    assert batched.summary()["events"] == single.summary()["events"] > 300
    assert batched.summary()["quarantined"] == 0
    with stores[0].read() as a, stores[1].read() as b:
        got, want = _state(a), _state(b)
    for part in want:
        assert got[part] == want[part], part
    # and tracking ran over the batch: every trip has its status and its ETA laid
    assert len(got["status"]) == len(got["trips"])


def test_a_failing_message_does_not_sink_the_others_of_its_batch(loaded_store):
    files = [p.read_bytes() for p in sorted(FIXTURES.glob("*.edi"))][:4]
    assert len(files) == 4
    ing = Ingestor(loaded_store)

    def boom(_event):
        raise RuntimeError("a permission check that broke")

    batch = [Incoming(f, source_party="TGH", fmt="edifact", received_at=AT) for f in files]
    batch[2] = Incoming(files[2], source_party="TGH", fmt="edifact", received_at=AT, allowed=boom)
    with pytest.raises(RuntimeError, match="broke"):
        ing.ingest_many(batch)
    with loaded_store.read() as conn:
        kept = set(conn.execute(select(raw_messages.c.id)).scalars())
    from corridor.store.ingest import message_id
    # the others went in, each on its own; the failed one rolled back (its sender learns of it)
    assert {message_id(files[i], "TGH") for i in (0, 1, 3)} <= kept
    assert message_id(files[2], "TGH") not in kept or len(set(files)) < 4
    # and a batch that succeeds gives each message's own outcome, in order
    again = ing.ingest_many([Incoming(f, source_party="TGH", fmt="edifact", received_at=AT) for f in files])
    assert [o.message_id for o in again] == [message_id(f, "TGH") for f in files]
    assert all(o.stored == 0 for i, o in enumerate(again) if i != 2)
    assert again[2].stored + again[2].quarantined > 0
