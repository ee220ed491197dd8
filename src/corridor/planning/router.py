"""Timetable router: earliest arrival, latest departure and Pareto (arrival, price, CO2e) journeys.

Why a Connection Scan (CSA) and not RAPTOR or Dijkstra: every corridor departure is one hop over
one link (a train path or a sailing), the network has tens of stations and a year holds a few
thousand to tens of thousands of departures. CSA keeps them in one array sorted by departure time
and answers a query with a single forward pass from the ready time that stops at the arrival:
no heap, no graph built per query, and the reverse scan (latest departure) and the
multi-criteria scan with label bags (Pareto) are the same loop. RAPTOR's rounds pay off when trips
call at many stops; here trips are single links, so its routes degenerate into connections.
Dijkstra needs a time-expanded graph of ~3 nodes per departure and a priority queue;
bench/routing.py measures it against this scanner on the same timetable.

Rules applied (network-draft routing_rules): a journey uses links sharing one corridor family
(each family gets its own copy of every station, so a link listing two families connects to
each); the minimum connection time before a departure is the larger of its link's dwell (border
formalities, gauge change, port handling) and the station's min_transfer_hours, also at the
origin as the cargo cut-off; departures without room for the TEU and cancelled ones are skipped;
sea waypoints are never origin, destination or transshipment point (across one, a journey stays
on the same vessel and voyage of the same carrier: the generated timetable sails each ship on
past the waypoint under its voyage number; departures that name no vessel or voyage connect
there within their carrier); no station is visited twice.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from heapq import heappop, heappush
from itertools import islice
from zoneinfo import ZoneInfo

from corridor.domain.errors import DomainError, UnknownPlace
from corridor.domain.network import Corridor, FacilityType, Link, Mode, Network
from corridor.domain.timetable import Departure

from . import emissions, pricing

FreeTeu = Callable[[str], int]
FAMILIES: tuple[Corridor, ...] = (Corridor.MIDDLE, Corridor.NORTHERN, Corridor.SEA)
_INF = 1 << 62


@dataclass(frozen=True, slots=True)
class Journey:
    """A way from origin to destination as legs (departures) a booking can reserve."""

    legs: tuple[Departure, ...]
    family: Corridor
    price_usd_per_teu: float
    co2e_kg_per_teu: float
    ready_by: datetime | None = None   # latest-departure queries: latest time to be at the origin

    @property
    def departs_at(self) -> datetime:
        return self.legs[0].departs_at

    @property
    def arrives_at(self) -> datetime:
        return self.legs[-1].arrives_at

    @property
    def stops(self) -> tuple[str, ...]:
        """Location ids from origin to destination."""
        return (self.legs[0].origin, *(d.destination for d in self.legs))

    @property
    def departure_ids(self) -> tuple[str, ...]:
        return tuple(d.id for d in self.legs)


class Timetable:
    """Departures compiled for scanning: sorted arrays of (times, station copies per family, costs)."""

    def __init__(self, network: Network, departures: Iterable[Departure],
                 factors: Mapping[Mode, emissions.Factor] | None = None, *,
                 include_suez: bool = False, include_planned: bool = False):
        """Compile `departures`; Suez-restricted and planned links stay out unless a scenario asks.

        With `include_suez` the restricted sailings are compiled in and each query's `suez` flag
        says whether it may use them (the planner asks once without and once with them).
        """
        self.network = network
        self.include_suez = include_suez
        self.links: dict[str, Link] = {link.id: link for link in network.links}
        self.stop_ids = sorted(network.locations)
        self._stop = {s: i for i, s in enumerate(self.stop_ids)}
        n = self._n = len(self.stop_ids)
        self.waypoints = frozenset(s for s, loc in network.locations.items()
                                   if loc.facility_type is FacilityType.WAYP)
        factors = factors or emissions.default_factors()
        # station copy of family f = f * n + stop; voyage-bound waypoint copies follow
        self._stop_of_node = [i % n for i in range(3 * n)]
        self._fam_of_node = [i // n for i in range(3 * n)]
        virtual: dict[tuple[int, str, str, str, str], int] = {}

        departures = list(departures)
        unknown = [d for d in departures if d.link_id not in self.links]
        if unknown:
            raise DomainError(f"departure {unknown[0].id} runs on link {unknown[0].link_id!r}, "
                              f"which network {network.name!r} does not have")
        usable = {link.id for link in network.directed_links(include_planned)
                  if include_suez or not link.suez_restricted}
        departures = [d for d in departures if d.status != "cancelled" and d.link_id in usable]

        def node(f: int, stop: str, dep: Departure) -> int:
            # across a waypoint the box stays on its ship: one copy per (family, vessel, voyage),
            # kept apart by carrier too (departures naming no vessel or voyage: per carrier)
            if stop in self.waypoints:
                key = (f, stop, dep.operator, dep.vehicle, dep.voyage)
                if key not in virtual:
                    virtual[key] = len(self._stop_of_node)
                    self._stop_of_node.append(self._stop[stop])
                    self._fam_of_node.append(f)
                return virtual[key]
            return f * n + self._stop[stop]

        self.departures: list[Departure] = []
        self.price_per_teu: list[float] = []
        self.co2e_per_teu: list[float] = []
        self._link_of: list[int] = []    # link number of each departure (the Pareto scan's memo)
        self.restricted: frozenset[int] = frozenset()   # numbers of the departures on suez_restricted links
        link_no = {lid: i for i, lid in enumerate(self.links)}
        fwd, fam_bits = [], {c: i for i, c in enumerate(FAMILIES)}
        for dep in departures:
            link = self.links[dep.link_id]
            k = len(self.departures)
            self.departures.append(dep)
            self._link_of.append(link_no[dep.link_id])
            wo, wd = dep.origin in self.waypoints, dep.destination in self.waypoints
            self.price_per_teu.append(pricing.leg_usd_per_teu(
                dep, link, network.locations[dep.origin], network.locations[dep.destination]))
            self.co2e_per_teu.append(emissions.leg_co2e_per_teu(
                link, factors, emissions.handlings(link, wo, wd)))
            mct_h = max(link.dwell_hours, network.locations[dep.origin].min_transfer_hours)
            dep_s, arr_s = int(dep.departs_at.timestamp()), int(dep.arrives_at.timestamp())
            latest_ready = dep_s - int(mct_h * 3600)
            for fam in link.corridors:
                f = fam_bits[fam]
                fwd.append((dep_s, latest_ready, arr_s, node(f, dep.origin, dep),
                            node(f, dep.destination, dep), k))
        fwd.sort()
        self.restricted = frozenset(k for k, dep in enumerate(self.departures)
                                    if self.links[dep.link_id].suez_restricted)
        self._fwd = fwd
        # the reverse scan reads the same connections by arrival, latest first
        self._rev = sorted(((c[2], c[1], c[3], c[4], c[5]) for c in fwd), reverse=True)
        self._nodes = len(self._stop_of_node)
        self._number = {dep.id: k for k, dep in enumerate(self.departures)}
        self._toward_cache: dict[tuple[int, bool], tuple[list, list, list, list]] = {}
        self._widths: dict[int, dict[int, tuple[int, int]]] | None = None
        self.first_departure = fwd[0][0] if fwd else None
        self.last_departure = fwd[-1][0] if fwd else None

    def leg_cost(self, departure: Departure) -> tuple[float, float]:
        """All-in USD per TEU and kg CO2e per TEU of one departure in this timetable."""
        k = self._number[departure.id]
        return self.price_per_teu[k], self.co2e_per_teu[k]

    # ---- helpers -------------------------------------------------------------------------
    def _toward(self, d: int, suez: bool = True) -> tuple[list, list, list, list]:
        """The connections that can lead to stop `d` in their family (forward and reverse order).

        A query only scans these: on a corridor most departures lead away from any one
        destination, so this cuts each scan several-fold. Cached per destination; without
        `suez` the sailings on suez_restricted links are left out.
        """
        got = self._toward_cache.get((d, suez))
        if got is None:
            conns = self._fwd if suez or not self.restricted else [c for c in self._fwd
                                                                   if c[5] not in self.restricted]
            into: dict[int, set[int]] = {}
            for c in conns:
                into.setdefault(c[4], set()).add(c[3])
            targets = {f * self._n + d for f in range(3)}
            reach, todo = set(targets), list(targets)
            while todo:
                for u in into.get(todo.pop(), ()):
                    if u not in reach:
                        reach.add(u)
                        todo.append(u)
            fwd = [c for c in conns if c[4] in reach and c[3] not in targets]
            rev = [c for c in self._rev if c[3] in reach and c[2] not in targets
                   and (suez or c[4] not in self.restricted)]
            got = (fwd, [c[0] for c in fwd], rev, [-c[0] for c in rev])
            if len(self._toward_cache) >= 64:
                self._toward_cache.clear()
            self._toward_cache[(d, suez)] = got
        return got

    def _index(self, loc_id: str, role: str) -> int:
        if loc_id not in self._stop:
            raise UnknownPlace(f"{role} {loc_id!r} is not a location of network {self.network.name!r}")
        if loc_id in self.waypoints:
            raise DomainError(f"{role} {loc_id!r} is a sea waypoint: ships pass it, cargo cannot "
                              "start, end or change vessel there")
        return self._stop[loc_id]

    def _families(self, family: Corridor | None) -> list[int]:
        return [FAMILIES.index(Corridor(family))] if family else [0, 1, 2]

    def _room(self, k: int, teu: int, free_teu: FreeTeu | None) -> bool:
        dep = self.departures[k]
        free = free_teu(dep.id) if free_teu else dep.capacity_teu
        return free >= teu

    def _banned(self, node: int, banned: frozenset[int]) -> bool:
        return bool(banned) and self._stop_of_node[node] in banned

    def _journey(self, ks: Sequence[int], node: int, ready_by: datetime | None = None) -> Journey | None:
        legs = tuple(self.departures[k] for k in ks)
        stops = (legs[0].origin, *(d.destination for d in legs))
        if len(set(stops)) != len(stops):   # cannot happen with strict improvement; kept as a guard
            return None
        return Journey(legs, FAMILIES[self._fam_of_node[node]],
                       sum(self.price_per_teu[k] for k in ks), sum(self.co2e_per_teu[k] for k in ks),
                       ready_by)

    # ---- queries -------------------------------------------------------------------------
    def largest_lot(self, origin: str, destination: str, *, suez: bool = True) -> tuple[int, Departure | None]:
        """(TEU, departure): the most TEU one booking can take from origin to destination.

        A booking rides one departure on each leg, so a route takes at most its smallest
        departure; this is the widest route over the compiled departures (empty ones counted by
        their capacity, not their free space), with the departure that limits it.
        """
        o, d, n = self._index(origin, "origin"), self._index(destination, "destination"), self._n
        if self._widths is None:   # node -> next node -> (largest capacity, departure number)
            widths: dict[int, dict[int, tuple[int, int]]] = {}
            for _, _, _, u, v, k in self._fwd:
                cap = self.departures[k].capacity_teu
                got = widths.setdefault(u, {}).get(v)
                if got is None or cap > got[0]:
                    widths[u][v] = (cap, k)
            self._widths = widths
        best: dict[int, tuple[int, int]] = {f * n + o: (_INF, -1) for f in range(3)}
        heap = [(-_INF, u) for u in best]
        targets = {f * n + d for f in range(3)}
        while heap:   # widest path: Dijkstra on the smallest capacity so far, largest first
            w, u = heappop(heap)
            if -w < best[u][0]:
                continue
            if u in targets:
                k = best[u][1]
                return -w, self.departures[k] if k >= 0 else None
            for v, (cap, k) in self._widths.get(u, {}).items():
                if not suez and k in self.restricted:
                    continue
                got = (cap, k) if cap < -w else (-w, best[u][1])
                if got[0] > best.get(v, (-1, -1))[0]:
                    best[v] = got
                    heappush(heap, (-got[0], v))
        return 0, None

    def earliest_arrival(self, origin: str, destination: str, ready_at: datetime, teu: int = 1, *,
                         family: Corridor | None = None, free_teu: FreeTeu | None = None,
                         avoid: Iterable[str] = (), suez: bool = True) -> Journey | None:
        """The journey arriving first at `destination` for cargo ready at `origin` at `ready_at`."""
        o, d, n = self._index(origin, "origin"), self._index(destination, "destination"), self._n
        banned = frozenset(self._stop[s] for s in avoid if s in self._stop)
        t0 = int(_aware(ready_at).timestamp())
        ea = [_INF] * self._nodes
        fams = self._families(family)
        for f in fams:
            ea[f * n + o] = t0
        targets = {f * n + d for f in fams}
        parent: dict[int, tuple[int, int]] = {}
        best = _INF
        fwd, keys, _, _ = self._toward(d, suez)
        for dep_s, latest_ready, arr, u, v, k in islice(fwd, bisect_left(keys, t0), None):
            if dep_s > best:
                break
            if ea[u] <= latest_ready and arr < ea[v]:
                if self._banned(v, banned) or not self._room(k, teu, free_teu):
                    continue
                ea[v] = arr
                parent[v] = (k, u)
                if v in targets and arr < best:
                    best = arr
        if best == _INF:
            return None
        end = node = min(targets, key=ea.__getitem__)
        ks = []
        while node not in (f * n + o for f in fams):
            k, node = parent[node]
            ks.append(k)
        return self._journey(ks[::-1], end)

    def latest_departure(self, origin: str, destination: str, arrive_by: datetime, teu: int = 1, *,
                         family: Corridor | None = None, free_teu: FreeTeu | None = None,
                         avoid: Iterable[str] = (), suez: bool = True) -> Journey | None:
        """The journey reaching `destination` by `arrive_by` that lets cargo reach `origin` latest.

        `Journey.ready_by` is that latest time at the origin (first departure minus its cut-off).
        """
        o, d, n = self._index(origin, "origin"), self._index(destination, "destination"), self._n
        banned = frozenset(self._stop[s] for s in avoid if s in self._stop)
        t_end = int(_aware(arrive_by).timestamp())
        lt = [-_INF] * self._nodes
        fams = self._families(family)
        for f in fams:
            lt[f * n + d] = t_end
        sources = {f * n + o for f in fams}
        child: dict[int, tuple[int, int]] = {}
        best = -_INF
        _, _, rev, keys = self._toward(d, suez)
        for arr, latest_ready, u, v, k in islice(rev, bisect_left(keys, -t_end), None):
            if arr < best:
                break
            if arr <= lt[v] and latest_ready > lt[u]:
                if self._banned(u, banned) or not self._room(k, teu, free_teu):
                    continue
                lt[u] = latest_ready
                child[u] = (k, v)
                if u in sources and latest_ready > best:
                    best = latest_ready
        if best == -_INF:
            return None
        node = max(sources, key=lt.__getitem__)
        ks, targets = [], {f * n + d for f in fams}
        while node not in targets:
            k, node = child[node]
            ks.append(k)
        tz = self.network.locations[origin].tz
        return self._journey(ks, node, datetime.fromtimestamp(best, tz))

    def pareto(self, origin: str, destination: str, ready_at: datetime, teu: int = 1, *,
               family: Corridor | None = None, free_teu: FreeTeu | None = None,
               horizon: timedelta = timedelta(days=75), avoid: Iterable[str] = (),
               by_family: bool = False, suez: bool = True) -> list[Journey]:
        """Journeys not beaten on all of (arrival, price, CO2e) within `horizon`, earliest first.

        With `by_family` each corridor family keeps its own Pareto set (to compare families).

        Multi-criteria CSA: each station copy holds a bag of non-dominated labels
        (arrival, price/TEU, kg CO2e/TEU); labels dominated by one already at the destination
        (of the same family) are dropped, since later legs only add time, money and CO2e.
        """
        o, d, n = self._index(origin, "origin"), self._index(destination, "destination"), self._n
        banned = frozenset(self._stop[s] for s in avoid if s in self._stop)
        t0 = int(_aware(ready_at).timestamp())
        t_end = t0 + int(horizon.total_seconds())
        bags: dict[int, list[tuple]] = {}
        fams = self._families(family)
        for f in fams:
            bags[f * n + o] = [(t0, 0.0, 0.0, -1, None)]
        target_of = [f * n + d for f in range(3)]
        fam_of, price, co2, link_of = self._fam_of_node, self.price_per_teu, self.co2e_per_teu, self._link_of
        version: dict[int, int] = {}
        rode: dict[tuple[int, int, int], tuple[int, int, float]] = {}
        fwd, keys, _, _ = self._toward(d, suez)
        for dep_s, latest_ready, arr, u, v, k in islice(fwd, bisect_left(keys, t0), None):
            if dep_s > t_end:
                break
            bag_u = bags.get(u)
            if not bag_u or arr > t_end:
                continue
            # the same labels already rode an earlier run of this link to the same node, not
            # dearer, arriving no later: this run can only give dominated labels (the daily train
            # of the next day; into a waypoint each voyage has its own node, so no run stands in
            # for another there)
            ver, memo = version.get(u, 0), rode.get((u, link_of[k], v))
            if memo is not None and memo[0] == ver and memo[1] <= arr and memo[2] <= price[k]:
                continue
            boardable = [lab for lab in bag_u if lab[0] <= latest_ready]
            if not boardable:
                continue
            target = bags.get(target_of[fam_of[v]], ())
            bag_v = bags.setdefault(v, [])
            room = None
            for lab in _cheapest(boardable):
                p, e = lab[1] + price[k], lab[2] + co2[k]
                if _dominated(arr, p, e, target) or _dominated(arr, p, e, bag_v):
                    continue
                if room is None:
                    room = not self._banned(v, banned) and self._room(k, teu, free_teu)
                if not room:
                    break
                bag_v[:] = [x for x in bag_v if not (arr <= x[0] and p <= x[1] and e <= x[2])]
                bag_v.append((arr, p, e, k, lab))
                version[v] = version.get(v, 0) + 1
            if room is not False and len(boardable) == len(bag_u):
                rode[(u, link_of[k], v)] = (ver, arr, price[k])
        out: list[Journey] = []
        for f in fams:
            found = []
            for lab in bags.get(f * n + d, ()):
                if lab[3] < 0:
                    continue
                ks, x = [], lab
                while x[3] >= 0:
                    ks.append(x[3])
                    x = x[4]
                j = self._journey(ks[::-1], f * n + d)
                if j:
                    found.append(j)
            out += _non_dominated(found) if by_family else found
        return sorted(out, key=lambda j: j.arrives_at) if by_family else _non_dominated(out)


def _cheapest(labels: list[tuple]) -> list[tuple]:
    """The labels not beaten on both price and CO2e (arrival no longer matters once on board)."""
    if len(labels) == 1:
        return labels
    out = []
    for lab in sorted(labels, key=lambda x: (x[1], x[2])):
        if not out or lab[2] < out[-1][2]:
            out.append(lab)
    return out


def _dominated(arr: int, p: float, e: float, bag: Iterable[tuple]) -> bool:
    for x in bag:   # a plain loop: this is the Pareto scan's innermost test
        if x[0] <= arr and x[1] <= p and x[2] <= e:
            return True
    return False


def _non_dominated(journeys: list[Journey]) -> list[Journey]:
    """Journeys no other journey (of any family) beats on arrival, price and CO2e; earliest first."""
    def key(j: Journey):
        return (j.arrives_at.timestamp(), j.price_usd_per_teu, j.co2e_kg_per_teu)
    out: list[Journey] = []
    for j in sorted(journeys, key=key):
        a, p, e = key(j)
        if not any(key(x)[0] <= a and key(x)[1] <= p and key(x)[2] <= e for x in out):
            out.append(j)
    return out


def _aware(t: datetime) -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise DomainError(f"time {t.isoformat()} has no time zone; give it with its offset")
    return t


def in_zone(t: datetime, zone: str) -> datetime:
    """`t` shown in the IANA `zone` (a location's local time)."""
    return t.astimezone(ZoneInfo(zone))
