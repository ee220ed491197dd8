"""KPI building blocks on hand-made trips: percentiles, legs, dwell, growth, health, exports, SVG."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import pytest

from corridor.analytics import export, plots
from corridor.analytics.facts import Move, TripFacts, train_runs
from corridor.analytics.iftsta_out import dtm
from corridor.analytics.kpi import dwell_hours, legs, visits
from corridor.analytics.quality import _completeness, health
from corridor.analytics.stats import growth_pct, month_key, percentile, year_before

T0 = datetime(2025, 5, 1, tzinfo=timezone.utc)


def mv(code, hours, where, voyage="V1", kind=None):
    kind = kind or ("TRANSPORT" if code in ("ARRI", "DEPA") else "EQUIPMENT")
    return Move(T0 + timedelta(hours=hours), kind, code, where, "RAIL", voyage, None, "P")


def test_percentiles_interpolate_like_numpy():
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([1, 2, 3, 4], 90) == pytest.approx(3.7)
    assert percentile([5], 90) == 5 and percentile([], 50) is None


def test_growth_and_months():
    assert growth_pct(319.1, 100) == 219.1 and growth_pct(5, 0) is None
    assert month_key(datetime(2025, 1, 1, 3, tzinfo=timezone(timedelta(hours=8)))) == "2024-12"
    assert year_before("2025-03") == "2024-03"


def test_legs_take_the_last_departure_before_an_arrival():
    t = TripFacts("t", "B", 2, None, [mv("LOAD", 0, "A"), mv("DEPA", 1, "A"), mv("DEPA", 3, "A"),
                                      mv("ARRI", 10, "B"), mv("DEPA", 14, "B"), mv("ARRI", 20, "C")])
    assert [(a, b, (t1 - t0).total_seconds() / 3600) for a, b, t0, t1, *_ in legs(t)] == [
        ("A", "B", 7.0), ("B", "C", 6.0)]


def test_legs_fall_back_to_load_and_discharge():
    t = TripFacts("t", "B", 2, None, [mv("LOAD", 0, "A"), mv("DISC", 30, "B")])
    assert [(a, b) for a, b, *_ in legs(t)] == [("A", "B")]


def test_dwell_is_arrival_to_next_departure_within_a_stay():
    t = TripFacts("t", "B", 2, None, [mv("DEPA", 0, "A"), mv("ARRI", 5, "X"), mv("DISC", 6, "X"),
                                      mv("LOAD", 20, "X"), mv("DEPA", 29, "X"), mv("ARRI", 40, "Y")])
    (_, a), (_, x), (_, y) = visits(t)
    assert dwell_hours(x) == 24.0
    assert dwell_hours(a) is None and dwell_hours(y) is None


def test_train_numbers_reused_after_a_gap_are_new_runs():
    rows = [("T1", T0), ("T1", T0 + timedelta(days=2)), ("T1", T0 + timedelta(days=30)), ("T2", T0)]
    assert [r[0] for r in train_runs(rows)] == ["T1", "T2", "T1"]


def test_completeness_counts_halves_once_due():
    rows = [("t", "P", "LOAD", T0, "A", "V"), ("t", "Q", "ARRI", T0 + timedelta(hours=5), "B", "V"),
            ("t", "P", "GTIN", T0 + timedelta(hours=6), "B", None), ("t", "P", "GTOT", T0 + timedelta(hours=7), "B", None)]
    # P: LOAD on V due (box seen at B later) -> 1/2; GTIN+GTOT at B complete -> 2/2. Q's ARRI is not due.
    assert _completeness(rows) == {"P": (3, 4)}


def test_health_weights():
    assert health(1, 1, 0, 0) == 100.0
    assert health(0.5, None, 0.2, 0.1) == pytest.approx(20 + 30 + 12 + 13.5)


DOC = {"period": {"from": "2025-01-01T00:00:00+00:00", "to": "2025-02-01T00:00:00+00:00", "trips": 1},
       "volumes": {"total": {"teu": 2, "containers": 1}, "tonnes_per_teu": 10.0,
                   "by_month": [{"month": "2025-01", "teu": 2, "containers": 1, "trains": 1, "tonnes": 20.0,
                                 "teu_growth_pct": None, "teu_year_before": None}],
                   "by_od": [{"origin": "CNXIA", "destination": "AZ_ABS", "teu": 2}], "by_port": [],
                   "by_direction": []},
       "dwell": {"by_location": [{"location": "KZAAU", "kinds": ["ferry_port"],
                                  "hours": {"n": 1, "p50": 30.0, "p90": 30.0, "mean": 30.0}}], "by_kind": {}}}


def test_csv_has_one_table_column_and_every_row():
    rows = list(csv.DictReader(io.StringIO(export.to_csv(DOC))))
    assert {r["table"] for r in rows} == {"period", "volumes_total", "volumes_by_month", "volumes_by_od", "dwell"}
    assert next(r for r in rows if r["table"] == "period")["period_from"] == "2025-01-01T00:00:00+00:00"
    d = next(r for r in rows if r["table"] == "dwell")
    assert d["hours_p50"] == "30.0" and d["kinds"] == "ferry_port"
    assert json.loads(export.to_json(DOC)) == DOC


def test_parquet_names_the_package_when_missing_or_writes(tmp_path):
    try:
        import pyarrow.parquet as pq
    except ImportError:
        with pytest.raises(export.ExportUnavailable, match="pip install pyarrow"):
            export.write(DOC, "parquet", tmp_path / "k.parquet")
        return
    export.write(DOC, "parquet", tmp_path / "k.parquet")
    t = pq.read_table(tmp_path / "k.parquet").to_pylist()
    assert len(t) == 5 and {r["table"] for r in t} >= {"dwell", "period"}


def test_svg_charts_are_well_formed():
    svg = plots.chart("volumes", DOC)
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    assert sum(1 for e in root.iter() if e.tag.endswith("rect")) >= 1
    assert ET.fromstring(plots.chart("dwell", DOC)) is not None
    with pytest.raises(KeyError):
        plots.chart("nope", DOC)


def test_dtm_keeps_the_offset():
    assert dtm(datetime(2025, 3, 1, 10, 0, 5, tzinfo=timezone(timedelta(hours=5, minutes=30)))) == "20250301100005+0530"
    assert dtm(datetime(2025, 3, 1, tzinfo=timezone(-timedelta(hours=3)))) == "20250301000000-0300"
