"""DCSA 2.2 fidelity on both stores: every field of a full 2.2 event comes back out.

A ferry line posts TRANSPORT, SHIPMENT and EQUIPMENT events with every optional field 2.2 defines
(POST /api/v1/events) and reads each back by its eventID (GET /v2/events/{eventID}) and in the
list (GET /v2/events). The answer must validate against the 2.2 schema (TNT_v2.2.0-resolved.yaml,
read in place, checked with jsonschema) and carry every leaf the carrier sent with the same value
(times: the same instant and offset; degrees: the same number). Only the message's own metadata is
Corridor's (eventID, eventCreatedDateTime: see test_dcsa_roundtrip.REPUBLISHED). Events that came
in as EDIFACT or CSV, with no DCSA origin, must come out valid 2.2 as well.
"""

from __future__ import annotations

import copy
import functools
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft4Validator
from sqlalchemy import select

from corridor.access.keys import create_key
from corridor.api.app import create_app
from corridor.domain.parties import ADMIN_PARTY, Party, Role
from corridor.ingest import dcsa
from corridor.ingest.dcsa import offset_datetime
from corridor.settings import Settings
from corridor.store.parties import set_alias, upsert_party
from corridor.store.tables import events
from corridor.tracking.dcsa_out import to_dcsa_22
from corridor.tracking.outbox import event_uuid

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT.parent / "shared" / "standards" / "dcsa-tnt" / "TNT_v2.2.0-resolved.yaml"
FIXTURES = ROOT / "tests" / "fixtures"
LINE = "ASCO"   # the Caspian ferry line that posts
REPUBLISHED = {"eventID", "eventCreatedDateTime"}
NOW = datetime.now(timezone.utc).replace(microsecond=0)
AKTAU = timezone(timedelta(hours=5))


# ---- the 2.2 schema ----------------------------------------------------------------------------
@functools.cache
def _spec() -> dict:
    if not SPEC.is_file():
        pytest.skip(f"DCSA 2.2 spec not found at {SPEC}")
    return yaml.safe_load(SPEC.read_text())


@functools.cache
def _validator(name: str) -> Draft4Validator:
    # OpenAPI 3.0 schemas are draft 4 with extras (nullable, discriminator, example) a validator ignores
    return Draft4Validator({"$ref": f"#/components/schemas/{name}", "components": _spec()["components"]})


def _names(schema: dict) -> dict:
    """Property name -> schema of an object schema, allOf parts and $refs merged."""
    schemas = _spec()["components"]["schemas"]
    if "$ref" in schema:
        return _names(schemas[schema["$ref"].rsplit("/", 1)[1]])
    out = dict(schema.get("properties", {}))
    for part in schema.get("allOf", ()):
        for k, v in _names(part).items():
            out[k] = {"allOf": [out[k], v]} if k in out else v
    return out


def _unknown_keys(value, schema: dict, path: str = "$") -> list[str]:
    """Keys the 2.2 schema does not define (it sets no additionalProperties: jsonschema lets them by)."""
    schemas = _spec()["components"]["schemas"]
    while "$ref" in schema:
        schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
    if isinstance(value, list):
        items = schema.get("items") or next((p["items"] for p in schema.get("allOf", ()) if "items" in p), None)
        return [p for i, v in enumerate(value) for p in _unknown_keys(v, items or {}, f"{path}[{i}]")]
    if not isinstance(value, dict):
        return []
    props = _names(schema)
    out = []
    for k, v in value.items():
        if k not in props:
            out.append(f"{path}.{k}")
        else:
            sub = props[k]
            parts = sub.get("allOf", [sub]) if set(sub) == {"allOf"} else [sub]
            # a property given twice (allOf of two parts): the first part that has a shape decides
            out += _unknown_keys(v, next((p for p in parts if "$ref" in p or "properties" in p or "items" in p
                                           or "allOf" in p), parts[0]), f"{path}.{k}")
    return out


def schema_problems(doc: dict) -> list[str]:
    """Why `doc` is not a valid DCSA 2.2 event; empty when it is."""
    kind = doc.get("eventType", "")
    schema = {"TRANSPORT": "transportEvent", "SHIPMENT": "shipmentEvent", "EQUIPMENT": "equipmentEvent"}.get(kind)
    if schema is None:
        return [f"eventType {kind!r}"]
    # the kind's own schema words each problem; the response's oneOf must then take the event as well
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in _validator(schema).iter_errors(doc)]
    problems += [e.message for e in _validator("inline_response_200").iter_errors(doc)][:1 if not problems else 0]
    problems += [f"{p}: not in the 2.2 schema" for p in _unknown_keys(doc, {"$ref": f"#/components/schemas/{schema}"})]
    for path, value in _leaves(doc):
        if path.endswith("DateTime"):
            try:
                offset_datetime(value)   # RFC 3339 with an offset (jsonschema checks no format here)
            except ValueError as e:
                problems.append(f"{path}: {e}")
    return problems


# ---- comparing what was sent with what came back -------------------------------------------------
def _leaves(doc, path: str = ""):
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _leaves(v, f"{path}.{k}" if path else k)
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _leaves(v, f"{path}[{i}]")
    else:
        yield path, doc


def _same(path: str, sent, back) -> bool:
    name = path.rsplit(".", 1)[-1]
    if name.endswith("DateTime"):
        a, b = offset_datetime(sent), offset_datetime(back)
        return a == b and a.utcoffset() == b.utcoffset()   # the same instant in the sender's offset
    if name in ("latitude", "longitude"):
        return Decimal(sent) == Decimal(back)
    return type(sent) is type(back) and sent == back


def lost_or_changed(sent: dict, back: dict) -> list[str]:
    """Leaves of `sent` missing from `back` or different there (Corridor's own metadata aside)."""
    got = dict(_leaves(back))
    out = []
    for path, value in _leaves(sent):
        if path in REPUBLISHED:
            continue
        if path not in got:
            out.append(f"lost {path}")
        elif not _same(path, value, got[path]):
            out.append(f"changed {path}: {value!r} -> {got[path]!r}")
    return out


def added(sent: dict, back: dict) -> set[str]:
    return set(dict(_leaves(back))) - set(dict(_leaves(sent)))


# ---- the events: every optional field of 2.2 ----------------------------------------------------
def _t(hours_ago: float, tz=AKTAU) -> str:
    return (NOW - timedelta(hours=hours_ago)).astimezone(tz).isoformat()


ADDRESS = {"name": "Port of Aktau", "street": "Portovaya", "streetNumber": "1", "floor": "2",
           "postCode": "130000", "city": "Aktau", "stateRegion": "Mangystau", "country": "Kazakhstan"}
VESSEL = {"vesselIMONumber": "9321483", "vesselName": "Professor Gul", "vesselFlag": "AZ",
          "vesselCallSignNumber": "4JQX", "vesselOperatorCarrierCode": "ASCO",
          "vesselOperatorCarrierCodeListProvider": "SMDG"}
CALL = {"transportCallID": "5e7b1c2a-6f0e-4a51-9a3b-0c8d2f1e7a40", "carrierServiceCode": "AKBK1",
        "carrierVoyageNumber": "AK24W", "exportVoyageNumber": "AK24WE", "importVoyageNumber": "AK24WI",
        "transportCallSequenceNumber": 3, "UNLocationCode": "KZAAU", "facilityCode": "AKTPT",
        "facilityCodeListProvider": "SMDG", "facilityTypeCode": "POTE", "otherFacility": "ferry berth 4",
        "modeOfTransport": "VESSEL",
        "location": {"locationName": "Aktau ferry terminal", "latitude": "43.6031", "longitude": "51.2092",
                     "UNLocationCode": "KZAAU", "facilityCode": "AKTFB", "facilityCodeListProvider": "BIC",
                     "address": ADDRESS},
        "vessel": VESSEL}
DOCS = [{"documentReferenceType": "BKG", "documentReferenceValue": "BKAKT0001"},
        {"documentReferenceType": "TRD", "documentReferenceValue": "BLAKT0001"}]
REFS = [{"referenceType": "FF", "referenceValue": "FWD-77"}, {"referenceType": "SI", "referenceValue": "SI-5"},
        {"referenceType": "PO", "referenceValue": "PO-9"}, {"referenceType": "CR", "referenceValue": "CR-1"},
        {"referenceType": "AAO", "referenceValue": "AAO-3"}, {"referenceType": "EQ", "referenceValue": "MSKU1234565"}]


def full_events() -> list[dict]:
    """One of each kind with every optional 2.2 field, and the shapes a carrier may choose."""
    transport = {"eventID": "a1b2c3d4-0001-4000-8000-000000000001", "eventCreatedDateTime": _t(20, timezone.utc),
                 "eventType": "TRANSPORT", "eventClassifierCode": "ACT", "eventDateTime": _t(21),
                 "transportEventTypeCode": "DEPA", "delayReasonCode": "WEA",
                 "changeRemark": "held by a storm on the Caspian", "transportCall": CALL,
                 "documentReferences": DOCS, "references": REFS}
    shipment = {"eventID": "a1b2c3d4-0001-4000-8000-000000000002", "eventCreatedDateTime": _t(30, timezone.utc),
                "eventType": "SHIPMENT", "eventClassifierCode": "ACT", "eventDateTime": _t(31),
                "shipmentEventTypeCode": "ISSU", "documentID": "BLAKT0001", "documentTypeCode": "TRD",
                "reason": "issued at origin", "references": REFS[:2]}
    # an equipment event at the inland depot whose call is the ferry's at the port
    equipment = {"eventID": "a1b2c3d4-0001-4000-8000-000000000003", "eventCreatedDateTime": _t(40, timezone.utc),
                 "eventType": "EQUIPMENT", "eventClassifierCode": "ACT", "eventDateTime": _t(41),
                 "equipmentEventTypeCode": "GTOT", "equipmentReference": "MSKU1234565", "ISOEquipmentCode": "45G1",
                 "emptyIndicatorCode": "LADEN",
                 "eventLocation": {"locationName": "Almaty-1 container yard", "latitude": "43.3410",
                                   "longitude": "76.9490", "UNLocationCode": "KZALA", "facilityCode": "ALA1",
                                   "facilityCodeListProvider": "BIC",
                                   "address": {"name": "KTZE terminal", "street": "Zhetysu", "city": "Almaty",
                                               "country": "Kazakhstan"}},
                 "transportCall": CALL, "documentReferences": DOCS, "references": REFS[5:],
                 "seals": [{"sealNumber": "KZ123456", "sealSource": "CUS", "sealType": "BLT"},
                           {"sealNumber": "SH-1", "sealSource": "SHI", "sealType": "KLP"}]}
    # a planned load: the call's place given inside its location only, a vessel named without extras
    planned = {"eventID": "a1b2c3d4-0001-4000-8000-000000000004", "eventCreatedDateTime": _t(5, timezone.utc),
               "eventType": "EQUIPMENT", "eventClassifierCode": "PLN", "eventDateTime": _t(-30),
               "equipmentEventTypeCode": "LOAD", "equipmentReference": "TGHU1234567", "emptyIndicatorCode": "EMPTY",
               "eventLocation": {"UNLocationCode": "KZAAU"},
               "transportCall": {"transportCallID": "AKT-CALL-9", "carrierVoyageNumber": "AK25E",
                                 "modeOfTransport": "VESSEL", "UNLocationCode": "KZAAU",
                                 "location": {"UNLocationCode": "KZAAU", "locationName": "Aktau"},
                                 "vessel": {"vesselIMONumber": "9321483"}}}
    # a train's arrival by rail, its wagon-ferry vessel named on the call (2.2 lets any call name one)
    rail = {"eventID": "a1b2c3d4-0001-4000-8000-000000000005", "eventCreatedDateTime": _t(10, timezone.utc),
            "eventType": "TRANSPORT", "eventClassifierCode": "EST", "eventDateTime": _t(-12),
            "transportEventTypeCode": "ARRI",
            "transportCall": {"transportCallID": "KTZ-8024-DOS", "exportVoyageNumber": "X8024",
                              "modeOfTransport": "RAIL", "UNLocationCode": "KZDOS", "facilityTypeCode": "RAMP",
                              "location": {"latitude": "44.2410", "longitude": "80.3420"},
                              "vessel": {"vesselIMONumber": "9134157", "vesselFlag": "KZ"}}}
    return [transport, shipment, equipment, planned, rail]


# what 2.2 readers are given besides what was sent: the deprecated carrierVoyageNumber's value under
# its current name too (the voyage filters of GET /v2/events read it)
ADDED = {3: {"transportCall.exportVoyageNumber"}}


@pytest.fixture
def api(loaded_store):
    with loaded_store.tx() as conn:
        upsert_party(conn, Party(ADMIN_PARTY, "Corridor", frozenset({Role.ADMIN})))
        upsert_party(conn, Party(LINE, "Azerbaijan Caspian Shipping", frozenset({Role.FERRY_OPERATOR})))
        keys = {"admin": create_key(conn, ADMIN_PARTY, scopes=("read", "write", "admin")),
                LINE: create_key(conn, LINE, scopes=("read", "write"))}
    client = TestClient(create_app(Settings(database_url=loaded_store.url, nats_url=None), store=loaded_store))
    client.keys = {p: {"Authorization": f"Bearer {k}"} for p, k in keys.items()}
    return client


def _seq_of_sender_id(store, event_id: str) -> int:
    with store.read() as conn:
        return conn.execute(select(events.c.seq).where(events.c.event_id == event_id)).scalar_one()


def test_a_full_22_event_comes_back_field_by_field(api, loaded_store):
    sent = full_events()
    r = api.post(f"/api/v1/events?party={LINE}", content=json.dumps(sent), headers=api.keys["admin"])
    assert r.status_code == 200, r.text
    assert (r.json()["stored"], r.json()["quarantined"]) == (len(sent), 0), r.json()
    listed = {}
    url = "/v2/events?limit=2"
    while url:
        page = api.get(url, headers=api.keys[LINE])
        assert page.status_code == 200, page.text
        listed.update((d["eventID"], d) for d in page.json())
        url = page.headers.get("Next-Page")
    for i, item in enumerate(sent):
        eid = event_uuid(_seq_of_sender_id(loaded_store, item["eventID"]))
        one = api.get(f"/v2/events/{eid}", headers=api.keys[LINE])
        assert one.status_code == 200, one.text
        back = one.json()
        assert schema_problems(back) == [], (i, back)
        assert lost_or_changed(item, back) == [], (i, back)
        assert added(item, back) == ADDED.get(i, set()) | {"eventID", "eventCreatedDateTime"} - set(item), (i, back)
        assert listed[eid] == back


def test_the_schema_check_finds_what_22_refuses():
    # the check itself: an unknown key, a wrong enum, a missing required field, a long text, a naive time
    good = full_events()[0]
    assert schema_problems(good) == []
    for change, found in [(lambda d: d["transportCall"].update(wagon="1"), "transportCall.wagon"),
                          (lambda d: d["transportCall"]["vessel"].update(vesselFlag="AZE"), "vesselFlag"),
                          (lambda d: d["transportCall"].update(facilityTypeCode="BRTH"), "BRTH"),
                          (lambda d: d["transportCall"].pop("modeOfTransport"), "modeOfTransport"),
                          (lambda d: d["transportCall"]["location"]["address"].update(floor="x" * 51), "x" * 51),
                          (lambda d: d.update(eventDateTime="2026-01-01T10:00:00"), "eventDateTime")]:
        bad = copy.deepcopy(good)
        change(bad)
        problems = schema_problems(bad)
        assert problems and any(found in p for p in problems), (found, problems)


@pytest.mark.parametrize("name,aliases", [
    ("coarri_loading_aktau.edi", {"KZSCO": "KZ_AKX"}),    # the port's old code, as an operator maps it
    ("coprar_discharge_baku.edi", {"AZBAK": "AZ_BKS"}),
    ("corridor_default.csv", {}),                         # Corridor location ids, no UN/LOCODE
    ("terminal_gate_log.tsv", {}),
])
def test_events_from_edifact_and_csv_come_out_as_valid_22(api, loaded_store, name, aliases):
    path = FIXTURES / ("edifact" if name.endswith(".edi") else "csv") / name
    with loaded_store.tx() as conn:
        for code, place in aliases.items():
            set_alias(conn, "location", code, place, note="test")
    r = api.post(f"/api/v1/messages?party={LINE}&filename={name}", content=path.read_bytes(),
                 headers=api.keys["admin"])
    assert r.status_code == 200, r.text
    assert r.json()["stored"] > 0, r.json()
    docs = api.get("/v2/events?limit=1000", headers=api.keys["admin"]).json()
    assert docs
    for doc in docs:
        assert schema_problems(doc) == [], doc


# ---- the same without a store: what a webhook sends of an event as it is stored ----------------
def _examples() -> list[dict]:
    path = SPEC.parent / "examples" / "tnt-220-response.json"
    return json.loads(path.read_text()) if path.is_file() else []


def _out_of(item: dict, fast: bool) -> dict:
    parsed = dcsa._parse([copy.deepcopy(item)], LINE, NOW, fast=fast)
    assert not parsed.rejections, parsed.rejections
    (event,) = parsed.events
    return to_dcsa_22(event, event_uuid(1), NOW)


@pytest.mark.parametrize("fast", [True, False], ids=["fast path", "models"])
def test_an_event_as_parsed_goes_out_with_every_field(fast):
    # outbox.Queued renders the event as parsed (no row read in between): it must lose nothing either
    for item in full_events() + _examples():
        back = _out_of(item, fast)
        assert schema_problems(back) == [], back
        assert lost_or_changed(item, back) == [], (item["eventID"], back)


# any subset of the optional fields, any free text within 2.2's limits
def _words(n: int):
    return st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=n)


FREE_TEXT = {"locationName": 100, "name": 100, "street": 100, "streetNumber": 50, "floor": 50, "postCode": 10,
             "city": 65, "stateRegion": 65, "country": 75, "vesselName": 35, "vesselCallSignNumber": 10,
             "vesselOperatorCarrierCode": 10, "otherFacility": 50, "carrierVoyageNumber": 50,
             "exportVoyageNumber": 50, "importVoyageNumber": 50, "changeRemark": 250, "reason": 250,
             "sealNumber": 15, "referenceValue": 100, "documentReferenceValue": 100, "delayReasonCode": 3}
REQUIRED = {"eventID", "eventCreatedDateTime", "eventType", "eventClassifierCode", "eventDateTime",
            "transportEventTypeCode", "shipmentEventTypeCode", "equipmentEventTypeCode", "documentID",
            "documentTypeCode", "emptyIndicatorCode", "transportCall", "transportCallID", "modeOfTransport",
            "vesselIMONumber", "referenceType", "referenceValue", "documentReferenceType",
            "documentReferenceValue", "sealNumber", "sealType"}


@st.composite
def _thinned(draw, value, required=True):
    """`value` with optional keys left out at random and free texts redrawn."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in REQUIRED and not (k == "transportCall" and value.get("eventType") == "EQUIPMENT") \
                    or draw(st.booleans()):
                out[k] = draw(_thinned(v)) if k not in FREE_TEXT else draw(st.one_of(st.just(v), _words(FREE_TEXT[k])))
        return out
    if isinstance(value, list):
        return [draw(_thinned(v)) for v in value[:draw(st.integers(1, len(value)))]]
    return value


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(full_events()).flatmap(_thinned))
def test_any_valid_22_event_goes_out_with_every_field_it_had(item):
    for fast in (True, False):
        parsed = dcsa._parse([copy.deepcopy(item)], LINE, NOW, fast=fast)
        assert not parsed.rejections, (item, parsed.rejections)
        back = to_dcsa_22(parsed.events[0], event_uuid(1), NOW)
        assert schema_problems(back) == [], (item, back)
        assert lost_or_changed(item, back) == [], (item, back)
