"""Parsing on another core (corridor.ingest.pool) gives what in-process parsing gives (both stores)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from corridor.ingest.pool import ParsePool
from corridor.ingest.service import Ingestor, parse
from corridor.store.ingest import Registry

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "edifact"


def test_the_pool_parses_and_stores_the_same_as_the_ingest_path(loaded_store):
    files = [p.read_bytes() for p in sorted(FIXTURES.glob("*.edi"))]
    assert len(files) >= 5
    at = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
    ing = Ingestor(loaded_store)
    with ParsePool(loaded_store, workers=1) as pool:
        futures = [pool.submit(f, "edifact", None, at) for f in files]
        pooled = [fu.result() for fu in futures]
    with loaded_store.read() as conn:
        local = [parse(f, "edifact", "", at, tz_for=ing._tz_for(conn, Registry(conn))) for f in files]
    assert sum(len(r.events) for r in pooled) > 0
    for a, b in zip(pooled, local):
        assert (a.events, a.rejections, a.warnings, a.schedule, a.stowage, a.meta) == \
               (b.events, b.rejections, b.warnings, b.schedule, b.stowage, b.meta)
    for f, r in zip(files, pooled):
        dry = ing.ingest(f, fmt="edifact", received_at=at, dry_run=True)
        real = ing.ingest(f, fmt="edifact", received_at=at, parsed=r)
        assert (real.stored, real.quarantined, real.reasons) == (dry.stored, dry.quarantined, dry.reasons)
