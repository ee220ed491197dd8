"""Files posted without a format name reach the reader that takes them: trackers' own JSON shapes
and Excel's UTF-16 "Unicode text" are detected; a CSV time without an offset takes its place's
zone on the ingest path (the registry's zone of the location), on both stores."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from corridor.ingest.detect import detect_format
from corridor.ingest.service import Ingestor
from corridor.store.tables import events

OWNTRACKS = {"_type": "location", "tid": "c1", "lat": 40.35, "lon": 49.83, "tst": 1772611200}
TRACCAR = {"position": {"latitude": 41.64, "longitude": 41.63, "fixTime": "2026-03-04T10:15:00+04:00"},
           "device": {"uniqueId": "trk-7", "name": "box tracker"}}
GEOJSON = {"type": "FeatureCollection", "features": [
    {"type": "Feature", "geometry": {"type": "Point", "coordinates": [49.83, 40.35]},
     "properties": {"time": "2026-03-04T10:15:00+04:00", "device": "trk-7"}}]}
TTN = {"end_device_ids": {"device_id": "trk-7"}, "received_at": "2026-03-04T06:15:00Z",
       "uplink_message": {"decoded_payload": {"latitude": 40.35, "longitude": 49.83}}}
BATCH = {"device": "trk-7", "positions": [{"lat": 40.35, "lon": 49.83, "ts": "2026-03-04T10:15:00+04:00"}]}


@pytest.mark.parametrize("payload", [OWNTRACKS, TRACCAR, GEOJSON, TTN, BATCH, [TRACCAR]],
                         ids=["owntracks", "traccar", "geojson", "ttn", "batch", "list"])
def test_trackers_own_shapes_are_detected_as_positions(payload):
    assert detect_format(json.dumps(payload).encode()) == "position-json"


def test_dcsa_and_other_json_are_not_taken_for_positions():
    dcsa = [{"eventType": "EQUIPMENT", "eventLocation": {"latitude": "40.35", "longitude": "49.83"}}]
    assert detect_format(json.dumps(dcsa).encode()) == "dcsa-json"
    assert detect_format(b'{"hello": "world"}') == "unknown"


def test_excel_unicode_text_is_detected_as_csv_and_utf16_json_as_json():
    sheet = ("Wagon\tContainer\tStation\tOperation\tDate/Time\tTrain\r\n"
             "95123451\tMSKU1234565\tAZBAK\tTrain arrival\t2026-03-04 10:15\tX8024\r\n")
    assert detect_format(sheet.encode("utf-16")) == "csv"
    assert detect_format(b"\xfe\xff" + sheet.encode("utf-16-be")) == "csv"
    assert detect_format(json.dumps(OWNTRACKS).encode("utf-16")) == "position-json"
    assert detect_format(b"\xff\xfe" + b"\x00\xd8" * 8) == "unknown"    # a BOM and nothing readable


def test_a_csv_time_without_an_offset_takes_its_places_zone(loaded_store):
    text = ("event_code,event_time,location,equipment\n"
            "GTIN,2026-03-04 10:15:00,GEPTI,CMAU4001000\n"     # Poti: Asia/Tbilisi, UTC+4
            "GTIN,2026-03-04 10:15:00,KZAAU,MSKU1234565\n")    # Aktau: UTC+5
    out = Ingestor(loaded_store).ingest(text.encode(), source_party="PORTBAKU", fmt=None, filename="gate.csv",
                                        received_at=datetime(2026, 3, 5, tzinfo=timezone.utc))
    assert (out.format, out.stored, out.quarantined) == ("csv", 2, 0), out.reasons
    with loaded_store.read() as conn:
        rows = {r.equipment: (r.event_time, r.event_offset) for r in conn.execute(
            select(events.c.equipment, events.c.event_time, events.c.event_offset))}
    assert rows["CMAU4001000"][1] == 240 and rows["MSKU1234565"][1] == 300
    assert rows["CMAU4001000"][0] == datetime(2026, 3, 4, 6, 15, tzinfo=timezone.utc)
    assert rows["MSKU1234565"][0] == datetime(2026, 3, 4, 10, 15, tzinfo=timezone(timedelta(hours=5))
                                              ).astimezone(timezone.utc)
