"""The generated timetable: a year of capacity, deterministic per seed, storm-hit Caspian, aware local times."""

import re
import time
from collections import Counter
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest

from corridor.domain.network import Corridor, Mode, Network
from corridor.network_file import load_network, link_services
from corridor.schedule import (CASPIAN_COUNTRIES, ESTIMATED_FREQUENCY_PER_WEEK, estimated_frequency,
                               generate_timetable, operating, storm_days)

START = date(2026, 1, 1)


@pytest.fixture(scope="module")
def net():
    return load_network()


@pytest.fixture(scope="module")
def deps(net):
    return generate_timetable(net, START, days=400, seed=1)


def _caspian(net, d):
    return d.mode.is_water and {net.location(d.origin).country, net.location(d.destination).country} <= CASPIAN_COUNTRIES


@pytest.fixture(scope="module")
def caspian_net(net):
    """The Caspian crossings alone, so many seeds stay cheap."""
    return Network(locations=net.locations, links=[x for x in net.links if _caspian(net, x)])


def test_every_operational_link_runs_all_year_with_capacity(net, deps):
    by_link = {}
    for d in deps:
        by_link.setdefault(d.link_id, []).append(d)
    for link in net.directed_links():
        runs = by_link.get(link.id)
        assert runs, f"no departures on {link.id}"
        first = min(r.departs_at for r in runs).astimezone(ZoneInfo("UTC")).date()
        last = max(r.departs_at for r in runs).astimezone(ZoneInfo("UTC")).date()
        assert (first - START).days <= 14 and (last - START).days >= 365, link.id
        assert all(r.capacity_teu == link.capacity_teu > 0 for r in runs)
    assert not any(d.link_id in ("L40", "L41") for d in deps)   # planned links are not timetabled


def test_same_seed_same_timetable_other_seed_differs(net, deps):
    again = generate_timetable(net, START, days=400, seed=1)
    assert [(d.id, d.departs_at, d.status, d.vehicle) for d in again] == \
           [(d.id, d.departs_at, d.status, d.vehicle) for d in deps]
    other = generate_timetable(net, START, days=400, seed=2)
    assert [(d.id, d.departs_at) for d in other] != [(d.id, d.departs_at) for d in deps]


def test_storms_cancel_more_caspian_sailings_in_winter(net, caspian_net):
    assert len(caspian_net.links) == 8
    cancelled, sailings = Counter(), Counter()
    for seed in range(1, 6):
        for d in generate_timetable(caspian_net, START, days=365, seed=seed):
            if _caspian(net, d):
                sailings[d.departs_at.month] += 1
                cancelled[d.departs_at.month] += d.status == "cancelled"
    dec, jul = cancelled[12] / sailings[12], cancelled[7] / sailings[7]
    assert dec > 3 * jul and dec > 0.2


def test_kuryk_is_closed_more_often_than_aktau_in_november_december(caspian_net):
    share = {}
    for port in ("KZ_KUR", "KZ_AKX"):
        runs = [d for seed in range(1, 6) for d in generate_timetable(caspian_net, date(2026, 11, 1), days=61, seed=seed)
                if d.origin == port]
        share[port] = sum(d.status == "cancelled" for d in runs) / len(runs)
    assert share["KZ_KUR"] > share["KZ_AKX"]


def test_storm_share_follows_the_season():
    days = storm_days(date(2026, 1, 1), 365 * 4, seed=7)
    winter = [s for i, s in enumerate(days) if (date(2026, 1, 1) + timedelta(days=i)).month in (11, 12, 1, 2)]
    summer = [s for i, s in enumerate(days) if (date(2026, 1, 1) + timedelta(days=i)).month in (6, 7, 8)]
    assert sum(winter) / len(winter) > 0.2 > 0.08 > sum(summer) / len(summer)


def test_times_are_aware_in_the_local_zone_of_each_end(net, deps):
    for d in deps[::37]:
        o, dest = net.location(d.origin), net.location(d.destination)
        assert d.departs_at.tzinfo.key == o.timezone and d.arrives_at.tzinfo.key == dest.timezone
        assert d.arrives_at > d.departs_at
    kz = [d for d in deps if net.location(d.origin).country == "KZ"]
    assert kz and all(d.departs_at.utcoffset() == timedelta(hours=5) for d in kz)
    cn = [d for d in deps if net.location(d.origin).country == "CN"]
    assert all(d.departs_at.utcoffset() == timedelta(hours=8) for d in cn)
    cnd = [d for d in deps if d.origin == "RO_CND"]
    assert {d.departs_at.utcoffset() for d in cnd if d.departs_at.month == 1} == {timedelta(hours=2)}
    assert {d.departs_at.utcoffset() for d in cnd if d.departs_at.month == 7} == {timedelta(hours=3)}


def test_trains_keep_a_weekly_pattern_and_do_not_bake_in_dwell(net, deps):
    l01 = next(x for x in net.links if x.id == "L01")
    runs = [d for d in deps if d.link_id == "L01"]
    pattern = {(d.departs_at.weekday(), d.departs_at.time()) for d in runs}
    assert len(pattern) == l01.frequency_per_week
    assert all(d.running_hours == pytest.approx(l01.running_hours) for d in runs)   # dwell is the router's


def test_unknown_frequency_gets_the_documented_estimate(net, deps):
    # L10 Dostyk-Aktau: no sourced frequency, and its feeder (the Dostyk transshipment) runs more
    # often than daily, so it runs the documented estimate or, timed as through trains, up to 14 a week
    l10 = next(x for x in net.links if x.id == "L10")
    assert l10.frequency_per_week is None
    assert estimated_frequency(l10) == ESTIMATED_FREQUENCY_PER_WEEK[(Mode.RAIL, Corridor.MIDDLE)]
    runs = sum(1 for d in deps if d.link_id == "L10" and d.departs_at.date() < START + timedelta(weeks=52))
    assert 52 * estimated_frequency(l10) - 2 <= runs <= 52 * 14 + 2


def test_through_trains_are_timed_to_their_feeder(net, deps):
    # Gardabani -> Tbilisi continues the train from Beyuk-Kesik: no day-long wait at the border
    arrivals = sorted(d.arrives_at for d in deps if d.link_id == "L21")[:20]
    onward = sorted(d.departs_at for d in deps if d.link_id == "L22")
    gar = net.location("GE_GAR")
    for a in arrivals:
        nxt = next(t for t in onward if t >= a)
        assert nxt - a <= timedelta(hours=max(gar.min_transfer_hours, 0) + 1)


def test_water_legs_vary_and_caspian_sailings_are_irregular(net, deps):
    l15 = next(x for x in net.links if x.id == "L15")
    runs = [d for d in deps if d.link_id == "L15"]
    hours = {round(d.running_hours, 1) for d in runs}
    assert len(hours) > 10 and min(hours) >= 0.94 * l15.running_hours and max(hours) <= 1.36 * l15.running_hours
    gaps = {(b.departs_at - a.departs_at) for a, b in zip(runs, runs[1:])}
    assert len(gaps) > 50                                   # no fixed timetable on the Caspian
    assert Counter(d.status for d in runs)["delayed"] > 0
    assert len(runs) == pytest.approx(400 / 7 * l15.frequency_per_week, rel=0.15)


def test_departures_carry_readable_ids_vessels_and_prices(net, deps):
    by_id = {x.id: x for x in net.links}
    assert len({d.id for d in deps}) == len(deps)
    for d in deps[::101]:
        assert re.fullmatch(r"L\d+[A-Z]?R?-\d{8}-\d+", d.id)
        assert d.price_usd_per_teu == pytest.approx(by_id[d.link_id].price_usd_per_feu / 2)
        assert d.operator and d.service and d.voyage
    ferries = {d.vehicle for d in deps if d.link_id in ("L16", "L16R")}
    assert set(link_services()["L16"].vessels) <= ferries
    assert {d.operator for d in deps if d.link_id == "L15"} == {"KMTF", "ASCO"}
    scheduled = [d for d in deps if d.status == "scheduled"][::211]
    assert all(d.id.split("-")[1] == d.departs_at.strftime("%Y%m%d") for d in scheduled)


def test_operating_drops_cancelled_sailings(deps):
    running = operating(deps)
    assert 0 < len(deps) - len(running) < len(deps) and all(d.status != "cancelled" for d in running)




def test_a_days_weather_is_the_calendars_not_the_timetables(caspian_net):
    # timetables generated on different days (each `corridor init`, a reload) agree on the days a
    # storm closed the Caspian: a sailing planned that day is cancelled in both
    def closed(start: date) -> dict[tuple[str, str], bool]:
        out: dict[tuple[str, str], bool] = {}
        for d in generate_timetable(caspian_net, start, days=61):
            k = (d.link_id, d.id.split("-")[1])      # the link and the planned day the id names
            out[k] = out.get(k, False) or d.status == "cancelled"
        return out
    early, late = closed(date(2026, 11, 1)), closed(date(2026, 11, 20))
    both = [k for k in early.keys() & late.keys() if k[1] >= "20261125"]   # past the exposure look-back
    assert len(both) > 50 and any(early[k] for k in both)
    assert [k for k in both if early[k] != late[k]] == []
    assert storm_days(date(2026, 11, 1), 60)[19:] == storm_days(date(2026, 11, 20), 41)
