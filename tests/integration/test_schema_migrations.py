"""The Alembic migrations build exactly the schema `store.tables` declares, on both stores.

Several changes to the schema land as separate migrations; a table, column or index declared in
one place and not the other would make SQLite and PostgreSQL deployments drift apart silently.
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from corridor.store.tables import metadata


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
