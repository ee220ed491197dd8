"""Envelope policies around pydifact: counts, references, groups, charsets, syntax errors, dates."""

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from corridor.ingest.edifact import parse_edifact
from corridor.ingest.edifact.dates import DateError, parse_dtm
from corridor.ingest.edifact.interchange import decode

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "edifact"
TWO = (FIXTURES / "iftsta_two_messages_unoc.edi").read_text(encoding="latin-1")


def has(warnings, *parts):
    return any(all(p in w for p in parts) for w in warnings)


def test_unt_reference_mismatch_rejects_that_message_only():
    r = parse_edifact(TWO.replace("UNT+12+M1", "UNT+12+MX"))
    [rej] = r.rejections
    assert rej.message_ref == "M1" and rej.element == "UNT/0062" and rej.segment == 13
    assert "does not match UNH reference 'M1'" in rej.reason
    assert [e.equipment for e in r.events] == ["TGHU7654320"]


def test_unt_count_mismatch_is_a_warning_and_the_message_is_kept():
    r = parse_edifact(TWO.replace("UNT+12+M2", "UNT+40+M2"))
    assert r.rejections == [] and len(r.events) == 2
    assert has(r.warnings, "UNT of message 'M2' counts '40' segments, the message has 12")


def test_missing_unt_rejects_the_open_message_and_keeps_the_next():
    r = parse_edifact(TWO.replace("UNT+12+M1'\n", ""))
    [rej] = r.rejections
    assert rej.message_ref == "M1" and "is not closed by UNT before a new UNH" in rej.reason
    assert [e.equipment for e in r.events] == ["TGHU7654320"]


def test_truncated_file_rejects_the_cut_message():
    cut = TWO[:TWO.index("EQD+CN+TGHU")]
    r = parse_edifact(cut)
    assert [e.equipment for e in r.events] == ["MSKU1234565"]
    assert [x.message_ref for x in r.rejections] == ["M2"] and "ends without UNT" in r.rejections[0].reason
    assert has(r.warnings, "no UNZ trailer")


def test_unz_count_and_reference_mismatch_are_warnings():
    r = parse_edifact(TWO.replace("UNZ+2+IC0001", "UNZ+5+IC0009"))
    assert r.rejections == [] and len(r.events) == 2
    assert has(r.warnings, "UNZ counts '5'") and has(r.warnings, "UNZ reference 'IC0009'")


def test_functional_groups_are_read_and_checked():
    grouped = TWO.replace("UNH+M1", "UNG+IFTSTA+KTZE+CORRIDOR+240315:0930+G1+UN+D:00B'\nUNH+M1").replace(
        "UNZ+2+IC0001", "UNE+3+G1'\nUNZ+1+IC0001")
    r = parse_edifact(grouped)
    assert len(r.events) == 2 and r.rejections == []
    assert has(r.warnings, "UNE counts '3' messages, the group has 2")
    assert not has(r.warnings, "UNZ counts")


def test_syntax_error_rejects_its_message_and_reading_resumes_at_the_next_unh():
    broken = TWO.replace("BGM+23+ST-1+9'", "BGM+23+ST-1?\n+9'")   # release char before a line break
    r = parse_edifact(broken)
    [rej] = r.rejections
    assert rej.message_ref == "M1" and rej.reason.startswith("syntax error: EDIFACT Syntax Error: Newlines after escape")
    assert [e.equipment for e in r.events] == ["TGHU7654320"]


def test_cancellation_is_rejected_for_manual_review():
    r = parse_edifact(TWO.replace("BGM+23+ST-1+9", "BGM+23+ST-1+1"))
    assert len(r.events) == 1 and r.rejections[0].element == "BGM/1225"


def test_unknown_status_code_without_a_readable_text_is_rejected_with_the_table_hint():
    r = parse_edifact(TWO.replace("STS+1+AL::ZZZ:Chargé sur wagon", "STS+1+Z9::ZZZ:Customs hold"))
    [rej] = r.rejections
    assert rej.element == "STS/C556" and "'Z9'" in rej.reason and rej.segment == 7


def test_missing_final_terminator_and_surrounding_whitespace_are_tolerated():
    r = parse_edifact("\r\n  " + TWO.rstrip().rstrip("'"))
    assert len(r.events) == 2 and has(r.warnings, "the last segment has no segment terminator")


def test_charset_decisions():
    assert decode("UNB+UNOC:3+A+B+240101:0000+1'".encode("utf-8") + "Köln'".encode("utf-8"))[1] == "utf-8"
    text, codec, notes = decode(b"UNB+UNOA:2+A+B+240101:0000+1'NAD+\xe9'")
    assert codec == "latin-1" and text.endswith("\xe9'") and "outside it" in notes[0]
    assert decode("UNB+UNOE:3+A+B+240101:0000+1'FTX+Москва'".encode("iso8859-5"))[0].endswith("Москва'")
    assert decode(b"\xef\xbb\xbfUNH+1+IFTSTA:D:00B:UN'")[0].startswith("UNH")


@pytest.mark.parametrize("raw, why", [
    ("", "the file is empty"), ("hello world", "no EDIFACT message found"),
    ("UNA:+", "UNA is cut short"), ("UNA++.? '", "unusable"),
])
def test_unreadable_inputs_are_rejections(raw, why):
    r = parse_edifact(raw)
    assert r.events == [] and why in r.rejections[0].reason


def test_tz_lookup_that_fails_is_a_warning_not_a_crash():
    def boom(code):
        raise KeyError(code)
    r = parse_edifact(TWO, tz_for=boom)
    assert len(r.events) == 2 and has(r.warnings, "time zone lookup for AZBAK failed")


@pytest.mark.parametrize("value, fmt, expected", [
    ("20240314", "102", datetime(2024, 3, 14)),
    ("202403141230", "203", datetime(2024, 3, 14, 12, 30)),
    ("20240314123045", "204", datetime(2024, 3, 14, 12, 30, 45)),
    ("2403141230", "201", datetime(2024, 3, 14, 12, 30)),
    ("202403141230+05", "303", datetime(2024, 3, 14, 12, 30, tzinfo=timezone(timedelta(hours=5)))),
    ("202403141230-0330", "303", datetime(2024, 3, 14, 12, 30, tzinfo=timezone(-timedelta(hours=3, minutes=30)))),
    ("202403141230UTC", "303", datetime(2024, 3, 14, 12, 30, tzinfo=timezone.utc)),
    ("20240314123000+04:00", "304", datetime(2024, 3, 14, 12, 30, tzinfo=timezone(timedelta(hours=4)))),
])
def test_dtm_formats(value, fmt, expected):
    assert parse_dtm(value, fmt)[0] == expected


@pytest.mark.parametrize("value, fmt", [("20241314", "102"), ("2024", "203"), ("202403141230+99", "303"),
                                         ("202403141230XYZ", "303"), ("", "203")])
def test_dtm_errors_say_why(value, fmt):
    with pytest.raises(DateError):
        parse_dtm(value, fmt)
