"""The MQTT positions consumer: QoS 1, a persistent session, acknowledged after commit.

Trackers publish to corridor/v1/positions/{party}/{device} (docs/formats.md). The topic names
the sender (the broker's ACL lets a party publish under its own id only). The payload may be any
shape `parse_position` reads (Corridor's, OwnTracks, Traccar, LoRaWAN uplinks, GeoJSON); an empty
message clears a retained one and is acknowledged without being kept. Each message runs
through the one ingest path; the PUBACK goes out only after the transaction committed, so a
crash redelivers it, and a redelivered or re-sent message never duplicates (content-addressed
raw message, natural event key).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from urllib.parse import urlparse

from ..store import Store
from .positions import TOPIC_FILTER, topic_party

log = logging.getLogger("corridor.ingest.mqtt")
MAX_SENDERS = 1000   # posting rights kept for at most this many parties named in topics


@dataclass
class ConsumerStats:
    """Counts since start, for logs and tests."""

    messages: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    cleared: int = 0     # empty messages: a retained fix being cleared, not a fix
    failed: int = 0
    errors: list[str] = field(default_factory=list)


class MqttConsumer:
    """A running consumer; `.stop()` disconnects (the session stays on the broker)."""

    def __init__(self, store: Store, url: str, *, client_id: str = "corridor-ingest",
                 topic: str = TOPIC_FILTER):
        import paho.mqtt.client as mqtt
        from .service import Ingestor

        u = urlparse(url if "://" in url else f"mqtt://{url}")
        self.host, self.port = u.hostname or "127.0.0.1", u.port or (8883 if u.scheme == "mqtts" else 1883)
        self.topic, self.store = topic, store
        self.ingestor = Ingestor(store)
        self.stats = ConsumerStats()
        self.subscribed = threading.Event()
        self._rights: dict[str, object] = {}   # party -> posting rights, of registry generation _generation
        self._generation: str | None = None
        self._lock = threading.Lock()
        # clean_session=False: the broker keeps the subscription and queues QoS 1 messages while
        # Corridor is down; manual_ack: PUBACK only after the events are committed
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
                                  manual_ack=True)
        if u.username:
            self.client.username_pw_set(u.username, u.password)
        if u.scheme == "mqtts":
            self.client.tls_set()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 30)

    def start(self, timeout: float = 10.0) -> "MqttConsumer":
        self.client.connect(self.host, self.port, keepalive=30)
        self.client.loop_start()
        if not self.subscribed.wait(timeout):
            self.stop()
            raise ConnectionError(f"MQTT broker {self.host}:{self.port} did not accept the subscription")
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    # -- callbacks (paho's network thread) -----------------------------------------------------
    def _on_connect(self, client, _userdata, _flags, reason_code, _props):
        if reason_code.is_failure:
            log.error("MQTT connect refused: %s", reason_code)
            return
        # ready only on SUBACK: a message published between SUBSCRIBE and SUBACK is not routed to
        # a new session, so signalling at send time lost the first fix now and then
        client.subscribe(self.topic, qos=1)

    def _on_subscribe(self, _client, _userdata, _mid, reason_codes, _props):
        if any(rc.is_failure for rc in reason_codes):
            log.error("MQTT subscription to %s refused: %s", self.topic, reason_codes)
            return
        self.subscribed.set()

    def _on_message(self, client, _userdata, msg):
        if not msg.payload:
            # a zero-length publish is how MQTT clears a retained message (OwnTracks publishes its
            # fixes retained): there is no fix in it to store or to hold in quarantine
            with self._lock:
                self.stats.cleared += 1
            if msg.qos > 0:
                client.ack(msg.mid, msg.qos)
            return
        try:
            try:
                party, _device = topic_party(msg.topic)
            except ValueError:
                party = ""   # the parser quarantines it with the reason
            # the sender is resolved from the topic through the registry (an unknown party is held)
            o = self.ingestor.ingest(msg.payload, filename=msg.topic, fmt="position-json",
                                     allowed=self._allowed(party), checked=True)   # a replay judges it too
        except Exception as e:  # noqa: BLE001 - not acknowledged: the broker redelivers it on reconnect
            with self._lock:
                self.stats.failed += 1
                self.stats.errors.append(f"{msg.topic}: {e.__class__.__name__}: {e}")
            log.exception("position message on %s failed; left unacknowledged", msg.topic)
            return
        with self._lock:
            self.stats.messages += 1
            self.stats.stored += o.stored
            self.stats.duplicates += o.duplicates
            self.stats.quarantined += o.quarantined
        if msg.qos > 0:
            client.ack(msg.mid, msg.qos)

    def _allowed(self, party: str):
        """The party's posting rights, read again once any party or alias changed (a facility
        taken from a terminal counts from its next message) and never kept for more than
        `MAX_SENDERS` parties named in topics (anyone on the broker may name one)."""
        from ..store.parties import registry_generation
        with self.store.read() as conn:
            generation = registry_generation(conn)
        if generation != self._generation or (party not in self._rights and len(self._rights) >= MAX_SENDERS):
            self._rights, self._generation = {}, generation
        if party not in self._rights:
            from .nats import sender_rights
            self._rights[party] = sender_rights(self.store, party)
        return self._rights[party]


def start_mqtt_consumer(store: Store, url: str, *, client_id: str = "corridor-ingest",
                        topic: str = TOPIC_FILTER) -> MqttConsumer:
    """Connect, subscribe (QoS 1, persistent session) and consume in a background thread."""
    return MqttConsumer(store, url, client_id=client_id, topic=topic).start()
