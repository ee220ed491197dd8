"""DCSA TNT JSON in: DCSA's own conformance examples, valid and deliberately wrong."""

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from corridor.domain.events import Classifier, EventKind
from corridor.ingest.dcsa import offset_datetime, parse_dcsa, un_location_code

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "standards" / "dcsa-tnt" / "examples"
pytestmark = pytest.mark.skipif(not EXAMPLES.is_dir(), reason=f"DCSA examples not found at {EXAMPLES}")
RECEIVED = datetime(2026, 6, 1, tzinfo=timezone.utc)   # after every example's event time


def parse(name: str, **kw):
    return parse_dcsa((EXAMPLES / name).read_bytes(), source_party="carrier", received_at=RECEIVED, **kw)


def by_segment(result):
    return {r.segment: r for r in result.rejections}


def test_valid_220_response_parses_fully():
    r = parse("tnt-220-response.json")
    assert r.rejections == [] and len(r.events) == 7
    arri = r.events[0]
    assert (arri.kind, arri.code, arri.classifier) == (EventKind.TRANSPORT, "ARRI", Classifier.ACT)
    assert arri.event_time.isoformat() == "2021-01-09T14:12:56+01:00"   # sender's offset kept
    assert arri.created_at == datetime(2021, 1, 23, 12, 34, 56, tzinfo=timezone.utc)
    assert arri.event_id == "3cecb101-7a1a-43a4-9d62-e88a131651e2"
    tc = arri.transport_call
    assert (tc.mode, tc.location, tc.facility_code, tc.facility_type, tc.voyage, tc.service, tc.vehicle) == (
        "VESSEL", "FRPAR", "ADT", "POTE", "2103S", "FE1", "9321483")
    assert arri.extra["vessel_name"] == "King of the Seas"
    assert arri.reference("BKG") == "ABC123123123" and arri.reference("BOL") == "reserved-HHL123"
    assert arri.reason == "Bad weather" and arri.parties == frozenset({"carrier"})

    load = r.events[2]
    assert (load.kind, load.code, load.classifier) == (EventKind.EQUIPMENT, "LOAD", Classifier.EST)
    assert (load.equipment, load.size_type, load.empty, load.location) == ("APZU4812090", "22GP", True, "FRPAR")
    assert (load.lat, load.lon) == (48.85855, 2.294492036)
    assert r.events[3].lat == 48.85855   # a transport event's position comes from transportCall.location

    shipment = r.events[1]
    assert (shipment.kind, shipment.code, shipment.references[0]) == (EventKind.SHIPMENT, "DRFT", ("SHI", "reserved-HHL123"))
    assert r.meta["dcsa_versions"] == ["2.2"]


def test_wrong_structure_names_what_was_found():
    r = parse("tnt-220-response-wrong-structure.json")
    assert r.events == [] and [x.segment for x in r.rejections] == [0, 1]
    assert r.rejections[0].element == "[0].eventType"
    assert "keys found: someEvents" in r.rejections[0].reason


def test_wrong_date_times_are_rejected_one_by_one():
    r = parse("tnt-220-response-wrong-date-times.json")
    assert len(r.events) == 1 and r.events[0].event_id is None   # eventID is optional in 2.2
    bad = by_segment(r)
    assert sorted(bad) == [1, 2, 3, 4, 5, 6]
    assert bad[1].element == "[1].eventCreatedDateTime" and "is required" in bad[1].reason
    assert bad[2].element == "[2].eventDateTime" and "is required" in bad[2].reason
    assert bad[3].element == "[3].eventCreatedDateTime" and "'2021 01 01 14:12:56'" in bad[3].reason
    assert bad[4].element == "[4].eventDateTime" and "UTC offset" in bad[4].expected
    assert "cannot be created (1999-01-01T14:12:56+00:00) before it happened" in bad[5].reason
    assert "2099-01-01T14:12:56+00:00 lies in the future" in bad[6].reason


def test_wrong_event_ids_and_duplicates():
    r = parse("tnt-220-response-wrong-event-ids.json")
    bad = by_segment(r)
    assert sorted(bad) == [0, 1, 3, 6] and len(r.events) == 3
    assert bad[0].reason == "[0].eventID: must be a UUID string, got int 123456789"
    assert bad[1].reason == "[1].eventID: 'incorrect' is not a UUID" and bad[1].message_ref == "incorrect"
    assert bad[3].reason == "eventID 3cecb101-7a1a-43a4-9d62-e88a131651e8 repeats event [2]"
    assert bad[6].element == "[6].eventID"


def test_wrong_attribute_values_name_each_field():
    r = parse("tnt-220-response-wrong-attribute-values.json")
    bad = by_segment(r)
    assert sorted(bad) == [0, 2]
    assert bad[0].element == "[0].transportCall.UNLocationCode"
    assert "'XY' is not an ISO 3166 country code" in bad[0].reason
    assert "[2].equipmentReference: container number 'APZU2134567': check digit 7 is wrong, expected 4" in bad[2].reason
    assert "[2].eventLocation.UNLocationCode" in bad[2].reason
    # VOID of an arrival notice is schema-valid: it passes
    assert [(e.code, e.references[0][0]) for e in r.events] == [("VOID", "ARN")]


@pytest.mark.parametrize("name", ["tnt-300-request-equipment.json", "tnt-300-request-transport.json",
                                  "tnt-300-request-shipment.json", "tnt-300-response.json",
                                  "tnt-300-response-nextpage.json", "tnt-300-request-iot.json",
                                  "tnt-300-request-reefer.json"])
def test_300_examples_have_no_rejections(name):
    r = parse(name)
    assert r.rejections == []
    raw = json.loads((EXAMPLES / name).read_text())["events"]
    # every event is either mapped or skipped with a warning that says why
    skipped = [w for w in r.warnings if "skipped" in w]
    assert len(r.events) + len(skipped) == len(raw)
    assert r.meta["dcsa_versions"] == ["3.0"]


def test_300_mapping():
    r = parse("tnt-300-response.json")
    depa, gtin, posi = r.events[1], r.events[2], r.events[3]
    assert (depa.code, depa.location, depa.transport_call.voyage, depa.transport_call.vehicle) == (
        "DEPA", "GBSOU", "V002E", "7654321")
    assert depa.created_at.isoformat() == "2025-01-25T01:23:45+00:00"   # eventUpdatedDateTime
    assert (gtin.equipment, gtin.size_type, gtin.empty, gtin.extra["transport_phase"]) == (
        "APZU4812090", "45G1", True, "IMPORT")
    assert (posi.kind, posi.code, posi.lat, posi.lon) == (EventKind.IOT, "POSI", 51.5074, -0.1278)
    assert any("REEFER" in w and "MEAS" in w for w in r.warnings)
    door = parse("tnt-300-request-iot.json")
    assert door.events == [] and "'iotEventCode': 'DRO'" in door.warnings[0]


def test_300_snapshot_full_words_and_rail():
    event = {"eventID": "r1", "eventDateTime": "2025-03-02T08:00:00+05:00",
             "eventClassification": {"eventType": "TRANSPORT", "eventClassifier": "ACTUAL",
                                     "transportEventType": "DEPARTED"},
             "eventLocation": {"UNLocationCode": "KZDOS", "facilityType": "BORDER"},
             "transportDetails": {"transportCall": {
                 "modeOfTransport": "RAIL",
                 "railTransport": {"railServiceReference": "KZ-8412", "railCarReference": "95123456"}}}}
    r = parse_dcsa(event, received_at=RECEIVED)
    [e] = r.events
    assert (e.code, e.classifier, e.location) == ("DEPA", Classifier.ACT, "KZDOS")
    assert (e.transport_call.mode, e.transport_call.voyage, e.transport_call.wagon,
            e.transport_call.facility_type) == ("RAIL", "KZ-8412", "95123456", "BOCR")


def test_300_unknown_code_is_rejected_with_vocabulary():
    event = {"eventDateTime": "2025-03-02T08:00:00Z",
             "eventClassification": {"eventTypeCode": "EQUIPMENT", "eventClassifierCode": "ACT",
                                     "equipmentEventTypeCode": "LODE"}}
    [rej] = parse_dcsa({"events": [event]}, received_at=RECEIVED).rejections
    assert rej.element == "events[0].eventClassification.equipmentEventTypeCode"
    assert "'LODE'" in rej.reason and "LOAD" in rej.expected


def test_enum_and_required_errors_name_path_and_expected():
    base = json.loads((EXAMPLES / "tnt-220-response.json").read_text())[0]
    wrong = dict(base, eventClassifierCode="REAL",
                 transportCall={**base["transportCall"], "modeOfTransport": "CAMEL"})
    r = parse_dcsa([base | {"eventID": None}, wrong], received_at=RECEIVED)
    assert [e.code for e in r.events] == ["ARRI"]   # eventID null is as good as absent
    [rej] = [x for x in r.rejections if x.segment == 1]
    assert rej.element == "[1].eventClassifierCode"
    assert rej.expected == "one of ACT, PLN or EST"
    assert "[1].transportCall.modeOfTransport" in rej.reason


@pytest.mark.parametrize("raw, reason", [
    (b"\xff\xfe{", "not UTF-8"), ("[{", "not JSON"), ("42", "not a DCSA event payload"),
    ('{"hello": 1}', "not a DCSA event payload"), ("[1, null]", "not an event object"),
    ('[{"eventType": "WEATHER"}]', "not a DCSA 2.2 event type"),
    ('[{"eventType": ["TRANSPORT"]}]', "not a DCSA 2.2 event type"),
    ('[{"eventClassification": 5, "eventDateTime": "x"}]', "eventClassification"),
])
def test_never_raises(raw, reason):
    r = parse_dcsa(raw)
    assert r.events == [] and reason in r.rejections[0].reason


def test_good_siblings_pass_and_single_object_accepted():
    good = json.loads((EXAMPLES / "tnt-220-response.json").read_text())[1]
    r = parse_dcsa(good, received_at=RECEIVED)
    assert len(r.events) == 1 and r.rejections == []
    r = parse_dcsa([good, {**good, "eventDateTime": "2019-11-12T07:41:00"}], received_at=RECEIVED)
    assert len(r.events) == 1 and r.rejections[0].element == "[1].eventDateTime"


def test_field_types():
    assert offset_datetime("2024-03-01T10:00:00.1234567+05:00").utcoffset().total_seconds() == 5 * 3600
    for bad in ("2024-03-01T10:00:00", "2024-02-30T10:00:00Z", "2024-03-01 10:00:00Z", 20240301):
        with pytest.raises(ValueError):
            offset_datetime(bad)
    assert un_location_code("KZAAU") == "KZAAU"
    for bad in ("kzaau", "KZAA1", "QQAAU", "KZ_AKX"):
        with pytest.raises(ValueError):
            un_location_code(bad)


# any JSON at all, including event-shaped objects with wrong types, gives a result, never an exception
from hypothesis import given, settings, strategies as st  # noqa: E402

_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                         st.sampled_from(["eventType", "eventClassification", "eventDateTime", "events",
                                          "transportCall", "eventCreatedDateTime", "x"]), inner, max_size=5),
                     max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(_json)
def test_fuzz_never_raises(value):
    r = parse_dcsa(value, received_at=RECEIVED)
    assert all(e.event_time.tzinfo is not None for e in r.events)
