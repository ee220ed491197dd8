"""Bench: tracking queries and the timeline endpoint against plain peers, in the same run.

    python bench/tracking.py [--events 1000000] [--big] [--samples 2000] [--seconds 8] [--url URL] [--db FILE]

1. A store is filled through Corridor's own append path with container trips (40 events each),
   and folded by the tracking hook's status step (bulk, as on ingest): `trip_status` and the
   stored timelines (`trip_timelines`, `trip_milestones`). `--db FILE` keeps that SQLite store
   and reuses it (migrated first) when it already holds the same number of trips.
2. Status (by container number) and timeline (one trip) through Corridor's functions, p50/p99,
   against a plain indexed SELECT of the same rows on the same connection (raw DB-API cursor):
   for status the box's latest trip and its status row (`status`; `status_rows_only` keeps the
   earlier peer, the status rows of the box without the trips row), for a timeline the trip's
   events. A timeline is measured twice: cold (nothing kept in the process: the trip's head row,
   one indexed row, then its stored milestones in one range read and the JSON made from them)
   and kept (each trip read before: the head row, compared with the one the kept JSON was made
   from, and that JSON as a fresh dict). `timelines_from_stored` counts the sampled trips whose
   stored timeline is current, so that a read takes it; the others are built from their events
   (a store filled before migration 0003, or with other place names or zones): not the path
   measured.
   Goals: p50 <= 1.5x, p99 <= 5x.
3. HTTP requests/s of GET /api/v1/containers/{box} against GET /health of the same uvicorn server
   (a subprocess on a free localhost port), 64 concurrent keep-alive clients on asyncio streams,
   bounded by time and count: cold (boxes the server never read before: each from its stored
   timeline) and kept (1,000 boxes, each read once before), each in 4 windows taken in turns
   with /health (`--seconds` in all per side) and put against those /health windows: the
   machine may be shared, and both sides then see the same load. The key is an administrator's,
   so every read of a shipper's box is audited, as in production (queued and stored in batches
   off the request path; the rows the server stored by its shutdown are counted against the
   reads it answered). Goal: >= 0.5x.
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
from sqlalchemy import event, func, insert, select  # noqa: E402

from corridor.access import keys  # noqa: E402
from corridor.access.visibility import viewer_for  # noqa: E402
from corridor.bootstrap import load_default_network  # noqa: E402
from corridor.domain.equipment import with_check_digit  # noqa: E402
from corridor.domain.events import Classifier, Event, EventKind, TransportCall  # noqa: E402
from corridor.domain.parties import Party, Role  # noqa: E402
from corridor.store import Store  # noqa: E402
from corridor.store import events as evstore  # noqa: E402
from corridor.store import parties as partystore  # noqa: E402
from corridor.store.tables import audit_log, trips  # noqa: E402
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
        if n_trips >= 100 * chunk_trips and (start // chunk_trips) % (n_trips // chunk_trips // 10) == 0:
            print(f"filled {len(made) * PER_TRIP:,} events", file=sys.stderr, flush=True)
    return made


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(p * (len(s) - 1)))]


def timed(fn, arg) -> float:
    t = time.perf_counter()
    fn(arg)
    return (time.perf_counter() - t) * 1000


def ratios(a: list[float], b: list[float]) -> dict:
    p50, p99 = pct(a, .5), pct(a, .99)
    q50, q99 = pct(b, .5), pct(b, .99)
    return {"corridor_p50_ms": round(p50, 3), "corridor_p99_ms": round(p99, 3),
            "plain_p50_ms": round(q50, 3), "plain_p99_ms": round(q99, 3),
            "p50_ratio": round(p50 / q50, 2), "p99_ratio": round(p99 / q99, 2),
            "goal_met": p50 / q50 <= 1.5 and p99 / q99 <= 5}


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

        def cold_timeline(tid):
            timeline.forget(conn)     # outside the timed call: nothing kept for this trip
            return timed(lambda t: timeline.trip_timeline(conn, t, v), tid)

        def box_status(box):
            return timed(lambda b: timeline.container_status(conn, b, v), box)

        cases = {
            # the rows the answer is built from: the box's latest trip and that trip's status row
            "status": (box_status, plain("SELECT t.id, s.* FROM trips t LEFT JOIN trip_status s ON s.trip_id = t.id "
                                     f"WHERE t.equipment = {ph} ORDER BY t.starts_at DESC LIMIT 1"), 0),
            # the earlier peer: the status rows of the box, of whichever trip (no trips row read)
            "status_rows_only": (box_status, plain(f"SELECT * FROM trip_status WHERE equipment = {ph}"), 0),
            "timeline_kept": (lambda tid: timed(lambda t: timeline.trip_timeline(conn, t, v), tid),
                              plain(f"SELECT * FROM events WHERE trip_id = {ph} ORDER BY seq"), 1),
            "timeline_cold": (cold_timeline, plain(f"SELECT * FROM events WHERE trip_id = {ph} ORDER BY seq"), 1),
        }
        for name, (ours, peer, idx) in cases.items():
            for box_trip in pick[:50]:          # warm both sides (connection, statements, pages)
                ours(box_trip[idx]), peer(box_trip[idx])
            if name == "timeline_kept":         # each trip read once before: what a repeated read costs
                for box_trip in pick:
                    timeline.trip_timeline(conn, box_trip[1], v)
            a, b = [], []
            for i, box_trip in enumerate(pick):  # interleaved, taking turns to go first: the first
                arg = box_trip[idx]               # to read a trip brings its pages in for the other
                if i % 2:
                    a.append(ours(arg))
                    b.append(timed(peer, arg))
                else:
                    b.append(timed(peer, arg))
                    a.append(ours(arg))
            out[name] = ratios(a, b)
        stored = sum(timeline.stored_is_current(conn, tid) for _, tid in pick)
        out["timelines_from_stored"] = f"{stored}/{len(pick)}"
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
    """Requests/s over `clients` concurrent keep-alive connections until time or count runs out
    (localhost only). Plain HTTP/1.1 on asyncio streams: httpx spent more CPU per request than the
    server's /health, so with it the bench measured its own client (36 against 317 requests/s)."""
    assert base.startswith("http://127.0.0.1:")
    port = int(base.rsplit(":", 1)[1])
    head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": f"127.0.0.1:{port}", **headers}.items())
    done, errors = 0, 0
    end = time.monotonic() + seconds

    async def worker(k: int):
        nonlocal done, errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = k
        try:
            while time.monotonic() < end and done + errors < max_requests:
                writer.write(f"GET {paths[i % len(paths)]} HTTP/1.1\r\n{head}\r\n".encode())
                i += clients
                got = await reader.readuntil(b"\r\n\r\n")
                length = next((int(h.split(b":", 1)[1]) for h in got.split(b"\r\n")
                               if h.lower().startswith(b"content-length:")), 0)
                await reader.readexactly(length)
                if got[9:12] == b"200":
                    done += 1
                else:
                    errors += 1
        finally:
            writer.close()
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
        boxes = [f"/api/v1/containers/{box}" for box, _ in random.Random(3).sample(made, len(made))]
        hot, cold = boxes[:1000], boxes[1000:]    # the server reads each cold box for the first time
        h = {"Authorization": f"Bearer {key}"}
        first, health_cold = paired(base, cold, h, seconds, fresh=True)
        warm = asyncio.run(load(base, hot, h, 60, len(hot)))    # read each kept box once
        kept, health_kept = paired(base, hot, h, seconds, fresh=False)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    with store.read() as conn:   # the key is new: its audit rows are this run's
        audited = conn.execute(select(func.count()).select_from(audit_log)
                               .where(audit_log.c.key_id == keys.split(key)[0])).scalar_one()
    reads = sum(r["requests"] for r in first + kept) + warm["requests"]
    ratio_cold = summed(first)["per_second"] / max(summed(health_cold)["per_second"], 1e-9)
    ratio_kept = summed(kept)["per_second"] / max(summed(health_kept)["per_second"], 1e-9)
    return {"clients": 64, "trivial_health": summed(health_cold + health_kept),
            "containers_cold": {**summed(first), "health_per_second": summed(health_cold)["per_second"]},
            "containers_kept": {**summed(kept), "health_per_second": summed(health_kept)["per_second"]},
            "audited": {"reads_answered": reads, "audit_rows_stored": audited},
            "ratio_cold": round(ratio_cold, 2), "ratio_kept": round(ratio_kept, 2),
            "goal_met": min(ratio_cold, ratio_kept) >= 0.5}


WINDOWS = 4   # each side's time, split into windows taken in turns


def paired(base: str, paths: list[str], headers: dict, seconds: float, fresh: bool) -> tuple[list, list]:
    """`load` of `paths` and of /health in alternating windows (`seconds` in all for each side), so
    that both see the same background load on a shared machine; with `fresh` no path is asked
    twice (each window takes its own part of `paths`). The windows of each: (ours, health)."""
    ours, health = [], []
    part = len(paths) // WINDOWS
    for w in range(WINDOWS):
        health.append(asyncio.run(load(base, ["/health"], headers, seconds / WINDOWS, 200000)))
        mine = paths[w * part:(w + 1) * part] if fresh else paths
        ours.append(asyncio.run(load(base, mine, headers, seconds / WINDOWS, len(mine) if fresh else 200000)))
    return ours, health


def summed(windows: list[dict]) -> dict:
    """One `load` result of several windows."""
    done, wall = sum(w["requests"] for w in windows), sum(w["seconds"] for w in windows)
    return {"requests": done, "errors": sum(w["errors"] for w in windows), "seconds": round(wall, 2),
            "per_second": round(done / wall, 1), "windows": len(windows)}


def filled(store: Store, n: int) -> tuple[list[tuple[str, str]], float | None]:
    """(box, trip) of the bench's trips, filling the store first unless it holds them already
    (a kept `--db`); the fill time, or None when nothing was filled."""
    want = max(1, n // PER_TRIP)
    with store.read() as conn:
        have = conn.execute(select(func.count()).select_from(trips)).scalar_one()
    if have == want:
        with store.read() as conn:   # ids sort in fill order (zero-padded container serials)
            return [tuple(r) for r in conn.execute(select(trips.c.equipment, trips.c.id).order_by(trips.c.id))], None
    if have:
        raise SystemExit(f"the store holds {have} trips, not the {want} of this run: give an empty one")
    filler = Store(store.url)
    if filler.dialect == "sqlite":
        # the fill's own connections get a 1 GiB page cache: inserts into the random-key indexes
        # (dedup_key, milestone_key) otherwise reread their pages from the OS, ever more as the
        # store grows (a quarter of the fill at 400k events, against a 2 MiB cache). The
        # measurements use the store's own settings.
        event.listen(filler.engine, "connect", lambda c, _r: c.execute("PRAGMA cache_size=-1048576"))
    try:
        load_default_network(filler, days=30)
        t = time.perf_counter()
        made = fill(filler, n)
        return made, time.perf_counter() - t
    finally:
        filler.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--big", action="store_true", help="10M events")
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--url", help="a migrated, empty store (default: a fresh SQLite file)")
    ap.add_argument("--db", help="a SQLite file to fill once and keep for later runs of the same size")
    args = ap.parse_args()
    n = 10_000_000 if args.big else args.events
    with tempfile.TemporaryDirectory() as d:
        url = args.url or f"sqlite:///{Path(args.db).resolve() if args.db else Path(d) / 'tracking.db'}"
        store = Store(url)
        store.upgrade()
        made, fill_s = filled(store, n)
        report = {"events": len(made) * PER_TRIP, "trips": len(made), "store": store.dialect,
                  "fill_seconds": round(fill_s, 1) if fill_s else "kept store",
                  "fill_events_per_second": round(len(made) * PER_TRIP / fill_s) if fill_s else None}
        report["queries"] = queries(store, made, args.samples)
        report["http"] = http(store, made, args.seconds)
        store.dispose()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
