"""A bounded load generator (asyncio + httpx) against `corridor serve` on localhost.

    python bench/load.py --db sqlite|postgresql --mode inprocess|nats --workers 1 \\
        [--seconds 15] [--concurrency 16] [--per-post 20] [--json]

One run: a fresh database (`corridor init`), a private nats-server in NATS mode, one API node
(`serve --role api`) and N ingest nodes (`serve --role ingest`). Phase 1 posts DCSA event arrays
to POST /api/v1/events for --seconds; phase 2 asks GET /api/v1/containers/{ref} (timelines) for
--seconds. Reports requests/s and latency percentiles per phase and, in NATS mode, the events/s
until the ingest workers drained the queue.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from cluster import CORRIDOR_BIN, NatsServer, Node, box, counts, dcsa_message, wait_until  # noqa: E402

PG_ADMIN = os.environ.get("CORRIDOR_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def pct(xs: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of xs, in the unit of xs."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, int(round(p / 100 * len(s) + 0.5)) - 1))]


async def _phase(make_request, seconds: float, concurrency: int) -> dict:
    """Run `make_request(client, i)` from `concurrency` tasks for `seconds`; returns rate and latencies."""
    import httpx
    lat, errors, codes = [], 0, {}
    end = time.monotonic() + seconds
    counter = iter(range(10 ** 12))

    async def task(client):
        nonlocal errors
        while time.monotonic() < end:
            i = next(counter)
            t0 = time.perf_counter()
            try:
                r = await make_request(client, i)
                codes[r.status_code] = codes.get(r.status_code, 0) + 1
                if r.status_code >= 400:
                    errors += 1
                    continue
            except httpx.HTTPError:
                errors += 1
                continue
            lat.append((time.perf_counter() - t0) * 1000)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        t0 = time.monotonic()
        await asyncio.gather(*(task(client) for _ in range(concurrency)))
        took = time.monotonic() - t0
    return {"requests": len(lat), "errors": errors, "status": codes, "seconds": round(took, 2),
            "rps": round(len(lat) / took, 1), "p50_ms": round(pct(lat, 50), 1), "p99_ms": round(pct(lat, 99), 1)}


def _database(kind: str, tmp: Path) -> tuple[str, callable]:
    """A fresh database URL and its clean-up."""
    if kind == "sqlite":
        return f"sqlite:///{tmp / 'bench.db'}", lambda: None
    import psycopg
    name = f"corridor_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as a:
        a.execute(f'CREATE DATABASE "{name}"')

    def drop():
        with psycopg.connect(PG_ADMIN, autocommit=True) as a:
            a.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", drop


def run(db: str, mode: str, workers: int, seconds: float, concurrency: int, per_post: int) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="corridor-load-"))
    url, drop = _database(db, tmp)
    admin = f"cor_{secrets.token_hex(6)}_{secrets.token_urlsafe(24)}"
    env = {"CORRIDOR_DATABASE_URL": url, "CORRIDOR_ADMIN_KEY": admin, "CORRIDOR_LOG_LEVEL": "WARNING",
           "CORRIDOR_RATE_LIMIT_PER_MINUTE": str(10 ** 9), "CORRIDOR_TIMETABLE_DAYS": "60"}
    subprocess.run([CORRIDOR_BIN, "init", "--json"], env={**os.environ, **env}, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    from corridor.domain.parties import Party, Role
    from corridor.store import Store
    from corridor.store.parties import upsert_party
    s = Store(url)
    with s.tx() as conn:
        upsert_party(conn, Party("BENCH", "Bench Logistics", frozenset({Role.SHIPPER})))
    s.dispose()
    nats = NatsServer().start() if mode == "nats" else None
    if nats:
        env["CORRIDOR_NATS_URL"] = nats.url
    nodes: list[Node] = []
    try:
        api = Node("api", env, log=tmp / "api.log").start()
        nodes.append(api)
        for i in range(workers if nats else 0):
            nodes.append(Node("ingest", env, log=tmp / f"ingest{i}.log").start())
        base = f"http://127.0.0.1:{api.port}"
        h = {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"}
        run_id = uuid.uuid4().hex[:8]

        async def post(client, i):
            body, _ = dcsa_message(run_id, i * per_post, per_post)
            return await client.post(f"{base}/api/v1/events?party=BENCH", content=body, headers=h)

        t0 = time.monotonic()
        ingest = asyncio.run(_phase(post, seconds, concurrency))
        sent = ingest["requests"] * per_post
        ingest["events_posted"] = sent
        ingest["events_per_s_api"] = round(sent / ingest["seconds"], 1)
        if nats:   # end to end: until the workers committed every event that was acknowledged
            # done when no kept message is pending (a quarantined message is done: it says why)
            wait_until(lambda: sum(counts(url)["raw"].values()) >= ingest["requests"]
                       and not counts(url)["raw"].get("pending"), 1800, 0.2)
            ingest["drain_s"] = round(time.monotonic() - t0, 2)
            ingest["events_per_s_end_to_end"] = round(sent / ingest["drain_s"], 1)
        c = counts(url)
        ingest["events_stored"], ingest["duplicates"] = c["events"], c["events"] - c["distinct_keys"]
        ingest["messages_quarantined"] = c["raw"].get("quarantined", 0) + c["raw"].get("partial", 0)
        boxes = sorted({box(i % 500) for i in range(min(sent, 500))})

        async def timeline(client, i):
            return await client.get(f"{base}/api/v1/containers/{random.choice(boxes)}", headers=h)

        query = asyncio.run(_phase(timeline, seconds, concurrency))
        return {"db": db, "mode": mode, "workers": workers if nats else 0, "concurrency": concurrency,
                "per_post": per_post, "ingest": ingest, "timeline": query}
    finally:
        for n in reversed(nodes):
            n.stop()
        if nats:
            nats.close()
        drop()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--mode", choices=["inprocess", "nats"], default="nats")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--per-post", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    out = run(a.db, a.mode, a.workers, a.seconds, a.concurrency, a.per_post)
    print(json.dumps(out) if a.json else json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
