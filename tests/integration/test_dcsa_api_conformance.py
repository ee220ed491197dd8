"""GET /v2/events and /v2/event-subscriptions checked against the DCSA TNT 2.2 document itself, as a
carrier's integration engineer would — on both stores.

Every answer is validated with jsonschema against the spec's own schemas, read from
../shared/standards/dcsa-tnt/TNT_v2.2.0-resolved.yaml (the self-contained 2.2.0 the DCSA
conformance tool uses): the event list, one event by eventID (oneOf with the eventType
discriminator), the error object of every non-2xx answer, the subscription resource and the
callback body with its Notification-Signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jsonschema
import pytest
import yaml

from corridor.domain.parties import Role
from corridor.ingest.service import Ingestor
from corridor.tracking.delivery import Deliverer
from corridor.tracking.outbox import seq_of

from test_webhooks import Receiver, _free_port
from tracking_helpers import app_for, party

SPEC_PATH = Path(__file__).resolve().parents[2].parent / "shared" / "standards" / "dcsa-tnt" / "TNT_v2.2.0-resolved.yaml"
CARRIER = "CASPIANLINE"
BKG, BOL, BOX, IMO, VOYAGE, SERVICE, CALL = "CSL0001234", "CSLBL0001", "MSCU1234566", "9321483", "V001E", "CSP1", "TC-AKTAU-0001"
SECRET = base64.b64encode(b"k" * 32).decode()
PAGE_HEADERS = {"current-page", "next-page", "prev-page", "last-page", "first-page"}   # 2.2 components/headers


@pytest.fixture(scope="module")
def spec() -> dict:
    if not SPEC_PATH.exists():
        pytest.skip(f"DCSA 2.2 spec not found at {SPEC_PATH}")
    return yaml.safe_load(SPEC_PATH.read_text())


def _valid(spec: dict, schema: dict, doc) -> None:
    """jsonschema validation against a schema of the spec, its components resolvable."""
    jsonschema.validate(doc, {**schema, "components": spec["components"]},
                        format_checker=jsonschema.FormatChecker())


def _ok_schema(spec: dict, path: str, method: str = "get", status: str = "200") -> dict:
    return spec["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]


def _assert_22_error(spec: dict, r, status: int, path: str = "/v2/events", method: str = "get") -> dict:
    """A non-2xx answer as 2.2 declares it: its `default` response (error object, API-Version)."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers.get("API-Version") == "2.2.0", dict(r.headers)
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    _valid(spec, spec["paths"][path][method]["responses"]["default"]["content"]["application/json"]["schema"], body)
    assert body["statusCode"] == status and body["httpMethod"] == method.upper()
    assert body["errors"] and all(e["message"] for e in body["errors"])
    return body


def _at(t: datetime) -> str:
    return t.astimezone(timezone(timedelta(hours=5))).isoformat()


def _call() -> dict:
    return {"transportCallID": CALL, "carrierServiceCode": SERVICE, "exportVoyageNumber": VOYAGE,
            "UNLocationCode": "KZAAU", "modeOfTransport": "VESSEL",
            "vessel": {"vesselIMONumber": IMO, "vesselName": "BARKHAN"}}


def _shipment(code: str, doc_type: str, doc: str, t: datetime) -> dict:
    return {"eventID": str(uuid.uuid4()), "eventType": "SHIPMENT", "eventClassifierCode": "ACT",
            "eventDateTime": _at(t), "eventCreatedDateTime": _at(t), "shipmentEventTypeCode": code,
            "documentID": doc, "documentTypeCode": doc_type}


def _carrier_messages(t: datetime) -> list[dict]:
    """One carrier's day at Aktau: booking confirmed, B/L issued, the vessel left, the box loaded."""
    refs = [{"documentReferenceType": "BKG", "documentReferenceValue": BKG}]
    return [
        _shipment("CONF", "BKG", BKG, t),
        _shipment("ISSU", "TRD", BOL, t + timedelta(minutes=5)),
        {"eventID": str(uuid.uuid4()), "eventType": "EQUIPMENT", "eventClassifierCode": "ACT",
         "eventDateTime": _at(t + timedelta(hours=1)), "eventCreatedDateTime": _at(t + timedelta(hours=1)),
         "equipmentEventTypeCode": "LOAD", "equipmentReference": BOX, "ISOEquipmentCode": "42G1",
         "emptyIndicatorCode": "LADEN", "eventLocation": {"UNLocationCode": "KZAAU"}, "transportCall": _call(),
         "documentReferences": refs + [{"documentReferenceType": "TRD", "documentReferenceValue": BOL}]},
        {"eventID": str(uuid.uuid4()), "eventType": "TRANSPORT", "eventClassifierCode": "ACT",
         "eventDateTime": _at(t + timedelta(hours=2)), "eventCreatedDateTime": _at(t + timedelta(hours=2)),
         "transportEventTypeCode": "DEPA", "transportCall": _call(), "documentReferences": refs},
    ]


@pytest.fixture
def tnt(loaded_store):
    """(client, admin headers, stored events by eventID, time before the ingest) with the carrier's
    events stored through the real ingest path."""
    admin = party(loaded_store, "ADM", Role.ADMIN)
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    out = Ingestor(loaded_store).ingest(
        json.dumps(_carrier_messages(datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=2))).encode(),
        source_party=CARRIER, fmt="dcsa-json")
    assert out.stored >= 4 and out.quarantined == 0, out.reasons
    c, h = app_for(loaded_store), {"Authorization": f"Bearer {admin}"}
    every = c.get("/v2/events?limit=100", headers=h).json()
    return c, h, every, before


def _kinds(docs: list[dict]) -> set[tuple[str, str]]:
    return {(d["eventType"], d.get("shipmentEventTypeCode") or d.get("transportEventTypeCode")
             or d.get("equipmentEventTypeCode")) for d in docs}


SHIP_CONF, SHIP_ISSU, LOAD, DEPA = ("SHIPMENT", "CONF"), ("SHIPMENT", "ISSU"), ("EQUIPMENT", "LOAD"), ("TRANSPORT", "DEPA")


@pytest.mark.parametrize("query, found", [
    ("", {SHIP_CONF, SHIP_ISSU, LOAD, DEPA}),
    ("eventType=SHIPMENT,EQUIPMENT", {SHIP_CONF, SHIP_ISSU, LOAD}),           # comma list: OR
    ("eventType=TRANSPORT", {DEPA}),
    ("shipmentEventTypeCode=CONF,DRFT", {SHIP_CONF, LOAD, DEPA}),            # only relevant to SHIPMENT
    ("eventType=SHIPMENT&shipmentEventTypeCode=ISSU", {SHIP_ISSU}),
    ("shipmentEventTypeCode=DRFT&equipmentEventTypeCode=GTIN&eventType=SHIPMENT,EQUIPMENT", set()),  # the spec's contradiction
    ("eventType=SHIPMENT&documentTypeCode=TRD", {SHIP_ISSU}),
    ("eventType=SHIPMENT&documentTypeCode=SHI,BKG", {SHIP_CONF}),
    (f"carrierBookingReference={BKG}", {SHIP_CONF, LOAD, DEPA}),
    (f"bookingReference={BKG}", {SHIP_CONF, LOAD, DEPA}),                   # deprecated spelling
    (f"transportDocumentReference={BOL}", {SHIP_ISSU, LOAD}),
    (f"transportDocumentID={uuid.uuid4()}", set()),                          # deprecated; none issued
    (f"scheduleID={uuid.uuid4()}", set()),
    ("transportEventTypeCode=ARRI&eventType=TRANSPORT", set()),
    ("transportEventTypeCode=ARRI,DEPA&eventType=TRANSPORT", {DEPA}),
    (f"transportCallID={CALL}", {LOAD, DEPA}),
    (f"vesselIMONumber={IMO}", {LOAD, DEPA}),
    (f"exportVoyageNumber={VOYAGE}", {LOAD, DEPA}),
    (f"carrierVoyageNumber={VOYAGE}", {LOAD, DEPA}),                         # deprecated spelling
    (f"carrierServiceCode={SERVICE}", {LOAD, DEPA}),
    ("UNLocationCode=KZAAU", {LOAD, DEPA}),
    ("UNLocationCode=AZALA", set()),
    ("equipmentEventTypeCode=LOAD,DISC&eventType=EQUIPMENT", {LOAD}),
    # the box's own event, and Corridor's move of the box with the vessel it was loaded on
    (f"equipmentReference={BOX}", {LOAD, DEPA}),
    ("eventCreatedDateTime:gt=2999-01-01T00:00:00Z", set()),
    ("eventCreatedDateTime:lt=2000-01-01T00:00:00Z", set()),
    ("eventCreatedDateTime:lte=2999-01-01T00:00:00+04:00", {SHIP_CONF, SHIP_ISSU, LOAD, DEPA}),
    ("eventCreatedDateTime=2000-01-01T00:00:00Z", set()),                    # no operator: :eq
    ("eventCreatedDateTime:eq=2000-01-01T00:00:00Z", set()),
    ("sort=eventCreatedDateTime:DESC", {SHIP_CONF, SHIP_ISSU, LOAD, DEPA}),
    ("sort=eventCreatedDateTime", {SHIP_CONF, SHIP_ISSU, LOAD, DEPA}),     # :ASC may be omitted
])
def test_every_22_query_parameter_is_taken_with_its_meaning(tnt, spec, query, found):
    c, h, _, _ = tnt
    r = c.get(f"/v2/events?{query}", headers=h)
    assert r.status_code == 200, r.text
    _valid(spec, _ok_schema(spec, "/v2/events"), r.json())
    # Corridor's own derived events may come beside the carrier's: never of another kind or code
    assert _kinds(r.json()) == found, r.json()


def test_the_created_range_is_inclusive_or_not_as_its_operator_says(tnt):
    c, h, every, before = tnt
    created = sorted({d["eventCreatedDateTime"] for d in every})
    first = created[0]
    ask = lambda op, t: {d["eventID"] for d in c.get("/v2/events", params={f"eventCreatedDateTime:{op}": t},
                                                     headers=h).json()}
    ids = {d["eventID"] for d in every}
    assert ask("gte", first) == ids and ask("eq", first) == {d["eventID"] for d in every if d["eventCreatedDateTime"] == first}
    assert ask("lt", first) == set() and ask("lte", first) == ask("eq", first)
    assert ask("gt", before.isoformat()) == ids
    both = c.get("/v2/events", params=[("eventCreatedDateTime:gte", before.isoformat()),
                                       ("eventCreatedDateTime:lt", "2999-01-01T00:00:00Z")], headers=h).json()
    assert {d["eventID"] for d in both} == ids


def test_every_answer_validates_against_the_22_schema_with_its_headers(tnt, spec):
    c, h, every, _ = tnt
    assert {d["eventType"] for d in every} == {"SHIPMENT", "TRANSPORT", "EQUIPMENT"}
    r = c.get("/v2/events?limit=2", headers=h)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.headers["API-Version"] == "2.2.0" and r.headers["Current-Page"]
    # paging under the header names 2.2 gives, and no other *-Page header
    assert {k for k in r.headers if k.endswith("-page")} <= PAGE_HEADERS
    seen, url, pages = [], "/v2/events?limit=2", 0
    while url:
        page = c.get(url, headers=h)
        assert page.status_code == 200 and page.headers["API-Version"] == "2.2.0" and page.headers["Current-Page"]
        _valid(spec, _ok_schema(spec, "/v2/events"), page.json())
        seen += page.json()
        url, pages = page.headers.get("Next-Page"), pages + 1
        if pages > 1:
            assert "Prev-Page" in page.headers
    assert [d["eventID"] for d in seen] == [d["eventID"] for d in every] and pages >= 2
    # one by its eventID: 2.2's oneOf of the three kinds (discriminator eventType)
    one_schema = _ok_schema(spec, "/v2/events/{eventID}")
    for d in every:
        one = c.get(f"/v2/events/{d['eventID']}", headers=h)
        assert one.status_code == 200 and one.headers["API-Version"] == "2.2.0"
        assert one.json() == d
        _valid(spec, one_schema, one.json())
    # nothing found: an empty list, 200, the same headers
    empty = c.get("/v2/events?equipmentReference=TGHU0000000", headers=h)
    assert empty.status_code == 200 and empty.json() == []
    assert empty.headers["API-Version"] == "2.2.0" and empty.headers["Current-Page"]
    assert "Next-Page" not in empty.headers and empty.headers["content-type"] == "application/json"


@pytest.mark.parametrize("query", [
    "eventType=ALERT", "shipmentEventTypeCode=CANC", "documentTypeCode=XYZ", "transportEventTypeCode=GTIN",
    "equipmentEventTypeCode=ARRI", "limit=0", "limit=ten", "UNLocationCode=kzaau", "vesselIMONumber=93214830",
    f"carrierBookingReference={'X' * 36}", "transportDocumentID=BL-1", "eventCreatedDateTime:after=2021-01-01T00:00:00Z",
    "eventCreatedDateTime=yesterday", "eventCreatedDateTime=2021-04-01T14:12:56", "equipmentReference:gte=X",
    "nope=1", "cursor=garbage", "sort=eventCreatedDateTime:UP", "sort=eventID",
])
def test_a_malformed_or_unknown_parameter_is_a_22_error(tnt, spec, query):
    c, h, _, _ = tnt
    body = _assert_22_error(spec, c.get(f"/v2/events?{query}", headers=h), 400)
    assert body["requestUri"] == "/v2/events"


def test_every_error_of_v2_carries_the_error_object_and_api_version(tnt, spec):
    c, h, _, _ = tnt
    _assert_22_error(spec, c.get("/v2/events?nope=1", headers=h), 400)
    _assert_22_error(spec, c.get(f"/v2/events/{uuid.uuid4()}", headers=h), 404, "/v2/events/{eventID}")
    _assert_22_error(spec, c.get("/v2/events"), 401)                                    # no key
    _assert_22_error(spec, c.get(f"/v2/event-subscriptions/{uuid.uuid4()}", headers=h), 404,
                     "/v2/event-subscriptions/{subscriptionID}")
    _assert_22_error(spec, c.post("/v2/event-subscriptions", headers=h, json={"callbackUrl": "http://127.0.0.1:9/cb"}),
                     400, "/v2/event-subscriptions", "post")                            # no secret
    _assert_22_error(spec, c.post("/v2/event-subscriptions", headers=h, content=b"[not json"), 400,
                     "/v2/event-subscriptions", "post")
    _assert_22_error(spec, c.put(f"/v2/event-subscriptions/{uuid.uuid4()}/secret", headers=h, json={"secret": SECRET}),
                     404, "/v2/event-subscriptions/{subscriptionID}/secret", "put")


def test_the_api_version_request_header_must_name_version_2(tnt, spec):
    c, h, every, _ = tnt
    for asked in ("2", "2.2.0", " 2 "):
        r = c.get("/v2/events", headers=h | {"API-Version": asked})
        assert r.status_code == 200 and len(r.json()) == len(every), asked
    for asked in ("1", "3", "3.0.0", "latest"):
        body = _assert_22_error(spec, c.get("/v2/events", headers=h | {"API-Version": asked}), 400)
        assert "API-Version" in body["errors"][0]["message"], asked
    r = c.get("/v2/event-subscriptions", headers=h | {"API-Version": "1"})
    _assert_22_error(spec, r, 400, "/v2/event-subscriptions")


def test_a_limit_above_one_page_is_a_maximum_not_an_error(tnt, spec):
    """2.2's limit has a minimum of 1 and no maximum; it is the most items a page holds."""
    c, h, every, _ = tnt
    r = c.get("/v2/events?limit=5000", headers=h)
    assert r.status_code == 200, r.text
    assert [d["eventID"] for d in r.json()] == [d["eventID"] for d in every]
    first = c.get("/v2/events?limit=1", headers=h)
    assert c.get(first.headers["Next-Page"] + "&limit=100000", headers=h).status_code == 200
    subs = c.get("/v2/event-subscriptions?limit=5000", headers=h)
    assert subs.status_code == 200 and subs.json() == []


def test_the_specs_own_example_with_an_unencoded_plus_is_read(tnt):
    """eventCreatedDateTime:gte=2021-04-01T14:12:56+01:00 as the spec writes it: in a query string
    its '+' arrives as a space, which here can only be the offset's sign."""
    c, h, every, _ = tnt
    r = c.get("/v2/events?eventCreatedDateTime:gte=2021-04-01T14:12:56+01:00", headers=h)
    assert r.status_code == 200, r.text
    assert len(r.json()) == len(every)
    assert c.get("/v2/events?eventCreatedDateTime:lt=2021-04-01T14:12:56+01:00", headers=h).json() == []


@pytest.mark.parametrize("value", ["2021-04-01T14:12+01:00", "20210401T141256+0100", "2021-04-01",
                                   "2021-13-01T00:00:00Z", "2021-04-01T14:12:56+0100"])
def test_a_created_time_outside_the_date_time_format_is_refused(tnt, spec, value):
    """`format: date-time` is RFC 3339: seconds and an hh:mm offset (or Z)."""
    c, h, _, _ = tnt
    body = _assert_22_error(spec, c.get("/v2/events", params={"eventCreatedDateTime:gte": value}, headers=h), 400)
    assert "eventCreatedDateTime:gte" in body["errors"][0]["message"]


def test_a_list_given_twice_is_one_list_and_a_value_given_twice_must_agree(tnt, spec):
    c, h, _, _ = tnt
    twice = c.get("/v2/events?eventType=SHIPMENT&eventType=EQUIPMENT", headers=h)
    assert twice.status_code == 200
    assert _kinds(twice.json()) == _kinds(c.get("/v2/events?eventType=SHIPMENT,EQUIPMENT", headers=h).json()) \
        == {SHIP_CONF, SHIP_ISSU, LOAD}
    # its cursor keeps both
    nxt = c.get("/v2/events?eventType=SHIPMENT&eventType=EQUIPMENT&limit=1", headers=h).headers["Next-Page"]
    assert {d["eventType"] for d in c.get(nxt + "&limit=100", headers=h).json()} == {"SHIPMENT", "EQUIPMENT"}
    same = c.get(f"/v2/events?equipmentReference={BOX}&equipmentReference={BOX}", headers=h)
    assert same.status_code == 200 and same.json() == c.get(f"/v2/events?equipmentReference={BOX}", headers=h).json()
    body = _assert_22_error(spec, c.get(f"/v2/events?equipmentReference={BOX}&equipmentReference=TGHU1234567",
                                        headers=h), 400)
    assert "twice" in body["errors"][0]["message"]


@pytest.mark.parametrize("field, value", [
    ("carrierBookingReference", [BKG]), ("carrierBookingReference", "X" * 36), ("equipmentReference", 42),
    ("equipmentReference", "X" * 16), ("UNLocationCode", "kzaau"), ("vesselIMONumber", "93214"),
    ("transportDocumentID", "BL-1"), ("transportDocumentTypeCode", ["XYZ"]), ("transportDocumentTypeCode", "BOL"),
    ("eventType", "SHIPMENT"), ("shipmentEventTypeCode", ["CANC"]), ("transportEventTypeCode", [1]),
])
def test_a_subscription_filter_outside_the_22_schema_is_refused(tnt, spec, field, value):
    c, h, _, _ = tnt
    body = {"callbackUrl": "http://127.0.0.1:9/cb", "secret": SECRET, field: value}
    err = _assert_22_error(spec, c.post("/v2/event-subscriptions", headers=h, json=body), 400,
                           "/v2/event-subscriptions", "post")
    assert field in err["errors"][0]["message"]
    assert c.get("/v2/event-subscriptions", headers=h).json() == []


def test_the_subscription_resource_is_the_22_one(tnt, spec):
    c, h, _, _ = tnt
    every_filter = {"eventType": ["SHIPMENT", "EQUIPMENT"], "shipmentEventTypeCode": ["CONF", "ISSU"],
                    "documentTypeCode": ["BKG", "TRD"], "carrierBookingReference": BKG,
                    "transportDocumentReference": BOL, "transportDocumentTypeCode": ["BOL", "SWB"],
                    "transportEventTypeCode": ["ARRI", "DEPA"], "transportCallID": CALL, "vesselIMONumber": IMO,
                    "exportVoyageNumber": VOYAGE, "carrierServiceCode": SERVICE, "UNLocationCode": "KZAAU",
                    "equipmentEventTypeCode": ["LOAD"], "equipmentReference": BOX}
    body = {"callbackUrl": "https://203.0.114.7/cb?shipperRef=CASPIAN-1", "secret": SECRET, **every_filter}
    _valid(spec, spec["paths"]["/v2/event-subscriptions"]["post"]["requestBody"]["content"]["application/json"]["schema"],
           body)
    made = c.post("/v2/event-subscriptions", headers=h, json=body)
    assert made.status_code == 201 and made.headers["API-Version"] == "2.2.0", made.text
    _valid(spec, _ok_schema(spec, "/v2/event-subscriptions", "post", "201"), made.json())
    sid = made.json()["subscriptionID"]
    assert made.json() == {"subscriptionID": sid, "callbackUrl": body["callbackUrl"], **every_filter}  # no secret
    listed = c.get("/v2/event-subscriptions", headers=h)
    assert listed.headers["API-Version"] == "2.2.0" and listed.headers["Current-Page"]
    _valid(spec, _ok_schema(spec, "/v2/event-subscriptions"), listed.json())
    assert listed.json() == [made.json()]
    put = c.put(f"/v2/event-subscriptions/{sid}", headers=h,
                json={"subscriptionID": sid, "callbackUrl": "https://203.0.114.7/other", "eventType": ["TRANSPORT"]})
    assert put.status_code == 200 and put.headers["API-Version"] == "2.2.0"
    _valid(spec, _ok_schema(spec, "/v2/event-subscriptions/{subscriptionID}", "put"), put.json())
    assert put.json() == {"subscriptionID": sid, "callbackUrl": "https://203.0.114.7/other", "eventType": ["TRANSPORT"]}
    assert c.put(f"/v2/event-subscriptions/{sid}", headers=h,
                 json={"callbackUrl": "https://203.0.114.7/x", "secret": SECRET}).status_code == 400  # POST only
    rotated = c.put(f"/v2/event-subscriptions/{sid}/secret", headers=h, json={"secret": SECRET})
    assert rotated.status_code == 204 and rotated.headers["API-Version"] == "2.2.0"
    gone = c.delete(f"/v2/event-subscriptions/{sid}", headers=h)
    assert gone.status_code == 204 and gone.headers["API-Version"] == "2.2.0"


def test_a_callback_is_the_22_callback(loaded_store, spec):
    """The callback of POST /v2/event-subscriptions: a JSON array of 2.2 events, Subscription-ID,
    API-Version and Notification-Signature `sha256=<hex>` — HMAC-SHA256 of the exact body bytes."""
    admin = party(loaded_store, "ADM", Role.ADMIN)
    c, h = app_for(loaded_store), {"Authorization": f"Bearer {admin}"}
    port, key = _free_port(), os.urandom(48)
    sid = c.post("/v2/event-subscriptions", headers=h, json={
        "callbackUrl": f"http://127.0.0.1:{port}/cb?shipperRef=CASPIAN-1", "secret": base64.b64encode(key).decode(),
        "eventType": ["SHIPMENT", "TRANSPORT", "EQUIPMENT"], "carrierBookingReference": BKG}).json()["subscriptionID"]
    out = Ingestor(loaded_store).ingest(json.dumps(_carrier_messages(
        datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=2))).encode(), source_party=CARRIER,
        fmt="dcsa-json")
    assert out.quarantined == 0, out.reasons
    rx = Receiver(port, [])
    try:
        while Deliverer(loaded_store).run_once():
            pass
        got = rx.got
    finally:
        rx.close()
    callback = spec["paths"]["/v2/event-subscriptions"]["post"]["callbacks"]["event"]["{$request.body.callbackUrl}"]["post"]
    required = {p["name"] for p in callback["parameters"] if p.get("required") and not p.get("deprecated")}
    pattern = next(p for p in callback["parameters"] if p["name"] == "Notification-Signature")["schema"]["pattern"]
    body_schema = callback["requestBody"]["content"]["application/json"]["schema"]
    kinds = set()
    for headers, body in got:
        assert required <= set(headers), headers
        assert headers["Subscription-ID"] == sid and headers["API-Version"] == "2.2.0"
        assert headers["Content-Type"] == "application/json"
        sig = headers["Notification-Signature"]
        assert re.fullmatch(pattern, sig)
        assert sig == "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        docs = json.loads(body.decode("utf-8"))
        _valid(spec, body_schema, docs)
        assert all(seq_of(d["eventID"]) is not None for d in docs)
        kinds |= _kinds(docs)
    assert kinds == {SHIP_CONF, LOAD, DEPA}      # the booking's events, not the B/L issued under its own number
