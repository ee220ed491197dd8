"""Origin-destination KPIs with trips still under way (both stores): a trip's destination is its
booking's, or where a completed trip ended, never the place a trip under way has reached."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
import typer
from typer.testing import CliRunner

from corridor.analytics.kpi import corridor_kpis
from corridor.settings import get_settings

from test_kpi_data import book, box, row, send
from test_kpi_known import admin

MARCH = (datetime(2025, 3, 1, tzinfo=timezone.utc), datetime(2025, 4, 1, tzinfo=timezone.utc))


def corridor_under_way(store) -> None:
    """Four trips of March 2025, three of them not yet where they are going."""
    book(store, "BK11", "CN_XIA", "GE_BUS", 2, "2025-03-25T00:00:00+00:00")
    booked, stray, done, idle = box(11), box(12), box(13), box(14)
    out = send(store, "RAILU", [
        # booked for Batumi, so far at Khorgos: under way to GEBUS
        row("LOAD", "2025-03-01T10:00+08:00", "CNXIA", booked, voyage="U1", bkg="BK11"),
        row("DEPA", "2025-03-01T12:00+08:00", "CNXIA", booked, voyage="U1", bkg="BK11"),
        row("ARRI", "2025-03-04T12:00+08:00", "CNHRS", booked, voyage="U1", bkg="BK11"),
        # no booking, so far at Khorgos: where it goes is not known
        row("LOAD", "2025-03-02T10:00+08:00", "CNXIA", stray, voyage="U2"),
        row("DEPA", "2025-03-02T12:00+08:00", "CNXIA", stray, voyage="U2"),
        row("ARRI", "2025-03-05T12:00+08:00", "CNHRS", stray, voyage="U2"),
        # no booking, collected by road at Aktau: a completed trip CNXIA -> KZAAU (a 20', 1 TEU)
        row("LOAD", "2025-03-01T10:00+08:00", "CNXIA", done, size="22G1", voyage="U3"),
        row("DEPA", "2025-03-01T12:00+08:00", "CNXIA", done, size="22G1", voyage="U3"),
        row("ARRI", "2025-03-04T12:00+08:00", "CNHRS", done, size="22G1", voyage="U3"),
        row("DEPA", "2025-03-05T00:00+08:00", "CNHRS", done, size="22G1", voyage="U3"),
        row("ARRI", "2025-03-08T04:00+05:00", "KZAAU", done, size="22G1", voyage="U3"),
        row("DISC", "2025-03-08T06:00+05:00", "KZAAU", done, size="22G1", voyage="U3"),
        row("GTOT", "2025-03-09T09:00+05:00", "KZAAU", done, size="22G1", mode="TRUCK"),
        # no booking, only just left Xi'an (the old report's "CNXIA -> CNXIA")
        row("LOAD", "2025-03-03T10:00+08:00", "CNXIA", idle, voyage="U4"),
        row("DEPA", "2025-03-03T12:00+08:00", "CNXIA", idle, voyage="U4"),
    ], received="2025-03-10T00:00:00+00:00")
    assert out.stored == 15 and out.quarantined == 0, out.reasons


@pytest.fixture
def doc(loaded_store):
    corridor_under_way(loaded_store)
    with loaded_store.read() as conn:
        return corridor_kpis(conn, admin(conn), *MARCH, now=datetime(2025, 4, 1, tzinfo=timezone.utc))


def test_origin_destination_is_the_booked_or_the_completed_destination(doc):
    v = doc["volumes"]
    od = {(r["origin"], r["destination"]): (r["teu"], r["containers"], r["under_way"]) for r in v["by_od"]}
    # the booked box counts under Batumi (still under way); the collected 20' under Aktau
    assert od == {("CNXIA", "GEBUS"): (2, 1, 1), ("CNXIA", "KZAAU"): (1, 1, 0)}
    # the two unbooked boxes under way have no destination yet: left out of the pairs, and said so
    assert v["od_left_out"] == {"containers": 2, "teu": 4}
    assert "left out" in v["od_basis"] and "booking" in v["od_basis"]
    assert v["total"] == {**v["total"], "teu": 7, "containers": 4}       # every trip still counts in the total
    assert (doc["period"]["trips"], doc["period"]["trips_arrived"], doc["period"]["trips_under_way"]) == (4, 1, 3)


def test_transit_and_co2e_per_route_count_trips_that_arrived(doc):
    e2e = {(r["origin"], r["destination"]): r["days"] for r in doc["transit"]["end_to_end"]}
    # the collected box: loaded 02:00Z Mar 1, arrived Aktau 23:00Z Mar 7
    assert e2e == {("CNXIA", "KZAAU"): {"n": 1, "p50": round(6 + 21 / 24, 2), "p90": round(6 + 21 / 24, 2),
                                       "mean": round(6 + 21 / 24, 2)}}
    assert doc["transit"]["end_to_end_left_out"] == {"containers": 3}
    c = doc["co2e"]
    assert [(r["origin"], r["destination"], r["teu"]) for r in c["by_route"]] == [("CNXIA", "KZAAU", 1)]
    assert c["by_route_left_out"] == {"containers": 3, "teu": 6}
    assert "under way" in c["by_route_basis"]
    # the legs of trips under way are still measured
    legs = {(r["from"], r["to"]): r["hours"]["n"] for r in doc["transit"]["legs"]}
    assert legs[("CNXIA", "CNHRS")] == 3


def test_a_trip_whose_container_began_another_is_completed_where_it_was_last(loaded_store):
    """The container of an unbooked trip is loaded for a new shipment: the first trip ended at its last place."""
    a = box(15)
    send(loaded_store, "RAILU", [
        row("LOAD", "2025-03-01T10:00+08:00", "CNXIA", a, voyage="U5"),
        row("DEPA", "2025-03-01T12:00+08:00", "CNXIA", a, voyage="U5"),
        row("ARRI", "2025-03-04T12:00+08:00", "CNHRS", a, voyage="U5"),
    ], received="2025-03-05T00:00:00+00:00")
    book(loaded_store, "BK16", "CN_HRS", "KZ_AKX", 2, None)
    send(loaded_store, "RAILU", [row("LOAD", "2025-03-20T10:00+08:00", "CNHRS", a, voyage="U6", bkg="BK16")],
         received="2025-03-21T00:00:00+00:00")
    with loaded_store.read() as conn:
        v = corridor_kpis(conn, admin(conn), *MARCH, sections=("volumes",))["volumes"]
    od = {(r["origin"], r["destination"]): r["under_way"] for r in v["by_od"]}
    assert od == {("CNXIA", "CNHRS"): 0, ("CNHRS", "KZAAU"): 1}
    assert v["od_left_out"] == {"containers": 0, "teu": 0}


def test_the_kpi_table_says_how_trips_under_way_count(sqlite_loaded_store, monkeypatch):
    from corridor.cli import kpi
    corridor_under_way(sqlite_loaded_store)
    monkeypatch.setenv("CORRIDOR_DATABASE_URL", sqlite_loaded_store.url)
    get_settings.cache_clear()
    try:
        app = typer.Typer()
        app.command("noop")(lambda: None)
        kpi.register(app)
        period = ["--from", "2025-03-01T00:00:00+00:00", "--to", "2025-04-01T00:00:00+00:00"]
        r = CliRunner().invoke(app, ["kpi", *period], env={"COLUMNS": "200"})
        assert r.exit_code == 0, r.output
        assert "2 containers (4 TEU) under way without a booking have no known destination" in r.stdout
        assert "CNXIA  │ CNXIA" not in r.stdout and "CNXIA  │ CNHRS" not in r.stdout
        # reserved/capacity and TEU per vehicle are two tables with their own headings
        assert "utilisation (reserved/capacity)" in r.stdout and "TEU per vehicle p50" in r.stdout
        doc = json.loads(CliRunner().invoke(app, ["kpi", *period, "--format", "json"]).stdout)
        assert doc["volumes"]["od_left_out"]["containers"] == 2
    finally:
        get_settings.cache_clear()


def test_the_default_period_ends_on_a_whole_second(loaded_store):
    """An event reported to the microsecond: the default period runs to the next whole second."""
    send(loaded_store, "RAILU", [row("LOAD", "2025-03-02T10:00:00.123456+08:00", "CNXIA", box(17), voyage="U7")],
         received="2025-03-03T00:00:00+00:00")
    with loaded_store.read() as conn:
        p = corridor_kpis(conn, admin(conn), sections=("volumes",))["period"]
    assert p["from"] == "2025-03-01T00:00:00+00:00"
    assert p["to"] == "2025-03-02T02:00:01+00:00"
    assert p["trips"] == 1
