"""DCSA T&T payloads as real senders and the current specs shape them, which the reader mishandled.

Each payload is built here with made-up values; each test failed before the fix it names.
"""

from __future__ import annotations

import copy
import dataclasses
from datetime import datetime, timezone

import pytest

from corridor.domain.events import EventKind
from corridor.ingest import dcsa
from corridor.ingest.dcsa import parse_dcsa
from corridor.store import events as ev
from corridor.store.tables import events as events_table

RECEIVED = datetime(2026, 6, 1, tzinfo=timezone.utc)


def both_paths(raw, sender: str = "carrier"):
    """Parse on the fast and the slow path; assert they agree; return the result."""
    fast = dcsa._parse(copy.deepcopy(raw), sender, RECEIVED, fast=True)
    slow = dcsa._parse(copy.deepcopy(raw), sender, RECEIVED, fast=False)
    seen = lambda r: ([(tuple(getattr(e, f.name) for f in dataclasses.fields(e)), e.extra) for e in r.events],
                      r.rejections, r.warnings)
    assert seen(fast) == seen(slow)
    return fast


def call_22(**kw):
    return {"transportCallID": "TC-0001", "UNLocationCode": "GEPTI", "modeOfTransport": "VESSEL",
            "exportVoyageNumber": "118E", "vessel": {"vesselIMONumber": "9702345", "vesselName": "KAVKAZ TRADER"},
            **kw}


def transport_22(**kw):
    return {"eventID": "0b3f1a52-7a4d-4c0e-9d7e-2f1c5e8a9b01", "eventType": "TRANSPORT",
            "eventClassifierCode": "ACT", "eventDateTime": "2026-04-02T06:30:00+04:00",
            "eventCreatedDateTime": "2026-04-02T06:40:00+04:00", "transportEventTypeCode": "DEPA",
            "transportCall": call_22(), **kw}


def shipment_22(**kw):
    return {"eventID": "5d0c9e11-2b7f-4a35-8c6e-0e4b7a1f2d03", "eventType": "SHIPMENT",
            "eventClassifierCode": "ACT", "eventDateTime": "2026-03-20T09:00:00Z",
            "eventCreatedDateTime": "2026-03-20T09:00:00Z", "shipmentEventTypeCode": "CONF",
            "documentID": "BKPTI0042", "documentTypeCode": "BKG", **kw}


def event_30(classification, **kw):
    return {"eventID": "ev-30-1", "eventDateTime": "2026-04-02T06:30:00+04:00",
            "eventUpdatedDateTime": "2026-04-02T06:31:00+04:00", "eventClassification": classification, **kw}


# ---- DCSA 3.0 (2026 snapshot): reference types are named `type` and given as words ----------
def test_snapshot_reference_type_words_are_taken():
    """The 2026 snapshot names DocumentReference/ShipmentReference's type `type` with words
    (BOOKING, TRANSPORT_DOCUMENT, FREIGHT_FORWARDERS_REFERENCE); they were refused as missing typeCode."""
    e = event_30({"eventType": "SHIPMENT", "eventClassifier": "ACTUAL", "shipmentEventType": "CONFIRMED"},
                 shipmentDetails={"documentReference": {"type": "BOOKING", "reference": "BKPTI0042"},
                                  "additionalDocumentReferences": [{"type": "TRANSPORT_DOCUMENT",
                                                                    "reference": "BLPTI0042"}],
                                  "shipmentReferences": [{"type": "FREIGHT_FORWARDERS_REFERENCE",
                                                          "reference": "FF-77"}]})
    r = parse_dcsa({"events": [e]}, received_at=RECEIVED)
    assert r.rejections == []
    [shipment] = r.events
    assert shipment.references == (("BKG", "BKPTI0042"), ("BOL", "BLPTI0042"), ("FF", "FF-77"))


def test_reference_without_any_type_is_still_refused_by_name():
    e = event_30({"eventTypeCode": "SHIPMENT", "eventClassifierCode": "ACT", "shipmentEventTypeCode": "CONF"},
                 shipmentDetails={"documentReference": {"reference": "BKPTI0042"}})
    [rej] = parse_dcsa({"events": [e]}, received_at=RECEIVED).rejections
    assert rej.element == "events[0].shipmentDetails.documentReference" and "typeCode" in rej.reason


# ---- DCSA 2.2: a shipment event with documentReferences ------------------------------------
def test_shipment_event_with_document_references_is_kept():
    """2.3 and carriers' 2.2 feeds give shipment events documentReferences: the event was refused as
    'unreadable' (an AttributeError on the undeclared key)."""
    r = both_paths([shipment_22(documentReferences=[
        {"documentReferenceType": "TRD", "documentReferenceValue": "BLPTI0042"}])])
    assert r.rejections == [] and r.warnings == []
    [e] = r.events
    assert e.references == (("BKG", "BKPTI0042"), ("BOL", "BLPTI0042"))


def test_malformed_document_references_on_a_shipment_event_are_left_out_with_a_warning():
    r = both_paths([shipment_22(documentReferences=[
        {"documentReferenceType": "BKG (Booking)", "documentReferenceValue": "X1"},
        {"documentReferenceType": "BKG", "documentReferenceValue": "BKPTI0042"}])])
    assert r.rejections == []
    [e] = r.events
    assert e.references == (("BKG", "BKPTI0042"), ("BKG", "BKPTI0042"))
    [warning] = r.warnings
    assert "[0].documentReferences[0]" in warning and "left out, the event is kept" in warning


# ---- DCSA 2.2: vesselScheduleChangeRemark ---------------------------------------------------
def test_vessel_schedule_change_remark_is_the_reason_when_alone():
    """2.2 defines the deprecated vesselScheduleChangeRemark beside changeRemark; given alone it
    was dropped without a word."""
    r = both_paths([transport_22(delayReasonCode="WEA", vesselScheduleChangeRemark="Storm on the Black Sea")])
    [e] = r.events
    assert e.reason == "Storm on the Black Sea" and e.extra["delay_reason"] == "WEA"


def test_both_remarks_as_dcsa_writes_them_and_a_differing_one_kept():
    same = both_paths([transport_22(changeRemark="Berth congestion", vesselScheduleChangeRemark="Berth congestion")])
    assert same.events[0].reason == "Berth congestion"
    assert "vessel_schedule_change_remark" not in same.events[0].extra
    other = both_paths([transport_22(changeRemark="Berth congestion", vesselScheduleChangeRemark="Pilot delay")])
    assert other.events[0].reason == "Berth congestion"
    assert other.events[0].extra["vessel_schedule_change_remark"] == "Pilot delay"


# ---- DCSA 3.0: retracted events -------------------------------------------------------------
def test_retraction_with_its_event_id_alone_is_a_warning_not_a_rejection():
    """3.0: once isRetracted is set only eventID matters; such an event was refused for having
    no eventClassification."""
    r = parse_dcsa({"events": [{"eventID": "ev-30-1", "isRetracted": True}]}, received_at=RECEIVED)
    assert r.rejections == [] and r.events == []
    assert "'ev-30-1' is retracted" in r.warnings[0]
    single = parse_dcsa({"eventID": "ev-30-1", "isRetracted": True}, received_at=RECEIVED)
    assert single.rejections == [] and "retracted" in single.warnings[0]


def test_a_full_retracted_event_is_not_stored_as_live():
    e = event_30({"eventTypeCode": "TRANSPORT", "eventClassifierCode": "ACT", "transportEventTypeCode": "ARRI"},
                 isRetracted=True, transportDetails={"transportCall": {"modeOfTransport": "VESSEL"}})
    r = parse_dcsa({"events": [e]}, received_at=RECEIVED)
    assert r.events == [] and r.rejections == [] and "retracted" in r.warnings[0]


def test_retraction_without_event_id_is_refused_by_name():
    [rej] = parse_dcsa({"events": [{"isRetracted": True}]}, received_at=RECEIVED).rejections
    assert rej.element == "events[0].eventID" and "retract" in rej.reason


# ---- DCSA 3.0: seals and vessel details were dropped ----------------------------------------
def test_30_seals_and_vessel_details_are_kept_as_22_gives_them_back():
    tc = {"modeOfTransport": "VESSEL", "exportVoyageNumberOrReference": {"carrierVoyageNumber": "118E"},
          "vesselTransport": {"vesselIMONumber": "9702345", "vesselName": "KAVKAZ TRADER", "vesselFlag": "GE",
                              "vesselCallSign": "4LKT", "operatorCarrierCode": "KTRD",
                              "operatorCarrierCodeListProvider": "SMDG"}}
    e = event_30({"eventType": "EQUIPMENT", "eventClassifier": "ACTUAL", "equipmentEventType": "LOADED"},
                 eventLocation={"UNLocationCode": "GEPTI"}, transportDetails={"transportCall": tc},
                 equipmentDetails={"equipmentReference": "MSKU1234565", "emptyIndicator": "LADEN",
                                   "seals": [{"number": "GE771", "source": "CUSTOMS", "type": "BOLT"},
                                             {"number": "GE772", "source": "TERMINAL", "type": "WIRE"},
                                             {"number": "GE773"}]})
    r = parse_dcsa({"events": [e]}, received_at=RECEIVED)
    [box] = r.events
    assert box.extra["seals"] == [{"sealNumber": "GE771", "sealSource": "CUS", "sealType": "BLT"},
                                  {"sealNumber": "GE772", "sealType": "WIR"}]
    assert "seals[2]" in r.warnings[0] and "left out" in r.warnings[0]
    assert (box.extra["vessel_flag"], box.extra["vessel_call_sign"], box.extra["vessel_operator"],
            box.extra["vessel_operator_list"]) == ("GE", "4LKT", "KTRD", "SMDG")


# ---- DCSA 3.0: MULTIMODAL ------------------------------------------------------------------
def test_multimodal_call_is_held_by_the_mode_it_names():
    """A MULTIMODAL call became TransportCall.mode 'MULTIMODAL', wider than the store's column
    (PostgreSQL refused the whole file) and no mode GET /v2/events can give back."""
    tc = {"modeOfTransport": "MULTIMODAL", "railTransport": {"railServiceReference": "KZ-8412"}}
    e = event_30({"eventTypeCode": "TRANSPORT", "eventClassifierCode": "ACT", "transportEventTypeCode": "DEPA"},
                 eventLocation={"UNLocationCode": "KZDOS"}, transportDetails={"transportCall": tc})
    [depa] = parse_dcsa({"events": [e]}, received_at=RECEIVED).events
    assert (depa.transport_call.mode, depa.transport_call.voyage) == ("RAIL", "KZ-8412")
    assert depa.extra["dcsa_mode"] == "MULTIMODAL"


def test_multimodal_call_naming_no_single_mode_skips_a_transport_event_with_a_warning():
    tc = {"modeOfTransport": "MULTIMODAL", "railTransport": {"railServiceReference": "KZ-8412"},
          "truckTransport": {"tractorDetails": {"licensePlate": "01KZ123"}}}
    e = event_30({"eventTypeCode": "TRANSPORT", "eventClassifierCode": "ACT", "transportEventTypeCode": "DEPA"},
                 eventLocation={"UNLocationCode": "KZDOS"}, transportDetails={"transportCall": tc})
    r = parse_dcsa({"events": [e]}, received_at=RECEIVED)
    assert r.events == [] and r.rejections == [] and "MULTIMODAL" in r.warnings[0]


# ---- values longer than the store's columns -------------------------------------------------
def test_store_widths_are_the_events_table_columns():
    for name, width in dcsa._STORED_WIDTHS.items():
        assert events_table.c[name].type.length == width, name


def long_values():
    """Spec-valid values wider than the store's columns: a 2.2 voyage of 45 (2.2 allows 50), a 2.2
    booking reference of 45 (no limit), a 3.0 eventID of 120 (3.0 allows 500) and railCarReference
    of 20 (3.0 allows 50)."""
    voyage, booking = "V" * 44 + "1", "BK" * 22 + "9"
    e22 = transport_22(transportCall=call_22(exportVoyageNumber=voyage),
                       documentReferences=[{"documentReferenceType": "BKG", "documentReferenceValue": booking}])
    e30 = event_30({"eventTypeCode": "TRANSPORT", "eventClassifierCode": "ACT", "transportEventTypeCode": "DEPA"},
                   eventID="ev-" + "7" * 117, eventLocation={"UNLocationCode": "KZDOS"},
                   transportDetails={"transportCall": {"modeOfTransport": "RAIL", "railTransport": {
                       "railServiceReference": "KZ-8412", "railCarReference": "WAGON-5590-0012-3456"}}})
    return voyage, booking, e22, e30


def test_values_wider_than_the_store_are_fitted_and_kept_whole_in_extra():
    voyage, booking, e22, e30 = long_values()
    r22 = both_paths([e22])
    [depa] = r22.events
    assert len(depa.transport_call.voyage) == 40 and depa.transport_call.voyage.startswith("V" * 31 + "~")
    assert depa.extra["voyage_sent"] == voyage and depa.extra["booking_ref_sent"] == booking
    assert len(depa.reference("BKG")) == 40
    assert len(r22.warnings) == 2 and "longer than the 40 characters" in r22.warnings[0]
    [rail] = parse_dcsa({"events": [e30]}, received_at=RECEIVED).events
    assert len(rail.event_id) == 100 and rail.extra["event_id_sent"] == e30["eventID"]
    assert len(rail.transport_call.wagon) == 12 and rail.extra["wagon_sent"] == "WAGON-5590-0012-3456"
    # distinct values stay distinct, the same value fits the same way (re-sends stay duplicates)
    other = parse_dcsa({"events": [{**e30, "eventID": e30["eventID"][:-1] + "8"}]}, received_at=RECEIVED).events[0]
    assert other.event_id != rail.event_id
    again = parse_dcsa({"events": [e30]}, received_at=RECEIVED).events[0]
    assert again.event_id == rail.event_id


def test_values_wider_than_the_store_are_stored(store):
    """On PostgreSQL these events made the insert fail (value too long for character varying),
    and with it the whole file."""
    *_, e22, e30 = long_values()
    batch = parse_dcsa([e22], received_at=RECEIVED).events + parse_dcsa({"events": [e30]}, received_at=RECEIVED).events
    assert len(batch) == 2
    with store.tx() as conn:
        stored, dups = ev.append(conn, batch, RECEIVED)
    assert len(stored) == 2 and dups == []
    with store.read() as conn:
        back = [ev.row_to_event(row) for row in conn.execute(ev.select_events()).all()]
    assert {e.kind for e in back} == {EventKind.TRANSPORT}
    assert {e.extra.get("voyage_sent") for e in back} == {e22["transportCall"]["exportVoyageNumber"], None}


@pytest.mark.parametrize("width_name", ["booking_ref", "event_id", "service", "vehicle", "voyage", "wagon"])
def test_fitted_value_has_the_width(width_name):
    width = dcsa._STORED_WIDTHS[width_name]
    assert len(dcsa._fitted("x" * (width + 1), width)) == width


def test_a_fitted_voyage_goes_back_out_as_the_sender_wrote_it():
    """GET /v2/events gave back the stored (fitted) voyage, not the one the carrier sent."""
    from corridor.tracking.dcsa_out import to_dcsa_22
    voyage, _booking, e22, _e30 = long_values()
    [depa] = parse_dcsa([e22], received_at=RECEIVED).events
    out = to_dcsa_22(depa, "ev-1", RECEIVED)
    assert out["transportCall"]["exportVoyageNumber"] == voyage


def test_a_bare_retraction_is_read_as_dcsa():
    """A 3.0 retraction sent on its own ({eventID, isRetracted}) was 'unrecognised format'."""
    from corridor.ingest.detect import detect_format as detect
    assert detect(b'{"eventID": "ev-30-1", "isRetracted": true}', "retract.json") == "dcsa-json"
