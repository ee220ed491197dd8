"""The carrierServiceCode an event is found by is the one it shows — on both stores.

GET /v2/events?carrierServiceCode=X matches a call's own service or that of the timetable departure
ingest mapped it to. An event found through its departure must carry X as
`transportCall.carrierServiceCode` (in the list, by its eventID and in a webhook), while a call that
named a service of its own keeps it; a departure's service longer than 2.2's five characters is
left out and the answer still validates against the 2.2 schema.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from sqlalchemy import event as sa_event
from sqlalchemy import select

from corridor.domain.parties import Role
from corridor.domain.timetable import Departure
from corridor.ingest.service import Ingestor
from corridor.store.tables import events
from corridor.tracking.delivery import Deliverer
from corridor.tracking.outbox import seq_of

from test_webhooks import Receiver, _free_port
from tracking_helpers import app_for, party, past_aktau_sailing

SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "standards" / "dcsa-tnt" / "TNT_v2.2.0-resolved.yaml"
LINE, OWN = "AAF1", "OWN1"          # the departure's service; a service a sender names itself
BOX = "MSCU1234566"
SENDER = "PORTAKTAU"


def _sailings(store) -> tuple[Departure, Departure]:
    """(a past Aktau sailing copied under a 2.2-sized service code, the timetable's own sailing
    with its line name as service, longer than 2.2 allows)."""
    long = past_aktau_sailing(store)
    assert len(long.service) > 5, long.service
    short = past_aktau_sailing(store, id="SVC-AKX-1", service=LINE, voyage="SV0001")
    return short, long


def _iso(t: datetime) -> str:
    return t.astimezone(timezone(timedelta(hours=5))).isoformat()


def _call(dep: Departure, **more) -> dict:
    """A transport call that names its departure by transportCallID, as Corridor's export does."""
    return {"transportCallID": dep.id, "UNLocationCode": "KZAAU", "modeOfTransport": "VESSEL", **more}


def _move(code: str, when: datetime, call: dict) -> dict:
    return {"eventID": str(uuid.uuid4()), "eventType": "TRANSPORT", "eventClassifierCode": "ACT",
            "eventDateTime": _iso(when), "eventCreatedDateTime": _iso(when), "transportEventTypeCode": code,
            "transportCall": call}


def _load(when: datetime, call: dict) -> dict:
    return {"eventID": str(uuid.uuid4()), "eventType": "EQUIPMENT", "eventClassifierCode": "ACT",
            "eventDateTime": _iso(when), "eventCreatedDateTime": _iso(when), "equipmentEventTypeCode": "LOAD",
            "equipmentReference": BOX, "emptyIndicatorCode": "LADEN",
            "eventLocation": {"UNLocationCode": "KZAAU"}, "transportCall": call}


def _ingest(store, items: list[dict]) -> dict[str, int]:
    """Post through the real ingest path; the stored seq of each eventID sent."""
    out = Ingestor(store).ingest(json.dumps(items).encode(), source_party=SENDER, fmt="dcsa-json")
    assert (out.stored, out.quarantined) == (len(items), 0), out.reasons
    with store.read() as conn:
        rows = conn.execute(select(events.c.event_id, events.c.seq)
                            .where(events.c.event_id.in_([i["eventID"] for i in items]))).all()
    return dict(rows)


def _stored_call(store, seq: int) -> tuple[str | None, str | None]:
    with store.read() as conn:
        r = conn.execute(select(events.c.service, events.c.departure_id).where(events.c.seq == seq)).one()
    return r.service, r.departure_id


def _pull(c, h, query: str) -> dict[int, dict]:
    """Every event of GET /v2/events?query (all pages), by stored seq."""
    out, url = {}, f"/v2/events?limit=2&{query}"
    while url:
        r = c.get(url, headers=h)
        assert r.status_code == 200, r.text
        out.update((seq_of(d["eventID"]), d) for d in r.json())
        url = r.headers.get("Next-Page")
    return out


def _service(doc: dict) -> str | None:
    return doc["transportCall"].get("carrierServiceCode")


def test_an_event_found_through_its_departure_shows_the_departures_service(loaded_store):
    short, long = _sailings(loaded_store)
    admin = party(loaded_store, "ADM", Role.ADMIN)
    c, h = app_for(loaded_store), {"Authorization": f"Bearer {admin}"}
    t = short.departs_at - timedelta(hours=3)
    mapped = _move("DEPA", t, _call(short))                                    # names no service
    own = _move("ARRI", t - timedelta(hours=9), _call(short, carrierServiceCode=OWN))
    aboard = _load(t - timedelta(hours=1), _call(short))                        # a box loaded on it
    on_line = _move("DEPA", long.departs_at - timedelta(hours=2), _call(long))  # a line name as service
    seq = _ingest(loaded_store, [mapped, own, aboard, on_line])
    # stored as sent, each mapped onto its departure at ingest
    assert _stored_call(loaded_store, seq[mapped["eventID"]]) == (None, short.id)
    assert _stored_call(loaded_store, seq[own["eventID"]]) == (OWN, short.id)
    assert _stored_call(loaded_store, seq[aboard["eventID"]]) == (None, short.id)
    assert _stored_call(loaded_store, seq[on_line["eventID"]]) == (None, long.id)

    found = _pull(c, h, f"carrierServiceCode={LINE}")
    assert found.keys() == {seq[i["eventID"]] for i in (mapped, own, aboard)}
    # found through the departure: the departure's service; named by the sender: the sender's own
    assert _service(found[seq[mapped["eventID"]]]) == LINE
    assert _service(found[seq[aboard["eventID"]]]) == LINE
    assert _service(found[seq[own["eventID"]]]) == OWN
    assert _pull(c, h, f"carrierServiceCode={OWN}").keys() == {seq[own["eventID"]]}
    # by its eventID, the same document
    for doc in found.values():
        one = c.get(f"/v2/events/{doc['eventID']}", headers=h)
        assert one.status_code == 200 and one.json() == doc

    # a line name over 5 characters is left out, and the whole answer is valid 2.2
    every = c.get("/v2/events?limit=1000", headers=h).json()
    line_event = next(d for d in every if seq_of(d["eventID"]) == seq[on_line["eventID"]])
    assert "carrierServiceCode" not in line_event["transportCall"]
    assert line_event["transportCall"]["transportCallID"] == long.id
    assert {_service(d) for d in every if seq_of(d["eventID"]) in found} == {LINE, OWN}
    jsonschema = pytest.importorskip("jsonschema")
    if not SPEC.exists():
        pytest.skip(f"DCSA spec not found at {SPEC}")
    spec = yaml.safe_load(SPEC.read_text())
    schema = spec["paths"]["/v2/events"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    jsonschema.validate(every, {**schema, "components": spec["components"]})


def test_the_departures_services_are_read_once_per_page_not_per_event(loaded_store):
    short, long = _sailings(loaded_store)
    admin = party(loaded_store, "ADM", Role.ADMIN)
    c, h = app_for(loaded_store), {"Authorization": f"Bearer {admin}"}
    t = short.departs_at - timedelta(hours=3)
    first = _move("DEPA", t, _call(short))
    _ingest(loaded_store, [first])

    def departure_reads(query: str) -> tuple[int, list[dict]]:
        sent: list[str] = []

        def count(conn, cursor, statement, *args):
            if "departures" in statement:
                sent.append(statement)
        sa_event.listen(loaded_store.engine, "before_cursor_execute", count)
        try:
            r = c.get(f"/v2/events?{query}", headers=h)
        finally:
            sa_event.remove(loaded_store.engine, "before_cursor_execute", count)
        assert r.status_code == 200, r.text
        return len(sent), r.json()

    one, body = departure_reads(f"carrierServiceCode={LINE}&limit=100")
    assert [_service(d) for d in body] == [LINE]
    # a dozen more events on two departures: the page reads the departures as often as for one
    _ingest(loaded_store, [_move("DEPA", t - timedelta(minutes=5 * i), _call(short if i % 2 else long))
                           for i in range(1, 13)])
    many, body = departure_reads(f"carrierServiceCode={LINE}&limit=100")
    assert len(body) == 7 and {_service(d) for d in body} == {LINE}
    assert many == one, (one, many)
    everything, body = departure_reads("limit=100")
    assert len(body) == 13 and everything <= one


def _delivered(store, port: int) -> bytes:
    """The one callback body a delivery run sends to a receiver on `port` (two events in it)."""
    rx = Receiver(port, [])
    try:
        assert Deliverer(store).run_once() == 2
        [(_, body)] = rx.got
    finally:
        rx.close()
    return body


def test_a_webhook_shows_the_departures_service_it_was_matched_on(loaded_store):
    short, _ = _sailings(loaded_store)
    admin = party(loaded_store, "ADM", Role.ADMIN)
    c, h = app_for(loaded_store), {"Authorization": f"Bearer {admin}"}
    port, secret = _free_port(), os.urandom(32)
    sub = c.post("/v2/event-subscriptions", headers=h, json={
        "callbackUrl": f"http://127.0.0.1:{port}/cb", "secret": base64.b64encode(secret).decode(),
        "carrierServiceCode": LINE})
    assert sub.status_code == 201, sub.text
    t = short.departs_at - timedelta(hours=3)
    mapped = _move("DEPA", t, _call(short))
    own = _move("ARRI", t - timedelta(hours=9), _call(short, carrierServiceCode=OWN))
    seq = _ingest(loaded_store, [mapped, own])
    body = _delivered(loaded_store, port)
    got = {seq_of(d["eventID"]): _service(d) for d in json.loads(body)}
    assert got == {seq[mapped["eventID"]]: LINE, seq[own["eventID"]]: OWN}
    # a replay from the start queues what the fan-out queued: the departure's service matches
    # there too (it skipped the event found only through its departure)
    sid = sub.json()["subscriptionID"]
    assert c.post(f"/api/v1/subscriptions/{sid}/replay?cursor=0", headers=h).json()["queued"] == 2
    again = _delivered(loaded_store, port)
    assert json.loads(again) == json.loads(body)
