"""Subscription filters on the ingest path build an event's DCSA 2.2 JSON only when a filter reads
it; the answer is the same as matching against the JSON made up front."""

from datetime import datetime, timezone

import pytest

from corridor.domain.events import Classifier, Event, EventKind, TransportCall
from corridor.tracking.dcsa_out import dcsa_22_gap, to_dcsa_22
from corridor.tracking.outbox import _LazyDcsa, _matches, event_uuid, matches

T = datetime(2025, 3, 1, 8, 0, tzinfo=timezone.utc)
SHIP = TransportCall(mode="VESSEL", location="KZAAU", voyage="V12", service="CASP", vehicle="9876543")
EVENTS = [
    Event(kind=EventKind.EQUIPMENT, code="LOAD", classifier=Classifier.ACT, event_time=T, location="KZAAU",
          equipment="MSCU1234566", transport_call=SHIP, references=(("BKG", "B1"), ("BOL", "BL7"))),
    Event(kind=EventKind.TRANSPORT, code="DEPA", classifier=Classifier.ACT, event_time=T, location="KZAAU",
          transport_call=SHIP, references=(("BKG", "B1"),)),
    Event(kind=EventKind.SHIPMENT, code="RECE", classifier=Classifier.ACT, event_time=T, location="CNXIA",
          references=(("BKG", "B2"),)),
    Event(kind=EventKind.ALERT, code="LATE", classifier=Classifier.ACT, event_time=T, location="AZALA",
          equipment="MSCU1234566", references=(("BKG", "B1"),), source_party="CORRIDOR"),
    Event(kind=EventKind.EQUIPMENT, code="GTOT", classifier=Classifier.ACT, event_time=T, location="GEPTI",
          equipment="TGHU1234567", transport_call=TransportCall(mode="PIPELINE", location="GEPTI")),
]
FILTERS = [
    {}, {"format": "corridor"}, {"format": "corridor", "alerts": False}, {"format": "corridor", "booking": "B1"},
    {"eventType": ["EQUIPMENT"]}, {"eventType": ["TRANSPORT"], "transportEventTypeCode": ["ARRI"]},
    {"equipmentEventTypeCode": ["LOAD"], "equipmentReference": "MSCU1234566"},
    {"documentTypeCode": ["BKG"]}, {"documentTypeCode": ["BOL"]}, {"carrierBookingReference": "B1"},
    {"exportVoyageNumber": "V12"}, {"carrierVoyageNumber": "V99"}, {"carrierServiceCode": "CASP"},
    {"vesselIMONumber": "9876543"}, {"UNLocationCode": "KZAAU", "transportCallID": None},
]


@pytest.mark.parametrize("filters", FILTERS, ids=str)
def test_lazy_dcsa_matching_equals_matching_on_the_json(filters):
    for seq, e in enumerate(EVENTS, start=1):
        gap = dcsa_22_gap(e) is not None
        made_up_front = None if gap else to_dcsa_22(e, event_uuid(seq), T)
        lazy = _LazyDcsa(seq, e, T)
        assert _matches(filters, e, gap, lazy) == matches(filters, e, made_up_front), (filters, e.code)
        if lazy.json is not None:   # made only when read, and then the same JSON
            assert lazy.json == made_up_front


def test_a_filter_on_the_event_type_never_builds_the_json():
    lazy = _LazyDcsa(1, EVENTS[0], T)
    assert _matches({"eventType": ["EQUIPMENT"]}, EVENTS[0], False, lazy) and lazy.json is None
    assert _matches({"exportVoyageNumber": "V12"}, EVENTS[0], False, lazy) and lazy.json is not None


def test_a_service_filter_takes_the_calls_own_service_or_its_departures():
    # as GET /v2/events: a call mapped to a timetable departure is on that departure's service
    own = EVENTS[1]
    bare = Event(kind=EventKind.TRANSPORT, code="DEPA", classifier=Classifier.ACT, event_time=T, location="KZAAU",
                 transport_call=TransportCall(mode="VESSEL", location="KZAAU", departure_id="L15-1"))
    f = {"carrierServiceCode": "CASP"}
    assert _matches(f, own, False, _LazyDcsa(1, own, T))
    assert not _matches(f, bare, False, _LazyDcsa(2, bare, T))
    assert _matches(f, bare, False, _LazyDcsa(2, bare, T), service="CASP")
    assert not _matches(f, bare, False, _LazyDcsa(2, bare, T), service="OTHER")
    assert not _matches({**f, "exportVoyageNumber": "V99"}, bare, False, _LazyDcsa(2, bare, T), service="CASP")
