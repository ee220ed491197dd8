"""Scenario files are checked before the twin runs (review of the twin): unknown keys, types, ranges,
places against the network, list lengths; every problem at once, with the file, line and key; and
share maps given in a scenario replace the default's instead of merging into it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from corridor.cli import app
from corridor.twin.run import simulate
from corridor.twin.scenario import SCENARIOS, ScenarioError, load_scenario

runner = CliRunner()


def _file(tmp_path: Path, text: str, name: str = "what-if.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def _run(*args: str):
    r = runner.invoke(app, ["simulate", "--no-ingest", *args])
    return r, (json.loads(r.stdout) if r.stdout.strip().startswith("{") else None)


# (scenario text, the key the problem names, words of the reason) — each one either ran silently or
# crashed with a traceback before
BAD = [
    ("origns:\n  CN_XIA: {trains_per_month: 30}\n", "origns", "did you mean 'origins'"),
    ("origins:\n  CN_XIA: {trains_per_month: -5}\n", "origins.CN_XIA.trains_per_month", "out of range"),
    ("sail_fill: 1.7\n", "sail_fill", "at most 1"),
    ("storm_scale: -1\n", "storm_scale", "at least 0"),
    ("fleet: []\n", "fleet", "at least one vessel"),
    ("destinations: {ZZ_NOWHERE: 1.0}\n", "destinations.ZZ_NOWHERE", "not in the network"),
    ("fleet:\n  - {port: KZ_XXX, operator: ASCO, kind: ferry, count: 2, capacity_teu: 54}\n",
     "fleet[0].port", "KZ_AKX or KZ_KUR"),
    ("crossing_hours: [30, 18, 16]\n", "crossing_hours", "not in order"),
    ("border_hours: [4]\n", "border_hours", "list of 3 numbers"),
    ("akhalkalaki_hours: [16, 5, 2]\n", "akhalkalaki_hours", "not in order"),   # the model's random draw failed
    ('start: "2025-13-01"\n', "start", "not a date"),
    ("start: 2025-13-01\n", "start", "not a date"),           # unquoted: the YAML reader itself failed
    ('origins:\n  CN_XIA: {trains_per_month: "many"}\n', "origins.CN_XIA.trains_per_month", "must be a number"),
    ("alat_berths: 0\n", "alat_berths", "at least 1"),
    ("onward_capacity_feu: 0\n", "onward_capacity_feu", "at least 1"),   # the onward loop never ended
    ("origins:\n  CN_CQI: {border: KZ_ALT}\n", "origins.CN_CQI.border", "no rail link from CN_CQI"),
]


@pytest.mark.parametrize("text,key,reason", BAD, ids=[b[1] + ":" + b[0].split(":")[0] for b in BAD])
def test_a_bad_scenario_is_exit_4_naming_the_file_the_key_and_the_reason(tmp_path, text, key, reason):
    f = _file(tmp_path, text)
    r, doc = _run(str(f), "--days", "5", "--json")
    assert r.exit_code == 4, r.output
    err = doc["error"]
    assert err["code"] == "invalid" and err["exit_status"] == 4
    assert str(f) in err["message"] and err["files"] == [str(f)]
    hit = [p for p in err["problems"] if f"[{key}]" in p]
    assert hit and reason in hit[0] and hit[0].startswith(f"{f}:")
    assert "Traceback" not in r.output


def test_every_problem_of_a_file_is_said_at_once_with_its_line(tmp_path):
    f = _file(tmp_path, "name: bad\n"                                   # 1
                        "origns: {CN_XIA: {trains_per_month: 30}}\n"    # 2
                        "sail_fill: 1.7\n"                              # 3
                        "crossing_hours: [30, 18, 16]\n"                # 4
                        "border_hours: [4]\n"                           # 5
                        "alat_berths: 0\n")                             # 6
    with pytest.raises(ScenarioError) as e:
        load_scenario(f)
    got = {(p.line, p.key) for p in e.value.problems}
    assert got == {(2, "origns"), (3, "sail_fill"), (4, "crossing_hours"), (5, "border_hours"), (6, "alat_berths")}
    assert str(e.value).startswith(f"{f}: invalid scenario (5 problems)")


def test_compare_checks_both_files_and_names_the_bad_one(tmp_path):
    good = _file(tmp_path, "name: more\norigins:\n  CN_XIA: {trains_per_month: 30}\n", "good.yaml")
    bad = _file(tmp_path, "kuryk_share: 2\n", "bad.yaml")
    r, doc = _run("--compare", str(good), str(bad), "--days", "5", "--json")
    assert r.exit_code == 4
    assert doc["error"]["files"] == [str(bad)]
    assert any(p.startswith(f"{bad}:1 [kuryk_share]") for p in doc["error"]["problems"])
    worse = _file(tmp_path, "fleet: []\n", "worse.yaml")
    r, doc = _run("--compare", str(worse), str(bad), "--days", "5", "--json")
    assert r.exit_code == 4 and doc["error"]["files"] == [str(worse), str(bad)]


def test_keyword_overrides_are_checked_too():
    with pytest.raises(ScenarioError) as e:
        load_scenario(alat_berths=0, wagons_per_train=[9, 6])
    assert {p.key for p in e.value.problems} == {"alat_berths", "wagons_per_train"}


def test_a_missing_file_is_not_found_and_a_packaged_name_runs(tmp_path):
    r, doc = _run(str(tmp_path / "nope.yaml"), "--days", "1", "--json")
    assert r.exit_code == 3 and doc["error"]["code"] == "not_found"
    r, doc = _run("xian-10-more", "--days", "1", "--json")
    assert r.exit_code == 0 and doc["scenario"] == "xian-plus-10"


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.name)
def test_the_packaged_scenarios_are_valid(path):
    assert load_scenario(path).name


# ---- share maps replace the default's ---------------------------------------------------------------
def test_destinations_in_a_scenario_replace_the_default_shares(tmp_path):
    sc = load_scenario(_file(tmp_path, "destinations: {GE_PTI: 1.0}\n"))
    assert sc["destinations"] == {"GE_PTI": 1.0}
    r = simulate(None, sc, days=30, seed=1)
    delivered = {d for (_o, d), v in r.twin.stats.transit_days.items() if v}
    assert delivered == {"GE_PTI"}            # no box to Absheron, Batumi or Kars any more


def test_destination_shares_must_add_up_to_one(tmp_path):
    with pytest.raises(ScenarioError) as e:
        load_scenario(_file(tmp_path, "destinations: {GE_PTI: 0.5, AZ_ABS: 0.2}\n"))
    assert [p.key for p in e.value.problems] == ["destinations"] and "0.7" in e.value.problems[0].reason


def test_a_storm_share_map_replaces_the_default_and_must_give_every_month(tmp_path):
    with pytest.raises(ScenarioError) as e:
        load_scenario(_file(tmp_path, "storm_share: {11: 0.5, 12: 0.6}\n"))
    (p,) = e.value.problems
    assert p.key == "storm_share" and "months 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 missing" in p.reason
    calm = {m: 0.0 for m in range(1, 13)} | {7: 0.3}
    sc = load_scenario(_file(tmp_path, "storm_share: {" + ", ".join(f"{m}: {s}" for m, s in calm.items()) + "}\n"))
    assert sc["storm_share"] == calm
    with pytest.raises(ScenarioError) as e:
        load_scenario(_file(tmp_path, "storm_share: {" + ", ".join(f"{m}: 1.5" for m in range(1, 14)) + "}\n"))
    keys = {p.key for p in e.value.problems}
    assert "storm_share.13" in keys and "storm_share.1" in keys


def test_origins_still_merge_key_by_key(tmp_path):
    sc = load_scenario(_file(tmp_path, "origins:\n  CN_XIA: {trains_per_month: 34}\n"))
    assert sc["origins"]["CN_XIA"] == {"trains_per_month": 34, "border": "KZ_ALT"}
    assert set(sc["origins"]) == {"CN_XIA", "CN_CQI", "CN_URM", "CN_LYG"}
