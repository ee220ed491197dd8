"""A DCSA 3.0 retraction reaches every reader of the event log — on both stores.

The live stream leaves the withdrawn event out of a resume and announces the retraction to those
who may see the event; a webhook row still queued for it is held back (and none is written when a
batch stores and retracts it); a replay skips it; the KPIs' facts, the data-quality scores, the
IFTSTA export and the ETA's observed history no longer count it.
"""

from __future__ import annotations

import base64
import json
import os
from datetime import datetime, timedelta, timezone

import httpx
from sqlalchemy import select

from corridor.access.visibility import viewer_for
from corridor.analytics.facts import load_facts
from corridor.analytics.iftsta_out import party_events
from corridor.analytics.quality import data_quality
from corridor.domain.parties import Role
from corridor.ingest.service import Incoming, Ingestor
from corridor.store import tracking as repo
from corridor.store.tables import events, outbox
from corridor.tracking.delivery import Deliverer

from tracking_helpers import app_for, party

# the carrier, its box and its 3.0 events at Aktau: as the retraction tests send them
from test_dcsa_retractions import ADMIN, BOX, CARRIER, T0, _at, _gate_in, _load  # noqa: E402
from test_stream import free_port, serving  # noqa: E402 - the app on a localhost port
from test_webhooks import Receiver  # noqa: E402 - a callback receiver on localhost


def _retraction(eid: str) -> dict:
    return {"eventID": eid, "isRetracted": True, "eventUpdatedDateTime": _at(T0 + timedelta(hours=6))}


def _body(items: list[dict]) -> bytes:
    return json.dumps({"events": items}).encode()


def _send(store, items: list[dict]):
    out = Ingestor(store).ingest(_body(items), source_party=CARRIER, fmt="dcsa-json")
    assert not out.reasons, out.reasons
    return out


def _logged(store) -> dict[str, tuple[int, str]]:
    """eventID -> (seq, trip) of every sender's event in the log."""
    with store.read() as conn:
        return {r.event_id: (r.seq, r.trip_id) for r in conn.execute(
            select(events.c.event_id, events.c.seq, events.c.trip_id).where(events.c.event_id.is_not(None)))}


def _sse(text: str) -> list[tuple[str | None, str, dict]]:
    """(id, event type, data) of each Server-Sent Event in `text` (comments left out)."""
    out = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":"))
        if "data" in fields:
            out.append((fields.get("id"), fields.get("event", "message"), json.loads(fields["data"])))
    return out


def _stream(client, key: str, last_id: int | None = None, **params) -> list[tuple[str | None, str, dict]]:
    """One short stream read to its end (max_seconds), resumed after `last_id` when given."""
    h = {"Authorization": f"Bearer {key}"} | ({"Last-Event-ID": str(last_id)} if last_id is not None else {})
    r = client.get("/api/v1/stream", params={"max_seconds": 0.3, **params}, headers=h)
    assert r.status_code == 200, r.text
    return _sse(r.text)


# --- the live stream ---------------------------------------------------------------------------

def test_a_resumed_stream_leaves_out_the_withdrawn_event_and_announces_its_retraction(loaded_store):
    admin = party(loaded_store, "ADM", Role.ADMIN)
    stranger = party(loaded_store, "SHPX", Role.SHIPPER)
    party(loaded_store, CARRIER, Role.FERRY_OPERATOR)
    _send(loaded_store, [_gate_in("g-1"), _load("l-1")])
    ids = _logged(loaded_store)
    (g, trip), (l, _) = ids["g-1"], ids["l-1"]
    c = app_for(loaded_store)
    assert [(i, kind) for i, kind, _ in _stream(c, admin, after=0)] == [(str(g), "equipment"), (str(l), "equipment")]
    _send(loaded_store, [_retraction("l-1")])

    # a client back from before either event: the load is not sent, nor its retraction (never shown)
    got = _stream(c, admin, after=0)
    assert [(i, kind, d["seq"]) for i, kind, d in got] == [(str(g), "equipment", g)]
    # a client that was shown the load and lost its connection: told, without an id (the resume
    # point stays the load's)
    got = _stream(c, admin, last_id=l)
    assert got == [(None, "retraction", {"event_id": "l-1", "source_party": CARRIER, "seqs": [l], "trips": [trip],
                                         "retracted_at": (T0 + timedelta(hours=6)).isoformat(),
                                         "received_at": got[0][2]["received_at"]})]
    # a filter the event does not pass, and a party that may not see it, hear nothing of it
    assert _stream(c, admin, last_id=l, container="TGHU1234567") == []
    assert _stream(c, stranger, last_id=l) == []
    # a resume after the retraction was received: it is not announced again
    _send(loaded_store, [_gate_in("g-2", T0 + timedelta(days=1))])
    g2 = _logged(loaded_store)["g-2"][0]
    assert [i for i, _, _ in _stream(c, admin, last_id=g2)] == []




def test_a_live_stream_hears_the_retraction_of_an_event_it_showed(loaded_store):
    admin = party(loaded_store, "ADM", Role.ADMIN)
    party(loaded_store, CARRIER, Role.FERRY_OPERATOR)
    with serving(loaded_store) as base, httpx.Client(timeout=30) as client:
        with client.stream("GET", f"{base}/api/v1/stream", params={"max_seconds": 20},
                           headers={"Authorization": f"Bearer {admin}"}) as resp:
            lines = resp.iter_lines()
            assert next(lines) == ": corridor stream"   # its starting point is taken
            _send(loaded_store, [_gate_in("g-1"), _load("l-1")])
            seen: list[str] = []
            for line in lines:
                seen.append(line)
                if len([x for x in seen if x.startswith("id: ")]) == 2:
                    break
            _send(loaded_store, [_retraction("l-1")])
            for line in lines:
                seen.append(line)
                if line.startswith("data: ") and seen[-2] == "event: retraction":
                    break
    got = _sse("\n".join(seen) + "\n\n")
    (l, trip) = _logged(loaded_store)["l-1"]
    assert [kind for _, kind, _ in got] == ["equipment", "equipment", "retraction"]
    assert got[2][0] is None and (got[2][2]["event_id"], got[2][2]["seqs"], got[2][2]["trips"]) == ("l-1", [l], [trip])


# --- webhooks ------------------------------------------------------------------------------------



def _subscribe(store, key: str, port: int, **filters) -> str:
    r = app_for(store).post("/v2/event-subscriptions", headers={"Authorization": f"Bearer {key}"}, json={
        "callbackUrl": f"http://127.0.0.1:{port}/cb", "secret": base64.b64encode(os.urandom(32)).decode(),
        **filters})
    assert r.status_code == 201, r.text
    return r.json()["subscriptionID"]


def _outbox(store, sid: str) -> dict[int, str]:
    with store.read() as conn:
        return dict(conn.execute(select(outbox.c.event_seq, outbox.c.status)
                                 .where(outbox.c.subscription_id == sid)).all())


def test_a_queued_webhook_of_a_withdrawn_event_is_never_delivered(loaded_store):
    admin = party(loaded_store, "ADM", Role.ADMIN)
    party(loaded_store, CARRIER, Role.FERRY_OPERATOR)
    port = free_port()
    sid = _subscribe(loaded_store, admin, port)
    _send(loaded_store, [_gate_in("g-1"), _load("l-1")])
    ids = _logged(loaded_store)
    g, l = ids["g-1"][0], ids["l-1"][0]
    assert _outbox(loaded_store, sid) == {g: "pending", l: "pending"}
    _send(loaded_store, [_retraction("l-1")])
    assert _outbox(loaded_store, sid) == {g: "pending", l: "withdrawn"}
    rx = Receiver(port, [])
    try:
        assert Deliverer(loaded_store, allow_private=True).run_once() == 1
    finally:
        rx.close()
    assert [[x["equipmentEventTypeCode"] for x in json.loads(body)] for _, body in rx.got] == [["GTIN"]]
    assert _outbox(loaded_store, sid) == {g: "delivered", l: "withdrawn"}
    # a replay from before both queues the gate-in alone
    r = app_for(loaded_store).post(f"/api/v1/subscriptions/{sid}/replay?cursor=0",
                                   headers={"Authorization": f"Bearer {admin}"})
    assert r.json()["queued"] == 1 and _outbox(loaded_store, sid) == {g: "pending"}


def test_an_event_a_batch_stores_and_retracts_is_queued_for_no_subscriber(loaded_store):
    admin = party(loaded_store, "ADM", Role.ADMIN)
    party(loaded_store, CARRIER, Role.FERRY_OPERATOR)
    sid = _subscribe(loaded_store, admin, free_port())
    outs = Ingestor(loaded_store).ingest_many([
        Incoming(_body([_gate_in("g-1"), _load("l-1")]), source_party=CARRIER, fmt="dcsa-json"),
        Incoming(_body([_retraction("l-1")]), source_party=CARRIER, fmt="dcsa-json")])
    assert [(o.stored, o.retracted) for o in outs] == [(2, 0), (0, 1)]
    assert _outbox(loaded_store, sid) == {_logged(loaded_store)["g-1"][0]: "pending"}


# --- KPIs, data quality, IFTSTA, the ETA's history ------------------------------------------------

def _readers(store) -> dict:
    """What each reader of the log makes of BOX's trip."""
    lo, hi = T0 - timedelta(days=1), T0 + timedelta(days=2)
    with store.read() as conn:
        v = viewer_for(conn, ADMIN)
        facts = load_facts(conn, v, lo, hi)
        quality = {p["party"]: p["events"] for p in data_quality(conn, v, lo, hi)["parties"]}
        return {"moves": [m.code for t in facts.trips if t.equipment == BOX for m in t.moves],
                "scored": quality.get(CARRIER),
                "iftsta": [e.code for _, _, evs in party_events(conn, v) for e in evs if e.equipment == BOX],
                "stays": [s.code for s in repo.discharges_and_loads(conn, 1000) if s.location == "KZAAU"]}


def test_kpis_quality_iftsta_and_eta_history_do_not_count_a_withdrawn_event(loaded_store):
    party(loaded_store, CARRIER, Role.FERRY_OPERATOR)
    _send(loaded_store, [_gate_in("g-1"), _load("l-1")])
    assert _readers(loaded_store) == {"moves": ["GTIN", "LOAD"], "scored": 2, "iftsta": ["GTIN", "LOAD"],
                                      "stays": ["LOAD"]}
    _send(loaded_store, [_retraction("l-1")])
    assert _readers(loaded_store) == {"moves": ["GTIN"], "scored": 1, "iftsta": ["GTIN"], "stays": []}


def test_the_etas_running_times_leave_out_a_withdrawn_departure_or_arrival(loaded_store):
    """A railway's arrival report, retracted, is no sample of the link's delay; its report of the
    train leaving, retracted, is no start of a running time."""
    from corridor.domain.events import Classifier, Event, EventKind, TransportCall
    from corridor.store import events as evstore
    from corridor.store import network as netstore
    party(loaded_store, "KTZ", Role.RAILWAY)
    now = datetime.now(timezone.utc)
    with loaded_store.read() as conn:
        dep = next(d for d, _ in netstore.list_departures(conn, start=now - timedelta(days=20),
                                                          end=now - timedelta(days=2)) if d.status != "cancelled")
        places = {r.id: r.code for r in conn.exec_driver_sql("SELECT id, code FROM locations")}

    def move(code: str, eid: str, when: datetime, where: str) -> Event:
        where = places.get(where) or where   # reports name places by their UN/LOCODE
        return Event(kind=EventKind.TRANSPORT, code=code, classifier=Classifier.ACT, event_time=when,
                     location=where, source_party="KTZ", event_id=eid,
                     transport_call=TransportCall(mode="RAIL", location=where, voyage=dep.voyage,
                                                  departure_id=dep.id))

    with loaded_store.tx() as conn:
        evstore.append(conn, [move("DEPA", "k-dep", dep.departs_at, dep.origin),
                              move("ARRI", "k-arr", dep.arrives_at + timedelta(hours=5), dep.destination)])

    def heard() -> tuple[list[str], list[str]]:
        with loaded_store.read() as conn:
            return ([a.departure_id for a in repo.arrivals_against_timetable(conn, 1000)],
                    list(repo.departures_heard_leaving(conn, {dep.id})))

    assert heard() == ([dep.id], [dep.id])
    out = Ingestor(loaded_store).ingest(_body([_retraction("k-dep"), _retraction("k-arr")]), source_party="KTZ",
                                        fmt="dcsa-json")
    assert out.retracted == 2, out.reasons
    assert heard() == ([], [])
