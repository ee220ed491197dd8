"""The tracking steps of one ingest batch work in bulk: the batch functions give exactly what the
one-trip ones give, the driver-level status reads and writes agree with the table's own types,
and a timetable reload reads again only the departures that changed — on both stores."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from corridor.booking.containers import parse_containers
from corridor.booking.service import BookingService
from corridor.domain.parties import Role
from corridor.store import events as evstore
from corridor.store import network as netstore
from corridor.store import tracking as repo
from corridor.store.tables import booking_legs, events, trip_status
from corridor.tracking import eta, hooks, status

from tracking_helpers import box_event, ingest, party

BOXES = ("MSCU1234566", "TGHU1234567", "CSQU3054383")
ALMATY = timezone(timedelta(hours=5))


@pytest.fixture
def three_trips(loaded_store):
    """Two boxes booked Aktau -> Alat (one late for its sailing, one in time) and one without a booking."""
    party(loaded_store, "ACME", Role.SHIPPER)
    now = datetime.now(timezone.utc)
    with loaded_store.read() as conn:
        deps = [d for d, _ in netstore.list_departures(conn, origin="KZ_AKX", destination="AZ_ALA", limit=500)
                if d.status != "cancelled"]
    booked = next(d for d in deps if now - timedelta(days=12) < d.departs_at < now - timedelta(days=8))
    rec = BookingService(loaded_store).book("ACME", "KZAAU", "AZALA", booked.departs_at - timedelta(days=2),
                                            parse_containers("2x40"), [booked.id], with_alternatives=False)
    ingest(loaded_store, [
        box_event("GTIN", booked.departs_at + timedelta(days=2), "KZAAU", box=BOXES[0], bkg=rec.ref),
        box_event("GTIN", booked.departs_at - timedelta(hours=30), "KZAAU", box=BOXES[1], bkg=rec.ref),
        box_event("GTIN", booked.departs_at - timedelta(hours=30), "KZDOS", box=BOXES[2], bkg="NOT-BOOKED"),
    ], "ACME")
    with loaded_store.read() as conn:
        trip_of = dict(conn.execute(select(trip_status.c.equipment, trip_status.c.trip_id).where(
            trip_status.c.equipment.in_(BOXES))).all())
    return rec, [trip_of[b] for b in BOXES]


def test_batch_etas_equal_the_one_trip_etas(loaded_store, three_trips):
    rec, ids = three_trips
    with loaded_store.read() as conn:
        sts = [repo.statuses(conn, ids)[t] for t in ids]
        batch = eta.trip_etas(conn, sts + sts[:1], key="batch-test")    # a repeated trip shares its laying
        one_by_one = [eta.trip_eta(conn, st) for st in sts]
    assert batch[:3] == one_by_one and batch[3] == batch[0]
    assert [e is not None for e, _ in batch[:3]] == [True, True, False]   # no booking, no planned place: no ETA
    assert batch[0][0].missed and not batch[1][0].missed                  # the late box waits for a later sailing


def test_booking_plans_and_published_etas_in_bulk(loaded_store, three_trips):
    rec, ids = three_trips
    with loaded_store.read() as conn:
        plans = repo.booking_plans(conn, [rec.ref, "NOT-BOOKED", None])
        legs = conn.execute(select(booking_legs.c.origin, booking_legs.c.destination, booking_legs.c.departure_id)
                            .where(booking_legs.c.booking_ref == rec.ref, booking_legs.c.active.is_(True))
                            .order_by(booking_legs.c.seq)).all()
        assert plans == {rec.ref: ([tuple(r) for r in legs], "AZ_ALA", rec.promised_arrival)}
        hops, dest, promised = eta.booking_hops(conn, rec.ref)
        assert [(h.origin, h.destination, h.booked) for h in hops] == [tuple(r) for r in legs]
        assert (dest, promised, hops[0].origin) == ("AZ_ALA", rec.promised_arrival, "KZ_AKX")
        published = repo.last_published(conn, ids, hooks.CORRIDOR)
        for t in ids:
            latest = conn.execute(select(events.c.event_time).where(
                events.c.trip_id == t, events.c.source_party == "CORRIDOR", events.c.classifier == "EST")
                .order_by(events.c.seq.desc()).limit(1)).scalar()
            assert published.get(t) == latest and hooks.last_published(conn, t) == latest
    assert len(published) == 2   # the trip without a destination has no published ETA


def test_status_rows_written_by_the_driver_read_back_as_the_table_types_them(store):
    since = datetime(2025, 3, 1, 8, 30, 15, 123456, tzinfo=ALMATY)
    row = {**dict.fromkeys(repo.STATUS_COLUMNS), "trip_id": "T-1", "equipment": "MSCU1234566", "state": "on_rail",
           "since": since, "last_event_seq": 7, "last_heard_at": since, "lat": 43.25, "lon": 76.95,
           "position_at": since, "parties": " ACME "}
    with store.tx() as conn:
        repo.save_statuses(conn, [row], [])
        repo.set_etas(conn, [("T-1", since + timedelta(days=3), since + timedelta(days=2), since + timedelta(days=4))])
        moved = {**row, "state": "at_facility", "since": since + timedelta(hours=9), "last_event_seq": 9,
                 "eta": None}   # folding never writes the ETA
        repo.save_statuses(conn, [], [moved], repo.MOVING_COLUMNS)
    with store.read() as conn:
        typed = dict(conn.execute(select(trip_status).where(trip_status.c.trip_id == "T-1")).one()._mapping)
        mine = repo.statuses(conn, ["T-1", "T-none"])
    assert mine == {"T-1": typed}
    assert typed["since"] == since + timedelta(hours=9) and typed["since"].tzinfo == timezone.utc
    assert typed["eta"] == since + timedelta(days=3) and typed["eta_high"] == since + timedelta(days=4)
    assert (typed["state"], typed["last_event_seq"], typed["lat"]) == ("at_facility", 9, 43.25)


def test_folded_rows_are_what_a_read_gives(loaded_store, three_trips):
    _, ids = three_trips
    with loaded_store.tx() as conn:
        before = repo.statuses(conn, ids)
        stored = [p for t in ids for p in evstore.for_trip(conn, t)]
        conn.execute(trip_status.delete().where(trip_status.c.trip_id.in_(ids)))
        moved, rows = status.fold(conn, stored)        # the rows again from the trips' events
        assert moved == set(ids) and rows == repo.statuses(conn, ids)
        times = [r[c] for r in rows.values() for c in ("since", "last_heard_at") if r[c] is not None]
        assert times and all(t.tzinfo is timezone.utc for t in times)   # as a read gives them, not as sent
        assert {t: {**r, "eta": None, "eta_low": None, "eta_high": None, "next_departure_id": None, "next_departs_at": None}
                for t, r in before.items()} == rows
        _, again = status.fold(conn, stored, known=rows)
        assert again == repo.statuses(conn, ids) == rows
        conn.rollback()


def test_timetable_reload_reads_again_only_changed_departures(loaded_store):
    with loaded_store.tx() as conn:
        first = eta._CachedTimetable(conn)
        pair, (_, deps) = next((k, v) for k, v in first.by_pair.items()
                               if len(v[1]) > 3 and v[1][1].status != "cancelled")
        cancelled, kept = deps[1], deps[2]
        netstore.set_status(conn, cancelled.id, "cancelled")
        again = eta._CachedTimetable(conn, first)
        fresh = eta._CachedTimetable(conn)
    assert again.by_id[cancelled.id].status == "cancelled" and again.by_id[cancelled.id] is not cancelled
    assert again.by_id[kept.id] is kept
    assert {k: [d.id for d in v[1]] for k, v in again.by_pair.items()} == \
        {k: [d.id for d in v[1]] for k, v in fresh.by_pair.items()}
    assert again.by_pair[pair][0] == fresh.by_pair[pair][0] == sorted(fresh.by_pair[pair][0])
    assert again.by_id == fresh.by_id


def test_0008_fills_the_published_eta_of_each_trip_from_the_event_log(loaded_store, three_trips):
    # the status row keeps the latest ETA Corridor published; a store from before it gets it from the log
    from alembic import command
    from corridor.store.db import alembic_config
    rec, ids = three_trips
    with loaded_store.read() as conn:
        kept = repo.published_etas(conn, ids)
        assert kept == repo.last_published(conn, ids, hooks.CORRIDOR) and len(kept) == 2
    cfg = alembic_config(loaded_store.url)
    command.downgrade(cfg, "0007_events_service_size_empty")
    loaded_store.engine.dispose()   # pooled connections may hold the old table's shape
    command.upgrade(cfg, "head")
    loaded_store.engine.dispose()
    with loaded_store.read() as conn:
        assert repo.published_etas(conn, ids) == kept
    # and ingest goes on from it: a move that shifts the ETA far publishes, and the row follows
    later = kept[ids[0]]
    ingest(loaded_store, [box_event("GTOT", datetime.now(timezone.utc) - timedelta(hours=1), "KZAAU", box=BOXES[0],
                                    bkg=rec.ref)], "ACME")
    with loaded_store.read() as conn:
        assert repo.published_etas(conn, ids) == repo.last_published(conn, ids, hooks.CORRIDOR)
        assert repo.published_etas(conn, ids)[ids[0]] != later
