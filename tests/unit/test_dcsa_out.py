"""DCSA TNT 2.2 JSON out: output conforms to the 2.2 spec and parses back to the same Event."""

import functools
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from corridor.domain.equipment import with_check_digit
from corridor.domain.events import Classifier, Event, EventKind, TransportCall
from corridor.ingest.dcsa import MODELS_22, parse_dcsa
from corridor.tracking.dcsa_out import dcsa_22_gap, dcsa_event_id, to_dcsa_22

DCSA = Path(__file__).resolve().parents[2].parent / "shared" / "standards" / "dcsa-tnt"
SPEC = DCSA / "TNT_v2.2.0-resolved.yaml"
needs_spec = pytest.mark.skipif(not SPEC.is_file(), reason=f"DCSA 2.2 spec not found at {SPEC}")
NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)


@functools.cache
def spec_schemas() -> dict:
    return yaml.safe_load(SPEC.read_text())["components"]["schemas"]


@pytest.fixture
def schemas():
    return spec_schemas()


def resolve(schema: dict, schemas: dict) -> dict:
    """One schema with $ref and allOf merged: properties and required unioned, later parts win."""
    if "$ref" in schema:
        return resolve(schemas[schema["$ref"].rsplit("/", 1)[1]], schemas)
    merged = {k: v for k, v in schema.items() if k != "allOf"}
    for part in schema.get("allOf", ()):
        part = resolve(part, schemas)
        props = {**merged.get("properties", {})}
        for k, v in part.get("properties", {}).items():   # a later part narrows (enum on eventType)
            props[k] = {**resolve(props[k], schemas), **resolve(v, schemas)} if k in props else v
        merged.update({k: v for k, v in part.items() if k not in ("properties", "required")})
        if props:
            merged["properties"] = props
        merged["required"] = sorted(set(merged.get("required", ())) | set(part.get("required", ())))
    return merged


def conforms(value, schema: dict, schemas: dict, path="$") -> list[str]:
    """Problems of `value` against an OpenAPI schema: unknown keys, required, enum, type, maxLength."""
    schema = resolve(schema, schemas)
    if "properties" in schema or schema.get("type") == "object":
        if not isinstance(value, dict):
            return [f"{path}: expected an object"]
        props = schema.get("properties", {})
        problems = [f"{path}.{k}: required" for k in schema.get("required", ()) if k not in value]
        for k, v in value.items():
            if k not in props:
                problems.append(f"{path}.{k}: not in the 2.2 schema")
            else:
                problems += conforms(v, props[k], schemas, f"{path}.{k}")
        return problems
    if schema.get("type") == "array":
        return [p for i, v in enumerate(value) for p in conforms(v, schema["items"], schemas, f"{path}[{i}]")]
    problems = []
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {value!r} not in {schema['enum']}")
    if schema.get("type") == "string":
        if not isinstance(value, str):
            problems.append(f"{path}: expected a string")
        elif len(value) > schema.get("maxLength", 10**9):
            problems.append(f"{path}: longer than {schema['maxLength']}")
    if schema.get("type") == "integer" and not isinstance(value, int):
        problems.append(f"{path}: expected an integer")
    return problems


def dump_and_check(event: Event, schemas) -> dict:
    out = to_dcsa_22(event, event.event_id, event.created_at)
    name = {"TRANSPORT": "transportEvent", "SHIPMENT": "shipmentEvent", "EQUIPMENT": "equipmentEvent"}
    assert conforms(out, {"$ref": f"#/{name[out['eventType']]}"}, schemas) == []
    MODELS_22[out["eventType"]].model_validate(out)   # and our own strict models accept it
    return out


def round_trip(event: Event) -> Event:
    out = to_dcsa_22(event, event.event_id, event.created_at)
    r = parse_dcsa(json.dumps([out]).encode(), source_party=event.source_party, received_at=NOW)
    assert r.rejections == [], r.rejections
    [back] = r.events
    return back


@needs_spec
def test_dcsa_examples_round_trip_and_conform(schemas):
    raw = (DCSA / "examples" / "tnt-220-response.json").read_bytes()
    events = parse_dcsa(raw, source_party="carrier", received_at=NOW).events
    assert len(events) == 7
    for e in events:
        dump_and_check(e, schemas)
        assert round_trip(e) == e


@needs_spec
def test_corridor_rail_event(schemas):
    created = datetime(2025, 3, 2, 9, 0, tzinfo=timezone(timedelta(hours=5)))
    e = Event(kind=EventKind.EQUIPMENT, code="GTOT", classifier=Classifier.ACT,
              event_time=created - timedelta(hours=1), location="KZ_AKX", equipment="MSKU1234565",
              size_type="45G1", empty=False,
              transport_call=TransportCall(mode="RAIL", location="KZ_AKX", voyage="KZ-8412",
                                           facility_type="RAMP"),
              references=(("BKG", "CRD-0042"),), source_party="ktz", parties=frozenset({"ktz"}),
              created_at=created, event_id="not-a-uuid-7")
    out = dump_and_check(e, schemas)
    assert out["transportCall"]["otherFacility"] == "KZ_AKX"   # a Corridor id without UN/LOCODE
    assert out["eventID"] == dcsa_event_id("not-a-uuid-7") != "not-a-uuid-7"
    assert out["eventDateTime"] == "2025-03-02T08:00:00+05:00"
    back = round_trip(e)
    assert back.event_id == out["eventID"] and back.location == "KZ_AKX"
    assert back.transport_call == e.transport_call and back.equipment == e.equipment


def test_what_22_cannot_carry():
    t = datetime(2025, 1, 1, tzinfo=timezone.utc)
    posi = Event(kind=EventKind.IOT, code="POSI", classifier=Classifier.ACT, event_time=t, lat=1, lon=2)
    assert dcsa_22_gap(posi) == "IOT events have no DCSA 2.2 counterpart"
    with pytest.raises(ValueError, match="no DCSA 2.2 counterpart"):
        to_dcsa_22(posi, "x", t)
    ship = Event(kind=EventKind.SHIPMENT, code="CONF", classifier=Classifier.ACT, event_time=t)
    assert "document reference" in dcsa_22_gap(ship)
    with pytest.raises(ValueError, match="UTC offset"):
        to_dcsa_22(Event(kind=EventKind.SHIPMENT, code="CONF", classifier=Classifier.ACT, event_time=t,
                         references=(("BKG", "B1"),)), "x", datetime(2025, 1, 1))


# ---- property: every representable event survives the round trip -----------------------
_aware = st.datetimes(min_value=datetime(2015, 1, 1), max_value=datetime(2026, 1, 1),
                      timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=5)),
                                                 timezone(timedelta(hours=-3, minutes=-30))]))
_code = st.text("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-", min_size=1, max_size=12)
_locode = st.sampled_from(["KZAAU", "AZBAK", "GEPTI", "TRIST", "CNXIA", "KZ_AKX"])
_container = st.builds(lambda o, n: with_check_digit(f"{o}U{n:06d}"),
                       st.sampled_from(["MSK", "TGH", "CAI"]), st.integers(0, 999999))


@st.composite
def events(draw):
    kind = draw(st.sampled_from([EventKind.TRANSPORT, EventKind.EQUIPMENT, EventKind.SHIPMENT]))
    when = draw(_aware)
    common = dict(classifier=draw(st.sampled_from(list(Classifier))), event_time=when,
                  created_at=when + timedelta(minutes=draw(st.integers(0, 10_000))),
                  source_party="p", parties=frozenset({"p"}), event_id=draw(st.uuids()).__str__())
    refs = draw(st.lists(st.tuples(st.sampled_from(["BKG", "BOL", "FF", "EQ"]), _code), max_size=3))
    # 2.2 holds documents (BKG, BOL) and other references in two lists: documents come first
    refs = tuple(sorted(refs, key=lambda r: r[0] not in ("BKG", "BOL")))
    if kind == EventKind.SHIPMENT:
        doc = (draw(st.sampled_from(["BKG", "BOL", "SHI", "VGM"])), draw(_code))
        return Event(kind=kind, code=draw(st.sampled_from(["RECE", "CONF", "ISSU", "HOLD", "RELS"])),
                     references=(doc,) + tuple(r for r in refs if r[0] not in ("BKG", "BOL")),
                     reason=draw(st.none() | _code), **common)
    place = draw(_locode)
    mode = draw(st.sampled_from(["RAIL", "VESSEL", "TRUCK", "BARGE"]))
    call = TransportCall(mode=mode, location=place, voyage=draw(st.none() | _code),
                         service=draw(st.none() | st.text("ABCDEFXYZ0123456789", min_size=1, max_size=5)),
                         vehicle=draw(st.sampled_from(["9321483", None])) if mode == "VESSEL" else None,
                         facility_type=draw(st.sampled_from([None, "POTE", "RAMP", "BOCR", "INTE"])))
    lat = draw(st.none() | st.floats(-90, 90).map(lambda v: round(v, 5)))
    lon = None if lat is None else draw(st.floats(-180, 180).map(lambda v: round(v, 5)))
    if kind == EventKind.TRANSPORT:
        return Event(kind=kind, code=draw(st.sampled_from(["ARRI", "DEPA"])), location=place,
                     transport_call=call, references=refs, lat=lat, lon=lon, **common)
    with_call = draw(st.booleans())
    return Event(kind=kind, code=draw(st.sampled_from(["LOAD", "DISC", "GTIN", "GTOT", "PICK"])),
                 location=place if (with_call or "_" not in place) else None,
                 equipment=draw(_container), size_type=draw(st.sampled_from(["22G1", "45G1", "42R1"])),
                 empty=draw(st.booleans()), transport_call=call if with_call else None,
                 references=refs, lat=lat, lon=lon, **common)


@needs_spec
@settings(max_examples=150, deadline=None)
@given(events())
def test_round_trip_property(e):
    dump_and_check(e, spec_schemas())
    assert round_trip(e) == e
