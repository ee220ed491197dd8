"""Nothing leaks: every role × every data-serving endpoint × its own and someone else's data, on both stores.

One corridor per store (module scope), built through the real services: bookings by BookingService,
container events by the Ingestor. Two shippers book: ACME (Xi'an → Istanbul through Dostyk, Aktau and
the ASCO ferry, nominating the forwarder SILKWAY) and BOSPHORUS (Tbilisi → Istanbul, Georgia and
Türkiye only). Each party's expected view follows from the rules of issue 8, written out by hand below.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from corridor.access import keys
from corridor.access.demo import DEMO_PARTIES
from corridor.api.app import create_app
from corridor.booking.containers import parse_containers
from corridor.booking.service import BookingService
from corridor.domain.events import Classifier
from corridor.domain.parties import ADMIN_PARTY, Party, Role
from corridor.ingest.service import Ingestor
from corridor.settings import Settings
from corridor.store import Store
from corridor.store import parties as partystore
from corridor.tracking import hooks  # noqa: F401 - registers the tracking steps on ingest
from corridor.tracking.dcsa_out import to_dcsa_22

from tracking_helpers import box_event, quoted_option

BOX_A, BOX_B = "MSCU1234566", "TGHU1234567"

# role -> party id (the demo corridor's parties, plus a second forwarder and Georgia's customs)
ROLES = {
    "admin": ADMIN_PARTY,
    "shipper": "ACME",
    "other_shipper": "BOSPHORUS",
    "forwarder_nominated": "SILKWAY",
    "forwarder_not_nominated": "FWDX",
    "railway": "KTZ",                      # runs Dostyk (KZ_DOS) and the CNAKL-KZDOS trains
    "terminal_at_facility": "PORTAKTAU",   # Aktau port: A's box is handled there
    "terminal_elsewhere": "BATUMIPORT",    # on neither route
    "ferry_operator": "ASCO",              # sails A's Aktau -> Alat leg; no container events of its own
    "authority_kz": "KZCUSTOMS",           # A's box moves in Kazakhstan
    "authority_ge": "GECUSTOMS",           # B's box moves in Georgia
}
EXTRA_PARTIES = [
    Party("FWDX", "Caravan Freight — demo forwarder", frozenset({Role.FORWARDER}), "GE"),
    Party("GECUSTOMS", "Georgia Revenue Service (customs)", frozenset({Role.AUTHORITY}), "GE"),
]
# what each role must see (and nothing else): bookings A/B/C, containers A/B
SEES_BOOKING = {
    "admin": {"A", "B", "C"}, "shipper": {"A", "C"}, "other_shipper": {"B"}, "forwarder_nominated": {"A"},
    "railway": {"A"}, "terminal_at_facility": {"A"}, "ferry_operator": {"A"},
}
SEES_BOX = {
    "admin": {"A", "B"}, "shipper": {"A"}, "other_shipper": {"B"}, "forwarder_nominated": {"A"},
    "railway": {"A"}, "terminal_at_facility": {"A"}, "authority_kz": {"A"}, "authority_ge": {"B"},
    "ferry_operator": {"A"},   # booked on its sailing out of Aktau: seen from the booking on (docs/access.md)
}
OWNERS = {"A": "shipper", "B": "other_shipper", "C": "shipper"}
FAST = Settings(rate_limit_per_minute=1_000_000, nats_url=None)


@dataclass
class World:
    store: Store
    client: TestClient
    keys: dict[str, str]                       # role -> full API key
    ref: dict[str, str]                        # A/B/C -> booking ref
    box: dict[str, str] = field(default_factory=lambda: {"A": BOX_A, "B": BOX_B})
    trip: dict[str, str] = field(default_factory=dict)
    first_box_seq: int = 0

    def h(self, role: str) -> dict:
        return {"Authorization": f"Bearer {self.keys[role]}"}


def ingest_events(store: Store, evs, sender: str) -> None:
    """Events through the real ingest path, as the sender's DCSA 2.2 JSON."""
    body = json.dumps([to_dcsa_22(e, f"{sender}-{i}-{e.code}", e.event_time) for i, e in enumerate(evs)]).encode()
    out = Ingestor(store).ingest(body, source_party=sender, fmt="dcsa-json")
    assert out.stored == len(evs) and not out.quarantined, out.reasons


def build_world(store: Store) -> World:
    """The shared corridor of this module: parties and keys, three bookings, two boxes on the move."""
    with store.tx() as conn:
        for p in [*DEMO_PARTIES, *EXTRA_PARTIES, Party(ADMIN_PARTY, "Corridor", frozenset({Role.ADMIN}))]:
            partystore.upsert_party(conn, p)
        k = {role: keys.create_key(conn, pid, scopes=("read", "write", "admin") if role == "admin" else
                                   ("read", "write"), label=f"matrix {role}") for role, pid in ROLES.items()}
    svc = BookingService(store)
    ready = (datetime.now(timezone.utc) + timedelta(days=2)).replace(microsecond=0)
    a_ids, a_ready = quoted_option(svc, "CNXIA", "TRIST", ready, want={"ASCO", "KTZ", "KZ_AKX"}, avoid={"GE_BUS"})
    b_ids, b_ready = quoted_option(svc, "GETBS", "TRIST", ready, avoid={"GE_BUS", "ASCO", "KTZ", "KTZE"})
    a = svc.book("ACME", "CNXIA", "TRIST", a_ready, parse_containers("1x40"), a_ids, nominated=["SILKWAY"],
                 created_by="ACME")
    b = svc.book("BOSPHORUS", "GETBS", "TRIST", b_ready, parse_containers("1x40"), b_ids, created_by="BOSPHORUS")
    c = svc.book("ACME", "GETBS", "TRIST", b_ready, parse_containers("1x40"), b_ids, created_by="ACME",
                 confirm=False)
    ref = {"A": a.booking.ref, "B": b.booking.ref, "C": c.booking.ref}
    t0 = (datetime.now(timezone.utc) - timedelta(days=3)).replace(microsecond=0)
    ingest_events(store, [box_event("GTIN", t0, "KZDOS", box=BOX_A, bkg=ref["A"], bol="BLACME1"),
                          box_event("LOAD", t0 + timedelta(hours=4), "KZDOS", box=BOX_A, bkg=ref["A"],
                                    voyage="KZ7001")], "KTZ")
    ingest_events(store, [box_event("DISC", t0 + timedelta(days=2), "KZAAU", box=BOX_A, bkg=ref["A"],
                                    voyage="KZ7001")], "PORTAKTAU")
    ingest_events(store, [box_event("GTIN", t0, "GETBS", box=BOX_B, bkg=ref["B"], bol="BLBOS1")], "GR")
    ingest_events(store, [box_event("LOAD", t0 + timedelta(days=1), "GEPTI", box=BOX_B, bkg=ref["B"],
                                    mode="VESSEL", voyage="PTI88")], "POTIPORT")
    app = create_app(FAST.model_copy(update={"database_url": store.url}), store=store)
    w = World(store, TestClient(app), k, ref)
    with store.read() as conn:
        from corridor.store.tables import trips
        from sqlalchemy import select
        from corridor.store.tables import events
        from sqlalchemy import func
        for name, box in w.box.items():
            w.trip[name] = conn.execute(select(trips.c.id).where(trips.c.equipment == box)).scalar_one()
        w.first_box_seq = conn.execute(select(func.min(events.c.seq)).where(events.c.equipment == BOX_A)).scalar_one()
    return w


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def world(request, templates):
    """One corridor per store for the whole module (SQLite, then PostgreSQL)."""
    shared = sys.modules[type(templates).__module__]      # tests/conftest.py, however pytest named it
    for store in shared._make_store(request, templates, with_network=True):
        yield build_world(store)


def _sse(text: str) -> list[dict]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


@pytest.mark.parametrize("role", list(ROLES))
def test_each_role_sees_exactly_its_share(world, role):
    """Every data-serving read, for own and others' bookings and boxes: 200 when it may, 404 / filtered when not."""
    c, h, bad = world.client, world.h(role), []
    see_b, see_x = SEES_BOOKING.get(role, set()), SEES_BOX.get(role, set())

    def expect(what: str, got: int, ok: bool):
        if (got == 200) != ok or got >= 500:
            bad.append(f"{what}: {got}, expected {'200' if ok else '404/403'}")

    me = c.get("/api/v1/me", headers=h).json()
    assert me["party"]["id"] == ROLES[role]

    # bookings: the list, one, its timeline, its re-routing options
    listed = {b["ref"] for b in c.get("/api/v1/bookings", headers=h).json()["bookings"]}
    mine = {n for n, r in world.ref.items() if r in listed}
    if mine != see_b:
        bad.append(f"GET /bookings lists {sorted(mine)}, expected {sorted(see_b)}")
    for n, r in world.ref.items():
        expect(f"GET /bookings/{n}", c.get(f"/api/v1/bookings/{r}", headers=h).status_code, n in see_b)
        if n not in see_b:   # options are a planner run: check the refusal, which is what can leak
            expect(f"GET /bookings/{n}/reroute", c.get(f"/api/v1/bookings/{r}/reroute", headers=h).status_code, False)
    for n in ("A", "B"):
        # a booking's timeline: its plan to whoever sees the booking, its containers to whoever sees them
        r = c.get(f"/api/v1/bookings/{world.ref[n]}/timeline", headers=h)
        expect(f"GET /bookings/{n}/timeline", r.status_code, n in see_x or n in see_b)
        if r.status_code == 200:
            doc = r.json()
            if (doc["plan"] is not None) != (n in see_b):
                bad.append(f"GET /bookings/{n}/timeline: plan {'shown' if doc['plan'] is not None else 'hidden'}")
            if bool(doc["containers"]) != (n in see_x):
                bad.append(f"GET /bookings/{n}/timeline: {len(doc['containers'])} containers")

    # containers: by number and by trip id, search, DCSA events, one DCSA event, the live stream, IFTSTA
    for n, box in world.box.items():
        r = c.get(f"/api/v1/containers/{box}", headers=h)
        expect(f"GET /containers/{n}", r.status_code, n in see_x)
        if r.status_code == 200:
            assert r.json()["equipment"] == box and r.json()["milestones"]
        expect(f"GET /containers/{n} by trip", c.get(f"/api/v1/containers/{world.trip[n]}", headers=h).status_code,
               n in see_x)
        hits = c.get("/api/v1/search", params={"q": box}, headers=h).json()["results"]
        if bool(hits) != (n in see_x):
            bad.append(f"search {n}: {len(hits)} hits")
    dcsa = c.get("/v2/events", params={"limit": 1000}, headers=h)
    assert dcsa.status_code == 200, dcsa.text
    boxes = {e["equipmentReference"] for e in dcsa.json() if e.get("equipmentReference")}
    seen = {n for n, b in world.box.items() if b in boxes}
    if seen != see_x:
        bad.append(f"/v2/events carries boxes {sorted(seen)}, expected {sorted(see_x)}")
    if role in ("shipper", "other_shipper", "forwarder_nominated", "forwarder_not_nominated"):
        docs = {d["documentReferenceValue"] for e in dcsa.json() for d in e.get("documentReferences") or []}
        leaked = {n for n, r in world.ref.items() if r in docs} - see_b
        if leaked:
            bad.append(f"/v2/events names bookings {sorted(leaked)}")
    admin_events = c.get("/v2/events", params={"equipmentReference": BOX_B}, headers=world.h("admin")).json()
    expect("GET /v2/events/{id of B}", c.get(f"/v2/events/{admin_events[0]['eventID']}", headers=h).status_code,
           "B" in see_x)
    for n, box in world.box.items():
        only = c.get("/v2/events", params={"equipmentReference": box}, headers=h).json()
        if bool(only) != (n in see_x):
            bad.append(f"/v2/events?equipmentReference={n}: {len(only)} events")
    # the stream from just before the boxes' first event: one batch holds all that followed
    sse = c.get("/api/v1/stream", params={"after": world.first_box_seq - 1, "max_seconds": 0.3}, headers=h)
    assert sse.status_code == 200
    streamed = {n for n, b in world.box.items() if any(d["equipment"] == b for d in _sse(sse.text))}
    if streamed != see_x:
        bad.append(f"stream carries boxes {sorted(streamed)}, expected {sorted(see_x)}")
    edi = c.get("/api/v1/kpi/iftsta", headers=h)
    assert edi.status_code == 200
    leaked = {n for n, b in world.box.items() if b in edi.text} - see_x
    if leaked:
        bad.append(f"IFTSTA carries boxes {sorted(leaked)}")
    kpi = c.get("/api/v1/kpi", headers=h)
    assert kpi.status_code == 200
    leaked = {n for n, b in world.box.items() if b in kpi.text} - see_x
    if leaked:
        bad.append(f"KPI names boxes {sorted(leaked)}")

    # reference data every party reads; administration nobody else does
    for path in ("/api/v1/network", "/api/v1/notices", "/api/v1/aliases", "/api/v1/departures?limit=5"):
        expect(f"GET {path}", c.get(path, headers=h).status_code, True)
    for path in ("/api/v1/parties", "/api/v1/keys", "/api/v1/audit"):
        expect(f"GET {path}", c.get(path, headers=h).status_code, role == "admin")
    assert not bad, f"{role} ({ROLES[role]}):\n" + "\n".join(bad)


@pytest.mark.parametrize("role", [r for r in ROLES if r != "admin"])
def test_nobody_administers_but_the_administrator(world, role):
    c, h = world.client, world.h(role)
    writes = [("post", "/api/v1/parties", {"id": "EVIL", "name": "x", "roles": ["admin"]}),
              ("post", "/api/v1/keys", {"party_id": ROLES[role], "scopes": ["admin"]}),
              ("post", "/api/v1/keys", {"party_id": "ACME"}),
              ("delete", f"/api/v1/keys/{keys.split(world.keys['shipper'])[0]}", None),
              ("post", "/api/v1/aliases", {"kind": "location", "value": "ZZZZZ", "target": "KZAAU"})]
    for method, path, body in writes:
        r = getattr(c, method)(path, headers=h, **({"json": body} if body is not None else {}))
        assert r.status_code == 403, (method, path, r.status_code)
    assert c.get("/api/v1/me", headers=world.h("shipper")).status_code == 200   # the shipper's key lives on


@pytest.mark.parametrize("role", ["authority_kz", "authority_ge"])
def test_authorities_read_only(world, role):
    c, h = world.client, world.h(role)
    ev = json.dumps([to_dcsa_22(box_event("GTOT", datetime.now(timezone.utc) - timedelta(hours=1), "KZDOS",
                                          box=BOX_A, bkg=world.ref["A"]), "auth-1", datetime.now(timezone.utc))])
    quote = {"origin": "GETBS", "destination": "TRIST", "ready": (datetime.now(timezone.utc) + timedelta(days=2))
             .strftime("%Y-%m-%d"), "containers": "1x40", "option": 1}
    writes = [("/api/v1/events", {"content": ev}), ("/api/v1/messages", {"content": "UNA:+.? '"}),
              ("/api/v1/positions", {"json": {"time": "2026-03-02T08:10:00+05:00", "lat": 43.6, "lon": 51.2,
                                              "device": "t1", "container": BOX_A}}),
              ("/api/v1/bookings", {"json": quote}),
              (f"/api/v1/bookings/{world.ref['A']}/cancel", {"json": {"reason": "x"}}),
              ("/api/v1/notices", {"json": {"kind": "closure", "location": "KZDOS",
                                            "starts_at": "2026-03-02T08:10:00+05:00"}}),
              ("/v2/event-subscriptions", {"json": {"callbackUrl": "http://127.0.0.1:9/cb",
                                                    "secret": "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI="}})]
    for path, kw in writes:
        r = c.post(path, headers=h, **kw)
        assert r.status_code == 403, (path, r.status_code, r.text)
        assert "read-only" in r.text
    # and reading stays open to them
    assert c.get(f"/api/v1/containers/{world.box['A' if role == 'authority_kz' else 'B']}", headers=h).status_code == 200


def test_only_the_shipper_forwarder_or_admin_change_a_booking(world):
    c, ref = world.client, world.ref["C"]
    for role in ROLES:
        if role in ("admin", "shipper"):
            continue
        for action, body in (("confirm", None), ("cancel", {"reason": "not mine"}),
                             ("amend", {"departure_ids": ["X"]})):
            r = c.post(f"/api/v1/bookings/{ref}/{action}", headers=world.h(role),
                       **({"json": body} if body else {}))
            assert r.status_code in (403, 404), (role, action, r.status_code, r.text)
    got = c.get(f"/api/v1/bookings/{ref}", headers=world.h("shipper")).json()
    assert got["status"] == "requested"
    # a party that sees booking A but does not own it (its railway) is refused with 403, not shown 404
    assert c.post(f"/api/v1/bookings/{world.ref['A']}/cancel", headers=world.h("railway")).status_code == 403
    r = c.post(f"/api/v1/bookings/{ref}/confirm", headers=world.h("shipper"))
    assert r.status_code == 200 and r.json()["status"] == "confirmed"


def test_operators_post_only_for_their_facilities_and_the_rest_is_kept(world):
    c = world.client
    t = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=6)

    def post(role, code, where, i):
        e = box_event(code, t + timedelta(minutes=i), where, box=BOX_A, bkg=world.ref["A"])
        body = json.dumps([to_dcsa_22(e, f"matrix-{role}-{i}", t)])
        r = c.post("/api/v1/events", content=body, headers=world.h(role))
        assert r.status_code == 200, r.text
        return r.json()

    ok = post("terminal_at_facility", "GTOT", "KZAAU", 1)
    assert (ok["stored"], ok["quarantined"]) == (1, 0)
    for i, (role, where) in enumerate((("terminal_at_facility", "GEPTI"), ("railway", "KZAAU"),
                                       ("terminal_elsewhere", "KZAAU")), start=2):
        out = post(role, "GTIN", where, i)
        assert (out["stored"], out["quarantined"]) == (0, 1), (role, out)
        assert "may post events only for its own facilities and services" in out["reasons"][0]
    q = c.get("/api/v1/quarantine", headers=world.h("terminal_at_facility")).json()["entries"]
    mine = [e for e in q if "GEPTI" in e["reason"]]
    assert mine and all(e["source_party"] == "PORTAKTAU" for e in q)
    assert c.get(f"/api/v1/quarantine/{mine[0]['id']}", headers=world.h("admin")).status_code == 200
    for role in ROLES:
        if role in ("admin", "terminal_at_facility"):
            continue
        assert c.get(f"/api/v1/quarantine/{mine[0]['id']}", headers=world.h(role)).status_code == 404, role
        assert all(e["source_party"] == ROLES[role]
                   for e in c.get("/api/v1/quarantine", headers=world.h(role)).json()["entries"]), role
        assert c.post(f"/api/v1/quarantine/{mine[0]['id']}/replay", headers=world.h(role)).status_code in (403, 404)
    # what was refused was never stored
    codes = {(e["eventType"], e.get("equipmentEventTypeCode"), e.get("eventLocation", {}).get("UNLocationCode"))
             for e in c.get("/v2/events", params={"equipmentReference": BOX_A, "limit": 1000},
                            headers=world.h("admin")).json()}
    assert ("EQUIPMENT", "GTOT", "KZAAU") in codes and ("EQUIPMENT", "GTIN", "GEPTI") not in codes


def test_subscriptions_are_their_owners(world):
    c = world.client
    r = c.post("/v2/event-subscriptions", headers=world.h("shipper"), json={
        "callbackUrl": "http://127.0.0.1:9/cb", "secret": "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI=",
        "eventType": ["EQUIPMENT"]})
    assert r.status_code == 201, r.text
    sid = r.json()["subscriptionID"]
    for role in ROLES:
        h = world.h(role)
        listed = {s["subscriptionID"] for s in c.get("/v2/event-subscriptions", headers=h).json()}
        owner = role in ("admin", "shipper")
        assert (sid in listed) == owner, role
        assert (c.get(f"/v2/event-subscriptions/{sid}", headers=h).status_code == 200) == owner, role
        if not owner:
            assert c.put(f"/v2/event-subscriptions/{sid}", headers=h,
                         json={"callbackUrl": "http://127.0.0.1:9/x"}).status_code in (403, 404), role
            assert c.delete(f"/v2/event-subscriptions/{sid}", headers=h).status_code in (403, 404), role
            assert c.post(f"/api/v1/subscriptions/{sid}/replay", headers=h).status_code in (403, 404), role
    assert c.get(f"/v2/event-subscriptions/{sid}", headers=world.h("shipper")).json()["callbackUrl"].endswith("/cb")


def test_a_ferry_line_sees_its_part_of_a_booking_and_the_box_at_its_ports_only(world):
    """ASCO sails A's Aktau -> Alat leg: of booking A it sees that leg, the boxes and TEU, never the
    shipper's price, promise, route or other legs; of box A the events at Aktau (its port of
    loading), not those at Dostyk on the railway's leg. The shipper still sees it all."""
    c, ref = world.client, world.ref["A"]
    whole = c.get(f"/api/v1/bookings/{ref}", headers=world.h("shipper")).json()
    part = c.get(f"/api/v1/bookings/{ref}", headers=world.h("ferry_operator")).json()
    assert whole["price"]["amount"] > 0 and whole["shipper"] == "ACME" and "partial" not in whole
    with world.store.read() as conn:
        from sqlalchemy import select
        from corridor.store.tables import departures
        ops = dict(conn.execute(select(departures.c.id, departures.c.operator)).all())
    assert any(ops[x["departure_id"]] != "ASCO" for x in whole["legs"])
    asco_legs = [x for x in whole["legs"] if ops[x["departure_id"]] == "ASCO"]
    assert asco_legs and part["legs"] == asco_legs
    assert part["partial"] is True and part["price"] is None and part["co2e_kg"] is None and part["route"] is None
    assert part["shipper"] is None and part["forwarder"] is None and part["nominated"] == [] and part["parties"] == []
    assert (part["origin"], part["destination"]) == (asco_legs[0]["from"], asco_legs[-1]["to"]) == ("KZAAU", "AZALA")
    assert part["containers"] == whole["containers"] and part["teu"] == whole["teu"] and part["ref"] == ref
    assert part["ready_at"] is None and part["arrival"] == asco_legs[-1]["arrival"]
    listed = {b["ref"]: b for b in c.get("/api/v1/bookings", headers=world.h("ferry_operator")).json()["bookings"]}
    assert listed[ref] == part
    # the booking's timeline: the plan of its own leg only, no promised arrival
    tl = c.get(f"/api/v1/bookings/{ref}/timeline", headers=world.h("ferry_operator")).json()
    assert [x["departure_id"] for x in tl["plan"]] == [x["departure_id"] for x in asco_legs]
    assert tl["booking"]["promised_arrival"] is None and tl["booking"]["origin"] == "KZAAU"
    full = c.get(f"/api/v1/bookings/{ref}/timeline", headers=world.h("shipper")).json()
    assert len(full["plan"]) == len(whole["legs"]) and full["booking"]["promised_arrival"]
    # re-routing is the shipper's journey: refused, not planned
    assert c.get(f"/api/v1/bookings/{ref}/reroute", headers=world.h("ferry_operator")).status_code == 403
    # box A: at Aktau yes, at Dostyk (KTZ's leg) no, on every surface
    places = {e["eventLocation"]["UNLocationCode"] for e in c.get(
        "/v2/events", params={"equipmentReference": BOX_A}, headers=world.h("ferry_operator")).json()}
    assert places == {"KZAAU"}
    tl = c.get(f"/api/v1/containers/{BOX_A}", headers=world.h("ferry_operator")).json()
    assert {m["location"] for m in tl["milestones"]} == {"KZAAU"}
    assert {m["location"] for m in c.get(f"/api/v1/containers/{BOX_A}", headers=world.h("shipper")).json()
            ["milestones"]} >= {"KZDOS", "KZAAU"}
