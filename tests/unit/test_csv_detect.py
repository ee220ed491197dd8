"""detect_format: which reader a received file goes to, from its content."""

import json
from pathlib import Path

import pytest

from corridor.ingest.detect import detect_format

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "csv"


def shared_files(folder: str, pattern: str):
    path = SHARED / folder
    if not path.is_dir():
        pytest.skip(f"shared samples not found at {path}")
    return sorted(path.glob(pattern))


def test_edifact_samples():
    files = shared_files("samples/edifact", "*.edi")
    assert files and {f.name: detect_format(f.read_bytes()) for f in files} == {f.name: "edifact" for f in files}


def test_dcsa_examples():
    files = shared_files("standards/dcsa-tnt/examples", "*.json")
    # the wrong-structure file too: an array of objects goes to the DCSA reader, which says why
    assert {detect_format(f.read_bytes()) for f in files} == {"dcsa-json"}


@pytest.mark.parametrize("name", ["corridor_default.csv", "railway_wagon_report_ru.csv", "terminal_gate_log.tsv"])
def test_csv_fixtures(name):
    assert detect_format((FIXTURES / name).read_bytes()) == "csv"


def test_positions_and_odd_inputs():
    fix = {"time": "2025-03-11T02:00:00+04:00", "lat": 41.2, "lon": 50.1, "device": "d"}
    assert detect_format(json.dumps(fix).encode()) == "position-json"
    assert detect_format(json.dumps([fix, fix]).encode()) == "position-json"
    assert detect_format(b"[]") == "dcsa-json"
    assert detect_format(b"\xef\xbb\xbf  UNB+UNOC:3+A+B+250101:1200+1'") == "edifact"
    assert detect_format(b"") == "unknown"
    assert detect_format(b"{not json") == "unknown"
    assert detect_format(b'{"hello": 1}') == "unknown"
    assert detect_format(b'[1, 2]') == "unknown"
    assert detect_format(b"just some words\n") == "unknown"
    assert detect_format(b"a;b;c\n1;2;3\n") == "csv"   # unknown header: the CSV reader says why
    assert detect_format(b"note\nline two\n", filename="x.csv") == "csv"
    assert detect_format(b"\x00\x01\x02\xff") == "unknown"


def test_dcsa_json_in_utf16_and_beta_1_events_are_taken_for_dcsa():
    # a Windows "Unicode" save, and a 3.0.0-Beta-1 event: the DCSA reader says what it makes of
    # them (read with a warning; refused by name) instead of the CLI calling them unknown
    page = '[{"eventType": "TRANSPORT", "eventClassifierCode": "ACT"}]'
    assert detect_format(page.encode("utf-16")) == "dcsa-json"
    assert detect_format(page.encode("utf-32")) == "dcsa-json"
    assert detect_format(b'{"metadata": {"eventType": "EQUIPMENT"}, "payload": {}}') == "dcsa-json"
    assert detect_format(b'{"feedbackElements": []}') == "dcsa-json"
    assert detect_format(b'{"something": "else"}') == "unknown"
