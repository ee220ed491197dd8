"""Segment variants seen in real-world EDIFACT from public repositories, rebuilt inline with our own values.

Each test names the variant it reproduces; each failed on the code before its fix (see the helper report of
helper-72: forwarder IFTSTA D96A with UN/ECE Rec 24 status codes and split date/time DTMs, SMDG BAPLIE 3
with the operator in NAD+CF).
"""

from datetime import timedelta, timezone
from zoneinfo import ZoneInfo

from corridor.domain.events import Classifier, EventKind
from corridor.ingest.edifact import parse_edifact

ZONES = {"AZBAK": ZoneInfo("Asia/Baku"), "KZSCO": ZoneInfo("Asia/Aqtau"), "GEPTI": ZoneInfo("Asia/Tbilisi"),
         "KZAKT": timezone(timedelta(hours=5))}


def parse(text: str):
    return parse_edifact(text.encode("ascii"), tz_for=ZONES.get)


def edi(*segments: str, ref: str = "4711") -> str:
    body = [f"UNH+{ref}+IFTSTA:D:96A:UN", *segments]
    return ("UNB+UNOY:3+FWDCORR+SHIPPERX+260918:1333+90001'" + "'".join(body)
            + f"'UNT+{len(body) + 1}+{ref}'UNZ+1+90001'")


# A forwarder's IFTSTA D96A (LCL, so no EQD): STS C555 carries UN/ECE Rec 24 code 24 "departed" with
# reason 40, the vessel leg as TDT+21 with Rec 19 two-digit mode 10 and means 13, ports LOC+9/LOC+12.
LCL_DEPARTED = edi(
    "BGM+44", "DTM+137:20260826:102", "RFF+SI:SH-55120",
    "CNI+1+DN-80012::000010", "STS+1+24+40", "RFF+BM:BAK/SCO/4410", "DTM+334:20260826:102",
    "TDT+21+31W+10+13+::11:CASPIAN FEEDER LINES+++9100123:::AKTAU STAR:AZ",
    "LOC+9+AZBAK:::Baku port", "LOC+12+KZSCO:::Aktau port", "DTM+132:20260828:102", "DTM+186:20260826:102")


def test_rec24_departed_becomes_a_vessel_departure_at_the_port_of_loading():
    r = parse(LCL_DEPARTED)
    assert r.rejections == []
    (e,) = r.events
    assert (e.kind, e.code, e.classifier) == (EventKind.TRANSPORT, "DEPA", Classifier.ACT)
    assert e.location == "AZBAK" and e.equipment is None
    assert (e.transport_call.mode, e.transport_call.voyage, e.transport_call.vehicle) == ("VESSEL", "31W", "AKTAU STAR")
    assert e.reference("BOL") == "BAK/SCO/4410" and e.extra["status_code"] == "24"


# The FCL form of the same forwarder's messages: Rec 24 code 29 "unloaded", the status time sent as a date
# (DTM+334 format 102) and a separate time of day (DTM+334 format 402), the discharge port as LOC+12.
FCL_UNLOADED = edi(
    "BGM+23+1+9", "DTM+137:20260918:102", "DTM+137:133342:402", "RFF+SI:SH-55121",
    "CNI+1+DN-80013::000010", "STS+1+29", "RFF+BM:BAK/SCO/4411", "DTM+95:20260906:102",
    "DTM+334:20260918:102", "DTM+334:133342:402",
    "TDT+21+32E+10+13+::11:CASPIAN FEEDER LINES+++9100123:::AKTAU STAR:",
    "LOC+9+AZBAK:::Baku port", "LOC+12+KZSCO:::Aktau port", "DTM+133:20260916:102", "DTM+178:20260918:102",
    "EQD+CN+MSKU1234565")


def test_rec24_unloaded_is_a_discharge_at_the_loc12_port_with_the_split_time_of_day():
    r = parse(FCL_UNLOADED)
    assert r.rejections == []
    (e,) = r.events
    assert (e.kind, e.code, e.classifier) == (EventKind.EQUIPMENT, "DISC", Classifier.ACT)
    assert (e.location, e.equipment) == ("KZSCO", "MSKU1234565")
    # 13:33:42 local time in Aktau, not midnight: the 402 time of day belongs to the 102 date
    assert e.event_time.isoformat() == "2026-09-18T13:33:42+05:00"
    assert e.created_at.isoformat() == "2026-09-18T13:33:42+00:00"   # header DTM+137 split the same way
    assert any("sent in two segments" in w for w in r.warnings)


def test_time_of_day_sent_before_its_date_is_still_read_with_it():
    text = FCL_UNLOADED.replace("DTM+334:20260918:102'DTM+334:133342:402", "DTM+334:133342:402'DTM+334:20260918:102")
    r = parse(text)
    assert r.rejections == []
    assert r.events[0].event_time.isoformat() == "2026-09-18T13:33:42+05:00"


def test_a_time_of_day_without_its_date_is_rejected_saying_so():
    text = FCL_UNLOADED.replace("DTM+334:20260918:102'", "")
    r = parse(text)
    assert r.events == []
    (rej,) = r.rejections
    assert "time of day (format 402) without its date" in rej.reason


def test_discharge_place_from_loc12_for_a_letter_status_code_too():
    text = FCL_UNLOADED.replace("STS+1+29", "STS+1+UV")
    r = parse(text)
    assert r.rejections == [] and r.events[0].location == "KZSCO"


def test_a_numeric_status_under_another_agency_is_not_read_as_rec24():
    text = FCL_UNLOADED.replace("STS+1+29", "STS+1+29::ZZZ")
    r = parse(text)
    assert r.events == []
    (rej,) = r.rejections
    assert "not UN/ECE Rec 24" in rej.reason and "ZZZ" in rej.reason


def test_rec24_arrived_at_port_is_a_vessel_arrival():
    text = LCL_DEPARTED.replace("STS+1+24+40", "STS+1+40").replace("DTM+334:20260826:102", "DTM+334:202608281015:203")
    (e,) = parse(text).events
    assert (e.kind, e.code, e.location) == (EventKind.TRANSPORT, "ARRI", "KZSCO")
    assert e.event_time.isoformat() == "2026-08-28T10:15:00+05:00"


# SMDG BAPLIE 3 (D13B, SMDG31): the container operator is NAD+CF (BAPLIE 2 wrote NAD+CA), the container id
# and size type carry code list components, the cell 9711-coded.
BAPLIE3 = ("UNB+UNOA:2+CFLPLAN+TERMBAK+20260430:1159+7001'UNH+7001/1+BAPLIE:D:13B:UN:SMDG31'"
           "BGM+659::LOADONLY+7001/1++38'DTM+137:202604300959:203'"
           "TDT+20+33E+++CFL:LINES:306+++9100123:IMO:296:AKTAU STAR'LOC+5+AZBAK'DTM+136:202604301048:203'UNS+D'"
           "LOC+147+0200688:9711:5'EQD+CN+TGHU7654320:6346:5+42G1:6346:5+++5'NAD+CF+CFL:LINES:306'"
           "MEA+AAE+AET+KGM:22600'LOC+9+AZBAK'LOC+11+KZSCO'CNT+8:1'UNT+16+7001/1'UNZ+1+7001'")


def test_baplie3_operator_from_nad_cf():
    r = parse_edifact(BAPLIE3.encode("ascii"))
    assert r.rejections == []
    (s,) = r.stowage
    assert (s.equipment, s.size_type, s.position, s.operator) == ("TGHU7654320", "42G1", "0200688", "CFL")
    assert (s.port_of_loading, s.port_of_discharge, s.weight_kg) == ("AZBAK", "KZSCO", 22600.0)


def test_split_date_and_time_of_day_for_a_letter_status_code():
    # isolates the DTM 102 + 402 reading from the Rec 24 table: old code read the date alone (midnight)
    text = FCL_UNLOADED.replace("STS+1+29", "STS+1+UV")
    (e,) = parse(text).events
    assert e.event_time.isoformat() == "2026-09-18T13:33:42+05:00"


# An OSJD railway consignment note (IFTMIN D97A, SMGS) as a railway's generator writes it: the acceptance of the
# goods is DTM+143 (no DTM+137), the train leg a bare TDT+21++2, stations by railway code, and the container
# is not an EQD+CN but an EQA+CN ('<number>/<size type>') under the wagon's EQD+RR.
SMGS_NOTE = ("UNB+UNOA:1+KTZWGR::HOST+ADYWGR::HOST+260305:1010+880011++IFTMIN_KTZ++++1'"
             "UNH+880011+IFTMIN:D:97A:UN:OSJD'BGM+722+2700-40117733+9'DTM+143:202603051000:203'TSR++2'"
             "FTX+DCL+++CONTAINER TRANSIT'TOD+6++SD'GOR+1+5'TDT+21++2'"
             "LOC+5+KZAKT:37:288:AKTOBE+KZH'LOC+8+AZBAK:37:288:BAKU+AZD'"
             "NAD+CZ+1200456:Z00++STEPPE TRADING LLP+ABAI 10+AKTOBE+++KZ'NAD+CA+0027:Z13++KTZ'"
             "GID+1+1::::CONTAINER'PIA+5+940360:HS::12'FTX+AAA+++FURNITURE'MEA+WT+G+KGM:18000.000'"
             "EQD+RR+58123456++++5'MEA+WT+T+KGM:24000'MEA+AAE+G+KGM:21800'SEL+KZ7781122'FTX+TDT+++45G1'"
             "NAD+CW+27/1:36:12++STEPPE TRADING LLP'EQA+CN+TGHU7654320/45G1:::5'"
             "EQD+RR+58123464++++5'EQA+CN+MSKU1234565/22G1:::5'"
             "UNT+24+880011'UNZ+1+880011'")


def test_smgs_note_acceptance_from_dtm143_and_containers_from_eqa_on_wagons():
    r = parse(SMGS_NOTE)
    assert r.rejections == []
    receipts = [e for e in r.events if e.code == "RECE"]
    assert [(e.equipment, e.size_type, e.reference("WGN")) for e in receipts] == [
        ("TGHU7654320", "45G1", "58123456"), ("MSKU1234565", "22G1", "58123464")]
    assert {e.location for e in receipts} == {"KZAKT"}
    assert receipts[0].event_time.isoformat() == "2026-03-05T10:00:00+05:00"
    assert receipts[0].reference("SMGS") == "2700-40117733"
