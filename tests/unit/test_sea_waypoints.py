"""Sea waypoints (Suez, the Cape) are passed, not called at: the ship that comes in sails on, and a box stays on it."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta, timezone

import pytest

from corridor.domain.network import Corridor, FacilityType, Link, Location, Mode, Network
from corridor.domain.timetable import Departure
from corridor.network_file import load_network
from corridor.planning.options import plan
from corridor.planning.router import Timetable
from corridor.schedule import generate_timetable

START = date(2026, 1, 1)
DAYS = 150
WAYPOINTS = ("ZA_CAPE", "EG_SUEZ")
ASIA = {"CN_SHA", "CN_NGB"}


@pytest.fixture(scope="module")
def net():
    return load_network()


@pytest.fixture(scope="module")
def deps(net):
    return generate_timetable(net, START, days=DAYS, seed=1)


def _hours(a: datetime, b: datetime) -> float:
    return (b.timestamp() - a.timestamp()) / 3600


def _through(deps):
    """(inbound, outbound) sailings at a waypoint that carry the same vessel and voyage."""
    inbound = {(d.destination, d.vehicle, d.voyage): d for d in deps if d.destination in WAYPOINTS}
    return [(inbound.get((d.origin, d.vehicle, d.voyage)), d) for d in deps if d.origin in WAYPOINTS]


def test_the_ship_that_comes_in_sails_on_after_the_dwell_only(net, deps):
    links = {k.id: k for k in net.links}
    pairs = _through(deps)
    assert {out.link_id for _, out in pairs} >= {"L59", "L64", "L66", "L55", "L56", "L57", "L63", "L65"}
    settled = START + timedelta(days=40)   # ships that left before the start came in during the lead-in
    for came, out in pairs:
        if out.departs_at.date() < settled:
            continue
        assert came is not None, f"{out.id} ({out.vehicle} {out.voyage}) does not continue a ship that came in"
        assert came.operator == out.operator and came.status == out.status
        assert _hours(came.arrives_at, out.departs_at) == links[out.link_id].dwell_hours, out.id
    cape = [(c, o) for c, o in pairs if o.link_id in ("L59", "L64", "L66") and c]
    suez = [(c, o) for c, o in pairs if o.link_id in ("L55", "L56", "L57", "L63", "L65") and c]
    assert cape and all(_hours(c.arrives_at, o.departs_at) == 0 for c, o in cape)
    assert suez and all(_hours(c.arrives_at, o.departs_at) == 24 for c, o in suez)   # the canal transit wait


def test_legs_beyond_a_waypoint_run_from_the_first_day(deps):
    for lid in ("L59", "L64", "L66", "L55", "L56"):
        first = min(d.departs_at for d in deps if d.link_id == lid)
        assert first.date() - START <= timedelta(days=7), lid


def test_ships_keep_their_direction_and_go_on_once(deps):
    pairs = [(c, o) for c, o in _through(deps) if c]
    assert pairs
    for came, out in pairs:
        assert (came.origin in ASIA) != (out.destination in ASIA), (came.id, out.id)   # no U-turn, no Europe-Europe
        assert (came.link_id.endswith("R")) == (out.link_id.endswith("R"))
    # every ship that came in (and had time to go on inside the window) goes on exactly once
    gone = Counter((c.destination, c.vehicle, c.voyage) for c, _ in pairs)
    assert set(gone.values()) == {1}
    end = datetime.combine(START + timedelta(days=DAYS - 3), datetime.min.time(), timezone.utc)
    came_in = {(d.destination, d.vehicle, d.voyage) for d in deps
               if d.destination in WAYPOINTS and d.arrives_at < end}
    assert came_in <= set(gone)


def test_arrivals_are_spread_over_the_outbound_links_by_frequency(net, deps):
    freq = {k.id: k.frequency_per_week for k in net.links}
    runs = Counter(d.link_id for d in deps if d.origin in WAYPOINTS)
    west_cape = {lid: runs[lid] for lid in ("L59", "L64", "L66")}
    total = sum(west_cape.values())
    arrived = sum(1 for d in deps if d.link_id in ("L58", "L62"))
    assert total == pytest.approx(arrived, abs=12)   # each ship that rounds the Cape goes on once
    for lid, n in west_cape.items():
        share = freq[lid] / sum(freq[x] for x in west_cape)
        assert n == pytest.approx(total * share, abs=2), lid


# ---- the router: a box stays on its ship across a waypoint --------------------------------------
T0 = datetime(2026, 3, 2, tzinfo=timezone.utc)
S = Corridor.SEA


def _loc(i: str, ft: FacilityType = FacilityType.POTE) -> Location:
    return Location(id=i, code=None, name=i, country="XX", timezone="UTC", lat=0.0, lon=0.0, kind="port",
                    facility_type=ft)


def _link(i: str, a: str, b: str) -> Link:
    return Link(id=i, origin=a, destination=b, mode=Mode.DEEP_SEA, corridors=frozenset({S}), distance_km=1000,
                running_hours=10.0, capacity_teu=100)


def _sail(i: str, lk: Link, at: float, hours: float, vessel: str, voyage: str) -> Departure:
    return Departure(id=i, link_id=lk.id, service="LOOP", operator="LINE", mode=lk.mode, origin=lk.origin,
                     destination=lk.destination, departs_at=T0 + timedelta(hours=at),
                     arrives_at=T0 + timedelta(hours=at + hours), capacity_teu=100, price_usd_per_teu=100.0,
                     vehicle=vessel, voyage=voyage)


@pytest.fixture
def ocean():
    """A -> W (waypoint) -> D or E by one carrier's ships: ALPHA 1W rounds W at 10 h and sails on
    to E at once and (in this made-up timetable) to D only at 100 h; BRAVO 2W rounds it at 20 h and
    sails on to D at once; CHARLIE 9W, another ship of the same carrier, leaves W for D at 12 h."""
    aw, wd, we = _link("AW", "A", "W"), _link("WD", "W", "D"), _link("WE", "W", "E")
    locs = [_loc("A"), _loc("D"), _loc("E"), _loc("W", FacilityType.WAYP)]
    deps = [_sail("aw-alpha", aw, 0, 10, "ALPHA", "1W"), _sail("we-alpha", we, 10, 10, "ALPHA", "1W"),
            _sail("wd-alpha", wd, 100, 10, "ALPHA", "1W"),
            _sail("aw-bravo", aw, 5, 15, "BRAVO", "2W"), _sail("wd-bravo", wd, 20, 10, "BRAVO", "2W"),
            _sail("wd-charlie", wd, 12, 10, "CHARLIE", "9W")]
    return Network({x.id: x for x in locs}, [aw, wd, we], name="ocean"), deps


def test_a_box_never_changes_ship_at_a_waypoint(ocean):
    net, deps = ocean
    tt = Timetable(net, deps)
    # CHARLIE leaves W for D two hours after ALPHA came in, but a box cannot be moved across at sea
    j = tt.earliest_arrival("A", "D", T0)
    assert j.departure_ids == ("aw-bravo", "wd-bravo")
    assert [d.departure_ids for d in tt.pareto("A", "D", T0)] == [("aw-bravo", "wd-bravo")]
    late = tt.latest_departure("A", "D", T0 + timedelta(hours=200))
    assert late.departure_ids == ("aw-bravo", "wd-bravo")   # ALPHA leaves A before BRAVO does
    assert tt.earliest_arrival("A", "E", T0).departure_ids == ("aw-alpha", "we-alpha")
    assert tt.earliest_arrival("A", "E", T0 + timedelta(minutes=1)) is None   # BRAVO does not go to E


def test_pareto_finds_the_later_ship_that_goes_the_right_way(ocean):
    # ALPHA rounds W first and (in this timetable) reaches D too, 90 h later than BRAVO: the later
    # run of A -> W is no copy of the earlier one, since the two ships go on differently
    net, deps = ocean
    deps = [d for d in deps if d.id != "wd-charlie"]
    found = Timetable(net, deps).pareto("A", "D", T0)
    assert [j.departure_ids for j in found] == [("aw-bravo", "wd-bravo")]


# ---- the planner on the default network -----------------------------------------------------------
@pytest.mark.parametrize("to", ["Istanbul", "Duisburg"])
def test_sea_options_stay_on_board_at_the_cape_and_wait_a_day_at_suez(net, deps, to):
    tt = Timetable(net, deps, include_suez=True)
    opts = plan(net, tt, "Xi'an", to, datetime(2026, 2, 2, tzinfo=timezone.utc), "1x40",
                now=datetime(2026, 2, 1, tzinfo=timezone.utc))
    sea = {("EG_SUEZ" if o.restriction else "ZA_CAPE"): o for o in opts if o.corridor is S}
    assert set(sea) == {"ZA_CAPE", "EG_SUEZ"}   # the restricted Suez route beside the Cape
    by_id = {d.id: d for d in deps}
    days = {}
    for way, o in sea.items():
        came, out = [by_id[leg.departure_id] for leg in o.legs if leg.mode is Mode.DEEP_SEA]
        assert came.destination == out.origin == way
        assert (came.vehicle, came.voyage, came.operator) == (out.vehicle, out.voyage, out.operator)
        assert _hours(came.arrives_at, out.departs_at) == (24 if way == "EG_SUEZ" else 0)
        days[way] = _hours(came.departs_at, out.arrives_at) / 24
    # port to port: Shanghai-Rotterdam is reported at 35-49 days round the Cape and 27-35 through
    # Suez (corridor-facts, Port Economics); the Mediterranean ports lie a few days nearer by Suez
    assert 40 <= days["ZA_CAPE"] <= 52 and 22 <= days["EG_SUEZ"] <= 35
    assert sea["EG_SUEZ"].transit_days < sea["ZA_CAPE"].transit_days - 10


# ---- eastbound: a reversed link waits at the place it leaves, not at the forward link's port ----------
def test_reversed_sea_links_wait_at_the_place_they_leave(net):
    links = {k.id: k for k in net.links}
    written = [k for k in net.links if k.mode is Mode.DEEP_SEA and not k.id.endswith("R")]
    into = [k for k in written if k.destination in WAYPOINTS]
    assert {k.id for k in into} == {"L53", "L54", "L58", "L62"}
    for k in into:
        # the waypoint's own wait, as the westbound links leaving it carry it: the canal's 24 h, none at the Cape
        own = {o.dwell_hours for o in written if o.origin == k.destination}
        assert own == {24.0 if k.destination == "EG_SUEZ" else 0.0}
        rev = links[k.id + "R"]
        assert rev.origin == k.destination and {rev.dwell_hours} == own, k.id   # not Shanghai's/Ningbo's 48 h
    # the port handling moves to the port the ship now leaves, it is not lost: A -> W -> B waits as long as B -> W -> A
    for a in into:
        for b in (o for o in written if o.origin == a.destination):
            assert a.dwell_hours + b.dwell_hours == links[b.id + "R"].dwell_hours + links[a.id + "R"].dwell_hours
    assert links["L59R"].dwell_hours == links["L58"].dwell_hours == 48   # handling at Rotterdam as at Shanghai


def test_eastbound_ships_sail_on_after_the_waypoints_own_wait(deps):
    settled = START + timedelta(days=40)
    pairs = [(c, o) for c, o in _through(deps) if o.link_id.endswith("R") and o.departs_at.date() >= settled]
    assert pairs and all(c is not None and c.link_id.endswith("R") for c, _ in pairs)
    cape = [_hours(c.arrives_at, o.departs_at) for c, o in pairs if o.origin == "ZA_CAPE"]
    suez = [_hours(c.arrives_at, o.departs_at) for c, o in pairs if o.origin == "EG_SUEZ"]
    assert cape and set(cape) == {0}
    assert suez and set(suez) == {24}


@pytest.mark.parametrize("origin", ["Istanbul", "Duisburg", "Rotterdam"])
def test_eastbound_sea_options_stay_on_board_at_the_cape_and_wait_a_day_at_suez(net, deps, origin):
    tt = Timetable(net, deps, include_suez=True)
    opts = plan(net, tt, origin, "Xi'an", datetime(2026, 2, 2, tzinfo=timezone.utc), "1x40",
                now=datetime(2026, 2, 1, tzinfo=timezone.utc))
    sea = {("EG_SUEZ" if o.restriction else "ZA_CAPE"): o for o in opts if o.corridor is S}
    assert set(sea) == {"ZA_CAPE", "EG_SUEZ"}
    by_id = {d.id: d for d in deps}
    for way, o in sea.items():
        came, out = [by_id[leg.departure_id] for leg in o.legs if leg.mode is Mode.DEEP_SEA]
        assert came.destination == out.origin == way and out.destination in ASIA
        assert (came.vehicle, came.voyage, came.operator) == (out.vehicle, out.voyage, out.operator)
        assert _hours(came.arrives_at, out.departs_at) == (24 if way == "EG_SUEZ" else 0), (origin, way)
    assert sea["EG_SUEZ"].transit_days < sea["ZA_CAPE"].transit_days - 10


@pytest.mark.parametrize("old,new,field", [
    ("    reverse_dwell_hours: 0\n", "    reverse_dwell_hours: -6\n", "reverse_dwell_hours"),
    ("    reverse_dwell_hours: 0\n", "    reverse_dwell_hours: 0\n    reverse_dwell_hours_range: [4, 2]\n",
     "reverse_dwell_hours_range"),
    ("    bidirectional: true\n", "    bidirectional: false\n", "reverse_dwell_hours"),
], ids=["negative", "range-upside-down", "one-way-link"])
def test_a_bad_reverse_dwell_names_its_line_and_field(tmp_path, old, new, field):
    from corridor.domain.errors import NetworkFileError
    from corridor.network_file import default_path, validate_network_file

    text = default_path().read_text(encoding="utf-8")
    start = text.index("\n  - id: L58\n")
    end = text.index("\n  - id: ", start + 1)
    pos = text.index(old, start, end)
    text = text[:pos] + new + text[pos + len(old):]
    path = tmp_path / "network.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(NetworkFileError) as exc:
        load_network(path)
    assert exc.value.field == field
    assert [p.field for p in validate_network_file(path)] == [field]


def test_reverse_dwell_defaults_to_the_same_dwell_both_ways(net):
    links = {k.id: k for k in net.links}
    for k in net.links:
        if k.id + "R" in links and not k.mode.is_water:
            rev = links[k.id + "R"]
            assert (rev.dwell_hours, rev.dwell_hours_range) == (k.dwell_hours, k.dwell_hours_range), k.id
    lk = links["L58"]
    assert lk.reversed().dwell_hours == lk.dwell_hours
    assert lk.reversed(0.0).dwell_hours == 0.0 and lk.reversed(0.0).dwell_hours_range is None
