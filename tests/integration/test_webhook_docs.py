"""docs/api.md "Webhooks" is the receiver's contract: its verification example runs here against a
real delivery to a real HTTP receiver, and its headers, numbers and replay are checked against what
Corridor does, so the page cannot drift from the code. Both stores."""

from __future__ import annotations

import base64
import json
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import select

from corridor.domain.parties import Role
from corridor.runtime import SWEEP_EVERY_S
from corridor.store.tables import outbox
from corridor.tracking.delivery import (API_VERSION, BASE_BACKOFF_S, BUNDLE, MAX_ATTEMPTS, MAX_BACKOFF_S,
                                        Deliverer)

from test_webhook_failures import Hook
from tracking_helpers import app_for, box_event, ingest, party

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
BOX = "MSCU1234566"


def section() -> str:
    text = DOC.read_text()
    start = text.index("\n## Webhooks\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def doc_example() -> dict:
    """The Python block of the section, executed as a receiver would paste it."""
    blocks = re.findall(r"```python\n(.*?)```", section(), re.S)
    assert len(blocks) == 1
    ns: dict = {}
    exec(compile(blocks[0], "docs/api.md#webhooks", "exec"), ns)
    return ns


def test_the_documented_numbers_are_the_code_s():
    s = " ".join(section().split())
    assert f"at most {BUNDLE} events" in s and f"up to {BUNDLE} events" in s
    assert f"after {MAX_ATTEMPTS} failed attempts" in s
    assert f"then {MAX_BACKOFF_S:.0f} s (1 h, the cap)" in s and f"at most the same cap of {MAX_BACKOFF_S:.0f} s" in s
    assert f"{BASE_BACKOFF_S:.0f} s, doubling" in s and f"at least {BASE_BACKOFF_S:.0f} s" in s
    assert f"every {SWEEP_EVERY_S:.0f} s" in s
    assert f"`API-Version` | `{API_VERSION}`" in s
    # the documented back-off schedule is the one the worker runs
    doubling = [BASE_BACKOFF_S * 2 ** i for i in range(11)]
    assert f"{', '.join(f'{x:.0f}' for x in doubling[:3])}, … {doubling[-1]:.0f} s" in s
    assert doubling[-1] < MAX_BACKOFF_S <= 2 * doubling[-1]


def test_the_documented_verification_passes_on_a_real_delivery_and_replay_works_as_written(loaded_store):
    verify, seq_of = (doc_example()[n] for n in ("verify_corridor_signature", "corridor_seq"))
    key = party(loaded_store, "ACME", Role.SHIPPER)
    h, c = {"Authorization": f"Bearer {key}"}, app_for(loaded_store)
    t0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=2)
    ingest(loaded_store, [box_event("GTIN", t0, "KZDOS", box=BOX, bkg="B1")], "ACME")   # before subscribing
    secret_b64 = base64.b64encode(os.urandom(48)).decode()
    rx = Hook()
    try:
        sid = c.post("/v2/event-subscriptions", headers=h, json={
            "callbackUrl": rx.url("/hooks/corridor"), "secret": secret_b64,
            "equipmentReference": BOX}).json()["subscriptionID"]
        ingest(loaded_store, [box_event("GTOT", t0 + timedelta(hours=5), "KZDOS", box=BOX, bkg="B1")], "ACME")
        w = Deliverer(loaded_store)
        assert w.run_once() == 1
        [(path, headers, body)] = rx.got
        # the headers of the table, with the values it gives
        table = dict(re.findall(r"^\| `([\w-]+)` \| (.+) \|$", section(), re.M))
        assert set(table) == {"Content-Type", "Notification-Signature", "Subscription-ID", "API-Version"}
        assert set(table) <= set(headers)
        assert headers["Content-Type"] == "application/json" and headers["API-Version"] == API_VERSION
        assert headers["Subscription-ID"] == sid
        assert re.fullmatch(r"sha256=[0-9a-f]{64}", headers["Notification-Signature"])
        # the example, as documented
        assert verify(secret_b64, body, headers["Notification-Signature"])
        assert not verify(secret_b64, body.replace(b"GTOT", b"GTIN"), headers["Notification-Signature"])
        assert not verify(base64.b64encode(os.urandom(48)).decode(), body, headers["Notification-Signature"])
        # a JSON array of DCSA 2.2 events; the eventID carries the sequence number
        [event] = json.loads(body)
        with loaded_store.read() as conn:
            [queued] = conn.execute(select(outbox.c.event_seq).where(outbox.c.subscription_id == sid)).scalars()
        assert event["equipmentEventTypeCode"] == "GTOT" and seq_of(event["eventID"]) == queued
        # replay from 0: every matching event, the one stored before the subscription included
        r = c.post(f"/api/v1/subscriptions/{sid}/replay?cursor=0", headers=h).json()
        assert r == {"subscription": sid, "queued": 2}
        assert w.run_once() == 2
        again = json.loads(rx.got[1][2])
        assert [e["equipmentEventTypeCode"] for e in again] == ["GTIN", "GTOT"]
        assert again[1]["eventID"] == event["eventID"] and verify(secret_b64, rx.got[1][2],
                                                                 rx.got[1][1]["Notification-Signature"])
        # replay from the last event kept: the ones after it only
        r = c.post(f"/api/v1/subscriptions/{sid}/replay?cursor={seq_of(again[0]['eventID'])}", headers=h).json()
        assert r["queued"] == 1 and w.run_once() == 1
        assert [e["eventID"] for e in json.loads(rx.got[2][2])] == [event["eventID"]]
    finally:
        rx.close()
