"""ETA laid on the timetable: a box that misses the ferry waits for the next sailing with space."""

from datetime import datetime, timedelta, timezone

from corridor.domain.network import Mode
from corridor.domain.timetable import Departure
from corridor.tracking.eta import History, Hop, Ride, Spread, lay

T = datetime(2025, 3, 1, tzinfo=timezone.utc)


def dep(i, o, d, day, hours, status="scheduled"):
    return Departure(f"{o}-{d}-{i}", "L", "S", "OP", Mode.FERRY, o, d, T + timedelta(days=day),
                     T + timedelta(days=day, hours=hours), 20, status=status)


class Source:
    def __init__(self, deps):
        self.deps = sorted(deps, key=lambda d: d.departs_at)

    def next_departure(self, o, d, after):
        return next((x for x in self.deps if x.origin == o and x.destination == d and x.departs_at >= after
                     and x.status != "cancelled"), None)

    def departure(self, i):
        return next((x for x in self.deps if x.id == i), None)


ZERO = lambda *_: Spread(0, 0, 0)
KW = dict(history=History(delay={"L": Spread(0, 0, 6)}), mode_of=lambda _: "ferry", transfer_h=ZERO)


def test_missed_booked_sailing_waits_for_the_next_one_not_cancelled():
    deps = [dep(1, "AKT", "ALA", 1, 20), dep(2, "AKT", "ALA", 3, 20, "cancelled"), dep(3, "AKT", "ALA", 5, 20)]
    eta = lay([Hop("AKT", "ALA", "AKT-ALA-1")], T + timedelta(days=2), Source(deps), **KW)
    assert eta.legs[0].departure_id == "AKT-ALA-3" and eta.missed == (("AKT-ALA-1", "AKT-ALA-3"),)
    assert eta.at == T + timedelta(days=5, hours=20) and eta.high == eta.at + timedelta(hours=6)


def test_in_time_for_the_booked_sailing_keeps_it():
    deps = [dep(1, "AKT", "ALA", 1, 20), dep(3, "AKT", "ALA", 5, 20)]
    eta = lay([Hop("AKT", "ALA", "AKT-ALA-1")], T, Source(deps), **KW)
    assert eta.legs[0].departure_id == "AKT-ALA-1" and not eta.missed and eta.low <= eta.at <= eta.high


def test_a_box_riding_a_vehicle_off_the_timetable_is_laid_from_where_it_is_set_down():
    # aboard a vessel that left at T+10h as no timetable departure: 10 h to ALA, then the next train on
    deps = [dep(1, "ALA", "BKU", 0, 2), dep(2, "ALA", "BKU", 1, 2), dep(3, "ALA", "BKU", 2, 2)]
    ride = Ride(T + timedelta(hours=10), 1, 10.0, "L")
    eta = lay([Hop("AKT", "ALA", "AKT-ALA-9"), Hop("ALA", "BKU")], T + timedelta(hours=10), Source(deps),
              ride=ride, **KW)
    assert [l.departure_id for l in eta.legs] == [None, "ALA-BKU-2"] and not eta.missed
    assert eta.legs[0].arrives_at == T + timedelta(hours=20) and eta.at == T + timedelta(days=1, hours=2)
    assert eta.high == T + timedelta(days=2, hours=8)     # 6 h late into ALA misses the train at 24 h


def test_a_box_still_to_be_set_down_waits_for_the_transfer_before_its_first_departure():
    deps = [dep(1, "ALA", "BKU", 0, 2), dep(2, "ALA", "BKU", 1, 2)]
    twelve = dict(KW, transfer_h=lambda *_: Spread(12, 12, 12))
    hops = [Hop("ALA", "BKU")]
    assert lay(hops, T - timedelta(hours=1), Source(deps), **twelve).legs[0].departure_id == "ALA-BKU-1"
    laid = lay(hops, T - timedelta(hours=1), Source(deps), set_down=True, **twelve)
    assert laid.legs[0].departure_id == "ALA-BKU-2"


def test_a_box_aboard_a_mapped_sailing_is_late_by_what_was_heard_of_it():
    from corridor.tracking.eta import _late_aboard
    t0 = datetime(2026, 3, 1, 10, tzinfo=timezone.utc)
    sailing = Departure("S1", "L", "S", "OP", Mode.FERRY, "KZ_AKX", "AZ_ALA", t0, t0 + timedelta(hours=20), 100)
    loaded = {"state": "at_sea", "last_heard_at": t0 - timedelta(hours=2)}
    assert _late_aboard(sailing, loaded, t0 - timedelta(hours=2)) == 0.0       # loaded before it sails
    # its departure heard 1.5 h after the timetable's: late by that, not as if it sailed on time
    left = {"state": "at_sea", "last_heard_at": t0 + timedelta(hours=1.5)}
    assert _late_aboard(sailing, left, t0 - timedelta(hours=1)) == 1.5
    # a fix heard long after (mid-sea): a ship leaves soon after its last box, not when next heard of
    assert _late_aboard(sailing, {"state": "at_sea", "last_heard_at": t0 + timedelta(hours=9)},
                        t0 - timedelta(hours=1)) == 2.0


def test_a_box_aboard_a_run_heard_leaving_early_adds_only_the_runs_own_delay():
    # the ferry sailed 72 h before its slot (sails when loaded); its arrivals against the slot
    # (-50 h) would count that earliness a second time: only the run's own delay is added
    sailing = dep(1, "AKT", "ALA", 5, 20)
    hist = History(delay={"L": Spread(-60, -50, -14)}, running={"L": Spread(-2, 1, 4)})
    eta = lay([], T + timedelta(days=2), Source([sailing]), history=hist, mode_of=lambda _: "ferry",
              transfer_h=ZERO, aboard=sailing, aboard_late_h=-72.0)
    assert eta.at == T + timedelta(days=2, hours=21)
    assert (eta.low, eta.high) == (T + timedelta(days=2, hours=18), T + timedelta(days=2, hours=24))
    # no run heard on the link yet: the arrivals against the slot are all there is
    eta = lay([], T + timedelta(days=2), Source([sailing]), history=History(delay={"L": Spread(0, 2, 6)}),
              mode_of=lambda _: "ferry", transfer_h=ZERO, aboard=sailing, aboard_late_h=-72.0)
    assert eta.at == T + timedelta(days=2, hours=22)


class _Places:
    """Just the links `_ride` reads: a gauge-change border hop, then a rail run to the port."""

    link_of = {("AKL", "DOS"): {"id": "B", "mode": "rail", "transfer": "gauge_change_1435_1520",
                                "running_hours": 1.0, "dwell_hours": 8.0},
               ("DOS", "AKT"): {"id": "K", "mode": "rail", "running_hours": 110.0, "dwell_hours": 0.0}}


def test_a_train_heard_leaving_its_stop_left_then_not_when_its_box_was_put_aboard():
    from corridor.tracking.eta import _ride
    loaded, left = T, T + timedelta(hours=12)      # it waited at the border for its path
    hops = [Hop("DOS", "AKT")]
    for through in (True, False):
        ride = _ride(hops, through, "on_rail", loaded, left, Source([]), _Places(), reported=True)
        assert ride.departs_at == left and ride.hours == 110.0
    # a tracker's fix on the way, not a report at the stop: the train left by then, soon after loading
    fix = _ride(hops, False, "on_rail", loaded, left, Source([]), _Places(), reported=False)
    assert fix.departs_at == T + timedelta(hours=8)
