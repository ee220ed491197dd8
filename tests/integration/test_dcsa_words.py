"""What DCSA 2.2 has no code for goes out in 2.2's own terms — on both stores.

- A cancelled booking (Corridor's CANC) is a voided booking document in 2.2 (VOID): the feed never
  carries a shipmentEventTypeCode outside the 2.2 list, and a filter on VOID finds it (list and
  webhook subscriptions alike).
- A place with no UN/LOCODE (Kars) is named by its name, not by Corridor's internal id.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from corridor.domain.events import Classifier, Event, EventKind, TransportCall
from corridor.domain.parties import Role
from corridor.store import events as evstore
from corridor.store.events import select_events
from corridor.store.tables import events
from corridor.tracking.dcsa_out import place_names, to_dcsa_22
from corridor.tracking.delivery import body_of
from corridor.tracking.outbox import _matches, event_uuid

from tracking_helpers import app_for, party

SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "standards" / "dcsa-tnt" / "TNT_v2.2.0-resolved.yaml"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone(timedelta(hours=3)))


def _store_events(store) -> dict[str, int]:
    cancelled = Event(kind=EventKind.SHIPMENT, code="CANC", classifier=Classifier.ACT, event_time=T0,
                      references=(("BKG", "CB-2603-000042"),), source_party="CORRIDOR", reason="shipper cancelled")
    confirmed = Event(kind=EventKind.SHIPMENT, code="CONF", classifier=Classifier.ACT, event_time=T0 - timedelta(days=3),
                      references=(("BKG", "CB-2603-000042"),), source_party="CORRIDOR")
    at_kars = Event(kind=EventKind.EQUIPMENT, code="DISC", classifier=Classifier.ACT, event_time=T0, location="TR_KRS",
                    equipment="MSCU1234566", transport_call=TransportCall(mode="RAIL", location="TR_KRS", voyage="BTK7"),
                    source_party="TCDD")
    with store.tx() as conn:
        stored, _ = evstore.append(conn, [cancelled, confirmed, at_kars], T0 + timedelta(minutes=5))
    return {e.code: seq for seq, e in stored}


def _pull(c, h, query: str) -> list[dict]:
    r = c.get(f"/v2/events?limit=100&{query}", headers=h)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_cancelled_booking_is_void_in_2_2_and_a_place_without_locode_has_its_name(loaded_store):
    seqs = _store_events(loaded_store)
    admin = party(loaded_store, "ADM", Role.ADMIN)
    c, h = app_for(loaded_store), {"Authorization": f"Bearer {admin}"}

    shipment = {d["eventID"]: d for d in _pull(c, h, "eventType=SHIPMENT")}
    void = shipment[event_uuid(seqs["CANC"])]
    assert (void["shipmentEventTypeCode"], void["documentTypeCode"], void["documentID"]) == \
        ("VOID", "BKG", "CB-2603-000042")
    assert void["reason"] == "shipper cancelled"
    # the 2.2 filter finds it by VOID, and only it; CANC is no 2.2 code (refused by name)
    assert [d["eventID"] for d in _pull(c, h, "eventType=SHIPMENT&shipmentEventTypeCode=VOID")] == [void["eventID"]]
    assert event_uuid(seqs["CANC"]) not in {d["eventID"] for d in _pull(c, h, "shipmentEventTypeCode=CONF")}
    assert c.get("/v2/events?shipmentEventTypeCode=CANC", headers=h).status_code == 400

    kars = c.get(f"/v2/events/{event_uuid(seqs['DISC'])}", headers=h).json()
    assert kars["eventLocation"]["locationName"] == "Kars Logistics Centre (BTK)"
    assert "UNLocationCode" not in kars["eventLocation"]
    assert kars["transportCall"]["otherFacility"] == "TR_KRS"   # the machine-readable id stays on the call

    # webhooks: the same words, and a subscription's VOID filter matches the cancellation
    with loaded_store.read() as conn:
        rows = conn.execute(select_events().where(events.c.seq.in_(list(seqs.values()))).order_by(events.c.seq)).all()
        names = place_names(conn)
    body = {d["eventID"]: d for d in json.loads(body_of(rows, False, {}, names))}
    assert body[void["eventID"]] == void and body[kars["eventID"]] == kars
    e = evstore.row_to_event(next(r for r in rows if r.seq == seqs["CANC"]))
    doc = lambda: to_dcsa_22(e, event_uuid(seqs["CANC"]), T0)   # noqa: E731
    assert _matches({"shipmentEventTypeCode": ["VOID"]}, e, False, doc)
    assert not _matches({"shipmentEventTypeCode": ["CONF"]}, e, False, doc)

    jsonschema = pytest.importorskip("jsonschema")
    if not SPEC.exists():
        pytest.skip(f"DCSA spec not found at {SPEC}")
    spec = yaml.safe_load(SPEC.read_text())
    schema = spec["paths"]["/v2/events"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    jsonschema.validate(_pull(c, h, ""), {**schema, "components": spec["components"]})
