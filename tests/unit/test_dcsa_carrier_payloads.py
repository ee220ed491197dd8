"""DCSA T&T payloads shaped as carriers' and platforms' feeds send them (round 2).

Each payload is written here with made-up values, modelled on public material: a Maersk T&T sample
response (carrier-minted eventID "6832920321", vesselIMONumber as a JSON number), an MSC 2.2 response
(`eventId`, ids such as "1075525830" and "ACT2022-11-17T04:00:00:00+09:00", a `description` field,
nulls everywhere), HMM ids ("CTP201116000556832011"), vendor fields (_links, carrierCode,
eventUpdatedDateTime in 2.2, metadata), date-times without seconds or with +0000, UN/LOCODEs
written "CN SHA", "" for coded fields and webhook bodies that wrap the events.
Each test failed on the reader before this round.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from corridor.ingest.dcsa import parse_dcsa
from corridor.ingest.detect import detect_format
from corridor.ingest.service import Ingestor, parse
from corridor.store.tables import events as events_table

from test_dcsa_payloads_seen import both_paths as seen_paths  # noqa: E402 - the two-path check

RECEIVED = datetime(2026, 6, 1, tzinfo=timezone.utc)


def both_paths(raw):
    """Parse on the fast and the slow path as MSCU; assert they agree; return the result."""
    return seen_paths(raw, "MSCU")


def call(**kw):
    return {"transportCallID": "CNSHAUK244A", "UNLocationCode": "CNSHA", "modeOfTransport": "VESSEL",
            "exportVoyageNumber": "UK244A", "vessel": {"vesselIMONumber": "9400289", "vesselName": "NAVARINO"}, **kw}


def load(**kw):
    return {"eventID": "0b3f1a52-7a4d-4c0e-9d7e-2f1c5e8a9b01", "eventType": "EQUIPMENT", "eventClassifierCode": "ACT",
            "eventDateTime": "2026-04-02T10:04:00+08:00", "eventCreatedDateTime": "2026-04-02T10:10:00+08:00",
            "equipmentEventTypeCode": "LOAD", "equipmentReference": "MSCU5956818", "ISOEquipmentCode": "45G1",
            "emptyIndicatorCode": "LADEN", "eventLocation": {"UNLocationCode": "CNSHA"}, **kw}


def departure(**kw):
    return {"eventID": "5d0c9e11-2b7f-4a35-8c6e-0e4b7a1f2d03", "eventType": "TRANSPORT", "eventClassifierCode": "ACT",
            "eventDateTime": "2026-04-02T18:00:00+08:00", "eventCreatedDateTime": "2026-04-02T18:05:00+08:00",
            "transportEventTypeCode": "DEPA", "transportCall": call(), **kw}


# ---- eventIDs the carriers mint themselves -------------------------------------------------
def test_carrier_minted_event_ids_are_kept_with_one_warning():
    """Maersk, MSC and HMM name events by their own ids: every such event was refused as 'not a UUID'."""
    ids = ["1075525830", "ACT2022-11-17T04:00:00:00+09:00", "CTP201116000556832011"]
    r = both_paths([load(eventID=ids[0]), load(eventID=ids[1], equipmentEventTypeCode="DISC"),
                    departure(eventID=ids[2])])
    assert r.rejections == []
    assert [e.event_id for e in r.events] == ids
    [warning] = r.warnings
    assert "sender's own ids" in warning and "(3 events, first at [0])" in warning
    # a word (DCSA's own example of a wrong eventID) or a JSON number is still no eventID
    bad = both_paths([load(eventID="incorrect"), load(eventID=6832920321)])
    assert bad.events == [] and [x.element for x in bad.rejections] == ["[0].eventID", "[1].eventID"]
    assert "'incorrect' is not a UUID" in bad.rejections[0].reason and "got int" in bad.rejections[1].reason


def test_a_carrier_id_sent_twice_is_a_repeat():
    r = both_paths([load(eventID="1075525830"), load(eventID="1075525830", equipmentEventTypeCode="DISC")])
    [repeat] = r.rejections
    assert repeat.element == "[1].eventID" and "repeats event [0]" in repeat.reason


def test_msc_event_id_spelling_is_read():
    """MSC writes `eventId`: it was an unknown key, so the event was stored without its id (and a
    re-send was stored again)."""
    raw = load(eventID=None, eventId="1073821792")
    del raw["eventID"]
    r = both_paths([raw])
    [e] = r.events
    assert e.event_id == "1073821792" and "unknown_fields" not in e.extra
    assert any(w.startswith("eventId read as eventID") for w in r.warnings)


def test_vessel_imo_number_as_a_json_number():
    """Maersk's sample sends "vesselIMONumber": 1801323: the event was refused as not a string."""
    r = both_paths([departure(transportCall=call(vessel={"vesselIMONumber": 9400289, "vesselName": "NAVARINO"}))])
    [e] = r.events
    assert e.transport_call.vehicle == "9400289"
    assert r.warnings == ["vesselIMONumber given as a JSON number read as its 7 digits: 9400289 (1 event, first at [0])"]
    short = both_paths([departure(transportCall=call(vessel={"vesselIMONumber": 940028, "vesselName": "X"}))])
    assert short.events == [] and short.rejections[0].element == "[0].transportCall.vessel.vesselIMONumber"


# ---- vendor fields --------------------------------------------------------------------------
def test_vendor_fields_are_kept_in_extra_and_warned_once():
    """_links, carrierCode, eventUpdatedDateTime (2.2 has none), metadata and MSC's description were
    dropped without a word."""
    vessel = {"vesselIMONumber": "9400289", "vesselName": "NAVARINO", "vesselOperatorCarrierCodeList": None,
              "vesselType": "CONTAINER"}
    first = load(_links={"self": {"href": "/v2/events/1"}}, carrierCode="MSCU",
                 eventUpdatedDateTime="2026-04-02T10:12:00+08:00", metadata={"source": "EDI-315"},
                 description="Export Loaded on Vessel", transportCall=call(vessel=vessel))
    second = departure(description="Vessel Departure")
    r = both_paths([first, second])
    assert r.rejections == []
    box, ship = r.events
    assert box.extra["unknown_fields"] == {
        "_links": {"self": {"href": "/v2/events/1"}}, "carrierCode": "MSCU",
        "eventUpdatedDateTime": "2026-04-02T10:12:00+08:00", "metadata": {"source": "EDI-315"},
        "description": "Export Loaded on Vessel", "transportCall.vessel.vesselType": "CONTAINER"}
    assert ship.extra["unknown_fields"] == {"description": "Vessel Departure"}
    [warning] = r.warnings   # once per message, not once per event
    assert warning.startswith("fields DCSA does not define, kept in each event's extra unknown_fields: _links, ")
    assert "description" in warning and "(2 events, first at [0])" in warning
    assert "vesselOperatorCarrierCodeList" not in warning   # a null carries nothing
    plain = both_paths([load(ISOEquipmentCode=None, references=None, seals=None, transportCall=None)])
    assert plain.warnings == [] and "unknown_fields" not in plain.events[0].extra


# ---- date-times -----------------------------------------------------------------------------
def test_date_times_without_seconds_or_with_an_offset_without_colon_are_read():
    r = both_paths([load(eventDateTime="2026-04-02T10:04+08:00", eventCreatedDateTime="2026-04-02T02:10:00+0000"),
                    load(eventID=None, eventDateTime="2026-04-02 10:04:00.250+08", eventCreatedDateTime="2026-04-02T02:10Z")])
    assert r.rejections == []
    first, second = r.events
    assert first.event_time == datetime(2026, 4, 2, 2, 4, tzinfo=timezone.utc)
    assert first.created_at == datetime(2026, 4, 2, 2, 10, tzinfo=timezone.utc)
    assert second.event_time == datetime(2026, 4, 2, 2, 4, 0, 250000, tzinfo=timezone.utc)
    assert first.event_time.utcoffset() == timedelta(hours=8)
    [warning] = r.warnings
    assert "'2026-04-02T10:04+08:00'" in warning and "'2026-04-02T02:10:00+0000'" in warning and "2 events" in warning
    # without an offset the instant is not known: still refused
    [rej] = both_paths([load(eventDateTime="2026-04-02T10:04", eventCreatedDateTime="2026-04-02T10:10:00+08:00")]).rejections
    assert rej.element == "[0].eventDateTime" and "UTC offset" in rej.reason


# ---- places and codes ------------------------------------------------------------------------
def test_a_un_locode_written_with_a_space_is_read():
    r = both_paths([load(eventLocation={"UNLocationCode": "CN SHA"}),
                    departure(transportCall=call(UNLocationCode="CN SHA"))])
    assert [e.location for e in r.events] == ["CNSHA", "CNSHA"]
    assert r.warnings == ["UN/LOCODEs written with a space read without it: 'CN SHA' (2 events, first at [0])"]


def test_empty_strings_for_coded_fields_are_absent_and_a_required_one_is_missing():
    """"" for facilityTypeCode, UNLocationCode or vesselIMONumber refused the whole event."""
    tc = call(facilityTypeCode="", facilityCodeListProvider="", carrierServiceCode="",
              vessel={"vesselIMONumber": "", "vesselName": "NAVARINO"})
    r = both_paths([departure(transportCall=tc), load(eventID="", eventLocation={"UNLocationCode": "", "locationName": "SHANGHAI"}),
                    load(eventID=None, eventClassifierCode="")])
    ship, box = r.events
    assert ship.transport_call.facility_type is None and ship.transport_call.vehicle == "NAVARINO"
    assert ship.transport_call.service == ""   # a free text keeps what was sent
    assert box.event_id is None and box.location is None
    [missing] = r.rejections
    assert missing.element == "[2].eventClassifierCode" and "is required" in missing.reason
    [empties] = [w for w in r.warnings if w.startswith("empty strings for coded fields read as absent: ")]
    assert "transportCall.facilityTypeCode" in empties and "eventLocation.UNLocationCode" in empties


def test_a_lower_case_code_is_refused_naming_the_code():
    r = both_paths([load(eventClassifierCode="act"), departure(transportCall=call(modeOfTransport="Truck", vessel=None)),
                    departure(eventID=None, transportCall=call(modeOfTransport="ROAD", vessel=None))])
    assert r.events == []
    assert "the codes are upper case: ACT" in r.rejections[0].reason
    assert "the codes are upper case: TRUCK" in r.rejections[1].reason
    assert "upper case" not in r.rejections[2].reason   # an unknown code is not guessed


# ---- webhook bodies -------------------------------------------------------------------------
def test_a_notification_that_wraps_the_events_under_data_is_read():
    body = {"subscriptionId": "sub-77", "eventType": "dcsa.tnt.event", "data": [load(), departure()]}
    raw = json.dumps(body).encode()
    assert detect_format(raw, "callback.json") == "dcsa-json"
    r = parse(raw, "dcsa-json", "MSCU", RECEIVED)
    assert [e.code for e in r.events] == ["LOAD", "DEPA"] and r.rejections == []
    assert "notification's 'data'" in r.warnings[0]
    bad = parse(json.dumps({"data": [load(eventClassifierCode="XXX")]}).encode(), "dcsa-json", "MSCU", RECEIVED)
    assert bad.rejections[0].element == "data[0].eventClassifierCode"
    # two candidate wrappers: which one is meant is not guessed
    two = parse_dcsa({"data": [load()], "payload": [departure()]}, received_at=RECEIVED)
    assert two.events == [] and "not a DCSA event payload" in two.rejections[0].reason


def test_payload_events_and_a_single_wrapped_event_have_their_paths():
    nested = json.dumps({"notificationID": "n-1", "payload": {"events": [load(eventClassifierCode="XXX")]}}).encode()
    assert detect_format(nested, None) == "dcsa-json"
    assert parse(nested, "dcsa-json", "MSCU", RECEIVED).rejections[0].element == "payload.events[0].eventClassifierCode"
    one = json.dumps({"specversion": "1.0", "data": load(eventClassifierCode="XXX")}).encode()
    assert detect_format(one, None) == "dcsa-json"
    assert parse(one, "dcsa-json", "MSCU", RECEIVED).rejections[0].element == "data.eventClassifierCode"


# ---- DCSA 3.0 -------------------------------------------------------------------------------
def test_30_vendor_fields_loose_time_and_spaced_locode():
    e = {"eventID": "ev-30-1", "eventDateTime": "2026-04-02T10:04+0800", "eventUpdatedDateTime": "2026-04-02T10:05:00+08:00",
         "eventClassification": {"eventType": "EQUIPMENT", "eventClassifier": "ACTUAL", "equipmentEventType": "LOADED"},
         "eventLocation": {"UNLocationCode": "CN SHA", "terminalName": "Yangshan"},
         "equipmentDetails": {"equipmentReference": "MSCU5956818", "emptyIndicator": "LADEN"},
         "_links": {"self": {"href": "/events/ev-30-1"}}}
    r = parse_dcsa({"events": [e]}, received_at=RECEIVED)
    assert r.rejections == []
    [box] = r.events
    assert box.location == "CNSHA" and box.event_time == datetime(2026, 4, 2, 2, 4, tzinfo=timezone.utc)
    assert box.extra["unknown_fields"] == {"_links": {"self": {"href": "/events/ev-30-1"}},
                                           "eventLocation.terminalName": "Yangshan"}
    assert len(r.warnings) == 3


# ---- the ingest path -------------------------------------------------------------------------
def test_a_carrier_feed_is_stored_with_its_ids_and_vendor_fields(loaded_store):
    """Through Ingestor.ingest: MSC's shape (eventId, description, nulls) is stored with the carrier's
    id, its vendor fields in extra, and a re-send is a duplicate (without its id it was stored twice)."""
    store = loaded_store
    feed = [load(eventID=None, eventId="1075525830", description="Export Loaded on Vessel", references=[],
                 eventLocation={"UNLocationCode": "GE PTI"},
                 transportCall=call(UNLocationCode="GEPTI", carrierServiceCode=None, importVoyageNumber=None, facilityCode=None,
                                    vessel={"vesselIMONumber": 9400289, "vesselName": "NAVARINO", "vesselFlag": None}))]
    del feed[0]["eventID"]
    body = json.dumps({"events": feed}).encode()
    out = Ingestor(store).ingest(body, source_party="MSCU", fmt="dcsa-json", received_at=RECEIVED)
    assert (out.stored, out.quarantined) == (1, 0), out.reasons
    with store.read() as conn:
        row = conn.execute(select(events_table.c.event_id, events_table.c.vehicle, events_table.c.extra)).one()
    extra = row.extra if isinstance(row.extra, dict) else json.loads(row.extra)
    assert row.event_id == "1075525830" and row.vehicle == "9400289"
    assert extra["unknown_fields"] == {"description": "Export Loaded on Vessel"}
    assert any("'GE PTI'" in w for w in out.warnings)
    again = Ingestor(store).ingest(body, source_party="MSCU", fmt="dcsa-json", received_at=RECEIVED)
    assert (again.stored, again.duplicates) == (0, 1)
