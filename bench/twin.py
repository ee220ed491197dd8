"""Bench: one simulated year of the corridor twin through the real ingest path into SQLite.

    python bench/twin.py [--days 365] [--seed 1] [--profile] [--no-peer]

Prints trains, containers, events stored and wall seconds (target: >= 300 trains and 30,000
containers in <= 60 s on a 2-core machine), the model's own time without ingest, and the peer
measured in the same run: bare sqlite3 `executemany` of the very rows the run stored into the
events table (same columns and indexes, a migrated empty file), one transaction per simulated
day as the run commits its windows: what storing the year's events costs with nothing else done.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import tempfile
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corridor.bootstrap import load_default_network
from corridor.store import Store
from corridor.twin.run import simulate
from corridor.wiring import ensure_wired


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=float, default=365)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--parse-workers", type=int, default=None,
                    help="processes parsing EDIFACT beside the store step (default: as `corridor "
                         "simulate`, 1 with two cores or more)")
    ap.add_argument("--profile", action="store_true", help="print the 25 costliest functions of the ingest run")
    ap.add_argument("--no-peer", action="store_true", help="skip the bare executemany of the stored rows")
    args = ap.parse_args()
    if args.parse_workers is None:
        from corridor.twin.run import default_parse_workers
        args.parse_workers = default_parse_workers()
    # the real path: tracking (status, ETA, alerts, outbox) runs inside every ingest transaction,
    # as under `corridor simulate` and `corridor serve`
    ensure_wired()
    t = time.perf_counter()
    simulate(None, days=args.days, seed=args.seed)   # the model alone, without a store
    model_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as d:
        store = Store(f"sqlite:///{Path(d) / 'twin.db'}")
        store.upgrade()
        # a timetable that covers the whole run and the journeys still under way at its end (as
        # `corridor init` gives): shippers book on it all year, and ETAs are laid on it
        load_default_network(store, days=int(args.days) + 60)
        prof = cProfile.Profile() if args.profile else None
        if prof:
            prof.enable()
        cpu = time.process_time()
        r = simulate(store, days=args.days, seed=args.seed, parse_workers=args.parse_workers)
        cpu = time.process_time() - cpu
        if prof:
            prof.disable()
        s = r.summary()
        peer = None if args.no_peer else bare_insert(store, d, max(1, round(args.days)))
        store.dispose()
    print(json.dumps({"simulated_days": args.days, "trains": s["trains"], "containers": s["containers"],
                      "teu": s["teu"], "events_stored": s["events"], "messages": s["messages"],
                      "model_only_seconds": round(model_s, 2), "parse_workers": args.parse_workers, "ingest_seconds": s["ingest_seconds"],
                      "wall_seconds": s["wall_seconds"],
                      # this process's own CPU (the store step; without the parse workers): on a
                      # shared machine the wall time also counts what others ran
                      "main_cpu_seconds": round(cpu, 2),
                      "events_per_second": round(s["events"] / max(s["wall_seconds"], 1e-9)),
                      **({} if peer is None else {
                          "peer_bare_executemany_seconds": round(peer, 2),
                          "peer_share_of_wall": round(peer / max(s["wall_seconds"], 1e-9), 3)}),
                      "target_met": s["trains"] >= 300 and s["containers"] >= 30000 and s["wall_seconds"] <= 60},
                     indent=2))
    if prof:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)


def bare_insert(store: Store, tmp: str, windows: int) -> float:
    """Seconds for bare sqlite3 to insert the rows `store` holds in its events table into a
    migrated empty file, in `windows` transactions (bench/ingest.py's peer)."""
    from ingest import SqlitePeer, stored_rows
    template = str(Path(tmp) / "peer-template.db")
    empty = Store(f"sqlite:///{template}")
    empty.upgrade()
    empty.dispose()
    rows = stored_rows(store)
    chunk = -(-len(rows) // windows)
    peer = SqlitePeer(template, str(Path(tmp) / "peer.db"))
    # Corridor's own page cache and memory map (corridor.store.db): a floor, not a handicap
    peer.db.execute("PRAGMA cache_size=-65536")
    peer.db.execute("PRAGMA mmap_size=268435456")
    try:
        return sum(peer.insert(rows[i:i + chunk]) for i in range(0, len(rows), chunk))
    finally:
        peer.close()


if __name__ == "__main__":
    main()
