"""Position payloads as real trackers and gateways publish them, which the reader refused or misread.

OwnTracks, Traccar's forwarding, The Things Stack and ChirpStack uplinks, GeoJSON (Overland), the
Traccar Client / W3C `coords` shape, epoch times, loose ISO 8601, other field names. Each payload is
built here with made-up values; each test failed before the fix (docs/formats.md, "Shapes read as
sent"). A fix is stored with the right time, place, device and box, or rejected with the field and
what was expected: never stored wrong.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from corridor.access.keys import create_key
from corridor.api.app import create_app
from corridor.domain.parties import Party, Role
from corridor.ingest.positions import parse_position, position_topic
from corridor.settings import Settings
from corridor.store import events as ev
from corridor.store.parties import upsert_party

TOPIC = "corridor/v1/positions/caspar/trk-17"
AT = datetime(2025, 3, 10, 22, 0, tzinfo=timezone.utc)     # 02:00 at Aktau (+04:00)
EPOCH = int(AT.timestamp())                                 # 1741644000
BOX = "CAIU5550017"


def one(payload, **kw):
    """The single event of a payload that must be read; the rejections say why when not."""
    r = parse_position(payload, **kw)
    assert not r.rejections, r.rejections
    [e] = r.events
    return e


def refused(payload, **kw):
    """The single rejection of a payload that must not be stored."""
    r = parse_position(payload, **kw)
    assert r.events == [], r.events
    [bad] = r.rejections
    return bad


# ---- trackers and gateways ---------------------------------------------------------------------

OWNTRACKS = {"_type": "location", "tid": "K7", "tst": EPOCH, "lat": 43.6511, "lon": 51.1972, "acc": 12,
             "alt": -21, "batt": 81, "vel": 54, "cog": 271, "t": "u", "conn": "m"}


def test_owntracks_location_is_a_fix_at_its_epoch_seconds():
    e = one(json.dumps(OWNTRACKS).encode(), topic=TOPIC)
    assert (e.event_time, e.event_time.utcoffset()) == (AT, timedelta(0))
    assert (e.lat, e.lon, e.source_party) == (43.6511, 51.1972, "caspar")
    # vel is km/h, cog the course; the two-letter tid does not stand in for the topic's device
    assert e.extra == {"device": "trk-17", "speed_kmh": 54.0, "heading": 271.0, "battery": 81.0,
                       "altitude_m": -21.0, "accuracy_m": 12.0}
    # over HTTP (no topic) its own topic names the device
    e = one({**OWNTRACKS, "topic": "owntracks/caspar/trk-17"}, source_party="caspar")
    assert e.extra["device"] == "trk-17" and e.transport_call.vehicle == "trk-17"


@pytest.mark.parametrize("kind", ["lwt", "transition", "waypoint", "card"])
def test_owntracks_messages_that_are_not_locations_are_refused_as_such(kind):
    bad = refused({**OWNTRACKS, "_type": kind}, topic=TOPIC)
    assert bad.element == "_type" and f"OwnTracks {kind!r} message is not a position" in bad.reason
    assert bad.expected == "_type location"


TRACCAR = {"position": {"id": 18336, "attributes": {"batteryLevel": 77, "motion": True}, "deviceId": 7,
                        "protocol": "teltonika", "serverTime": "2025-03-10T22:00:03.906+0000",
                        "deviceTime": "2025-03-10T22:00:00.000+0000", "fixTime": "2025-03-10T22:00:00.000+0000",
                        "outdated": False, "valid": True, "latitude": 41.2034, "longitude": 50.112,
                        "altitude": 0, "speed": 10.0, "course": 271, "address": None},
           "device": {"id": 7, "name": "box tracker 17", "uniqueId": "356307042441013", "status": "online",
                      "attributes": {"containerNumber": BOX}}}


def test_traccar_forwarding_reads_fix_time_knots_and_the_devices_unique_id():
    e = one(TRACCAR, source_party="caspar")
    assert e.event_time == AT and (e.lat, e.lon) == (41.2034, 50.112)
    # the device is its IMEI, not Traccar's row id 7; speed comes in knots
    assert e.extra["device"] == "356307042441013" and e.extra["speed_kmh"] == pytest.approx(18.52)
    assert e.equipment == BOX and e.extra["battery"] == 77.0
    # a position Traccar marks invalid is the last known one, not where the box is now
    bad = refused({**TRACCAR, "position": {**TRACCAR["position"], "valid": False}})
    assert bad.element == "position.valid" and "no valid GPS fix" in bad.reason


def test_a_traccar_position_on_its_own_takes_the_device_from_the_topic():
    e = one(TRACCAR["position"], topic=TOPIC)
    assert e.extra["device"] == "trk-17" and e.extra["speed_kmh"] == pytest.approx(18.52)


TTN = {"end_device_ids": {"device_id": "trk-17", "application_ids": {"application_id": "corridor-boxes"},
                          "dev_eui": "70B3D57ED0051234"},
       "received_at": "2025-03-10T22:00:05.656299995Z",
       "uplink_message": {"f_port": 2, "frm_payload": "AAAA",
                          "decoded_payload": {"latitude": 41.2034, "longitude": 50.112, "battery": 3.61,
                                              "temperature": 4.5, "containerId": BOX},
                          "rx_metadata": [{"gateway_ids": {"gateway_id": "aktau-gw"},
                                           "location": {"latitude": 43.65, "longitude": 51.17,
                                                        "source": "SOURCE_REGISTRY"}}],
                          "received_at": "2025-03-10T22:00:05.656299995Z"}}


def test_things_stack_uplink_reads_the_decoded_fix_never_the_gateways_place():
    e = one(TTN, topic=TOPIC)
    assert (e.lat, e.lon, e.equipment) == (41.2034, 50.112, BOX)
    assert e.event_time == AT + timedelta(seconds=5, microseconds=656299)
    assert e.extra == {"device": "trk-17", "battery": 3.61, "temperature": 4.5}
    # a battery-only uplink has no fix: the gateway that heard it is elsewhere
    bare = {**TTN, "uplink_message": {**TTN["uplink_message"], "decoded_payload": {"battery": 3.6}}}
    bad = refused(bare, topic=TOPIC)
    assert bad.element == "uplink_message.decoded_payload" and "no position of the device" in bad.reason
    # the fix the network resolved from the payload counts
    frm = {**bare, "uplink_message": {**bare["uplink_message"], "locations": {
        "frm-payload": {"latitude": 41.2034, "longitude": 50.112, "source": "SOURCE_GPS"}}}}
    assert (one(frm, topic=TOPIC).lat, one(frm, topic=TOPIC).lon) == (41.2034, 50.112)


def test_chirpstack_uplink_reads_object_and_device_name():
    up = {"deduplicationId": "3d9c", "time": "2025-03-10T22:00:05.1+00:00",
          "deviceInfo": {"deviceName": "trk-17", "devEui": "70b3d57ed0051234"},
          "object": {"gps": {"lat": 41.2034, "lon": 50.112}},
          "rxInfo": [{"gatewayId": "g1", "location": {"latitude": 43.65, "longitude": 51.17}}]}
    e = one(up, topic=TOPIC)
    assert (e.lat, e.lon, e.event_time) == (41.2034, 50.112, AT + timedelta(seconds=5.1))


def feature(lon, lat, **props):
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": props}


def test_geojson_point_is_longitude_first():
    e = one(feature(50.112, 41.2034, time="2025-03-11T02:00:00+04:00", device="trk-17", container=BOX))
    assert (e.lat, e.lon, e.equipment) == (41.2034, 50.112, BOX)
    assert e.event_time == AT and e.event_time.utcoffset() == timedelta(hours=4)
    r = parse_position({"type": "FeatureCollection", "features": [
        feature(50.112, 41.2034, time="2025-03-10T22:00:00Z"), feature(50.2, 41.25, time="2025-03-10T22:05:00Z")]},
        topic=TOPIC)
    assert [(e.lat, e.lon) for e in r.events] == [(41.2034, 50.112), (41.25, 50.2)] and not r.rejections
    line = {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[50, 41], [51, 42]]},
            "properties": {"time": "2025-03-10T22:00:00Z"}}
    bad = refused(line, topic=TOPIC)
    assert bad.element == "geometry" and "'LineString' is not a Point" in bad.reason


def test_overland_batch_speeds_are_metres_per_second_and_minus_one_is_unknown():
    r = parse_position({"locations": [
        feature(50.112, 41.2034, timestamp="2025-03-11T02:00:00+0400", device_id="trk-17", speed=5, course=90),
        feature(50.2, 41.25, timestamp="2025-03-11T02:05:00+0400", device_id="trk-17", speed=-1, course=-1)]},
        source_party="caspar")
    assert not r.rejections
    first, second = r.events
    assert first.extra["speed_kmh"] == 18.0 and first.extra["heading"] == 90.0
    assert "speed_kmh" not in second.extra and "heading" not in second.extra
    assert second.event_time == AT + timedelta(minutes=5)


def test_traccar_client_coords_shape():
    fix = {"location": {"timestamp": "2025-03-10T22:00:00.000Z", "coords": {
        "latitude": 41.2034, "longitude": 50.112, "accuracy": 5, "speed": 7.5, "heading": 271},
        "battery": {"level": 0.81, "is_charging": False}, "is_moving": True}, "device_id": "trk-17"}
    e = one(fix, topic=TOPIC)
    assert (e.lat, e.lon, e.event_time) == (41.2034, 50.112, AT)
    assert e.extra == {"device": "trk-17", "speed_kmh": 27.0, "heading": 271.0, "battery": 0.81, "accuracy_m": 5.0}


# ---- times ------------------------------------------------------------------------------------

@pytest.mark.parametrize("key,value,offset", [
    ("time", EPOCH, 0), ("timestamp", EPOCH * 1000, 0), ("ts", str(EPOCH), 0), ("time", f"{EPOCH}000", 0),
    ("time", "2025-03-11T02:00+04:00", 4),
    ("time", "2025-03-11 02:00:00+0400", 4), ("fixTime", "2025-03-11T02:00:00+04", 4),
    ("gpsTime", "2025-03-10 22:00:00 UTC", 0), ("recorded_at", "2025-03-10T22:00:00.000000000Z", 0)])
def test_times_trackers_send_read_as_the_same_instant(key, value, offset):
    e = one({key: value, "lat": 41.2034, "lon": 50.112}, topic=TOPIC)
    assert e.event_time == AT and e.event_time.utcoffset() == timedelta(hours=offset)


@pytest.mark.parametrize("value,says", [
    (0, "unset clock"), (315964800, "unset clock"), (99_999_999_999, "not epoch seconds or milliseconds"),
    ("1999-12-31T23:00:00Z", "before 2000"), (True, "is not a date-time")])
def test_implausible_epochs_and_unset_clocks_are_refused(value, says):
    bad = refused({"time": value, "lat": 41.2034, "lon": 50.112}, topic=TOPIC)
    assert bad.element == "time" and says in bad.reason and bad.expected


def test_a_loose_time_needs_its_offset_all_the_same():
    assert one({"time": "2025-03-11 02:00+04:00", "lat": 41.2, "lon": 50.1}, topic=TOPIC).event_time == AT
    bad = refused({"time": "2025-03-11 02:00", "lat": 41.2, "lon": 50.1}, topic=TOPIC)
    assert bad.element == "time" and "'2025-03-11 02:00'" in bad.reason and "UTC offset" in bad.expected


# ---- places -----------------------------------------------------------------------------------

def test_coordinates_under_other_names_and_as_strings():
    for fix in ({"latitude": "41.2034", "longitude": "50.112"}, {"lat": 41.2034, "lng": 50.112},
                {"Latitude": 41.2034, "Longitude": " 50.112 "}, {"gps": {"lat": 41.2034, "lon": 50.112}}):
        e = one({"time": "2025-03-10T22:00:00Z", **fix}, topic=TOPIC)
        assert (e.lat, e.lon) == (41.2034, 50.112), fix


@pytest.mark.parametrize("fix,element,says", [
    ({"lat": 0, "lon": 0}, "lat", "0,0 is no place"),
    ({"lat": "0.0", "lon": "0"}, "lat", "0,0 is no place"),
    ({"lat": 120.5, "lon": 43.6}, "lat", "swapped?"),
    ({"lat": 412034000, "lon": 501120000}, "lat", "degrees x 10^7"),
    ({"lat": "41,2034", "lon": "50,112"}, "lat", "decimal comma"),
    ({"lat": 41.2, "latitude": 43.1, "lon": 50.1}, "latitude", "disagrees with lat 41.2")])
def test_places_that_would_be_stored_wrong_are_refused(fix, element, says):
    bad = refused({"time": "2025-03-10T22:00:00Z", **fix}, topic=TOPIC)
    assert bad.element == element and says in bad.reason


# ---- devices, boxes, batches, extras ----------------------------------------------------------

@pytest.mark.parametrize("key", ["containerId", "container_id", "containerNumber", "equipmentReference", "asset"])
def test_the_box_under_other_names(key):
    e = one({"time": "2025-03-10T22:00:00Z", "lat": 41.2034, "lon": 50.112, key: "CAIU 555001 7"}, topic=TOPIC)
    assert e.equipment == BOX and e.transport_call is None


def test_an_asset_that_is_no_box_rides_a_truck_and_a_wrong_box_is_refused():
    fix = {"time": "2025-03-10T22:00:00Z", "lat": 41.2034, "lon": 50.112}
    e = one({**fix, "asset": "TRAILER-12"}, topic=TOPIC)
    assert e.equipment is None and e.extra["asset"] == "TRAILER-12" and e.transport_call.mode == "TRUCK"
    bad = refused({**fix, "assetId": "CAIU5550018"}, topic=TOPIC)
    assert bad.element == "assetId" and "check digit 8 is wrong, expected 7" in bad.reason
    bad = refused({**fix, "container": BOX, "containerId": "MSKU1234565"}, topic=TOPIC)
    assert bad.element == "containerId" and "disagrees with container" in bad.reason


def test_device_under_other_names_must_still_match_the_topic():
    fix = {"time": "2025-03-10T22:00:00Z", "lat": 41.2034, "lon": 50.112}
    assert one({**fix, "deviceId": "trk-17"}, topic=TOPIC).extra["device"] == "trk-17"
    assert one({**fix, "imei": 356307042441013}).extra["device"] == "356307042441013"
    bad = refused({**fix, "device_id": "trk-99"}, topic=TOPIC)
    assert bad.element == "device_id" and "is not the topic's device 'trk-17'" in bad.reason


def test_a_wrapped_batch_shares_its_device_and_box_but_not_its_time():
    r = parse_position({"device": "trk-17", "containerId": BOX, "time": "2025-03-10T23:00:00Z", "positions": [
        {"time": "2025-03-10T22:00:00Z", "lat": 41.2034, "lon": 50.112},
        {"lat": 41.21, "lon": 50.13}]}, topic=TOPIC)
    [e] = r.events
    assert (e.equipment, e.extra["device"], e.event_time) == (BOX, "trk-17", AT)
    [bad] = r.rejections
    assert (bad.segment, bad.element) == (1, "positions[1].time") and "is required" in bad.reason


def test_json_lines_are_a_batch():
    lines = "\n".join(json.dumps({"time": EPOCH + 60 * i, "lat": 41.2 + i / 100, "lon": 50.1}) for i in range(3))
    r = parse_position(lines.encode(), topic=TOPIC)
    assert [e.event_time for e in r.events] == [AT + timedelta(minutes=i) for i in range(3)] and not r.rejections


def test_course_battery_and_temperature_are_kept_and_a_word_is_not():
    r = parse_position({"time": "2025-03-10T22:00:00Z", "lat": 41.2034, "lon": 50.112, "course": 90,
                        "battery": "3.38 V", "temperature": -3.5, "humidity": 40}, topic=TOPIC)
    [e] = r.events
    assert e.extra == {"device": "trk-17", "heading": 90.0, "temperature": -3.5}
    assert r.warnings == ["battery: '3.38 V' is not a number; not kept"]


def test_an_unreadable_payload_on_a_topic_is_held_as_the_topics_sender():
    r = parse_position(b"{not json", topic=TOPIC)
    assert r.rejections and r.meta["source_party"] == "caspar"


def test_json_nested_beyond_the_parsers_depth_is_refused_not_raised():
    [bad] = parse_position(b"[" * 100_000 + b"]" * 100_000, topic=TOPIC).rejections
    assert bad.element == "payload" and "nested too deeply" in bad.reason


# ---- the real paths: HTTP and MQTT ------------------------------------------------------------

@pytest.fixture
def api(store):
    with store.tx() as conn:
        upsert_party(conn, Party("ACME", "Acme Trading", frozenset({Role.SHIPPER})))
        key = create_key(conn, "ACME", scopes=("read", "write"))
    client = TestClient(create_app(Settings(database_url=store.url, nats_url=None), store=store))
    client.headers["Authorization"] = f"Bearer {key}"
    client.store = store
    return client


def test_tracker_shapes_over_http_are_stored_once_and_wrong_fixes_held(api):
    now = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
    owntracks = {**OWNTRACKS, "tst": int(now.timestamp()), "topic": "owntracks/acme/trk-17"}
    doc = api.post("/api/v1/positions", json=owntracks).json()
    assert (doc["stored"], doc["quarantined"]) == (1, 0), doc
    # the same fix again as Corridor's shape, its time in milliseconds: the same report
    same = {"timestamp": int(now.timestamp()) * 1000, "latitude": "43.6511", "longitude": "51.1972",
            "deviceId": "trk-17"}
    doc = api.post("/api/v1/positions", json=same).json()
    assert (doc["stored"], doc["duplicates"]) == (0, 1), doc
    later = (now + timedelta(minutes=5)).isoformat()
    ahead = (now + timedelta(days=400)).isoformat()
    doc = api.post("/api/v1/positions", json=[
        feature(51.2, 43.66, time=later, device="trk-17", containerId=BOX),
        {"time": later, "lat": 0, "lon": 0, "device": "trk-17"},
        {"time": ahead, "lat": 43.7, "lon": 51.3, "device": "trk-17"}]).json()
    assert (doc["stored"], doc["quarantined"]) == (1, 2), doc
    assert any("0,0 is no place" in why for why in doc["reasons"])
    # a fix ahead of its receipt: the tracker's clock is named, not "send it as an estimate"
    [future] = [why for why in doc["reasons"] if "is after the message was received" in why]
    assert future.startswith("position fix of device trk-17 at 43.70000,51.30000: its time ")
    assert "check the tracker's clock" in future and "estimate" not in future
    with api.store.read() as conn:
        rows = [ev.row_to_event(r) for r in conn.execute(ev.select_events()).all()]
    assert sorted((e.event_time, e.lat, e.lon, e.equipment) for e in rows) == [
        (now, 43.6511, 51.1972, None), (now + timedelta(minutes=5), 43.66, 51.2, BOX)]


def _broker() -> None:
    try:
        socket.create_connection(("127.0.0.1", 1883), timeout=2).close()
    except OSError as e:
        pytest.skip(f"Mosquitto not reachable on 127.0.0.1:1883 ({e})")


@pytest.mark.services
def test_owntracks_over_mqtt_stored_once_its_lwt_held_an_empty_retained_clear_skipped(store):
    from corridor.ingest.mqtt import start_mqtt_consumer
    import paho.mqtt.client as mqtt
    _broker()
    with store.tx() as conn:
        upsert_party(conn, Party("ACME", "Acme Trading", frozenset({Role.SHIPPER})))
    topic = position_topic("ACME", f"trk-{uuid.uuid4().hex[:6]}")
    consumer = start_mqtt_consumer(store, "mqtt://127.0.0.1:1883", topic=topic,
                                   client_id=f"corridor-test-{uuid.uuid4().hex[:8]}")
    tst = int(time.time()) - 600
    try:
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-pub-{uuid.uuid4().hex[:8]}")
        pub.connect("127.0.0.1", 1883)
        pub.loop_start()
        for body in (json.dumps({**OWNTRACKS, "tst": tst}), json.dumps({**OWNTRACKS, "tst": tst * 1000}),
                     json.dumps({"_type": "lwt", "tst": tst}), b""):
            pub.publish(topic, body, qos=1).wait_for_publish(5)
        pub.disconnect()
        pub.loop_stop()
        end = time.monotonic() + 10
        while consumer.stats.messages + consumer.stats.cleared < 4 and time.monotonic() < end:
            time.sleep(0.05)
        s = consumer.stats
        assert (s.messages, s.stored, s.duplicates, s.quarantined, s.cleared, s.failed) == (3, 1, 1, 1, 1, 0), s
        with store.read() as conn:
            [e] = [ev.row_to_event(r) for r in conn.execute(ev.select_events()).all()]
        assert (e.source_party, e.extra["device"], e.event_time) == ("ACME", topic.rsplit("/", 1)[1],
                                                                      datetime.fromtimestamp(tst, timezone.utc))
    finally:
        consumer.stop()
