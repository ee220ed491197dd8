"""The timetable router on small hand-built networks: transfer times, capacity, families, reverse, Pareto."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from corridor.domain.errors import DomainError
from corridor.domain.network import Corridor, FacilityType, Link, Location, Mode, Network
from corridor.domain.timetable import Departure
from corridor.planning.emissions import HUB_KG_PER_TEU_HANDLING, default_factors
from corridor.planning.router import Timetable

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=timezone.utc)
M, N, S = Corridor.MIDDLE, Corridor.NORTHERN, Corridor.SEA


def loc(i: str, ft: FacilityType = FacilityType.RAMP, transfer: float = 0.0) -> Location:
    return Location(id=i, code=None, name=f"Station {i}", country="KZ", timezone="Asia/Almaty",
                    lat=0.0, lon=0.0, kind="rail_terminal", facility_type=ft, min_transfer_hours=transfer)


def link(i: str, a: str, b: str, fams=(M,), dwell: float = 0.0, km: float = 100.0,
         mode: Mode = Mode.RAIL, transfer: str | None = None) -> Link:
    return Link(id=i, origin=a, destination=b, mode=mode, corridors=frozenset(fams), distance_km=km,
                running_hours=1.0, dwell_hours=dwell, capacity_teu=100, transfer=transfer)


def dep(i: str, lk: Link, at: float, hours: float, cap: int = 100, price: float = 100.0,
        status: str = "scheduled", operator: str = "op") -> Departure:
    start = T0 + timedelta(hours=at)
    return Departure(id=i, link_id=lk.id, service="S", operator=operator, mode=lk.mode, origin=lk.origin,
                     destination=lk.destination, departs_at=start, arrives_at=start + timedelta(hours=hours),
                     capacity_teu=cap, price_usd_per_teu=price, status=status)


def net(locs, links) -> Network:
    return Network({x.id: x for x in locs}, list(links), name="test")


def h(j) -> float:
    """Arrival of a journey in hours after T0."""
    return (j.arrives_at - T0).total_seconds() / 3600


# ---- transfer times ---------------------------------------------------------------------------
def test_dwell_of_the_outgoing_link_is_the_minimum_connection_time():
    ab, bd = link("AB", "A", "B"), link("BD", "B", "D", dwell=4)
    tt = Timetable(net([loc("A"), loc("B"), loc("D")], [ab, bd]),
                   [dep("ab", ab, 0, 10), dep("bd-soon", bd, 12, 5), dep("bd-ok", bd, 14, 5)])
    j = tt.earliest_arrival("A", "D", T0)
    assert j.departure_ids == ("ab", "bd-ok")   # 10 h + 4 h dwell = 14 h: the 12 h run is missed
    assert h(j) == 19


def test_station_transfer_time_applies_when_longer_than_the_dwell():
    ab, bd = link("AB", "A", "B"), link("BD", "B", "D", dwell=1)
    tt = Timetable(net([loc("A"), loc("B", transfer=6), loc("D")], [ab, bd]),
                   [dep("ab", ab, 0, 10), dep("bd1", bd, 12, 5), dep("bd2", bd, 16, 5)])
    assert tt.earliest_arrival("A", "D", T0).departure_ids == ("ab", "bd2")


def test_dwell_is_the_cargo_cut_off_at_the_origin():
    ab = link("AB", "A", "B", dwell=6)
    tt = Timetable(net([loc("A"), loc("B")], [ab]), [dep("early", ab, 5, 2), dep("late", ab, 6, 2)])
    assert tt.earliest_arrival("A", "B", T0).departure_ids == ("late",)


# ---- capacity and cancellations ---------------------------------------------------------------
def test_departure_without_room_for_the_teu_is_skipped():
    ab = link("AB", "A", "B")
    deps = [dep("full", ab, 1, 5, cap=3), dep("roomy", ab, 2, 5, cap=10)]
    tt = Timetable(net([loc("A"), loc("B")], [ab]), deps)
    assert tt.earliest_arrival("A", "B", T0, teu=2).departure_ids == ("full",)
    assert tt.earliest_arrival("A", "B", T0, teu=4).departure_ids == ("roomy",)
    live = {"full": 40, "roomy": 0}   # a booking service's live free space wins over nominal capacity
    assert tt.earliest_arrival("A", "B", T0, teu=4, free_teu=live.__getitem__).departure_ids == ("full",)
    assert tt.earliest_arrival("A", "B", T0, teu=41, free_teu=live.__getitem__) is None


def test_cancelled_departures_are_skipped():
    ab = link("AB", "A", "B")
    tt = Timetable(net([loc("A"), loc("B")], [ab]),
                   [dep("x", ab, 1, 5, status="cancelled"), dep("y", ab, 3, 5)])
    assert tt.earliest_arrival("A", "B", T0).departure_ids == ("y",)


# ---- routing families, waypoints --------------------------------------------------------------
def _mixed():
    ab = link("AB", "A", "B", fams=(M, N))
    bn = link("BN", "B", "X", fams=(N,))
    nd = link("ND", "X", "D", fams=(S,))
    bd = link("BD", "B", "D", fams=(M,))
    locs = [loc("A"), loc("B"), loc("X"), loc("D")]
    deps = [dep("ab", ab, 0, 5), dep("bn", bn, 6, 2), dep("nd", nd, 9, 2), dep("bd", bd, 6, 30)]
    return Timetable(net(locs, [ab, bn, nd, bd]), deps)


def test_a_journey_never_mixes_corridor_families():
    tt = _mixed()
    j = tt.earliest_arrival("A", "D", T0)
    assert j.departure_ids == ("ab", "bd") and j.family is M   # the 11 h mixed path is not allowed
    assert tt.earliest_arrival("A", "D", T0, family=N) is None
    assert tt.earliest_arrival("A", "X", T0, family=N).departure_ids == ("ab", "bn")


def test_waypoints_are_pass_through_only_and_keep_the_carrier():
    wp = loc("W", FacilityType.WAYP)
    aw = link("AW", "A", "W", fams=(S,), mode=Mode.DEEP_SEA, km=1000)
    wd = link("WD", "W", "D", fams=(S,), mode=Mode.DEEP_SEA, km=1000)
    deps = [dep("aw1", aw, 0, 10, operator="MAEU"), dep("wd2", wd, 11, 10, operator="CMDU"),
            dep("wd1", wd, 20, 10, operator="MAEU")]
    tt = Timetable(net([loc("A"), wp, loc("D")], [aw, wd]), deps)
    assert tt.earliest_arrival("A", "D", T0).departure_ids == ("aw1", "wd1")
    with pytest.raises(DomainError, match="waypoint"):
        tt.earliest_arrival("A", "W", T0)
    # hub emissions: one load at A and one discharge at D, none at the waypoint
    j = tt.earliest_arrival("A", "D", T0)
    sea = default_factors()[Mode.DEEP_SEA].per_teu_km()
    assert j.co2e_kg_per_teu == pytest.approx(2000 * sea + 2 * HUB_KG_PER_TEU_HANDLING)


def test_naive_ready_time_is_refused():
    tt = _mixed()
    with pytest.raises(DomainError, match="time zone"):
        tt.earliest_arrival("A", "D", datetime(2026, 3, 2))


def test_departure_on_unknown_link_is_refused():
    with pytest.raises(DomainError, match="link 'ZZ'"):
        Timetable(net([loc("A"), loc("B")], []), [dep("x", link("ZZ", "A", "B"), 0, 1)])


# ---- reverse query and Pareto on a hand-built case -------------------------------------------
def test_latest_departure_is_consistent_with_earliest_arrival():
    tt = _mixed()
    j = tt.latest_departure("A", "D", T0 + timedelta(hours=40))
    assert j.departure_ids == ("ab", "bd") and j.ready_by == T0
    assert h(tt.earliest_arrival("A", "D", j.ready_by)) <= 40
    assert tt.latest_departure("A", "D", T0 + timedelta(hours=35)) is None


def test_pareto_keeps_fast_dear_and_slow_cheap_options():
    ab1, ab2 = link("AB1", "A", "B", km=500), link("AB2", "A", "B", km=100, mode=Mode.TRUCK)
    deps = [dep("fast", ab1, 0, 5, price=900), dep("slow", ab1, 1, 50, price=100),
            dep("worse", ab1, 2, 60, price=200), dep("truck", ab2, 0, 3, price=2000)]
    tt = Timetable(net([loc("A"), loc("B")], [ab1, ab2]), deps)
    p = tt.pareto("A", "B", T0)
    assert {j.departure_ids for j in p} == {("truck",), ("fast",), ("slow",)}
    assert p[0].arrives_at == tt.earliest_arrival("A", "B", T0).arrives_at


# ---- property: the scans agree with brute force on random timetables ------------------------
STOPS = "ABCDE"


@st.composite
def timetables(draw):
    links, deps = [], []
    pairs = draw(st.lists(st.tuples(st.sampled_from(STOPS), st.sampled_from(STOPS)).filter(
        lambda p: p[0] != p[1]), min_size=3, max_size=9, unique=True))
    for i, (a, b) in enumerate(pairs):
        fams = draw(st.sets(st.sampled_from([M, N, S]), min_size=1, max_size=2))
        lk = link(f"L{i}", a, b, fams=fams, dwell=draw(st.sampled_from([0, 1, 3])),
                  km=draw(st.integers(10, 900)))
        links.append(lk)
        for r in range(draw(st.integers(1, 4))):
            deps.append(dep(f"L{i}-{r}", lk, draw(st.integers(0, 60)), draw(st.integers(1, 20)),
                            cap=draw(st.sampled_from([1, 5])), price=draw(st.integers(0, 500))))
    transfer = draw(st.sampled_from([0, 2]))
    return Timetable(net([loc(s, transfer=transfer) for s in STOPS], links), deps)


def all_journeys(tt: Timetable, o: str, d: str, t0: datetime, teu: int):
    """Every journey by brute force: depth-first over departures, same rules as the router."""
    out = []

    def walk(at: str, ready: datetime, path: list, fams: frozenset, seen: set):
        if at == d and path:
            out.append((path[-1].arrives_at, sum(tt.price_per_teu[tt.departures.index(x)] for x in path),
                        sum(tt.co2e_per_teu[tt.departures.index(x)] for x in path), fams))
            return
        for x in tt.departures:
            lk = tt.links[x.link_id]
            mct = timedelta(hours=max(lk.dwell_hours, tt.network.locations[x.origin].min_transfer_hours))
            f2 = fams & lk.corridors
            if x.origin == at and x.departs_at - mct >= ready and x.destination not in seen and f2 \
                    and x.capacity_teu >= teu:
                walk(x.destination, x.arrives_at, path + [x], f2, seen | {x.destination})

    walk(o, t0, [], frozenset({M, N, S}), {o})
    return out


@settings(max_examples=150, deadline=None)
@given(timetables(), st.sampled_from(STOPS), st.sampled_from(STOPS), st.integers(0, 20), st.sampled_from([1, 3]))
def test_scans_agree_with_brute_force(tt, o, d, start, teu):
    if o == d:
        return
    t0 = T0 + timedelta(hours=start)
    brute = all_journeys(tt, o, d, t0, teu)
    event("journeys exist" if brute else "no journey")
    ea = tt.earliest_arrival(o, d, t0, teu)
    assert (ea is None) == (not brute)
    if not brute:
        return
    assert ea.arrives_at == min(b[0] for b in brute)
    assert len(set(ea.stops)) == len(ea.stops)
    # Pareto: exactly the non-dominated (arrival, price, CO2e) vectors of all journeys
    vec = {(b[0], round(b[1], 6), round(b[2], 6)) for b in brute}
    front = {v for v in vec if not any(w != v and all(w[i] <= v[i] for i in range(3)) for w in vec)}
    got = tt.pareto(o, d, t0, teu)
    assert {(j.arrives_at, round(j.price_usd_per_teu, 6), round(j.co2e_kg_per_teu, 6)) for j in got} == front
    assert got[0].arrives_at == ea.arrives_at
    # reverse: the latest departure for that arrival, then forward again, arrives no later
    lat = tt.latest_departure(o, d, ea.arrives_at, teu)
    assert lat is not None and lat.ready_by >= t0
    assert tt.earliest_arrival(o, d, lat.ready_by, teu).arrives_at <= ea.arrives_at
    later = tt.earliest_arrival(o, d, lat.ready_by + timedelta(seconds=1), teu)
    assert later is None or later.arrives_at > ea.arrives_at
