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
