"""Bench: ETA accuracy on simulated journeys, 7, 3 and 1 days before the actual arrival.

    python bench/eta.py [--days 90] [--seed 1] [--start 2025-01-01] [--by-leg] [--db FILE]

The twin runs through the real ingest path with the tracking hooks on, so Corridor publishes its
ETA (EST discharge events) exactly as it would live. For each delivered container trip of a
booking, the ETA "known at" a horizon is the latest one Corridor had published from reports up
to that moment (the simulated time of a published ETA is the latest report it was computed
from; of one the time-driven sweep laid again, the sweep's simulated time, its `created_at`).
Its error against the actual arrival at the destination is compared, in the same run, with the
naive baseline: the booking's planned (promised) arrival as it stood at that moment — the plan of
its latest (re-)booking made by then (Corridor's PLN events of the booking, stamped when the plan
was made). The booking's final promised arrival would be hindsight: a box that missed its ferry is
re-booked onto the next, and its plan then moves to where the box really goes.

The timetable covers the whole run and the journeys still under way at its end (as bench/twin.py
and `corridor init` give): with a shorter one the ETA of a box finds no departure to lay its last
legs on and the stale ETA stays published. The run starts on a fixed day (the scenario's start
unless --start says), so figures of two runs compare: the Caspian storms depend on the month.

`--by-leg` adds where the error arises: per horizon, the samples grouped by what the box was last
reported doing at that moment (the report's code and place, e.g. "DISC KZAAU": on the quay at
Aktau), each with the ETA's and the plan's mean signed and absolute error. `--db FILE` keeps the
store the run filled (SQLite) for a closer look.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sqlalchemy import select  # noqa: E402

from corridor.bootstrap import load_default_network  # noqa: E402
from corridor.store import Store  # noqa: E402
from corridor.store.tables import bookings, events, locations, trips  # noqa: E402
from corridor.tracking import hooks  # noqa: E402,F401 - the tracking steps on the ingest path
from corridor.twin.run import simulate  # noqa: E402
from corridor.twin.scenario import load_scenario  # noqa: E402

HORIZONS_D = (7, 3, 1)


def samples(store: Store, where: dict[int, list[tuple[str, float]]] | None = None
            ) -> dict[int, list[tuple[float, float]]]:
    """Horizon (days) -> [(ETA error h (ETA - actual), |planned error| h)] over trips with an actual arrival.

    `where`, when given, is filled alike: horizon -> [(the box's last report by then, "CODE PLACE",
    the plan's signed error h)], in the order of the samples."""
    with store.read() as conn:
        refs: dict[str, set[str]] = {}
        for r in conn.execute(select(locations.c.id, locations.c.code)).all():
            refs[r.id] = {r.id, r.code} - {None}
        plan = {r.ref: (r.destination, r.promised_arrival) for r in conn.execute(
            select(bookings.c.ref, bookings.c.destination, bookings.c.promised_arrival)).all()}
        trip_bkg = dict(conn.execute(select(trips.c.id, trips.c.booking_ref).where(
            trips.c.booking_ref.is_not(None))).all())
        # every plan a booking had: its PLN arrival events at the destination, with when each was made
        plans: dict[str, list[tuple]] = {}
        for r in conn.execute(select(events.c.booking_ref, events.c.seq, events.c.location, events.c.event_time,
                                     events.c.created_at)
                              .where(events.c.classifier == "PLN", events.c.source_party == "CORRIDOR",
                                     events.c.code.in_(("ARRI", "DISC")), events.c.booking_ref.is_not(None))
                              .order_by(events.c.seq)).all():
            plans.setdefault(r.booking_ref, []).append((r.created_at, r.location, r.event_time))
        rows = conn.execute(select(events.c.trip_id, events.c.seq, events.c.code, events.c.classifier,
                                   events.c.event_time, events.c.location, events.c.source_party,
                                   events.c.created_at)
                            .where(events.c.trip_id.is_not(None), events.c.kind != "ALERT")
                            .order_by(events.c.trip_id, events.c.seq)).all()
    by_trip: dict[str, list] = {}
    for r in rows:
        by_trip.setdefault(r.trip_id, []).append(r)
    out: dict[int, list[tuple[float, float]]] = {h: [] for h in HORIZONS_D}
    for trip_id, evs in by_trip.items():
        bkg = trip_bkg.get(trip_id)
        if bkg not in plan or plan[bkg][1] is None:
            continue
        dest, promised = plan[bkg]
        arrived = min((e.event_time for e in evs if e.classifier == "ACT" and e.source_party != "CORRIDOR"
                       and e.code in ("ARRI", "DISC") and e.location in refs.get(dest, ())), default=None)
        if arrived is None:
            continue
        as_of, published = None, []     # (simulated time it was known, ETA)
        reports = []                    # (time, "CODE PLACE") of the box's reports, for --by-leg
        for e in evs:
            if e.source_party == "CORRIDOR" and e.classifier == "EST" and as_of is not None:
                # laid by the sweep: known from its time, later than the last report
                published.append((max(as_of, e.created_at or as_of), e.event_time))
            elif e.classifier == "ACT" and e.source_party != "CORRIDOR":
                as_of = max(as_of or e.event_time, e.event_time)
                if e.code != "POSI":
                    reports.append((e.event_time, f"{e.code} {e.location}"))
        at_dest = [(made, t) for made, loc, t in plans.get(bkg, ()) if loc in refs.get(dest, ())]
        for h in HORIZONS_D:
            cut = arrived - timedelta(days=h)
            known = [eta for t, eta in published if t <= cut]
            if known:
                err = (known[-1] - arrived).total_seconds() / 3600        # signed: late ETAs above 0
                # the plan as it stood at the cut (the first one, made at booking, if none was by then)
                then = [t for made, t in at_dest if made is not None and made <= cut]
                planned = then[-1] if then else (at_dest[0][1] if at_dest else promised)
                out[h].append((err, abs((planned - arrived).total_seconds()) / 3600))
                if where is not None:
                    last = max((r for r in reports if r[0] <= cut), default=(None, "none yet"))
                    where[h].append((last[1], (planned - arrived).total_seconds() / 3600))
    return out


def by_leg(got: dict[int, list[tuple[float, float]]], where: dict[int, list[tuple[str, float]]],
           least: int = 10) -> dict:
    """Per horizon, per last report ("CODE PLACE", groups of at least `least` samples, the rest as
    "other"): samples, ETA and plan mean signed error and MAE (h), largest total ETA error first."""
    out = {}
    for h, xs in got.items():
        groups: dict[str, list[tuple[float, float]]] = {}
        for (err, _), (at, plan_err) in zip(xs, where[h]):
            groups.setdefault(at, []).append((err, plan_err))
        rows: dict[str, list] = {}
        for at, g in groups.items():
            rows.setdefault(at if len(g) >= least else "other", []).extend(g)
        out[f"{h}d"] = {at: {"n": len(g), "eta_bias_h": round(statistics.fmean(e for e, _ in g), 1),
                             "eta_mae_h": round(statistics.fmean(abs(e) for e, _ in g), 1),
                             "plan_bias_h": round(statistics.fmean(p for _, p in g), 1),
                             "plan_mae_h": round(statistics.fmean(abs(p) for _, p in g), 1)}
                        for at, g in sorted(rows.items(), key=lambda kv: -sum(abs(e) for e, _ in kv[1]))}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=float, default=90)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start", type=date.fromisoformat, default=None,
                    help="first simulated day (default: the scenario's start)")
    ap.add_argument("--by-leg", action="store_true",
                    help="also break the error down by what the box was last reported doing at each horizon")
    ap.add_argument("--db", type=Path, default=None, help="fill this SQLite file (new) and keep it")
    args = ap.parse_args()
    start = args.start or load_scenario().start
    with tempfile.TemporaryDirectory() as d:
        store = Store(f"sqlite:///{args.db or Path(d) / 'eta.db'}")
        store.upgrade()
        # from the day before the start: the run begins on `start` only when the timetable covers it
        load_default_network(store, days=int(args.days) + 60, start=start - timedelta(days=1))
        t = time.perf_counter()
        r = simulate(store, days=args.days, seed=args.seed)
        sim_s = time.perf_counter() - t
        where: dict[int, list[tuple[str, float]]] = {h: [] for h in HORIZONS_D}
        got = samples(store, where)
        store.dispose()
    report = {"simulated_days": args.days, "seed": args.seed, "start": r.twin.t0.date().isoformat(),
              "simulation_seconds": round(sim_s, 1),
              "events": r.summary()["events"], "horizons": {}}
    for h, xs in got.items():
        if not xs:
            report["horizons"][f"{h}d"] = {"trips": 0}
            continue
        eta_mae = statistics.fmean(abs(x) for x, _ in xs)
        base_mae = statistics.fmean(y for _, y in xs)
        report["horizons"][f"{h}d"] = {"trips": len(xs), "eta_mae_h": round(eta_mae, 1),
                                       "planned_mae_h": round(base_mae, 1),
                                       "eta_median_h": round(statistics.median(abs(x) for x, _ in xs), 1),
                                       # mean of ETA - actual: above 0, the ETA said later than the box came
                                       "eta_bias_h": round(statistics.fmean(x for x, _ in xs), 1),
                                       "better_than_planned": eta_mae < base_mae}
    if args.by_leg:
        report["by_last_report"] = by_leg(got, where)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
