"""ETA that knows the timetable: the remaining legs laid on real departures, with a range.

A box that reaches Aktau after the ferry left waits for the next sailing with space; cancelled
departures are skipped and delayed ones carry their shifted times. Observed arrival delays per
link (from actual events against the timetable) widen or shift the range where history exists.

What the box is seen doing comes before what it was booked on: a box aboard a vehicle that reports
no timetable departure rides it (its departure plus the links' running and stop times) to where it
must change vehicle or its booking names the departure its train runs on as, and a box seen
leaving ahead of its booking is laid on the departures it can still take, not held to booked ones
it has evidently not been waiting for. Without such evidence the booking stands: a box that is in
time for its booked departure leaves on it, not on an earlier one it is not booked on (being here
early is no evidence: the booking may have been moved after the box set out), and only a box that
missed it is laid on the next one with room.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from contextlib import contextmanager
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from operator import itemgetter
from typing import Callable, Protocol

from sqlalchemy import Connection, and_

from ..domain.timetable import Departure
from ..store import db as _db
from ..store import tracking as repo
from ..store.network import row_to_departure

SCENARIOS = ("low", "mid", "high")
# without history a late arrival is judged by mode: (early, typical, late) hours against the timetable
DEFAULT_DELAY_H = {"rail": (-2.0, 0.0, 18.0), "ferry": (-4.0, 0.0, 36.0), "feeder": (-4.0, 0.0, 30.0),
                   "deep_sea": (-12.0, 0.0, 72.0), "truck": (-1.0, 0.0, 8.0)}
MIN_SAMPLES = 5


@dataclass(frozen=True, slots=True)
class Spread:
    """Hours early/typical/late: the 10th, 50th and 90th percentile of what was observed."""

    low: float
    mid: float
    high: float

    def pick(self, scenario: str) -> float:
        return getattr(self, scenario)   # "low" | "mid" | "high"


@dataclass(frozen=True, slots=True)
class Hop:
    """One remaining leg of the route: from, to, and the departure booked on it (if any)."""

    origin: str
    destination: str
    booked: str | None = None


@dataclass(frozen=True, slots=True)
class LaidLeg:
    """A hop laid on a concrete departure, with the expected arrival (no departure id: hops ridden
    on a vehicle that runs as no timetable departure)."""

    origin: str
    destination: str
    departure_id: str | None
    departs_at: datetime
    arrives_at: datetime
    booked: str | None


@dataclass(frozen=True, slots=True)
class Ride:
    """The vehicle the box is aboard, known by its moves alone: when it leaves (left) `hops[0].origin`,
    how many of the remaining hops it carries the box, their running and stop hours, and its link.
    `runs_on`: the box stays aboard where the ride ends, the train running on as the departure the
    box is booked on there (its timetabled stop, not a transfer, before it)."""

    departs_at: datetime
    hops: int
    hours: float
    link_id: str
    runs_on: bool = False


@dataclass(frozen=True)
class Eta:
    """When the box is expected at its destination, the range, and the legs it was laid on."""

    at: datetime
    low: datetime
    high: datetime
    legs: tuple[LaidLeg, ...] = ()
    missed: tuple[tuple[str, str], ...] = ()   # (booked departure, the one it now waits for)
    # of each missed booked departure: (its status, when it leaves) as read, or None when unknown
    missed_as: tuple[tuple[str, datetime] | None, ...] = ()

    def as_json(self) -> dict:
        return {"eta": self.at.isoformat(), "low": self.low.isoformat(), "high": self.high.isoformat(),
                "legs": [{"from": l.origin, "to": l.destination, "departure_id": l.departure_id,
                          "departs_at": l.departs_at.isoformat(), "arrives_at": l.arrives_at.isoformat(),
                          "booked": l.booked} for l in self.legs],
                "missed": [{"booked": b, "next": n} for b, n in self.missed]}

    def next_departure(self) -> LaidLeg | None:
        """The first leg laid on a timetable departure: the one the box is to board next (the
        departure a box is aboard, and a vehicle it rides without one, are no such leg)."""
        return next((l for l in self.legs if l.departure_id is not None), None)


class DepartureSource(Protocol):
    def next_departure(self, origin: str, destination: str, after: datetime) -> Departure | None: ...
    def departure(self, dep_id: str) -> Departure | None: ...


@dataclass
class History:
    """Observed arrival delay per link and dwell per location (hours), where history exists.

    `delay`: arrival against the timetabled arrival, for departures still to come (a ferry that
    sails when loaded arrives days off its slot). `running`: the run's own delay, its arrival
    against its heard departure plus the timetabled running time, for a box aboard a departure
    heard leaving (how early or late it left is known then)."""

    delay: dict[str, Spread] = field(default_factory=dict)
    dwell: dict[str, Spread] = field(default_factory=dict)
    running: dict[str, Spread] = field(default_factory=dict)


def spread(samples: list[float]) -> Spread | None:
    """10th/50th/90th percentile of samples; None below MIN_SAMPLES."""
    if len(samples) < MIN_SAMPLES:
        return None
    s = sorted(samples)
    q = lambda p: s[min(len(s) - 1, int(round(p * (len(s) - 1))))]
    return Spread(q(0.1), q(0.5), q(0.9))


def lay(hops: list[Hop], ready_at: datetime, source: DepartureSource, *, history: History,
        mode_of: Callable[[str], str], transfer_h: Callable[..., Spread],
        aboard: Departure | None = None, aboard_late_h: float = 0.0, ride: Ride | None = None,
        set_down: bool = False, not_before: datetime | None = None,
        reopens: Callable[..., datetime] | None = None) -> Eta | None:
    """Lay the remaining hops on the timetable in three scenarios; None when no departure fits.

    `aboard` is the departure the box is on now (late by `aboard_late_h` hours at its departure);
    then `ready_at` is when that was last known and `hops` start at its destination. `ride` is a
    vehicle without a timetable departure the box is on: it carries the box over the first
    `ride.hops` hops, the rest are laid on the timetable from where it sets the box down.
    `set_down`: the box arrived at hops[0].origin aboard and is still to be set down (discharged,
    transshipped) there, so the first hop too waits for the place's transfer time.
    `not_before`: no departure before this is laid on (they left without the box: the sweep's now).
    `reopens(place, t, mode)`: when a vehicle of `mode` due at `place` at `t` can arrive (a port
    closed by storm: ships wait at anchor until it opens); departures from a closed place are
    cancelled already.
    """
    results: dict[str, datetime] = {}
    mid_legs: list[LaidLeg] = []
    missed: list[tuple[str, str]] = []
    missed_as: list[tuple[str, datetime] | None] = []
    delays: dict[str, Spread] = {}      # the same links and places come up in every scenario
    transfers: dict[tuple[str, str, bool], Spread] = {}

    def delay(link_id: str) -> Spread:
        s = delays.get(link_id)
        if s is None:
            s = delays[link_id] = _delay(history, link_id, mode_of(link_id))
        return s

    first = ride.hops if ride is not None else 0
    reopens = reopens or _always_open
    for sc in SCENARIOS:
        t = ready_at
        if aboard is not None:
            # its lateness at departure is in aboard_late_h: only the run's own delay is added
            run = (history.running.get(aboard.link_id) or delay(aboard.link_id)).pick(sc)
            t = max(ready_at, aboard.arrives_at + timedelta(hours=aboard_late_h + run))
            t = reopens(aboard.destination, t, _mode(aboard))
        elif ride is not None:
            t = max(ready_at, ride.departs_at + timedelta(hours=ride.hours + delay(ride.link_id).pick(sc)))
            t = reopens(hops[first - 1].destination, t, None)
            if sc == "mid":     # no timetable departure: the vehicle is known by its moves alone
                mid_legs.append(LaidLeg(hops[0].origin, hops[first - 1].destination, None, ride.departs_at, t,
                                        hops[0].booked))
        for i, h in enumerate(hops[first:], first):
            if (i or aboard is not None or set_down) and not (i == first and ride is not None and ride.runs_on):
                tr = transfers.get((h.origin, h.destination, not i))
                if tr is None:
                    tr = transfers[(h.origin, h.destination, not i)] = transfer_h(h.origin, "" if i else "first",
                                                                                  h.destination)
                ready = t + timedelta(hours=tr.pick(sc))
            else:
                ready = t
            if not_before is not None and ready < not_before:
                ready = not_before
            dep = b = None
            if h.booked:
                b = source.departure(h.booked)
                if b is not None and b.status != "cancelled" and b.departs_at >= ready:
                    dep = b
            if dep is None:
                dep = source.next_departure(h.origin, h.destination, ready)
                if dep is None:
                    return None
                if sc == "mid" and h.booked and h.booked != dep.id:
                    missed.append((h.booked, dep.id))
                    missed_as.append((b.status, b.departs_at) if b is not None else None)
            t = max(dep.arrives_at + timedelta(hours=delay(dep.link_id).pick(sc)), dep.departs_at)
            t = reopens(h.destination, t, _mode(dep))
            if sc == "mid":
                mid_legs.append(LaidLeg(h.origin, h.destination, dep.id, dep.departs_at, t, h.booked))
        results[sc] = t
    low, mid, high = sorted(results.values())
    return Eta(at=results["mid"], low=min(low, results["mid"]), high=max(high, results["mid"]),
               legs=tuple(mid_legs), missed=tuple(missed), missed_as=tuple(missed_as))


def _always_open(place: str, t: datetime, mode: str | None = None) -> datetime:
    return t


def _mode(dep) -> str | None:
    """A departure's mode as notices name it (Mode's value)."""
    m = getattr(dep, "mode", None)
    return getattr(m, "value", m)


_DEFAULT_SPREAD = {m: Spread(*v) for m, v in DEFAULT_DELAY_H.items()}
_UNKNOWN_MODE_SPREAD = Spread(0.0, 0.0, 12.0)


def _delay(history: History, link_id: str, mode: str) -> Spread:
    s = history.delay.get(link_id)
    return s if s is not None else _DEFAULT_SPREAD.get(mode, _UNKNOWN_MODE_SPREAD)


# --- the database side ------------------------------------------------------------------------

class StoredDepartures:
    """Departures from the `departures` table: cancelled skipped, full ones skipped.

    Laying a trip's remaining legs asks for many departures; one query each made the ETA the
    slowest step of ingest. The timetable is therefore held in memory per store, grouped by
    (origin, destination) and sorted by departure time, reloaded when this process changes it
    (store.network.TIMETABLE_GENERATION) or after TIMETABLE_TTL_S; reserved TEU are refreshed
    every RESERVED_TTL_S (free space only decides which sailing a late box can still take) and
    read once per instance, so every ETA of one ingest batch sees the same free space.
    """

    def __init__(self, conn: Connection):
        self.conn = conn
        self.tt = _timetable(conn)
        self._reserved: dict[str, int] | None = None

    def next_departure(self, origin: str, destination: str, after: datetime) -> Departure | None:
        times, deps = self.tt.by_pair.get((origin, destination), ((), ()))
        if self._reserved is None:
            self._reserved = self.tt.reserved(self.conn)
        reserved = self._reserved
        for i in range(bisect_left(times, after.astimezone(timezone.utc)), len(deps)):
            d = deps[i]
            if d.status != "cancelled" and reserved.get(d.id, 0) < d.capacity_teu:
                return d
        return None

    def departure(self, dep_id: str) -> Departure | None:
        d = self.tt.by_id.get(dep_id)
        if d is None:   # added after the cache was built (another process): read it directly
            rows = repo.departure_rows(self.conn, [dep_id])
            d = row_to_departure(rows[0]) if rows else None
        return d


TIMETABLE_TTL_S = 300.0
RESERVED_TTL_S = 30.0
HISTORY_TTL_S = 300.0


@dataclass(frozen=True)
class CacheClock:
    """The clock a store's tracking caches age by (seconds) and how long, on it, the observed
    history and the space booked on departures are kept before they are read again."""

    now: Callable[[], float] = time.monotonic
    history_s: float = HISTORY_TTL_S
    reserved_s: float = RESERVED_TTL_S


WALL_CLOCK = CacheClock()
# store key -> its clock where not the wall's: a twin's fast run ages the caches of the store it
# feeds on its simulated clock, so they are read again at the same simulated moments whatever
# the machine's speed (the same seed, the same ETAs and alerts)
_CLOCKS: dict[str, CacheClock] = {}


def cache_clock(key: str) -> CacheClock:
    return _CLOCKS.get(key, WALL_CLOCK)


@contextmanager
def simulated_clock(keys, clock: CacheClock):
    """While inside, the caches of the store known under `keys` (Store.cache_keys) age by `clock`."""
    keys = list(keys)

    def restamp() -> None:     # what was kept was stamped on the other clock: read it again
        for k in keys:
            _HISTORY.pop(k, None)
            if (tt := _TIMETABLES.get(k)) is not None:
                tt._reserved_at = None
    restamp()
    _CLOCKS.update(dict.fromkeys(keys, clock))
    try:
        yield
    finally:
        for k in keys:
            _CLOCKS.pop(k, None)
        restamp()


class _CachedTimetable:
    """The timetable by id and by (origin, destination); `times` are UTC (fast to compare).

    A reload (a notice cancelled one departure) reads again only the rows whose marks changed.
    """

    def __init__(self, conn: Connection, previous: _CachedTimetable | None = None, key: str = ""):
        from ..store.network import TIMETABLE_GENERATION
        self.key = key
        self.generation = TIMETABLE_GENERATION[0]
        self.loaded = time.monotonic()
        pairs: dict[tuple[str, str], list[tuple[datetime, Departure]]] = {}
        self.by_id: dict[str, Departure] = {}
        marks = repo.departure_marks(conn)
        self.marks = {m[0]: m for m in marks}
        old_marks, old = (previous.marks, previous.by_id) if previous else ({}, {})
        stale = [m[0] for m in marks if old_marks.get(m[0]) != m]
        read = {r.id: row_to_departure(r)
                for r in repo.departure_rows(conn, stale if len(stale) < len(marks) // 2 else None)}
        for m in marks:   # in table order, as a plain read of the table would give them
            d = read.get(m[0]) or old[m[0]]
            self.by_id[d.id] = d
            pairs.setdefault((d.origin, d.destination), []).append((d.departs_at.astimezone(timezone.utc), d))
        self.by_pair = {}
        for k, v in pairs.items():
            v.sort(key=itemgetter(0))   # stable: equal times keep table order
            self.by_pair[k] = ([t for t, _ in v], [d for _, d in v])
        # the space booked is the bookings', not the timetable's: a reload keeps it to its age
        self._reserved: dict[str, int] = previous._reserved if previous else {}
        self._reserved_at: float | None = previous._reserved_at if previous else None

    def fresh(self) -> bool:
        from ..store.network import TIMETABLE_GENERATION
        return self.generation == TIMETABLE_GENERATION[0] and time.monotonic() - self.loaded < TIMETABLE_TTL_S

    def patch(self, conn: Connection) -> bool:
        """Catch up with departures this process changed (notices) by re-reading those rows alone;
        False when that cannot be done (a load of new departures, or the time-to-live is over).

        A year's timetable is some 90,000 departures: a storm closure must not cost a reload of all."""
        from ..store.network import TIMETABLE_GENERATION, changed_since
        if time.monotonic() - self.loaded >= TIMETABLE_TTL_S:
            return False
        generation = TIMETABLE_GENERATION[0]
        ids = changed_since(self.generation)
        if ids is None:
            return False
        for r in repo.departure_rows(conn, sorted(ids)):
            d = row_to_departure(r)
            old = self.by_id.get(d.id)
            if old is None:       # not in this timetable (added elsewhere): a full reload finds it
                return False
            pair = (old.origin, old.destination)
            # new lists, swapped in whole: a reader in another thread keeps a consistent pair
            times, deps = (list(x) for x in self.by_pair[pair])
            i = next(i for i, x in enumerate(deps) if x is old)
            del times[i], deps[i]
            t = d.departs_at.astimezone(timezone.utc)
            j = bisect_right(times, t)
            times.insert(j, t)
            deps.insert(j, d)
            self.by_pair[pair] = (times, deps)
            self.by_id[d.id] = d
            self.marks[d.id] = None      # a later reload reads this row again
        self.generation = generation
        return True

    def reserved(self, conn: Connection) -> dict[str, int]:
        clock = cache_clock(self.key)
        now = clock.now()
        if self._reserved_at is None or now - self._reserved_at > clock.reserved_s:
            from ..store.network import reserved_map
            self._reserved, self._reserved_at = reserved_map(conn), now
        return self._reserved


_TIMETABLES: dict[str, _CachedTimetable] = {}


def _timetable(conn: Connection) -> _CachedTimetable:
    key = conn.engine.url.render_as_string(hide_password=True)
    tt = _TIMETABLES.get(key)
    if tt is None or not (tt.fresh() or tt.patch(conn)):
        tt = _TIMETABLES[key] = _CachedTimetable(conn, tt, key)
    return tt


class Places:
    """Location refs (UN/LOCODE or id, as events carry them) <-> location ids; link modes and dwell."""

    def __init__(self, conn: Connection):
        self.id_of: dict[str, str] = {}
        self.ref_of: dict[str, str] = {}
        self.transfer: dict[str, float] = {}
        for r in repo.place_rows(conn):
            self.id_of[r.id] = r.id
            if r.code:
                self.id_of[r.code] = r.id
            self.ref_of[r.id] = r.code or r.id
            self.transfer[r.id] = float((r.data or {}).get("min_transfer_hours") or 0.0)
        self.links: dict[str, dict] = repo.link_data(conn)
        self.link_of: dict[tuple[str, str], dict] = {}
        for d in self.links.values():
            self.link_of[(d["origin"], d["destination"])] = d
            self.link_of.setdefault((d["destination"], d["origin"]), d)

    def mode_of(self, link_id: str) -> str:
        d = self.links.get(link_id) or self.links.get(link_id[:-1] if link_id.endswith("R") else link_id) or {}
        return d.get("mode", "rail")

    def transfer_h(self, loc_id: str, _first: str = "", destination: str | None = None) -> Spread:
        """Hours from arrival at `loc_id` until the box can leave on the next link (to `destination`):
        the place's least transfer time, or the link's dwell at its origin (border formalities, break
        of gauge, port handling) when longer, as the route planner and the timetable connect."""
        base = self.transfer.get(loc_id, 0.0)
        link = self.link_of.get((loc_id, destination)) if destination else None
        if link is not None:
            base = max(base, float(link.get("dwell_hours") or 0.0))
        return Spread(base, base, base)


_PLACES: dict[str, tuple[tuple, Places]] = {}


def current_places(conn: Connection) -> Places:
    """`Places(conn)`, built again only when the stored locations or links changed (checked each call)."""
    raw = repo.network_texts(conn)
    key = conn.engine.url.render_as_string(hide_password=True)
    hit = _PLACES.get(key)
    if hit is not None and hit[0] == raw:
        return hit[1]
    places = Places(conn)
    _PLACES[key] = (raw, places)
    return places


_HISTORY: dict[str, tuple[float, History]] = {}


def _forget(store) -> None:
    """A disposed store's timetable (some 110 MB loaded), places and history go with it."""
    for k in store.cache_keys():
        for cache in (_TIMETABLES, _PLACES, _HISTORY):
            cache.pop(k, None)


_db.BEFORE_DISPOSE.append(_forget)


def observed(conn: Connection, key: str = "", max_rows: int = 20000) -> History:
    """Observed arrival delays per link and dwell per location; kept for the store's
    `cache_clock(key).history_s` (HISTORY_TTL_S of the wall clock, a week of a twin's fast run)."""
    hit = _HISTORY.get(key)
    clock = cache_clock(key)
    now = clock.now()
    if key and hit and now - hit[0] < clock.history_s:
        return hit[1]
    h = History()
    delays: dict[str, list[float]] = {}
    running: dict[str, list[float]] = {}
    arrivals = repo.arrivals_against_timetable(conn, max_rows)
    left = repo.departures_heard_leaving(conn, {r.departure_id for r in arrivals})
    for r in arrivals:                 # one sample per departure
        delays.setdefault(r.link_id, []).append((r.event_time - r.arrives_at).total_seconds() / 3600)
        if (t := left.get(r.departure_id)) is not None and t <= r.event_time:
            ran = (r.event_time - t) - (r.arrives_at - r.departs_at)
            running.setdefault(r.link_id, []).append(ran.total_seconds() / 3600)
    h.delay = {k: s for k, v in delays.items() if (s := spread(v))}
    h.running = {k: s for k, v in running.items() if (s := spread(v))}
    dwell: dict[str, list[float]] = {}
    last: dict[str, tuple[str, datetime]] = {}
    for r in sorted(repo.discharges_and_loads(conn, max_rows), key=lambda r: (r.trip_id, r.event_time)):
        prev = last.get(r.trip_id)
        if r.code == "LOAD" and prev and prev[0] == r.location:
            dwell.setdefault(r.location, []).append((r.event_time - prev[1]).total_seconds() / 3600)
        last[r.trip_id] = (r.location, r.event_time) if r.code == "DISC" else ("", r.event_time)
    h.dwell = {k: s for k, v in dwell.items() if (s := spread(v))}
    if key:
        _HISTORY[key] = (now, h)
    return h


def booking_hops(conn: Connection, booking_ref: str | None) -> tuple[list[Hop], str | None, datetime | None]:
    """(hops of the booking's active legs, destination location id, promised arrival)."""
    return _plan(repo.booking_plans(conn, [booking_ref]), booking_ref)


def _plan(plans: dict, booking_ref: str | None) -> tuple[list[Hop], str | None, datetime | None]:
    """One booking's entry of `store.tracking.booking_plans` as hops; the last leg's end without a booking row."""
    legs, dest, promised = plans.get(booking_ref or "") or ((), None, None)
    hops = [Hop(*leg) for leg in legs]
    return hops, dest if dest is not None else (hops[-1].destination if hops else None), promised


def planned_destination(conn: Connection, trip_id: str, places: Places) -> str | None:
    """Without a booking: the place of the trip's latest planned/estimated milestone."""
    return places.id_of.get(repo.planned_places(conn, [trip_id]).get(trip_id))


def route_hops(conn: Connection, origin: str, destination: str, ready_at: datetime, places: Places) -> list[Hop]:
    """Hops of the earliest journey on the timetable (the planner's router) when no booking says."""
    from ..planning.router import Timetable
    from ..store.network import list_departures, load_network
    net = load_network(conn)
    if net is None or origin == destination:
        return []
    deps = [d for d, _ in list_departures(conn, start=ready_at - timedelta(days=1), end=ready_at + timedelta(days=60))]
    deps = [d for d in deps if d.link_id in {k.id for k in net.directed_links()}] if deps else deps
    try:
        j = Timetable(net, deps).earliest_arrival(origin, destination, ready_at)
    except Exception:   # an unknown place or link in a partial network: no route to lay
        return []
    return [Hop(d.origin, d.destination) for d in j.legs] if j else []


def trip_eta(conn: Connection, status: dict, *, key: str = "",
             places: Places | None = None) -> tuple[Eta | None, dict]:
    """The ETA of one trip from its status row; also returns context (destination, promise, hops)."""
    return trip_etas(conn, [status], key=key, places=places)[0]


def trip_etas(conn: Connection, statuses: list[dict], *, key: str = "", places: Places | None = None,
              not_before: datetime | None = None) -> list[tuple[Eta | None, dict]]:
    """`trip_eta` of many trips, in their order: bookings and planned places read in bulk, and the
    timetable, free space and history taken once, so boxes with the same remaining legs from the
    same moment (a train's load) share one laying. `not_before`: departures before it are gone
    (the time-driven sweep lays again the ETAs whose next departure left without the box)."""
    places = places or Places(conn)
    plans = repo.booking_plans(conn, [st.get("booking_ref") for st in statuses])
    by_ref = {ref: _plan(plans, ref) for ref in {st.get("booking_ref") for st in statuses}}   # boxes share bookings
    planned = [by_ref[st.get("booking_ref")] for st in statuses]
    unbooked = [st["trip_id"] for st, (_, dest, _) in zip(statuses, planned) if not dest]
    milestones = repo.planned_places(conn, unbooked)
    batch = _Batch(conn, key, places, not_before)
    out = []
    for st, (hops, dest, promised) in zip(statuses, planned):
        dest = dest or places.id_of.get(milestones.get(st["trip_id"]))
        out.append(_trip_eta(st, hops, dest, promised, batch))
    return out


class _Batch:
    """What the ETAs of one batch share: departures, places, history, and the layings done so far."""

    def __init__(self, conn: Connection, key: str, places: Places, not_before: datetime | None = None):
        self.conn, self.key, self.places, self.not_before = conn, key, places, not_before
        self.src = StoredDepartures(conn)
        self._history: History | None = None
        self._closed: dict[str, list[tuple[datetime, datetime]]] | None = None
        self._laid: dict[tuple, Eta | None] = {}

    def reopens(self, place: str, t: datetime, mode: str | None = None) -> datetime:
        """When a vehicle (of `mode`) due at `place` at `t` can arrive: after each closure announced
        over `t` that holds for its mode (a storm holds ships, not the trains into the same place)."""
        if self._closed is None:
            from ..store.notices import closures
            self._closed = closures(self.conn)
        for start, end, modes in self._closed.get(place, ()):
            if start <= t < end and (modes is None or mode is None or mode in modes):
                t = end
        return t

    def lay(self, hops: list[Hop], ready_at: datetime, aboard: Departure | None, late_h: float,
            ride: Ride | None = None, set_down: bool = False) -> Eta | None:
        # the offset is part of the key: the ETA keeps the offset of the time it was laid from
        k = (tuple(hops), ready_at, ready_at.utcoffset(), aboard.id if aboard else None, late_h, ride, set_down)
        if k not in self._laid:
            if self._history is None:
                self._history = observed(self.conn, self.key)
            self._laid[k] = lay(hops, ready_at, self.src, history=self._history, mode_of=self.places.mode_of,
                                transfer_h=self.places.transfer_h, aboard=aboard, aboard_late_h=late_h,
                                ride=ride, set_down=set_down, not_before=self.not_before, reopens=self.reopens)
        return self._laid[k]


def _trip_eta(status: dict, hops: list[Hop], dest: str | None, promised: datetime | None,
              batch: _Batch) -> tuple[Eta | None, dict]:
    ctx = {"destination": dest, "promised_arrival": promised, "booked_stops": set()}
    ctx["booked_stops"] = {h.origin for h in hops} | {h.destination for h in hops}
    if dest is None:
        return None, ctx
    src, places = batch.src, batch.places
    here = places.id_of.get(status.get("location") or "")
    as_of = status.get("since") or status.get("last_heard_at")
    aboard, late_h = None, 0.0
    if status.get("state") in ABOARD and status.get("departure_id"):
        aboard = src.departure(status["departure_id"])
        if aboard is not None and _runs_through(aboard, hops, places):
            aboard = None   # a train that runs on past this departure's end: ridden by its moves below
        if aboard is not None and here == aboard.destination:
            aboard = None   # arrived at its end (early or late): set down there, as a box off any timetable
        if aboard is not None:
            late_h = _late_aboard(aboard, status, as_of)
            here = aboard.destination
            # a run heard ahead of its timetable (a ferry that sailed when loaded) left early
            left = aboard.departs_at + timedelta(hours=min(0.0, late_h))
            as_of = max(as_of or left, left)
    if status.get("state") == "delivered":
        return None, ctx
    if here is None:
        if not hops:
            return None, ctx
        here, as_of = hops[0].origin, as_of or _first_departure(src, hops[0])
    if as_of is None:
        return None, ctx
    idx = next((i for i, h in enumerate(hops) if h.origin == here), None)
    remaining = hops[idx:] if idx is not None else (
        [] if here == dest else route_hops(batch.conn, here, dest, as_of, places))
    if not remaining and here != dest:
        return None, ctx
    ctx["off_route"] = bool(hops) and idx is None and here not in ctx["booked_stops"]
    ride, set_down = None, False
    if aboard is None and remaining and status.get("state") in ABOARD:
        heard = status.get("last_heard_at")
        left = heard if heard is not None and heard > as_of else None   # heard from on the way
        if idx is not None and _ahead(hops, idx, left, src):
            remaining = [Hop(h.origin, h.destination) for h in remaining]
        through = idx is not None and idx > 0 and _rides_on(places, hops[idx - 1], hops[idx])
        reported = left is not None and left != status.get("position_at")
        if through and not reported and _booked(src, remaining[0]):
            # a train at a stop on its way, the box aboard, leaves as the departure the box is booked
            # on from here (its timetabled stop, not the link's nominal one), or the next it can make
            # if that left: laid on the timetable from its arrival, no transfer (nothing is set down)
            ride, set_down = None, False
        else:
            ride = _ride(remaining, through, status["state"], as_of, left, src, places, reported=reported)
            set_down = ride is None
    eta = batch.lay(remaining, as_of, aboard, late_h, ride, set_down)
    if eta is None and not remaining and aboard is None:
        eta = Eta(as_of, as_of, as_of)
    return eta, ctx


ABOARD = ("on_rail", "at_sea")
AHEAD_SLACK = timedelta(hours=6)
# hours from the report of a box put aboard to the vehicle's departure, when nothing else says:
# a train leaves a few hours after its wagons are loaded, a ship soon after the last box is on board
LEAVES_AFTER_H = {"on_rail": 3.0, "at_sea": 1.5}
LEAVES_WITHIN_H = {"on_rail": 8.0, "at_sea": 3.0}
_SEA = ("ferry", "feeder", "deep_sea")


def _ahead(hops: list[Hop], idx: int, left: datetime | None, src: DepartureSource) -> bool:
    """Whether the box at hops[idx].origin (its vehicle heard on the way at `left`) runs ahead of its
    booking: its vehicle left before the booked departure from here. Its booked departures after
    that are not its own. A box that got here before the departure booked into here arrives is not:
    its booking may have been moved after it set out, and it waits here for its booked departure."""
    nxt = src.departure(hops[idx].booked) if left is not None and hops[idx].booked else None
    return nxt is not None and left < nxt.departs_at - AHEAD_SLACK


def _rides_on(places: Places, a: Hop, b: Hop) -> bool:
    """Whether a box aboard on hop `a` stays aboard over hop `b`: a train runs through its stops
    (borders included) until a break of gauge or another mode takes over."""
    la, lb = places.link_of.get((a.origin, a.destination)), places.link_of.get((b.origin, b.destination))
    if la is None or lb is None:
        return False
    return (la.get("mode") == lb.get("mode") == "rail"
            and not str(lb.get("transfer") or "").startswith("gauge_change"))


def _ride(hops: list[Hop], through: bool, state: str, at: datetime, left: datetime | None,
          src: DepartureSource, places: Places, reported: bool = False) -> Ride | None:
    """The vehicle a box aboard at hops[0].origin since `at` is on, when no timetable departure says.

    `left`: when the box was last heard from, after `at`; `reported`: that was a report at this
    place (its vehicle heard leaving, DEPA), not a tracker's fix on the way. A vehicle heard
    leaving left then, whether it came in with the box or the box was put aboard here (a train
    waits at the border for its path, hours after its wagons are loaded). Else: `through`, the box
    came into this stop aboard and stays aboard (an arrival on the way), so the vehicle leaves
    after its stop; or the box was put aboard here: its vehicle left by the fix heard (`left`), or
    leaves on the booked departure it waits for, or soon. None when the box is to be
    set down here: the vehicle's mode is not the next hop's, or the next hop begins with a break of
    gauge and nothing was heard since (it arrived aboard the last vehicle; transshipment follows)."""
    first = places.link_of.get((hops[0].origin, hops[0].destination))
    if first is None or (first.get("mode") in _SEA) != (state == "at_sea"):
        return None
    if not through and left is None and str(first.get("transfer") or "").startswith("gauge_change"):
        return None
    if left is not None and reported:
        departs = left
    elif through:
        departs = at + timedelta(hours=float(first.get("dwell_hours") or 0.0))
    elif left is not None:
        departs = min(left, at + timedelta(hours=LEAVES_WITHIN_H[state]))
    else:
        b = src.departure(hops[0].booked) if hops[0].booked else None
        departs = (b.departs_at if b is not None and b.status != "cancelled" and b.departs_at >= at
                   else at + timedelta(hours=LEAVES_AFTER_H[state]))
    n, hours = 1, float(first.get("running_hours") or 0.0)
    # ridden through its stops up to one the box is booked out of: the train leaves there as that
    # departure, on its timetable (a stop of hours the link's nominal dwell does not know), or the
    # box rolls to the next one if the train comes in after it left
    while n < len(hops) and _rides_on(places, hops[n - 1], hops[n]) and not _booked(src, hops[n]):
        stop = places.link_of[(hops[n].origin, hops[n].destination)]   # its dwell: the train's stop there
        hours += float(stop.get("dwell_hours") or 0.0) + float(stop.get("running_hours") or 0.0)
        n += 1
    return Ride(departs, n, hours, first["id"], runs_on=n < len(hops) and _rides_on(places, hops[n - 1], hops[n]))


def _booked(src: DepartureSource, hop: Hop) -> bool:
    """Whether the hop is booked on a departure the timetable knows."""
    return hop.booked is not None and src.departure(hop.booked) is not None


def _runs_through(aboard: Departure, hops: list[Hop], places: Places) -> bool:
    """Whether the box stays aboard past the end of the departure it is on (a block train through
    its stops and borders): it does not change vehicle there, so no connection is laid there."""
    i = next((i for i, h in enumerate(hops) if (h.origin, h.destination) == (aboard.origin, aboard.destination)),
             None)
    return i is not None and i + 1 < len(hops) and _rides_on(places, hops[i], hops[i + 1])


def _late_aboard(aboard: Departure, status: dict, as_of: datetime | None) -> float:
    """Hours the departure a box is aboard runs behind its timetable (negative: ahead of it), by
    what was heard of the box (a box arrived at its end is set down there, not laid aboard).

    Heard from since it was put aboard (the vehicle's departure, a fix on the way): it left by
    then, early or late; ferries on the Caspian sail when loaded, days before the slot they run
    as. Put aboard and nothing since: it leaves no earlier than its timetable says."""
    if as_of is None:
        return 0.0
    start, heard = as_of, status.get("last_heard_at")
    if heard is not None and heard > as_of:
        start = min(heard, as_of + timedelta(hours=LEAVES_WITHIN_H.get(status.get("state"), 8.0)))
        return (start - aboard.departs_at).total_seconds() / 3600
    return max(0.0, (start - aboard.departs_at).total_seconds() / 3600)


def _first_departure(src: DepartureSource, hop: Hop) -> datetime | None:
    d = src.departure(hop.booked) if hop.booked else None
    return d.departs_at if d else None


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


__all__ = ["Eta", "Hop", "History", "LaidLeg", "Ride", "Spread", "lay", "observed", "trip_eta", "trip_etas",
           "StoredDepartures", "Places", "current_places", "spread", "and_"]
