"""Two ingest workers taking in reports of the same container at the same moment attribute them to
one trip (PostgreSQL runs writers concurrently; SQLite serialises them) — on both stores."""

from __future__ import annotations

import json
import threading

from sqlalchemy import func, select

from corridor.domain.parties import Party, Role
from corridor.ingest.service import Ingestor
from corridor.store.parties import upsert_party
from corridor.store.tables import quarantine, trips
from test_ingest import dcsa_event


def test_concurrent_first_reports_make_one_trip(loaded_store):
    with loaded_store.tx() as conn:
        upsert_party(conn, Party("PORTAKTAU", "Aktau", frozenset({Role.TERMINAL}), "KZ", frozenset({"KZ_AKX"})))
    boxes = ["MSKU1234565", "TGHU7700030", "CSQU3054383"]
    msgs = [json.dumps([dcsa_event(f"2026-03-02T08:{m:02d}:00+05:00", box=b, code=c) for b in boxes]).encode()
            for m, c in ((10, "GTIN"), (11, "LOAD"), (12, "DISC"), (13, "GTOT"))]
    ing = Ingestor(loaded_store)
    barrier, errors = threading.Barrier(len(msgs)), []

    def worker(raw: bytes) -> None:
        barrier.wait()
        try:
            ing.ingest(raw, source_party="PORTAKTAU", fmt="dcsa-json")
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(m,)) for m in msgs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with loaded_store.read() as conn:
        per_box = dict(conn.execute(select(trips.c.equipment, func.count()).group_by(trips.c.equipment)).all())
        held = conn.execute(select(func.count()).select_from(quarantine)).scalar_one()
    assert per_box == {b: 1 for b in boxes} and held == 0
