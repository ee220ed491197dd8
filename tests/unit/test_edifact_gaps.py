"""Gaps in EDIFACT ingest found in real senders' CODECOs and dates, each in a message of our own.

Where each was seen (public repositories, read while writing these; nothing copied):
- a depot's CODECO for a line giving its yard only as LOC+99 (place of empty equipment return) in
  each EQD group; terminal CODECOs naming the terminal only as NAD+MS / UNB sender; DTM+203 as
  the gate time; a header TDT+20 (the export vessel) beside a truck's TDT+1 or none at all:
  CODECO generators of terminal and depot systems found by searching '+CODECO:D:95B:UN';
- times with ':' inside DTM values (bare, released, or an ISO date): the brief's cases, written
  from the UN/EDIFACT syntax rules (':' is the component separator unless released as '?:').
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from corridor.ingest.edifact import parse_edifact
from corridor.ingest.edifact.dates import DateError, parse_dtm

AKTAU = ZoneInfo("Asia/Aqtau")


def tz(code: str):
    return AKTAU if code in ("KZAAU", "AKXDEPOT") else None


def codeco(body: str, bgm: str = "34") -> str:
    return (f"UNB+UNOA:2+AKXDEPOT+LINE+240314:1230+77'UNH+1+CODECO:D:95B:UN:ITG13'BGM+{bgm}+G1+9'"
            f"{body}UNT+99+1'UNZ+1+77'")


BOX, BOX2 = "MSKU1234565", "TGHU7654320"


# ---- 1. the place of the gate move

def test_depot_gate_in_of_an_empty_takes_the_place_of_empty_return():
    r = parse_edifact(codeco(f"EQD+CN+{BOX}+22G1+++4'DTM+7:202403141230:203'TDT+1+MAN1+3'LOC+99+AKXDEPOT+::ZZZ'"),
                      tz_for=tz)
    [e] = r.events
    assert r.rejections == [] and (e.code, e.location, e.empty) == ("GTIN", "AKXDEPOT", True)
    assert e.event_time.isoformat() == "2024-03-14T12:30:00+05:00"
    assert any("taken from LOC+99 (place of empty equipment return)" in w for w in r.warnings)


def test_depot_gate_out_takes_the_place_of_empty_despatch_not_of_return():
    body = f"LOC+98+AKXDEPOT+::ZZZ'EQD+CN+{BOX}+22G1+++4'DTM+7:202403141230:203'"
    [e] = parse_edifact(codeco(body, bgm="36"), tz_for=tz).events
    assert (e.code, e.location) == ("GTOT", "AKXDEPOT")
    # a gate-in is not at the place an empty is despatched from
    r = parse_edifact(codeco(body, bgm="34"), tz_for=tz)
    assert r.events == [] and "LOC+99" in r.rejections[0].reason


def test_a_codeco_naming_no_place_is_rejected_once_with_what_it_names_instead():
    body = ("NAD+MS+AKXDEPOT'TDT+20+031W+1++MSC:172:20+++3ERX3:103::MSC ANNA'LOC+9+ITGOA:139:6'"
            f"EQD+CN+{BOX}+22G1+++5'DTM+7:202403141230:203'EQD+CN+{BOX2}+22G1+++5'DTM+7:202403141240:203'")
    r = parse_edifact(codeco(body), tz_for=tz)
    [rej] = r.rejections                     # one for the message, not one per container
    assert r.events == [] and rej.element == "LOC+165" and rej.segment == 3 and rej.message_ref == "1"
    assert "2 gate move(s)" in rej.reason and "LOC+9 ITGOA" in rej.reason and "NAD+MS AKXDEPOT" in rej.reason
    assert "LOC+165" in rej.expected


def test_a_container_without_a_place_beside_one_with_it_is_rejected_alone():
    body = (f"EQD+CN+{BOX}+22G1+++5'DTM+7:202403141230:203'LOC+165+KZAAU:139:6+AKX:TER:ZZZ'"
            f"EQD+CN+{BOX2}+22G1+++5'DTM+7:202403141240:203'")
    r = parse_edifact(codeco(body), tz_for=tz)
    [e], [rej] = r.events, r.rejections
    assert (e.equipment, e.location, e.transport_call.facility_code) == (BOX, "KZAAU", "AKX")
    assert "this EQD group" in rej.reason and rej.segment == 7


# ---- the time

def test_execution_time_dtm203_is_the_gate_time_when_dtm7_is_missing():
    r = parse_edifact(codeco(f"EQD+CN+{BOX}+40EM:102:5+++4'DTM+203:202403141230:203'LOC+165+KZAAU:139:6'"),
                      tz_for=tz)
    [e] = r.events
    assert r.rejections == [] and e.event_time.isoformat() == "2024-03-14T12:30:00+05:00"
    both = codeco(f"EQD+CN+{BOX}+40EM:102:5+++4'DTM+203:202403141230:203'DTM+7:202403141200:203'"
                  "LOC+165+KZAAU:139:6'")
    assert parse_edifact(both, tz_for=tz).events[0].event_time.isoformat() == "2024-03-14T12:00:00+05:00"  # DTM+7 first


# ---- 3. the vehicle at the gate

def test_header_vessel_is_not_the_vehicle_of_a_gate_in():
    head = "TDT+20+031W+1+13+MSC:172:20+++3ERX3:103::MSC ANNA'LOC+165+KZAAU:139:6'"
    [e] = parse_edifact(codeco(head + f"EQD+CN+{BOX}+22G1+++5'DTM+7:202403141230:203'"), tz_for=tz).events
    tc = e.transport_call
    assert (tc.mode, tc.voyage, tc.vehicle) == ("TRUCK", None, None)
    assert e.extra == {"vessel_voyage": "031W", "vessel": "MSC ANNA"}   # the sea leg the box is for, kept
    # the truck in the group, or a header pre-carriage by rail, is the vehicle
    truck = parse_edifact(codeco(head + f"EQD+CN+{BOX}+22G1+++5'DTM+7:202403141230:203'"
                                        "TDT+1++3+31++++:::01A123KZ'"), tz_for=tz).events[0]
    assert (truck.transport_call.mode, truck.transport_call.vehicle) == ("TRUCK", "01A123KZ")
    rail = parse_edifact(codeco("TDT+1+7201+2+25'" + head + f"EQD+CN+{BOX}+22G1+++5'DTM+7:202403141230:203'"),
                         tz_for=tz).events[0]
    assert (rail.transport_call.mode, rail.transport_call.voyage) == ("RAIL", "7201")


# ---- 2. ':' inside DTM values

@pytest.mark.parametrize("dtm, expected, said", [
    ("DTM+7:20240314 12?:30:203", "2024-03-14T12:30:00+05:00", "written with separators"),   # released
    ("DTM+7:20240314 12:30:203", "2024-03-14T12:30:00+05:00", "bare ':'"),
    ("DTM+7:20240314 12:30", "2024-03-14T12:30:00+05:00", "cut by an unreleased ':'"),
    ("DTM+7:20240314:1230", "2024-03-14T12:30:00+05:00", "cut by an unreleased ':'"),
    ("DTM+7:2024-03-14T12?:30:203", "2024-03-14T12:30:00+05:00", "written with separators"),
    ("DTM+7:202403141230+04:00:303", "2024-03-14T12:30:00+04:00", "bare ':' and '+'"),
    ("DTM+7:202403141230?+04?:00:303", "2024-03-14T12:30:00+04:00", None),
])
def test_times_with_separators_that_can_be_read_one_way_are_read(dtm, expected, said):
    r = parse_edifact(codeco(f"EQD+CN+{BOX}+22G1+++5'{dtm}'LOC+165+KZAAU:139:6'"), tz_for=tz)
    assert r.rejections == [] and r.events[0].event_time.isoformat() == expected
    assert said is None or any(said in w for w in r.warnings), r.warnings


@pytest.mark.parametrize("dtm, why", [
    ("DTM+7:12:30:203", "time of day without its date"),
    ("DTM+7:12?:30:203", "time of day without its date"),
    ("DTM+7:2024:03:14:203", "not a date and time that can be read"),
    ("DTM+7:20240314 12:3:203", "not a date and time that can be read"),
])
def test_times_with_separators_that_cannot_be_read_are_refused_with_the_reason(dtm, why):
    r = parse_edifact(codeco(f"EQD+CN+{BOX}+22G1+++5'{dtm}'LOC+165+KZAAU:139:6'"), tz_for=tz)
    [rej] = r.rejections
    assert r.events == [] and why in rej.reason and rej.element == "DTM+7/2380"


def test_parse_dtm_reads_iso_written_values_and_refuses_a_bare_time():
    assert parse_dtm("2026-03-02T10:30:15+04:00", "304")[0] == datetime(
        2026, 3, 2, 10, 30, 15, tzinfo=timezone(timedelta(hours=4)))
    assert parse_dtm("2026-03-02", "102")[0] == datetime(2026, 3, 2)
    assert parse_dtm("202403141230CET", "303")[2] is None          # zone names stay as they were
    with pytest.raises(DateError, match="without its date"):
        parse_dtm("10:30", "203")
