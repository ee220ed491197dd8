"""`simulate --compare` shows the backlog beside the waits and never ranks a scenario better when
more of its boxes are still waiting; the report's SVG plots have ticked, labelled axes."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest
from typer.testing import CliRunner

from corridor.cli import app
from corridor.twin.report import (_verdict, bar_chart, compare, compare_markdown, line_chart, month_label, ticks,
                                  write_report)
from corridor.twin.run import simulate
from corridor.twin.scenario import load_scenario

NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def heavier():
    """30 days of the default beside ten more Xi'an trains a month: the heavier run fills its
    Aktau ships sooner, while boxes pile up at Kuryk (two ferries of 54 TEU)."""
    return (simulate(None, load_scenario(), days=30, seed=1),
            simulate(None, load_scenario("xian-10-more"), days=30, seed=1))


def _row(doc, figure):
    return next(r for r in doc["rows"] if r["figure"] == figure)


def test_compare_puts_the_still_waiting_boxes_and_their_wait_so_far_beside_the_waits(heavier):
    base, more = heavier
    doc = compare(base, more)
    for r, name in ((base, "default"), (more, "xian-plus-10")):
        st = r.twin.stats
        for port in ("KZ_AKX", "KZ_KUR"):
            still = st.queue[port].since
            assert _row(doc, f"{port} still waiting at the end, boxes")[name] == len(still)
            assert _row(doc, f"{port} still waiting at the end, TEU")[name] == sum(t for _h, t in still.values())
            ports = doc["ports"][port][name]
            # every box that reached the port: sailed, or still waiting with its wait so far
            assert ports["all_boxes"]["n"] == len(st.port_wait[port]) + len(still)
            if still:
                so_far = [st.clock() - h for h, _t in still.values()]
                assert _row(doc, f"{port} still waiting, h so far max")[name] == round(max(so_far), 2)
    # the case the review found: Kuryk's backlog is far larger in the heavier scenario
    assert _row(doc, "KZ_KUR still waiting at the end, boxes")["xian-plus-10"] > \
        3 * _row(doc, "KZ_KUR still waiting at the end, boxes")["default"]


def test_a_scenario_with_a_larger_backlog_is_never_called_better(heavier):
    base, more = heavier
    for a, b in ((base, more), (more, base)):
        doc = compare(a, b)
        for v in doc["verdicts"]:
            if v["better"] is None:
                continue
            other = next(n for n in doc["scenarios"] if n != v["better"])
            still = _row(doc, f"{v['port']} still waiting at the end, boxes")
            assert still[v["better"]] <= still[other], v
        kur = next(v for v in doc["verdicts"] if v["port"] == "KZ_KUR")
        assert kur["better"] != "xian-plus-10"
        # shorter waits of the boxes that sailed with a larger backlog: said, not ranked
        akx = next(v for v in doc["verdicts"] if v["port"] == "KZ_AKX")
        sailed = _row(doc, "KZ_AKX wait h p90, boxes that sailed")
        still = _row(doc, "KZ_AKX still waiting at the end, boxes")
        quick = min(doc["scenarios"], key=lambda n: sailed[n])
        slow = next(n for n in doc["scenarios"] if n != quick)
        if still[quick] > still[slow]:
            assert akx["better"] != quick and "backlog" in akx["text"]
        text = compare_markdown(doc)
        assert "| KZ_KUR still waiting at the end, boxes |" in text and kur["text"] in text


def _side(sailed_p90, still, all_p90):
    return {"sailed": {"n": 10, "p90": sailed_p90}, "still_waiting": {"boxes": still},
            "all_boxes": {"n": 10 + still, "p90": all_p90}}


def test_the_verdict_weighs_the_backlog_before_the_waits_of_the_boxes_that_sailed():
    # B's sailed boxes waited less, but 416 are still on the quay: no ranking, and it says why
    v = _verdict("KZ_KUR", "A", "B", _side(106.7, 12, 106.7), _side(90.0, 416, 80.0))
    assert v["better"] is None and "416 against 12" in v["text"] and "backlog" in v["text"]
    # fewer still waiting and shorter waits over all boxes: better
    v = _verdict("KZ_KUR", "A", "B", _side(106.7, 12, 106.7), _side(188.4, 416, 188.4))
    assert v["better"] == "A"
    # the same backlog and the same waits: neither
    assert _verdict("KZ_AKX", "A", "B", _side(50, 3, 50), _side(50, 3, 50))["better"] is None


def test_compare_on_the_command_line_prints_the_backlog_and_the_verdicts(tmp_path):
    r = CliRunner().invoke(app, ["simulate", "--compare", "default", "xian-10-more", "--days", "30", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert {v["port"] for v in doc["verdicts"]} == {"KZ_AKX", "KZ_KUR"}
    r = CliRunner().invoke(app, ["simulate", "--compare", "default", "xian-10-more", "--days", "30"])
    assert r.exit_code == 0 and "still waiting at the end" in r.stdout and "KZ_KUR: default does better" in r.stdout


# ---- plots ---------------------------------------------------------------------------------------
def _texts(svg: str) -> list[tuple[float, float, str]]:
    root = ET.fromstring(svg)               # well-formed XML, plain SVG
    return [(float(t.get("x")), float(t.get("y")), (t.text or "").strip()) for t in root.iter(f"{NS}text")]


def _numbers(texts, *, left_of=None, below=None):
    out = []
    for x, y, s in texts:
        if re.fullmatch(r"[\d,]+(\.\d+)?", s) and (left_of is None or x < left_of) and (below is None or y > below):
            out.append(float(s.replace(",", "")))
    return out


def test_round_ticks():
    assert ticks(5766) == [0, 2000, 4000, 6000]
    assert ticks(1325) == [0, 500, 1000, 1500]
    assert ticks(1100) == [0, 250, 500, 750, 1000, 1250]
    assert ticks(0.9) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert ticks(0) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert month_label("2026-11") == "Nov 2026" and month_label("2025-01") == "Jan 2025"


def test_a_bar_chart_has_a_ticked_y_axis_with_its_unit():
    svg = bar_chart(["Jan 2025", "Feb 2025"], [1, 3], "t", "TEU", "month")
    texts = _texts(svg)
    ys = _numbers(texts, left_of=64)
    assert ys[0] == 0 and max(ys) >= 3 and len(ys) >= 4          # 0, 1, 2, 3 (not just "3 TEU")
    assert {"TEU", "month", "Jan 2025", "Feb 2025"} <= {s for _x, _y, s in texts}
    assert svg.count("<rect") == 3


def test_a_line_chart_has_ticks_and_values_on_both_axes():
    svg = line_chart({"KZ_AKX": [(0, 0), (10, 300), (29.5, 1325)]}, "queue", "days since 1 Jan 2025", "TEU")
    texts = _texts(svg)
    ys = _numbers(texts, left_of=64)
    xs = _numbers(texts, below=250)
    assert ys == [0, 500, 1000, 1500]
    assert xs[0] == 0 and max(xs) >= 29.5 and len(xs) >= 4
    assert {"TEU", "days since 1 Jan 2025"} <= {s for _x, _y, s in texts}


def test_the_report_plots_label_months_like_nov_2026(tmp_path):
    r = simulate(None, load_scenario(start="2025-01-31"), days=30, seed=1)
    write_report(r, tmp_path)
    monthly = (tmp_path / "monthly_teu.svg").read_text()
    labels = {s for _x, _y, s in _texts(monthly)}
    assert {"Feb 2025", "Mar 2025"} <= labels and not any(re.fullmatch(r"\d\d-\d\d", s) for s in labels)
    queue = _texts((tmp_path / "queue_teu.svg").read_text())
    assert {"Feb 2025", "Mar 2025", "date (UTC)", "TEU"} <= {s for _x, _y, s in queue}
    assert len(_numbers(queue, left_of=64)) >= 3
    transit = {s for _x, _y, s in _texts((tmp_path / "transit_days.svg").read_text())}
    assert "boxes" in transit and any(s.startswith("days") for s in transit)
