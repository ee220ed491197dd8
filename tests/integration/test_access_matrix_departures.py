"""The operator of a departure sees the boxes booked on it, and only those, on every surface.

Two shippers book the same crossing out of Aktau on competing ferry lines: ACME on an ASCO sailing,
BOSPHORUS on a KMTF sailing. Both boxes gate in at Aktau (PORTAKTAU); ACME's was on KTZ's railway
at Dostyk before. ASCO must see ACME's box waiting for its sailing (the queue, the timeline, DCSA
events, webhooks) from the booking on, with its part of the booking only; never BOSPHORUS's box,
nor ACME's box on the railway. KMTF the other way round. Both stores (docs/access.md).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from corridor.access import keys
from corridor.access.demo import DEMO_PARTIES
from corridor.api.app import create_app
from corridor.booking.containers import parse_containers
from corridor.booking.service import BookingService
from corridor.domain.parties import ADMIN_PARTY, Party, Role
from corridor.settings import Settings
from corridor.store import Store
from corridor.store import parties as partystore
from corridor.store.tables import departures, events, outbox
from corridor.tracking import hooks  # noqa: F401 - registers the tracking steps on ingest

from test_access_matrix import ingest_events
from tracking_helpers import box_event

BOX = {"asco": "MSCU7654329", "kmtf": "TGHU7654320"}
OWNER = {"asco": "ACME", "kmtf": "BOSPHORUS"}
PARTIES = ("ASCO", "KMTF", "ACME", "BOSPHORUS", "PORTAKTAU", ADMIN_PARTY)
SECRET = "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI="


@dataclass
class World:
    store: Store
    client: TestClient
    keys: dict[str, str]
    ref: dict[str, str]            # asco/kmtf -> booking ref
    dep: dict[str, str]            # asco/kmtf -> the booked sailing
    sub: dict[str, str]            # party -> its subscription id
    before_events: dict[str, dict]  # party -> {ref: booking doc} read before any box was reported

    def h(self, pid: str) -> dict:
        return {"Authorization": f"Bearer {self.keys[pid]}"}


def _sailing(store: Store, operator: str, after: datetime) -> str:
    with store.read() as conn:
        return conn.execute(select(departures.c.id).where(
            departures.c.operator == operator, departures.c.origin == "KZ_AKX",
            departures.c.destination == "AZ_ALA", departures.c.departs_at > after,
            departures.c.status == "scheduled").order_by(departures.c.departs_at).limit(1)).scalar_one()


def build(store: Store) -> World:
    with store.tx() as conn:
        for p in [*DEMO_PARTIES, Party(ADMIN_PARTY, "Corridor", frozenset({Role.ADMIN}))]:
            partystore.upsert_party(conn, p)
        k = {pid: keys.create_key(conn, pid, scopes=("read", "write", "admin") if pid == ADMIN_PARTY else
                                  ("read", "write"), label="departure matrix") for pid in PARTIES}
    now = datetime.now(timezone.utc).replace(microsecond=0)
    svc = BookingService(store)
    dep = {line: _sailing(store, line.upper(), now + timedelta(days=1)) for line in ("asco", "kmtf")}
    ref = {line: svc.book(OWNER[line], "KZAAU", "AZALA", now, parse_containers("1x40"), [dep[line]],
                          created_by=OWNER[line]).booking.ref for line in dep}
    app = create_app(Settings(rate_limit_per_minute=1_000_000, nats_url=None, database_url=store.url), store=store)
    w = World(store, TestClient(app), k, ref, dep, {}, {})
    # booked, no box reported yet: what each line can plan with
    for pid in PARTIES:
        w.before_events[pid] = {b["ref"]: b for b in w.client.get("/api/v1/bookings", headers=w.h(pid)).json()["bookings"]}
    for pid in ("ASCO", "KMTF"):
        r = w.client.post("/v2/event-subscriptions", headers=w.h(pid),
                          json={"callbackUrl": "http://127.0.0.1:9/cb", "secret": SECRET})
        assert r.status_code == 201, r.text
        w.sub[pid] = r.json()["subscriptionID"]
    t0 = now - timedelta(days=2)
    ingest_events(store, [box_event("GTIN", t0, "KZDOS", box=BOX["asco"], bkg=ref["asco"]),
                          box_event("LOAD", t0 + timedelta(hours=3), "KZDOS", box=BOX["asco"], bkg=ref["asco"],
                                    voyage="KZ7002")], "KTZ")
    ingest_events(store, [box_event("DISC", now - timedelta(hours=10), "KZAAU", box=BOX["asco"], bkg=ref["asco"],
                                    voyage="KZ7002"),
                          box_event("GTIN", now - timedelta(hours=6), "KZAAU", box=BOX["kmtf"], bkg=ref["kmtf"])],
                  "PORTAKTAU")
    return w


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def world(request, templates):
    shared = sys.modules[type(templates).__module__]
    for store in shared._make_store(request, templates, with_network=True):
        yield build(store)


def test_a_line_sees_the_bookings_on_its_sailings_from_the_moment_they_are_booked(world):
    for line, other in (("asco", "kmtf"), ("kmtf", "asco")):
        seen = world.before_events[line.upper()]
        assert world.ref[line] in seen and world.ref[other] not in seen, (line, sorted(seen))
        doc = seen[world.ref[line]]
        assert doc["partial"] is True and doc["price"] is None and doc["shipper"] is None
        assert [x["departure_id"] for x in doc["legs"]] == [world.dep[line]]
        assert doc["containers"] == [{"count": 1, "size_type": "42G1", "teu": 2}] and doc["teu"] == 2
    # each shipper its own, whole; the port both (planned through it), as its part
    for line, other in (("asco", "kmtf"), ("kmtf", "asco")):
        own = world.before_events[OWNER[line]]
        assert set(own) == {world.ref[line]} and own[world.ref[line]]["price"]["amount"] > 0
    port = world.before_events["PORTAKTAU"]
    assert set(port) == set(world.ref.values()) and all(b["partial"] and b["price"] is None for b in port.values())


def test_the_queue_at_aktau_shows_each_line_its_own_boxes(world):
    c = world.client
    want = {"ASCO": {BOX["asco"]}, "KMTF": {BOX["kmtf"]}, "ACME": {BOX["asco"]}, "BOSPHORUS": {BOX["kmtf"]},
            "PORTAKTAU": set(BOX.values()), ADMIN_PARTY: set(BOX.values())}
    for pid, boxes in want.items():
        r = c.get("/api/v1/locations/KZAAU/queue", headers=world.h(pid))
        assert r.status_code == 200, r.text
        doc = r.json()
        got = {x["equipment"] for x in doc["containers"]}
        assert got == boxes, (pid, got)
        assert doc["totals"]["boxes"] == len(boxes) and doc["totals"]["teu"] == 2 * len(boxes)
        for x in doc["containers"]:
            line = "asco" if x["equipment"] == BOX["asco"] else "kmtf"
            assert x["booking_ref"] == world.ref[line] and x["size_type"] == "42G1" and x["teu"] == 2
            assert x["booked_departure"]["id"] == world.dep[line], (pid, x)


def test_a_line_sees_its_boxes_only_at_its_ports_never_the_competitors(world):
    c = world.client
    for line, other in (("asco", "kmtf"), ("kmtf", "asco")):
        h = world.h(line.upper())
        evs = c.get("/v2/events", params={"limit": 1000}, headers=h).json()
        at = {(e.get("equipmentReference"), e["eventLocation"]["UNLocationCode"]) for e in evs
              if e.get("equipmentReference")}
        # the ends of its leg (Aktau; Alat, where the estimates put the discharge), never the railway's
        # Dostyk events, never the other box
        assert (BOX[line], "KZAAU") in at and at <= {(BOX[line], "KZAAU"), (BOX[line], "AZALA")}, (line, at)
        assert c.get(f"/api/v1/containers/{BOX[line]}", headers=h).status_code == 200
        assert c.get(f"/api/v1/containers/{BOX[other]}", headers=h).status_code == 404
        assert not c.get("/api/v1/search", params={"q": BOX[other]}, headers=h).json()["results"]
        assert c.get(f"/api/v1/bookings/{world.ref[other]}", headers=h).status_code == 404
        assert c.get(f"/api/v1/bookings/{world.ref[other]}/timeline", headers=h).status_code == 404
    # the shippers: their own box only, with every event of it
    for line, other in (("asco", "kmtf"), ("kmtf", "asco")):
        h = world.h(OWNER[line])
        boxes = {e.get("equipmentReference") for e in c.get("/v2/events", params={"limit": 1000}, headers=h).json()}
        assert BOX[line] in boxes and BOX[other] not in boxes
    places = {e["eventLocation"]["UNLocationCode"] for e in c.get(
        "/v2/events", params={"equipmentReference": BOX["asco"]}, headers=world.h("ACME")).json()}
    assert places >= {"KZDOS", "KZAAU"}


def _queued(world, pid: str) -> set[tuple[str, str]]:
    with world.store.read() as conn:
        rows = conn.execute(select(events.c.equipment, events.c.location).join(
            outbox, outbox.c.event_seq == events.c.seq).where(outbox.c.subscription_id == world.sub[pid])).all()
    return {(r.equipment, r.location) for r in rows if r.equipment}


def test_webhooks_carry_a_line_its_boxes_at_its_ports(world):
    ends = {line: {(BOX[line], "KZAAU"), (BOX[line], "AZALA")} for line in BOX}
    for line in ("asco", "kmtf"):
        got = _queued(world, line.upper())
        assert (BOX[line], "KZAAU") in got and got <= ends[line], (line, got)
    # a replay from the start queues the same, as GET /v2/events judges it
    pid = "ASCO"
    got_before = _queued(world, pid)
    with world.store.tx() as conn:
        conn.execute(outbox.delete().where(outbox.c.subscription_id == world.sub[pid]))
    r = world.client.post(f"/api/v1/subscriptions/{world.sub[pid]}/replay", params={"cursor": 0}, headers=world.h(pid))
    assert r.status_code == 200, r.text
    assert _queued(world, pid) == got_before


def test_departure_fill_matches_the_boxes_a_line_sees_booked(world):
    c = world.client
    for line in ("asco", "kmtf"):
        deps = c.get("/api/v1/departures", params={"from": "KZAAU", "to": "AZALA", "limit": 5000,
                                                   "end": "2100-01-01T00:00:00+00:00"},
                     headers=world.h(line.upper())).json()["departures"]
        mine = next(d for d in deps if d["id"] == world.dep[line])
        booked = sum(x["teu"] for b in c.get("/api/v1/bookings", headers=world.h(line.upper())).json()["bookings"]
                     for x in b["legs"] if x["departure_id"] == world.dep[line])
        assert mine["operator"] == line.upper() and mine["reserved_teu"] == booked == 2
