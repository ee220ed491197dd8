"""The event log's natural keys, pinned: stored logs hold them, so a re-sent event collapses onto
its stored copy only while `event_keys` gives every event the very key it gave before."""

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from corridor.domain.events import (Classifier, Event, EventKind, TransportCall, event_keys,
                                    reasserted_key)

UZ = timezone(timedelta(hours=5))
T = datetime(2026, 3, 1, 10, 0, tzinfo=UZ)

EVENTS = {
    # a container's gate-in with its booking
    "box": Event(EventKind.EQUIPMENT, "GTIN", Classifier.ACT, T, location="KZAAU", equipment="TGHU1234567",
                 references=(("BKG", "BK1"), ("BOL", "BL1"))),
    # loaded on a train, time with a fraction of a second, in UTC
    "box-on-train": Event(EventKind.EQUIPMENT, "LOAD", Classifier.EST,
                          datetime(2026, 3, 1, 5, 0, 7, 250000, tzinfo=timezone.utc), location="KZDOS",
                          equipment="TGHU1234567", transport_call=TransportCall("RAIL", voyage="T-101"),
                          references=(("BKG", "BK1"),), source_party="KTZ"),
    # a train's departure; a railway's per-wagon report; a sailing named by its vessel only
    "train": Event(EventKind.TRANSPORT, "DEPA", Classifier.ACT, T, location="KZDOS",
                   transport_call=TransportCall("RAIL", voyage="T-101")),
    "wagon": Event(EventKind.TRANSPORT, "ARRI", Classifier.ACT, T, location="KZAAU",
                   transport_call=TransportCall("RAIL", voyage="T-101", wagon="12345678")),
    "vessel": Event(EventKind.TRANSPORT, "ARRI", Classifier.EST, T.astimezone(ZoneInfo("Asia/Baku")),
                    location="AZALA", transport_call=TransportCall("VESSEL", vehicle="9123456")),
    "departure": Event(EventKind.TRANSPORT, "DEPA", Classifier.PLN, T, location="AZALA",
                       transport_call=TransportCall("VESSEL", departure_id="dep-7")),
    # a plan that names its booking keeps it in the milestone
    "plan": Event(EventKind.EQUIPMENT, "LOAD", Classifier.PLN, T, location="KZDOS", equipment="TGHU1234567",
                  transport_call=TransportCall("RAIL", voyage="T-101"), references=(("BKG", "BK2"),)),
    # shipment events: about the booking, or the bill of lading alone
    "booking": Event(EventKind.SHIPMENT, "CONF", Classifier.ACT, T, references=(("BKG", "BK1"),)),
    "bill": Event(EventKind.SHIPMENT, "ISSU", Classifier.ACT, T, references=(("BOL", "BL\ud800"),)),
    # positions: the sender and the fix are part of the report
    "fix": Event(EventKind.IOT, "POSI", Classifier.ACT, T, equipment="TGHU1234567", lat=43.2389, lon=76.88972,
                 source_party="TRACKER"),
    # a missed connection: about one booked departure, as foreseen
    "missed": Event(EventKind.ALERT, "MISS", Classifier.EST, T, location="AZALA", equipment="TGHU1234567",
                    extra={"booked": "dep-7", "as": "foreseen"}),
    "late": Event(EventKind.ALERT, "LATE", Classifier.EST, T, equipment="TGHU1234567"),
}

KEYS = {   # as the log has stored them since the keys were introduced: they must never change
    "bill": ("91997dcc484c12fd8b17a17ddbc16b1e", "7be856faad8b8f9bd70a8b947f28fcba"),
    "booking": ("c7578aafceee7ba07a7da9c7a89ceac7", "b50d5ce20441223c37d97d9d04a2a72d"),
    "box": ("e079b8a7ebe41caeffb49e76c49130b8", "a50fb1dd5f74d5e3441eb9be1fa22b2c"),
    "box-on-train": ("3f742884e238c729ffcbc44d13114405", "6df1a6257088a1dc7a62a2893d83ad69"),
    "departure": ("7c4fc5afca76f983568d9655dadeccde", "55913bee91344032beea228b7270d318"),
    "fix": ("b244c8f1a95616e25fcc414a7007f3a2", "a32a4e87e644d5c6d696c748c3204b9b"),
    "late": ("8757829474757b77494319adcd6b2d9d", "948adcb1112e5a566ced36632c05a818"),
    "missed": ("c464972a1dec8c27b2017966764a718b", "6b39f713dae92ed5eb50b85f462e2780"),
    "plan": ("69f902d0209aea6ed5da840643ac6ac6", "1d422bef3916ec7140ff41cbba39d22b"),
    "train": ("5a6e7fb875f91de3ac7b802970d35f91", "efb481abbf37d11d3f4311fc02035272"),
    "vessel": ("55c1f1b4f668472f1071929588dec11b", "6bbdec8f7ba9c921e2249a988a672ef8"),
    "wagon": ("8f8f09e8836dbdbe50a535196d123337", "45811556b461c840d60361cf0bec5810"),
}
REASSERTED = "4db0810bfd1c96ececd936086026d1af"


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_event_keys_are_the_stored_ones(name):
    e = EVENTS[name]
    assert event_keys(e) == KEYS[name]
    assert (e.milestone_key, e.dedup_key) == KEYS[name]


def test_reasserted_key_is_the_stored_one():
    assert reasserted_key(KEYS["box"][1], T) == REASSERTED
