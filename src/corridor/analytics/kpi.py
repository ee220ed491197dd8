"""The corridor's KPIs from its own event log: volumes and growth, transit, on-time, dwell,
utilisation and CO2e per TEU-km — computed on what the viewer may see.

Definitions (each KPI counts container trips that *started* in the period, i.e. whose first
actual move falls in it; months are cut in UTC):
- origin-destination: a trip runs from its first place to its booking's destination; without a
  booking, to the last place of a completed trip (`completed`: its container began its next
  trip, or it left by road). A booked trip still under way counts under its booked destination
  in the volumes (`under_way` per pair); one under way without a booking has no known
  destination and is left out of the pairs (`od_left_out`). Transit end to end and CO2e per
  route count only trips that reached their destination: a trip under way has run part of its
  route only. The document says so beside the figures (`od_basis`, `*_basis`, `*_left_out`).
- volumes: TEU (from the ISO size type; 2 when unknown), tonnes = TEU x 10 t net cargo per TEU
  (`NET_TONNES_PER_TEU`, the GLEC-style default the emissions use), containers (trips) and
  trains (runs of a train number, see `facts.train_runs`), by month, origin-destination, port
  and direction (westbound when the destination lies west of the origin; for a trip under way
  without a booking, the way it has gone so far). Growth compares with the same months a year
  earlier.
- transit: a leg runs from a DEPA at A to the next ARRI at another place B (LOAD/DISC stand in
  for trips reported without vehicle events); end to end from the first move to the first
  arrival at the trip's destination (see origin-destination).
- on-time: arrival at the destination no later than the booking's promised arrival plus
  `ON_TIME_GRACE`; legs with a timetable departure are on time when they arrive by its
  scheduled arrival plus the same grace.
- dwell: at borders, gauge-change points and ferry ports, first arrival (ARRI, else DISC/GTIN)
  to the next departure (DEPA, else LOAD/GTOT) of the same trip at the same place.
- utilisation: over every timetable departure that ran in the period (left before its end and
  before now, not cancelled; cancelled ones are counted apart), booked or not, per mode and per
  link: reserved (TEU booked) / capacity, and carried (TEU of the containers reported on the
  departure) / capacity; and observed loads (TEU of trips loaded per train or sailing). The twin's
  departure fill is boxes aboard / capacity, i.e. "carried", not "reserved" (`basis` says so).
- CO2e: ISO 14083 well-to-wheel via `corridor.planning.emissions` over the links the trips
  used, per TEU-km by route, next to the Northern and Sea reference routes.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import Connection, and_, func, select

from ..access.visibility import Viewer
from ..domain.network import Corridor, Link, Location, Network
from ..planning.emissions import NET_TONNES_PER_TEU, handlings, leg_co2e_per_teu
from ..store.retractions import visible_if
from ..store.tables import departures, events
from .facts import ARRIVALS, DEPARTURES, Facts, TripFacts, load_facts
from .stats import growth_pct, month_key, ratio, summary, year_before

ON_TIME_GRACE = timedelta(hours=24)
H = 3600.0


# ------------------------------------------------------------------ building blocks per trip

def legs(trip: TripFacts) -> list[tuple[str, str, datetime, datetime, str | None, str | None]]:
    """(from, to, departed, arrived, mode, departure id) of each leg of a trip, in order."""
    has_vehicle = any(m.kind == "TRANSPORT" for m in trip.moves)
    dep_code, arr_code = ("DEPA", "ARRI") if has_vehicle else ("LOAD", "DISC")
    out, left = [], None
    for m in trip.moves:
        if m.code == dep_code and m.location:
            left = m                                   # the last departure before an arrival counts
        elif m.code == arr_code and left is not None and m.location and m.location != left.location:
            out.append((left.location, m.location, left.t, m.t, left.mode or m.mode, left.departure_id))
            left = None
    return out


def visits(trip: TripFacts) -> list[tuple[str, list]]:
    """(place, moves) per stay: consecutive moves at the same place."""
    out: list[tuple[str, list]] = []
    for m in trip.moves:
        if not m.location:
            continue
        if out and out[-1][0] == m.location:
            out[-1][1].append(m)
        else:
            out.append((m.location, [m]))
    return out


def dwell_hours(moves: list) -> float | None:
    """Arrival to the next departure within one stay, in hours; None without both."""
    arr = next((m for m in moves if m.code == "ARRI"), None) or next(
        (m for m in moves if m.code in ARRIVALS), None)
    if arr is None:
        return None
    after = [m for m in moves if m.t >= arr.t and m is not arr]
    dep = next((m for m in after if m.code == "DEPA"), None) or next(
        (m for m in reversed(after) if m.code in DEPARTURES), None)
    return (dep.t - arr.t).total_seconds() / H if dep else None


@dataclass(frozen=True, slots=True)
class Journey:
    """Where a trip runs from and to, and whether it got there."""

    origin: str | None
    destination: str | None    # the booking's, else where a completed trip ended; None: not known yet
    arrived: datetime | None   # first arrival at the destination; None while under way
    booked: bool


# How trips still under way count; the document repeats these next to the figures they shape.
OD_BASIS = ("origin-destination pairs are the trip's origin and its booking's destination (trips still under "
            "way count there, see `under_way`), or, without a booking, the last place of a completed trip; "
            "trips under way without a booking have no known destination and are left out (`od_left_out`)")
DELIVERED_BASIS = "trips that reached their destination only; trips still under way are left out"


def completed(trip: TripFacts) -> bool:
    """A trip without a booking is over when its container began its next trip, or when its last
    report is a gate-out by road (or of no mode) away from where it started: the consignee took it."""
    if trip.ends_at is not None:
        return True
    last = trip.moves[-1]
    return last.code == "GTOT" and last.mode in (None, "TRUCK") and trip.last_location != trip.origin


def journey(trip: TripFacts, facts: Facts) -> Journey:
    """The trip's origin, destination (booked, else the end of a completed trip) and arrival there."""
    j = facts.journeys.get(trip.id)
    if j is None:
        j = facts.journeys[trip.id] = _journey(trip, facts)
    return j


def _journey(trip: TripFacts, facts: Facts) -> Journey:
    b = facts.bookings.get(trip.booking_ref or "")
    if b is not None:
        dest = b.destination
        return Journey(trip.origin, dest, arrival_at(trip, dest) if dest != trip.origin else None, True)
    if not completed(trip) or trip.last_location == trip.origin:
        return Journey(trip.origin, None, None, False)
    dest = trip.last_location
    return Journey(trip.origin, dest, arrival_at(trip, dest), False)


def arrival_at(trip: TripFacts, place: str | None) -> datetime | None:
    """First arrival-type move at `place` (else any move there)."""
    at = [m for m in trip.moves if m.location == place]
    hit = next((m for m in at if m.code in ARRIVALS), None) or (at[0] if at else None)
    return hit.t if hit else None


def direction(facts: Facts, origin: str | None, dest: str | None) -> str:
    o, d = facts.place(origin), facts.place(dest)
    if not o or not d or o.lon == d.lon:
        return "unknown"
    return "westbound" if d.lon < o.lon else "eastbound"


def place_roles(loc: Location | None) -> set[str]:
    """Dwell categories of a place: border, gauge_change, ferry_port, port."""
    if loc is None:
        return set()
    roles = set()
    if loc.facility_type.value == "BOCR" or "border" in loc.kind:
        roles.add("border")
    if loc.gauge_change or "gauge_change" in loc.kind:
        roles.add("gauge_change")
    if "ferry" in loc.kind:
        roles.add("ferry_port")
    elif "port" in loc.kind and loc.facility_type.value in ("POTE", "BRTH"):
        roles.add("port")
    return roles


# ------------------------------------------------------------------ the KPIs

def volumes(facts: Facts) -> dict:
    """TEU, tonnes, containers and trains by month, O-D, port and direction, with growth."""
    month = defaultdict(lambda: {"teu": 0, "containers": 0, "trains": 0})
    od = defaultdict(lambda: {"teu": 0, "containers": 0, "under_way": 0})
    od_before = defaultdict(int)
    port = defaultdict(lambda: {"teu": 0, "containers": 0, "westbound_teu": 0, "eastbound_teu": 0})
    way = defaultdict(lambda: {"teu": 0, "containers": 0})
    way_before = defaultdict(int)
    total = {"teu": 0, "containers": 0}
    before = {"teu": 0, "containers": 0, "trains": 0}
    left_out = {"containers": 0, "teu": 0}
    for trip in facts.trips:
        j = journey(trip, facts)
        key = (j.origin or "?", j.destination) if j.destination else None
        # the way a trip under way without a known destination has gone so far
        dirn = direction(facts, trip.origin, j.destination or trip.last_location)
        if not facts.in_period(trip.start):            # the year before: the growth base
            before["teu"] += trip.teu
            before["containers"] += 1
            if key:
                od_before[key] += trip.teu
            way_before[dirn] += trip.teu
            month[month_key(trip.start)]["teu"] += trip.teu
            month[month_key(trip.start)]["containers"] += 1
            continue
        m = month[month_key(trip.start)]
        m["teu"] += trip.teu
        m["containers"] += 1
        total["teu"] += trip.teu
        total["containers"] += 1
        if key:
            od[key]["teu"] += trip.teu
            od[key]["containers"] += 1
            od[key]["under_way"] += j.arrived is None
        else:
            left_out["teu"] += trip.teu
            left_out["containers"] += 1
        way[dirn]["teu"] += trip.teu
        way[dirn]["containers"] += 1
        for p in {mv.location for mv in trip.moves
                  if mv.mode == "VESSEL" and mv.code in ("LOAD", "DISC") and mv.location}:
            port[p]["teu"] += trip.teu
            port[p]["containers"] += 1
            if dirn in ("westbound", "eastbound"):
                port[p][f"{dirn}_teu"] += trip.teu
    trains_now = 0
    for _, t in facts.train_runs:
        month[month_key(t)]["trains"] += 1
        if facts.in_period(t):
            trains_now += 1
        elif t < facts.start:
            before["trains"] += 1
    first, last = month_key(facts.start), month_key(facts.end - timedelta(microseconds=1))
    by_month = []
    for k in sorted(k for k in month if first <= k <= last):
        v, prev = month[k], month.get(year_before(k))
        by_month.append({"month": k, **v, "tonnes": v["teu"] * NET_TONNES_PER_TEU,
                         "teu_growth_pct": growth_pct(v["teu"], prev["teu"] if prev else None),
                         "teu_year_before": prev["teu"] if prev else None})
    return {
        "tonnes_per_teu": NET_TONNES_PER_TEU,
        "total": {**total, "tonnes": total["teu"] * NET_TONNES_PER_TEU, "trains": trains_now,
                  "teu_growth_pct": growth_pct(total["teu"], before["teu"]),
                  "teu_year_before": before["teu"] or None},
        "by_month": by_month,
        "by_od": [{"origin": o, "destination": d, **v, "tonnes": v["teu"] * NET_TONNES_PER_TEU,
                   "teu_growth_pct": growth_pct(v["teu"], od_before.get((o, d)))}
                  for (o, d), v in sorted(od.items(), key=lambda kv: (-kv[1]["teu"], kv[0]))],
        "od_basis": OD_BASIS,
        "od_left_out": left_out,
        "by_port": [{"port": p, **v} for p, v in sorted(port.items(), key=lambda kv: (-kv[1]["teu"], kv[0]))],
        "by_direction": [{"direction": k, **v, "teu_growth_pct": growth_pct(v["teu"], way_before.get(k))}
                         for k, v in sorted(way.items())],
    }


def _current(facts: Facts) -> list[TripFacts]:
    return [t for t in facts.trips if facts.in_period(t.start)]


def transit(facts: Facts) -> dict:
    """Transit hours per leg and days end to end (p50, p90), and delay against the promise."""
    per_leg = defaultdict(list)
    e2e = defaultdict(list)
    delays = []
    under_way = 0
    for trip in _current(facts):
        for a, b, t0, t1, mode, _ in legs(trip):
            per_leg[(a, b, mode)].append((t1 - t0).total_seconds() / H)
        j = journey(trip, facts)
        if j.arrived is None:
            under_way += 1
            continue
        if j.destination != trip.origin:
            e2e[(trip.origin, j.destination)].append((j.arrived - trip.start).total_seconds() / H / 24)
            b = facts.bookings.get(trip.booking_ref or "")
            if b and b.promised_arrival:
                delays.append((j.arrived - b.promised_arrival).total_seconds() / H)
    return {
        "legs": [{"from": a, "to": b, "mode": m, "hours": summary(v)}
                 for (a, b, m), v in sorted(per_leg.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or ""))],
        "end_to_end": [{"origin": o, "destination": d, "days": summary(v)}
                       for (o, d), v in sorted(e2e.items(), key=lambda kv: (-len(kv[1]), kv[0]))],
        "end_to_end_basis": DELIVERED_BASIS,
        "end_to_end_left_out": {"containers": under_way},
        "delay_vs_promised_hours": summary(delays),
    }


def on_time(facts: Facts, conn: Connection | None = None, grace: timedelta = ON_TIME_GRACE) -> dict:
    """Share of containers delivered by the promised arrival (+grace), and of legs by the timetable."""
    on = n = 0
    for trip in _current(facts):
        b = facts.bookings.get(trip.booking_ref or "")
        if not b or not b.promised_arrival:
            continue
        arrived = arrival_at(trip, b.destination)
        if arrived is None:
            continue
        n += 1
        on += arrived <= b.promised_arrival + grace
    leg_on = leg_n = 0
    dep_ids = {lg[5] for t in _current(facts) for lg in legs(t) if lg[5]}
    if conn is not None and dep_ids:
        sched = {}
        ids = sorted(dep_ids)
        for i in range(0, len(ids), 500):
            for r in conn.execute(select(departures.c.id, departures.c.arrives_at)
                                  .where(departures.c.id.in_(ids[i:i + 500]))):
                sched[r.id] = r.arrives_at
        for t in _current(facts):
            for *_, arrived, _, dep_id in legs(t):
                if dep_id in sched:
                    leg_n += 1
                    leg_on += arrived <= sched[dep_id] + grace
    return {"grace_hours": grace.total_seconds() / H,
            "containers": {"n": n, "on_time": on, "rate": ratio(on, n)},
            "legs": {"n": leg_n, "on_time": leg_on, "rate": ratio(leg_on, leg_n)}}


def dwell(facts: Facts) -> dict:
    """Dwell hours (p50, p90) at borders, gauge-change points and ferry ports, per place and kind."""
    at = defaultdict(list)
    for trip in _current(facts):
        for place, moves in visits(trip):
            if not place_roles(facts.place(place)):
                continue
            h = dwell_hours(moves)
            if h is not None:
                at[place].append(h)
    by_role = defaultdict(list)
    rows = []
    for place, hs in sorted(at.items()):
        roles = sorted(place_roles(facts.place(place)))
        for r in roles:
            by_role[r] += hs
        loc = facts.place(place)
        rows.append({"location": place, "name": loc.name if loc else place, "kinds": roles, "hours": summary(hs)})
    return {"by_location": rows, "by_kind": {k: summary(v) for k, v in sorted(by_role.items())}}


UTILISATION_BASIS = (
    "every timetable departure that ran in the period (left before its end and before now, not cancelled) counts, "
    "booked or not; cancelled departures are counted apart (`cancelled`). `utilisation` is reserved: TEU booked "
    "on the departures / their capacity. `carried_utilisation` is carried: TEU of the containers reported on "
    "those departures (events naming the departure, those the viewer may see) / the same capacity; the twin's "
    "departure fill is carried (boxes aboard / capacity), not reserved. `observed_loads`: TEU loaded per train or "
    "sailing as reported, with or without a timetable departure")


def _ran(q, facts: Facts, upto: datetime):
    return q.where(and_(departures.c.departs_at >= facts.start, departures.c.departs_at < upto))


CASPIAN_SHORES = {"KZ", "AZ", "TM", "IR", "RU"}   # countries of the ports of a Caspian crossing


def _country(facts: Facts, loc_id: str) -> str | None:
    loc = facts.place(loc_id)
    ref = (loc.ref if loc else loc_id) or ""
    return ref[:2].upper() if ref else None


def utilisation(conn: Connection, facts: Facts, now: datetime | None = None) -> dict:
    """Reserved/capacity and carried/capacity of the departures that ran, by mode and link, and
    observed TEU per train or sailing."""
    now = now or datetime.now(timezone.utc)
    upto = min(facts.end, now)          # a departure still to leave has not run, booked or not
    blank = lambda: {"departures": 0, "cancelled": 0, "capacity_teu": 0, "reserved_teu": 0,  # noqa: E731
                     "carried_teu": 0}
    by_mode, by_link = defaultdict(blank), defaultdict(blank)
    # one row per (mode, link, status): the timetable runs to thousands of departures a month
    q = _ran(select(departures.c.mode, departures.c.link_id, departures.c.origin, departures.c.destination,
                    departures.c.status, func.count().label("n"), func.sum(departures.c.capacity_teu).label("cap"),
                    func.sum(departures.c.reserved_teu).label("res")), facts, upto)
    q = q.group_by(departures.c.mode, departures.c.link_id, departures.c.origin, departures.c.destination,
                   departures.c.status)
    for r in conn.execute(q):
        for x in (by_mode[r.mode], by_link[(r.link_id, r.mode, r.origin, r.destination)]):
            if r.status == "cancelled":
                x["cancelled"] += r.n
            else:
                x["departures"] += r.n
                x["capacity_teu"] += int(r.cap or 0)
                x["reserved_teu"] += int(r.res or 0)
    # carried: each container once per departure its reports name
    on_dep = defaultdict(int)
    for trip in facts.trips:
        for dep_id in {m.departure_id for m in trip.moves if m.departure_id}:
            on_dep[dep_id] += trip.teu
    ids = sorted(on_dep)
    for i in range(0, len(ids), 500):
        dq = _ran(select(departures.c.id, departures.c.mode, departures.c.link_id, departures.c.origin,
                         departures.c.destination), facts, upto)
        for r in conn.execute(dq.where(departures.c.id.in_(ids[i:i + 500]), departures.c.status != "cancelled")):
            for x in (by_mode[r.mode], by_link[(r.link_id, r.mode, r.origin, r.destination)]):
                x["carried_teu"] += on_dep[r.id]

    def figures(v: dict) -> dict:
        return {**v, "utilisation": ratio(v["reserved_teu"], v["capacity_teu"]),
                "carried_utilisation": ratio(v["carried_teu"], v["capacity_teu"])}

    def ref(loc_id: str) -> str:
        loc = facts.place(loc_id)
        return loc.ref if loc else loc_id

    loads = defaultdict(int)              # (mode, voyage) -> TEU loaded
    for trip in _current(facts):
        for key in {(m.mode, m.voyage) for m in trip.moves if m.code == "LOAD" and m.voyage and m.mode}:
            loads[key] += trip.teu
    observed = defaultdict(list)
    for (mode, _), teu in loads.items():
        observed[mode].append(teu)
    # the crossing that limits the corridor: water links between Caspian shores (the Black Sea
    # feeders are water links too, from Georgian, Romanian, Bulgarian and Turkish ports)
    caspian = blank()
    for (_, mode, a, b), v in by_link.items():
        if mode in ("ferry", "feeder") and {_country(facts, a), _country(facts, b)} <= CASPIAN_SHORES:
            for k in caspian:
                caspian[k] += v[k]
    return {
        "basis": UTILISATION_BASIS,
        "caspian": figures(caspian),
        "reserved": [{"mode": m, **figures(v)} for m, v in sorted(by_mode.items())],
        "reserved_by_link": [{"link": k[0], "mode": k[1], "from": ref(k[2]), "to": ref(k[3]), **figures(v)}
                             for k, v in sorted(by_link.items())],
        "observed_loads": [{"mode": m, "vehicles": len(v), "teu": sum(v), "teu_per_vehicle": summary(v, 1)}
                           for m, v in sorted(observed.items())],
    }


# ------------------------------------------------------------------ CO2e

def _link_index(net: Network) -> dict[tuple[str, str], list[Link]]:
    idx = defaultdict(list)
    for k in net.links:
        idx[(k.origin, k.destination)].append(k)
        if k.status == "operational":   # links are stored once; both directions are used
            idx[(k.destination, k.origin)].append(k)
    return idx


def _path(net: Network, idx, a: str, b: str, water: bool) -> list[Link] | None:
    """The links a leg A->B ran over: the direct link, else the shortest chain of the same kind."""
    direct = [k for k in idx.get((a, b), []) if k.mode.is_water == water] or idx.get((a, b), [])
    if direct:
        return [min(direct, key=lambda k: k.distance_km)]
    dist, prev, heap = {a: 0.0}, {}, [(0.0, a)]
    while heap:
        d, u = heapq.heappop(heap)
        if u == b:
            break
        if d > dist.get(u, float("inf")):
            continue
        for (o, v), ks in idx.items():
            if o != u:
                continue
            for k in ks:
                if k.mode.is_water != water:
                    continue
                nd = d + k.distance_km
                if nd < dist.get(v, float("inf")):
                    dist[v], prev[v] = nd, (u, k)
                    heapq.heappush(heap, (nd, v))
    if b not in prev:
        return None
    out, v = [], b
    while v != a:
        u, k = prev[v]
        out.append(k)
        v = u
    return out[::-1]


def _route_figures(links: list[Link]) -> tuple[float, float]:
    """(km, kg CO2e per TEU) over a chain of links."""
    return sum(k.distance_km for k in links), sum(leg_co2e_per_teu(k, n_handlings=handlings(k)) for k in links)


def co2e(facts: Facts) -> dict:
    """kg CO2e WTW per TEU-km by observed route, and the Northern and Sea reference routes."""
    net = facts.network
    if net is None:
        return {"by_route": [], "reference_routes": [], "note": "no network stored"}
    idx = _link_index(net)
    cache: dict[tuple, tuple[float, float] | None] = {}
    acc = defaultdict(lambda: [0.0, 0.0, 0, 0])   # route -> [kg, TEU-km, TEU, containers]
    left_out = {"containers": 0, "teu": 0}
    for trip in _current(facts):
        j = journey(trip, facts)
        if j.arrived is None:            # part of its route only: kg per TEU would be too low
            left_out["containers"] += 1
            left_out["teu"] += trip.teu
            continue
        kg = teukm = 0.0
        ok = True
        for a, b, *_rest in legs(trip):
            mode = _rest[2]
            la, lb = facts.place(a), facts.place(b)
            if not la or not lb:
                ok = False
                break
            key = (la.id, lb.id, mode == "VESSEL")
            if key not in cache:
                p = _path(net, idx, la.id, lb.id, mode == "VESSEL")
                cache[key] = _route_figures(p) if p else None
            if cache[key] is None:
                ok = False
                break
            km, per_teu = cache[key]
            kg += per_teu * trip.teu
            teukm += km * trip.teu
        if ok and teukm:
            r = acc[(trip.origin, j.destination)]
            r[0] += kg
            r[1] += teukm
            r[2] += trip.teu
            r[3] += 1
    by_route = [{"origin": o, "destination": d, "corridor": "middle", "containers": c, "teu": teu,
                 "teu_km": round(tk), "co2e_t": round(kg / 1000, 2),
                 "kg_per_teu": round(kg / teu, 1), "kg_per_teu_km": round(kg / tk, 4)}
                for (o, d), (kg, tk, teu, c) in sorted(acc.items(), key=lambda kv: -kv[1][2])]
    return {"standard": "ISO 14083 / GLEC, well-to-wheel, hub handlings included",
            "by_route": by_route, "by_route_basis": DELIVERED_BASIS, "by_route_left_out": left_out,
            "reference_routes": reference_routes(net)}


def reference_routes(net: Network) -> list[dict]:
    """CO2e of the network file's reference routes, Middle next to Northern and Sea."""
    from ..network_file import reference_routes as refs
    by_id = {k.id: k for k in net.links}
    out = []
    for r in refs():
        ks = [by_id[i] for i in r.links if i in by_id]
        if len(ks) != len(r.links):
            continue
        fams = frozenset.intersection(*[k.corridors for k in ks]) if ks else frozenset()
        fam = next((c.value for c in (Corridor.MIDDLE, Corridor.NORTHERN, Corridor.SEA) if c in fams), "mixed")
        km, kg = _route_figures(ks)
        out.append({"route": r.id, "name": r.name, "corridor": fam, "km": round(km),
                    "kg_per_teu": round(kg, 1), "kg_per_teu_km": round(kg / km, 4) if km else None})
    return out


# ------------------------------------------------------------------ the document

# Corridor's own events (its ETAs, alerts, notices) are not moves: an alert may carry a time to come
CORRIDOR_PARTY = "CORRIDOR"


def default_period(conn: Connection, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The span of actual moves reported (TRANSPORT, EQUIPMENT; not alerts nor Corridor's own
    events), from the first of its first month to just after the last, and never after now."""
    now = now or datetime.now(timezone.utc)
    vis = visible_if(conn)   # a withdrawn event is no move (none kept: no condition)
    lo, hi = conn.execute(select(func.min(events.c.event_time), func.max(events.c.event_time))
                          .where(events.c.classifier == "ACT", events.c.kind.in_(("TRANSPORT", "EQUIPMENT")),
                                 events.c.source_party != CORRIDOR_PARTY, events.c.event_time < now,
                                 *(() if vis is None else (vis,)))).one()
    if lo is None:
        now = now.replace(microsecond=0)
        return now.replace(day=1, hour=0, minute=0, second=0), now
    # to the whole second after the last event (an event's time may carry a fraction of a second)
    first = lo.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return first, min(hi.replace(microsecond=0) + timedelta(seconds=1), now)


class EmptyPeriod(ValueError):
    """A period that does not run forwards. `given`: "from", "to" or "both"; `start`, `end`: the
    period as completed with the defaults."""

    def __init__(self, given: str, start: datetime, end: datetime):
        self.given, self.start, self.end = given, start, end
        if given == "both":
            why = f"'to' {end.isoformat()} is not after 'from' {start.isoformat()}"
        elif given == "from":
            why = (f"'from' {start.isoformat()} leaves no period: it is not before the period's default end "
                   f"{end.isoformat()} (the last event, or now); give 'to' too")
        else:
            why = (f"'to' {end.isoformat()} leaves no period: it is not after the period's default start "
                   f"{start.isoformat()} (the first event's month); give 'from' too")
        super().__init__(why)


def resolve_period(conn: Connection, start: datetime | None, end: datetime | None,
                   now: datetime | None = None) -> tuple[datetime, datetime]:
    """[start, end) with the missing end(s) taken from `default_period`; EmptyPeriod when it runs
    backwards (one end given past the other's default, or both given the wrong way round)."""
    given = "both" if start and end else "from" if start else "to" if end else "none"
    if start is None or end is None:
        lo, hi = default_period(conn, now)
        start, end = start or lo, end or hi
    if end <= start and given != "none":   # none given: an empty log at the first instant of a month
        raise EmptyPeriod(given, start, end)
    return start, end


def corridor_kpis(conn: Connection, viewer: Viewer | None, start: datetime | None = None,
                  end: datetime | None = None, *, sections: tuple[str, ...] | None = None,
                  now: datetime | None = None) -> dict:
    """The KPI document {"period", "volumes", "transit", "on_time", "dwell", "co2e", "data_quality"}.

    `viewer` None computes over everything (the local operator); sections may be limited.
    """
    from .quality import data_quality
    if (start and start.tzinfo is None) or (end and end.tzinfo is None):
        raise ValueError("the period must be given with UTC offsets")
    start, end = resolve_period(conn, start, end, now)
    facts = load_facts(conn, viewer, start, end)
    want = set(sections or ("volumes", "transit", "on_time", "dwell", "utilisation", "co2e", "data_quality"))
    current = _current(facts)
    arrived = sum(1 for t in current if journey(t, facts).arrived is not None)
    doc = {"period": {"from": start.isoformat(), "to": end.isoformat(), "trips": len(current),
                      "trips_arrived": arrived, "trips_under_way": len(current) - arrived}}
    if "volumes" in want:
        doc["volumes"] = volumes(facts)
    if "transit" in want:
        doc["transit"] = transit(facts)
    if "on_time" in want:
        doc["on_time"] = on_time(facts, conn)
    if "dwell" in want:
        doc["dwell"] = dwell(facts)
    if "utilisation" in want:
        doc["utilisation"] = utilisation(conn, facts, now)
    if "co2e" in want:
        doc["co2e"] = co2e(facts)
    if "data_quality" in want:
        doc["data_quality"] = data_quality(conn, viewer, start, end)
    return doc
