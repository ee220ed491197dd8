"""The twin's port queues against its waiting times (Little's law), and how the report words short runs."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from corridor.twin.report import calibration, markdown, report_data
from corridor.twin.run import simulate
from corridor.twin.scenario import SCENARIOS, load_scenario

SCENARIO_FILES = {"default": None, "more-feeders": SCENARIOS / "more-feeders.yaml"}


def _run(name: str, days: float, seed: int = 1):
    path = SCENARIO_FILES[name]
    return simulate(None, load_scenario(path) if path else load_scenario(), days=days, seed=seed)


@pytest.mark.parametrize("name,days,seed", [("default", 20, 1), ("more-feeders", 20, 1), ("default", 60, 3)])
def test_the_queue_at_a_ferry_port_obeys_littles_law(name, days, seed):
    """Over the run, TEU-hours queued = TEU-hours waited: the time-weighted queue times the run's
    hours equals the waits of the boxes that sailed plus the time so far of those still waiting."""
    r = _run(name, days, seed)
    st, hours = r.twin.stats, days * 24
    ports = report_data(st, r.twin.t0)["ports"]
    waited = 0
    for port, v in ports.items():
        w, still, q = v["wait_hours"], v["still_waiting"], v["queue_boxes"]
        assert q["hours"] == hours
        boxes_hours = w["n"] * (w.get("mean") or 0) + still["boxes"] * (still["hours_so_far_mean"] or 0)
        assert q["mean"] * hours == pytest.approx(boxes_hours, rel=0.01, abs=1), port
        teu_hours = st.port_wait_teu_hours[port] + sum((hours - h) * t for h, t in st.queue[port].since.values())
        assert v["queue_teu"]["mean"] * hours == pytest.approx(teu_hours, rel=0.01, abs=1), port
        # the boxes waiting now are the queue's last level
        _h, teu_now, boxes_now = st.queue[port].steps[-1]
        assert (still["boxes"], still["teu"]) == (boxes_now, teu_now)
        waited += w["n"]
        if w["n"]:
            assert v["queue_teu"]["max"] > 0 and v["queue_teu"]["mean"] > 0
    assert waited > 100


def test_a_long_seeded_run_meets_littles_law_on_the_boxes_that_sailed():
    """At the end of this seeded run few boxes are still waiting: the mean queue is the arrival
    rate times the mean wait of the boxes that sailed, within 5 %."""
    r = _run("default", 120, 1)
    hours = 120 * 24
    for port, v in report_data(r.twin.stats, r.twin.t0)["ports"].items():
        w = v["wait_hours"]
        assert v["still_waiting"]["boxes"] < 0.02 * w["n"], port
        assert v["queue_boxes"]["mean"] == pytest.approx(w["n"] / hours * w["mean"], rel=0.05), port


def test_time_weighted_figures_of_a_step_function():
    from corridor.twin.report import _timed
    # 0 TEU for 10 h, 30 TEU for 5 h, 10 TEU for the last 5 h (the run ends at hour 20)
    steps = [(0.0, 0, 0), (10.0, 30, 15), (15.0, 10, 5)]
    q = _timed(steps, 20.0, 0)
    assert q == {"hours": 20.0, "mean": 10.0, "p10": 0, "p50": 0, "p90": 30, "max": 30}
    assert _timed(steps, 20.0, 1)["mean"] == 5.0
    assert _timed([(0.0, 0, 0)], 0.0, 0) == {"hours": 0}


def test_a_short_run_says_not_enough_data_instead_of_outside():
    r = _run("default", 3)
    rows = {c["key"]: c for c in calibration(r.twin.stats)}
    x = rows["xian_baku_days"]
    assert x["model"] is None and x["inside"] is None and x["note"].startswith("not enough data")
    md = markdown({"summary": r.summary(), **report_data(r.twin.stats, r.twin.t0)})
    assert "not enough data" in md and "| NO |" not in md


def test_storm_closures_are_given_to_the_minute():
    data = report_data(_run("default", 20).twin.stats, datetime(2025, 1, 1, tzinfo=timezone.utc))
    assert data["storm_closures"]
    for c in data["storm_closures"]:
        for t in (c["from"], c["to"]):
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:00\+00:00", t), t
