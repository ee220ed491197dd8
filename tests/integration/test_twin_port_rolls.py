"""A box that missed its booked Caspian sailing is re-booked onto a sailing still ahead (issue #6).

Before, the twin re-booked such a box only once the vessel it rode had left (`roll_onto` after the
departure report): the booking service refused a departure already past, so every one of these
re-bookings failed and the booking kept the sailing it had missed. Now a box whose sailing is gone
(sailed without it, no vessel ran as it) rolls to the first later sailing with room while that is
still ahead, and the roll onto the vessel it rides happens at the cut-off, before it sails.
"""

from __future__ import annotations

from datetime import date, timedelta

from corridor.twin import booking
from corridor.twin.run import simulate
from corridor.twin.scenario import load_scenario


def test_a_box_that_missed_its_sailing_is_rebooked_onto_one_still_ahead(loaded_store, monkeypatch):
    rolls = []          # (sailing rolled onto leaves at or after the re-booking, re-booked)
    real = booking.Booker.reroute

    def reroute(self, ref, path, first, legs, now, reason):
        out = real(self, ref, path, first, legs, now, reason)
        if path[0] == "KZ_AKX":
            rolls.append((first.departs_at >= now, out is not None))
        return out
    monkeypatch.setattr(booking.Booker, "reroute", reroute)
    # one feeder for a timetable of twelve sailings a week: most sailings go without a vessel
    sc = load_scenario(name="rolls", origins={"CN_XIA": {"trains_per_month": 0}, "CN_CQI": {"trains_per_month": 0},
                                              "CN_LYG": {"trains_per_month": 0},
                                              "CN_URM": {"trains_per_month": 30}},
                       wagons_per_train=[8, 12], container_pool=0, kuryk_share=0.0,
                       fleet=[{"port": "KZ_AKX", "operator": "KMTF", "kind": "feeder", "count": 1, "capacity_teu": 143},
                              {"port": "KZ_KUR", "operator": "ASCO", "kind": "ferry", "count": 1, "capacity_teu": 54}],
                       start=(date.today() - timedelta(days=25)).isoformat())
    sc.params["storm_share"] = {m: 0.0 for m in range(1, 13)}
    s = simulate(loaded_store, sc, days=20, seed=3).summary()
    assert len(rolls) >= 5, rolls
    assert all(ahead for ahead, _ok in rolls), rolls
    assert sum(ok for _ahead, ok in rolls) >= 0.8 * len(rolls), rolls
    assert s["rebooked"] >= sum(ok for _ahead, ok in rolls)
