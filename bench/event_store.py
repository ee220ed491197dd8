"""Event store append path vs a bare sqlite3 executemany of the same rows with the same indexes.

    python bench/event_store.py [--events 1000000] [--chunk 10000]

Both sides write the same table definition (created by Corridor's migration) into fresh SQLite
files with the same pragmas (WAL, synchronous=NORMAL). Corridor's side includes building the
Event objects' keys, the ON CONFLICT de-duplication and RETURNING of what was stored; the peer is
handed ready-made tuples and only inserts. The ratio printed is Corridor / peer in events per second.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from corridor.domain.equipment import with_check_digit  # noqa: E402
from corridor.domain.events import Classifier, Event, EventKind, TransportCall  # noqa: E402
from corridor.store import Store  # noqa: E402
from corridor.store import events as ev  # noqa: E402

CODES = ["GTIN", "LOAD", "DISC", "GTOT"]
PLACES = ["CNXIA", "KZHOR", "KZAAU", "AZALA", "GEPTI", "TRIST"]


def make_events(n: int) -> list[Event]:
    """n distinct, realistic equipment events over 20,000 containers."""
    t0 = datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=5)))
    boxes = [with_check_digit(f"TGHU{i:06d}") for i in range(20000)]
    return [Event(EventKind.EQUIPMENT, CODES[i % 4], Classifier.ACT, t0 + timedelta(minutes=i),
                  location=PLACES[i % 6], equipment=boxes[i % 20000], source_party="BENCH",
                  transport_call=TransportCall("RAIL", voyage=f"T{i // 400}"), references=(("BKG", f"B{i // 40}"),))
            for i in range(n)]


def corridor_append(path: str, events: list[Event], chunk: int) -> float:
    store = Store(f"sqlite:///{path}")
    store.upgrade()
    t = time.perf_counter()
    for i in range(0, len(events), chunk):
        with store.tx() as conn:
            ev.append(conn, events[i:i + chunk])
    dt = time.perf_counter() - t
    with store.read() as conn:
        assert ev.count(conn) == len(events)
    store.dispose()
    return dt


def peer_executemany(path: str, template: str, events: list[Event], chunk: int) -> float:
    """Bare sqlite3: same DDL and indexes (copied from a migrated empty file), tuples ready-made.
    The very peer bench/ingest.py uses, fed the rows Corridor would write."""
    from ingest import COLS, sqlite_peer   # bench/ingest.py, beside this script
    now = datetime.now(timezone.utc)
    rows = [ev.event_row(e, now) for e in events]
    return sqlite_peer(template, path, [tuple(_plain(r[c]) for c in COLS) for r in rows], chunk)


def _plain(v):
    import json
    if isinstance(v, datetime):
        return v.astimezone(timezone.utc).replace(tzinfo=None).isoformat(" ")
    if isinstance(v, (list, dict)):
        return json.dumps(v)
    return v


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--chunk", type=int, default=10_000)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="corridor-bench-")
    events = make_events(a.events)
    template = os.path.join(tmp, "template.db")
    s = Store(f"sqlite:///{template}")
    s.upgrade()
    s.dispose()
    peer = peer_executemany(os.path.join(tmp, "peer.db"), template, events, a.chunk)
    ours = corridor_append(os.path.join(tmp, "corridor.db"), events, a.chunk)
    n = a.events
    print(f"event store append, {n:,} events, chunks of {a.chunk:,}, SQLite WAL (same table and indexes)")
    print(f"  corridor append (keys + de-dup + insert)     : {n / ours:>10,.0f} events/s  ({ours:.1f} s)")
    print(f"  peer: bare sqlite3 executemany                  : {n / peer:>10,.0f} events/s  ({peer:.1f} s)")
    print(f"  ratio corridor/peer: {peer / ours:.2f}x")


if __name__ == "__main__":
    main()
