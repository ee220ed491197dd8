"""Bench: one simulated year of the corridor twin through the real ingest path into SQLite.

    python bench/twin.py [--days 365] [--seed 1] [--profile]

Prints trains, containers, events stored and wall seconds (target: >= 300 trains and 30,000
containers in <= 60 s on a 2-core machine), and the model's own time without ingest.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import tempfile
import time
from pathlib import Path

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
    args = ap.parse_args()
    if args.parse_workers is None:
        from corridor.twin.run import default_parse_workers
        args.parse_workers = default_parse_workers()
    # the real path: tracking (status, ETA, alerts, outbox) runs inside every ingest transaction,
    # as under `corridor simulate` and `corridor serve`
    ensure_wired()
    t = time.perf_counter()
    model = simulate(None, days=args.days, seed=args.seed)
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
        store.dispose()
    print(json.dumps({"simulated_days": args.days, "trains": s["trains"], "containers": s["containers"],
                      "teu": s["teu"], "events_stored": s["events"], "messages": s["messages"],
                      "model_only_seconds": round(model_s, 2), "parse_workers": args.parse_workers, "ingest_seconds": s["ingest_seconds"],
                      "wall_seconds": s["wall_seconds"],
                      # this process's own CPU (the store step; without the parse workers): on a
                      # shared machine the wall time also counts what others ran
                      "main_cpu_seconds": round(cpu, 2),
                      "events_per_second": round(s["events"] / max(s["wall_seconds"], 1e-9)),
                      "target_met": s["trains"] >= 300 and s["containers"] >= 30000 and s["wall_seconds"] <= 60},
                     indent=2))
    if prof:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
