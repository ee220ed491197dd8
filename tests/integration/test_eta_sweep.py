"""The time-driven ETA refresh: a box laid on a sailing that left without it, and of which nothing
was heard since, gets its ETA laid again by the sweep (`tracking.hooks.relay_missed`) on the next
sailing with space, published as an EST with the MISS alert, queued to subscriptions like any
event; before the sailing left, or with the box reported aboard, nothing changes. Both stores."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from alembic import command
from sqlalchemy import event, select

from corridor.store import tracking as repo
from corridor.store.db import alembic_config
from corridor.store.tables import events, outbox, trip_status
from corridor.tracking import hooks, outbox as subs

from tracking_helpers import booked_sailing, box_event, ingest

BOX = "MSCU1234566"
GAP = timedelta(hours=8)   # the next sailing leaves this much later at least: the ETA moves past the threshold


@pytest.fixture
def sailing(loaded_store):
    """ACME booked on an Aktau -> Alat sailing some days ago whose next sailing is GAP or more later."""
    return booked_sailing(loaded_store, (30, 5), GAP)


def status_of(store):
    with store.read() as conn:
        return conn.execute(select(trip_status).where(trip_status.c.equipment == BOX)).one()


def corridor_events(store) -> list:
    with store.read() as conn:
        return conn.execute(select(events).where(events.c.equipment == BOX, events.c.source_party == "CORRIDOR")
                            .order_by(events.c.seq)).all()


def waiting_at_aktau(store, rec, booked):
    """The box gates in at Aktau 20 h before its sailing; then nothing is heard."""
    ingest(store, [box_event("GTIN", booked.departs_at - timedelta(hours=20), "KZAAU", box=BOX, bkg=rec.ref)], "ACME")
    st = status_of(store)
    assert (st.next_departure_id, st.next_departs_at) == (booked.id, booked.departs_at)   # laid on its sailing
    return st


def test_a_box_the_ferry_left_behind_is_laid_on_the_next_sailing(loaded_store, sailing):
    rec, booked = sailing
    with loaded_store.tx() as conn:
        sub = subs.create(conn, "ACME", "http://127.0.0.1:9/cb", b"k" * 32, {"format": "corridor"})
    before = waiting_at_aktau(loaded_store, rec, booked)
    said = len(corridor_events(loaded_store))
    now = booked.departs_at + timedelta(hours=3)
    hooks.sweep(loaded_store, now)
    st = status_of(loaded_store)
    # laid on a later sailing, one that had not left an hour before the sweep
    assert st.next_departure_id not in (None, booked.id)
    assert st.next_departs_at >= now - hooks.SAILED_GRACE and st.next_departs_at >= booked.departs_at + GAP
    assert st.eta > before.eta + hooks.ETA_THRESHOLD
    new = corridor_events(loaded_store)[said:]
    est = [e for e in new if e.classifier == "EST"]
    assert len(est) == 1 and est[0].event_time == st.eta and est[0].location == "AZALA"
    assert est[0].created_at == now                       # laid at the sweep's time, not at a report's
    miss = [e for e in new if e.kind == "ALERT" and e.code == "MISS"]
    assert len(miss) == 1 and (miss[0].extra["booked"], miss[0].extra["next"]) == (booked.id, st.next_departure_id)
    with loaded_store.read() as conn:
        queued = {seq for s, seq in conn.execute(select(outbox.c.subscription_id, outbox.c.event_seq)) if s == sub}
    assert {est[0].seq, miss[0].seq} <= queued            # fanned out like any event
    # the next sweep finds it laid already: nothing again
    assert hooks.relay_missed(loaded_store, now + timedelta(hours=1)) == 0
    assert len(corridor_events(loaded_store)) == said + len(new)


def test_a_sweep_before_the_sailing_left_changes_nothing(loaded_store, sailing):
    rec, booked = sailing
    before = waiting_at_aktau(loaded_store, rec, booked)
    said = len(corridor_events(loaded_store))
    for now in (booked.departs_at - timedelta(hours=1), booked.departs_at + hooks.SAILED_GRACE / 2):
        assert hooks.sweep(loaded_store, now) == 0
        assert hooks.relay_missed(loaded_store, now) == 0
    st = status_of(loaded_store)
    assert (st.eta, st.next_departure_id, st.next_departs_at) == (before.eta, booked.id, booked.departs_at)
    assert len(corridor_events(loaded_store)) == said


def test_a_box_reported_loaded_is_not_laid_again(loaded_store, sailing):
    rec, booked = sailing
    waiting_at_aktau(loaded_store, rec, booked)
    ingest(loaded_store, [box_event("LOAD", booked.departs_at - timedelta(hours=2), "KZAAU", box=BOX, bkg=rec.ref,
                                    mode="VESSEL", voyage=booked.id)], "ACME")
    before = status_of(loaded_store)
    assert before.state == "at_sea" and before.next_departure_id is None   # aboard its last departure
    said = len(corridor_events(loaded_store))
    for now in (booked.departs_at + timedelta(hours=3), booked.arrives_at - timedelta(hours=1)):
        assert hooks.relay_missed(loaded_store, now) == 0
    assert status_of(loaded_store).eta == before.eta
    assert len(corridor_events(loaded_store)) == said


def test_nothing_due_is_one_indexed_read(loaded_store, sailing):
    rec, booked = sailing
    waiting_at_aktau(loaded_store, rec, booked)
    sent: list[str] = []

    def count(conn, cursor, statement, *args):
        sent.append(statement)
    event.listen(loaded_store.engine, "before_cursor_execute", count)
    try:
        assert hooks.relay_missed(loaded_store, booked.departs_at) == 0
    finally:
        event.remove(loaded_store.engine, "before_cursor_execute", count)
    assert len(sent) == 1, sent
    with loaded_store.engine.connect() as conn:
        ph = "?" if loaded_store.dialect == "sqlite" else "%s"
        sql = (f"SELECT s.trip_id FROM trip_status s JOIN trips t ON t.id = s.trip_id "
               f"WHERE s.next_departs_at < {ph} ORDER BY s.next_departs_at, s.trip_id LIMIT 1")
        if loaded_store.dialect == "sqlite":
            plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, ("2030-01-01",)))
        else:
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")   # only this transaction
            later = (datetime(2030, 1, 1, tzinfo=timezone.utc),)
            plan = " ".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql, later))
    assert "ix_trip_status_next_departs_at" in plan, plan


def test_trips_under_way_at_the_upgrade_are_laid_again_once(loaded_store, sailing):
    # a store from before revision 0004 knew no next departure: the upgrade marks its open trips due
    rec, booked = sailing
    waiting_at_aktau(loaded_store, rec, booked)
    cfg = alembic_config(loaded_store.url)
    command.downgrade(cfg, "0003_trip_timelines")
    command.upgrade(cfg, "head")
    st = status_of(loaded_store)
    assert st.next_departure_id is None and st.next_departs_at == st.since
    hooks.relay_missed(loaded_store, booked.departs_at - timedelta(hours=2))   # laid once: still its sailing
    st = status_of(loaded_store)
    assert (st.next_departure_id, st.next_departs_at) == (booked.id, booked.departs_at)
    hooks.relay_missed(loaded_store, booked.departs_at + timedelta(hours=3))   # and again once it left
    assert status_of(loaded_store).next_departure_id not in (None, booked.id)
    with loaded_store.read() as conn:
        assert repo.departed_without(conn, booked.departs_at + timedelta(hours=3), 10) == []


def test_silence_is_alerted_once_per_spell_across_sweeps(loaded_store, sailing):
    # the sweep keeps what it raised so as not to make it again: a new spell is still news. A box
    # waiting for its sailing is silent only from a day after the sailing left without a word; not
    # after its booked sailing, though: the MISS said that one went without it
    rec, booked = sailing
    t0 = booked.departs_at - timedelta(hours=20)
    waiting_at_aktau(loaded_store, rec, booked)
    assert [hooks.sweep(loaded_store, t0 + timedelta(hours=h)) for h in (30, 45, 46)] == [0, 0, 0]
    assert [(e.code, e.extra["as"]) for e in corridor_events(loaded_store) if e.code == "MISS"] == [("MISS", "missed")]
    ingest(loaded_store, [box_event("GTOT", t0 + timedelta(hours=50), "KZAAU", box=BOX, bkg=rec.ref)], "ACME")
    # out of the gate: laid on the next sailing with space from its reports (not booked: no MISS
    # when it goes), silent a day after that one left, once. (When that sailing leaves depends on
    # the timetable of the day the test runs: storms cancel some; the sweeps follow it.)
    assert hooks.sweep(loaded_store, t0 + timedelta(hours=60)) == 0
    nd = status_of(loaded_store).next_departs_at
    nd = nd.replace(tzinfo=timezone.utc) if nd.tzinfo is None else nd
    assert nd > t0 + timedelta(hours=50)
    after = nd + timedelta(hours=24 + 2)
    assert [hooks.sweep(loaded_store, after + timedelta(hours=h)) for h in (0, 1)] == [1, 0]
    siln = [e for e in corridor_events(loaded_store) if e.kind == "ALERT" and e.code == "SILN"]
    assert len(siln) == 1 and nd + timedelta(hours=24) <= siln[0].event_time <= after
    assert "was due to leave KZAAU" in siln[0].reason