"""The DCSA 2.2 fast path gives exactly what the Pydantic path gives: same events, same rejections."""

import copy
import dataclasses
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corridor.domain.equipment import with_check_digit
from corridor.domain.events import event_keys
from corridor.ingest import dcsa

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "standards" / "dcsa-tnt" / "examples"
RECEIVED = datetime(2026, 6, 1, tzinfo=timezone.utc)


def snapshot(result):
    """Return everything a caller can see of a ParseResult, events with their keys and extra."""
    events = [(tuple(getattr(e, f.name) for f in dataclasses.fields(e)), keys(e)) for e in result.events]
    return events, result.rejections, result.warnings, result.meta


def keys(e):
    """Return event_keys, or the error it raises (the models let lone surrogates into plain str fields)."""
    try:
        return event_keys(e)
    except UnicodeEncodeError as exc:
        return type(exc)


def assert_same(raw):
    fast = dcsa._parse(copy.deepcopy(raw), "carrier", RECEIVED, fast=True)
    slow = dcsa._parse(copy.deepcopy(raw), "carrier", RECEIVED, fast=False)
    assert snapshot(fast) == snapshot(slow)
    return fast


def takes_fast_path(item) -> bool:
    return dcsa._fast_22(item, item["eventType"], "", "carrier", frozenset({"carrier"}), RECEIVED) is not None


# ---- DCSA's own examples ----------------------------------------------------------------
@pytest.mark.skipif(not EXAMPLES.is_dir(), reason=f"DCSA examples not found at {EXAMPLES}")
@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.json")) if EXAMPLES.is_dir() else [])
def test_examples_parse_the_same(name):
    assert_same((EXAMPLES / name).read_bytes())


@pytest.mark.skipif(not EXAMPLES.is_dir(), reason=f"DCSA examples not found at {EXAMPLES}")
def test_valid_220_example_takes_the_fast_path():
    items = json.loads((EXAMPLES / "tnt-220-response.json").read_bytes())
    assert items and all(takes_fast_path(item) for item in items)


# ---- generated 2.2 events -----------------------------------------------------------------
def text(max_size):
    return st.text(st.characters(codec="utf-8"), max_size=max_size)


boxes = st.builds(lambda owner, serial: with_check_digit(f"{owner}U{serial:06d}"),
                  st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=3, max_size=3),
                  st.integers(0, 999_999))
locodes = st.sampled_from(["KZAAU", "KZKUR", "AZBAK", "AZALT", "GEPTI", "TMTMB", "CNXIA", "TRIST"])
offsets = st.sampled_from(["Z", "+00:00", "+05:00", "+04:00", "-03:30"])
degrees = lambda limit: st.floats(-limit, limit, allow_nan=False).map(lambda x: f"{x:.5f}")


def optional(**fields):
    """A dict strategy whose every key may be left out."""
    return st.fixed_dictionaries({}, optional=fields)


address = optional(name=text(100), street=text(100), city=text(65), postCode=text(10), country=text(75))
location = optional(locationName=text(100), latitude=degrees(90), longitude=degrees(180),
                    UNLocationCode=locodes, facilityCode=text(6),
                    facilityCodeListProvider=st.sampled_from(["BIC", "SMDG"]), address=address)
vessel = st.fixed_dictionaries(
    {"vesselIMONumber": st.from_regex(r"[0-9]{7}", fullmatch=True)},
    optional={"vesselName": text(35), "vesselFlag": text(2), "vesselCallSignNumber": text(10),
              "vesselOperatorCarrierCode": text(10),
              "vesselOperatorCarrierCodeListProvider": st.sampled_from(["SMDG", "NMFTA"])})
transport_call = st.fixed_dictionaries(
    {"transportCallID": text(100), "modeOfTransport": st.sampled_from(dcsa.MODES_22)},
    optional={"carrierServiceCode": text(5), "carrierVoyageNumber": text(50), "exportVoyageNumber": text(50),
              "importVoyageNumber": text(50), "transportCallSequenceNumber": st.integers(-5, 10**6),
              "UNLocationCode": locodes, "facilityCode": text(6), "otherFacility": text(50),
              "facilityCodeListProvider": st.sampled_from(["BIC", "SMDG"]),
              "facilityTypeCode": st.sampled_from(dcsa.FACILITY_TYPES_22), "location": location,
              "vessel": vessel})
references = st.lists(st.fixed_dictionaries({"referenceType": st.sampled_from(dcsa.REFERENCE_TYPES_22),
                                             "referenceValue": text(100)}), max_size=3)
documents = st.lists(st.fixed_dictionaries({"documentReferenceType": st.sampled_from(["BKG", "TRD"]),
                                            "documentReferenceValue": text(40)}), max_size=3)
seals = st.lists(st.fixed_dictionaries({"sealNumber": text(15), "sealType": st.sampled_from(["KLP", "BLT", "WIR"])},
                                       optional={"sealSource": st.sampled_from(["CAR", "SHI", "PHY", "VET", "CUS"])}),
                 max_size=2)


@st.composite
def times(draw):
    """eventDateTime and eventCreatedDateTime: mostly plausible, sometimes in the future."""
    event = RECEIVED - timedelta(seconds=draw(st.integers(-3 * 86400, 400 * 86400)))
    created = event + timedelta(seconds=draw(st.integers(-86400, 86400)))
    fraction = draw(st.sampled_from(["", ".5", ".123456789"]))
    stamp = lambda t, off: t.strftime("%Y-%m-%dT%H:%M:%S") + fraction + off
    # the offset is a label here: the instant moves with it, which is what plausibility checks see
    return {"eventDateTime": stamp(event, draw(offsets)), "eventCreatedDateTime": stamp(created, "Z")}


@st.composite
def events_22(draw):
    kind = draw(st.sampled_from(dcsa.EVENT_TYPES_22))
    e = {"eventType": kind, "eventClassifierCode": draw(st.sampled_from(["ACT", "PLN", "EST"])), **draw(times())}
    e.update(draw(optional(eventID=st.uuids().map(str), references=references)))
    if kind == "TRANSPORT":
        e.update(transportEventTypeCode=draw(st.sampled_from(["ARRI", "DEPA"])), transportCall=draw(transport_call))
        e.update(draw(optional(delayReasonCode=text(3), changeRemark=text(250), documentReferences=documents)))
    elif kind == "SHIPMENT":
        e.update(shipmentEventTypeCode=draw(st.sampled_from(sorted(dcsa._SHIPMENT_CODES_22))),
                 documentID=draw(text(30)), documentTypeCode=draw(st.sampled_from(dcsa.DOCUMENT_TYPES_22)))
        e.update(draw(optional(reason=text(60))))
    else:
        e.update(equipmentEventTypeCode=draw(st.sampled_from(sorted(dcsa._EQUIPMENT_CODES_22))),
                 emptyIndicatorCode=draw(st.sampled_from(["EMPTY", "LADEN"])))
        e.update(draw(optional(equipmentReference=boxes, ISOEquipmentCode=text(4), eventLocation=location,
                               transportCall=transport_call, documentReferences=documents, seals=seals)))
    return e


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.lists(events_22(), min_size=1, max_size=4))
def test_generated_events_parse_the_same(items):
    assert_same(items)


@SETTINGS
@given(events_22())
def test_plausible_generated_events_take_the_fast_path(event):
    slow = dcsa._parse([event], "carrier", RECEIVED, fast=False)
    # the fast path must carry the common case, not just agree by always declining
    assert takes_fast_path(event) == (len(slow.events) == 1)


# ---- mutated events: every odd value must end where the models put it ---------------------
odd_values = st.one_of(
    st.none(), st.booleans(), st.integers(-10, 10**8), st.floats(allow_nan=True), text(300),
    st.sampled_from(["", "ACT", "EQUIPMENT", "LOAD", "KZAAU", "kzaau", "XXAAU", "1234567", "١٢٣٤٥٦٧",
                     "1234567\n", "MSKU1234565", "msku 123456-5", "MSKU1234566", "2026-01-01T00:00:00",
                     "2026-02-30T10:00:00Z", "2025-01-01T10:00:00.1234567+05:00", "a\ud800b", "91.0",
                     " 45", "nan", "{12345678-1234-1234-1234-123456789012}", "BKG", "TRD", "x" * 251]),
    st.lists(st.integers(), max_size=2), st.dictionaries(text(5), st.integers(), max_size=2), st.just([{}]))


# small edits of a valid string: each breaks one rule a field may have (or none)
TWEAKS = [lambda v: v + "\ud800", lambda v: v + "\n", lambda v: v * 60 + "x", str.lower, lambda v: v[:-1],
          lambda v: " " + v, lambda v: "\u0661" + v[1:], lambda v: v.replace("-", ""), lambda v: v + "0"]


def paths(value, prefix=()):
    """Return every (path, container) where a value in the JSON tree can be replaced or removed."""
    out = []
    if isinstance(value, dict):
        for k, v in value.items():
            out.append(prefix + (k,))
            out.extend(paths(v, prefix + (k,)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.append(prefix + (i,))
            out.extend(paths(v, prefix + (i,)))
    return out


@st.composite
def mutated(draw):
    event = draw(events_22())
    spots = paths(event)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(spots))
        parent = event
        try:
            for step in path[:-1]:
                parent = parent[step]
            how = draw(st.sampled_from(["replace", "delete", "add", "tweak", "tweak"]))
            if how == "tweak" and isinstance(parent[path[-1]], str):
                parent[path[-1]] = draw(st.sampled_from(TWEAKS))(parent[path[-1]])
            elif how in ("replace", "tweak"):
                parent[path[-1]] = draw(odd_values)
            elif how == "delete" and isinstance(parent, dict):
                del parent[path[-1]]
            elif isinstance(parent, dict):
                parent[draw(st.sampled_from(["unknownKey", "UNLocationCode", "address", "vessel",
                                             "documentReferences", "sealSource"]))] = draw(odd_values)
        except (KeyError, IndexError, TypeError):
            pass   # an earlier mutation removed or replaced this spot
    return event


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutated(), min_size=1, max_size=3), events_22())
def test_mutated_events_parse_the_same(bad, good):
    assert_same(bad + [good])


# ---- every field of a full event, broken every way, one at a time --------------------------
FULL_LOCATION = {"locationName": "Aktau port", "latitude": "43.6500", "longitude": "51.1500",
                 "UNLocationCode": "KZAAU", "facilityCode": "AKTPT", "facilityCodeListProvider": "SMDG",
                 "address": {"name": "Port of Aktau", "street": "Portovaya", "streetNumber": "1", "floor": "2",
                             "postCode": "130000", "city": "Aktau", "stateRegion": "Mangystau",
                             "country": "Kazakhstan"}}
FULL_CALL = {"transportCallID": "TC-77", "carrierServiceCode": "TCR1", "carrierVoyageNumber": "2026W14",
             "exportVoyageNumber": "2026W14E", "importVoyageNumber": "2026W14I", "transportCallSequenceNumber": 2,
             "UNLocationCode": "KZAAU", "facilityCode": "AKTPT", "facilityCodeListProvider": "SMDG",
             "facilityTypeCode": "POTE", "otherFacility": "berth 4", "modeOfTransport": "VESSEL",
             "location": FULL_LOCATION,
             "vessel": {"vesselIMONumber": "9321483", "vesselName": "Professor Gul", "vesselFlag": "AZ",
                        "vesselCallSignNumber": "4JQX", "vesselOperatorCarrierCode": "ASCO",
                        "vesselOperatorCarrierCodeListProvider": "SMDG"}}
FULL_COMMON = {"eventID": "3cecb101-7a1a-43a4-9d62-e88a131651e2", "eventCreatedDateTime": "2026-05-02T10:05:00Z",
               "eventClassifierCode": "ACT", "eventDateTime": "2026-05-02T14:00:00+05:00",
               "references": [{"referenceType": "FF", "referenceValue": "FWD-1"}]}
FULL_DOCS = [{"documentReferenceType": "BKG", "documentReferenceValue": "BK000123"},
             {"documentReferenceType": "TRD", "documentReferenceValue": "BOL-9"}]
FULL_EVENTS = [
    {**FULL_COMMON, "eventType": "TRANSPORT", "transportEventTypeCode": "DEPA", "delayReasonCode": "WEA",
     "changeRemark": "storm on the Caspian", "transportCall": FULL_CALL, "documentReferences": FULL_DOCS},
    {**FULL_COMMON, "eventType": "SHIPMENT", "shipmentEventTypeCode": "ISSU", "documentID": "BOL-9",
     "documentTypeCode": "TRD", "reason": "issued at origin"},
    {**FULL_COMMON, "eventType": "EQUIPMENT", "equipmentEventTypeCode": "LOAD", "equipmentReference": "MSKU1234565",
     "ISOEquipmentCode": "45G1", "emptyIndicatorCode": "LADEN", "eventLocation": FULL_LOCATION,
     "transportCall": FULL_CALL, "documentReferences": FULL_DOCS,
     "seals": [{"sealNumber": "SL-1", "sealSource": "CUS", "sealType": "BLT"}]},
]
ODD = [None, True, 0, 7, 1.5, "", "ACT", "KZAAU", "kzaau", "XXAAU", "١٢٣٤٥٦٧", "1234567\n", "msku 123456-5",
       "MSKU1234566", "2026-01-01T00:00:00", "2026-02-30T10:00:00Z", "a\ud800b", "91.0", "nan", "x" * 251,
       "{3cecb101-7a1a-43a4-9d62-e88a131651e2}", [], {}, [{}]]


def broken(event):
    """Yield copies of the event with one value replaced, tweaked or removed, or one key added."""
    for path in paths(event):
        def edit(change):
            copy_ = copy.deepcopy(event)
            parent = copy_
            for step in path[:-1]:
                parent = parent[step]
            change(parent, path[-1])
            return copy_
        for odd in ODD:
            yield edit(lambda p, k: p.__setitem__(k, copy.deepcopy(odd)))
        if isinstance(dict_get(event, path), str):
            for tweak in TWEAKS:
                yield edit(lambda p, k: p.__setitem__(k, tweak(p[k])))
        yield edit(lambda p, k: p.__delitem__(k))
        yield edit(lambda p, k: p.__setitem__("unknownKey", 1) if isinstance(p, dict) else None)


def dict_get(value, path):
    for step in path:
        value = value[step]
    return value


@pytest.mark.parametrize("event", FULL_EVENTS, ids=lambda e: e["eventType"])
def test_full_event_takes_the_fast_path(event):
    assert takes_fast_path(event)
    assert_same([event])


@pytest.mark.parametrize("event", FULL_EVENTS, ids=lambda e: e["eventType"])
def test_full_event_broken_one_way_at_a_time_parses_the_same(event):
    for case in broken(event):
        assert_same([case])


def test_full_events_keep_what_the_event_model_has_no_field_for():
    # both paths put the same 2.2 fields in extra (assert_same), and these are really there
    transport, shipment, equipment = (assert_same([e]).events[0].extra for e in FULL_EVENTS)
    call = {"carrier_voyage": "2026W14", "other_facility": "berth 4", "vessel_flag": "AZ",
            "vessel_call_sign": "4JQX", "vessel_operator": "ASCO", "vessel_operator_list": "SMDG"}
    place = {k: v for k, v in FULL_LOCATION.items() if k not in ("latitude", "longitude")}
    assert transport == {"dcsa_version": "2.2", "transport_call_id": "TC-77", "import_voyage": "2026W14I",
                         "vessel_name": "Professor Gul", "facility_code_list": "SMDG", "call_sequence": 2,
                         **call, "call_location": place, "delay_reason": "WEA"}
    assert shipment == {"dcsa_version": "2.2"}
    # an equipment event's own place and position are columns: the call's location keeps its position
    assert equipment["call_location"] == {**place, "latitude": 43.65, "longitude": 51.15}
    assert equipment["event_location"] == {k: v for k, v in place.items() if k != "UNLocationCode"}
    assert "call_place" not in equipment   # the call is where the event is
    elsewhere = copy.deepcopy(FULL_EVENTS[2])
    elsewhere["eventLocation"] = {"UNLocationCode": "KZALA"}
    assert assert_same([elsewhere]).events[0].extra["call_place"] == "KZAAU"


def test_the_usual_equipment_event_adds_nothing_to_extra():
    # the common feed (a place by UN/LOCODE, a booking): nothing more to keep, and the fast path takes it
    event = {"eventType": "EQUIPMENT", "eventClassifierCode": "ACT", "eventDateTime": "2026-05-02T14:00:00+05:00",
             "eventCreatedDateTime": "2026-05-02T14:00:00+05:00", "equipmentEventTypeCode": "GTIN",
             "equipmentReference": "MSKU1234565", "emptyIndicatorCode": "LADEN",
             "eventLocation": {"UNLocationCode": "KZAAU"},
             "documentReferences": [{"documentReferenceType": "BKG", "documentReferenceValue": "BK1"}]}
    assert takes_fast_path(event)
    assert assert_same([event]).events[0].extra == {"dcsa_version": "2.2"}
