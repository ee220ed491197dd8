"""The audit log on both stores: every write, every read of another party's data, and never a key or secret."""

from __future__ import annotations

import logging

from sqlalchemy import select

from corridor.access import audit, keys
from corridor.store.tables import audit_log

from test_access_matrix import BOX_A, ROLES, build_world

HOOK_SECRET = "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI="


def _rows(store) -> list[dict]:
    assert audit.flush(store)   # reads of others' data are queued: store them first
    with store.read() as conn:
        return [dict(r._mapping) for r in conn.execute(select(audit_log).order_by(audit_log.c.id)).all()]


def test_writes_and_reads_of_others_are_audited_and_no_secret_is_logged(loaded_store, caplog):
    caplog.set_level(logging.DEBUG)
    w = build_world(loaded_store)
    c, ref = w.client, w.ref["A"]
    before = len(_rows(loaded_store))

    # reads: own data is not logged; another party's data is, with its owners
    assert c.get(f"/api/v1/containers/{BOX_A}", headers=w.h("shipper")).status_code == 200
    assert c.get(f"/api/v1/bookings/{ref}", headers=w.h("shipper")).status_code == 200
    for role in ("terminal_at_facility", "authority_kz", "admin"):
        assert c.get(f"/api/v1/containers/{BOX_A}", headers=w.h(role)).status_code == 200
    assert c.get(f"/api/v1/bookings/{ref}", headers=w.h("admin")).status_code == 200
    assert c.get(f"/api/v1/bookings/{ref}", headers=w.h("forwarder_nominated")).status_code == 200
    assert c.get("/v2/events", headers=w.h("admin")).status_code == 200
    # a refused read (nothing shown) is not a read of others' data
    assert c.get(f"/api/v1/containers/{BOX_A}", headers=w.h("other_shipper")).status_code == 404

    # writes: allowed and refused, each one logged
    made = c.post("/api/v1/keys", headers=w.h("admin"), json={"party_id": "ACME", "label": "erp"})
    assert made.status_code == 201
    new_key = made.json()["key"]
    assert c.delete(f"/api/v1/keys/{made.json()['id']}", headers=w.h("admin")).status_code == 204
    assert c.post(f"/api/v1/bookings/{ref}/cancel", headers=w.h("authority_kz")).status_code == 403
    sub = c.post("/v2/event-subscriptions", headers=w.h("shipper"),
                 json={"callbackUrl": "http://127.0.0.1:9/cb", "secret": HOOK_SECRET})
    assert sub.status_code == 201
    assert c.get("/api/v1/me", headers={"Authorization": f"Bearer {new_key}"}).status_code == 401  # revoked

    rows = _rows(loaded_store)[before:]
    reads = [(r["party_id"], r["target"]) for r in rows if r["action"].startswith("READ ")]
    party = {role: pid for role, pid in ROLES.items()}
    assert (party["terminal_at_facility"], f"/api/v1/containers/{BOX_A}") in reads
    assert (party["authority_kz"], f"/api/v1/containers/{BOX_A}") in reads
    assert (party["admin"], f"/api/v1/containers/{BOX_A}") in reads
    assert (party["admin"], f"/api/v1/bookings/{ref}") in reads
    assert (party["forwarder_nominated"], f"/api/v1/bookings/{ref}") in reads
    assert (party["admin"], "/v2/events") in reads
    assert all(p not in (party["shipper"], party["other_shipper"]) for p, _ in reads), reads
    # its read, not its refused write: queued reads are stored in batches, so a later write may come first
    owners = next(r["detail"]["owners"] for r in rows
                  if r["party_id"] == party["authority_kz"] and r["action"].startswith("READ "))
    assert "ACME" in owners
    writes = [(r["party_id"], r["action"], r["detail"]["status"]) for r in rows if not r["action"].startswith("READ ")]
    assert (party["admin"], "POST /api/v1/keys", 201) in writes
    assert (party["admin"], f"DELETE /api/v1/keys/{made.json()['id']}", 204) in writes
    assert (party["authority_kz"], f"POST /api/v1/bookings/{ref}/cancel", 403) in writes
    assert (party["shipper"], "POST /v2/event-subscriptions", 201) in writes
    assert all(r["key_id"] for r in rows)

    # no key, no key secret and no webhook secret anywhere in the logs or the audit rows
    secrets = [new_key, keys.split(new_key)[1], HOOK_SECRET]
    for k in w.keys.values():
        secrets += [k, keys.split(k)[1]]
    logged = caplog.text + repr(_rows(loaded_store))
    assert caplog.text, "nothing was logged: the check below would prove nothing"
    for s in secrets:
        assert s not in logged
