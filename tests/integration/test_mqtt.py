"""The MQTT positions consumer against the real Mosquitto on 127.0.0.1:1883 (both stores)."""

from __future__ import annotations

import json
import socket
import time
import uuid

import pytest

from corridor.domain.parties import Party, Role
from corridor.ingest.mqtt import start_mqtt_consumer
from corridor.ingest.positions import position_topic
from corridor.store import events as ev
from corridor.store import ingest as repo
from corridor.store.parties import upsert_party

pytestmark = pytest.mark.services
URL = "mqtt://127.0.0.1:1883"


def _broker() -> None:
    try:
        socket.create_connection(("127.0.0.1", 1883), timeout=2).close()
    except OSError as e:
        pytest.skip(f"Mosquitto not reachable on 127.0.0.1:1883 ({e}); start it: mosquitto -d -c /etc/mosquitto/mosquitto.conf")


def _publish(topic: str, payloads: list[dict]) -> None:
    import paho.mqtt.client as mqtt
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-pub-{uuid.uuid4().hex[:8]}")
    c.connect("127.0.0.1", 1883)
    c.loop_start()
    for p in payloads:
        c.publish(topic, json.dumps(p), qos=1).wait_for_publish(5)
    c.disconnect()
    c.loop_stop()


def _wait(cond, timeout: float = 10.0, consumer=None) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for the consumer; stats {consumer.stats if consumer else '-'}")


def _events(store) -> int:
    with store.read() as conn:
        return ev.count(conn)


def fix(minute: int, device: str = "trk-1") -> dict:
    return {"time": f"2026-03-04T12:{minute:02d}:00+05:00", "lat": 43.6 + minute / 1000, "lon": 51.2,
            "device": device, "container": "MSKU1234565"}


def test_positions_over_mqtt_are_stored_once_even_when_resent(store):
    _broker()
    with store.tx() as conn:
        upsert_party(conn, Party("ACME", "Acme Trading", frozenset({Role.SHIPPER})))
    topic = position_topic("ACME", f"trk-{uuid.uuid4().hex[:6]}")
    device = topic.rsplit("/", 1)[1]
    consumer = start_mqtt_consumer(store, URL, client_id=f"corridor-test-{uuid.uuid4().hex[:8]}",
                                   topic=topic)
    try:
        _publish(topic, [fix(0, device), fix(1, device), fix(0, device)])   # the last one re-sent
        _wait(lambda: consumer.stats.messages == 3, consumer=consumer)
        assert (consumer.stats.stored, consumer.stats.duplicates, consumer.stats.failed) == (2, 1, 0)
        assert _events(store) == 2
        with store.read() as conn:
            rows = [ev.row_to_event(r) for r in conn.execute(ev.select_events()).all()]
            raw = repo.get_raw(conn, rows[0].message_id)
        assert {e.source_party for e in rows} == {"ACME"} and raw.filename == topic
    finally:
        consumer.stop()


def test_persistent_session_delivers_what_was_sent_while_down(store):
    _broker()
    with store.tx() as conn:
        upsert_party(conn, Party("ACME", "Acme Trading", frozenset({Role.SHIPPER})))
    client_id = f"corridor-test-{uuid.uuid4().hex[:8]}"
    topic = position_topic("ACME", f"trk-{uuid.uuid4().hex[:6]}")
    device = topic.rsplit("/", 1)[1]
    start_mqtt_consumer(store, URL, client_id=client_id, topic=topic).stop()   # session + subscription kept
    _publish(topic, [fix(m, device) for m in range(5)])                        # Corridor is down
    consumer = start_mqtt_consumer(store, URL, client_id=client_id, topic=topic)
    try:
        _wait(lambda: _events(store) == 5)
    finally:
        consumer.stop()


def test_unknown_party_topic_is_quarantined(store):
    _broker()
    party = f"NOBODY{uuid.uuid4().hex[:6].upper()}"
    topic = position_topic(party, "trk-9")
    consumer = start_mqtt_consumer(store, URL, client_id=f"corridor-test-{uuid.uuid4().hex[:8]}", topic=topic)
    try:
        _publish(topic, [fix(0, "trk-9")])
        _wait(lambda: consumer.stats.messages == 1, consumer=consumer)
        assert consumer.stats.quarantined == 1 and _events(store) == 0
        with store.read() as conn:
            (q,) = repo.quarantine_list(conn)
        assert party in q.reason and "add a party alias" in q.reason
    finally:
        consumer.stop()


def test_posting_rights_are_read_again_after_a_party_changed_and_stay_bounded(store, monkeypatch):
    # no broker needed: the consumer is made, not started
    from corridor.ingest import mqtt as mq
    with store.tx() as conn:
        upsert_party(conn, Party("PORTAKTAU", "Aktau port", frozenset({Role.TERMINAL}), facilities=frozenset({"KZAAU"})))
    consumer = mq.MqttConsumer(store, URL, client_id=f"corridor-test-{uuid.uuid4().hex[:8]}")
    first = consumer._allowed("PORTAKTAU")
    assert consumer._allowed("PORTAKTAU") is first            # kept while nothing changed
    with store.tx() as conn:                                   # the port loses Aktau, gains Kuryk
        upsert_party(conn, Party("PORTAKTAU", "Aktau port", frozenset({Role.TERMINAL}), facilities=frozenset({"KZKUR"})))
    assert consumer._allowed("PORTAKTAU") is not first
    monkeypatch.setattr(mq, "MAX_SENDERS", 5)
    for i in range(12):                                        # parties made up in topics
        consumer._allowed(f"NOBODY{i}")
    assert len(consumer._rights) <= 5
