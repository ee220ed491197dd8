"""The twin through the real platform: bookings, wagon-level reports, reused containers, storm notices."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from corridor.access.visibility import viewer_for
from corridor.store.parties import get_party
from corridor.store import tracking as repo
from corridor.store.tables import booking_legs, bookings, departures, events, trips
from corridor.tracking.eta import trip_etas
from corridor.tracking.timeline import booking_timeline
from corridor.twin.run import simulate
from corridor.twin.scenario import load_scenario


def _small(storm_share: float = 0.0, spell_days: float = 3, **over):
    """Urumqi to Baku only, short trains, quick turnaround, inside the test store's timetable."""
    sc = load_scenario(name="small", origins={"CN_XIA": {"trains_per_month": 0}, "CN_CQI": {"trains_per_month": 0},
                                              "CN_LYG": {"trains_per_month": 0},
                                              "CN_URM": {"trains_per_month": 12}},
                       destinations={"AZ_ABS": 1.0, "GE_PTI": 0.0, "GE_BUS": 0.0, "TR_KRS": 0.0},
                       wagons_per_train=[8, 10], container_pool=0, turnaround_days=[0.2, 0.5],
                       start=(date.today() - timedelta(days=25)).isoformat(), storm_spell_days=spell_days, **over)
    sc.params["storm_share"] = {m: storm_share for m in range(1, 13)}   # the same weather in any month
    return sc


def test_twin_books_and_reports_through_the_platform(loaded_store):
    r = simulate(loaded_store, _small(), days=24, seed=3)
    s = r.summary()
    assert s["trains"] >= 4 and s["events"] > 0 and s["unbooked_shares"] == 0
    assert s["quarantined"] == 0, r.feed.reasons.most_common(3)
    assert {"csv", "edifact", "dcsa-json"} <= set(s["messages_by_format"])
    with loaded_store.read() as conn:
        # every booking went through the booking service: legs on timetable departures, space held, a promise
        refs = conn.execute(select(bookings.c.ref, bookings.c.promised_arrival)).all()
        assert len(refs) == s["bookings"] and all(p is not None for _, p in refs)
        # the legs in force (a booking re-booked after a missed connection keeps its old legs as history)
        legs = conn.execute(select(booking_legs.c.departure_id).where(booking_legs.c.active)).scalars().all()
        assert len(legs) == len(refs) * 5                 # URM-AKL-DOS-AKX/KUR-ALA-ABS
        held = conn.execute(select(func.sum(departures.c.reserved_teu))).scalar()
        assert held >= s["teu"]
        plans = conn.execute(select(func.count()).select_from(events).where(events.c.classifier == "PLN")).scalar()
        assert plans >= len(legs) * 2
        # a wagon-level ARRI moved every container loaded on that wagon
        w = conn.execute(select(events.c.wagon, events.c.location).where(
            events.c.kind == "TRANSPORT", events.c.code == "ARRI", events.c.wagon.is_not(None),
            events.c.equipment.is_not(None))).first()
        assert w is not None
        loaded = set(conn.execute(select(events.c.equipment).where(events.c.code == "LOAD",
                                                                   events.c.wagon == w.wagon)).scalars())
        moved = set(conn.execute(select(events.c.equipment).where(
            events.c.code == "ARRI", events.c.wagon == w.wagon, events.c.location == w.location,
            events.c.equipment.is_not(None))).scalars())
        assert moved and moved <= loaded
        # a sailing's departure moved the containers on board (DCSA vessel event -> COARRI consists)
        on_vessel = conn.execute(select(func.count()).select_from(events).where(
            events.c.kind == "TRANSPORT", events.c.mode == "VESSEL", events.c.equipment.is_not(None))).scalar()
        assert on_vessel > 0


def test_a_reused_container_is_two_trips_two_shippers_never_seeing_each_other(loaded_store):
    simulate(loaded_store, _small(), days=30, seed=3)
    with loaded_store.read() as conn:
        reused = conn.execute(select(trips.c.equipment).group_by(trips.c.equipment)
                              .having(func.count() > 1)).scalars().all()
        assert reused, "no container number was reused"
        pair = None
        for number in reused:
            two = conn.execute(select(trips.c.id, trips.c.booking_ref, trips.c.ends_at, bookings.c.shipper)
                               .join(bookings, bookings.c.ref == trips.c.booking_ref)
                               .where(trips.c.equipment == number).order_by(trips.c.starts_at)).all()
            if len(two) >= 2 and two[0].shipper != two[1].shipper:
                pair = two[:2]
                break
        assert pair, "no container went to two different shippers"
        first, second = pair
        for t in pair:      # no event of one trip in the other's, none after a closed trip's end
            rows = conn.execute(select(events.c.booking_ref, events.c.event_time, events.c.classifier, events.c.code)
                                .where(events.c.trip_id == t.id)).all()
            assert {r.booking_ref for r in rows if r.booking_ref} <= {t.booking_ref}
            if t.ends_at is not None:   # what happened (not what was planned) lies inside the trip
                late = [r for r in rows if r.classifier == "ACT" and r.event_time > t.ends_at]
                assert not late, late
        a = viewer_for(conn, get_party(conn, first.shipper))
        b = viewer_for(conn, get_party(conn, second.shipper))
        assert booking_timeline(conn, first.booking_ref, a) is not None
        assert booking_timeline(conn, second.booking_ref, a) is None
        assert booking_timeline(conn, first.booking_ref, b) is None
        mine = booking_timeline(conn, second.booking_ref, b)
        assert {c["trip_id"] for c in mine["containers"]}.isdisjoint({first.id})


def test_a_storm_closure_notice_cancels_sailings_and_alerts_the_bookings(loaded_store):
    r = simulate(loaded_store, _small(storm_share=0.9, spell_days=6), days=14, seed=3)
    st = r.twin.stats
    assert st.closures and st.notices
    alerted = sum(n[3] for n in st.notices)
    assert alerted > 0
    with loaded_store.read() as conn:
        # the notices service cancelled the ports' departures in the storm
        cancelled = conn.execute(select(func.count()).select_from(departures).where(
            departures.c.status == "cancelled", departures.c.origin.in_(("KZ_AKX", "KZ_KUR", "AZ_ALA")))).scalar()
        assert cancelled >= sum(n[2] for n in st.notices) > 0
        alert = conn.execute(select(events.c.booking_ref, events.c.reason, events.c.event_time).where(
            events.c.code == "NOTC", events.c.booking_ref.is_not(None))).first()
        assert alert is not None and "closure" in alert.reason and "storm" in alert.reason
        # raised at simulated time, when the port published it, not at the wall clock's
        assert r.twin.t0 <= alert.event_time <= r.twin.t0 + timedelta(days=14), alert.event_time
        shipper = conn.execute(select(bookings.c.shipper).where(bookings.c.ref == alert.booking_ref)).scalar()
        tl = booking_timeline(conn, alert.booking_ref, viewer_for(conn, get_party(conn, shipper)))
        assert tl is not None
        # the alert is addressed to the booking's parties (booking-level: no container, so not in a trip)
        parties = conn.execute(select(events.c.parties).where(events.c.code == "NOTC",
                                                              events.c.booking_ref == alert.booking_ref)).scalar()
        assert shipper in str(parties)
        # the booked sailing is cancelled: the ETA no longer counts on it, so it is not earlier than
        # the promise (bookings keep the planner's connection times, so a later sailing may still
        # make the booked onward train: the promise can hold)
        eta = tl["eta"]
        assert eta is not None
        assert datetime.fromisoformat(eta["eta"]) >= datetime.fromisoformat(tl["booking"]["promised_arrival"])
        # laid again now, no leg of any of its boxes rides a cancelled departure
        ids = [c["trip_id"] for c in tl["containers"]]
        sts = repo.statuses(conn, ids)
        laid = [e for e, _ in trip_etas(conn, [sts[i] for i in ids if i in sts]) if e is not None]
        assert laid
        dead = set(conn.execute(select(departures.c.id).where(departures.c.status == "cancelled")).scalars())
        assert dead and not {leg.departure_id for e in laid for leg in e.legs} & dead


def _broker(host: str = "127.0.0.1", port: int = 1883) -> bool:
    import socket
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def test_live_twin_sends_positions_over_mqtt_and_shows_movement_at_once(sqlite_loaded_store):
    import os
    import threading
    import time
    import uuid

    import pytest

    from corridor.ingest.mqtt import start_mqtt_consumer
    from corridor.twin.run import run_live
    if not _broker():
        if os.environ.get("CI"):
            pytest.fail("CI runs Mosquitto on 127.0.0.1:1883 but it is not reachable")
        pytest.skip("no MQTT broker (Mosquitto) on 127.0.0.1:1883")
    store = sqlite_loaded_store
    consumer = start_mqtt_consumer(store, "mqtt://127.0.0.1:1883", client_id=f"twin-test-{uuid.uuid4().hex[:8]}")
    stop, out = threading.Event(), {}
    sc = _small(trackers_share=1.0)
    th = threading.Thread(target=lambda: out.setdefault("r", run_live(
        store, speed=3600 * 12, stop_event=stop, scenario=sc, seed=3, warmup_days=10,
        mqtt_url="mqtt://127.0.0.1:1883")))
    t0 = time.monotonic()
    th.start()
    try:
        deadline = t0 + 60
        while time.monotonic() < deadline and consumer.stats.stored == 0:
            time.sleep(0.5)
        with store.read() as conn:   # trains already on the way: moves stored within seconds of start
            moves = conn.execute(select(func.count()).select_from(events).where(
                events.c.kind == "TRANSPORT", events.c.classifier == "ACT")).scalar()
        time.sleep(2)
    finally:
        stop.set()
        th.join(30)
        consumer.stop()
    r = out["r"]
    assert moves > 0
    # fixes over the broker; only those the wall clock has not reached (the live twin runs ahead of it
    # at 12 h a second, and the consumer stamps its own receipt time) go direct, at simulated time
    assert r.feed.by_format["mqtt"] > 0 and r.feed.quarantined == 0
    assert consumer.stats.stored > 0 and consumer.stats.quarantined == 0, consumer.stats.errors[:3]
    # it kept pace: simulated time since the warm-up matches the wall clock at 12 h per second
    assert r.days > 10
    with store.read() as conn:
        posi = conn.execute(select(events.c.source_party).where(events.c.code == "POSI")).scalars().all()
    assert posi and set(posi) == {"SILKWAY"}


def test_a_journey_ends_when_the_consignee_collects_the_box(loaded_store):
    # the destination terminal's gate-out closes the trip as delivered; before, every twin trip but
    # Alat's stayed open at its destination for good (read by every sweep, alerted for dwell)
    from corridor.store.tables import trip_status
    simulate(loaded_store, _small(), days=30, seed=3)
    with loaded_store.read() as conn:
        outs = conn.execute(select(events.c.trip_id, events.c.source_party, events.c.location, events.c.event_time)
                            .where(events.c.code == "GTOT", events.c.classifier == "ACT",
                                   events.c.source_party != "PORTBAKU")).all()
        assert outs and {o.source_party for o in outs} <= {"POTIPORT", "BATUMIPORT", "ADY", "TCDD"}
        states = dict(conn.execute(select(trip_status.c.trip_id, trip_status.c.state)
                                   .where(trip_status.c.trip_id.in_({o.trip_id for o in outs}))).all())
        assert set(states.values()) == {"delivered"}
        for o in outs:   # collected after it was set down there, never before
            [arrived] = conn.execute(select(func.max(events.c.event_time)).where(
                events.c.trip_id == o.trip_id, events.c.code == "DISC", events.c.classifier == "ACT",
                events.c.location == o.location)).one()
            assert arrived is not None and arrived < o.event_time


def test_a_second_run_into_the_same_store_names_its_own_containers_and_trains(loaded_store):
    # `corridor demo` or `simulate` run again over the same days: the second world's boxes and
    # trains are its own, so no timeline mixes two simulated runs
    def seen():
        with loaded_store.read() as conn:
            boxes = set(conn.execute(select(events.c.equipment).where(events.c.equipment.is_not(None))).scalars())
            # trains run as the timetable's departures (the same train numbers on the same days):
            # the second run's boxes ride wagons of its own
            trains = set(conn.execute(select(events.c.wagon).where(events.c.wagon.is_not(None))).scalars())
            n_trips = conn.execute(select(func.count()).select_from(trips)).scalar()
        return boxes, trains, n_trips
    first = simulate(loaded_store, _small(), days=8, seed=3).summary()
    boxes1, trains1, trips1 = seen()
    second = simulate(loaded_store, _small(), days=8, seed=3).summary()
    boxes2, trains2, trips2 = seen()
    assert first["containers"] == second["containers"] > 0 and first["quarantined"] == second["quarantined"] == 0
    new_boxes, new_trains = boxes2 - boxes1, trains2 - trains1
    assert len(new_boxes) == second["containers"] and new_trains
    assert trips2 - trips1 == trips1          # the same days again: as many trips, none joined to the first run's
