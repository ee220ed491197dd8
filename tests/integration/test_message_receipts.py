"""A posted message's receipt, GET /api/v1/messages/{message_id}, on both stores.

- Processed at once (no NATS, 200): status, format, file name, received time, sender, events stored,
  duplicates and the open quarantine entries with their ids, as the post answered them.
- Queued (NATS JetStream on 127.0.0.1:4222, 202): the answer's `Location` names the receipt, which
  says pending until an ingest worker has processed the message, then what became of it; NATS down
  (the post kept, processing deferred) answers 202 with the same `Location`.
- The sender and the administrator see a receipt; for anyone else it does not exist (404, the same
  answer as for an id nobody holds).
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from corridor.access import audit
from corridor.domain.parties import ADMIN_PARTY, Party, Role
from corridor.ingest.nats import JetStreamPublisher, StreamConfig, run_ingest_worker
from corridor.store.tables import audit_log, events

from test_ingest import dcsa_event, gate_in
from test_ingest_api import ingest_client
from test_quarantine_receipts import _delete_stream, _nats

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from cluster import free_port  # noqa: E402

URL = "nats://127.0.0.1:4222"
PORTAKTAU = Party("PORTAKTAU", "Aktau Sea Port", frozenset({Role.TERMINAL}), "KZ", facilities=frozenset({"KZ_AKX"}))
ACME = Party("ACME", "Acme Trading", frozenset({Role.SHIPPER}))
# one gate-in at Aktau (the port's own facility) and one at Alat, which is not the port's to report
REPORT = json.dumps([dcsa_event("2026-03-02T08:10:00+05:00"),
                     dcsa_event("2026-03-06T08:10:00+04:00", place="AZALA", code="GTOT")]).encode()


@pytest.fixture
def api(loaded_store):
    return ingest_client(loaded_store, [PORTAKTAU, ACME])


def linked(store, mid: str) -> int:
    """Events in the log that link back to message `mid`."""
    with store.read() as conn:
        return conn.execute(select(func.count()).select_from(events).where(events.c.message_id == mid)).scalar_one()


def on_nats(client, url: str):
    """`client`'s API with CORRIDOR_NATS_URL=`url` (ingest_client makes it without NATS)."""
    client.app.state.settings = client.app.state.settings.model_copy(update={"nats_url": url})
    return client


def not_found(client, path: str, who: str) -> dict:
    r = client.get(path, headers=client.keys[who])
    assert r.status_code == 404, r.text
    return {k: v for k, v in r.json().items() if k != "instance"}   # instance: this very request


# --- processed at once (no NATS) ----------------------------------------------------------------

def test_a_processed_post_reads_back_as_its_answer_said(api):
    before = datetime.now(timezone.utc)
    r = api.post("/api/v1/events", content=REPORT, headers=api.keys["PORTAKTAU"])
    assert r.status_code == 200 and "location" not in r.headers
    posted = r.json()
    mid = posted["message_id"]
    doc = api.get(f"/api/v1/messages/{mid}", headers=api.keys["PORTAKTAU"]).json()
    assert {k: doc[k] for k in ("message_id", "status", "format", "filename", "source_party", "size",
                                "stored", "duplicates", "quarantined")} == {
        "message_id": mid, "status": "partial", "format": "dcsa-json", "filename": None,
        "source_party": "PORTAKTAU", "size": len(REPORT), "stored": 1, "duplicates": 0, "quarantined": 1}
    received = datetime.fromisoformat(doc["received_at"])
    assert received.utcoffset() is not None and before <= received <= datetime.now(timezone.utc)
    assert linked(api.store, mid) == doc["stored"] == posted["stored"]
    (entry,) = doc["quarantine"]
    assert [entry["reason"]] == posted["reasons"] and "only for its own facilities" in entry["reason"]
    # the id leads to the entry itself, which its sender may open and replay
    followed = api.get(entry["href"], headers=api.keys["PORTAKTAU"])
    assert entry["href"] == f"/api/v1/quarantine/{entry['id']}" and followed.status_code == 200
    assert (followed.json()["message_id"], followed.json()["reason"]) == (mid, entry["reason"])
    # the administrator sees it too, the same
    assert api.get(f"/api/v1/messages/{mid}", headers=api.keys["admin"]).json() == doc


def test_a_resend_counts_its_duplicates_and_stores_nothing_twice(api):
    body = gate_in(place="KZAAU")
    first = api.post("/api/v1/messages?filename=gate.edi", content=body, headers=api.keys["PORTAKTAU"]).json()
    again = api.post("/api/v1/messages?filename=gate.edi", content=body, headers=api.keys["PORTAKTAU"]).json()
    assert again["message_id"] == first["message_id"]
    doc = api.get(f"/api/v1/messages/{first['message_id']}", headers=api.keys["PORTAKTAU"]).json()
    assert (doc["status"], doc["format"], doc["filename"], doc["stored"], doc["duplicates"], doc["quarantined"],
            doc["quarantine"]) == ("processed", "edifact", "gate.edi", 1, 1, 0, [])
    assert linked(api.store, first["message_id"]) == 1


def test_only_the_sender_and_the_administrator_see_a_receipt(api):
    mid = api.post("/api/v1/events", content=REPORT, headers=api.keys["PORTAKTAU"]).json()["message_id"]
    unknown = "0" * 64
    # another party learns nothing: the same answer as for an id nobody holds
    assert not_found(api, f"/api/v1/messages/{mid}", "ACME") == not_found(api, f"/api/v1/messages/{unknown}", "ACME")
    assert not_found(api, f"/api/v1/messages/{unknown}", "admin")["detail"] == "no such message"
    for junk in ("x" * 64, mid.upper(), mid[:-1], "1"):
        not_found(api, f"/api/v1/messages/{junk}", "PORTAKTAU")
    assert api.get(f"/api/v1/messages/{mid}").status_code == 401
    # the administrator's read of the port's receipt is a read of another party's data: audited
    assert api.get(f"/api/v1/messages/{mid}", headers=api.keys["admin"]).status_code == 200
    assert api.get(f"/api/v1/messages/{mid}", headers=api.keys["PORTAKTAU"]).status_code == 200
    assert audit.flush(api.store)
    with api.store.read() as conn:
        reads = conn.execute(select(audit_log.c.party_id, audit_log.c.detail)
                             .where(audit_log.c.target == f"/api/v1/messages/{mid}")).all()
    assert [(party, detail["owners"]) for party, detail in reads] == [(ADMIN_PARTY, ["PORTAKTAU"])]


def test_a_relayed_message_is_its_senders_once_its_sender_is_known(api):
    # the administrator relays an interchange whose sender id nobody knows yet: held, no sender
    posted = api.post("/api/v1/messages", content=gate_in(sender="KZAKTAU01", place="KZAAU"),
                      headers=api.keys["admin"]).json()
    path = f"/api/v1/messages/{posted['message_id']}"
    held = api.get(path, headers=api.keys["admin"]).json()
    assert (held["status"], held["source_party"], held["stored"], held["quarantined"]) == ("quarantined", "", 0, 1)
    assert "KZAKTAU01" in held["quarantine"][0]["reason"]
    not_found(api, path, "PORTAKTAU")
    # the alias names the port; the replay takes the message in as the port's
    assert api.post("/api/v1/aliases", json={"kind": "party", "value": "KZAKTAU01", "target": "PORTAKTAU"},
                    headers=api.keys["admin"]).status_code == 201
    assert api.post(f"/api/v1/quarantine/{held['quarantine'][0]['id']}/replay",
                    headers=api.keys["admin"]).json()["stored"] == 1
    doc = api.get(path, headers=api.keys["PORTAKTAU"]).json()
    assert (doc["status"], doc["source_party"], doc["stored"], doc["quarantined"], doc["quarantine"]) == (
        "processed", "PORTAKTAU", 1, 0, [])


def test_open_entries_are_listed_up_to_the_limit_with_their_count(api):
    # five gate-ins at Alat, none the port's to report: five entries
    body = json.dumps([dcsa_event(f"2026-03-06T08:1{i}:00+04:00", place="AZALA", box=box)
                       for i, box in enumerate(("MSKU1234565", "TGHU7654320", "MSCU1234566", "CAIU0018070",
                                                "TCLU1234560"))]).encode()
    mid = api.post("/api/v1/events", content=body, headers=api.keys["PORTAKTAU"]).json()["message_id"]
    every = api.get(f"/api/v1/messages/{mid}", headers=api.keys["PORTAKTAU"]).json()
    assert (every["status"], every["quarantined"], len(every["quarantine"])) == ("quarantined", 5, 5)
    ids = [e["id"] for e in every["quarantine"]]
    assert ids == sorted(ids)
    some = api.get(f"/api/v1/messages/{mid}?limit=2", headers=api.keys["PORTAKTAU"]).json()
    assert (some["quarantined"], [e["id"] for e in some["quarantine"]]) == (5, ids[:2])


def test_a_message_the_workers_gave_up_on_reads_quarantined_with_the_reason(api):
    # kept as a queued post keeps it; then the worker's last failed delivery quarantines it
    from corridor.ingest.nats import _give_up
    from corridor.ingest.service import Ingestor
    mid, _, _ = Ingestor(api.store).keep(REPORT, source_party="PORTAKTAU", fmt="dcsa-json", checked=True)
    _give_up(api.store, mid, "processing failed 5 times, last with OperationalError: disk I/O error; replay it")
    doc = api.get(f"/api/v1/messages/{mid}", headers=api.keys["PORTAKTAU"]).json()
    assert (doc["status"], doc["stored"], doc["quarantined"]) == ("quarantined", 0, 1)
    (entry,) = doc["quarantine"]
    assert entry["kind"] == "failed" and "disk I/O error" in entry["reason"]
    with api.store.read() as conn:   # the sender's data quality counts it as a record held back
        from corridor.store.tables import raw_messages
        kept = conn.execute(select(raw_messages.c.rejected, raw_messages.c.stored)
                            .where(raw_messages.c.id == mid)).one()
    assert tuple(kept) == (1, 0)
    # its replay takes it in; the entry is resolved and no longer listed
    assert api.post(f"/api/v1/quarantine/{entry['id']}/replay", headers=api.keys["PORTAKTAU"]).status_code == 200
    doc = api.get(f"/api/v1/messages/{mid}", headers=api.keys["PORTAKTAU"]).json()
    assert (doc["status"], doc["stored"], doc["quarantined"]) == ("partial", 1, 1)
    assert "only for its own facilities" in doc["quarantine"][0]["reason"]


# --- queued through NATS JetStream ----------------------------------------------------------------

@pytest.fixture
def queued(loaded_store):
    """An API on the broker at 127.0.0.1:4222 publishing to a stream of this test's own, and
    `drain(mids)`: an ingest worker on that stream until the messages are processed."""
    _nats()
    tag = uuid.uuid4().hex[:8]
    cfg = StreamConfig(stream=f"TEST_RECEIPTS_{tag}", subject=f"test.receipts.{tag}", durable=f"m{tag}", ack_wait=5.0)
    client = on_nats(ingest_client(loaded_store, [PORTAKTAU, ACME]), URL)
    # the API's publisher, made here on the test's stream (api.ingest._publisher uses the one it finds)
    client.app.state.ingest_publisher = JetStreamPublisher(URL, cfg, timeout=2.0)

    def drain(mids: list[str]) -> None:
        stop = threading.Event()
        worker = threading.Thread(target=run_ingest_worker, args=(loaded_store, URL),
                                  kwargs={"cfg": cfg, "batch": 5, "stop": stop}, daemon=True)
        worker.start()
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                docs = [client.get(f"/api/v1/messages/{m}", headers=client.keys["admin"]).json() for m in mids]
                if all(d["status"] != "pending" for d in docs):
                    return
                time.sleep(0.05)
            raise AssertionError(f"the worker left {mids} pending")
        finally:
            stop.set()
            worker.join(20)

    client.drain = drain
    yield client
    client.app.state.ingest_publisher.close()
    _delete_stream(cfg.stream)


@pytest.mark.services
def test_a_queued_post_names_its_receipt_which_tells_what_became_of_it(queued):
    r = queued.post("/api/v1/events", content=REPORT, headers=queued.keys["PORTAKTAU"])
    assert r.status_code == 202, r.text
    mid = r.json()["message_id"]
    assert (r.json()["status"], r.json()["queued"]) == ("pending", True)
    assert r.headers["location"] == f"/api/v1/messages/{mid}"
    pending = queued.get(r.headers["location"], headers=queued.keys["PORTAKTAU"]).json()
    assert (pending["status"], pending["stored"], pending["duplicates"], pending["quarantined"],
            pending["quarantine"]) == ("pending", 0, None, 0, [])
    not_found(queued, r.headers["location"], "ACME")

    queued.drain([mid])
    doc = queued.get(r.headers["location"], headers=queued.keys["PORTAKTAU"]).json()
    assert (doc["status"], doc["format"], doc["source_party"], doc["stored"], doc["duplicates"],
            doc["quarantined"]) == ("partial", "dcsa-json", "PORTAKTAU", 1, 0, 1)
    assert doc["received_at"] == pending["received_at"] and linked(queued.store, mid) == 1
    # the worker judged the post by the port's posting rights, as the synchronous post would
    assert "only for its own facilities" in doc["quarantine"][0]["reason"]
    assert queued.get(doc["quarantine"][0]["href"], headers=queued.keys["PORTAKTAU"]).status_code == 200
    not_found(queued, r.headers["location"], "ACME")


@pytest.mark.services
def test_queued_messages_and_positions_each_name_their_own_receipt(queued):
    posts = [queued.post("/api/v1/messages?filename=gate.edi", content=gate_in(place="KZAAU"),
                         headers=queued.keys["PORTAKTAU"]),
             queued.post("/api/v1/positions", json={"time": "2026-03-02T08:10:00+05:00", "lat": 43.65, "lon": 51.17,
                                                    "device": "trk-77", "container": "TGHU7654320"},
                         headers=queued.keys["ACME"])]
    assert [p.status_code for p in posts] == [202, 202]
    mids = [p.json()["message_id"] for p in posts]
    assert [p.headers["location"] for p in posts] == [f"/api/v1/messages/{m}" for m in mids]
    queued.drain(mids)
    gate, fix = (queued.get(p.headers["location"], headers=queued.keys[who]).json()
                 for p, who in zip(posts, ("PORTAKTAU", "ACME")))
    assert (gate["status"], gate["format"], gate["filename"], gate["stored"]) == ("processed", "edifact", "gate.edi", 1)
    assert (fix["status"], fix["format"], fix["source_party"]) == ("processed", "position-json", "ACME")
    assert fix["stored"] == linked(queued.store, mids[1])
    # each party sees its own only
    not_found(queued, posts[0].headers["location"], "ACME")
    not_found(queued, posts[1].headers["location"], "PORTAKTAU")


@pytest.mark.services
def test_a_post_kept_while_nats_is_down_names_its_receipt_too(loaded_store):
    client = on_nats(ingest_client(loaded_store, [PORTAKTAU]), f"nats://127.0.0.1:{free_port()}")  # nothing there
    try:
        r = client.post("/api/v1/events", content=REPORT, headers=client.keys["PORTAKTAU"])
        assert r.status_code == 202 and r.json()["queued"] is False, r.text
        doc = client.get(r.headers["location"], headers=client.keys["PORTAKTAU"]).json()
        assert (doc["message_id"], doc["status"], doc["duplicates"]) == (r.json()["message_id"], "pending", None)
        assert datetime.now(timezone.utc) - datetime.fromisoformat(doc["received_at"]) < timedelta(minutes=5)
    finally:
        client.app.state.ingest_publisher.close()
