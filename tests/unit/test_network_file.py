"""The default network file loads, keeps the draft's calibration, and bad files fail at file:line [field]."""

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from corridor.domain.errors import NetworkFileError
from corridor.domain.network import FacilityType, Mode
from corridor.network_file import (default_path, emission_factors, load_network, network_info, pricing,
                                   reference_routes, typical_days, validate_network_file)

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
DRAFT = SHARED / "reference" / "network-draft.yaml"
EU = {"RO", "BG", "GR", "HU", "DE", "NL", "PL"}


@pytest.fixture(scope="module")
def net():
    return load_network()


def test_default_network_has_the_corridor_countries(net):
    assert len(net.locations) >= 30
    countries = {loc.country for loc in net.locations.values()}
    assert {"CN", "KZ", "TM", "AZ", "GE", "TR"} <= countries
    assert len(countries & EU) >= 4


def test_every_link_joins_known_locations_both_ways(net):
    ids = {link.id for link in net.links}
    for link in net.links:
        assert link.origin in net.locations and link.destination in net.locations, link.id
    assert {"L15", "L15R", "L51"} <= ids and "L51R" not in ids   # L51 is westbound-only
    l15, l15r = next(x for x in net.links if x.id == "L15"), next(x for x in net.links if x.id == "L15R")
    assert (l15r.origin, l15r.destination) == (l15.destination, l15.origin)


def test_reverse_gauge_change_is_crossed_the_other_way(net):
    by_id = {link.id: link for link in net.links}
    assert by_id["L07"].transfer == "gauge_change_1435_1520"
    assert by_id["L07R"].transfer == "gauge_change_1520_1435"


def test_time_zones_are_valid_and_kazakhstan_is_utc_plus_5(net):
    for loc in net.locations.values():
        ZoneInfo(loc.timezone)
    summer, winter = datetime(2026, 7, 1, 12), datetime(2026, 1, 15, 12)
    assert datetime(2026, 7, 1, 12, tzinfo=ZoneInfo("Asia/Almaty")).isoformat().endswith("+05:00")
    for loc in net.locations.values():
        if loc.country == "KZ":
            assert loc.timezone in ("Asia/Almaty", "Asia/Aqtau")
            assert summer.replace(tzinfo=loc.tz).utcoffset() == timedelta(hours=5)
            assert winter.replace(tzinfo=loc.tz).utcoffset() == timedelta(hours=5)
        if loc.country == "CN":
            assert loc.timezone == "Asia/Shanghai"


def test_facility_types_and_aliases_resolve(net):
    assert net.location("EG_SUEZ").facility_type is FacilityType.WAYP
    assert net.location("KZ_DOS").facility_type is FacilityType.BOCR
    assert net.location("RO_CND").facility_type is FacilityType.POTE
    for text, loc_id in [("Alyat", "AZ_ALA"), ("Port of Baku", "AZ_ALA"), ("Baku International Sea Trade Port", "AZ_ALA"),
                         ("708507", "KZ_DOS"), ("Absheron station", "AZ_ABS"), ("Türkmenbaşy", "TM_TMB"),
                         ("Turkmenbashi", "TM_TMB"), ("Constanta", "RO_CND"), ("Constanța", "RO_CND"),
                         ("Khorgos Gateway", "KZ_ALT"), ("KZAAU", "KZ_AKX")]:
        assert net.resolve(text).id == loc_id, text


def test_planned_links_are_loaded_but_flagged(net):
    info = network_info()
    assert "L40" in info.planned_links and "GE_ANA" in info.planned_locations
    assert any(x.id == "L40" and x.status == "planned" for x in net.links)
    assert all(x.status == "operational" for x in net.directed_links())
    assert info.directed_links == len(net.links)


def test_suez_links_are_restricted(net):
    by_id = {link.id: link for link in net.links}
    assert by_id["L53"].suez_restricted and not by_id["L58"].suez_restricted


def test_every_mode_has_an_emission_factor_sourced_or_labelled():
    by_mode = emission_factors()["by_mode"]
    for mode in Mode:
        f = by_mode[mode.value]
        assert f["value_wtw"] > 0 and f["unit"] in ("kgCO2e/t-km", "kgCO2e/TEU-km")
        if f["estimated"]:
            assert "ESTIMATE" in f["basis"]


def _price(net, ids):
    by_id = {link.id: link for link in net.links}
    return sum(by_id[i].price_usd_per_feu for i in ids)


def test_prices_are_calibrated_to_the_benchmarks(net):
    block = pricing()
    erai = block["rail_benchmarks_usd_per_feu"][0]["value"]
    middle = next(e["value"] for e in block["estimates"] if e["key"] == "middle_corridor_rail_section_usd_per_feu")
    suez = next(b["value"] for b in block["sea_benchmarks_usd_per_feu"] if b["lane"] == "Shanghai-Rotterdam")
    assert _price(net, ["L08", "L49"]) == pytest.approx(erai, rel=0.01)
    assert _price(net, ["L07", "L09", "L15", "L20", "L21", "L22", "L23"]) == pytest.approx(middle, rel=0.01)
    assert _price(net, ["L53", "L55"]) == pytest.approx(suez, rel=0.01)
    assert _price(net, ["L58", "L59"]) > _price(net, ["L53", "L55"])   # Cape dearer in the Red Sea period
    assert all(x.price_usd_per_feu is not None and "price_usd_per_feu" in x.estimated for x in net.links)


def test_reference_routes_reproduce_their_model_days(net):
    routes = reference_routes()
    assert len(routes) >= 10
    for route in routes:
        assert typical_days(net, route.links) == pytest.approx(route.model_days, abs=0.2), route.id
        for fig in route.reported:
            if fig.on_graph and fig.model_days is not None:
                sub = route.sub_path(fig.counted_from, fig.counted_to)
                assert typical_days(net, sub) == pytest.approx(fig.model_days, abs=0.2), (route.id, fig)


@pytest.mark.skipif(not DRAFT.exists(), reason=f"shared draft not found at {DRAFT}")
def test_calibration_matches_the_shared_draft(net):
    draft = yaml.safe_load(DRAFT.read_text(encoding="utf-8"))
    for route in draft["routes"]:
        assert typical_days(net, route["links"]) == pytest.approx(route["draft_model_days"], abs=0.2), route["id"]


# ------------------------------------------------------------------ bad files

BASE = default_path().read_text(encoding="utf-8")


def _mutate(record: str, old: str, new: str | None, text: str = BASE, at_record: bool = False) -> tuple[str, int]:
    """The file with `old` replaced inside one record, and the line the error should name.

    A removed field (new=None) or a problem of the record as a whole is named at the record's first line.
    """
    start = text.index(f"  - id: {record}\n")
    end = text.find("\n  - id: ", start + 1)
    pos = text.index(old, start, end)
    line = text.count("\n", 0, start if new is None or at_record else pos) + 1
    return text[:pos] + (new or "") + text[pos + len(old):], line


CASES = [
    ("missing required field", "KZ_KUR", "    tz: Asia/Aqtau\n", None, "tz"),
    ("unknown node", "L15", "    to: AZ_ALA\n", "    to: AZ_XXX\n", "to"),
    ("unknown mode", "L15", "    mode: feeder\n", "    mode: hovercraft\n", "mode"),
    ("bad time zone", "KZ_KUR", "    tz: Asia/Aqtau\n", "    tz: Asia/Atlantis\n", "tz"),
    ("latitude out of range", "KZ_KUR", "    lat: 43.17\n", "    lat: 143.17\n", "lat"),
    ("longitude out of range", "KZ_KUR", "    lon: 51.65\n", "    lon: 251.65\n", "lon"),
    ("negative distance", "L15", "    distance_km: 470\n", "    distance_km: -470\n", "distance_km"),
    ("negative time", "L15", "    typical_hours: 18\n", "    typical_hours: -18\n", "typical_hours"),
    ("duplicate link id", "L16", "  - id: L16\n", "  - id: L15\n", "id"),
    ("duplicate node id", "KZ_KUR", "  - id: KZ_KUR\n", "  - id: KZ_AKX\n", "id"),
    ("bad gauge", "KZ_KUR", "    gauge: [1520]\n", "    gauge: [1453]\n", "gauge"),
    ("gauge change the wrong way", "L07", "    transfer: gauge_change_1435_1520\n",
     "    transfer: gauge_change_1520_1435\n", "transfer"),
    ("unknown transfer", "L07", "    transfer: gauge_change_1435_1520\n", "    transfer: teleport\n", "transfer"),
    ("ferry capacity arithmetic", "L16", "    capacity_teu: 23\n", "    capacity_teu: 40\n", "capacity_teu"),
    ("estimated names a missing field", "L15", "    estimated: [distance_km,", "    estimated: [speed_kn,", "estimated"),
]


def test_rail_link_without_a_common_gauge_needs_a_transfer(tmp_path):
    text, line = _mutate("L01", "    to: CN_HRS\n", "    to: KZ_AKX\n", at_record=True)   # 1435 mm -> 1520 mm
    path = tmp_path / "gauge.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(NetworkFileError) as exc:
        load_network(path)
    assert (exc.value.line, exc.value.field) == (line, "transfer") and "share no gauge" in exc.value.reason


@pytest.mark.parametrize("what,record,old,new,field", CASES, ids=[c[0] for c in CASES])
def test_bad_file_names_file_line_and_field(tmp_path, what, record, old, new, field):
    text, line = _mutate(record, old, new)
    path = tmp_path / "network.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(NetworkFileError) as exc:
        load_network(path)
    err = exc.value
    assert (err.path, err.line, err.field) == (str(path), line, field), str(err)
    assert f"{path}:{line} [{field}]" in str(err)
    problems = validate_network_file(path)
    assert problems and (problems[0].line, problems[0].field) == (line, field)


def test_all_problems_are_listed_and_nothing_is_half_loaded(tmp_path):
    text, _ = _mutate("L15", "    mode: feeder\n", "    mode: hovercraft\n")
    text, _ = _mutate("KZ_KUR", "    lat: 43.17\n", "    lat: 143.17\n", text)
    path = tmp_path / "two.yaml"
    path.write_text(text, encoding="utf-8")
    assert {p.field for p in validate_network_file(path)} == {"mode", "lat"}
    with pytest.raises(NetworkFileError, match="1 more problem"):
        load_network(path)
    assert len(load_network().locations) >= 30   # the default still loads; no state was left behind


def test_invalid_yaml_and_missing_file_name_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("nodes:\n  - id: X\n    name: [unclosed\n", encoding="utf-8")
    with pytest.raises(NetworkFileError) as exc:
        load_network(path)
    assert exc.value.path == str(path) and exc.value.line is not None
    with pytest.raises(NetworkFileError, match="cannot read"):
        load_network(tmp_path / "absent.yaml")


def test_duplicate_keys_are_not_silently_dropped(tmp_path):
    text, line = _mutate("L15", "    typical_hours: 18\n", "    typical_hours: 18\n    typical_hours: 20\n")
    path = tmp_path / "dup.yaml"
    path.write_text(text, encoding="utf-8")
    problems = validate_network_file(path)
    assert [(p.line, p.field) for p in problems] == [(line + 1, "typical_hours")]
