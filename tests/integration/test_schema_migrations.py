"""The Alembic migrations build exactly the schema `store.tables` declares, on both stores.

Several changes to the schema land as separate migrations; a table, column or index declared in
one place and not the other would make SQLite and PostgreSQL deployments drift apart silently.
"""

from __future__ import annotations

from datetime import datetime, timezone

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select

from corridor.domain.events import Classifier, Event, EventKind, TransportCall
from corridor.store import events as evstore
from corridor.store.db import alembic_config
from corridor.store.tables import events, metadata


def test_migrated_schema_matches_the_declared_tables(store):
    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diffs == [], f"migrations and store/tables.py disagree: {diffs}"


def test_the_open_consist_read_uses_an_index(store):
    # ingest reads each message's containers' open consist rows by member id alone
    with store.engine.connect() as conn:
        if store.engine.dialect.name == "sqlite":
            plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT id FROM consists WHERE member_id IN ('A', 'B') AND until IS NULL"))
            assert "ix_consists_open_member" in plan, plan
        else:
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")   # only this transaction
            plan = " ".join(r[0] for r in conn.exec_driver_sql(
                "EXPLAIN SELECT id FROM consists WHERE member_id = ANY('{A,B}'::text[]) AND until IS NULL"))
            assert "ix_consists_open_member" in plan, plan


def test_raw_content_is_compressed_with_lz4_on_postgresql(store):
    # pglz took ~3 ms of each 400 KB raw insert on the ingest transaction's path (migration 0005)
    if store.engine.dialect.name != "postgresql":
        return
    with store.engine.connect() as conn:
        built_with_lz4 = conn.exec_driver_sql(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'").scalar()
        method = conn.exec_driver_sql(
            "SELECT attcompression FROM pg_attribute WHERE attrelid = 'raw_messages'::regclass "
            "AND attname = 'content'").scalar()
        assert method == ("l" if built_with_lz4 else ""), method
        big = ("CODECO " * 20_000).encode()   # compressible: stored compressed, and read back whole
        conn.exec_driver_sql("INSERT INTO raw_messages (id, format, source_party, received_at, size, content, status, "
                             "stored, duplicates, rejected) VALUES ('lz4-probe', 'edifact', '', now(), %s, %s, "
                             "'pending', 0, 0, 0)", (len(big), big))
        assert conn.exec_driver_sql("SELECT content FROM raw_messages WHERE id = 'lz4-probe'").scalar() == big
        if built_with_lz4:
            assert conn.exec_driver_sql("SELECT pg_column_compression(content) FROM raw_messages "
                                        "WHERE id = 'lz4-probe'").scalar() == "lz4"
        conn.rollback()


def test_0007_adds_service_size_type_and_empty_and_keeps_earlier_rows(store):
    # rows stored before 0007 read back with the three unknown (NULL), later rows with them
    def box(code: str, hour: int) -> Event:
        return Event(kind=EventKind.EQUIPMENT, code=code, classifier=Classifier.ACT,
                     event_time=datetime(2026, 3, 2, hour, tzinfo=timezone.utc), location="KZAAU",
                     equipment="MSKU1234565", size_type="22GP", empty=True,
                     transport_call=TransportCall(mode="VESSEL", location="KZAAU", voyage="V1", service="FE1"))
    received = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)
    with store.tx() as conn:
        evstore.append(conn, [box("GTIN", 8)], received)
    cfg = alembic_config(store.url)
    command.downgrade(cfg, "0006_trip_status_alert_indexes")
    store.engine.dispose()   # pooled connections may hold the old table's shape
    with store.engine.connect() as conn:
        cols = {c["name"] for c in inspect(conn).get_columns("events")}
        assert not cols & {"service", "size_type", "empty"}
        assert conn.exec_driver_sql("SELECT code FROM events").scalars().all() == ["GTIN"]
    command.upgrade(cfg, "head")
    store.engine.dispose()
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    with store.tx() as conn:
        evstore.append(conn, [box("LOAD", 9)], received)
        old, new = [evstore.row_to_event(r) for r in conn.execute(evstore.select_events())]
    assert (old.transport_call.service, old.size_type, old.empty) == (None, None, None)
    assert (new.transport_call.service, new.size_type, new.empty) == ("FE1", "22GP", True)
    assert new == box("LOAD", 9)
    with store.read() as conn:
        assert conn.execute(select(events.c.service).where(events.c.code == "LOAD")).scalar_one() == "FE1"
