"""KPIs on a hand-computed corridor (both stores): every figure below is worked out in the comments."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from corridor.access.visibility import viewer_for
from corridor.analytics.kpi import corridor_kpis
from corridor.domain.parties import ADMIN_PARTY, Party, Role

from test_kpi_data import box, known_corridor, row, send

MARCH = (datetime(2025, 3, 1, tzinfo=timezone.utc), datetime(2025, 4, 1, tzinfo=timezone.utc))


def admin(conn):
    return viewer_for(conn, Party(ADMIN_PARTY, "admin", frozenset({Role.ADMIN})))


@pytest.fixture
def doc(loaded_store):
    known_corridor(loaded_store)
    with loaded_store.read() as conn:
        return corridor_kpis(conn, admin(conn), *MARCH, now=datetime(2025, 4, 1, tzinfo=timezone.utc))


def test_volumes_and_growth(doc):
    v = doc["volumes"]
    # box 1 is a 42G1 (2 TEU), box 2 a 22G1 (1 TEU); box 3 (2 TEU) ran in March 2024
    assert v["total"]["teu"] == 3 and v["total"]["containers"] == 2
    assert v["total"]["tonnes"] == 30.0                      # 10 t per TEU
    assert v["total"]["trains"] == 2                         # T1 and T2 left in March 2025
    assert v["total"]["teu_growth_pct"] == 50.0              # 3 TEU against 2 a year earlier
    assert v["by_month"] == [{"month": "2025-03", "teu": 3, "containers": 2, "trains": 2, "tonnes": 30.0,
                              "teu_growth_pct": 50.0, "teu_year_before": 2}]
    od = {(r["origin"], r["destination"]): r["teu"] for r in v["by_od"]}
    assert od == {("CNXIA", "KZAAU"): 2, ("CNXIA", "CNHRS"): 1}   # destinations from the bookings
    assert [(r["direction"], r["teu"]) for r in v["by_direction"]] == [("westbound", 3)]


def test_transit_per_leg_and_end_to_end(doc):
    legs = {(r["from"], r["to"]): r["hours"] for r in doc["transit"]["legs"]}
    # T1 left Xi'an 04:00Z Mar 1, reached Khorgos 04:00Z Mar 4 (72 h); T2 took 96 h
    assert legs[("CNXIA", "CNHRS")] == {"n": 2, "p50": 84.0, "p90": 93.6, "mean": 84.0}
    # Khorgos 16:00Z Mar 4 -> Aktau 23:00Z Mar 7 = 79 h
    assert legs[("CNHRS", "KZAAU")]["p50"] == 79.0
    e2e = {(r["origin"], r["destination"]): r["days"]["p50"] for r in doc["transit"]["end_to_end"]}
    # box 1: loaded 02:00Z Mar 1, arrived Aktau 23:00Z Mar 7 = 6 d 21 h; box 2: 02:00Z Mar 2 -> 04:00Z Mar 6
    assert e2e == {("CNXIA", "KZAAU"): round(6 + 21 / 24, 2), ("CNXIA", "CNHRS"): round(4 + 2 / 24, 2)}
    # promised 12:00Z Mar 7 (11 h late) and 00:00Z Mar 5 (28 h late)
    assert doc["transit"]["delay_vs_promised_hours"]["p50"] == 19.5


def test_on_time_and_dwell(doc):
    # 11 h late is within the 24 h grace, 28 h is not
    assert doc["on_time"]["containers"] == {"n": 2, "on_time": 1, "rate": 0.5}
    dwell = {r["location"]: r for r in doc["dwell"]["by_location"]}
    # Khorgos (a border): T1 arrived 04:00Z Mar 4, left 16:00Z (12 h); T2 waited 24 h
    assert dwell["CNHRS"]["hours"]["p50"] == 18.0 and dwell["CNHRS"]["hours"]["p90"] == 22.8
    assert "border" in dwell["CNHRS"]["kinds"]
    assert doc["dwell"]["by_kind"]["border"]["n"] == 2


def test_co2e_uses_the_links_travelled(doc):
    routes = {(r["origin"], r["destination"]): r for r in doc["co2e"]["by_route"]}
    r = routes[("CNXIA", "KZAAU")]
    assert r["teu"] == 2 and r["kg_per_teu_km"] > 0
    fams = {x["corridor"] for x in doc["co2e"]["reference_routes"]}
    assert {"middle", "northern", "sea"} <= fams


def test_a_shipper_sees_only_its_own_containers(loaded_store):
    known_corridor(loaded_store)
    send(loaded_store, "RAILZ", [row("LOAD", "2025-03-03T10:00+08:00", "CNXIA", box(9), voyage="T7")],
         received="2025-03-03T03:00:00+00:00")
    with loaded_store.read() as conn:
        everyone = corridor_kpis(conn, admin(conn), *MARCH, sections=("volumes",))
        shipper = corridor_kpis(conn, viewer_for(conn, Party("SHIPA", "A", frozenset({Role.SHIPPER}))), *MARCH,
                                sections=("volumes",))
    assert everyone["volumes"]["total"]["containers"] == 3
    assert shipper["volumes"]["total"]["containers"] == 2      # the booked boxes only


def test_data_quality_per_sender(loaded_store):
    a = box(4)
    send(loaded_store, "RAILQ", [row("LOAD", "2025-03-10T00:00+00:00", "CNXIA", a, voyage="T9")],
         received="2025-03-10T02:00:00+00:00")                               # 2 h late
    send(loaded_store, "RAILQ", [row("ARRI", "2025-03-11T00:00+00:00", "CNHRS", a, voyage="T9"),
                                 row("LOAD", "2025-03-10T00:00+00:00", "CNXIA", a, voyage="T9"),  # re-sent
                                 row("ARRI", "2025-03-11T00:00+00:00", "XXNOPE", a, voyage="T9")],
         received="2025-03-12T00:00:00+00:00")                               # 24 h late; one bad place
    with loaded_store.read() as conn:
        dq = corridor_kpis(conn, admin(conn), *MARCH, sections=("data_quality",))["data_quality"]
    p = {r["party"]: r for r in dq["parties"]}["RAILQ"]
    assert p["messages"] == 2 and p["events"] == 2
    assert p["latency_hours"]["p50"] == 13.0 and p["timeliness"] == 1.0
    assert p["duplicate_rate"] == round(1 / 3, 4)             # 1 re-sent of 3 received
    assert p["quarantine_rate"] == 0.25                        # 1 of 4 records
    # LOAD on T9 is due its DISC once the box is seen at Khorgos: 1 of 2 halves; the ARRI is not due yet
    assert (p["milestones_reported"], p["milestones_due"], p["completeness"]) == (1, 2, 0.5)
    assert p["health"] == pytest.approx(40 * 0.5 + 30 * 1 + 15 * (1 - 0.3333) + 15 * 0.75, abs=0.06)
    assert dq["network_health"] == p["health"]
