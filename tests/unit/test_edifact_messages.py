"""Corridor's own EDIFACT fixtures: one per supported message type, mapped to events/schedule/stowage."""

from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from corridor.ingest.edifact import parse_edifact
from corridor.ingest.edifact.interchange import read_interchange

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "edifact"
ZONES = {"KZSCO": ZoneInfo("Asia/Aqtau"), "AZBAK": ZoneInfo("Asia/Baku"), "GEPTI": ZoneInfo("Asia/Tbilisi"),
         "KZDOS": timezone(timedelta(hours=5))}


def parse(name: str, **kw):
    return parse_edifact((FIXTURES / name).read_bytes(), tz_for=ZONES.get, **kw)


def test_iftsta_two_messages_in_a_latin1_interchange():
    raw = (FIXTURES / "iftsta_two_messages_unoc.edi").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")   # the fixture really is Latin-1
    r = parse("iftsta_two_messages_unoc.edi")
    assert r.rejections == [] and r.meta["charset"] == "latin-1" and r.meta["messages"] == 2
    load, disc = r.events
    assert (load.code, load.kind.value, load.location, load.equipment) == ("LOAD", "EQUIPMENT", "KZDOS", "MSKU1234565")
    assert load.event_time.isoformat() == "2024-03-14T12:30:00+05:00"   # 303 with offset
    assert (load.transport_call.mode, load.transport_call.voyage, load.transport_call.facility_code) == ("RAIL", "8501", "DST")
    assert load.extra["status_text"] == "Chargé sur wagon" and load.reference("BKG") == "BKG-77001"
    assert (disc.code, disc.location, disc.equipment, disc.empty) == ("DISC", "AZBAK", "TGHU7654320", True)
    assert disc.event_time.isoformat() == "2024-03-15T08:00:00+04:00"   # local time in Asia/Baku
    assert disc.transport_call.vehicle == "GARABAGH" and disc.reference("BOL") == "BOL-9"
    nad = read_interchange(raw).messages[1].body[2]
    assert nad.el(1, 3) == "Straße Köln"
    assert r.meta["source_party"] == "KTZE" and not any("no UTC offset" in w for w in r.warnings)


def test_codeco_with_non_default_una_separators_and_release_character():
    r = parse("codeco_una_custom_separators.edi")
    assert r.rejections == [] and r.meta["una"] is True
    truck, rail = r.events
    assert {e.code for e in r.events} == {"GTIN"} and {e.location for e in r.events} == {"GEPTI"}
    assert truck.transport_call.facility_code == "GPCT" and truck.transport_call.mode == "TRUCK"
    assert truck.transport_call.vehicle == "GE-123-AB" and truck.reference("BKG") == "BKG*88"
    assert truck.event_time.isoformat() == "2024-03-16T10:05:00+04:00"
    assert (rail.transport_call.mode, rail.equipment, rail.empty) == ("RAIL", "GESU3004004", True)
    assert rail.event_time == datetime(2024, 3, 16, 6, 40, tzinfo=timezone.utc)


def test_codeco_gate_out_and_unknown_document_code():
    raw = (FIXTURES / "codeco_una_custom_separators.edi").read_text()
    assert {e.code for e in parse_edifact(raw.replace("BGM*34*", "BGM*36*")).events} == {"GTOT"}
    r = parse_edifact(raw.replace("BGM*34*", "BGM*99*"))
    [rej] = r.rejections
    assert r.events == [] and rej.element == "BGM/1001" and rej.segment == 4 and "34 (gate-in" in rej.expected


def test_coarri_loading_report_rejects_only_the_bad_container():
    r = parse("coarri_loading_aktau.edi")
    [e] = r.events
    assert (e.code, e.classifier.value, e.location, e.equipment) == ("LOAD", "ACT", "KZSCO", "FSCU8887776")
    assert e.event_time.isoformat() == "2024-03-17T11:30:00+05:00"
    assert (e.transport_call.voyage, e.transport_call.vehicle, e.transport_call.facility_code) == ("AK24W", "BEKET ATA", "AKT")
    assert e.extra["position"] == "0010482" and e.reference("BKG") == "AK-1"
    [rej] = r.rejections
    assert rej.reason == "container number 'CAIU5550002': check digit 2 is wrong, expected 1"
    assert (rej.segment, rej.message_ref, rej.expected) == (13, "A1", "an ISO 6346 container number")


def test_coprar_discharge_order_is_planned_at_the_vessel_arrival():
    r = parse("coprar_discharge_baku.edi")
    assert r.rejections == [] and [e.equipment for e in r.events] == ["MSKU1234565", "TGHU7654320"]
    assert {(e.code, e.classifier.value) for e in r.events} == {("DISC", "PLN")}
    assert {e.event_time.isoformat() for e in r.events} == {"2024-03-19T06:00:00+04:00"}
    assert r.events[0].transport_call.facility_code == "BIP"


def test_iftsai_ferry_schedule_marks_the_late_arrival_as_delayed():
    r = parse("iftsai_caspian_ferry.edi")
    aktau, baku = r.schedule
    assert aktau.estimated_departure.isoformat() == "2024-03-17T18:00:00+05:00"
    assert aktau.actual_departure.isoformat() == "2024-03-17T19:30:00+05:00" and aktau.status is None
    assert baku.planned_arrival.isoformat() == "2024-03-18T18:00:00+04:00"
    assert baku.estimated_arrival.isoformat() == "2024-03-19T06:00:00+04:00" and baku.status == "delayed"
    assert (baku.voyage, baku.vessel, baku.carrier, baku.facility_code) == ("AK24W", "BEKET ATA", "ASC", "BIP")
    assert [(e.code, e.classifier.value, e.location) for e in r.events] == [
        ("DEPA", "EST", "KZSCO"), ("DEPA", "ACT", "KZSCO"), ("ARRI", "PLN", "AZBAK"), ("ARRI", "EST", "AZBAK")]
    assert len({e.milestone_key for e in r.events}) == 4


def test_iftsai_cancellation_cancels_every_call_and_emits_no_event():
    raw = (FIXTURES / "iftsai_caspian_ferry.edi").read_text().replace("BGM+TS2+SCH-1+9", "BGM+TS2+SCH-1+1")
    r = parse_edifact(raw)
    assert r.events == [] and [u.status for u in r.schedule] == ["cancelled", "cancelled"]


def test_baplie_ferry_stowage_weights_and_a_non_iso_unit():
    r = parse("baplie_caspian_ferry.edi")
    first, swap = r.stowage
    assert (first.equipment, first.position, first.port_of_discharge, first.weight_kg) == ("FSCU8887776", "0010482", "AZBAK", 24500.0)
    assert (first.vessel, first.voyage, first.port_of_departure) == ("BEKET ATA", "AK24W", "KZSCO")
    assert (swap.equipment, swap.weight_kg, swap.port_of_discharge, swap.empty) == ("SWAP BODY 17", 4535.9, "GEPTI", True)
    assert any("'SWAP BODY 17' is not an ISO 6346 number" in w for w in r.warnings)
    assert any("1 stowage cells without a container skipped" in w for w in r.warnings)


def test_iftmin_smgs_note_in_utf8_gives_receipt_and_planned_rail_loading():
    r = parse("iftmin_smgs_unoy.edi")
    assert r.rejections == [] and r.meta["charset"] == "utf-8"
    rece = [e for e in r.events if e.code == "RECE"]
    load = [e for e in r.events if e.code == "LOAD"]
    assert [e.equipment for e in rece] == ["MSKU1234565", "TCNU1002003"]
    assert {e.event_time.isoformat() for e in rece} == {"2024-03-14T10:00:00+05:00"}
    assert rece[0].reference("SMGS") == "70012345" and rece[0].reference("TRN") == "8501"
    assert [e.reference("WGN") for e in rece] == ["54321096", "21456785"]   # preceding wagon; EQA
    assert {(e.classifier.value, e.transport_call.mode, e.transport_call.voyage) for e in load} == {("PLN", "RAIL", "8501")}
    assert [e.transport_call.wagon for e in load] == ["54321096", "21456785"]
    assert load[0].event_time.isoformat() == "2024-03-15T14:00:00+05:00"
    ftx = next(s for s in read_interchange((FIXTURES / "iftmin_smgs_unoy.edi").read_bytes()).messages[0].body if s.tag == "FTX")
    assert ftx.el(3) == "Запчасти для тракторов"


def test_iftmin_cim_and_non_railway_notes():
    raw = (FIXTURES / "iftmin_smgs_unoy.edi").read_text(encoding="utf-8")
    cim = parse_edifact(raw.replace("BGM+722+", "BGM+701+"))
    assert {e.reference("CIM") for e in cim.events} == {"70012345"}
    other = parse_edifact(raw.replace("BGM+722+", "BGM+340+"))
    assert other.events == [] and other.rejections[0].expected.startswith("722 (SMGS")

