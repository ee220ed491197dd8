"""Booking review fixes on both stores: Idempotency-Key on POST /bookings (also two at once), the
service's clock on every record (the twin's simulated time), cancelled sailings have no free space,
a re-routed booking's old plan leaves the DCSA feed, and `quote_id` holds a booking to its quote."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from corridor.access.keys import create_key
from corridor.api import bookings as bookings_api
from corridor.api.app import create_app
from corridor.booking.containers import parse_containers
from corridor.booking.records import IdempotencyKey
from corridor.booking.service import BookingService, SpaceUnavailable, ready_time
from corridor.domain.parties import Party, Role
from corridor.planning.pricing import tariff_usd_per_teu
from corridor.store import network as netstore
from corridor.store.events import row_to_event, select_events
from corridor.store.parties import upsert_party
from corridor.store.tables import bookings, departures, events, idempotency_keys
from corridor.twin.booking import Booker

READY = (date.today() + timedelta(days=7)).isoformat()
REQ = {"origin": "Xi'an", "destination": "TRIST", "ready": READY, "containers": "2x40"}


def _parties(store):
    with store.tx() as conn:
        upsert_party(conn, Party("ACME", "Acme Trading", frozenset({Role.SHIPPER})))
        upsert_party(conn, Party("BETA", "Beta Goods", frozenset({Role.SHIPPER})))
        return {p: create_key(conn, p) for p in ("ACME", "BETA")}


@pytest.fixture
def api(loaded_store):
    keys = _parties(loaded_store)
    app = create_app(store=loaded_store)
    if not any(getattr(r, "path", "") == "/api/v1/quotes" for r in app.routes):
        app.include_router(bookings_api.router)
    client = TestClient(app)

    def call(method, path, party="ACME", headers=None, **kw):
        return client.request(method, path, headers={"Authorization": f"Bearer {keys[party]}", **(headers or {})},
                              **kw)
    return call


def _count(store, table=bookings, *where):
    with store.read() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar()


def _reserved(store, dep_id):
    with store.read() as conn:
        return netstore.get_departure(conn, dep_id)[1]


# ---- A: Idempotency-Key ----------------------------------------------------------------------------
def test_a_retry_with_the_same_key_and_body_answers_with_the_first_booking(api, loaded_store):
    key = {"Idempotency-Key": "abc-123"}
    first = api("POST", "/api/v1/bookings", json={**REQ, "option": 1}, headers=key)
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    # the same body with its keys in another order is the same request
    again = api("POST", "/api/v1/bookings", json={"option": 1, **dict(reversed(REQ.items()))}, headers=key)
    assert again.status_code == 200, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["ref"] == first.json()["ref"] and again.json()["legs"] == first.json()["legs"]
    assert _count(loaded_store) == 1
    for leg in first.json()["legs"]:   # the ferry (and every leg) holds one booking's space
        assert _reserved(loaded_store, leg["departure_id"]) == 4
    # a structured-field string names the same key
    quoted = api("POST", "/api/v1/bookings", json={**REQ, "option": 1}, headers={"Idempotency-Key": '"abc-123"'})
    assert quoted.status_code == 200 and quoted.json()["ref"] == first.json()["ref"]
    # without a key, or with a new one, the same body is a new booking
    assert api("POST", "/api/v1/bookings", json={**REQ, "option": 1}).status_code == 201
    assert api("POST", "/api/v1/bookings", json={**REQ, "option": 1},
               headers={"Idempotency-Key": "abc-124"}).status_code == 201
    assert _count(loaded_store) == 3


def test_a_key_reused_with_another_body_is_refused_and_keys_are_per_party(api, loaded_store):
    key = {"Idempotency-Key": "order-77"}
    ref = api("POST", "/api/v1/bookings", json={**REQ, "option": 1}, headers=key).json()["ref"]
    r = api("POST", "/api/v1/bookings", json={**REQ, "option": 1, "containers": "3x40"}, headers=key)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["title"] == "Idempotency-Key reused"
    assert "order-77" in r.json()["detail"] and ref in r.json()["detail"]
    assert _count(loaded_store) == 1
    # another party's key of the same name is its own
    other = api("POST", "/api/v1/bookings", party="BETA", json={**REQ, "option": 1}, headers=key)
    assert other.status_code == 201 and other.json()["ref"] != ref and other.json()["shipper"] == "BETA"
    bad = api("POST", "/api/v1/bookings", json={**REQ, "option": 1}, headers={"Idempotency-Key": "x" * 256})
    assert bad.status_code == 400 and "Idempotency-Key" in bad.json()["detail"]


def test_a_failed_booking_does_not_use_up_its_key(api, loaded_store):
    q = api("POST", "/api/v1/quotes", json=REQ).json()["options"][0]
    ids = [x["departure_id"] for x in q["legs"]]
    ferry = next(x for x in q["legs"] if x["mode"] in ("ferry", "feeder"))
    with loaded_store.tx() as conn:
        dep, _ = netstore.get_departure(conn, ferry["departure_id"])
        assert netstore.reserve(conn, dep.id, dep.capacity_teu)
    key = {"Idempotency-Key": "retry-after-409"}
    assert api("POST", "/api/v1/bookings", json={**REQ, "departure_ids": ids}, headers=key).status_code == 409
    assert _count(loaded_store, idempotency_keys) == 0
    with loaded_store.tx() as conn:
        netstore.release(conn, dep.id, dep.capacity_teu)
    r = api("POST", "/api/v1/bookings", json={**REQ, "departure_ids": ids}, headers=key)
    assert r.status_code == 201, r.text


def test_a_same_key_at_once_makes_one_booking(loaded_store):
    # 8 requests with one key race: the key is claimed in the booking's transaction, so one books
    # and the others (waiting on it) answer with its booking; no space is held twice
    _parties(loaded_store)
    svc = BookingService(loaded_store, clock=lambda: datetime.now(timezone.utc))
    q = svc.quote("XIA", "IST", ready_time(svc.network, "XIA", READY), parse_containers("2x40"))
    k = IdempotencyKey("ACME", "same-time", "b" * 64)
    start = threading.Barrier(8)

    def one(_):
        start.wait()
        return svc.book_option("ACME", q, 1, idempotency=k)

    with ThreadPoolExecutor(max_workers=8) as pool:
        recs = list(pool.map(one, range(8)))
    assert len({r.ref for r in recs}) == 1
    assert sorted(r.replayed for r in recs) == [False] + [True] * 7
    assert _count(loaded_store) == 1
    for dep_id in q.options[0].departure_ids:
        assert _reserved(loaded_store, dep_id) == 4


def test_a_key_is_kept_24_hours(loaded_store):
    _parties(loaded_store)
    now = [datetime.now(timezone.utc)]
    svc = BookingService(loaded_store, clock=lambda: now[0])
    q = svc.quote("XIA", "IST", ready_time(svc.network, "XIA", READY), parse_containers("2x40"))
    k = IdempotencyKey("ACME", "daily", "c" * 64)
    first = svc.book_option("ACME", q, 1, idempotency=k)
    now[0] += timedelta(hours=23, minutes=59)
    assert svc.replay(k).ref == first.ref
    assert svc.book_option("ACME", q, 1, idempotency=k).ref == first.ref
    now[0] += timedelta(minutes=2)   # past 24 h: the key is free again, and the old row goes
    assert svc.replay(k) is None
    second = svc.book_option("ACME", q, 1, idempotency=k)
    assert second.ref != first.ref and not second.replayed
    assert _count(loaded_store, idempotency_keys) == 1


# ---- B: the service's clock stamps everything ---------------------------------------------------------
def _events_of(store, ref):
    with store.read() as conn:
        return [row_to_event(r) for r in conn.execute(select_events().where(events.c.booking_ref == ref))]


def test_b_every_record_is_stamped_with_the_service_clock(loaded_store):
    _parties(loaded_store)
    # a simulated time 45 days ahead: always another month than today's
    t = [(datetime.now(timezone.utc) + timedelta(days=45)).replace(hour=6, minute=0, second=0, microsecond=0)]
    svc = BookingService(loaded_store, clock=lambda: t[0])
    ready = t[0] + timedelta(hours=1)
    q = svc.quote("XIA", "IST", ready, parse_containers("2x40"), 6)
    # the first option across the Caspian (which route leads the quote changes with the season)
    n = next(k for k, opt in enumerate(q.options, 1) if {"KZ_AKX", "KZ_KUR"} & set(opt.stops))
    rec = svc.book_option("ACME", q, n)
    assert rec.created_at == t[0] and rec.updated_at == t[0]
    assert rec.ref.startswith(f"CB-{t[0]:%y%m}-")
    evs = _events_of(loaded_store, rec.ref)
    assert {e.code for e in evs if e.kind.value == "SHIPMENT"} == {"RECE", "CONF"}
    assert all(e.created_at == t[0] for e in evs)
    assert all(e.event_time == t[0] for e in evs if e.kind.value == "SHIPMENT")
    # a re-route and a cancellation later in simulated time
    b = rec.booking
    i = next(k for k, leg in enumerate(b.legs) if svc.network.locations[leg.origin].ref in ("KZAAU", "KZKUR"))
    t[0] += timedelta(hours=5)
    alt = svc.reroute_options(b.ref, svc.network.locations[b.legs[i].origin].ref, b.legs[i - 1].arrives_at,
                              avoid=[b.legs[i].departure_id])
    amended = svc.amend(b.ref, alt.options[0].departure_ids, reason="missed ferry")
    assert amended.updated_at == t[0] and amended.created_at == rec.created_at
    new = [e for e in _events_of(loaded_store, b.ref) if e.created_at == t[0]]
    assert {e.code for e in new} >= {"DEPA", "ARRI", "CONF"}
    t[0] += timedelta(hours=5)
    cancelled = svc.cancel(b.ref, reason="order withdrawn")
    assert cancelled.updated_at == t[0]
    canc = [e for e in _events_of(loaded_store, b.ref) if e.code == "CANC"]
    assert len(canc) == 1 and canc[0].event_time == canc[0].created_at == t[0]


def test_b_the_twin_books_in_simulated_time(loaded_store):
    _parties(loaded_store)
    svc = BookingService(loaded_store)
    sim = (datetime.now(timezone.utc) + timedelta(days=45)).replace(minute=0, second=0, microsecond=0)
    path = list(svc.quote("XIA", "Poti", sim, parse_containers("2x40")).options[0].stops)
    booker = Booker(loaded_store, set(zip(path, path[1:])), sim - timedelta(days=1), sim + timedelta(days=60),
                    svc.network)
    got = booker.book("ACME", None, path, sim, {"42G1": 2})
    assert got is not None
    rec = svc.get(got.ref)
    assert rec.created_at == sim and rec.ref.startswith(f"CB-{sim:%y%m}-")
    evs = _events_of(loaded_store, got.ref)
    assert evs and all(e.created_at == sim for e in evs)
    assert all(leg.departs_at > sim for leg in rec.booking.legs)


# ---- C: a cancelled sailing has no free space ---------------------------------------------------
def test_c_a_cancelled_sailing_shows_no_free_space_and_is_never_offered(api, loaded_store):
    q = api("POST", "/api/v1/quotes", json=REQ).json()["options"][0]
    ferry = next(x for x in q["legs"] if x["mode"] in ("ferry", "feeder"))
    with loaded_store.tx() as conn:
        assert netstore.set_status(conn, ferry["departure_id"], "cancelled")
    start = datetime.fromisoformat(ferry["departure"]) - timedelta(minutes=1)
    rows = api("GET", "/api/v1/departures", params={"from": ferry["from"], "to": ferry["to"],
                                                     "start": start.isoformat(), "limit": 5}).json()["departures"]
    row = next(d for d in rows if d["id"] == ferry["departure_id"])
    assert row["status"] == "cancelled" and row["free_teu"] == 0 and row["capacity_teu"] > 0
    again = api("POST", "/api/v1/quotes", json={**REQ, "max_options": 12}).json()["options"]
    assert again and all(ferry["departure_id"] not in [x["departure_id"] for x in o["legs"]] for o in again)


# ---- D: the DCSA feed shows a re-routed booking's current plan only -----------------------------
def test_d_after_a_reroute_the_feed_has_the_new_plan_only(api, loaded_store):
    b = api("POST", "/api/v1/bookings", json={**REQ, "option": 1}).json()
    ferry = next(x for x in b["legs"] if x["from"] in ("KZAAU", "KZKUR", "TMKRW"))

    def planned():
        r = api("GET", "/v2/events", params={"carrierBookingReference": b["ref"], "eventType": "TRANSPORT",
                                             "limit": 1000})
        assert r.status_code == 200, r.text
        docs = [d for d in r.json() if d["eventClassifierCode"] == "PLN"]
        return {(d["transportEventTypeCode"], d["transportCall"]["transportCallID"]) for d in docs}, len(docs)

    before, n = planned()
    assert before == {(c, x["departure_id"]) for x in b["legs"] for c in ("DEPA", "ARRI")} and n == len(before)
    r = api("POST", f"/api/v1/bookings/{b['ref']}/amend",
            json={"from": ferry["from"], "option": 1, "avoid": [ferry["departure_id"]], "reason": "missed ferry"})
    assert r.status_code == 200, r.text
    legs = r.json()["legs"]
    after, n = planned()
    assert after == {(c, x["departure_id"]) for x in legs for c in ("DEPA", "ARRI")} and n == len(after)
    assert not any(dep == ferry["departure_id"] for _, dep in after)
    # the old plan stays in the log (history), it is only not current
    with loaded_store.read() as conn:
        assert conn.execute(select(func.count()).select_from(events).where(
            events.c.booking_ref == b["ref"], events.c.departure_id == ferry["departure_id"])).scalar() == 2


# ---- E: quote_id holds a booking to the option the client saw -----------------------------------
def test_e_a_booking_with_quote_id_is_made_as_quoted(api, loaded_store):
    opt = api("POST", "/api/v1/quotes", json=REQ).json()["options"][0]
    assert opt["quote_id"].startswith("q1.")
    r = api("POST", "/api/v1/bookings", json={**REQ, "option": 1, "quote_id": opt["quote_id"]})
    assert r.status_code == 201, r.text
    assert [x["departure_id"] for x in r.json()["legs"]] == [x["departure_id"] for x in opt["legs"]]
    assert r.json()["price"] == opt["price"]
    # the departures themselves with the quote_id: the same check
    r = api("POST", "/api/v1/bookings", json={**REQ, "departure_ids": [x["departure_id"] for x in opt["legs"]],
                                             "quote_id": opt["quote_id"]})
    assert r.status_code == 201, r.text


def test_e_a_changed_price_is_409_naming_it(api, loaded_store):
    opt = api("POST", "/api/v1/quotes", json=REQ).json()["options"][0]
    leg = opt["legs"][0]
    net = bookings_api.BookingService(loaded_store).network
    with loaded_store.tx() as conn:   # the railway changed its tariff since the quote (a discount: same route)
        dep, _ = netstore.get_departure(conn, leg["departure_id"])
        tariff = tariff_usd_per_teu(dep, next(k for k in net.links if k.id == dep.link_id))
        conn.execute(update(departures).where(departures.c.id == dep.id)
                     .values(price_usd_per_teu=round(tariff * 0.8, 2)))
    now = api("POST", "/api/v1/quotes", json=REQ).json()["options"][0]
    assert [x["departure_id"] for x in now["legs"]] == [x["departure_id"] for x in opt["legs"]]
    assert now["price"] != opt["price"]
    r = api("POST", "/api/v1/bookings", json={**REQ, "option": 1, "quote_id": opt["quote_id"]})
    assert r.status_code == 409 and r.json()["title"] == "Quote changed", r.text
    p = r.json()
    assert len(p["changes"]) == 1 and p["changes"][0].startswith("price: now USD")
    assert f"{opt['price']['amount']:,.2f}" in p["changes"][0] and p["price"] == now["price"]
    assert _count(loaded_store) == 0 and _reserved(loaded_store, leg["departure_id"]) == 0
    # booking without quote_id (as the CLI does in one step) takes the option as it is now
    r = api("POST", "/api/v1/bookings", json={**REQ, "option": 1})
    assert r.status_code == 201 and r.json()["price"] == now["price"]


def test_e_a_changed_route_is_409_naming_the_departure(api, loaded_store):
    opt = api("POST", "/api/v1/quotes", json=REQ).json()["options"][0]
    ferry = next(x for x in opt["legs"] if x["mode"] in ("ferry", "feeder"))
    with loaded_store.tx() as conn:   # another shipper took the ferry since
        dep, _ = netstore.get_departure(conn, ferry["departure_id"])
        assert netstore.reserve(conn, dep.id, dep.capacity_teu)
    r = api("POST", "/api/v1/bookings", json={**REQ, "option": 1, "quote_id": opt["quote_id"]})
    assert r.status_code == 409 and r.json()["title"] == "Quote changed", r.text
    p = r.json()
    route = next(c for c in p["changes"] if c.startswith("route:"))
    assert ferry["departure_id"] in route and ferry["departure_id"] not in p["departure_ids"]
    assert _count(loaded_store) == 0


def test_e_a_quote_id_of_another_request_or_none_at_all_is_refused(api, loaded_store):
    opt = api("POST", "/api/v1/quotes", json=REQ).json()["options"][0]
    r = api("POST", "/api/v1/bookings", json={**REQ, "containers": "3x40", "option": 1, "quote_id": opt["quote_id"]})
    assert r.status_code == 400 and "3x42G1" in r.json()["detail"] and "2x42G1" in r.json()["detail"]
    r = api("POST", "/api/v1/bookings", json={**REQ, "option": 1, "quote_id": "q1.garbage"})
    assert r.status_code == 400 and "not one a quote gave" in r.json()["detail"]
    assert _count(loaded_store) == 0


def test_e_a_reroute_option_with_quote_id_is_taken_only_as_shown(api, loaded_store):
    b = api("POST", "/api/v1/bookings", json={**REQ, "option": 1}).json()
    ferry = next(x for x in b["legs"] if x["from"] in ("KZAAU", "KZKUR", "TMKRW"))
    params = {"from": ferry["from"], "avoid": [ferry["departure_id"]]}
    opts = api("GET", f"/api/v1/bookings/{b['ref']}/reroute", params=params).json()["options"]
    shown = opts[0]
    first = shown["legs"][0]
    with loaded_store.tx() as conn:   # the sailing the re-route was to take filled up meanwhile
        dep, _ = netstore.get_departure(conn, first["departure_id"])
        assert netstore.reserve(conn, dep.id, dep.capacity_teu)
    body = {"from": ferry["from"], "avoid": [ferry["departure_id"]], "option": 1, "quote_id": shown["quote_id"]}
    r = api("POST", f"/api/v1/bookings/{b['ref']}/amend", json=body)
    assert r.status_code == 409 and r.json()["title"] == "Quote changed", r.text
    assert first["departure_id"] in r.json()["detail"]
    assert api("GET", f"/api/v1/bookings/{b['ref']}").json()["legs"] == b["legs"]   # nothing changed
    with loaded_store.tx() as conn:
        netstore.release(conn, dep.id, dep.capacity_teu)
    r = api("POST", f"/api/v1/bookings/{b['ref']}/amend", json=body)
    assert r.status_code == 200, r.text
    assert [x["departure_id"] for x in r.json()["legs"]][-len(shown["legs"]):] == \
        [x["departure_id"] for x in shown["legs"]]
