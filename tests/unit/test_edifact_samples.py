"""Every real EDIFACT sample in /work/shared/samples/edifact, read at test time, with what it yields."""

from datetime import datetime, timezone
from pathlib import Path

import pytest

from corridor.domain.equipment import with_check_digit
from corridor.ingest.edifact import parse_edifact
from corridor.ingest.edifact.interchange import read_interchange

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "samples" / "edifact"
pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"shared EDIFACT samples not found at {SAMPLES}")
UTC = timezone.utc


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def has(warnings, *parts):
    return any(all(p in w for p in parts) for w in warnings)


def test_iftsta_rail_sample_rejects_its_anonymised_container_with_the_check_digit_reason():
    r = parse_edifact(sample("IFTSTA_D00B_rail-intermodal__apimeister-edifact-types.edi"))
    # the train's departure is kept without the box (see test_edifact_messages_seen_more.py)
    [e] = r.events
    assert (e.code, e.equipment, e.location, e.transport_call.mode) == ("DEPA", None, "USSYR", "RAIL")
    [rej] = r.rejections
    assert rej.reason == "container number 'TRHU4561222': check digit 2 is wrong, expected 5"
    assert (rej.segment, rej.element, rej.message_ref) == (31, "EQD/C237", "2805567")
    assert r.meta["charset"] == "latin-1" and r.meta["syntax"] == "UNOC:2"
    assert r.meta["sender"] == "SENDER" and r.meta["source_party"] == "SENDER"
    assert has(r.warnings, "UNZ reference '2805570' does not match UNB reference '2803570'")


def test_iftsta_rail_sample_with_a_valid_container_maps_to_a_rail_departure():
    raw = sample("IFTSTA_D00B_rail-intermodal__apimeister-edifact-types.edi")
    fixed = with_check_digit("TRHU456122")
    r = parse_edifact(raw.replace(b"TRHU4561222", fixed.encode()), source_party="carrier-x")
    assert r.rejections == []
    [e] = r.events
    assert (e.kind.value, e.code, e.classifier.value) == ("TRANSPORT", "DEPA", "ACT")
    assert e.event_time == datetime(2022, 11, 19, 7, 10, tzinfo=UTC)   # no zone known: UTC, warned
    assert (e.location, e.equipment, e.size_type, e.empty) == ("USSYR", fixed, "45G1", False)
    assert e.transport_call.mode == "RAIL" and e.transport_call.vehicle == "CSX TRANSPORTATION"
    assert e.reference("BOL") == "ABCD224O4023815X" and e.reference("BKG") == "24O4023815"
    assert e.source_party == "carrier-x" and e.message_id == "2803570/2805567"
    assert e.created_at == datetime(2022, 1, 1, 0, 21, tzinfo=UTC)
    assert [x["location"] for x in e.extra["route"]] == ["COCTG", "USNYC", "USCHI", "USWOQ"]
    assert has(r.warnings, "STS code 'P' (agency HS)", "mapped to DEPA", "Rail Departed")
    assert has(r.warnings, "local times at USSYR have no UTC offset")


def test_coarri_sample_two_messages_discharge_and_load_at_genoa():
    raw = sample("COARRI_D95B_ITG13__php-edifact-edifact.edi")
    r = parse_edifact(raw)
    assert r.rejections == []
    assert r.meta["message_types"] == ["COARRI"] and r.meta["messages"] == 2
    assert len(r.events) == raw.count(b"EQD+CN+") == 21
    disc = [e for e in r.events if e.code == "DISC"]
    load = [e for e in r.events if e.code == "LOAD"]
    assert [e.equipment for e in disc] == ["FCIU9908030", "MAGU5591240"]
    assert len(load) == 19 and {e.transport_call.voyage for e in load} == {"032E"}
    first = disc[0]
    assert first.event_time == datetime(2016, 2, 3, 9, 13, tzinfo=UTC)
    assert (first.location, first.transport_call.facility_code) == ("ITGOA", "VTE")
    assert first.transport_call.vehicle == "COSCO AFRICA" and first.transport_call.voyage == "031W"
    assert first.extra["position"] == "380886" and first.empty is False
    assert load[0].equipment == "CBHU6192031" and load[0].reference("BKG") == "9000157890"
    assert {e.message_id for e in r.events} == {"1452515554132/1452515553811", "1452515554132/1452515553819"}
    assert has(r.warnings, "local times at ITGOA", "(x21)")


def test_coarri_sample_with_tz_lookup_keeps_the_genoa_offset():
    from zoneinfo import ZoneInfo
    r = parse_edifact(sample("COARRI_D95B_ITG13__php-edifact-edifact.edi"),
                      tz_for={"ITGOA": ZoneInfo("Europe/Rome")}.get)
    assert r.events[0].event_time.isoformat() == "2016-02-03T09:13:00+01:00"
    assert not has(r.warnings, "no UTC offset")


def test_coprar_sample_bare_message_with_wrong_count_and_invalid_containers():
    r = parse_edifact(sample("COPRAR_D95B_no-UNB_UNT-count-mismatch__apimeister-edifact-types.edi"))
    assert r.meta["sender"] is None and r.meta["message_types"] == ["COPRAR"]
    assert has(r.warnings, "message '638' has no UNB interchange header")
    assert has(r.warnings, "UNT of message '638' counts '56' segments, the message has 29")
    assert has(r.warnings, "DTM+133: value '20121125' does not match format 203; read as 102")
    assert r.events == []
    assert [(x.segment, x.message_ref) for x in r.rejections] == [(10, "638"), (19, "638")]
    assert all("category 'I' must be U, J, Z or R" in x.reason for x in r.rejections)


def test_coprar_sample_release_character_in_ftx_and_plan_once_with_a_valid_container():
    raw = sample("COPRAR_D95B_no-UNB_UNT-count-mismatch__apimeister-edifact-types.edi")
    env = read_interchange(raw)
    ftx = [s for s in env.messages[0].body if s.tag == "FTX" and s.el(0) == "AAA"]
    assert ftx[0].el(3) == "PLASTICS:ARTICLES"
    fixed = with_check_digit("MSKU641566")
    r = parse_edifact(raw.replace(b"MSTI6415664", fixed.encode()))
    [e] = r.events   # the container is listed twice: kept once, warned
    assert (e.code, e.classifier.value, e.location, e.equipment) == ("LOAD", "PLN", "AEJEA", fixed)
    assert e.event_time == datetime(2012, 11, 25, tzinfo=UTC)   # DTM+133 read as a date
    assert e.transport_call.voyage == "123W" and e.transport_call.vehicle == "HELLO WORLD"
    assert e.reference("BKG") == "2GO2005174"
    assert has(r.warnings, f"LOAD of {fixed} is repeated; kept once")


def test_baplie_d95b_sample_yields_three_stowage_records():
    r = parse_edifact(sample("BAPLIE_D95B_SMDG20__php-edifact-edifact.edi"))
    assert r.events == [] and r.rejections == []
    assert [s.equipment for s in r.stowage] == ["OOLU4293959", "MOEU0710945", "OOLU8757889"]
    first = r.stowage[0]
    assert (first.vessel, first.vessel_id, first.voyage) == ("OOCL BEIJING", "VRIB3", "042")
    assert (first.position, first.port_of_loading, first.port_of_discharge) == ("0780690", "USLGB", "CNYTN")
    assert (first.weight_kg, first.empty, first.operator, first.size_type) == (3833.0, True, "OOL", "4200")
    assert r.stowage[2].empty is False and r.stowage[1].size_type == "L5G1"


def test_baplie_d04b_template_keeps_its_placeholder_container_with_a_warning():
    r = parse_edifact(sample("BAPLIE_D04B_template__apimeister-edifact-types.edi"))
    [s] = r.stowage
    assert (s.equipment, s.size_type, s.position, s.voyage) == ("CONTAINER", "2210", "0050302", "RFN234")
    assert s.port_of_discharge == "PORTOFDISCHARGE" and s.weight_kg == 23000.0
    assert has(r.warnings, "equipment 'CONTAINER' is not an ISO 6346 number")
    assert has(r.warnings, "UNB date/time 00091022:0101 is not a valid date")
    assert r.meta["test"] is True and r.meta["prepared"] is None


def test_iftsai_sample_seven_calls_fourteen_estimates():
    r = parse_edifact(sample("IFTSAI_D99B_01__portxchange-scala-edifact-parser.edi"))
    assert r.rejections == []
    assert [u.location for u in r.schedule] == ["NLRTM", "CNTAO", "KRPUS", "CNNGB", "EGPSE", "CNYTN", "EGSUZ"]
    rtm = r.schedule[0]
    assert (rtm.voyage, rtm.vessel, rtm.vessel_id, rtm.call_role) == ("JMDS905W", "MADISON MAERSK", "OWJG2", "9")
    assert rtm.estimated_arrival == datetime(2019, 3, 7, 7, 11, tzinfo=UTC)
    assert rtm.estimated_departure == datetime(2019, 3, 8, 15, 5, tzinfo=UTC)
    assert [u.call_role for u in r.schedule].count("94") == 4 and r.schedule[-1].call_role == "152"
    assert len(r.events) == 14 and {(e.code, e.classifier.value) for e in r.events} == {("ARRI", "EST"), ("DEPA", "EST")}
    assert has(r.warnings, "interchange '1': no UNZ trailer")


def test_iftmbc_sample_is_not_mapped_and_its_quirks_are_warned():
    r = parse_edifact(sample("IFTMBC_D00B_linebreak-in-FTX__php-edifact-edifact.edi"))
    [rej] = r.rejections
    assert rej.reason == "message type IFTMBC is not mapped by Corridor" and rej.segment == 2
    assert "IFTSTA" in rej.expected
    assert has(r.warnings, "segment 7: line break inside a data element")
    assert has(r.warnings, "UNB date/time 999818:999 is not a valid date")
    ftx = read_interchange(sample("IFTMBC_D00B_linebreak-in-FTX__php-edifact-edifact.edi")).messages[0].body[-1]
    assert ftx.el(3, 1) == "DUE TO INTERVENTION OF CUSTOMS." and ftx.el(3).endswith("OCCUR\n")


def test_paores_sample_release_characters_are_resolved_by_pydifact():
    env = read_interchange(sample("PAORES_93_release-character-cases__php-edifact-edifact.edi"))
    assert env.meta["una"] is True and env.meta["syntax"] == "IATB:1"
    ift = [s.els[1:] for s in env.messages[0].body if s.tag == "IFT"]
    assert ift[2] == ["NO MORE FLIGHTS 2?"]
    assert ift[3] == ["NO MORE ' FLIGHTS 3"]
    assert ift[5] == ["NO MORE ?' FLIGHTS 3"]
    assert ift[7] == ["FIELD 1?", "FIELD 2"] and ift[8] == ["FIELD 1?+FIELD 2"]
    assert ift[10] == [["FIELD 1.1?", "FIELD 1.2"]] and ift[11] == ["FIELD 1.1?:FIELD 1.2"]
    r = parse_edifact(sample("PAORES_93_release-character-cases__php-edifact-edifact.edi"))
    assert [x.reason for x in r.rejections] == ["message type PAORES is not mapped by Corridor"]
    assert has(r.warnings, "UNB syntax identifier 'IATB' is not a UN/EDIFACT character set")
    assert has(r.warnings, "UNT of message '1' counts '14' segments, the message has 23")
    assert not has(r.warnings, "line break")   # escaped terminators are not line breaks
