"""Every table of Corridor. Each record that carries business data names its parties.

The event table is append-only: rows are never updated or deleted; `dedup_key` (unique) is the
natural key that makes re-sent input collapse, `milestone_key` groups PLN/EST revisions.
"""

from __future__ import annotations

from sqlalchemy import (BigInteger, Boolean, Column, Float, ForeignKey, Index, Integer, LargeBinary,
                        MetaData, String, Table, Text, UniqueConstraint, text)

from .types import JSONText, UTCDateTime

metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

# An integer primary key that autoincrements on both stores (SQLite needs INTEGER, not BIGINT).
SeqId = BigInteger().with_variant(Integer(), "sqlite")

parties = Table(
    "parties", metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("roles", JSONText, nullable=False),          # list of Role values
    Column("country", String(2)),
    Column("facilities", JSONText, nullable=False, default=list),
    Column("services", JSONText, nullable=False, default=list),
    Column("edi_ids", JSONText, nullable=False, default=list),
    Column("created_at", UTCDateTime, nullable=False),
)

api_keys = Table(
    "api_keys", metadata,
    Column("id", String(32), primary_key=True),          # public key id (the prefix shown in lists)
    Column("party_id", String(40), ForeignKey("parties.id"), nullable=False),
    Column("secret_hash", String(128), nullable=False),  # sha256 of the secret part; never the key
    Column("label", String(200), nullable=False, default=""),
    Column("scopes", JSONText, nullable=False),          # ["read", "write", "admin"]
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
    Column("last_used_at", UTCDateTime),
)

locations = Table(
    "locations", metadata,
    Column("id", String(40), primary_key=True),
    Column("code", String(10), index=True),
    Column("name", String(200), nullable=False),
    Column("country", String(2), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("lat", Float, nullable=False),
    Column("lon", Float, nullable=False),
    Column("kind", String(60), nullable=False),
    Column("facility_type", String(4), nullable=False),
    Column("data", JSONText, nullable=False),            # gauges, aliases, sources, estimates
)

links = Table(
    "links", metadata,
    Column("id", String(40), primary_key=True),
    Column("origin", String(40), ForeignKey("locations.id"), nullable=False),
    Column("destination", String(40), ForeignKey("locations.id"), nullable=False),
    Column("mode", String(12), nullable=False),
    Column("operator", String(40), nullable=False, default=""),
    Column("status", String(20), nullable=False, default="operational"),
    Column("data", JSONText, nullable=False),            # the full link record
)

departures = Table(
    "departures", metadata,
    Column("id", String(60), primary_key=True),
    Column("link_id", String(40), nullable=False),
    Column("service", String(60), nullable=False),
    Column("operator", String(40), nullable=False),
    Column("mode", String(12), nullable=False),
    Column("origin", String(40), nullable=False),
    Column("destination", String(40), nullable=False),
    Column("departs_at", UTCDateTime, nullable=False),
    Column("arrives_at", UTCDateTime, nullable=False),
    Column("departs_offset", Integer, nullable=False),   # minutes east of UTC at the origin
    Column("arrives_offset", Integer, nullable=False),
    Column("capacity_teu", Integer, nullable=False),
    Column("reserved_teu", Integer, nullable=False, default=0),
    Column("price_usd_per_teu", Float, nullable=False, default=0.0),
    Column("vehicle", String(80), nullable=False, default=""),
    Column("voyage", String(40), nullable=False, default=""),
    Column("status", String(20), nullable=False, default="scheduled"),
    Index("ix_departures_origin_departs", "origin", "departs_at"),
    Index("ix_departures_destination_arrives", "destination", "arrives_at"),
    Index("ix_departures_voyage", "voyage"),
    # visibility: an operator's departures, read on every read it makes (access.visibility._operated)
    Index("ix_departures_operator", "operator"),
)

bookings = Table(
    "bookings", metadata,
    Column("ref", String(40), primary_key=True),
    Column("shipper", String(40), ForeignKey("parties.id"), nullable=False),
    Column("forwarder", String(40)),
    Column("nominated", JSONText, nullable=False, default=list),
    Column("origin", String(40), nullable=False),
    Column("destination", String(40), nullable=False),
    Column("ready_at", UTCDateTime, nullable=False),
    Column("containers", JSONText, nullable=False),      # [{"count": 2, "size_type": "42G1"}]
    Column("teu", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    Column("price_usd", Float, nullable=False, default=0.0),
    Column("co2e_kg", Float, nullable=False, default=0.0),
    Column("promised_arrival", UTCDateTime),
    Column("route", Text, nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("created_by", String(40), nullable=False, default=""),
    Index("ix_bookings_shipper", "shipper"),
)

booking_legs = Table(
    "booking_legs", metadata,
    Column("booking_ref", String(40), ForeignKey("bookings.ref"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("departure_id", String(60), ForeignKey("departures.id"), nullable=False, index=True),
    Column("origin", String(40), nullable=False),
    Column("destination", String(40), nullable=False),
    Column("departs_at", UTCDateTime, nullable=False),
    Column("arrives_at", UTCDateTime, nullable=False),
    Column("teu", Integer, nullable=False),
    Column("active", Boolean, nullable=False, default=True),   # False once amended away
)

# A client's Idempotency-Key on POST /api/v1/bookings (booking.records.claim_key): claimed in the booking's
# own transaction, so a retry, even one sent while the first is still running, answers with the first
# booking instead of making a second. Kept for booking.records.IDEMPOTENCY_KEEP (24 h).
idempotency_keys = Table(
    "idempotency_keys", metadata,
    Column("party_id", String(40), primary_key=True),    # keys are the caller's party's own
    Column("idem_key", String(255), primary_key=True),
    Column("body_hash", String(64), nullable=False),     # sha256 of the request body, canonical JSON
    Column("booking_ref", String(40)),                   # set in the transaction that claimed the key
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_idempotency_keys_created_at", "created_at"),
)

trips = Table(
    "trips", metadata,
    Column("id", String(60), primary_key=True),
    Column("equipment", String(11), nullable=False),
    Column("booking_ref", String(40), index=True),
    Column("parties", JSONText, nullable=False),
    Column("size_type", String(4)),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_trips_equipment_starts", "equipment", "starts_at"),
)

raw_messages = Table(
    "raw_messages", metadata,
    Column("id", String(64), primary_key=True),          # sha256 of sender + content (ingest.message_id)
    Column("format", String(20), nullable=False),
    Column("source_party", String(40), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("filename", String(300)),
    Column("size", Integer, nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("status", String(20), nullable=False),        # processed | quarantined | partial | pending
    Column("stored", Integer, nullable=False, default=0),
    Column("duplicates", Integer, nullable=False, default=0),
    Column("rejected", Integer, nullable=False, default=0),
    # a post of it was judged by its sender's posting rights (API key, MQTT topic): so is a replay
    Column("checked", Boolean, nullable=False, default=False),
    # [first, last] seq of the events each processing stored: a message's events are read by
    # seq (the log's key) without an index of events.message_id on the append path
    Column("seq_ranges", JSONText),
    # the receipts listed newest first: all of them, or one sender's (corridor messages list)
    Index("ix_raw_messages_received", "received_at"),
    Index("ix_raw_messages_party_received", "source_party", "received_at"),
)

events = Table(
    "events", metadata,
    Column("seq", SeqId, primary_key=True, autoincrement=True),
    Column("dedup_key", String(32), nullable=False, unique=True),
    Column("milestone_key", String(32), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("code", String(4), nullable=False),
    Column("classifier", String(3), nullable=False),
    Column("event_time", UTCDateTime, nullable=False),
    Column("event_offset", Integer, nullable=False),     # sender's UTC offset in minutes, kept
    Column("location", String(40)),
    Column("equipment", String(11)),
    Column("size_type", String(35)),                     # ISO size-type; EDIFACT may give its an..35 text
    Column("empty", Boolean),                            # DCSA emptyIndicatorCode: EMPTY true, LADEN false
    Column("trip_id", String(60)),
    Column("booking_ref", String(40)),
    Column("mode", String(6)),
    Column("voyage", String(40)),
    Column("service", String(60)),                       # the call's own service code (DCSA carrierServiceCode)
    Column("vehicle", String(80)),
    Column("departure_id", String(60)),
    Column("facility_code", String(20)),
    Column("facility_type", String(4)),
    Column("wagon", String(12)),
    Column("refs", JSONText),                            # [[kind, value], ...]
    Column("lat", Float),
    Column("lon", Float),
    Column("source_party", String(40), nullable=False),
    Column("parties", Text, nullable=False),             # " P1 P2 " for LIKE-free membership tests
    Column("message_id", String(64)),
    Column("created_at", UTCDateTime),
    Column("received_at", UTCDateTime, nullable=False),
    Column("event_id", String(100)),
    Column("reason", Text),
    Column("extra", JSONText),
    Index("ix_events_equipment_time", "equipment", "event_time"),
    Index("ix_events_trip_seq", "trip_id", "seq"),
    Index("ix_events_booking", "booking_ref"),
    Index("ix_events_location_time", "location", "event_time"),
    Index("ix_events_departure", "departure_id"),
    # a sender's retraction names its event by eventID alone (store.retractions finds the rows)
    Index("ix_events_event_id", "event_id", sqlite_where=text("event_id IS NOT NULL"),
          postgresql_where=text("event_id IS NOT NULL")),
)

# A sender's withdrawal of an event it sent (DCSA 3.0 isRetracted), kept beside the append-only
# log: reads leave out the sender's events of that eventID (store.retractions.visible), whether
# they came before the retraction or come after it. One row per sender and eventID.
event_retractions = Table(
    "event_retractions", metadata,
    Column("id", SeqId, primary_key=True, autoincrement=True),
    Column("source_party", String(40), nullable=False),  # only this sender's events are withdrawn
    Column("event_id", String(100), nullable=False),     # as events.event_id holds it
    Column("message_id", String(64)),                    # the raw message that first carried it
    Column("retracted_at", UTCDateTime),                 # the sender's time of it (eventUpdatedDateTime)
    Column("received_at", UTCDateTime, nullable=False),
    UniqueConstraint("source_party", "event_id"),
)

quarantine = Table(
    "quarantine", metadata,
    Column("id", SeqId, primary_key=True, autoincrement=True),
    Column("message_id", String(64), ForeignKey("raw_messages.id"), nullable=False, index=True),
    Column("kind", String(10), nullable=False),          # rejected | held (unattributable event)
    Column("format", String(20), nullable=False),
    Column("source_party", String(40), nullable=False),
    Column("reason", Text, nullable=False),
    Column("detail", JSONText),                          # segment, element, expected, the event
    Column("status", String(12), nullable=False),        # open | resolved | replayed
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime),
)

aliases = Table(
    "aliases", metadata,
    Column("kind", String(12), primary_key=True),        # party | location | operator
    Column("value", String(200), primary_key=True),      # the outside code or spelling, folded
    Column("target", String(40), nullable=False),
    Column("note", Text, nullable=False, default=""),
)

consists = Table(
    "consists", metadata,
    Column("id", SeqId, primary_key=True, autoincrement=True),
    Column("carrier_kind", String(8), nullable=False),   # train | wagon | vessel | truck
    Column("carrier_id", String(40), nullable=False),    # train no., wagon no., vessel/voyage
    Column("member_kind", String(10), nullable=False),   # container | wagon | truck
    Column("member_id", String(40), nullable=False),
    Column("since", UTCDateTime, nullable=False),
    Column("until", UTCDateTime),
    Column("source_party", String(40), nullable=False),
    Index("ix_consists_carrier", "carrier_kind", "carrier_id", "since"),
    Index("ix_consists_member", "member_kind", "member_id", "since"),
    # the ingest path reads a message's members' open rows by member id alone
    Index("ix_consists_open_member", "member_id", sqlite_where=text("until IS NULL"),
          postgresql_where=text("until IS NULL")),
)

notices = Table(
    "notices", metadata,
    Column("id", SeqId, primary_key=True, autoincrement=True),
    Column("operator", String(40), nullable=False),
    Column("kind", String(20), nullable=False),          # cancelled | delayed | closure | queue | works
    Column("location", String(40)),
    Column("departure_id", String(60)),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime),
    Column("delay_hours", Float),
    Column("text", Text, nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    # the modes a place's notice holds for (a storm closes the sea, not the railway); null: every mode
    Column("modes", JSONText),
)

subscriptions = Table(
    "subscriptions", metadata,
    Column("id", String(36), primary_key=True),
    Column("party_id", String(40), ForeignKey("parties.id"), nullable=False),
    Column("callback_url", Text, nullable=False),
    Column("secret", LargeBinary, nullable=False),       # raw key bytes (32-64) for HMAC-SHA256
    Column("filters", JSONText, nullable=False),
    Column("cursor", BigInteger, nullable=False, default=0),   # last event seq queued for it
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("active", Boolean, nullable=False, default=True),
)

outbox = Table(
    "outbox", metadata,
    Column("id", SeqId, primary_key=True, autoincrement=True),
    Column("subscription_id", String(36), ForeignKey("subscriptions.id"), nullable=False),
    Column("event_seq", BigInteger, nullable=False),
    Column("status", String(10), nullable=False),        # pending | delivered | dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("subscription_id", "event_seq"),
    Index("ix_outbox_due", "status", "next_attempt_at"),
)

deliveries = Table(
    "deliveries", metadata,
    Column("id", SeqId, primary_key=True, autoincrement=True),
    Column("subscription_id", String(36), nullable=False, index=True),
    Column("attempted_at", UTCDateTime, nullable=False),
    Column("events", Integer, nullable=False),
    Column("status_code", Integer),
    Column("error", Text),
    Column("duration_ms", Float, nullable=False),
)

audit_log = Table(
    "audit_log", metadata,
    Column("id", SeqId, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("party_id", String(40), nullable=False),
    Column("key_id", String(32)),
    Column("action", String(60), nullable=False),        # e.g. POST /api/v1/bookings, read:foreign
    Column("target", String(200), nullable=False, default=""),
    Column("detail", JSONText),
    Index("ix_audit_at", "at"),
)

trip_status = Table(
    "trip_status", metadata,
    Column("trip_id", String(60), primary_key=True),     # incremental current state per trip
    Column("equipment", String(11), nullable=False, index=True),
    Column("booking_ref", String(40)),
    Column("state", String(20), nullable=False),         # planned | at_facility | on_rail | at_sea | delivered
    Column("location", String(40)),
    Column("vehicle", String(80)),
    Column("departure_id", String(60)),
    Column("since", UTCDateTime),
    Column("last_event_seq", BigInteger, nullable=False),
    Column("last_heard_at", UTCDateTime),
    Column("lat", Float),
    Column("lon", Float),
    Column("position_at", UTCDateTime),
    Column("eta", UTCDateTime),
    Column("eta_low", UTCDateTime),
    Column("eta_high", UTCDateTime),
    Column("parties", Text, nullable=False),
    # what the ETA was laid on next: the first laid departure the box has not boarded. Once it has
    # left without the box the time-driven sweep lays the ETA again (tracking.hooks.relay_missed)
    Column("next_departure_id", String(60)),
    Column("next_departs_at", UTCDateTime),
    # the time of the latest ETA Corridor published for the trip (its EST): a new one is published
    # when the ETA moves further than tracking.hooks.ETA_THRESHOLD from it (read on every batch)
    Column("published_eta", UTCDateTime),
    Index("ix_trip_status_next_departs_at", "next_departs_at", sqlite_where=text("next_departs_at IS NOT NULL"),
          postgresql_where=text("next_departs_at IS NOT NULL")),
    # the time-driven alerts' reads (store.tracking.alert_candidates): the boxes gone quiet in the
    # last days, and those at a facility long enough to dwell, over open rows only
    Index("ix_trip_status_last_heard_at", "last_heard_at", sqlite_where=text("state != 'delivered'"),
          postgresql_where=text("state != 'delivered'")),
    Index("ix_trip_status_dwell_since", "since", sqlite_where=text("state = 'at_facility'"),
          postgresql_where=text("state = 'at_facility'")),
)

# A trip's timeline kept up to date event by event (tracking.timeline.fold_in, in the ingest
# transaction), so that a first read of it takes its milestones as sent, not every event of the
# trip and a build: one row per trip, and one per milestone (written again only when it changes).
trip_timelines = Table(
    "trip_timelines", metadata,
    Column("trip_id", String(60), primary_key=True),
    Column("last_seq", BigInteger, nullable=False),      # the newest event folded in
    Column("basis", String(32), nullable=False),         # digest of the place names and zones it was made with
    Column("alerts", Text, nullable=False),              # the body's "alerts", as sent
    Column("milestones", Integer, nullable=False),       # how many (trip_milestones.n runs from 0)
)

trip_milestones = Table(
    "trip_milestones", metadata,
    Column("trip_id", String(60), primary_key=True),
    Column("n", Integer, primary_key=True),              # in the order first reported
    Column("code", String(4), nullable=False),           # with location and vehicle: the milestone
    Column("location", String(40)),
    Column("vehicle", String(80)),
    Column("mode", String(6)),                           # with departure_id: what its leg takes
    Column("departure_id", String(60)),
    Column("planned", String(40)),                       # the times as the sender gave them (the order)
    Column("estimated", String(40)),
    Column("actual", String(40)),
    Column("estimated_range", Text),                     # JSON, as the sender gave it
    Column("seq", BigInteger, nullable=False),           # the newest event folded in
    Column("body", Text, nullable=False),                # JSON: the milestone as sent (local times)
    Column("times", Text, nullable=False),               # JSON: its planned, estimated, actual as sent (its leg's)
    sqlite_with_rowid=False,   # a trip's rows together on disk: a read of them is one or two pages
)

meta_kv = Table(
    "meta_kv", metadata,
    Column("key", String(60), primary_key=True),
    Column("value", Text, nullable=False),
)
