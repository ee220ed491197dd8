"""The twin runs the corridor's timetable: its trains are the departures the boxes are booked on
(by train number), they leave on their time, a box that misses one is re-booked, ferries do not sail
days early under a timetable sailing's name, and railways report border and junction stops."""

from __future__ import annotations

import json
from datetime import date, timedelta, timezone

from sqlalchemy import select

from corridor.store.tables import booking_legs, departures, events, trip_milestones, trips
from corridor.twin.run import simulate
from corridor.twin.scenario import load_scenario


def _scenario(dest: str):
    sc = load_scenario(name="timetable", origins={"CN_XIA": {"trains_per_month": 0}, "CN_CQI": {"trains_per_month": 0},
                                                  "CN_LYG": {"trains_per_month": 0},
                                                  "CN_URM": {"trains_per_month": 12}},
                       destinations={"AZ_ABS": 0.0, "GE_PTI": 0.0, "GE_BUS": 0.0, "TR_KRS": 0.0, dest: 1.0},
                       wagons_per_train=[30, 40], container_pool=0,
                       start=(date.today() - timedelta(days=25)).isoformat())
    sc.params["storm_share"] = {m: 0.0 for m in range(1, 13)}
    return sc


def test_twin_trains_are_the_booked_departures_and_report_at_borders(loaded_store):
    r = simulate(loaded_store, _scenario("TR_KRS"), days=24, seed=3)
    s = r.summary()
    assert s["quarantined"] == 0, r.feed.reasons.most_common(3)
    with loaded_store.read() as conn:
        rows = [json.loads(b) for b in conn.execute(select(trip_milestones.c.body)).scalars()]
        booked = [m for m in rows if m["planned_departure_id"] and m["as_booked"] is not None]
        rail = [m for m in booked if m["mode"] == "RAIL"]
        # the train a box rode is the departure its booking names (by its train number), bar rolls
        assert len(rail) > 200
        assert sum(m["as_booked"] for m in rail) / len(rail) >= 0.95, \
            [(m["location"], m["vehicle"], m["planned_vehicle"]) for m in rail if not m["as_booked"]][:5]
        assert sum(m["as_booked"] for m in booked) / len(booked) >= 0.95

        deps = {d.id: d for d in conn.execute(select(departures.c.id, departures.c.voyage, departures.c.departs_at,
                                                     departures.c.origin, departures.c.mode))}
        moves = conn.execute(select(events.c.equipment, events.c.booking_ref, events.c.location, events.c.event_time,
                                    events.c.voyage, events.c.departure_id, events.c.mode, events.c.trip_id).where(
            events.c.code == "DEPA", events.c.classifier == "ACT", events.c.equipment.is_not(None))).all()
        assert moves and all(m.departure_id for m in moves if m.mode == "RAIL")
        for m in moves:   # never before its timetable time: a train leaves on its path, a ship not days early
            d = deps[m.departure_id] if m.departure_id else None
            if d is None:
                continue
            if m.mode == "RAIL":
                assert m.voyage == d.voyage
            assert _utc(m.event_time) >= _utc(d.departs_at) - timedelta(hours=2), (m, d)
        # the booking and the movement agree: each box left on the departure its booking holds in force
        # (re-booked where it missed one)
        legs = {(b, d) for b, d in conn.execute(select(trips.c.id, booking_legs.c.departure_id).join(
            booking_legs, booking_legs.c.booking_ref == trips.c.booking_ref).where(booking_legs.c.active))}
        booked_trips = {t for t, _ in legs}
        rail_moves = [m for m in moves if m.mode == "RAIL" and m.trip_id in booked_trips]
        assert rail_moves
        agree = sum((m.trip_id, m.departure_id) in legs for m in rail_moves)
        assert agree / len(rail_moves) >= 0.95

        # border and junction stations: the railway reports the train arriving and leaving there, the
        # cross-border transfer too; vehicle-level (wagon rows, each expanded to its boxes by ingest)
        def at(code: str, loc: str):
            return conn.execute(select(events.c.equipment, events.c.wagon).where(
                events.c.code == code, events.c.classifier == "ACT", events.c.location == loc)).all()
        for code, loc in (("DEPA", "CNAKL"), ("ARRI", "KZDOS"), ("ARRI", "AZ_BKS"), ("DEPA", "AZ_BKS"),
                          ("ARRI", "GEGAR"), ("DEPA", "GEGAR"), ("DEPA", "GETBS"), ("ARRI", "GE_MAR"),
                          ("DEPA", "GE_MAR"), ("ARRI", "GE_KRT"), ("DEPA", "GE_KRT")):
            got = at(code, loc)
            boxes = [g for g in got if g.equipment]
            vehicle = [g for g in got if not g.equipment]
            assert boxes, (code, loc)
            assert vehicle and len(vehicle) < len(boxes) and all(v.wagon for v in vehicle), (code, loc)


def _utc(t):
    """An instant as UTC (SQLite gives naive UTC, PostgreSQL aware)."""
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)
