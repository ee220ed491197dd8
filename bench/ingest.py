"""The whole ingest path against bare peers, in the same run.

    python bench/ingest.py [--events 20000] [--per-file 1000] [--edifact-files 200] [--no-pg]

- DCSA JSON and CSV events/s into SQLite through `Ingestor.ingest` (parse, registry, trips,
  de-duplication, raw kept, quarantine) vs a bare sqlite3 `executemany` of the very rows Corridor
  stored, into the same table with the same indexes (goal >= 0.3x).
- EDIFACT files/s through the ingest path vs pydifact's bare `Interchange.from_str` of the same
  files (goal >= 0.7x).
- PostgreSQL: DCSA JSON through the ingest path vs COPY of the same rows (goal >= 0.5x).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from corridor.bootstrap import load_default_network  # noqa: E402
from corridor.domain.equipment import with_check_digit  # noqa: E402
from corridor.ingest.service import Ingestor  # noqa: E402
from corridor.store import Store  # noqa: E402
from corridor.store.tables import events as events_table  # noqa: E402

PLACES = ["CNXIA", "KZDOS", "KZAAU", "AZALA", "GEPTI", "TRIST"]
CODES = ["GTIN", "LOAD", "DISC", "GTOT"]
COLS = [c.name for c in events_table.columns if c.name != "seq"]


def _events(n: int):
    """(container, code, time, place, booking) of n distinct equipment events over n/8 containers."""
    t0 = datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=5)))
    boxes = [with_check_digit(f"TGHU{i:06d}") for i in range(max(1, n // 8))]
    return [(boxes[i % len(boxes)], CODES[(i // len(boxes)) % 4], t0 + timedelta(minutes=i), PLACES[i % 6],
             f"BK{i % len(boxes):06d}") for i in range(n)]


def dcsa_files(n: int, per: int) -> list[bytes]:
    items = [{"eventID": str(uuid.uuid4()), "eventType": "EQUIPMENT", "eventClassifierCode": "ACT",
              "eventDateTime": t.isoformat(), "eventCreatedDateTime": t.isoformat(), "equipmentEventTypeCode": c,
              "equipmentReference": box, "emptyIndicatorCode": "LADEN", "eventLocation": {"UNLocationCode": p},
              "documentReferences": [{"documentReferenceType": "BKG", "documentReferenceValue": b}]}
             for box, c, t, p, b in _events(n)]
    return [json.dumps(items[i:i + per]).encode() for i in range(0, n, per)]


def csv_files(n: int, per: int) -> list[bytes]:
    head = "event_type,event_code,classifier,event_time,location,equipment,booking_ref\n"
    rows = [f"EQUIPMENT,{c},ACT,{t.isoformat()},{p},{box},{b}\n" for box, c, t, p, b in _events(n)]
    return [(head + "".join(rows[i:i + per])).encode() for i in range(0, n, per)]


def edifact_files(n: int, groups: int = 20) -> list[bytes]:
    out = []
    ev = _events(n * groups)
    for f in range(n):
        segs = [f"UNB+UNOC:3+BENCHPORT:ZZZ+CORRIDOR:ZZZ+260302:0810+{f}", f"UNH+1+CODECO:D:95B:UN:ITG14",
                "BGM+34+GI0001+9"]
        for box, _c, t, p, _b in ev[f * groups:(f + 1) * groups]:
            segs += [f"EQD+CN+{box}+45G1:102:5++2+5", f"DTM+7:{t:%Y%m%d%H%M}:203", f"LOC+165+{p}:139:6"]
        segs += [f"CNT+16:{groups}", f"UNT+{len(segs) - 1 + 1}+1", f"UNZ+1+{f}"]
        out.append(("UNA:+.? '" + "'".join(segs) + "'").encode())
    return out


def fresh_store(url: str) -> Store:
    s = Store(url)
    s.upgrade()
    load_default_network(s, days=2)
    from corridor.domain.parties import Party, Role
    from corridor.store.parties import upsert_party
    with s.tx() as conn:
        upsert_party(conn, Party("BENCH", "Bench port", frozenset({Role.TERMINAL}), edi_ids=("BENCHPORT",)))
    return s


def run_ingest(store: Store, files: list[bytes], fmt: str, party: str | None = "BENCH") -> tuple[float, int]:
    ing = Ingestor(store)
    t = time.perf_counter()
    stored = 0
    for content in files:
        o = ing.ingest(content, source_party=party, fmt=fmt)
        assert o.quarantined == 0, o.reasons[:3]
        stored += o.stored
    return time.perf_counter() - t, stored


def stored_rows(store: Store) -> list[tuple]:
    with store.read() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(f"SELECT {','.join(COLS)} FROM events ORDER BY seq")]


def sqlite_peer(template: str, path: str, rows: list[tuple], chunk: int) -> float:
    shutil.copyfile(template, path)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    sql = f"INSERT INTO events ({','.join(COLS)}) VALUES ({','.join('?' * len(COLS))})"
    t = time.perf_counter()
    for i in range(0, len(rows), chunk):
        db.execute("BEGIN IMMEDIATE")
        db.executemany(sql, rows[i:i + chunk])
        db.execute("COMMIT")
    dt = time.perf_counter() - t
    db.close()
    return dt


def pg_db(admin_url: str, name: str) -> str:
    import psycopg
    with psycopg.connect(admin_url, autocommit=True) as a:
        a.execute(f'DROP DATABASE IF EXISTS "{name}"')
        a.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + "/" + name


def pg_copy_peer(url: str, rows: list[tuple], chunk: int) -> float:
    import psycopg
    s = Store(url)
    s.upgrade()
    s.dispose()
    with psycopg.connect(url) as db:
        t = time.perf_counter()
        for i in range(0, len(rows), chunk):
            with db.cursor() as cur:
                with cur.copy(f"COPY events ({','.join(COLS)}) FROM STDIN") as cp:
                    for r in rows[i:i + chunk]:
                        cp.write_row(r)
            db.commit()
        return time.perf_counter() - t


def line(label: str, n: int, dt: float, unit: str = "events") -> None:
    print(f"  {label:<52}: {n / dt:>10,.0f} {unit}/s  ({dt:.2f} s)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--per-file", type=int, default=1_000)
    ap.add_argument("--edifact-files", type=int, default=200)
    ap.add_argument("--pg", default=os.environ.get("CORRIDOR_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--no-pg", action="store_true")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="corridor-bench-ingest-")
    template = os.path.join(tmp, "template.db")
    Store(f"sqlite:///{template}").upgrade()
    n = a.events
    print(f"ingest path, {n:,} events in files of {a.per_file:,} (SQLite WAL; peers: same table and indexes)")
    for fmt, files in (("dcsa-json", dcsa_files(n, a.per_file)), ("csv", csv_files(n, a.per_file))):
        s = fresh_store(f"sqlite:///{tmp}/{fmt}.db")
        ours, stored = run_ingest(s, files, fmt)
        assert stored == n, (stored, n)
        rows = stored_rows(s)
        s.dispose()
        peer = sqlite_peer(template, f"{tmp}/{fmt}-peer.db", rows, a.per_file)
        line(f"corridor ingest {fmt}", n, ours)
        line("peer: bare sqlite3 executemany of the same rows", n, peer)
        print(f"  ratio {fmt}: {peer / ours:.2f}x (goal >= 0.3x)")

    from pydifact.segmentcollection import Interchange
    files = edifact_files(a.edifact_files)
    texts = [f.decode("latin-1") for f in files]
    t = time.perf_counter()
    for x in texts:
        list(Interchange.from_str(x).segments)
    peer = time.perf_counter() - t
    s = fresh_store(f"sqlite:///{tmp}/edifact.db")
    ours, stored = run_ingest(s, files, "edifact", party=None)
    s.dispose()
    print(f"EDIFACT CODECO, {len(files)} files of 20 containers ({stored:,} events stored)")
    line("corridor ingest edifact (parse + store)", len(files), ours, "files")
    line("peer: pydifact Interchange.from_str", len(files), peer, "files")
    print(f"  ratio edifact: {peer / ours:.2f}x (goal >= 0.7x)")

    if a.no_pg:
        return
    try:
        url = pg_db(a.pg, "corridor_bench_ingest")
        peer_url = pg_db(a.pg, "corridor_bench_copy")
    except Exception as e:  # noqa: BLE001
        print(f"PostgreSQL skipped: {e}")
        return
    s = fresh_store(url)
    ours, stored = run_ingest(s, dcsa_files(n, a.per_file), "dcsa-json")
    rows = stored_rows(s)
    s.dispose()
    peer = pg_copy_peer(peer_url, rows, a.per_file)
    print(f"PostgreSQL, {n:,} DCSA events")
    line("corridor ingest dcsa-json", n, ours)
    line("peer: COPY of the same rows", n, peer)
    print(f"  ratio postgresql: {peer / ours:.2f}x (goal >= 0.5x)")


if __name__ == "__main__":
    main()
