"""The same seed gives the same twin run into a store, however fast the machine runs it (issue #6).

Corridor's own events in a fast run (ETAs published, alerts) come from the tracking step, whose
caches (the observed delay and dwell history, the space booked on departures) a server reads
again every few minutes of its clock. A fast run aged them on the wall clock too, so when they
were read again depended on the machine's speed: two 60-day runs of one seed on one machine
published some ninety ETAs and a dozen alerts apart, and a year-long run laid its ETAs on the
history read in its first minutes. Now a fast run ages them on its
simulated clock. The second run here runs on a wall clock that races (every reading 10 minutes
on), as on a machine far slower than this one.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from types import SimpleNamespace

from corridor.store import Store
from corridor.tracking import eta
from corridor.twin.run import simulate
from corridor.twin.scenario import load_scenario


def _racing_time():
    """`time` as the ETA module sees it, whose monotonic clock moves 600 s a reading."""
    t = [time.monotonic()]

    def monotonic() -> float:
        t[0] += 600.0
        return t[0]
    return SimpleNamespace(**{**{n: getattr(time, n) for n in dir(time) if not n.startswith("_")},
                              "monotonic": monotonic})


def _run(templates, monkeypatch, racing: bool) -> tuple[dict, list[tuple]]:
    store = Store(templates.sqlite_copy(True))
    sc = load_scenario(name="repro", origins={"CN_XIA": {"trains_per_month": 14}, "CN_CQI": {"trains_per_month": 0},
                                              "CN_LYG": {"trains_per_month": 0},
                                              "CN_URM": {"trains_per_month": 14}},
                       start=(date.today() - timedelta(days=30)).isoformat())
    try:
        with monkeypatch.context() as m:
            if racing:
                m.setattr(eta, "time", _racing_time())
                # the wall clock's lifetimes read that clock when the class was made: race them too
                m.setattr(eta, "WALL_CLOCK", getattr(eta, "CacheClock", dict)(now=eta.time.monotonic), raising=False)
            summary = simulate(store, sc, days=14, seed=5).summary()
        with store.read() as conn:
            own = sorted(tuple(r) for r in conn.exec_driver_sql(
                "SELECT trip_id, code, classifier, event_time, location, extra FROM events "
                "WHERE source_party = 'CORRIDOR' AND trip_id IS NOT NULL"))
    finally:
        store.dispose()
    return summary, own


def test_a_seed_gives_the_same_etas_and_alerts_whatever_the_machines_speed(templates, monkeypatch):
    calm, own_calm = _run(templates, monkeypatch, racing=False)
    raced, own_raced = _run(templates, monkeypatch, racing=True)
    codes = {r[1] for r in own_calm}
    assert {"DISC", "LATE"} <= codes, codes          # ETAs published and alerts raised to compare
    assert len(own_calm) > 1000, len(own_calm)
    assert own_raced == own_calm
    same = ("containers", "events", "rebooked", "sweep_events")
    assert {k: raced[k] for k in same} == {k: calm[k] for k in same}
