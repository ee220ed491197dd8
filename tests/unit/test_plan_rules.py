"""The planner's rules on a small network: start from now, one true size limit, Suez beside the Cape."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from corridor.domain.errors import CapacityExceeded
from corridor.domain.network import Corridor, FacilityType, Link, Location, Mode, Network
from corridor.domain.timetable import Departure
from corridor.planning.options import LotTooLarge, NoRoom, PlanningRequestError, check_ready, plan
from corridor.planning.router import Timetable

DAY = datetime(2026, 3, 2, tzinfo=timezone.utc)     # the ready day, midnight
S = Corridor.SEA


def place(i, ft=FacilityType.POTE):
    return Location(i, i, i, "XX", "UTC", 0, 0, "x", ft)


def link(i, a, b, cap, restricted=False):
    return Link(i, a, b, Mode.DEEP_SEA, frozenset({S}), 1000.0, 10.0, capacity_teu=cap, suez_restricted=restricted)


def runs(lk, first_h, hours, count=6, every=24.0):
    return [Departure(f"{lk.id}-{r}", lk.id, "S", "LINE", lk.mode, lk.origin, lk.destination,
                      DAY + timedelta(hours=first_h + r * every),
                      DAY + timedelta(hours=first_h + r * every + hours), lk.capacity_teu, price_usd_per_teu=100)
            for r in range(count)]


@pytest.fixture
def sea():
    """A to D round a Cape (200 TEU ships, 40 TEU on the last leg) or through Suez (restricted, faster)."""
    locs = [place("A"), place("D"), place("CAPE", FacilityType.WAYP), place("SUEZ", FacilityType.WAYP)]
    ac, cd = link("AC", "A", "CAPE", 200), link("CD", "CAPE", "D", 40)
    as_, sd = link("AS", "A", "SUEZ", 200, True), link("SD", "SUEZ", "D", 200, True)
    deps = runs(ac, 3, 100) + runs(cd, 104, 100) + runs(as_, 5, 40) + runs(sd, 46, 40)
    return Network({x.id: x for x in locs}, [ac, cd, as_, sd], name="sea"), deps


def test_the_search_starts_now_on_the_ready_day(sea):
    net, deps = sea
    now = DAY + timedelta(hours=4)             # the 03:00 sailing has left
    opts = plan(net, deps, "A", "D", DAY, 1, now=now)
    assert opts and all(o.departs_at > now for o in opts)
    assert "AC-0" not in {leg.departure_id for o in opts for leg in o.legs}
    assert check_ready(DAY, now) == now and check_ready(DAY + timedelta(hours=9), now) == DAY + timedelta(hours=9)
    with pytest.raises(PlanningRequestError, match="in the past"):
        check_ready(DAY - timedelta(hours=1), now)


def test_suez_is_offered_restricted_beside_the_cape(sea):
    net, deps = sea
    opts = plan(net, deps, "A", "D", DAY, 1, now=DAY)
    by_way = {o.route[1]: o for o in opts}
    assert set(by_way) == {"CAPE", "SUEZ"}
    assert by_way["SUEZ"].restriction and "Red Sea" in by_way["SUEZ"].restriction
    assert by_way["CAPE"].restriction is None
    assert [o.route[1] for o in plan(net, deps, "A", "D", DAY, 1, now=DAY, suez=False)] == ["CAPE"]


def test_a_lot_larger_than_every_route_is_one_capacity_error(sea):
    net, deps = sea
    tt = Timetable(net, deps, include_suez=True)
    assert tt.largest_lot("A", "D")[0] == 200 and tt.largest_lot("A", "D", suez=False)[0] == 40
    with pytest.raises(LotTooLarge, match="at most 200 TEU") as e:
        plan(net, deps, "A", "D", DAY, 201, now=DAY)
    assert isinstance(e.value, CapacityExceeded)
    with pytest.raises(LotTooLarge, match="at most 40 TEU .*CAPE → D"):
        plan(net, deps, "A", "D", DAY, 41, now=DAY, suez=False)
    assert [o.route[1] for o in plan(net, deps, "A", "D", DAY, 200, now=DAY)] == ["SUEZ"]   # the limit is true
    with pytest.raises(NoRoom, match="later date") as e:   # fits the ships, but they are booked up
        plan(net, deps, "A", "D", DAY, 30, free_teu=lambda _: 10, now=DAY)
    assert isinstance(e.value, CapacityExceeded)
