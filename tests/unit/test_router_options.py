"""Route options: comparable variants per corridor family and clear errors for bad requests."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from corridor.domain.errors import UnknownPlace
from corridor.domain.network import Corridor, FacilityType, Link, Location, Mode, Network
from corridor.domain.timetable import Departure
from corridor.planning.options import NoRoute, PlanningRequestError, plan, requested_teu
from corridor.planning.router import Timetable

NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)
READY = datetime(2026, 3, 2, tzinfo=timezone.utc)
M, N = Corridor.MIDDLE, Corridor.NORTHERN


def place(i, name, ft=FacilityType.RAMP, tz="Asia/Almaty"):
    return Location(i, i.replace("_", ""), name, i[:2], tz, 0, 0, "x", ft)


def link(i, a, b, fams, km=1000.0, mode=Mode.RAIL):
    return Link(i, a, b, mode, frozenset(fams), km, 10.0)


def runs(lk, hours, first=1.0, count=3, every=24.0, price=500.0, cap=50):
    out = []
    for r in range(count):
        start = READY + timedelta(hours=first + r * every)
        out.append(Departure(f"{lk.id}-{r}", lk.id, "S", "op", lk.mode, lk.origin, lk.destination,
                             start, start + timedelta(hours=hours), cap, price_usd_per_teu=price))
    return out


@pytest.fixture
def corridor():
    locs = [place("CN_XIA", "Xi'an"), place("KZ_DOS", "Dostyk", FacilityType.BOCR),
            place("KZ_ALT", "Altynkol", FacilityType.BOCR), place("KZ_AKX", "Aktau", FacilityType.POTE),
            place("DE_DUI", "Duisburg", tz="Europe/Berlin"), place("BY_BQT", "Brest", FacilityType.BOCR)]
    links = [link("L1", "CN_XIA", "KZ_DOS", (M, N)), link("L2", "CN_XIA", "KZ_ALT", (M,)),
             link("L3", "KZ_DOS", "KZ_AKX", (M,)), link("L4", "KZ_ALT", "KZ_AKX", (M,)),
             link("L5", "KZ_AKX", "DE_DUI", (M,), mode=Mode.FEEDER),
             link("L6", "KZ_DOS", "BY_BQT", (N,)), link("L7", "BY_BQT", "DE_DUI", (N,))]
    by = {x.id: x for x in links}
    deps = (runs(by["L1"], 20) + runs(by["L2"], 24) + runs(by["L3"], 30, first=30)
            + runs(by["L4"], 30, first=30) + runs(by["L5"], 40, first=70, price=900)
            + runs(by["L6"], 60, first=30, price=1500) + runs(by["L7"], 20, first=100, price=400))
    net = Network({x.id: x for x in locs}, links, name="test")
    return net, Timetable(net, deps)


def test_options_compare_middle_variants_and_the_northern_route(corridor):
    net, tt = corridor
    opts = plan(net, tt, "Xi'an", "Duisburg", READY, "2x40", now=NOW)
    fams = [o.corridor for o in opts]
    assert fams.count(M) == 2 and fams[-1] is N
    assert {o.route[1] for o in opts if o.corridor is M} == {"KZDOS", "KZALT"}   # via Dostyk and Khorgos
    first = opts[0]
    assert first.arrives_at.tzinfo.key == "Europe/Berlin" and first.teu == 4
    assert first.price.amount == sum(leg.price.amount for leg in first.legs)
    assert first.co2e_kg == pytest.approx(sum(leg.co2e_kg for leg in first.legs), abs=0.2)
    assert first.transit_hours == (first.arrives_at - first.departs_at).total_seconds() / 3600
    assert [b.departure_id for b in first.booking_legs()] == [leg.departure_id for leg in first.legs]


def test_unknown_place_names_the_nearest_candidates(corridor):
    net, tt = corridor
    with pytest.raises(UnknownPlace) as err:
        plan(net, tt, "Dostik", "Duisburg", READY, 2, now=NOW)
    assert any("Dostyk" in c for c in err.value.candidates)
    with pytest.raises(UnknownPlace) as err:         # nothing near: no wild guess (0.6 offered Alat)
        plan(net, tt, "Atlantis", "Duisburg", READY, 2, now=NOW)
    assert err.value.candidates == [] and "did you mean" not in str(err.value)


@pytest.mark.parametrize("ready,match", [
    (NOW - timedelta(days=5), "in the past"),
    (NOW + timedelta(days=900), "days ahead"),
    (datetime(2026, 3, 2), "time zone"),
])
def test_bad_ready_dates_are_refused(corridor, ready, match):
    net, tt = corridor
    with pytest.raises(PlanningRequestError, match=match):
        plan(net, tt, "Xi'an", "Duisburg", ready, 2, now=NOW)


@pytest.mark.parametrize("qty,match", [(0, "at least one"), (1000, "split"), ("lots", "cannot read")])
def test_bad_quantities_are_refused(corridor, qty, match):
    net, tt = corridor
    with pytest.raises(PlanningRequestError, match=match):
        plan(net, tt, "Xi'an", "Duisburg", READY, qty, now=NOW)


def test_no_route_says_whether_space_or_connections_are_missing(corridor):
    net, tt = corridor
    with pytest.raises(NoRoute, match="room for 40 TEU"):   # the departures hold 50, 10 are free
        plan(net, tt, "Xi'an", "Duisburg", READY, 40, free_teu=lambda _: 10, now=NOW)
    with pytest.raises(NoRoute, match="no departures connect"):
        plan(net, tt, "Duisburg", "Xi'an", READY, 2, now=NOW)


def test_container_text_is_read_as_teu():
    assert requested_teu("2x40, 1x20") == 5
    assert requested_teu("3x45G1") == 6


@pytest.fixture(scope="module")
def default_timetable():
    """The default network and a compiled 120-day timetable of it, planned on from 2026-02-02."""
    schedule = pytest.importorskip("corridor.schedule")
    network_file = pytest.importorskip("corridor.network_file")
    net = network_file.load_network()
    deps = schedule.generate_timetable(net, date(2026, 1, 1), days=120)
    return net, deps, Timetable(net, deps)


def _plan(default_timetable, to: str, containers: str, suez: bool = False):
    net, deps, tt = default_timetable
    return plan(net, Timetable(net, deps, include_suez=True) if suez else tt, "Xi'an", to,
                datetime(2026, 2, 2, tzinfo=timezone.utc), containers, now=datetime(2026, 2, 1, tzinfo=timezone.utc))


def test_default_network_gives_middle_northern_and_sea_options(default_timetable):
    opts = _plan(default_timetable, "Duisburg", "1x40")
    assert {o.corridor for o in opts} == {M, N, Corridor.SEA}
    sea = next(o for o in opts if o.corridor is Corridor.SEA)
    assert "EGPSD" not in sea.route     # Suez is restricted in the default scenario
    for o in opts:
        assert len(set(o.route)) == len(o.route)
        assert all(a.arrives_at <= b.departs_at for a, b in zip(o.legs, o.legs[1:]))


def test_istanbul_gets_the_sea_alternative_for_a_lot_of_several_boxes(default_timetable):
    # the brief's own question: a lot from Xi'an to Istanbul, beside the sea route (Ambarlı, Istanbul's
    # container port, then the city by truck); the truck slot must take the whole lot
    opts = _plan(default_timetable, "Istanbul", "4x40")
    sea = [o for o in opts if o.corridor is Corridor.SEA]
    assert len(sea) == 1
    assert sea[0].route[-2:] == ("TRAMR", "TRIST") and "EGPSD" not in sea[0].route
    assert sea[0].teu == 8 and sea[0].legs[-1].mode is Mode.TRUCK
    fastest = min(opts, key=lambda o: o.arrives_at)
    assert fastest.corridor is M and sea[0].transit_days > fastest.transit_days + 20
    # with Suez open the same lot sails through the canal, far sooner than around the Cape
    via = next(o for o in _plan(default_timetable, "Istanbul", "4x40", suez=True) if o.corridor is Corridor.SEA)
    assert "EGPSD" in via.route and via.transit_days < sea[0].transit_days - 10


@pytest.mark.parametrize("port, via", [("Mersin", ("ZA_CAPE", "TRMER")), ("Poti", ("TRAMR", "GEPTI"))])
def test_turkish_and_georgian_ports_get_the_sea_alternative(default_timetable, port, via):
    # Mersin by deep sea; Poti by the Black Sea feeder from the Ambarlı hub
    opts = _plan(default_timetable, port, "2x40")
    sea = [o for o in opts if o.corridor is Corridor.SEA]
    assert len(sea) == 1 and sea[0].route[-2:] == via
    assert M in {o.corridor for o in opts}
