"""KPI computation at 1M events (10M with --big): through the store vs DuckDB over a Parquet export.

    python bench/kpi.py [--events N] [--big] [--url sqlite:///...]

Synthetic container trips (6 moves each, Xi'an -> Khorgos -> Aktau) are appended with the store's
own append path; the store side runs `corridor_kpis` (volumes + transit), the DuckDB side exports
the events to Parquet (pyarrow) and computes TEU by month and leg p50/p90 in SQL. The DuckDB side
is skipped with the reason when duckdb or pyarrow is not installed (pip install duckdb pyarrow).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from corridor.domain.equipment import with_check_digit
from corridor.domain.events import Classifier, Event, EventKind, TransportCall
from corridor.store import Store
from corridor.store import events as evstore

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
ROUTE = [("LOAD", 0, "CNXIA"), ("DEPA", 2, "CNXIA"), ("ARRI", 72, "CNHRS"), ("DEPA", 84, "CNHRS"),
         ("ARRI", 160, "KZAAU"), ("DISC", 162, "KZAAU")]


def fill(store: Store, n_events: int, chunk: int = 20000) -> None:
    """Append n_events synthetic moves (trip ids set, so they count as container trips)."""
    trips = n_events // len(ROUTE)
    batch = []
    for i in range(trips):
        box = with_check_digit(f"BNCU{i % 1_000_000:06d}")
        start = T0 + timedelta(minutes=37 * i)
        train = f"T{i // 50}"
        for code, h, loc in ROUTE:
            kind = EventKind.TRANSPORT if code in ("ARRI", "DEPA") else EventKind.EQUIPMENT
            batch.append(Event(kind, code, Classifier.ACT, start + timedelta(hours=h + (i % 7)), location=loc,
                               equipment=box, transport_call=TransportCall("RAIL", loc, voyage=train),
                               trip_id=f"{box}-{i}", source_party="BENCH"))
        if len(batch) >= chunk:
            with store.tx() as conn:
                evstore.append(conn, batch, start)
            batch = []
    if batch:
        with store.tx() as conn:
            evstore.append(conn, batch, T0)
    from sqlalchemy import insert
    from corridor.store.tables import trips as trips_table
    with store.tx() as conn:
        rows = [{"id": f"{with_check_digit(f'BNCU{i % 1_000_000:06d}')}-{i}",
                 "equipment": with_check_digit(f"BNCU{i % 1_000_000:06d}"), "booking_ref": None,
                 "parties": ["BENCH"], "size_type": "42G1", "starts_at": T0, "created_at": T0} for i in range(trips)]
        for k in range(0, len(rows), 20000):
            conn.execute(insert(trips_table), rows[k:k + 20000])


def store_side(store: Store) -> tuple[float, dict]:
    from corridor.analytics.kpi import corridor_kpis
    t = time.perf_counter()
    with store.read() as conn:
        doc = corridor_kpis(conn, None, T0, T0 + timedelta(days=3650), sections=("volumes", "transit"))
    return time.perf_counter() - t, doc


def duckdb_side(store: Store, tmp: Path) -> tuple[float, float, list] | str:
    try:
        import duckdb
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as e:
        return f"skipped: {e.name} is not installed (pip install duckdb pyarrow)"
    from sqlalchemy import select
    from corridor.store.tables import events
    t = time.perf_counter()
    cols = ["trip_id", "code", "event_time", "location"]
    with store.read() as conn:
        rows = conn.execute(select(*[events.c[c] for c in cols])).all()
    pq.write_table(pa.table({c: [r[i] for r in rows] for i, c in enumerate(cols)}), tmp / "events.parquet")
    export_s = time.perf_counter() - t
    t = time.perf_counter()
    con = duckdb.connect()
    p = str(tmp / "events.parquet")
    con.execute(f"""
        WITH e AS (SELECT * FROM read_parquet('{p}')),
        legs AS (SELECT location AS a, lead(location) OVER w AS b, event_time AS t0, lead(event_time) OVER w AS t1,
                        code, lead(code) OVER w AS next_code
                 FROM e WHERE code IN ('DEPA','ARRI') WINDOW w AS (PARTITION BY trip_id ORDER BY event_time))
        SELECT a, b, count(*), quantile_cont(epoch(t1 - t0) / 3600, 0.5), quantile_cont(epoch(t1 - t0) / 3600, 0.9)
        FROM legs WHERE code = 'DEPA' AND next_code = 'ARRI' GROUP BY a, b ORDER BY a, b""")
    out = con.fetchall()
    con.execute(f"SELECT strftime(min(event_time), '%Y-%m') m, count(*) * 2 FROM read_parquet('{p}') "
                f"GROUP BY trip_id").fetchall()
    return export_s, time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--big", action="store_true", help="10M events")
    ap.add_argument("--url", default=None, help="store URL (default: a temporary SQLite file)")
    a = ap.parse_args()
    n = 10_000_000 if a.big else a.events
    with tempfile.TemporaryDirectory() as d:
        store = Store(a.url or f"sqlite:///{d}/bench.db")
        store.upgrade()
        t = time.perf_counter()
        fill(store, n)
        print(f"filled {n:,} events in {time.perf_counter() - t:.1f} s")
        s, doc = store_side(store)
        legs = {(r['from'], r['to']): r['hours'] for r in doc['transit']['legs']}
        print(f"store ({store.dialect}) KPIs: {s:.1f} s  ({n / s:,.0f} events/s); "
              f"TEU {doc['volumes']['total']['teu']:,}; legs {legs}")
        dk = duckdb_side(store, Path(d))
        if isinstance(dk, str):
            print(f"duckdb: {dk}")
        else:
            export_s, q, out = dk
            print(f"duckdb: parquet export {export_s:.1f} s, KPI queries {q:.2f} s; legs {out}")


if __name__ == "__main__":
    main()
