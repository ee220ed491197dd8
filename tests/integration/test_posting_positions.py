"""Operators post GPS positions: of their own vehicles and devices, and of the boxes in their hands
(docs/access.md, "Posting events"), over HTTP and MQTT alike, on both stores.

The defect: a position has no place and no service, so a railway's, ferry line's or terminal's
GPS feed was refused as "no location is not one of [its facilities]" and every operator feed
went to quarantine, while a shipper's went in. The corridor here: KTZ runs the block trains
Alashankou (CN_AKL) -> Dostyk (KZ_DOS) and operates Dostyk. ACME's box is booked on one of those
trains; BOSPHORUS's box is on a CRCT train in China, nothing to do with KTZ; another BOSPHORUS box
is gated in at Dostyk and later gated out.
"""

from __future__ import annotations

import socket
import sys
import time
import uuid
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
from corridor.domain.equipment import with_check_digit
from corridor.domain.parties import ADMIN_PARTY, Party, Role
from corridor.settings import Settings
from corridor.store import Store
from corridor.store import parties as partystore
from corridor.store.tables import departures, events, quarantine
from corridor.tracking import hooks  # noqa: F401 - registers the tracking steps on ingest

from tracking_helpers import box_event, ingest

PARTIES = ("KTZ", "CRCT", "ACME", "BOSPHORUS", ADMIN_PARTY)
BOX = {name: with_check_digit(f"KTZU{n:06d}") for n, name in enumerate(
    ("aboard", "theirs", "dostyk", "loaded", "fresh"), start=640001)}
URL = "mqtt://127.0.0.1:1883"


@dataclass
class World:
    store: Store
    client: TestClient
    keys: dict[str, str]
    ref: dict[str, str]
    train: object          # KTZ's departure ACME's box is booked on
    t0: datetime           # the Dostyk gate-in of BOSPHORUS's other box

    def h(self, pid: str) -> dict:
        return {"Authorization": f"Bearer {self.keys[pid]}"}

    def post(self, pid: str, body) -> dict:
        r = self.client.post("/api/v1/positions", json=body, headers=self.h(pid))
        assert r.status_code == 200, r.text
        return r.json()


def _departure(store: Store, operator: str, origin: str, destination: str, before: datetime):
    """The operator's latest departure origin -> destination that arrived before `before`."""
    with store.read() as conn:
        return conn.execute(select(departures).where(
            departures.c.operator == operator, departures.c.origin == origin,
            departures.c.destination == destination, departures.c.arrives_at < before,
            departures.c.status == "scheduled").order_by(departures.c.departs_at.desc()).limit(1)).first()


def build(store: Store) -> World:
    with store.tx() as conn:
        for p in [*DEMO_PARTIES, Party(ADMIN_PARTY, "Corridor", frozenset({Role.ADMIN}))]:
            partystore.upsert_party(conn, p)
        k = {pid: keys.create_key(conn, pid, scopes=("read", "write", "admin") if pid == ADMIN_PARTY
                                  else ("read", "write")) for pid in PARTIES}
    now = datetime.now(timezone.utc).replace(microsecond=0)
    svc = BookingService(store)
    train = _departure(store, "KTZ", "CN_AKL", "KZ_DOS", now - timedelta(days=12))
    china = _departure(store, "CRCT", "CN_XIA", "CN_AKL", now - timedelta(days=2))
    ref = {"ACME": svc.book("ACME", "CNAKL", "KZDOS", train.departs_at - timedelta(days=1), parse_containers("1x40"),
                            [train.id], with_alternatives=False, created_by="ACME").booking.ref,
           "BOSPHORUS": svc.book("BOSPHORUS", "CNXIA", "CNAKL", china.departs_at - timedelta(days=1),
                                 parse_containers("1x40"), [china.id], with_alternatives=False,
                                 created_by="BOSPHORUS").booking.ref}
    # CRCT gates both booked boxes in at its stations: neither trip lists KTZ
    ingest(store, [box_event("GTIN", train.departs_at - timedelta(hours=12), "CNAKL", box=BOX["aboard"],
                             bkg=ref["ACME"]),
                   box_event("GTIN", china.departs_at - timedelta(hours=12), "CNXIA", box=BOX["theirs"],
                             bkg=ref["BOSPHORUS"])], "CRCT")
    # BOSPHORUS's own box (no booking) at Dostyk, KTZ's station; gated out 2 h later
    t0 = now - timedelta(days=1)
    ingest(store, [box_event("GTIN", t0, "KZDOS", box=BOX["dostyk"], bkg="BOS-OWN-1")], "BOSPHORUS")
    ingest(store, [box_event("GTOT", t0 + timedelta(hours=2), "KZDOS", box=BOX["dostyk"], bkg="BOS-OWN-1")],
           "BOSPHORUS")
    app = create_app(Settings(rate_limit_per_minute=1_000_000, nats_url=None, database_url=store.url), store=store)
    return World(store, TestClient(app), k, ref, train, t0)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def world(request, templates):
    shared = sys.modules[type(templates).__module__]
    for store in shared._make_store(request, templates, with_network=True):
        yield build(store)


def fix(when: datetime, box: str | None = None, device: str = "trk-1", **more) -> dict:
    return {"time": when.isoformat(), "lat": 45.2, "lon": 82.1, "device": device,
            **({"container": box} if box else {}), **more}


def _stored(store: Store, box: str, sender: str) -> list:
    with store.read() as conn:
        return conn.execute(select(events.c.event_time, events.c.trip_id, events.c.lat, events.c.lon).where(
            events.c.equipment == box, events.c.code == "POSI", events.c.source_party == sender)).all()


def test_a_railway_posts_its_locomotives_position(world):
    when = world.train.departs_at + timedelta(hours=3)
    out = world.post("KTZ", fix(when, device="loco-2TE10U-0137", mode="RAIL", speed=62))
    assert (out["stored"], out["quarantined"]) == (1, 0), out
    with world.store.read() as conn:
        row = conn.execute(select(events).where(events.c.code == "POSI", events.c.source_party == "KTZ",
                                                events.c.vehicle == "loco-2TE10U-0137")).one()
    # the fix of a vehicle: no container, no trip; it moves no box and no one else's box is touched
    assert (row.equipment, row.trip_id, row.mode, row.location) == (None, None, "RAIL", None)
    assert (row.lat, row.lon) == (45.2, 82.1)


def test_a_railway_posts_the_position_of_a_box_aboard_its_train(world):
    w, box = world, BOX["aboard"]
    when = w.train.departs_at + timedelta(hours=4)
    out = w.post("KTZ", fix(when, box, device="gps-wagon-77"))
    assert (out["stored"], out["quarantined"]) == (1, 0), out
    (row,) = _stored(w.store, box, "KTZ")
    assert row.trip_id and row.trip_id.startswith(box)
    # on the box's timeline and on the live map, as the shipper sees them
    doc = w.client.get(f"/api/v1/containers/{box}", headers=w.h("ACME")).json()
    assert doc["trip_id"] == row.trip_id, doc
    assert (doc["position"]["lat"], doc["position"]["lon"]) == (45.2, 82.1), doc["position"]
    assert datetime.fromisoformat(doc["position"]["at"]) == when
    live = w.client.get("/api/v1/positions/latest", headers=w.h("ACME")).json()
    (mine,) = [t for t in live["trips"] if t["equipment"] == box]
    assert (mine["source"], mine["lat"], mine["lon"]) == ("gps", 45.2, 82.1), mine
    assert datetime.fromisoformat(mine["at"]) == when


def test_a_box_booked_on_its_train_is_its_only_around_the_ride(world):
    """Booked on its train: from two days before the departure to two days after the arrival;
    nine days after, the box is no longer in the railway's hands (its last report is CRCT's)."""
    w, box = world, BOX["aboard"]
    out = w.post("KTZ", fix(w.train.arrives_at + timedelta(days=9), box))
    assert (out["stored"], out["quarantined"]) == (0, 1), out
    assert "not in its hands" in out["reasons"][0]


def test_a_competitors_box_is_refused_with_what_would_be_allowed(world):
    w, box = world, BOX["theirs"]
    before = len(_stored(w.store, box, "KTZ"))
    out = w.post("KTZ", fix(datetime.now(timezone.utc) - timedelta(hours=30), box))
    assert (out["stored"], out["quarantined"]) == (0, 1), out
    why = out["reasons"][0]
    # what the railway may post, in its own terms; nothing of the box's owner or booking
    for words in ("only while they are in its hands", "booked on or loaded onto its departures or vehicles",
                  "at its facilities: ", "KZDOS", "its own vehicles and devices"):
        assert words in why, why
    assert "BOSPHORUS" not in why and w.ref["BOSPHORUS"] not in why and "CRCT" not in why
    assert len(_stored(w.store, box, "KTZ")) == before == 0
    q = w.client.get("/api/v1/quarantine", headers=w.h("KTZ")).json()["entries"]
    assert any(box in e["reason"] and e["source_party"] == "KTZ" for e in q)
    # the refusal is the same whatever the box holds: another time says the same
    again = w.post("KTZ", fix(datetime.now(timezone.utc) - timedelta(days=20), box))
    assert again["reasons"][0].split(": ", 1)[1] == why.split(": ", 1)[1]


def test_a_box_at_its_station_is_its_until_gated_out(world):
    """At its facilities: gated in at Dostyk, in KTZ's hands; gated out, no longer. A late fix from
    before the gate-out is judged at its own time."""
    w, box = world, BOX["dostyk"]
    inside = w.post("KTZ", fix(w.t0 + timedelta(hours=1), box))
    assert (inside["stored"], inside["quarantined"]) == (1, 0), inside
    gone = w.post("KTZ", fix(w.t0 + timedelta(hours=5), box))
    assert (gone["stored"], gone["quarantined"]) == (0, 1), gone
    late = w.post("KTZ", fix(w.t0 + timedelta(hours=1, minutes=30), box))
    assert (late["stored"], late["quarantined"]) == (1, 0), late
    assert len(_stored(w.store, box, "KTZ")) == 2


def test_a_box_loaded_onto_its_train_elsewhere_is_its(world):
    """Reported loaded by it onto its own train at Alashankou (not its station): aboard, its."""
    w, box = world, BOX["loaded"]
    t = w.t0 - timedelta(days=3)
    ingest(w.store, [box_event("GTIN", t, "CNAKL", box=box, bkg="BOS-OWN-2")], "BOSPHORUS")
    before = w.post("KTZ", fix(t + timedelta(hours=1), box))
    assert (before["stored"], before["quarantined"]) == (0, 1), before   # at CRCT's station: not KTZ's yet
    ingest(w.store, [box_event("LOAD", t + timedelta(hours=2), "CNAKL", box=box, bkg="BOS-OWN-2",
                               voyage=w.train.voyage)], "KTZ")
    after = w.post("KTZ", fix(t + timedelta(hours=8), box))
    assert (after["stored"], after["quarantined"]) == (1, 0), after


def test_a_box_on_no_trip_yet_opens_the_railways_own(world):
    w, box = world, BOX["fresh"]
    out = w.post("KTZ", fix(w.t0, box))
    assert (out["stored"], out["quarantined"]) == (1, 0), out
    (row,) = _stored(w.store, box, "KTZ")
    # and it is KTZ's trip now: a shipper may not post for it
    theirs = w.post("ACME", fix(w.t0 + timedelta(hours=1), box))
    assert (theirs["stored"], theirs["quarantined"]) == (0, 1), theirs


def test_a_position_naming_another_operators_train_is_refused(world):
    """A fix without a container that names a train moves every box aboard: only its operator's."""
    from corridor.access.visibility import posting_rights
    from corridor.domain.events import Classifier, Event, EventKind, TransportCall
    from corridor.store.parties import get_party
    e = Event(kind=EventKind.IOT, code="POSI", classifier=Classifier.ACT, event_time=w_time(world),
              transport_call=TransportCall(mode="RAIL", voyage="L02-0001"), lat=40.0, lon=80.0,
              source_party="KTZ")
    with world.store.read() as conn:
        ktz = posting_rights(conn, get_party(conn, "KTZ"))
    assert "only for its own facilities and services" in ktz(e)
    own = Event(kind=EventKind.IOT, code="POSI", classifier=Classifier.ACT, event_time=w_time(world),
                transport_call=TransportCall(mode="RAIL", voyage=world.train.voyage), lat=40.0, lon=80.0,
                source_party="KTZ")
    assert ktz(own) is None


def w_time(w: World) -> datetime:
    return w.train.departs_at + timedelta(hours=5)


def test_a_shippers_positions_are_unchanged(world):
    w = world
    own = w.post("ACME", fix(w.train.departs_at + timedelta(hours=6), BOX["aboard"], device="acme-trk"))
    assert (own["stored"], own["quarantined"]) == (1, 0), own
    other = w.post("ACME", fix(datetime.now(timezone.utc) - timedelta(hours=30), BOX["theirs"], device="acme-trk"))
    assert (other["stored"], other["quarantined"]) == (0, 1), other
    assert "may post events only for containers on its own trips and bookings" in other["reasons"][0]
    device = w.post("ACME", fix(datetime.now(timezone.utc) - timedelta(hours=1), device="acme-truck", mode="TRUCK"))
    assert (device["stored"], device["quarantined"]) == (1, 0), device


# --- MQTT: the same rule over the real Mosquitto on 127.0.0.1:1883 ------------------------------

def _broker() -> None:
    try:
        socket.create_connection(("127.0.0.1", 1883), timeout=2).close()
    except OSError as e:
        pytest.skip(f"Mosquitto not reachable on 127.0.0.1:1883 ({e}); start it: mosquitto -d -c /etc/mosquitto/mosquitto.conf")


def test_mqtt_judges_a_railways_positions_as_http_does(world):
    import json

    import paho.mqtt.client as mqtt

    from corridor.ingest.mqtt import start_mqtt_consumer
    from corridor.ingest.positions import position_topic
    _broker()
    w = world
    device = f"trk-{uuid.uuid4().hex[:6]}"
    topic = position_topic("KTZ", device)
    base = w.train.departs_at + timedelta(hours=7, minutes=int(uuid.uuid4().int % 50))
    fixes = [fix(base, device=device, mode="RAIL"),                         # its locomotive's tracker
             fix(base + timedelta(minutes=1), BOX["aboard"], device=device),  # a box booked on its train
             fix(datetime.now(timezone.utc) - timedelta(hours=29), BOX["theirs"], device=device)]  # a competitor's
    consumer = start_mqtt_consumer(w.store, URL, client_id=f"corridor-test-{uuid.uuid4().hex[:8]}", topic=topic)
    try:
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-pub-{uuid.uuid4().hex[:8]}")
        c.connect("127.0.0.1", 1883)
        c.loop_start()
        for f in fixes:
            c.publish(topic, json.dumps(f), qos=1).wait_for_publish(5)
        c.disconnect()
        c.loop_stop()
        end = time.monotonic() + 15
        while consumer.stats.messages < 3 and time.monotonic() < end:
            time.sleep(0.05)
        s = consumer.stats
        assert (s.messages, s.stored, s.quarantined, s.failed) == (3, 2, 1, 0), s
    finally:
        consumer.stop()
    with w.store.read() as conn:
        posted = conn.execute(select(events.c.equipment, events.c.vehicle, events.c.trip_id).where(
            events.c.code == "POSI", events.c.source_party == "KTZ", events.c.event_time >= base,
            events.c.event_time <= base + timedelta(minutes=1))).all()
        held = conn.execute(select(quarantine.c.reason).where(
            quarantine.c.source_party == "KTZ", quarantine.c.reason.like(f"%{BOX['theirs']}%"))).scalars().all()
    assert sorted((r.equipment or "", r.vehicle) for r in posted) == sorted(
        [("", device), (BOX["aboard"], None)]), posted
    assert all(r.trip_id for r in posted if r.equipment)
    # the same reason over MQTT as over HTTP
    assert any("not in its hands" in why and "its own vehicles and devices" in why for why in held), held
