"""CO2e and price arithmetic on a known case, computed by hand."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from corridor.domain.bookings import Booking, BookingLeg, ContainerRequest
from corridor.domain.network import Corridor, FacilityType, Link, Location, Mode
from corridor.domain.timetable import Departure
from corridor.planning import emissions, pricing
from corridor.planning.emissions import HUB_KG_PER_TEU_HANDLING as HUB
from corridor.planning.pricing import Money

T0 = datetime(2026, 3, 2, tzinfo=timezone.utc)
# explicit factors so the hand arithmetic does not depend on the packaged file's values
FACTORS = {
    Mode.RAIL: emissions.Factor("rail", 0.02, "t-km", "test"),
    Mode.FERRY: emissions.Factor("ferry", 0.1248, "t-km", "test"),
    Mode.FEEDER: emissions.Factor("feeder", 0.125, "TEU-km", "test"),
    Mode.DEEP_SEA: emissions.Factor("deep", 0.06, "TEU-km", "test"),
    Mode.TRUCK: emissions.Factor("truck", 0.09, "t-km", "test"),
}


def place(i, country="KZ", ft=FacilityType.RAMP):
    return Location(i, None, i, country, "Asia/Almaty", 0, 0, "x", ft)


def lk(i, mode, km, transfer=None):
    return Link(i, "A", "B", mode, frozenset({Corridor.MIDDLE}), km, 10.0, transfer=transfer)


def dep(link, price):
    return Departure(f"{link.id}-1", link.id, "S", "op", link.mode, "A", "B", T0, T0 + timedelta(hours=10),
                     100, price_usd_per_teu=price)


def test_rail_leg_is_tonne_km_times_wtw_intensity():
    rail = lk("R", Mode.RAIL, 1000)
    # 2 TEU x 10 t x 1,000 km x 0.02 kg/t-km = 400 kg, no handling on a plain rail leg
    assert emissions.leg_co2e_kg(dep(rail, 300), rail, 2, FACTORS) == pytest.approx(400.0)


def test_gauge_change_and_ferry_legs_add_hub_handlings():
    gauge = lk("G", Mode.RAIL, 10, transfer="gauge_change_1435_1520")
    ferry = lk("F", Mode.FERRY, 400)
    # 10 km x 10 t x 0.02 = 2 kg + one transshipment; 400 x 10 x 0.1248 = 499.2 kg + two port handlings
    assert emissions.leg_co2e_kg(dep(gauge, 0), gauge, 1, FACTORS) == pytest.approx(2.0 + HUB)
    assert emissions.leg_co2e_kg(dep(ferry, 0), ferry, 1, FACTORS) == pytest.approx(499.2 + 2 * HUB)


def test_container_ship_factor_is_per_teu_km_and_waypoints_are_no_hubs():
    ship = lk("S", Mode.DEEP_SEA, 10000)
    n = emissions.handlings(ship, origin_waypoint=False, destination_waypoint=True)
    assert n == 1
    assert emissions.leg_co2e_kg(dep(ship, 0), ship, 4, FACTORS, n) == pytest.approx(4 * (600.0 + HUB))


def test_booking_emissions_sum_its_legs_for_its_teu():
    rail, ferry = lk("R", Mode.RAIL, 1000), lk("F", Mode.FERRY, 400)
    deps = {d.id: d for d in (dep(rail, 0), dep(ferry, 0))}
    b = Booking("B1", "shipper", "A", "B", T0, (ContainerRequest(1, "42G1"),))   # one 40' = 2 TEU
    b.legs = [BookingLeg(1, "R-1", "A", "B", T0, T0, b.teu), BookingLeg(2, "F-1", "A", "B", T0, T0, b.teu)]
    got = emissions.booking_co2e_kg(b, deps, {"R": rail, "F": ferry}, factors=FACTORS)
    assert got == pytest.approx(2 * 200.0 + 2 * (499.2 + 2 * HUB))


def test_packaged_factors_carry_units_and_sources():
    f = emissions.default_factors()
    assert set(f) == set(Mode)
    assert f[Mode.FERRY].per == "t-km" and not f[Mode.FERRY].estimated and "GLEC" in f[Mode.FERRY].source
    assert f[Mode.DEEP_SEA].per == "TEU-km"
    assert f[Mode.RAIL].per_teu_km() == pytest.approx(f[Mode.RAIL].kg_co2e * f[Mode.RAIL].net_tonnes_per_teu)


# ---- prices -----------------------------------------------------------------------------------
def test_leg_price_is_tariff_plus_surcharges_times_teu():
    ferry = lk("F", Mode.FERRY, 400)
    a, b = place("A", "KZ", FacilityType.POTE), place("B", "AZ", FacilityType.POTE)
    ferry_fee = next(s.usd_per_teu for s in pricing.SURCHARGES if s.key == "ferry")
    assert pricing.leg_price(dep(ferry, 900), ferry, a, b, 2) == Money(Decimal(2 * (900 + ferry_fee)))


def test_black_sea_feeder_pays_terminal_handling_at_both_ports_caspian_does_not():
    feeder = lk("F", Mode.FEEDER, 1000)
    thc = next(s.usd_per_teu for s in pricing.SURCHARGES if s.key == "port_handling")
    ge, ro = place("GE", "GE", FacilityType.POTE), place("RO", "RO", FacilityType.POTE)
    kz, az = place("KZ", "KZ", FacilityType.POTE), place("AZ", "AZ", FacilityType.POTE)
    assert pricing.leg_usd_per_teu(dep(feeder, 500), feeder, ge, ro) == 500 + 2 * thc
    assert pricing.leg_usd_per_teu(dep(feeder, 900), feeder, kz, az) == 900


def test_missing_departure_tariff_falls_back_to_half_the_link_feu_price():
    rail = Link("R", "A", "B", Mode.RAIL, frozenset({Corridor.MIDDLE}), 100, 5.0, price_usd_per_feu=1340)
    assert pricing.tariff_usd_per_teu(dep(rail, 0), rail) == 670


def test_money_rounds_to_cents_and_refuses_mixed_currencies():
    assert Money.total([Money(Decimal("0.005")), Money(Decimal("1.10"))]) == Money(Decimal("1.11"))
    with pytest.raises(ValueError, match="EUR"):
        Money(Decimal(1)) + Money(Decimal(1), "EUR")
