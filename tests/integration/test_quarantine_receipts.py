"""Receipts and replays on both stores.

- A replay judges posting rights as the post did: what the sender was refused stays refused, whoever
  replays it (`corridor alias add … --replay`, the administrator's replay over HTTP).
- The same bytes from two parties are two receipts: each is processed as its own sender, its
  quarantine is its own, and a re-send by the same party is still a duplicate.
- NATS ingest workers judge a sender by its rights of now: a facility taken away counts from the
  next message, not from the worker's restart.
- Stores kept before receipts were keyed by their sender move over (migration 0011).
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid

import pytest
import typer
from alembic import command
from sqlalchemy import select
from typer.testing import CliRunner

from corridor.cli import ingest as cli_ingest
from corridor.domain.parties import Party, Role
from corridor.ingest.service import Ingestor
from corridor.settings import get_settings
from corridor.store import ingest as repo
from corridor.store.db import alembic_config
from corridor.store.parties import upsert_party
from corridor.store.tables import events, quarantine, raw_messages

from test_ingest_api import ingest_client

HEADER = ("event_type,event_code,classifier,event_time,location,equipment,size_type,mode,voyage,vehicle,"
          "booking_ref,bl_ref,wagon,train,lat,lon\n")


def gate_log(*rows: tuple[str, str, str]) -> bytes:
    """A CSV gate log: (box, place, local time) per gate-in."""
    return (HEADER + "".join(f"EQUIPMENT,GTIN,ACT,{when},{place},{box},45G1,,,,,,,,,\n"
                             for box, place, when in rows)).encode()


# m1.csv of the review: a gate-in at Alat (Baku, not KTZ's) and one at a code nobody knows yet
M1 = gate_log(("MSKU1234565", "AZALA", "2025-03-02T08:10:00+04:00"),
              ("TGHU7654320", "KZYYY", "2025-03-02T09:10:00+05:00"))

KTZ = Party("KTZ", "Kazakhstan Temir Zholy", frozenset({Role.RAILWAY}), "KZ", facilities=frozenset({"KZ_AKX"}))
PORTBAKU = Party("PORTBAKU", "Baku International Sea Trade Port", frozenset({Role.TERMINAL}), "AZ",
                 facilities=frozenset({"AZ_ALA"}))

cli = typer.Typer()
cli_ingest.register(cli)
runner = CliRunner()


@pytest.fixture
def world(loaded_store, monkeypatch):
    client = ingest_client(loaded_store, [KTZ, PORTBAKU])
    monkeypatch.setenv("CORRIDOR_DATABASE_URL", loaded_store.url)   # for the CLI
    get_settings.cache_clear()
    yield client
    get_settings.cache_clear()


def post(world, who: str, body: bytes, party: str | None = None) -> dict:
    r = world.post("/api/v1/messages?format=csv" + (f"&party={party}" if party else ""), content=body,
                   headers=world.keys[who])
    assert r.status_code == 200, r.text
    return r.json()


def run(*args: str) -> dict:
    r = runner.invoke(cli, [*args, "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def stored(store, party: str) -> set[tuple[str, str, str]]:
    """(box, place, raw message id) of the events a party's name is on."""
    with store.read() as conn:
        return {(r.equipment, r.location, r.message_id) for r in conn.execute(
            select(events.c.equipment, events.c.location, events.c.message_id)
            .where(events.c.source_party == party))}


def open_entries(store, mid: str | None = None) -> list:
    with store.read() as conn:
        q = select(quarantine).where(quarantine.c.status == "open")
        if mid:
            q = q.where(quarantine.c.message_id == mid)
        return conn.execute(q.order_by(quarantine.c.id)).all()


# --- 1. a replay judges posting rights as the post did ------------------------------------------

def test_alias_replay_on_the_command_line_refuses_again_what_the_sender_was_refused(world):
    first = post(world, "KTZ", M1)
    assert (first["stored"], first["quarantined"]) == (0, 2)
    doc = run("alias", "add", "location", "KZYYY", "KZAAU", "--note", "KTZ's code for Aktau", "--replay")
    assert doc["replay"] == {"replayed": 1, "stored": 1, "quarantined": 1}
    # the gate-in at Aktau (KTZ's facility) went in; the one at Alat is still not KTZ's to post
    assert {(box, place) for box, place, _ in stored(world.store, "KTZ")} == {("TGHU7654320", "KZAAU")}
    (held,) = open_entries(world.store, first["message_id"])
    assert held.source_party == "KTZ" and "only for its own facilities" in held.reason and "AZALA" in held.reason
    # and `corridor quarantine replay --all` judges it the same way
    again = run("quarantine", "replay", "--all")
    assert (again["stored"], again["duplicates"], again["quarantined"]) == (0, 1, 1)
    assert {(box, place) for box, place, _ in stored(world.store, "KTZ")} == {("TGHU7654320", "KZAAU")}


def test_the_administrators_replay_over_http_refuses_again_what_the_sender_was_refused(world):
    first = post(world, "KTZ", M1)
    admin = world.keys["admin"]
    assert world.post("/api/v1/aliases", json={"kind": "location", "value": "KZYYY", "target": "KZAAU"},
                      headers=admin).status_code == 201
    entry = next(e for e in world.get("/api/v1/quarantine", headers=admin).json()["entries"]
                 if "KZYYY" in e["reason"])
    r = world.post(f"/api/v1/quarantine/{entry['id']}/replay", headers=admin).json()
    assert (r["stored"], r["quarantined"], r["source_party"]) == (1, 1, "KTZ")
    assert "only for its own facilities" in r["reasons"][0]
    assert {(box, place) for box, place, _ in stored(world.store, "KTZ")} == {("TGHU7654320", "KZAAU")}
    assert [e.status for e in open_entries(world.store, first["message_id"])] == ["open"]


def test_a_replay_takes_in_what_an_unjudged_post_took_in(world):
    # the administrator posting for KTZ is not held to KTZ's rights, nor is its replay
    first = post(world, "admin", M1, party="KTZ")
    assert (first["stored"], first["quarantined"], first["source_party"]) == (1, 1, "KTZ")
    doc = run("alias", "add", "location", "KZYYY", "KZAAU", "--replay")
    assert doc["replay"] == {"replayed": 1, "stored": 1, "quarantined": 0}
    assert {(box, place) for box, place, _ in stored(world.store, "KTZ")} == {
        ("MSKU1234565", "AZALA"), ("TGHU7654320", "KZAAU")}
    assert open_entries(world.store) == []


# --- 3. the same bytes from two parties are two receipts ----------------------------------------

def test_the_same_bytes_from_two_parties_are_two_receipts(world):
    ktz = post(world, "KTZ", M1)
    ktz_held = [(e.id, e.reason) for e in open_entries(world.store, ktz["message_id"])]
    assert len(ktz_held) == 2
    baku = post(world, "PORTBAKU", M1)
    # processed as PORTBAKU: Alat is its terminal; the unknown code is held in its own quarantine
    assert baku["message_id"] != ktz["message_id"]
    assert (baku["source_party"], baku["stored"], baku["quarantined"]) == ("PORTBAKU", 1, 1)
    # KTZ's entries are untouched: still open, still KTZ's, none resolved by PORTBAKU's post
    assert [(e.id, e.reason) for e in open_entries(world.store, ktz["message_id"])] == ktz_held
    with world.store.read() as conn:
        assert conn.execute(select(quarantine.c.id).where(quarantine.c.status != "open")).all() == []
    mine = world.get("/api/v1/quarantine", headers=world.keys["PORTBAKU"]).json()["entries"]
    assert [(e["message_id"], e["source_party"]) for e in mine] == [(baku["message_id"], "PORTBAKU")]
    assert len(world.get("/api/v1/quarantine", headers=world.keys["KTZ"]).json()["entries"]) == 2
    # every event links back to the receipt it came from, and that receipt names its sender
    assert stored(world.store, "PORTBAKU") == {("MSKU1234565", "AZALA", baku["message_id"])}
    with world.store.read() as conn:
        assert repo.get_raw(conn, baku["message_id"]).source_party == "PORTBAKU"
        assert repo.get_raw(conn, ktz["message_id"]).source_party == "KTZ"
    # PORTBAKU's replay runs as PORTBAKU
    r = world.post(f"/api/v1/quarantine/{mine[0]['id']}/replay", headers=world.keys["PORTBAKU"]).json()
    assert (r["source_party"], r["stored"], r["duplicates"], r["quarantined"]) == ("PORTBAKU", 0, 1, 1)
    # a re-send by the same party is still a duplicate of its own receipt: nothing held twice
    again = post(world, "KTZ", M1)
    assert (again["message_id"], again["stored"], again["quarantined"]) == (ktz["message_id"], 0, 2)
    assert [(e.id, e.reason) for e in open_entries(world.store, ktz["message_id"])] == ktz_held
    with world.store.read() as conn:
        assert conn.execute(select(raw_messages.c.id)).scalars().all().__len__() == 2


def test_kept_receipts_are_processed_as_their_own_sender(world):
    # the NATS path: each post is kept, then processed from the store by a worker
    from corridor.ingest.nats import sender_rights
    ing = Ingestor(world.store)
    k_mid, _, k_new = ing.keep(M1, source_party="KTZ", fmt="csv")
    b_mid, _, b_new = ing.keep(M1, source_party="PORTBAKU", fmt="csv")
    assert k_mid != b_mid and k_new and b_new
    assert ing.keep(M1, source_party="KTZ", fmt="csv") == (k_mid, "csv", False)   # exactly once per party
    baku = ing.process(b_mid, sender_rights(world.store, "PORTBAKU"), only_pending=True)
    ktz = ing.process(k_mid, sender_rights(world.store, "KTZ"), only_pending=True)
    assert (baku.source_party, baku.stored, baku.quarantined) == ("PORTBAKU", 1, 1)
    assert (ktz.source_party, ktz.stored, ktz.quarantined) == ("KTZ", 0, 2)
    assert {e.source_party for e in open_entries(world.store, b_mid)} == {"PORTBAKU"}
    assert {e.source_party for e in open_entries(world.store, k_mid)} == {"KTZ"}


def test_a_dry_run_names_the_receipt_a_post_would_make(world):
    ing = Ingestor(world.store)
    dry = ing.ingest(M1, source_party="PORTBAKU", fmt="csv", dry_run=True)
    real = ing.ingest(M1, source_party="PORTBAKU", fmt="csv")
    assert dry.message_id == real.message_id == repo.message_id(M1, "PORTBAKU") != repo.message_id(M1, "KTZ")


# --- 2. NATS workers judge a sender by its rights of now ----------------------------------------

def _nats() -> None:
    try:
        socket.create_connection(("127.0.0.1", 4222), timeout=2).close()
    except OSError as e:
        pytest.skip(f"NATS not reachable on 127.0.0.1:4222 ({e}); start nats-server -js")


def _settled(store, mids: list[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with store.read() as conn:
            if all(repo.get_raw(conn, m).status != "pending" for m in mids):
                return
        time.sleep(0.05)
    raise AssertionError(f"the worker left {mids} pending")


@pytest.mark.services
def test_a_nats_worker_drops_a_senders_rights_when_the_registry_changes(world):
    _nats()
    from corridor.ingest.nats import JetStreamPublisher, StreamConfig, run_ingest_worker
    store, tag = world.store, uuid.uuid4().hex[:8]
    cfg = StreamConfig(stream=f"TEST_RIGHTS_{tag}", subject=f"test.rights.{tag}", durable=f"r{tag}", ack_wait=5.0)
    with store.tx() as conn:   # KTZ runs the Alat terminal too, for now
        upsert_party(conn, Party("KTZ", KTZ.name, KTZ.roles, "KZ", facilities=frozenset({"KZ_AKX", "AZ_ALA"})))
    ing, pub, stop = Ingestor(store), JetStreamPublisher("nats://127.0.0.1:4222", cfg), threading.Event()
    worker = threading.Thread(target=run_ingest_worker, args=(store, "nats://127.0.0.1:4222"),
                              kwargs={"cfg": cfg, "batch": 5, "stop": stop}, daemon=True)
    worker.start()
    try:
        def send(box: str, party: str = "KTZ") -> str:
            mid, _, _ = ing.keep(gate_log((box, "AZALA", "2025-03-02T08:10:00+04:00")), source_party=party, fmt="csv")
            pub.publish(mid, check_visibility=True)
            _settled(store, [mid])
            return mid

        first = send("MSKU1234565")
        with store.tx() as conn:   # the Alat terminal is taken from KTZ
            upsert_party(conn, KTZ)
        later = send("TGHU7654320")
        with store.read() as conn:
            assert (repo.get_raw(conn, first).status, repo.get_raw(conn, later).status) == ("processed",
                                                                                           "quarantined")
        assert {(box, place) for box, place, _ in stored(store, "KTZ")} == {("MSKU1234565", "AZALA")}
        (held,) = open_entries(store, later)
        assert "only for its own facilities" in held.reason
        # the same bytes from PORTBAKU are its own receipt, processed as PORTBAKU
        baku = send("TGHU7654320", party="PORTBAKU")
        assert baku != later
        assert stored(store, "PORTBAKU") == {("TGHU7654320", "AZALA", baku)}
    finally:
        stop.set()
        worker.join(20)
        pub.close()
        _delete_stream(cfg.stream)


def _delete_stream(name: str) -> None:
    import asyncio

    async def go():
        import nats
        nc = await nats.connect("nats://127.0.0.1:4222")
        try:
            await nc.jetstream().delete_stream(name)
        except Exception:  # noqa: BLE001 - already gone
            pass
        await nc.close()
    asyncio.run(go())


# --- the migration ------------------------------------------------------------------------------

BEFORE = "0010_departures_operator_index"


def test_receipts_kept_before_0011_move_to_their_senders_ids(world):
    store = world.store
    ing = Ingestor(store)
    ktz = post(world, "KTZ", M1)                                              # held whole
    aktau = gate_log(("TGHU7654320", "KZAAU", "2025-03-03T08:10:00+05:00"))
    ktz_ok = post(world, "KTZ", aktau)                                        # stored
    relayed = ing.ingest(gate_log(("MSKU1234565", "KZAAU", "2025-03-01T08:10:00+05:00")), fmt="csv")
    assert (ktz_ok["stored"], relayed.quarantined) == (1, 1)                 # no sender: held whole
    alat = gate_log(("MSKU1234565", "AZALA", "2025-03-03T08:10:00+04:00"))
    baku = post(world, "PORTBAKU", alat)
    with store.read() as conn:
        before_events = {r.equipment: r.message_id for r in conn.execute(select(events))}
    assert before_events == {"TGHU7654320": ktz_ok["message_id"], "MSKU1234565": baku["message_id"]}
    cfg = alembic_config(store.url)
    command.downgrade(cfg, BEFORE)
    store.engine.dispose()
    with store.engine.connect() as conn:
        # as 0010 kept them: content-addressed, the quarantine and the events pointing there
        assert set(conn.execute(select(raw_messages.c.id)).scalars()) == {
            repo.content_id(M1), repo.content_id(aktau), relayed.message_id, repo.content_id(alat)}
        assert set(conn.execute(select(quarantine.c.message_id)).scalars()) == {repo.content_id(M1),
                                                                              relayed.message_id}
        assert set(conn.execute(select(events.c.message_id)).scalars()) == {repo.content_id(aktau),
                                                                          repo.content_id(alat)}
    command.upgrade(cfg, "head")
    store.engine.dispose()
    with store.read() as conn:
        assert set(conn.execute(select(raw_messages.c.id)).scalars()) == {
            ktz["message_id"], ktz_ok["message_id"], relayed.message_id, baku["message_id"]}
        assert {r.equipment: r.message_id for r in conn.execute(select(events))} == before_events
        by_message = conn.execute(select(quarantine.c.message_id, quarantine.c.source_party)).all()
        assert sorted(by_message) == sorted([(ktz["message_id"], "KTZ")] * 2 + [(relayed.message_id, "")])
        # kept with a sender: taken as judged by its rights; the relayed one was not
        assert repo.raw_sender(conn, ktz["message_id"]).checked
        assert not repo.raw_sender(conn, relayed.message_id).checked
    # a re-send by the same party after the upgrade is a duplicate of its receipt
    again = post(world, "KTZ", M1)
    assert (again["message_id"], again["stored"], again["quarantined"]) == (ktz["message_id"], 0, 2)
    assert len(open_entries(store, ktz["message_id"])) == 2
    # and a receipt kept before the upgrade is judged on replay as a post with a key is
    run("alias", "add", "location", "KZYYY", "KZAAU")
    doc = run("quarantine", "replay", ktz["message_id"])
    assert (doc["stored"], doc["quarantined"]) == (1, 1)


def test_two_receipts_of_the_same_bytes_fold_into_one_when_going_back_to_0010(world):
    ktz, baku = post(world, "KTZ", M1), post(world, "PORTBAKU", M1)
    cfg = alembic_config(world.store.url)
    command.downgrade(cfg, BEFORE)
    world.store.engine.dispose()
    with world.store.engine.connect() as conn:
        # the first received stays; the other's entries and events move to it
        assert conn.execute(select(raw_messages.c.id, raw_messages.c.source_party)).all() == [
            (repo.content_id(M1), "KTZ")]
        assert set(conn.execute(select(quarantine.c.message_id)).scalars()) == {repo.content_id(M1)}
        assert set(conn.execute(select(events.c.message_id)).scalars()) == {repo.content_id(M1)}
        assert len(conn.execute(select(quarantine)).all()) == ktz["quarantined"] + baku["quarantined"]
    command.upgrade(cfg, "head")
    world.store.engine.dispose()
    with world.store.read() as conn:
        assert set(conn.execute(select(raw_messages.c.id)).scalars()) == {ktz["message_id"]}


# --- an MQTT sender unknown when it sent is judged, on replay, as the party an alias makes it ----

@pytest.mark.services
def test_positions_from_a_topic_party_named_later_are_judged_by_its_rights_on_replay(world):
    try:
        socket.create_connection(("127.0.0.1", 1883), timeout=2).close()
    except OSError as e:
        pytest.skip(f"Mosquitto not reachable on 127.0.0.1:1883 ({e})")
    import paho.mqtt.client as mqtt

    from corridor.ingest.mqtt import start_mqtt_consumer
    from corridor.ingest.positions import position_topic
    store = world.store
    with store.tx() as conn:
        upsert_party(conn, Party("ACME", "Acme Trading", frozenset({Role.SHIPPER})))
    # the box is on PORTBAKU's trip, nobody's booking: not ACME's to report
    assert post(world, "PORTBAKU", gate_log(("TGHU7654320", "AZALA", "2025-03-02T08:10:00+04:00")))["stored"] == 1
    code = f"ACMEGPS{uuid.uuid4().hex[:6].upper()}"   # ACME's trackers' id, no alias yet
    topic = position_topic(code, "trk-9")
    consumer = start_mqtt_consumer(store, "mqtt://127.0.0.1:1883", client_id=f"corridor-test-{code}", topic=topic)
    try:
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-pub-{code}")
        pub.connect("127.0.0.1", 1883)
        pub.loop_start()
        fix = {"time": "2025-03-04T12:00:00+04:00", "lat": 40.4, "lon": 49.9, "device": "trk-9",
               "container": "TGHU7654320"}
        pub.publish(topic, json.dumps(fix), qos=1).wait_for_publish(5)
        pub.disconnect()
        pub.loop_stop()
        deadline = time.monotonic() + 10
        while consumer.stats.messages < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (consumer.stats.messages, consumer.stats.quarantined) == (1, 1)   # unknown sender: held whole
    finally:
        consumer.stop()
    doc = run("alias", "add", "party", code, "ACME", "--replay")
    assert doc["replay"] == {"replayed": 1, "stored": 0, "quarantined": 1}
    (held,) = open_entries(store)
    assert held.source_party == "ACME" and "only for containers on its own trips" in held.reason
    assert stored(store, "ACME") == set()
