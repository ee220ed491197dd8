"""GPS / IoT tracker positions in: one JSON fix (or a batch) -> IOT/POSI events.

Payload: {"time": ISO 8601 with offset, "lat", "lon", "device", "container"? (or "equipment"),
"speed"?, "heading"?, "mode"?}. Over MQTT the topic `corridor/v1/positions/{party}/{device}` names the
sender; the broker's ACL lets a party publish under its own id only, so the topic is trusted
over anything the payload claims (see docs/formats.md).

Trackers and gateways that cannot be configured to that shape are read as they publish: OwnTracks,
Traccar's forwarding, The Things Stack / ChirpStack uplinks, GeoJSON Point features (Overland), the
Traccar Client / W3C `coords` shape, and the common field names beside Corridor's (docs/formats.md,
"Shapes read as sent"). Whatever the shape, a fix is stored only when its time, place, device and
container are certain; anything doubtful is rejected with the field and what was expected.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

from corridor.domain.equipment import container_number
from corridor.domain.errors import InvalidEquipment
from corridor.domain.events import Classifier, Event, EventKind, TransportCall
from corridor.ingest.dcsa import DATETIME_EXPECTED, offset_datetime
from corridor.ingest.results import ParseResult, Rejection

FORMAT = "position-json"
TOPIC_PREFIX = ("corridor", "v1", "positions")
TOPIC_FILTER = "corridor/v1/positions/+/+"   # what the Corridor consumer subscribes to
_MODES = {"RAIL", "VESSEL", "TRUCK", "BARGE"}
_FIX_EXPECTED = '{"time", "lat", "lon", "device"}'

# field names trackers use for Corridor's fields, in order of preference (matched without case)
_TIME = ("time", "timestamp", "fixTime", "fix_time", "gpsTime", "gps_time", "tst", "ts", "datetime",
         "date_time", "eventTime", "event_time", "recordedAt", "recorded_at", "positionTime", "position_time")
_LAT = ("lat", "latitude")
_LON = ("lon", "lng", "long", "longitude")
_DEVICE = ("device", "deviceId", "device_id", "imei", "uniqueId", "unique_id", "trackerId", "tracker_id")
_CONTAINER = ("container", "equipment", "containerId", "container_id", "containerNumber", "container_number",
              "containerNo", "container_no", "equipmentReference", "equipment_reference", "equipmentId",
              "equipment_id", "equipmentNumber", "equipment_number")
_TRACCAR_DEVICE = tuple(n for n in _DEVICE if n != "deviceId")   # Traccar's deviceId is its row id
_ASSET = ("asset", "assetId", "asset_id", "assetName", "asset_name")   # a box, or a trailer, a genset...
_HEADING = ("heading", "course", "cog", "bearing", "direction", "azimuth")
_MEASURES = {"battery": ("battery", "batt", "batteryLevel", "battery_level", "bat"),   # as sent: %, V or 0..1
             "temperature": ("temperature", "temp", "temperature_c", "tempC", "temp_c"),
             "altitude_m": ("altitude", "alt"),
             "accuracy_m": ("accuracy", "acc", "horizontal_accuracy", "hacc")}
# speeds are km/h (Corridor's "speed", OwnTracks' "vel") unless the shape or the name says otherwise
_KNOTS, _MPS = 1.852, 3.6   # km/h in a knot, in a metre per second
_SPEED = (("speed", 1.0), ("vel", 1.0), ("speed_kmh", 1.0), ("speedKmh", 1.0), ("speed_knots", _KNOTS),
          ("speedKnots", _KNOTS), ("speed_mps", _MPS))
_OWN_KEYS = frozenset({"time", "lat", "lon", "device", "container", "equipment", "speed", "heading", "mode"})
_NESTED = ("position", "location", "gps", "loc", "pos", "geo", "coords")   # {"gps": {"lat", "lon"}}
_BATCH = ("positions", "locations", "fixes", "points", "features", "data")  # {"positions": [fix, ...]}

# epoch numbers: the unit is told by the magnitude, as long as the date falls in 2000..2099 (a
# millisecond count read as seconds would be the year 57000; 0 is a tracker that never had a fix)
_EPOCH_LOW, _EPOCH_HIGH = 946_684_800, 4_102_444_800
_EPOCH_SCALES = (1, 1e3, 1e6, 1e9)   # seconds, milliseconds, microseconds, nanoseconds
_EPOCH_EXPECTED = "epoch seconds or milliseconds (UTC) of a date in 2000..2099, or " + DATETIME_EXPECTED
_ISO = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2})(:\d{2}(?:[.,]\d+)?)?"
                  r"\s*([Zz]|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?\Z")
_BOX = re.compile(r"[A-Z]{3}[UJZR]\d{7}\Z")


def position_topic(party: str, device: str) -> str:
    """Return the MQTT topic a party's device publishes its positions to."""
    for name, value in (("party", party), ("device", device)):
        if not value or any(c in value for c in "/+#\x00"):
            raise ValueError(f"{name} {value!r} cannot be an MQTT topic level (empty, / + # or NUL)")
    return "/".join((*TOPIC_PREFIX, party, device))


def topic_party(topic: str) -> tuple[str, str]:
    """Return (party, device) of a positions topic, or raise ValueError saying what is wrong."""
    levels = (topic or "").split("/")
    if len(levels) != 5 or tuple(levels[:3]) != TOPIC_PREFIX or not levels[3] or not levels[4]:
        raise ValueError(f"topic {topic!r} is not corridor/v1/positions/{{party}}/{{device}}")
    return levels[3], levels[4]


class _Bad(Exception):
    def __init__(self, element: str, reason: str, expected: str | None = None):
        super().__init__(reason)
        self.element, self.reason, self.expected = element, reason, expected


def parse_position(payload: bytes | str | dict | list, *, topic: str | None = None,
                   source_party: str = "") -> ParseResult:
    """Return the IOT/POSI Events of a position payload (one fix or a list); never raises."""
    result = ParseResult(format=FORMAT, meta={"topic": topic})
    topic_device = None
    try:
        if topic is not None:
            party, topic_device = topic_party(topic)
            if source_party and party != source_party:
                raise _Bad("topic", f"topic party {party!r} is not the sender {source_party!r}",
                           f"corridor/v1/positions/{source_party}/{{device}}")
            source_party = party
        # the topic's sender is known before the payload is read: unreadable JSON is held as theirs
        result.meta["source_party"] = source_party
        fixes, prefix, outer = _fixes(payload)
    except _Bad as bad:
        result.rejections.append(Rejection(reason=bad.reason, element=bad.element, expected=bad.expected))
        return result
    except ValueError as exc:
        result.rejections.append(Rejection(reason=str(exc), element="topic",
                                           expected="corridor/v1/positions/{party}/{device}"))
        return result
    except RecursionError:
        result.rejections.append(Rejection(reason="JSON nested too deeply", element="payload",
                                           expected=_FIX_EXPECTED))
        return result
    for i, fix in enumerate(fixes):
        path = f"{prefix}[{i}]" if prefix is not None else ""
        try:
            result.events.append(_event(fix, path, topic_device, source_party, outer, result.warnings))
        except _Bad as bad:
            result.rejections.append(Rejection(reason=f"{bad.element}: {bad.reason}", segment=i,
                                               element=bad.element, expected=bad.expected,
                                               message_ref=_ref(fix)))
        except Exception as exc:  # noqa: BLE001 - never raise on input
            result.rejections.append(Rejection(reason=f"{path or 'payload'}: {exc}", segment=i))
    return result


def _ref(fix) -> str | None:
    device = fix.get("device") if isinstance(fix, dict) else None
    return device if isinstance(device, str) else None


def _fixes(payload) -> tuple[list, str | None, dict]:
    """(the fixes, the JSON path of their list or None for a single fix, the batch's own fields)."""
    if isinstance(payload, (bytes, bytearray)):
        try:
            payload = bytes(payload).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise _Bad("payload", "not UTF-8 text", "UTF-8 JSON") from None
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except json.JSONDecodeError as exc:
            lines = [line for line in payload.splitlines() if line.strip()]
            if exc.msg != "Extra data" or len(lines) < 2:
                raise _Bad("payload", f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                           _FIX_EXPECTED) from None
            try:   # JSON lines: one fix per line, as gateways flush a buffer
                payload = [json.loads(line) for line in lines]
            except json.JSONDecodeError:
                raise _Bad("payload", f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                           _FIX_EXPECTED) from None
    if isinstance(payload, dict):
        if payload.get("type") == "FeatureCollection":
            features = payload.get("features")
            if not isinstance(features, list):
                raise _Bad("features", "a FeatureCollection without a features array", "GeoJSON Point features")
            return features, "features", {}
        if not _has_position(payload):
            for key in _BATCH:
                if isinstance(payload.get(key), list):
                    # fields beside the list (the device, the box) hold for every fix in it
                    outer = {k: v for k, v in payload.items() if k != key}
                    if key == "locations":
                        outer["@overland"] = True   # Overland posts {"locations": [Feature, ...]}
                    return payload[key], key, outer
        return [payload], None, {}
    if isinstance(payload, list):
        return payload, "", {}
    raise _Bad("payload", f"a JSON {type(payload).__name__} is not a position",
               f"{_FIX_EXPECTED} or a list of them")


def looks_like_position(doc) -> bool:
    """Whether parsed JSON is shaped like a tracker's fix or batch of fixes (format detection,
    once it is known not to be DCSA): a position of its own, nested or GeoJSON, or a batch list
    whose first member has one; OwnTracks, Traccar, TTN and ChirpStack uplinks included."""
    if isinstance(doc, list):
        return bool(doc) and isinstance(doc[0], dict) and looks_like_position(doc[0])
    if not isinstance(doc, dict):
        return False
    if doc.get("type") in ("Feature", "FeatureCollection") or doc.get("_type") == "location":
        return True
    if _has_position(doc) or isinstance(doc.get("uplink_message"), dict) or isinstance(doc.get("object"), dict):
        return True
    return any(isinstance(doc.get(k), list) and looks_like_position(doc[k]) for k in _BATCH)


def _has_position(d: dict) -> bool:
    keys = {k.lower() for k in d if isinstance(k, str)}
    return bool(keys & set(_LAT)) or "geometry" in keys or any(isinstance(d.get(k), dict) for k in _NESTED)


# ---- reading the fields of one fix, whatever the shape ----------------------------------------

def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _get(scope: dict, names: tuple[str, ...]) -> list[tuple[str, Any]]:
    """(key as sent, value) of every name present (case aside) and not null, in `names` order."""
    lower: dict[str, str] = {}
    for k in scope:
        if isinstance(k, str):
            lower.setdefault(k.lower(), k)
    out = []
    for name in names:
        key = lower.get(name.lower())
        if key is not None and scope[key] is not None and all(key != k for k, _ in out):
            out.append((key, scope[key]))
    return out


def _same(a: Any, b: Any) -> bool:
    try:
        return float(a) == float(b)
    except (TypeError, ValueError, OverflowError):
        return str(a).replace(" ", "").upper() == str(b).replace(" ", "").upper()


def _one(scopes: list[tuple[str, dict]], names: tuple[str, ...], *, agree: bool = True):
    """(element, value) from the first scope that has one of `names`; two names in that scope that
    disagree (lat 41.2 beside latitude 43.1) are an error, never a silent choice."""
    for path, scope in scopes:
        found = _get(scope, names)
        if not found:
            continue
        if agree:
            for key, value in found[1:]:
                if not _same(found[0][1], value):
                    raise _Bad(_at(path, key), f"{value!r} disagrees with {found[0][0]} {found[0][1]!r}",
                               f"one value, or the same value in {found[0][0]} and {key}")
        return _at(path, found[0][0]), found[0][1]
    return None


class _Fix:
    """One fix's fields as (element, value), element being the sender's own JSON path."""

    def __init__(self) -> None:
        self.time = self.lat = self.lon = self.device = self.container = self.asset = None
        self.speed = self.heading = self.mode = self.valid = None
        self.speed_factor, self.unknown_below_zero, self.weak_device = 1.0, False, None
        self.measures: dict[str, tuple[str, Any]] = {}

    def common(self, scopes: list[tuple[str, dict]], *, speed_factor: float | None = None,
               device: tuple[str, ...] = _DEVICE) -> None:
        """The fields every shape may carry, looked up scope by scope (innermost first)."""
        self.time = self.time or _one(scopes, _TIME, agree=False)
        self.device = self.device or _one(scopes, device)
        self.container = self.container or _one(scopes, _CONTAINER)
        self.asset = self.asset or _one(scopes, _ASSET)
        self.heading = self.heading or _one(scopes, _HEADING, agree=False)
        self.mode = self.mode or _one(scopes, ("mode",))
        self.valid = self.valid or _one(scopes, ("valid",))
        if self.speed is None:
            for path, scope in scopes:
                for name, factor in _SPEED:
                    found = _get(scope, (name,))
                    if found:
                        self.speed = (_at(path, found[0][0]), found[0][1])
                        self.speed_factor = speed_factor if (speed_factor and name == "speed") else factor
                        break
                if self.speed:
                    break
        for name, keys in _MEASURES.items():
            if name not in self.measures and (hit := _one(scopes, keys, agree=False)):
                self.measures[name] = hit

    def inherit(self, outer: dict) -> None:
        """A batch's own fields hold for each fix that lacks them: the device, the box, the mode
        (never the time: a batch's time is when it was sent, not when each fix was taken)."""
        scopes = [("", outer)]
        self.device = self.device or _one(scopes, _DEVICE)
        self.container = self.container or _one(scopes, _CONTAINER)
        self.asset = self.asset or _one(scopes, _ASSET)
        self.mode = self.mode or _one(scopes, ("mode",))

    def place(self, scopes: list[tuple[str, dict]]) -> None:
        self.lat = self.lat or _one(scopes, _LAT)
        self.lon = self.lon or _one(scopes, _LON)


def _sub(scope: dict, key: str, path: str) -> tuple[str, dict] | None:
    value = scope.get(key)
    return (_at(path, key), value) if isinstance(value, dict) else None


def _read(fix: dict, path: str, outer: dict) -> _Fix:
    """Map a fix of any known shape onto Corridor's fields."""
    f = _Fix()
    top = (path, fix)
    if fix.keys() <= _OWN_KEYS and not ("container" in fix and "equipment" in fix) and not outer:
        # Corridor's own shape, read field by field (the twin and most feeds send nothing else)
        for name in ("time", "lat", "lon", "device", "speed", "heading", "mode"):
            if fix.get(name) is not None:
                setattr(f, name, (_at(path, name), fix[name]))
        for name in ("container", "equipment"):
            if fix.get(name) is not None:
                f.container = (_at(path, name), fix[name])
    elif "_type" in fix:   # OwnTracks
        if fix["_type"] != "location":
            raise _Bad(_at(path, "_type"), f"an OwnTracks {fix['_type']!r} message is not a position",
                       "_type location")
        # OwnTracks' tid is a two-letter label and its topic the phone's: a device only for want of another
        weak = fix.get("topic") if isinstance(fix.get("topic"), str) else None
        f.weak_device = (_at(path, "topic" if weak else "tid"), weak.rsplit("/", 1)[-1] if weak else fix.get("tid"))
        f.place([top])
        f.common([top])
    elif fix.get("type") == "Feature":   # GeoJSON (Overland batches them under "locations")
        geometry = fix.get("geometry")
        gpath = _at(path, "geometry")
        if not isinstance(geometry, dict) or geometry.get("type") != "Point":
            kind = geometry.get("type") if isinstance(geometry, dict) else geometry
            raise _Bad(gpath, f"{kind!r} is not a Point geometry", 'a GeoJSON Point, "coordinates": [lon, lat]')
        coords = geometry.get("coordinates")
        if not isinstance(coords, list) or len(coords) < 2:
            raise _Bad(_at(gpath, "coordinates"), f"{coords!r} is not [longitude, latitude]",
                       "[longitude, latitude] (GeoJSON order)")
        f.lon, f.lat = (_at(gpath, "coordinates[0]"), coords[0]), (_at(gpath, "coordinates[1]"), coords[1])
        props = _sub(fix, "properties", path)
        overland = bool(outer.get("@overland"))
        f.unknown_below_zero = overland   # iOS reports -1 for an unknown speed or course
        f.common([s for s in (props, top) if s], speed_factor=_MPS if overland else None)
    elif isinstance(fix.get("position"), dict) and ("fixTime" in fix["position"]
                                                     or isinstance(fix.get("device"), dict)):
        # Traccar's position forwarding: {"position": {...}, "device": {...}}; speed in knots
        pos = _sub(fix, "position", path)
        device = _sub(fix, "device", path)
        f.time = _one([pos], ("fixTime", "deviceTime"), agree=False)
        if device and device[1].get("uniqueId") is not None:
            f.device = (_at(device[0], "uniqueId"), device[1]["uniqueId"])
        attrs = [s for s in (_sub(pos[1], "attributes", pos[0]),
                             device and _sub(device[1], "attributes", device[0])) if s]
        f.place([pos])
        f.common([pos, *attrs], speed_factor=_KNOTS, device=_TRACCAR_DEVICE)
    elif "fixTime" in fix and "protocol" in fix:   # a Traccar position on its own (its deviceId is internal)
        f.time = _one([top], ("fixTime", "deviceTime"), agree=False)
        f.place([top])
        f.common([top, *[s for s in (_sub(fix, "attributes", path),) if s]], speed_factor=_KNOTS,
                 device=_TRACCAR_DEVICE)
    elif "end_device_ids" in fix or "uplink_message" in fix or "deviceInfo" in fix or (
            "devEUI" in fix and "object" in fix):
        _lorawan(f, fix, path)
    elif isinstance(fix.get("coords"), dict) or (isinstance(fix.get("location"), dict)
                                                 and isinstance(fix["location"].get("coords"), dict)):
        # the W3C GeolocationPosition / Traccar Client shape: coords in m/s, -1 when unknown
        loc = _sub(fix, "location", path) if isinstance(fix.get("location"), dict) else top
        coords = _sub(loc[1], "coords", loc[0])
        battery = _sub(loc[1], "battery", loc[0])
        f.unknown_below_zero = True
        f.place([coords])
        f.common([coords, loc, top], speed_factor=_MPS)
        if battery and battery[1].get("level") is not None:
            f.measures["battery"] = (_at(battery[0], "level"), battery[1]["level"])
    else:   # Corridor's own shape and its kin, the position perhaps in a sub-object {"gps": {...}}
        scopes = [top]
        if not _get(fix, _LAT):
            for key in _NESTED:
                if (inner := _sub(fix, key, path)) and _get(inner[1], _LAT):
                    scopes = [inner, top]
                    break
        f.place(scopes)
        f.common(scopes)
    if outer:
        f.inherit(outer)
    return f


def _lorawan(f: _Fix, fix: dict, path: str) -> None:
    """The Things Stack v3 (`uplink_message.decoded_payload`) and ChirpStack (`object`) uplinks.

    Only the device's own fix counts: the gateways' places in rx_metadata/rxInfo are where the
    radio was heard, and a `user` location is typed in by hand; neither is the box's position."""
    top = (path, fix)
    up = _sub(fix, "uplink_message", path)
    decoded = (_sub(up[1], "decoded_payload", up[0]) if up else None) or _sub(fix, "object", path)
    scopes = [decoded] if decoded else []
    if decoded:   # decoders nest the fix too: {"gps": {"latitude": ...}}
        scopes += [s for key in _NESTED if (s := _sub(decoded[1], key, decoded[0]))]
    if up and isinstance(up[1].get("locations"), dict):
        frm = _sub(up[1]["locations"], "frm-payload", _at(up[0], "locations"))
        if frm:
            scopes.append(frm)
    for scope in scopes:
        if _get(scope[1], _LAT) and _get(scope[1], _LON):
            f.place([scope])
            break
    f.common(scopes)
    # no time from the tracker: the network's reception time (seconds after the fix)
    f.time = f.time or _one([s for s in (up, top) if s], ("received_at", "time"), agree=False)
    ids = _sub(fix, "end_device_ids", path) or _sub(fix, "deviceInfo", path) or top
    f.device = f.device or _one([ids], ("device_id", "deviceName", "devEui", "dev_eui", "devEUI"), agree=False)
    if not f.lat and not f.lon:
        raise _Bad(_at(up[0], "decoded_payload") if up else _at(path, "object"),
                   "the uplink carries no position of the device (a gateway's place is not one)",
                   "latitude and longitude in the decoded payload")


# ---- checking each field ----------------------------------------------------------------------

def _number(hit, element: str, low: float, high: float, *, required: bool) -> float | None:
    if hit is None:
        if required:
            raise _Bad(element, "is required", f"a number between {low:g} and {high:g}")
        return None
    element, value = hit
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _Bad(element, f"{value!r} is not a number", f"a number between {low:g} and {high:g}")
    try:
        number = float(value)
    except OverflowError:
        raise _Bad(element, f"{str(value)[:20]}... is not a number", f"a number between {low:g} and {high:g}") from None
    except ValueError:
        hint = " (a decimal comma? send a point)" if isinstance(value, str) and re.fullmatch(
            r"\s*-?\d+,\d+\s*", value) else ""
        raise _Bad(element, f"{value!r} is not a number{hint}", f"a number between {low:g} and {high:g}") from None
    if not low <= number <= high:   # also rejects NaN
        raise _Bad(element, f"{number:g} is outside {low:g}..{high:g}", f"a number between {low:g} and {high:g}")
    return number


def _coordinate(hit, element: str, low: float, high: float, other) -> float:
    try:
        return _number(hit, element, low, high, required=True)
    except _Bad as bad:
        value = _float(hit[1]) if hit else None
        if value is not None and abs(value) > 180 and abs(value) / 1e7 <= high:
            bad.reason += " (degrees x 10^7? send decimal degrees)"
        elif value is not None and low == -90 and abs(value) <= 180 and (o := _float(other[1] if other else None)) \
                is not None and abs(o) <= 90:
            bad.reason += " (latitude and longitude swapped?)"
        raise


def _float(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        return float(value)
    except (ValueError, OverflowError):
        return None


def _when(hit, path: str) -> datetime:
    if hit is None:
        raise _Bad(_at(path, "time"), "is required", DATETIME_EXPECTED)
    element, value = hit
    if isinstance(value, str) and "-" not in value and re.fullmatch(r"\s*\d+(\.\d+)?\s*", value):
        value = float(value) if "." in value else int(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, int) and abs(value) >= 10**19:
            raise _Bad(element, f"{str(value)[:20]}... is not epoch seconds or milliseconds", _EPOCH_EXPECTED)
        for scale in _EPOCH_SCALES:
            if _EPOCH_LOW <= value / scale < _EPOCH_HIGH:
                return datetime.fromtimestamp(value / scale, timezone.utc)
        why = ("is the tracker's unset clock (1970-01-01), not a fix time" if 0 <= value < 86_400 * 366 * 30
               else "is not epoch seconds or milliseconds of a date in 2000..2099")
        raise _Bad(element, f"{value!r} {why}", _EPOCH_EXPECTED)
    if not isinstance(value, str):
        raise _Bad(element, f"{value!r} is not a date-time", _EPOCH_EXPECTED)
    try:
        when = offset_datetime(value)
    except ValueError:
        try:
            when = offset_datetime(_iso(value))
        except ValueError as exc:
            raise _Bad(element, str(exc).replace(repr(_iso(value)), repr(value)), DATETIME_EXPECTED) from None
    if when.year < 2000:
        raise _Bad(element, f"{value!r} is before 2000: the tracker's clock is unset (no GPS time yet)",
                   DATETIME_EXPECTED)
    return when


def _iso(text: str) -> str:
    """RFC 3339 from the ISO 8601 variants trackers send: a space for T, no seconds, +0400, +04, UTC."""
    m = _ISO.match(text.strip())
    if not m or not m.group(4):
        return text   # a time without an offset stays as it is: it is refused with its reason
    date, hm, sec, tz = m.groups()
    sec = (sec or ":00").replace(",", ".")
    if tz.upper() in ("Z", "UTC", "GMT"):
        tz = "Z"
    elif len(tz) == 3:
        tz += ":00"
    elif ":" not in tz:
        tz = f"{tz[:3]}:{tz[3:]}"
    return f"{date}T{hm}{sec}{tz}"


def _event(fix, path: str, topic_device: str | None, source_party: str, outer: dict,
           warnings: list[str]) -> Event:
    if not isinstance(fix, dict):
        raise _Bad(path or "payload", f"a JSON {type(fix).__name__} is not a position", "a JSON object")
    f = _read(fix, path, outer)
    when = _when(f.time, path)
    lat = _coordinate(f.lat, _at(path, "lat"), -90, 90, f.lon)
    lon = _coordinate(f.lon, _at(path, "lon"), -180, 180, f.lat)
    if lat == 0 and lon == 0:
        raise _Bad(f.lat[0], "0,0 is no place on the corridor: a tracker without a GPS fix reports it",
                   "the fix's latitude and longitude")
    if f.valid is not None and f.valid[1] is False:
        raise _Bad(f.valid[0], "false: the tracker has no valid GPS fix (the position is its last known one)",
                   "a valid fix")
    low = -1e9 if f.unknown_below_zero else 0
    speed = _number(f.speed, _at(path, "speed"), low, 1000 / f.speed_factor, required=False)
    heading = _number(f.heading, _at(path, "heading"), low if low else 0, 360, required=False)
    speed = None if speed is None or speed < 0 else round(speed * f.speed_factor, 3)   # km/h
    heading = None if heading is None or heading < 0 else heading                       # degrees from north
    device = _device(f, path, topic_device)
    container = _container(f)
    mode = f.mode[1] if f.mode else None
    if mode is not None and (not isinstance(mode, str) or mode.upper() not in _MODES):
        raise _Bad(f.mode[0], f"{mode!r} is not a mode of transport", ", ".join(sorted(_MODES)))
    # a tracker on a container reports the container; one without rides a vehicle (a truck unless told)
    call = None if container and not mode else TransportCall(mode=(mode or "TRUCK").upper(), vehicle=device)
    extra = {"device": device, **({"speed_kmh": speed} if speed is not None else {}),
             **({"heading": heading} if heading is not None else {})}
    for name, (element, value) in f.measures.items():
        number = _float(value)
        if number is None or number != number or abs(number) == float("inf"):
            warnings.append(f"{element}: {value!r} is not a number; not kept")
        else:
            extra[name] = number
    if f.asset and not container:
        extra["asset"] = str(f.asset[1])
    return Event(kind=EventKind.IOT, code="POSI", classifier=Classifier.ACT, event_time=when,
                 equipment=container, transport_call=call, lat=lat, lon=lon,
                 source_party=source_party,
                 parties=frozenset({source_party}) if source_party else frozenset(), extra=extra)


def _device(f: _Fix, path: str, topic_device: str | None) -> str:
    hit = f.device
    if hit is None and not topic_device and f.weak_device and f.weak_device[1]:
        hit = f.weak_device
    device = hit[1] if hit else None
    if isinstance(device, int) and not isinstance(device, bool):
        device = str(device)   # an IMEI sent as a JSON number
    if hit is not None and (not isinstance(device, str) or not device.strip()):
        raise _Bad(hit[0], f"{hit[1]!r} is not a device id", "the tracker's id (a string)")
    device = device.strip() if device else topic_device
    if not device:
        raise _Bad(_at(path, "device"), "is required (in the payload or the topic)", "the tracker's id")
    if topic_device and device != topic_device:
        raise _Bad(hit[0], f"{device!r} is not the topic's device {topic_device!r}", topic_device)
    return device


def _container(f: _Fix) -> str | None:
    hit = f.container
    if hit is None and f.asset is not None and isinstance(f.asset[1], str) \
            and _BOX.match(re.sub(r"[\s\-/.]", "", f.asset[1]).upper()):
        hit = f.asset   # an asset id shaped like a container number is one (and must be a good one)
    if hit is None:
        return None
    try:
        return container_number(hit[1])
    except InvalidEquipment as exc:
        raise _Bad(hit[0], str(exc), "an ISO 6346 container number") from None
