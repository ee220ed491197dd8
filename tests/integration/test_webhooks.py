"""Webhooks through the outbox to a real HTTP receiver on localhost: down, then 500, then 413 and
429 with Retry-After — every notification still arrives, signed, in order, exactly once."""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sqlalchemy import select

from corridor.domain.parties import Role
from corridor.store.tables import deliveries, outbox
from corridor.tracking.delivery import Deliverer, verify

from tracking_helpers import app_for, box_event, ingest, party

BOX = "MSCU1234566"


class Receiver:
    """A tiny HTTP server: answers from a script of status codes, then 204; records what arrived."""

    def __init__(self, port: int, script: list[tuple[int, dict]]):
        self.script, self.got = list(script), []
        me = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                code, headers = me.script.pop(0) if me.script else (204, {})
                if code == 204:
                    me.got.append((dict(self.headers), body))
                self.send_response(code)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), H)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_subscriber_that_was_down_and_failing_gets_everything_signed_in_order(loaded_store):
    admin = party(loaded_store, "ADM", Role.ADMIN)
    party(loaded_store, "ACME", Role.SHIPPER)
    port = _free_port()
    secret = os.urandom(32)
    c = app_for(loaded_store)
    sid = c.post("/v2/event-subscriptions", headers={"Authorization": f"Bearer {admin}"}, json={
        "callbackUrl": f"http://127.0.0.1:{port}/cb", "secret": base64.b64encode(secret).decode(),
        "eventType": ["EQUIPMENT"]}).json()["subscriptionID"]
    t0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=5)
    for i in range(6):   # six separate ingests: six outbox batches, in order
        ingest(loaded_store, [box_event("GTIN" if i % 2 == 0 else "GTOT", t0 + timedelta(hours=i), "KZDOS",
                                        box=BOX, bkg="B1")], "ACME")
    w = Deliverer(loaded_store, bundle=4, base_backoff_s=1.0)
    now = datetime.now(timezone.utc)
    # the receiver is down: connection refused, back-off grows
    assert w.run_once(now) == 0
    assert w.run_once(now) == 0          # not due yet: nothing is sent early
    now += timedelta(seconds=2)
    rx = Receiver(port, [(500, {}), (500, {}), (413, {}), (429, {"Retry-After": "30"})])
    try:
        for _ in range(60):
            w.run_once(now)
            now += timedelta(seconds=40)
        got = rx.got
    finally:
        rx.close()
    seqs = []
    for headers, body in got:
        assert headers["Subscription-ID"] == sid and headers["API-Version"] == "2.2.0"
        assert verify(secret, body, headers["Notification-Signature"])
        seqs += [e["eventID"] for e in json.loads(body)]
    assert len(seqs) == 6 and len(set(seqs)) == 6 and seqs == sorted(seqs)
    assert len(json.loads(got[0][1])) == 2     # the bundle of 4 was halved after the 413
    with loaded_store.read() as conn:
        log = conn.execute(select(deliveries.c.status_code, deliveries.c.error).order_by(deliveries.c.id)).all()
        left = conn.execute(select(outbox.c.status).where(outbox.c.status != "delivered")).all()
    codes = [r.status_code for r in log]
    assert codes[0] is None and "ConnectError" in log[0].error
    assert [x for x in codes if x and x != 204] == [500, 500, 413, 429] and not left
    # the delivery log the subscriptions page reads: newest first, one row per attempt
    h = {"Authorization": f"Bearer {admin}"}
    api = c.get(f"/api/v1/subscriptions/{sid}/deliveries", headers=h).json()["deliveries"]
    assert [d["status_code"] for d in reversed(api)] == codes
    assert api[0]["status"] == "delivered" and sum(d["events"] for d in api if d["ok"]) == 6
    assert all(datetime.fromisoformat(d["at"]).tzinfo for d in api)
    page = c.get(f"/api/v1/subscriptions/{sid}/deliveries?limit=2", headers=h).json()
    assert len(page["deliveries"]) == 2 and c.get(page["next"], headers=h).json()["deliveries"][0]["id"] < page["deliveries"][1]["id"]
    stranger = party(loaded_store, "NOSY", Role.SHIPPER)
    assert c.get(f"/api/v1/subscriptions/{sid}/deliveries", headers={"Authorization": f"Bearer {stranger}"}).status_code == 404


def test_replay_from_a_cursor_delivers_again(loaded_store):
    admin = party(loaded_store, "ADM", Role.ADMIN)
    party(loaded_store, "ACME", Role.SHIPPER)
    port, secret = _free_port(), os.urandom(32)
    c = app_for(loaded_store)
    h = {"Authorization": f"Bearer {admin}"}
    sid = c.post("/v2/event-subscriptions", headers=h, json={
        "callbackUrl": f"http://127.0.0.1:{port}/cb", "secret": base64.b64encode(secret).decode()}).json()["subscriptionID"]
    t0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=5)
    ingest(loaded_store, [box_event("GTIN", t0, "KZDOS", box=BOX, bkg="B1"),
                          box_event("GTOT", t0 + timedelta(hours=1), "KZDOS", box=BOX, bkg="B1")], "ACME")
    rx = Receiver(port, [])
    try:
        w = Deliverer(loaded_store)
        assert w.run_once() >= 2
        assert c.post(f"/api/v1/subscriptions/{sid}/replay?cursor=0", headers=h).json()["queued"] >= 2
        assert w.run_once() >= 2
        first, second = (json.loads(b) for _, b in rx.got[:2])
        assert first == second
    finally:
        rx.close()
