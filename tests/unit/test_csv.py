"""CSV events: the default header, mapping profiles, delimiters, BOM, and row-level rejections."""

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corridor.domain.events import Classifier, EventKind
from corridor.ingest.csvfmt import (DEFAULT_HEADER, detect_profile, load_profiles, parse_csv,
                                    sniff_delimiter)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "csv"
UTC5, UTC4 = timezone(timedelta(hours=5)), timezone(timedelta(hours=4))


def read(name):
    return (FIXTURES / name).read_bytes()


def test_default_header_file():
    r = parse_csv(read("corridor_default.csv"), source_party="ktz")
    assert r.meta["profile"] == "default" and r.meta["delimiter"] == ","
    assert len(r.events) == 6 and r.meta["rows"] == 10
    load = r.events[0]
    assert (load.kind, load.code, load.classifier, load.equipment, load.size_type) == (
        EventKind.EQUIPMENT, "LOAD", Classifier.ACT, "MSKU1234565", "45G1")
    assert load.event_time == datetime(2025, 3, 2, 0, 10, tzinfo=timezone.utc)
    assert load.event_time.utcoffset() == timedelta(hours=8)   # kept in the sender's offset
    assert (load.transport_call.mode, load.transport_call.voyage, load.transport_call.wagon) == (
        "RAIL", "X8024", "95123451")
    assert load.reference("BKG") == "BKG-1001" and load.parties == frozenset({"ktz"})
    depa, arri = r.events[1], r.events[2]
    assert depa.transport_call.voyage == "X8024" and arri.classifier == Classifier.EST
    vessel = r.events[3]
    assert (vessel.transport_call.mode, vessel.transport_call.vehicle, vessel.reference("BOL")) == (
        "VESSEL", "9321483", "BL-77")
    posi = r.events[4]
    assert (posi.kind, posi.code, posi.lat, posi.lon, posi.transport_call) == (
        EventKind.IOT, "POSI", 41.2034, 50.112, None)
    bad = {x.segment: x for x in r.rejections}
    assert sorted(bad) == [7, 8, 9, 10]
    assert bad[7].element == "event_time" and "has no UTC offset" in bad[7].reason
    assert bad[8].element == "equipment" and "check digit 6 is wrong, expected 5" in bad[8].reason
    assert bad[9].element == "event_code" and "unknown event code 'LODE'" in bad[9].reason
    assert bad[10].element == "lat" and "91.5 is outside -90..90" in bad[10].reason
    assert bad[7].reason.startswith("line 7, column event_time:")


def test_railway_profile_detected_from_russian_header():
    r = parse_csv(read("railway_wagon_report_ru.csv"), source_party="ktz")
    assert r.meta["profile"] == "railway_wagon_report_ru"
    assert r.meta["delimiter"] == ";" and r.meta["encoding"] == "utf-8"   # BOM removed
    codes = [(e.code, e.kind) for e in r.events]
    assert codes == [("ARRI", EventKind.TRANSPORT), ("DISC", EventKind.EQUIPMENT),
                     ("LOAD", EventKind.EQUIPMENT), ("DEPA", EventKind.TRANSPORT)]
    first = r.events[0]
    assert first.event_time == datetime(2025, 3, 2, 21, 40, tzinfo=UTC5)
    assert (first.location, first.equipment, first.size_type) == ("708000", "MSKU1234565", "45G1")
    assert first.transport_call == r.events[1].transport_call  # same train, wagon, station
    assert (first.transport_call.mode, first.transport_call.voyage, first.transport_call.wagon) == (
        "RAIL", "X8024", "95123451")
    assert first.reference("SMGS") == "SMGS-553201"
    bad = {x.segment: x for x in r.rejections}
    assert bad[6].element == "Номер вагона" and "check digit 7 is wrong, expected 6" in bad[6].reason
    assert bad[7].element == "Дата и время операции" and "'31.02.2025 01:00'" in bad[7].reason
    assert "%d.%m.%Y %H:%M" in bad[7].expected


def test_gate_log_profile_tabs_and_split_date_time():
    r = parse_csv(read("terminal_gate_log.tsv"), tz_for=lambda code: ZoneInfo("Asia/Baku") if code == "AZALA" else None)
    assert r.meta["profile"] == "terminal_gate_log" and r.meta["delimiter"] == "\t"
    gin, gout = r.events
    assert (gin.code, gin.equipment, gin.empty, gin.transport_call.vehicle, gin.transport_call.mode) == (
        "GTIN", "MSKU1234565", False, "10-AB-123", "TRUCK")
    assert gin.event_time == datetime(2025, 3, 12, 9, 55, tzinfo=UTC4)
    assert (gout.code, gout.empty, gout.references) == ("GTOT", True, ())
    [bad] = r.rejections
    assert (bad.segment, bad.element) == (4, "F/E") and "'X' is neither empty nor laden" in bad.reason
    # the terminal's own zone: the same log from Aktau reads at +05:00, never at Alat's +04:00
    aktau = parse_csv(read("terminal_gate_log.tsv").replace(b"AZALA", b"KZAAU"),
                      tz_for=lambda code: ZoneInfo("Asia/Aqtau") if code == "KZAAU" else None)
    assert aktau.events[0].event_time == datetime(2025, 3, 12, 9, 55, tzinfo=UTC5)
    # and without a zone for the place the move is held, never read at a guessed offset
    assert "no time zone is known for AZALA" in parse_csv(read("terminal_gate_log.tsv"), tz_for=lambda code: None
                                                          ).rejections[0].reason


def test_named_profile_and_header_errors():
    r = parse_csv(read("terminal_gate_log.tsv"), profile="railway_wagon_report_ru")
    assert r.events == [] and "header lacks" in r.rejections[0].reason
    r = parse_csv("a,b,c\n1,2,3\n")
    assert r.events == [] and r.rejections[0].element == "header"
    assert DEFAULT_HEADER in r.rejections[0].expected
    assert parse_csv(b"").rejections[0].reason.startswith("empty file")
    assert "unknown profile" in parse_csv("x\n", profile="nope").rejections[0].reason


def test_field_count_mismatch_names_the_column():
    text = "event_code,event_time,location,equipment\nGTIN,2025-03-12T10:00:00+04:00,AZALA,MSKU1234565,extra\n"
    [bad] = parse_csv(text).rejections
    assert bad.segment == 2 and "row has 5 fields, the header 4" in bad.reason


def test_windows_1251_and_semicolon_decimal_commas():
    text = ("event_code;event_time;equipment;lat;lon;reason\n"
            "POSI;2025-03-11T02:00:00+04:00;CAIU5550017;41,2034;50,1120;Каспий\n")
    r = parse_csv(text.encode("cp1251"))
    [e] = r.events
    assert (e.lat, e.lon, e.reason) == (41.2034, 50.112, "Каспий")
    assert r.warnings == ["file is not UTF-8; read as Windows-1251"]


def test_transport_event_needs_a_vehicle():
    [bad] = parse_csv("event_code,event_time,location\nARRI,2025-03-12T10:00:00+04:00,AZALA\n").rejections
    assert "needs its vehicle" in bad.reason


def test_sniff_and_detect():
    assert sniff_delimiter("a;b;c") == ";" and sniff_delimiter("a\tb") == "\t" and sniff_delimiter("a") == ","
    assert detect_profile(DEFAULT_HEADER.split(",")) == "default"
    assert detect_profile(["  container   no ", "MOVE", "date", "time"]) == "terminal_gate_log"
    assert set(load_profiles()) >= {"default", "railway_wagon_report_ru", "terminal_gate_log"}


@pytest.mark.parametrize("junk", [b"\x00\x01\x02", b'"unterminated,\n', b"\n\n\n", "event_code\n\x00"])
def test_never_raises(junk):
    r = parse_csv(junk)
    assert r.events == [] and r.rejections


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=",;\t\n\"'abc0123456789:-+TZ_ event_codetimeLOADGTIN", max_size=200))
def test_fuzz_never_raises(text):
    r = parse_csv("event_code,event_time,equipment\n" + text)
    assert r.meta.get("profile") == "default"
