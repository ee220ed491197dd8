"""GPS / IoT tracker positions in: one JSON fix (or a batch) -> IOT/POSI events.

Payload: {"time": ISO 8601 with offset, "lat", "lon", "device", "container"? (or "equipment"),
"speed"?, "heading"?, "mode"?}. Over MQTT the topic `corridor/v1/positions/{party}/{device}` names the
sender; the broker's ACL lets a party publish under its own id only, so the topic is trusted
over anything the payload claims (see docs/formats.md).
"""

from __future__ import annotations

import json
from datetime import datetime

from corridor.domain.equipment import container_number
from corridor.domain.errors import InvalidEquipment
from corridor.domain.events import Classifier, Event, EventKind, TransportCall
from corridor.ingest.dcsa import DATETIME_EXPECTED, offset_datetime
from corridor.ingest.results import ParseResult, Rejection

FORMAT = "position-json"
TOPIC_PREFIX = ("corridor", "v1", "positions")
TOPIC_FILTER = "corridor/v1/positions/+/+"   # what the Corridor consumer subscribes to
_MODES = {"RAIL", "VESSEL", "TRUCK", "BARGE"}


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
        fixes, prefix = _fixes(payload)
    except _Bad as bad:
        result.rejections.append(Rejection(reason=bad.reason, element=bad.element, expected=bad.expected))
        return result
    except ValueError as exc:
        result.rejections.append(Rejection(reason=str(exc), element="topic",
                                           expected="corridor/v1/positions/{party}/{device}"))
        return result
    result.meta["source_party"] = source_party
    for i, fix in enumerate(fixes):
        path = f"{prefix}[{i}]" if prefix is not None else ""
        try:
            result.events.append(_event(fix, path, topic_device, source_party))
        except _Bad as bad:
            result.rejections.append(Rejection(reason=f"{bad.element}: {bad.reason}", segment=i,
                                               element=bad.element, expected=bad.expected,
                                               message_ref=fix.get("device") if isinstance(fix, dict) else None))
        except Exception as exc:  # noqa: BLE001 - never raise on input
            result.rejections.append(Rejection(reason=f"{path or 'payload'}: {exc}", segment=i))
    return result


def _fixes(payload) -> tuple[list, str | None]:
    if isinstance(payload, (bytes, bytearray)):
        try:
            payload = bytes(payload).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise _Bad("payload", "not UTF-8 text", "UTF-8 JSON") from None
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise _Bad("payload", f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                       '{"time", "lat", "lon", "device"}') from None
    if isinstance(payload, dict):
        return [payload], None
    if isinstance(payload, list):
        return payload, ""
    raise _Bad("payload", f"a JSON {type(payload).__name__} is not a position",
               '{"time", "lat", "lon", "device"} or a list of them')


def _number(fix: dict, key: str, path: str, low: float, high: float, *, required: bool) -> float | None:
    value = fix.get(key)
    if value is None:
        if required:
            raise _Bad(_at(path, key), "is required", f"a number between {low:g} and {high:g}")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _Bad(_at(path, key), f"{value!r} is not a number", f"a number between {low:g} and {high:g}")
    try:
        number = float(value)
    except ValueError:
        raise _Bad(_at(path, key), f"{value!r} is not a number", f"a number between {low:g} and {high:g}") from None
    if not low <= number <= high:   # also rejects NaN
        raise _Bad(_at(path, key), f"{number:g} is outside {low:g}..{high:g}", f"a number between {low:g} and {high:g}")
    return number


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _event(fix, path: str, topic_device: str | None, source_party: str) -> Event:
    if not isinstance(fix, dict):
        raise _Bad(path or "payload", f"a JSON {type(fix).__name__} is not a position", "a JSON object")
    try:
        when: datetime = offset_datetime(fix.get("time"))
    except ValueError as exc:
        raise _Bad(_at(path, "time"), "is required" if fix.get("time") is None else str(exc),
                   DATETIME_EXPECTED) from None
    lat = _number(fix, "lat", path, -90, 90, required=True)
    lon = _number(fix, "lon", path, -180, 180, required=True)
    speed = _number(fix, "speed", path, 0, 1000, required=False)     # km/h
    heading = _number(fix, "heading", path, 0, 360, required=False)  # degrees from north
    device = fix.get("device") or topic_device
    if not isinstance(device, str) or not device:
        raise _Bad(_at(path, "device"), "is required (in the payload or the topic)", "the tracker's id")
    if topic_device and device != topic_device:
        raise _Bad(_at(path, "device"), f"{device!r} is not the topic's device {topic_device!r}",
                   topic_device)
    key = "container" if "container" in fix else "equipment"   # DCSA's word is accepted too
    container = fix.get(key)
    if container is not None:
        try:
            container = container_number(container)
        except InvalidEquipment as exc:
            raise _Bad(_at(path, key), str(exc), "an ISO 6346 container number") from None
    mode = fix.get("mode")
    if mode is not None and (not isinstance(mode, str) or mode.upper() not in _MODES):
        raise _Bad(_at(path, "mode"), f"{mode!r} is not a mode of transport", ", ".join(sorted(_MODES)))
    # a tracker on a container reports the container; one without rides a vehicle (a truck unless told)
    call = None if container and not mode else TransportCall(mode=(mode or "TRUCK").upper(), vehicle=device)
    extra = {"device": device, **({"speed_kmh": speed} if speed is not None else {}),
             **({"heading": heading} if heading is not None else {})}
    return Event(kind=EventKind.IOT, code="POSI", classifier=Classifier.ACT, event_time=when,
                 equipment=container, transport_call=call, lat=lat, lon=lon,
                 source_party=source_party,
                 parties=frozenset({source_party}) if source_party else frozenset(), extra=extra)
