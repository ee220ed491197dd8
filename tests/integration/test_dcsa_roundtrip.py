"""DCSA 2.2 round trip on both stores: what a carrier posts comes back through GET /v2/events.

Every valid 2.2 example of DCSA's conformance material (shared/standards/dcsa-tnt/examples, read in
place) is posted through POST /api/v1/events and pulled back through GET /v2/events; each event
sent is compared with the one returned, leaf by leaf. The differences left are listed below with
their reason. Any other field lost or changed fails the test, and so does a listed one that comes
back one day (then the list gets shorter).
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from corridor.access.keys import create_key
from corridor.api.app import create_app
from corridor.domain.events import event_keys
from corridor.domain.parties import ADMIN_PARTY, Party, Role
from corridor.domain.timetable import Departure
from corridor.ingest.dcsa import parse_dcsa
from corridor.settings import Settings
from corridor.store import events as ev
from corridor.store.parties import set_alias, upsert_party
from corridor.store.tables import events, locations
from corridor.tracking.outbox import seq_of

from test_ingest_fastpaths import RECEIVED, _raw_rows, varied_events
from tracking_helpers import past_aktau_sailing

CARRIER = "MAEU"   # the vessel operator the examples name
EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "standards" / "dcsa-tnt" / "examples"
# the valid ones: the folder also holds deliberately wrong payloads (tnt-220-response-wrong-*)
VALID_22 = sorted(p.name for p in EXAMPLES.glob("tnt-220-*.json") if "wrong" not in p.name) or ["tnt-220-response.json"]

# Differences with a reason. Corridor publishes the events it holds, so the message's own metadata
# is its own (TNT 2.2: eventID is "the unique identifier for the event (the message - not the
# source)", eventCreatedDateTime "should be considered Metadata"; the eventCreatedDateTime filter
# reads the same received time). The sender's eventID and created time stay in events.event_id and
# events.created_at.
REPUBLISHED = ("eventID", "eventCreatedDateTime")
# Fields 2.2 carries that Corridor's event model does not keep (path patterns; `kinds`: only there).
# None left: what has no column of its own travels in Event.extra (ingest.dcsa, tracking.dcsa_out),
# the call's otherFacility and location, the vessel's flag, call sign and operator, and an equipment
# event's location name, facility and address.
NOT_KEPT: list[tuple[str, set | None]] = []


def _leaves(doc, path: str = ""):
    """(path, value) of every leaf of a JSON document: `a.b[0].c`."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _leaves(v, f"{path}.{k}" if path else k)
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _leaves(v, f"{path}[{i}]")
    else:
        yield path, doc


def _same(path: str, sent, back) -> bool:
    """Equal as DCSA means them: the same instant, the same number of degrees, else the same value."""
    name = path.rsplit(".", 1)[-1]
    if name.endswith("DateTime"):
        parse = lambda t: datetime.fromisoformat(t.replace("Z", "+00:00"))
        return parse(sent) == parse(back)
    if name in ("latitude", "longitude"):
        return Decimal(sent) == Decimal(back)
    return type(sent) is type(back) and sent == back


def _differences(sent: dict, back: dict) -> set[tuple[str, str]]:
    """{("lost" | "changed" | "added", path)} between an event sent and the one returned."""
    a, b = dict(_leaves(sent)), dict(_leaves(back))
    return ({("lost", p) for p in a.keys() - b.keys()} | {("added", p) for p in b.keys() - a.keys()}
            | {("changed", p) for p in a.keys() & b.keys() if not _same(p, a[p], b[p])})


def _expected(sent: dict) -> set[tuple[str, str]]:
    out = {("changed", p) for p in REPUBLISHED if p in sent}
    for path, _ in _leaves(sent):
        for pattern, kinds in NOT_KEPT:
            if re.fullmatch(pattern, path) and (kinds is None or sent["eventType"] in kinds):
                out.add(("lost", path))
    return out


def _example(name: str) -> Path:
    path = EXAMPLES / name
    if not path.is_file():
        pytest.skip(f"DCSA example not found at {path}")
    return path


@pytest.fixture
def api(loaded_store):
    """The app on the store, keys for the administrator and the carrier, and Paris made known."""
    with loaded_store.tx() as conn:
        upsert_party(conn, Party(ADMIN_PARTY, "Corridor", frozenset({Role.ADMIN})))
        upsert_party(conn, Party(CARRIER, "Maersk", frozenset({Role.FERRY_OPERATOR})))
        keys = {"admin": create_key(conn, ADMIN_PARTY, scopes=("read", "write", "admin")),
                CARRIER: create_key(conn, CARRIER, scopes=("read", "write"))}
        # the examples happen in Paris (FRPAR): a place the registry knows, as an operator adds one
        conn.execute(insert(locations).values(
            id="FR_PAR", code="FRPAR", name="Paris", country="FR", timezone="Europe/Paris", lat=48.8566,
            lon=2.3522, kind="inland_terminal", facility_type="INTE", data={}))
        set_alias(conn, "location", "FRPAR", "FR_PAR", note="DCSA examples")
    client = TestClient(create_app(Settings(database_url=loaded_store.url, nats_url=None), store=loaded_store))
    client.keys = {p: {"Authorization": f"Bearer {k}"} for p, k in keys.items()}
    return client


def _post(api, body: bytes) -> dict:
    # the administrator relays for the carrier: an operator's own key may post only for its
    # facilities and services, and the examples' shipment events have neither
    r = api.post(f"/api/v1/events?party={CARRIER}", content=body, headers=api.keys["admin"])
    assert r.status_code == 200, r.text
    return r.json()


def _pull(api, query: str = "") -> dict[str, dict]:
    """Every event the carrier sees through GET /v2/events (all pages), by eventID."""
    out, url = {}, f"/v2/events?limit=3{query}"
    while url:
        r = api.get(url, headers=api.keys[CARRIER])
        assert r.status_code == 200, r.text
        out.update((d["eventID"], d) for d in r.json())
        url = r.headers.get("Next-Page")
    return out


def _seqs_by_report(store, keys: list[str]) -> dict[str, int]:
    with store.read() as conn:
        rows = conn.execute(select(events.c.dedup_key, events.c.seq).where(events.c.dedup_key.in_(keys))).all()
    return dict(rows)


@pytest.mark.parametrize("name", VALID_22)
def test_what_a_carrier_posts_comes_back_field_by_field(api, loaded_store, name):
    body = _example(name).read_bytes()
    sent = json.loads(body)
    before = datetime.now(timezone.utc)
    out = _post(api, body)
    after = datetime.now(timezone.utc)
    # one stored event per report: a re-sent report under another eventID collapses onto the first
    parsed = parse_dcsa(body, source_party=CARRIER, received_at=after)
    assert not parsed.rejections and len(parsed.events) == len(sent)
    reports = [event_keys(e)[1] for e in parsed.events]
    assert (out["stored"], out["duplicates"], out["quarantined"]) == (
        len(set(reports)), len(reports) - len(set(reports)), 0), out
    seq = _seqs_by_report(loaded_store, reports)
    back = _pull(api)
    by_seq = {seq_of(i): d for i, d in back.items()}
    assert set(seq.values()) <= by_seq.keys()

    found = {}
    first_sent: dict[str, dict] = {}
    for item, report in zip(sent, reports):
        first_sent.setdefault(report, item)
    for i, (item, report) in enumerate(zip(sent, reports)):
        got = by_seq[seq[report]]
        # a report sent again (another eventID) is a duplicate: the stored one says what the first said
        origin = first_sent[report]
        found[i] = _differences(origin, got)
        assert found[i] == _expected(origin), (i, item["eventID"], sorted(found[i] ^ _expected(origin)))
        made = datetime.fromisoformat(got["eventCreatedDateTime"])
        assert before - timedelta(seconds=1) <= made <= after + timedelta(seconds=1)
        # the eventID Corridor gives is the one to ask for again
        one = api.get(f"/v2/events/{got['eventID']}", headers=api.keys[CARRIER])
        assert one.status_code == 200 and one.json() == got
    # the fields fixed by revision 0007 are among those that came back
    assert not any(("lost", p) in d for d in found.values()
                   for p in ("transportCall.carrierServiceCode", "ISOEquipmentCode", "emptyIndicatorCode"))
    # the sender's own eventID is kept with the report it stored
    with loaded_store.read() as conn:
        kept = dict(conn.execute(select(events.c.seq, events.c.event_id).where(events.c.seq.in_(seq.values()))).all())
    first = {}
    for item, report in zip(sent, reports):
        first.setdefault(report, item["eventID"])
    assert {kept[seq[r]] for r in first} == set(first.values())


def _short_service_departure(store) -> Departure:
    """A copy of a past Aktau sailing under a service code short enough for 2.2's filter (5)."""
    return past_aktau_sailing(store, id="RT-AKX-1", service="AAF1", voyage="RT0001")


def test_carrier_service_code_filter_matches_the_calls_own_service_or_its_departures(api, loaded_store):
    body = _example("tnt-220-response.json").read_bytes()
    sent = json.loads(body)
    _post(api, body)
    dep = _short_service_departure(loaded_store)
    t = (dep.departs_at - timedelta(hours=3)).astimezone(timezone(timedelta(hours=5))).isoformat()
    # a call that names its departure by transportCallID and no service of its own
    mapped = {"eventID": "0b7a6a1e-5a49-4b7e-9d0e-3f3c5b8f2a11", "eventType": "TRANSPORT",
              "eventClassifierCode": "ACT", "eventDateTime": t, "eventCreatedDateTime": t,
              "transportEventTypeCode": "DEPA",
              "transportCall": {"transportCallID": dep.id, "UNLocationCode": "KZAAU", "modeOfTransport": "VESSEL"}}
    assert _post(api, json.dumps([mapped]).encode())["stored"] == 1
    with loaded_store.read() as conn:
        row = conn.execute(select(events.c.seq, events.c.service, events.c.departure_id)
                           .where(events.c.event_id == mapped["eventID"])).one()
    assert (row.service, row.departure_id) == (None, dep.id)

    own = {i["eventID"] for i in sent if (i.get("transportCall") or {}).get("carrierServiceCode") == "FE1"}
    with loaded_store.read() as conn:
        own_seqs = set(conn.execute(select(events.c.seq).where(events.c.event_id.in_(own))).scalars())
    fe1 = _pull(api, "&carrierServiceCode=FE1")
    assert own_seqs and {seq_of(i) for i in fe1} == own_seqs
    assert all(d["transportCall"]["carrierServiceCode"] == "FE1" for d in fe1.values())
    assert {seq_of(i) for i in _pull(api, f"&carrierServiceCode={dep.service}")} == {row.seq}
    assert _pull(api, "&carrierServiceCode=ZZZ9") == {}


@pytest.mark.parametrize("size", [5, 250])   # the small path, and COPY on PostgreSQL
def test_bulk_rows_write_service_size_type_and_empty_as_sqlalchemy_does(store, size):
    # the row builders' tuples (SQLite executemany, PostgreSQL VALUES, COPY and Stream) against
    # SQLAlchemy's insert through the columns' own types
    batch = []
    for i, e in enumerate(varied_events(size)):
        tc = e.transport_call
        batch.append(replace(e, size_type=(None, "22GP", "45G1")[i % 3], empty=(None, True, False)[i % 3],
                             transport_call=tc and replace(tc, service=(None, "FE1", "AKTAU-ALAT FEEDER")[i % 3])))
    assert any(e.transport_call and e.transport_call.service for e in batch)
    for checked in (False, True):
        with store.tx() as conn:
            stored, dups = ev.append(conn, batch, RECEIVED, checked=checked)
            assert len(stored) == size and not dups
            fast = _raw_rows(conn)
            back = [ev.row_to_event(r) for r in conn.execute(ev.select_events())]
            assert [(e.size_type, e.empty, e.transport_call and e.transport_call.service) for e in back] == [
                (e.size_type, e.empty, e.transport_call and e.transport_call.service) for e in batch]
            conn.execute(events.delete())
            conn.execute(insert(events), [ev.event_row(e, RECEIVED) for e in batch])
            assert fast == _raw_rows(conn)
            conn.execute(events.delete())
    if store.dialect == "postgresql" and size >= 200:
        with store.tx() as conn:
            assert ev.streams(conn, size)
            with ev.Stream(conn, RECEIVED, size) as log:
                for e in batch:
                    log.add(e, event_keys(e))
            streamed = _raw_rows(conn)
            conn.execute(events.delete())
            conn.execute(insert(events), [ev.event_row(e, RECEIVED) for e in batch])
            assert streamed == _raw_rows(conn)
