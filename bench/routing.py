"""Routing bench: the connection scan against Dijkstra on the time-expanded graph, plus calibration.

    python bench/routing.py [--queries 300] [--seed 7] [--synthetic]

Builds the default network and a year's generated timetable (or, if those modules are missing or
--synthetic is given, a seeded 50-station, 5,000-connection year), answers the same random
earliest-arrival queries with corridor.planning.router and with networkx (and rustworkx, if
installed) Dijkstra on a time-expanded graph built independently from the same departures, and
prints agreement, ms per query, speed-up and the Pareto / earliest-arrival time ratio. Then it
compares model transit days with the public figures of corridor-facts.md §1.3.
Needs networkx (pip install networkx; rustworkx optional) - bench only, not a runtime dependency.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import date, datetime, timedelta, timezone

import networkx as nx

from corridor.domain.network import Corridor, FacilityType, Link, Location, Mode, Network
from corridor.domain.timetable import Departure
from corridor.planning.router import Timetable

UTC = timezone.utc
START = date(2026, 1, 1)


def default_year():
    """The packaged network and its generated year, or None when those modules are absent."""
    try:
        from corridor.network_file import load_network
        from corridor.schedule import generate_timetable
    except ImportError:
        return None
    net = load_network()
    return net, generate_timetable(net, START, days=365, seed=1), "default network, generated year"


def synthetic_year(seed: int = 1, stations: int = 50, connections: int = 5000):
    """A seeded random network of `stations` and `connections` departures over one year."""
    rng = random.Random(seed)
    fams = list(Corridor)
    locs = {f"S{i:02d}": Location(f"S{i:02d}", None, f"Station {i}", "KZ", "Asia/Almaty", 0, 0, "rail",
                                  FacilityType.RAMP, min_transfer_hours=rng.choice([0, 1, 2]))
            for i in range(stations)}
    ids = list(locs)
    links = []
    for i, a in enumerate(ids):   # a ring (so every station connects) plus random chords
        for b in {ids[(i + 1) % stations], rng.choice(ids), rng.choice(ids)} - {a}:
            lk = Link(f"L{len(links)}", a, b, Mode.RAIL, frozenset(rng.sample(fams, rng.choice([1, 2]))),
                      rng.uniform(100, 1500), rng.uniform(5, 60), dwell_hours=rng.choice([0, 2, 6]))
            links += [lk, lk.reversed()]
    deps = []
    for n in range(connections):
        lk = rng.choice(links)
        start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(365 * 24 * 60))
        deps.append(Departure(f"D{n}", lk.id, "S", "op", lk.mode, lk.origin, lk.destination, start,
                              start + timedelta(hours=lk.running_hours), 100, 100.0))
    return Network(locs, links, "synthetic"), sorted(deps, key=lambda d: d.departs_at), \
        f"synthetic {stations} stations, {connections} connections"


class TimeExpanded:
    """The same departures as a time-expanded graph: per (family, station) a chain of waiting
    events, one edge per departure from 'ready for it' (departure - connection time) to its arrival."""

    def __init__(self, net: Network, departures: list[Departure]):
        links = {lk.id: lk for lk in net.directed_links() if not lk.suez_restricted}
        wayp = {s for s, x in net.locations.items() if x.facility_type is FacilityType.WAYP}
        events: dict[tuple, set[int]] = {}
        edges = []
        for d in departures:
            lk = links.get(d.link_id)
            if lk is None or d.status == "cancelled":
                continue
            mct = max(lk.dwell_hours, net.locations[d.origin].min_transfer_hours)
            ready = int(d.departs_at.timestamp() - mct * 3600)
            arr = int(d.arrives_at.timestamp())
            for fam in lk.corridors:   # at a waypoint the box stays with its carrier
                # at a waypoint a box stays on its ship (as the router keys it)
                u = (fam, d.origin, (d.operator, d.vehicle, d.voyage) if d.origin in wayp else "")
                v = (fam, d.destination, (d.operator, d.vehicle, d.voyage) if d.destination in wayp else "")
                events.setdefault(u, set()).add(ready)
                events.setdefault(v, set()).add(arr)
                edges.append(((u, ready), (v, arr), arr - ready))
        self.index: dict[tuple, int] = {}
        self.times: dict[tuple, list[int]] = {}
        wait = []
        for key, ts in events.items():
            ts = sorted(ts)
            self.times[key] = ts
            for a, b in zip(ts, ts[1:]):
                wait.append(((key, a), (key, b), b - a))
        self.edges = [(self._id(a), self._id(b), w) for a, b, w in wait + edges]

    def _id(self, node) -> int:
        return self.index.setdefault(node, len(self.index))

    def sources(self, stop: str, t0: int) -> list[tuple[int, int]]:
        """(node, wait) of the first event at or after t0 at `stop` in each family."""
        out = []
        for fam in Corridor:
            ts = self.times.get((fam, stop, ""))
            if ts:
                i = next((i for i, t in enumerate(ts) if t >= t0), None)
                if i is not None:
                    out.append((self.index[((fam, stop, ""), ts[i])], ts[i] - t0))
        return out

    def sinks(self, stop: str) -> list[int]:
        return [self.index[((fam, stop, ""), t)] for fam in Corridor for t in self.times.get((fam, stop, ""), ())]


def bench(net, deps, label, queries, seed):
    """Run the comparison and print its figures."""
    t = time.perf_counter()
    tt = Timetable(net, deps)
    compile_s = time.perf_counter() - t
    t = time.perf_counter()
    te = TimeExpanded(net, deps)
    g = nx.DiGraph()
    g.add_weighted_edges_from(te.edges)
    sink = len(te.index)
    build_s = time.perf_counter() - t
    stops = [s for s, x in net.locations.items() if x.facility_type is not FacilityType.WAYP]
    rng = random.Random(seed)
    qs = []
    for _ in range(queries):
        o, d = rng.sample(stops, 2)
        qs.append((o, d, datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(240 * 24 * 60))))
    for d in {q[1] for q in qs}:
        tt.earliest_arrival(stops[0] if stops[0] != d else stops[1], d, qs[0][2])   # warm per-destination lists

    t = time.perf_counter()
    csa = [tt.earliest_arrival(o, d, r) for o, d, r in qs]
    csa_ms = (time.perf_counter() - t) * 1000 / queries
    t = time.perf_counter()
    par = [tt.pareto(o, d, r) for o, d, r in qs]
    par_ms = (time.perf_counter() - t) * 1000 / queries

    def nx_query(o, d, r):
        t0 = int(r.timestamp())
        g.add_nodes_from((-1, sink))
        g.add_edges_from((-1, n, {"weight": w}) for n, w in te.sources(o, t0))
        g.add_edges_from((n, sink, {"weight": 0}) for n in te.sinks(d))
        try:
            return t0 + nx.dijkstra_path_length(g, -1, sink)
        except nx.NetworkXNoPath:
            return None
        finally:
            g.remove_node(-1)
            g.remove_node(sink)

    t = time.perf_counter()
    ref = [nx_query(o, d, r) for o, d, r in qs]
    nx_ms = (time.perf_counter() - t) * 1000 / queries
    got = [int(j.arrives_at.timestamp()) if j else None for j in csa]
    agree = sum(a == b for a, b in zip(got, ref))
    found = sum(x is not None for x in ref)

    print(f"== {label}: {len(tt.departures):,} operating departures, {len(tt._fwd):,} connections "
          f"(per family), {len(net.locations)} stations")
    print(f"   compile: scanner {compile_s * 1000:.0f} ms; time-expanded graph {build_s * 1000:.0f} ms "
          f"({len(te.index):,} nodes, {len(te.edges):,} edges)")
    print(f"   {queries} random earliest-arrival queries ({found} with a route)")
    print(f"   agreement on arrival times: {agree}/{queries} = {100 * agree / queries:.1f} %")
    print(f"   connection scan     {csa_ms:7.3f} ms/query")
    print(f"   networkx Dijkstra   {nx_ms:7.3f} ms/query   speed-up x{nx_ms / csa_ms:.1f} (goal >= 5)")
    rx_line = rustworkx_line(te, qs, got, csa_ms)
    if rx_line:
        print(rx_line)
    print(f"   Pareto (arrival, price, CO2e) {par_ms:7.3f} ms/query = x{par_ms / csa_ms:.1f} "
          f"an earliest-arrival query (goal <= 20); mean set size "
          f"{statistics.mean(len(p) for p in par if p) if any(par) else 0:.1f}")
    # the Pareto scan looks 75 days ahead (its default horizon); compare within it
    within = [(q, j, p) for q, j, p in zip(qs, csa, par) if j and j.arrives_at - q[2] <= timedelta(days=75)]
    held = sum(bool(p) and p[0].arrives_at == j.arrives_at for _, j, p in within)
    print(f"   Pareto sets holding the earliest arrival: {held}/{len(within)} (journeys within 75 days)")
    return tt


def rustworkx_line(te: TimeExpanded, qs, got, csa_ms) -> str | None:
    try:
        import rustworkx as rx
    except ImportError:
        return "   rustworkx: not installed"
    g = rx.PyDiGraph()
    g.add_nodes_from(range(len(te.index) + 2))
    g.add_edges_from([(a, b, float(w)) for a, b, w in te.edges])
    src, sink = len(te.index), len(te.index) + 1
    agree, t = 0, time.perf_counter()
    for (o, d, r), want in zip(qs, got):
        t0 = int(r.timestamp())
        added = [g.add_edge(src, n, float(w)) for n, w in te.sources(o, t0)]
        added += [g.add_edge(n, sink, 0.0) for n in te.sinks(d)]
        dist = rx.dijkstra_shortest_path_lengths(g, src, float, goal=sink)
        res = t0 + int(dist[sink]) if sink in dist else None
        agree += res == want
        for e in added:
            g.remove_edge_from_index(e)
    ms = (time.perf_counter() - t) * 1000 / len(qs)
    return (f"   rustworkx Dijkstra  {ms:7.3f} ms/query   scan/rustworkx x{ms / csa_ms:.1f}; "
            f"agreement {agree}/{len(qs)}")


# public figures (corridor-facts.md §1.3): where the day counts start matters
CALIBRATION = [
    ("CN_XIA", "AZ_ABS", "Xi'an -> Baku (Absheron)", (11, 17)),
    ("CN_XIA", "AZ_ALA", "Xi'an -> Baku port (Alat)", (11, 17)),
    ("CN_HRS", "GE_PTI", "China-KZ border (Horgos) -> Poti", (10, 12)),
    ("CN_AKL", "GE_PTI", "China-KZ border (Alashankou) -> Poti", (10, 12)),
    ("CN_XIA", "GE_PTI", "Xi'an -> Poti (ESTIMATE 13-15 d)", (13, 15)),
]


def calibration(tt: Timetable) -> None:
    """Model door-to-door days (ready on each Monday of the year) against the public ranges."""
    print("== calibration: model days (ready each Monday, earliest arrival) vs public figures")
    mondays = [datetime(2026, 1, 5, 8, tzinfo=UTC) + timedelta(weeks=w) for w in range(44)]
    for o, d, label, (lo, hi) in CALIBRATION:
        days = []
        for r in mondays:
            j = tt.earliest_arrival(o, d, r)
            if j:
                days.append((j.arrives_at - r).total_seconds() / 86400)
        if not days:
            print(f"   {label:42s} no route")
            continue
        q = statistics.quantiles(days, n=10)
        inside = sum(lo <= x <= hi for x in days)
        print(f"   {label:42s} public {lo}-{hi} d | model median {statistics.median(days):5.1f} d, "
              f"p10-p90 {q[0]:.1f}-{q[-1]:.1f} d, {100 * inside / len(days):.0f} % of weeks inside")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--synthetic", action="store_true", help="only the synthetic 50-station year")
    args = ap.parse_args()
    year = None if args.synthetic else default_year()
    if year:
        tt = bench(*year, args.queries, args.seed)
        calibration(tt)
    bench(*synthetic_year(), args.queries, args.seed)


if __name__ == "__main__":
    main()
