"""Quirks of EDIFACT written by others, each in a message of our own that reproduces it.

Where a quirk was seen (public repositories, read while writing these; nothing copied):
- both LOC+9 and LOC+11 in a COARRI header with BGM 119, LOC+94/LOC+61 naming the far port, RFF+BM:0
  on empties, UNT+000907: MJapdeva4302/ReadBaplie ReadEDIFACT/COARRI.edi and COARRI_NEW.edi (Moín terminal);
- DTM+7 as the status time, STS with only a category (STS+1): IFTSTA test data in public
  mapper repositories (UPS/Finnish rail customs examples found by searching '+IFTSTA:D:');
- a slot reserved for an empty without a number (EQD+CN++22G1+++4) and EQD written before its
  LOC+147: BAPLIE parsers' notes and generators in public repositories;
- CRLF + indentation, lower case, period formats (718/719), zone names (CET) and 305 values:
  cases the brief lists; written here from the UN/EDIFACT 2379 code list.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from corridor.ingest.edifact import parse_edifact
from corridor.ingest.edifact.dates import DateError, parse_dtm

ZONES = {"KZAAU": "Asia/Aqtau", "AZALA": "Asia/Baku", "GEPTI": "Asia/Tbilisi"}


def tz(code: str):
    return ZoneInfo(ZONES[code]) if code in ZONES else None


def has(texts, part: str) -> bool:
    return any(part in t for t in texts)


# ---- dates

@pytest.mark.parametrize("value, fmt, expected", [
    ("202403141230-202403141330", "719", datetime(2024, 3, 14, 12, 30)),
    ("20240314-20240316", "718", datetime(2024, 3, 14)),
    ("2403141230-2403141330", "713", datetime(2024, 3, 14, 12, 30)),
    ("202403141230+04-202403141330+04", "720", datetime(2024, 3, 14, 12, 30, tzinfo=timezone(timedelta(hours=4)))),
    ("202403141230-202403141330", "203", datetime(2024, 3, 14, 12, 30)),    # a period sent as 203
    ("202403141230CET", "303", datetime(2024, 3, 14, 12, 30, tzinfo=timezone(timedelta(hours=1)))),
    ("202403141230EEST", "303", datetime(2024, 3, 14, 12, 30, tzinfo=timezone(timedelta(hours=3)))),
])
def test_periods_zone_names_and_blank_formats_are_read(value, fmt, expected):
    dt, has_offset, note = parse_dtm(value, fmt)
    assert dt == expected and has_offset == (expected.tzinfo is not None)
    if "-2024" in value or "-24" in value:
        assert "its start is used" in note


def test_a_value_read_into_an_impossible_year_is_refused_not_stored():
    with pytest.raises(DateError) as exc:
        parse_dtm("03141230", "305")            # MMDDHHMM: read by length it would be the year 314
    assert "year 314" in str(exc.value) and "305" in str(exc.value)
    raw = ("UNH+1+IFTSTA:D:99B:UN'BGM+23+S1+9'CNI+1+B1'STS+1+AE'DTM+334:03141230:305'LOC+175+KZAAU:139:6'"
           "EQD+CN+MSKU1234565+45G1'UNT+8+1'")
    r = parse_edifact(raw, tz_for=tz)
    assert r.events == [] and "year 314" in r.rejections[0].reason


def test_period_status_time_keeps_the_message():
    raw = ("UNH+1+IFTSTA:D:21A:UN'BGM+23+S1+9'CNI+1+B1'STS+1+AE'DTM+334:202403141230-202403141330:719'"
           "LOC+175+KZAAU:139:6'EQD+CN+MSKU1234565+45G1'UNT+8+1'")
    r = parse_edifact(raw, tz_for=tz)
    (e,) = r.events
    assert e.code == "LOAD" and e.event_time == datetime(2024, 3, 14, 12, 30, tzinfo=ZoneInfo("Asia/Aqtau"))
    assert has(r.warnings, "its start is used")


# ---- envelope

def test_crlf_indentation_and_lower_case_read_as_written_in_capitals():
    raw = (b"UNA:+.? '\r\nUNB+UNOB:2+SND+RCV+240315:0930+7'\r\n  unh+1+CODECO:D:95B:UN'  \r\n"
           b"  bgm+34+G1+9'\r\n\teqd+cn+msku1234565+22G1+++5'\t\r\n\tdtm+7:202403141230:203'\r\n"
           b"\tloc+165+kzaau:139:6+AKX:TER:ZZZ'\r\nUNT+0006+1'\r\nUNZ+01+7'\r\n\r\n  ")
    r = parse_edifact(raw, tz_for=tz)
    assert r.rejections == []
    (e,) = r.events
    assert (e.code, e.equipment, e.location) == ("GTIN", "MSKU1234565", "KZAAU")
    assert e.event_time == datetime(2024, 3, 14, 12, 30, tzinfo=ZoneInfo("Asia/Aqtau"))
    assert not has(r.warnings, "UNT") and not has(r.warnings, "UNZ") and not has(r.warnings, "not a container")


def test_control_counts_with_leading_zeros_are_numbers():
    raw = ("UNB+UNOA:2+S+R+240315:0930+9'UNG+CODECO+S+R+240315:0930+5+UN+D:95B'UNH+1+CODECO:D:95B:UN'"
           "BGM+34+G1+9'EQD+CN+MSKU1234565+22G1+++5'DTM+7:202403141230:203'LOC+165+KZAAU:139:6'UNT+000006+1'"
           "UNE+001+5'UNZ+0001+9'")
    r = parse_edifact(raw, tz_for=tz)
    assert len(r.events) == 1 and r.warnings == []


# ---- references

def test_placeholder_references_tie_nothing_together():
    raw = ("UNH+1+CODECO:D:95B:UN'BGM+34+G1+9'RFF+BN:0'EQD+CN+MSKU1234565+22G1+++4'RFF+BM:000'"
           "DTM+7:202403141230:203'LOC+165+KZAAU:139:6'EQD+CN+TGHU7654320+22G1+++4'RFF+BM:0'"
           "DTM+7:202403141240:203'LOC+165+KZAAU:139:6'UNT+11+1'")
    r = parse_edifact(raw, tz_for=tz)
    assert len(r.events) == 2 and all(e.references == () for e in r.events)
    assert has(r.warnings, "placeholder")


# ---- IFTSTA

def test_iftsta_effective_time_dtm7_is_the_status_time():
    raw = ("UNH+1+IFTSTA:D:99B:UN'BGM+23+S1+9'CNI+1+B1'STS+1+UV'DTM+7:202403150800:203'LOC+175+AZALA:139:6'"
           "EQD+CN+MSKU1234565+45G1'UNT+8+1'")
    r = parse_edifact(raw, tz_for=tz)
    (e,) = r.events
    assert (e.code, e.location, e.classifier.value) == ("DISC", "AZALA", "ACT")
    assert e.event_time == datetime(2024, 3, 15, 8, 0, tzinfo=ZoneInfo("Asia/Baku"))


def test_iftsta_without_its_own_loc_takes_the_port_of_the_move_from_its_tdt():
    raw = ("UNH+1+IFTSTA:D:99B:UN'BGM+23+S1+9'CNI+1+B1'"
           "STS+1+AE'DTM+334:202403141230:203'TDT+20+V1+1'LOC+9+KZAAU:139:6'LOC+11+AZALA:139:6'"
           "EQD+CN+MSKU1234565+45G1'"
           "STS+1+UV'DTM+334:202403151030:203'TDT+20+V1+1'LOC+9+KZAAU:139:6'LOC+11+AZALA:139:6'"
           "EQD+CN+MSKU1234565+45G1'UNT+15+1'")
    r = parse_edifact(raw, tz_for=tz)
    assert [(e.code, e.location, e.event_time.utcoffset()) for e in r.events] == [
        ("LOAD", "KZAAU", timedelta(hours=5)), ("DISC", "AZALA", timedelta(hours=4))]
    assert has(r.warnings, "the place is the TDT's LOC+9 KZAAU")


def test_iftsta_status_with_only_a_category_says_the_code_is_missing():
    raw = ("UNB+UNOC:2+003708274241:30+003706800420:30+140919:0146+92477'UNH+1+IFTSTA:D:99B:UN'BGM+132+K1+5'"
           "CNI+1'STS+1'DTM+334:202403141230:203'EQD+CN+MSKU1234565'UNT+7+1'UNZ+1+92477'")
    r = parse_edifact(raw, tz_for=tz)
    (rej,) = r.rejections
    assert rej.element == "STS/C555" and "no status code" in rej.reason and "category 1" in rej.reason


# ---- COARRI

COARRI_BOTH = ("UNB+UNOA:2+BAKUPORT+CUSTOMS+250402:1516+88'UNH+7+COARRI:D:23A:UN:ITG10'BGM+{bgm}++9'"
               "TDT+20+133+1++:172:166:GARABAGH+++9118018:146:11:GARABAGH'RFF+VM:'{prev}"
               "LOC+9+KZAAU:ZZZ:98:Aktau'LOC+11+AZALA:ZZZ:98:Alat+0002'{nxt}DTM+132:202502270300:203'"
               "EQD+CN+MSKU1234565+:102:5++3+5'RFF+BM:AKT-1'DTM+203:202502272302:203'LOC+147+:139:5'"
               "EQD+CN+TGHU7654320++++4'RFF+BM:0'DTM+203:202502272213:203'LOC+147+:139:5'"
               "CNT+16:2'UNT+{n}+7'UNZ+1+88'")


def _coarri(bgm: str, prev: str = "", nxt: str = "") -> str:
    body = COARRI_BOTH.format(bgm=bgm, prev=prev, nxt=nxt, n="0")
    count = body.count("'") - 2          # UNH..UNT: all segments but UNB and UNZ
    return COARRI_BOTH.format(bgm=bgm, prev=prev, nxt=nxt, n=f"{count:06d}")


def test_coarri_naming_both_ports_is_the_call_that_is_not_the_previous_port():
    r = parse_edifact(_coarri("119", prev="LOC+94+KZAAU:ZZZ:98:Aktau'", nxt="LOC+61+KZAAU'"), tz_for=tz)
    assert r.rejections == []
    assert [(e.code, e.location, e.equipment, e.references) for e in r.events] == [
        ("DISC", "AZALA", "MSKU1234565", (("BOL", "AKT-1"),)), ("DISC", "AZALA", "TGHU7654320", ())]
    assert r.events[0].event_time == datetime(2025, 2, 27, 23, 2, tzinfo=ZoneInfo("Asia/Baku"))
    assert not has(r.warnings, "UNT")


def test_coarri_naming_both_ports_follows_a_known_bgm():
    r = parse_edifact(_coarri("44"), tz_for=tz)
    assert {(e.code, e.location) for e in r.events} == {("DISC", "AZALA")}


def test_coarri_naming_both_ports_with_nothing_to_tell_them_apart_is_rejected_for_review():
    r = parse_edifact(_coarri("119"), tz_for=tz)
    assert r.events == []
    (rej,) = r.rejections
    assert "both LOC+9 KZAAU" in rej.reason and "LOC+11 AZALA" in rej.reason


# ---- BAPLIE

def test_baplie_slot_reserved_without_a_number_is_skipped_not_rejected():
    raw = ("UNH+1+BAPLIE:D:95B:UN:SMDG22'BGM++P1+9'TDT+20+V066+++CAS:172:20+++4JBK:103::GARABAGH'"
           "LOC+5+KZAAU:139:6'LOC+147+0010082::5'MEA+VGM++KGM:20000'LOC+11+AZALA'EQD+CN+MSKU1234565+22G1+++5'"
           "LOC+147+0010084::5'LOC+11+AZALA'EQD+CN++22G1+++4'UNT+13+1'")
    r = parse_edifact(raw)
    assert r.rejections == [] and [s.equipment for s in r.stowage] == ["MSKU1234565"]
    assert has(r.warnings, "1 stowage cells without a container skipped")


def test_baplie_with_each_eqd_before_its_cell_keeps_box_cell_and_weight_together():
    raw = ("UNH+1+BAPLIE:D:95B:UN'BGM++P1+9'TDT+20+V066+++CAS:172:20+++4JBK:103::GARABAGH'LOC+5+KZAAU:139:6'"
           "EQD+CN+MSKU1234565+22G1+++5'LOC+147+0010082::5'MEA+WT++KGM:20000'LOC+11+AZALA'"
           "EQD+CN+TGHU7654320+22G1+++4'LOC+147+0010084::5'MEA+WT++KGM:2200'LOC+11+GEPTI'UNT+14+1'")
    r = parse_edifact(raw)
    assert r.rejections == []
    assert [(s.equipment, s.position, s.weight_kg, s.port_of_discharge) for s in r.stowage] == [
        ("MSKU1234565", "0010082", 20000.0, "AZALA"), ("TGHU7654320", "0010084", 2200.0, "GEPTI")]
