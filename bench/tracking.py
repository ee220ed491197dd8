"""Bench: tracking queries and the timeline endpoint against plain peers, in the same run.

    python bench/tracking.py [--events 1000000] [--big] [--samples 2000] [--seconds 8] [--url URL]

1. A store is filled through Corridor's own append path with container trips (40 events each),
   and `trip_status` is folded by the tracking hook's status step (bulk, as on ingest).
2. Status (by container number) and timeline (one trip) through Corridor's functions, p50/p99,
   against a plain indexed SELECT of the same rows on the same connection (raw DB-API cursor).
   Goals: p50 <= 1.5x, p99 <= 5x.
3. HTTP requests/s of GET /api/v1/containers/{box} against GET /health of the same uvicorn server
   (a subprocess on a free localhost port), 64 concurrent httpx asyncio clients, bounded by time
   and count. Goal: >= 0.5x.
`--big` makes it 10M events.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import httpx  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from corridor.access import keys  # noqa: E402
from corridor.access.visibility import viewer_for  # noqa: E402
from corridor.bootstrap import load_default_network  # noqa: E402
from corridor.domain.equipment import with_check_digit  # noqa: E402
from corridor.domain.events import Classifier, Event, EventKind, TransportCall  # noqa: E402
from corridor.domain.parties import Party, Role  # noqa: E402
from corridor.store import Store  # noqa: E402
from corridor.store import events as evstore  # noqa: E402
from corridor.store import parties as partystore  # noqa: E402
from corridor.store.tables import trips  # noqa: E402
from corridor.tracking import status, timeline  # noqa: E402

PER_TRIP = 40
LEGS = [("KZDOS", "KZAAU", "RAIL"), ("KZAAU", "AZALA", "VESSEL"), ("AZALA", "GEPTI", "RAIL"),
        ("GEPTI", "TRIST", "VESSEL")]


def trip_events(i: int, box: str, trip_id: str, t0: datetime) -> list[Event]:
    """40 events of one container trip: gate-in, legs (load/depart/arrive/discharge), positions."""
    out: list[Event] = []
    t = t0 + timedelta(minutes=37 * i)
    refs = (("BKG", f"B{i}"),)
    parties = frozenset({"SHIP%d" % (i % 50)})

    def add(code, kind, where, tc=None, lat=None, lon=None):
        nonlocal t
        t += timedelta(hours=5)
        out.append(Event(kind, code, Classifier.ACT, t, location=where, equipment=box, transport_call=tc,
                         references=refs, trip_id=trip_id, source_party="BENCH", parties=parties, lat=lat, lon=lon))
    add("GTIN", EventKind.EQUIPMENT, "KZDOS")
    while len(out) < PER_TRIP:
        for o, d, mode in LEGS:
            tc = TransportCall(mode, location=o, voyage=f"V{i % 700}{o[:2]}")
            for code, where in (("LOAD", o), ("DEPA", o), ("ARRI", d), ("DISC", d)):
                add(code, EventKind.EQUIPMENT if code in ("LOAD", "DISC") else EventKind.TRANSPORT, where,
                    TransportCall(mode, location=where, voyage=tc.voyage))
            add("POSI", EventKind.IOT, None, lat=42.0 + (len(out) % 7) / 10, lon=50.0 + (len(out) % 5) / 10)
            if len(out) >= PER_TRIP:
                break
    return out[:PER_TRIP]


def fill(store: Store, n_events: int, chunk_trips: int = 500) -> list[tuple[str, str]]:
    """Append n_events through the event store and fold them into trip_status; returns (box, trip)."""
    n_trips = max(1, n_events // PER_TRIP)
    t0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
    made: list[tuple[str, str]] = []
    for start in range(0, n_trips, chunk_trips):
        batch, trip_rows = [], []
        for i in range(start, min(n_trips, start + chunk_trips)):
            box = with_check_digit(f"BNCU{i:06d}")
            tid = f"{box}-202501010000"
            made.append((box, tid))
            trip_rows.append({"id": tid, "equipment": box, "booking_ref": f"B{i}", "parties": [f"SHIP{i % 50}"],
                              "starts_at": t0, "created_at": t0})
            batch += trip_events(i, box, tid, t0)
        with store.tx() as conn:
            conn.execute(insert(trips), trip_rows)
            stored, _ = evstore.append(conn, batch)
            status.apply(conn, stored)
    return made


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(p * (len(s) - 1)))]


def timed(fn, arg) -> float:
    t = time.perf_counter()
    fn(arg)
    return (time.perf_counter() - t) * 1000


def queries(store: Store, made: list[tuple[str, str]], samples: int) -> dict:
    rnd = random.Random(7)
    pick = [made[rnd.randrange(len(made))] for _ in range(samples)]
    out = {}
    with store.read() as conn:
        v = viewer_for(conn, Party("ADM", "admin", frozenset({Role.ADMIN})))
        raw = conn.connection.dbapi_connection
        ph = "?" if store.dialect == "sqlite" else "%s"

        def plain(sql):
            def run(arg):
                cur = raw.cursor()
                cur.execute(sql, (arg,))
                rows = cur.fetchall()
                cur.close()
                return rows
            return run

        def corridor_status(box):
            tid = timeline.latest_trip(conn, box, v)
            return status.get(conn, tid)

        cases = {
            "status": (corridor_status, plain(f"SELECT * FROM trip_status WHERE equipment = {ph}"), 0),
            "timeline": (lambda tid: timeline.trip_timeline(conn, tid, v),
                         plain(f"SELECT * FROM events WHERE trip_id = {ph} ORDER BY seq"), 1),
        }
        for name, (ours, peer, idx) in cases.items():
            for box_trip in pick[:50]:          # warm both sides
                ours(box_trip[idx]), peer(box_trip[idx])
            a, b = [], []
            for box_trip in pick:               # interleaved: both see the same cache state
                a.append(timed(ours, box_trip[idx]))
                b.append(timed(peer, box_trip[idx]))
            p50, p99 = pct(a, .5), pct(a, .99)
            q50, q99 = pct(b, .5), pct(b, .99)
            out[name] = {"corridor_p50_ms": round(p50, 3), "corridor_p99_ms": round(p99, 3),
                         "plain_p50_ms": round(q50, 3), "plain_p99_ms": round(q99, 3),
                         "p50_ratio": round(p50 / q50, 2), "p99_ratio": round(p99 / q99, 2),
                         "goal_met": p50 / q50 <= 1.5 and p99 / q99 <= 5}
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SERVER = """
import sys, uvicorn
from corridor.api.app import create_app
from corridor.settings import Settings
from corridor.store import Store
url, port = sys.argv[1], int(sys.argv[2])
app = create_app(Settings(database_url=url, rate_limit_per_minute=10**9, log_level="WARNING"), store=Store(url))
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
"""


async def load(base: str, paths: list[str], headers: dict, seconds: float, max_requests: int,
               clients: int = 64) -> dict:
    """Requests/s over `clients` concurrent loops until time or count runs out (localhost only)."""
    assert base.startswith("http://127.0.0.1:")
    done, errors = 0, 0
    end = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30) as c:
        async def worker(k: int):
            nonlocal done, errors
            i = k
            while time.monotonic() < end and done + errors < max_requests:
                r = await c.get(paths[i % len(paths)])
                i += clients
                if r.status_code == 200:
                    done += 1
                else:
                    errors += 1
        t = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(clients)))
        wall = time.perf_counter() - t
    return {"requests": done, "errors": errors, "seconds": round(wall, 2), "per_second": round(done / wall, 1)}


def http(store: Store, made: list[tuple[str, str]], seconds: float) -> dict:
    with store.tx() as conn:
        partystore.upsert_party(conn, Party("BENCHADM", "bench admin", frozenset({Role.ADMIN})))
        key = keys.create_key(conn, "BENCHADM", scopes=("read",))
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVER, store.url, str(port)],
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")})
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        rnd = random.Random(3)
        boxes = [f"/api/v1/containers/{made[rnd.randrange(len(made))][0]}" for _ in range(5000)]
        h = {"Authorization": f"Bearer {key}"}
        trivial = asyncio.run(load(base, ["/health"], h, seconds, 200000))
        tl = asyncio.run(load(base, boxes, h, seconds, 200000))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return {"clients": 64, "trivial_health": trivial, "timeline": tl,
            "ratio": round(tl["per_second"] / max(trivial["per_second"], 1e-9), 2),
            "goal_met": tl["per_second"] >= 0.5 * trivial["per_second"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--big", action="store_true", help="10M events")
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--url", help="a migrated, empty store (default: a fresh SQLite file)")
    args = ap.parse_args()
    n = 10_000_000 if args.big else args.events
    with tempfile.TemporaryDirectory() as d:
        store = Store(args.url or f"sqlite:///{Path(d) / 'tracking.db'}")
        store.upgrade()
        load_default_network(store, days=30)
        t = time.perf_counter()
        made = fill(store, n)
        fill_s = time.perf_counter() - t
        report = {"events": len(made) * PER_TRIP, "trips": len(made), "store": store.dialect,
                  "fill_seconds": round(fill_s, 1), "fill_events_per_second": round(len(made) * PER_TRIP / fill_s)}
        report["queries"] = queries(store, made, args.samples)
        report["http"] = http(store, made, args.seconds)
        store.dispose()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
