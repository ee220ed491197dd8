"""The twin through the real ingest path: wagon-level reports, reused containers, storm notices."""

from __future__ import annotations

from sqlalchemy import func, select

from corridor.twin.run import simulate
from corridor.twin.scenario import load_scenario
from corridor.store.tables import events, trips


def _small():
    # one short origin, quick turnaround: a few trains whose boxes come back for other shippers
    return load_scenario(name="small", origins={"CN_XIA": {"trains_per_month": 0}, "CN_CQI": {"trains_per_month": 0},
                                                "CN_LYG": {"trains_per_month": 0},
                                                "CN_URM": {"trains_per_month": 8}},
                         destinations={"AZ_ABS": 1.0, "GE_PTI": 0.0, "GE_BUS": 0.0, "TR_KRS": 0.0},
                         wagons_per_train=[8, 10], container_pool=0, turnaround_days=[0.2, 0.5],
                         start="2025-04-01", storm_scale=4.0)


def test_twin_feeds_the_store_through_ingest(loaded_store):
    r = simulate(loaded_store, _small(), days=26, seed=3)
    s = r.summary()
    assert s["trains"] >= 2 and s["events"] > 0
    assert s["quarantined"] == 0, r.feed.reasons.most_common(3)
    assert {"csv", "edifact", "dcsa-json"} <= set(s["messages_by_format"])
    with loaded_store.read() as conn:
        # wagon-level railway reports became container events through the consists
        expanded = conn.execute(select(func.count()).select_from(events).where(
            events.c.kind == "TRANSPORT", events.c.equipment.is_not(None), events.c.wagon.is_not(None))).scalar()
        assert expanded > 0
        # a sailing's departure moved the containers on board (DCSA vessel event -> COARRI consists)
        on_vessel = conn.execute(select(func.count()).select_from(events).where(
            events.c.kind == "TRANSPORT", events.c.mode == "VESSEL", events.c.equipment.is_not(None))).scalar()
        assert on_vessel > 0
        # storm closure notices from the ports
        notices = conn.execute(select(func.count()).select_from(events).where(events.c.code == "NOTC")).scalar()
        assert notices > 0
        # a reused container: two trips, two bookings, and no event of one trip in the other's
        reused = conn.execute(select(trips.c.equipment).group_by(trips.c.equipment)
                              .having(func.count() > 1)).scalars().first()
        assert reused, "no container number was reused"
        two = conn.execute(select(trips).where(trips.c.equipment == reused).order_by(trips.c.starts_at)).all()
        assert two[0].booking_ref != two[1].booking_ref
        for t in two[:2]:
            rows = conn.execute(select(events.c.booking_ref, events.c.event_time)
                                .where(events.c.trip_id == t.id)).all()
            assert {b for b, _ in rows if b} <= {t.booking_ref}
            if t.ends_at is not None:
                assert all(when <= t.ends_at for _, when in rows)
