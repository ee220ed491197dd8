"""GPS / IoT positions: payload validation, the MQTT topic scheme, party checks."""

import json
from datetime import datetime, timedelta, timezone

import pytest

from corridor.domain.events import EventKind
from corridor.ingest.positions import parse_position, position_topic, topic_party

FIX = {"time": "2025-03-11T02:00:00+04:00", "lat": 41.2034, "lon": 50.112, "device": "trk-17",
       "container": "CAIU5550017", "speed": 28.5, "heading": 271}


def test_container_fix_becomes_posi_event():
    r = parse_position(json.dumps(FIX).encode(), topic="corridor/v1/positions/caspar/trk-17")
    [e] = r.events
    assert (e.kind, e.code, e.equipment, e.lat, e.lon) == (EventKind.IOT, "POSI", "CAIU5550017", 41.2034, 50.112)
    assert e.event_time == datetime(2025, 3, 10, 22, 0, tzinfo=timezone.utc)
    assert e.event_time.utcoffset() == timedelta(hours=4)
    assert e.source_party == "caspar" and e.parties == frozenset({"caspar"})
    assert e.extra == {"device": "trk-17", "speed_kmh": 28.5, "heading": 271.0}
    assert e.transport_call is None
    [same] = parse_position({**{k: v for k, v in FIX.items() if k != "container"}, "equipment": "CAIU5550017"}).events
    assert same.equipment == "CAIU5550017"


def test_vehicle_tracker_without_container_rides_a_truck_unless_told():
    fix = {k: v for k, v in FIX.items() if k != "container"}
    [truck] = parse_position(fix, source_party="p").events
    assert (truck.transport_call.mode, truck.transport_call.vehicle, truck.equipment) == ("TRUCK", "trk-17", None)
    [wagon] = parse_position({**fix, "mode": "rail"}, source_party="p").events
    assert wagon.transport_call.mode == "RAIL"


def test_batch_rejects_only_bad_fixes_with_path():
    batch = [FIX, {**FIX, "lat": 95}, {**FIX, "time": "2025-03-11T02:00:00"}, {**FIX, "container": "CAIU5550018"},
             {**FIX, "lon": "east"}, {k: v for k, v in FIX.items() if k != "device"}, "nope"]
    r = parse_position(batch, source_party="p")
    assert len(r.events) == 1
    by = {x.segment: x for x in r.rejections}
    assert by[1].element == "[1].lat" and "95 is outside -90..90" in by[1].reason
    assert by[2].element == "[2].time" and "UTC offset" in by[2].expected
    assert by[3].element == "[3].container" and "check digit 8 is wrong, expected 7" in by[3].reason
    assert by[4].element == "[4].lon" and "'east' is not a number" in by[4].reason
    assert by[5].element == "[5].device" and "is required" in by[5].reason
    assert by[6].element == "[6]"


def test_device_from_topic_and_mismatches():
    fix = {k: v for k, v in FIX.items() if k != "device"}
    [e] = parse_position(fix, topic="corridor/v1/positions/caspar/trk-17").events
    assert e.extra["device"] == "trk-17"
    [bad] = parse_position(FIX, topic="corridor/v1/positions/caspar/trk-99").rejections
    assert "'trk-17' is not the topic's device 'trk-99'" in bad.reason
    # a party cannot publish into another's topic
    [bad] = parse_position(FIX, topic="corridor/v1/positions/caspar/trk-17", source_party="adl").rejections
    assert bad.element == "topic" and "not the sender 'adl'" in bad.reason
    [bad] = parse_position(FIX, topic="corridor/v1/positions/caspar").rejections
    assert bad.element == "topic"


def test_topic_scheme():
    assert topic_party("corridor/v1/positions/ktz/gps-0042") == ("ktz", "gps-0042")
    assert position_topic("ktz", "gps-0042") == "corridor/v1/positions/ktz/gps-0042"
    for bad in ("corridor/v1/positions/ktz", "corridor/v2/positions/ktz/d", "corridor/v1/positions//d",
                "x/corridor/v1/positions/ktz/d", ""):
        with pytest.raises(ValueError):
            topic_party(bad)
    with pytest.raises(ValueError):
        position_topic("ktz", "a/b")


@pytest.mark.parametrize("junk", [b"\xff", b"{", b"42", "null", {"lat": True, "lon": 1, "time": 3}, [[]],
                                  {"time": "2025-03-11T02:00:00Z", "lat": float("nan"), "lon": 1, "device": "d"}])
def test_never_raises(junk):
    r = parse_position(junk)
    assert r.events == [] and r.rejections
