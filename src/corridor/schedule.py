"""The generated timetable: block trains, irregular storm-hit Caspian sailings, feeders and ocean loops.

Deterministic per seed. Rules (all ESTIMATES unless a source is named):
- Rail and truck: a weekly pattern of `frequency_per_week` paths at fixed local times at the
  origin (its IANA zone), so the timetable repeats week by week.
- Caspian ferries and feeders (both ends in KZ, TM or AZ): no fixed timetable - ships sail when
  loaded (travel reports), so gaps between sailings are random around 7 / frequency days. A
  daily Caspian weather chain closes the sea in storm spells, much more often in Nov-Feb (Kuryk
  closed ~50 % of Nov-Dec, Turan 2024; 5-day closure of AZ ports Feb 2025, Azernews); a sailing
  on a storm day is `cancelled`, the first ones after a storm are `delayed` (backlog), crossings
  take 0.95-1.35 x the typical time.
- Black Sea feeders and deep-sea lines: weekly loops on fixed weekdays, some sailings delayed,
  a few blanked (cancelled), running time varying by a few per cent.
- A link's dwell is NOT added to departure times: the router applies it as the minimum
  connection time at the origin.
- Sea waypoints (facility_type WAYP: Suez, the Cape) are passed, not called at: a sailing that
  leaves one is the ship that came in, with its vessel, operator and voyage, leaving at its
  arrival plus the outbound link's connection time (its dwell - the 24 h Suez transit wait, 0 at
  the Cape, either way: a reversed link leaving a waypoint carries the file's reverse_dwell_hours,
  not its port's handling - or the waypoint's min_transfer_hours if longer, as the router reckons it). Ships keep
  the direction the network file writes the links in (Asia -> waypoint -> Europe, or all reversed:
  a reversed inbound link continues on reversed outbound links), the same corridor and
  sea_routing, and never turn back to the port they came from; the arrivals are spread over the
  eligible outbound links in proportion to their frequency_per_week (smooth weighted round-robin,
  in order of arrival). Ships already at sea when the timetable starts are sailed from a lead-in
  so the legs beyond the waypoint run from the first day. An outbound link no inbound one can
  feed keeps its own weekly liner loop.
"""

from __future__ import annotations

import gc
import random
from collections import defaultdict
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from corridor.domain.network import Corridor, FacilityType, Link, Mode, Network
from corridor.domain.timetable import Departure
from corridor.network_file import LinkService, link_services

UTC = timezone.utc
CASPIAN_COUNTRIES = {"KZ", "TM", "AZ"}

# Used where a link's frequency_per_week is null (ESTIMATES):
ESTIMATED_FREQUENCY_PER_WEEK: dict[tuple[Mode, Corridor | None], float] = {
    (Mode.RAIL, Corridor.MIDDLE): 7,     # daily Xi'an-Baku block train since Jul 2024 (Trend); ADY ~300 trains in 2024
    (Mode.RAIL, Corridor.NORTHERN): 14,  # judged: the northern route carries most China-Europe trains
    (Mode.RAIL, Corridor.SEA): 7,        # judged: daily sea-rail pre-/on-carriage
    (Mode.TRUCK, None): 28,              # judged: trucks on demand, four slots a day
    (Mode.FEEDER, None): 1,              # judged: one weekly feeder loop
    (Mode.FERRY, None): 3,               # judged
    (Mode.DEEP_SEA, None): 7,            # judged: one sailing a day across the alliances
}

# Share of storm days on the Caspian by month (ESTIMATE, judged from the closures reported:
# Kuryk ~50 % closed in Nov-Dec, Turan 2024; NW storms 18-30 m/s close AZ ports for days in winter).
CASPIAN_STORM_SHARE = {1: 0.30, 2: 0.30, 3: 0.15, 4: 0.08, 5: 0.06, 6: 0.03,
                       7: 0.03, 8: 0.03, 9: 0.06, 10: 0.12, 11: 0.35, 12: 0.40}
STORM_SPELL_DAYS = 3.0          # mean storm length (ESTIMATE; 5-day closures Feb 2025 and May 2022)
EXPOSED_PORTS = {"KZ_KUR": 1}   # extra closed days after a storm (Kuryk, exposed: ~50 % closed Nov-Dec)
BACKLOG_DELAY_HOURS = (6.0, 36.0)   # first sailings after a storm wait for berths/loading (ESTIMATE)
CASPIAN_DELAY = (0.10, 2.0, 12.0)   # probability, min and max hours of an ordinary delay (ESTIMATE)
CASPIAN_RUN_FACTOR = (0.95, 1.35, 1.05)  # low, high, mode x typical crossing (anchorage waits; ESTIMATE)
# Scheduled water services: (P(delayed), delay hours, P(blank sailing), running-time factor range)
LINER_VARIATION = {
    Mode.FEEDER: (0.20, (6.0, 48.0), 0.02, (0.95, 1.15)),
    Mode.DEEP_SEA: (0.30, (12.0, 72.0), 0.05, (0.97, 1.10)),
    Mode.FERRY: (0.20, (6.0, 48.0), 0.02, (0.95, 1.15)),
}
WINTER_MONTHS = {12, 1, 2}


def generate_timetable(network: Network, start: date, days: int = 400, seed: int = 1, *,
                       services: dict[str, LinkService] | None = None,
                       include_planned: bool = False) -> list[Departure]:
    """Every departure on the network's links from `start` for `days` days, sorted by departure time.

    `services` (named lines and vessels per link id) default to the packaged network file's.
    Cancelled sailings stay in the list with status "cancelled" (routers must skip them, see
    `operating`); delayed ones carry status "delayed" and their actual times.
    """
    if services is None:
        services = link_services()
    weather = storm_days(start, days + 2, seed)
    out: list[tuple[datetime, Departure]] = []
    links = [k for k in network.directed_links(include_planned=include_planned) if k.capacity_teu]
    phases = _through_phases(network, links, seed)
    through = _through_links(network, links)          # outbound link at a waypoint -> its inbound links
    feeds = {u.id for ins in through.values() for u in ins}
    arrivals: dict[str, list[Departure]] = {}         # sailings into a waypoint, lead-in included
    ctxs: dict[str, _Ctx] = {}
    with _gc_paused():
        for link in links:
            base = link.id[:-1] if link.id.endswith("R") and link.id[:-1] in services else link.id
            ctx = ctxs[link.id] = _Ctx(network, link, services.get(base), start, days, seed)
            if link.id in through:
                continue                               # sailed on from its inbound ships below
            if link.mode.is_water and _is_caspian(network, link):
                got = ctx.caspian(weather)
            elif link.mode.is_water:
                got = ctx.liner(_lead_days(link) if link.id in feeds else 0)
            else:
                got = ctx.land(phases.get(link.id))
            out += got
            if link.id in feeds:
                arrivals[link.id] = ctx.lead_in + [dep for _, dep in got]
        for outbound, legs in _continue_at_waypoints(links, through, arrivals).items():
            out += ctxs[outbound].continued(legs, _connect_hours(network, ctxs[outbound].link))
    out.sort(key=lambda pair: (pair[0], pair[1].id))   # UTC keys: comparing mixed zones is slow
    return [dep for _, dep in out]


def _is_reversed(link: Link, by_id: dict[str, Link]) -> bool:
    """Whether `link` is the reverse (id + "R") of a link as the network file writes it."""
    base = by_id.get(link.id[:-1]) if link.id.endswith("R") else None
    return base is not None and (base.origin, base.destination) == (link.destination, link.origin)


def _through_links(network: Network, links: list[Link]) -> dict[str, list[Link]]:
    """Each water link leaving a sea waypoint -> the water links whose ships sail on over it.

    An inbound link qualifies when it shares a corridor family and the sea_routing (Suez or
    Cape) with the outbound one, runs the same way as the file writes links (both as written or
    both reversed: Asia -> waypoint -> Europe, or back), does not lead back to the port it came
    from and does not itself start at a waypoint. Outbound links nothing feeds are left out.
    """
    by_id = {k.id: k for k in network.links}
    wayp = {s for s, loc in network.locations.items() if loc.facility_type is FacilityType.WAYP}
    water = [k for k in links if k.mode.is_water]
    out: dict[str, list[Link]] = {}
    for o in water:
        if o.origin not in wayp:
            continue
        ins = [u for u in water if u.destination == o.origin and u.origin not in wayp
               and u.origin != o.destination and u.corridors & o.corridors
               and u.suez_restricted == o.suez_restricted
               and _is_reversed(u, by_id) == _is_reversed(o, by_id)]
        if ins:
            out[o.id] = ins
    return out


def _lead_days(link: Link) -> int:
    """Days before the timetable starts from which a link into a waypoint is sailed, so that the
    ships at sea on the first day reach the waypoint and sail on (slowest run plus longest delay)."""
    _, (_, d_hi), _, (_, r_hi) = LINER_VARIATION.get(link.mode, LINER_VARIATION[Mode.DEEP_SEA])
    return int((link.running_hours * r_hi + d_hi) // 24) + 2


def _connect_hours(network: Network, link: Link) -> float:
    """The router's minimum connection time before `link`: its dwell or its origin's transfer time."""
    return max(link.dwell_hours, network.location(link.origin).min_transfer_hours)


def _continue_at_waypoints(links: list[Link], through: dict[str, list[Link]],
                           arrivals: dict[str, list[Departure]]) -> dict[str, list[Departure]]:
    """Outbound link id -> the inbound sailings that continue on it, spread over each ship's
    eligible outbound links in proportion to their frequency (smooth weighted round-robin)."""
    weight = {k.id: estimated_frequency(k) for k in links}
    onward: dict[str, list[str]] = defaultdict(list)   # inbound link -> eligible outbound links
    for o, ins in sorted(through.items()):
        for u in ins:
            onward[u.id].append(o)
    out: dict[str, list[Departure]] = {o: [] for o in through}
    by_waypoint: dict[str, list[Departure]] = defaultdict(list)
    for deps in arrivals.values():
        if deps:
            by_waypoint[deps[0].destination] += deps
    for _, deps in sorted(by_waypoint.items()):
        credit: dict[str, float] = defaultdict(float)
        for dep in sorted(deps, key=lambda d: (d.arrives_at.timestamp(), d.id)):
            choices = onward[dep.link_id]
            for o in choices:
                credit[o] += weight[o]
            pick = max(choices, key=lambda o: (credit[o], o))
            credit[pick] -= sum(weight[o] for o in choices)
            out[pick].append(dep)
    return out


def _through_phases(network: Network, links: list[Link], seed: int) -> dict[str, tuple[float, float]]:
    """(UTC minute-of-week of the first path, paths per week) of each land link, timed to its feeder.

    A block train from Alat to Poti is one train that stops at the border and in Tbilisi; the
    network models it as several links. Timing each link's path to the arrival of the busiest
    inbound land link of the same corridor (plus this link's dwell) keeps those stops at their
    real length instead of adding a random wait for an unrelated daily path. A link whose own
    frequency is unknown runs as often as its feeder (the same trains run through), capped at daily x2.
    """
    land = [k for k in links if not k.mode.is_water]
    inbound: dict[str, list[Link]] = defaultdict(list)
    for k in land:
        inbound[k.destination].append(k)
    memo: dict[str, float] = {}
    visiting: set[str] = set()

    def phase(k: Link) -> float:
        if k.id in memo:
            return memo[k.id]
        feeders = [u for u in inbound.get(k.origin, ()) if u.origin != k.destination
                   and u.corridors & k.corridors and u.id not in visiting]
        if not feeders:
            gap = 168.0 / estimated_frequency(k)
            memo[k.id] = random.Random(f"{seed}:{k.id}:phase").uniform(0, min(gap, 24.0)) * 60
            return memo[k.id]
        visiting.add(k.id)
        up = max(feeders, key=lambda u: (estimated_frequency(u), u.id))
        # the router's connection time at the station: the larger of the link's dwell and the
        # station's minimum transfer time
        connect = max(k.dwell_hours, network.location(k.origin).min_transfer_hours)
        memo[k.id] = (phase(up) + (up.running_hours + connect) * 60) % (168 * 60)
        visiting.discard(k.id)
        return memo[k.id]

    freqs: dict[str, float] = {}

    def freq(k: Link) -> float:
        if k.id not in freqs:
            freqs[k.id] = estimated_frequency(k)   # provisional: breaks cycles
            if not k.frequency_per_week:
                feeders = [u for u in inbound.get(k.origin, ()) if u.origin != k.destination
                           and u.corridors & k.corridors]
                if feeders:
                    freqs[k.id] = max(freqs[k.id], min(14.0, max(freq(u) for u in feeders)))
        return freqs[k.id]

    return {k.id: (phase(k), freq(k)) for k in land}


def operating(departures: list[Departure]) -> list[Departure]:
    """The departures that run (not cancelled)."""
    return [d for d in departures if d.status != "cancelled"]


WEATHER_EPOCH = date(2000, 1, 1)   # before any timetable Corridor generates


def storm_days(start: date, days: int, seed: int = 1) -> list[bool]:
    """Whether the Caspian is closed by storm on each day from `start` (a two-state weather chain).

    The chain runs from a fixed epoch, so a day's weather is the calendar's, not the timetable's:
    timetables generated on different days (each `corridor init`, a reload) agree on which
    sailings a storm cancelled."""
    first = min(start, WEATHER_EPOCH)
    skip = (start - first).days
    return _weather(first, skip + days, seed)[skip:]


def _weather(start: date, days: int, seed: int) -> list[bool]:
    rng = random.Random(f"{seed}:caspian-weather")
    q = 1.0 / STORM_SPELL_DAYS                   # P(storm ends tomorrow)
    out, storm = [], None
    for i in range(days):
        share = CASPIAN_STORM_SHARE[(start + timedelta(days=i)).month]
        if storm is None:
            storm = rng.random() < share
        elif storm:
            storm = rng.random() >= q
        else:                                    # onset rate that gives `share` storm days on average
            storm = rng.random() < share * q / (1.0 - share)
        out.append(storm)
    return out


def estimated_frequency(link: Link) -> float:
    """The link's departures per week: its own figure, else the documented estimate."""
    if link.frequency_per_week:
        return float(link.frequency_per_week)
    for fam in (Corridor.MIDDLE, Corridor.NORTHERN, Corridor.SEA):
        if fam in link.corridors and (link.mode, fam) in ESTIMATED_FREQUENCY_PER_WEEK:
            return ESTIMATED_FREQUENCY_PER_WEEK[(link.mode, fam)]
    return ESTIMATED_FREQUENCY_PER_WEEK.get((link.mode, None), 7.0)


def _is_caspian(network: Network, link: Link) -> bool:
    a, b = network.location(link.origin), network.location(link.destination)
    return {a.country, b.country} <= CASPIAN_COUNTRIES


class _Ctx:
    """Generation state for one directed link."""

    def __init__(self, network: Network, link: Link, service: LinkService | None, start: date, days: int,
                 seed: int):
        self.link, self.start, self.days = link, start, days
        self.o, self.d = network.location(link.origin), network.location(link.destination)
        self.otz, self.dtz = ZoneInfo(self.o.timezone), ZoneInfo(self.d.timezone)
        self.rng = random.Random(f"{seed}:{link.id}")
        self.freq = estimated_frequency(link)
        self.run = timedelta(hours=link.running_hours)
        self.price_teu = (link.price_usd_per_feu or 0.0) / 2.0   # FEU = 2 TEU (see pricing.per_teu_rule)
        self.code = (service.service_code if service and service.service_code
                     else f"{link.operator or 'CARRIER'} {self.o.ref}-{self.d.ref}")
        self.fleet = _fleet(link, service)
        self.direction = "W" if self.d.lon < self.o.lon else "E"
        self.water = link.mode.is_water
        self.runs_per_day: dict[date, int] = defaultdict(int)
        self.voyages: dict[str, int] = defaultdict(int)
        self.seq = 0
        self.lead_in: list[Departure] = []   # sailings before the start, kept to sail on at a waypoint

    # -- building blocks
    def _local(self, day: date, minutes: float) -> datetime:
        """Aware departure (in UTC) at a local wall time on `day`; non-existent DST times roll forward."""
        naive = datetime.combine(day, time()) + timedelta(minutes=minutes)
        return naive.replace(tzinfo=self.otz).astimezone(UTC)

    def _make(self, planned: datetime, departs_utc: datetime, run: timedelta, status: str,
              vehicle: str, operator: str, voyage: str = "") -> tuple[datetime, Departure]:
        """(UTC departure, Departure); `planned` (origin local time) names the run of the day;
        a `voyage` given is kept (a ship sailing on past a waypoint)."""
        day = planned.date()
        self.runs_per_day[day] += 1
        self.seq += 1
        ymd = _ymd(day)
        arrives_utc = departs_utc + run
        if self.water:   # sailings vary to the second; timetables show whole minutes
            if not voyage:
                self.voyages[vehicle] += 1
                voyage = f"{_vessel_code(vehicle)}{ymd[2:4]}{self.voyages[vehicle]:03d}{self.direction}"
            departs_utc = departs_utc.replace(second=0, microsecond=0)
            arrives_utc = arrives_utc.replace(second=0, microsecond=0)
        else:
            voyage = f"{self.link.id}-{self.seq:04d}"
            vehicle = vehicle or (f"block train {voyage}" if self.link.mode is Mode.RAIL else f"truck {voyage}")
        return departs_utc, Departure(
            id=f"{self.link.id}-{ymd}-{self.runs_per_day[day]}", link_id=self.link.id,
            service=self.code, operator=operator, mode=self.link.mode, origin=self.link.origin,
            destination=self.link.destination,
            departs_at=planned if departs_utc == planned else departs_utc.astimezone(self.otz),
            arrives_at=arrives_utc.astimezone(self.dtz), capacity_teu=self.link.capacity_teu,
            price_usd_per_teu=self.price_teu, vehicle=vehicle, voyage=voyage, status=status)

    def _in_range(self, local: datetime) -> bool:
        return 0 <= (local.date() - self.start).days < self.days

    # -- trains and trucks: a weekly pattern at fixed local times
    def land(self, timing: tuple[float, float] | None = None) -> list[tuple[datetime, Departure]]:
        """Weekly paths; with `timing` (UTC minute of the week of the first path, paths per week) the
        paths are timed to the feeder (see _through_phases), else they start at a random local time."""
        timed = timing is not None
        if timed:
            self.freq = timing[1]
        gap = 168.0 / self.freq
        phase = timing[0] / 60 if timed else self.rng.uniform(0, min(gap, 24.0))
        slots = sorted({round((phase + k * gap) * 4) * 15 % (168 * 60) for k in range(max(1, round(self.freq)))})
        monday = self.start - timedelta(days=self.start.weekday())
        out = []
        for week in range(self.days // 7 + 2):
            base = monday + timedelta(weeks=week)
            for minutes in slots:
                dep = (datetime.combine(base, time(), UTC) + timedelta(minutes=minutes) if timed
                       else self._local(base, minutes))
                local = dep.astimezone(self.otz)
                if self._in_range(local):
                    out.append(self._make(local, dep, self.run, "scheduled", "", self.link.operator))
        return out

    # -- Caspian: sail when loaded, storms cancel, backlog delays
    def caspian(self, weather: list[bool]) -> list[tuple[datetime, Departure]]:
        mean_gap = 168.0 / self.freq
        exposed = max(EXPOSED_PORTS.get(self.link.origin, 0), EXPOSED_PORTS.get(self.link.destination, 0))
        lo, hi, mode = CASPIAN_RUN_FACTOR
        p_delay, d_lo, d_hi = CASPIAN_DELAY
        t = self._local(self.start, 0) + timedelta(hours=self.rng.uniform(0, mean_gap))
        out, k = [], self.rng.randrange(len(self.fleet))
        while True:
            planned = t.astimezone(self.otz)
            idx = (planned.date() - self.start).days
            if idx >= self.days:
                break
            closed = any(weather[i] for i in range(max(0, idx - exposed), idx + 1))
            after_storm = idx > 0 and weather[idx - 1] and not closed
            status, dep = "scheduled", t            # delays are added in UTC (wall-clock sums break at DST)
            if closed:
                status = "cancelled"
            elif after_storm:
                status, dep = "delayed", t + timedelta(hours=self.rng.uniform(*BACKLOG_DELAY_HOURS))
            elif self.rng.random() < p_delay:
                status, dep = "delayed", t + timedelta(hours=self.rng.uniform(d_lo, d_hi))
            run = self.run * self.rng.triangular(lo, hi, mode)
            name, operator = self.fleet[k % len(self.fleet)]
            k += 1
            out.append(self._make(planned, dep, run, status, name, operator))
            t = t + timedelta(hours=self.rng.gammavariate(3.0, mean_gap / 3.0))
        return out

    # -- Black Sea feeders and ocean lines: weekly loops on fixed weekdays
    def liner(self, lead_days: int = 0) -> list[tuple[datetime, Departure]]:
        """The weekly loops; with `lead_days` the sailings of that many days before the start are
        sailed too and kept in `lead_in` (not returned): ships at sea when the timetable starts."""
        p_delay, (d_lo, d_hi), p_blank, (r_lo, r_hi) = LINER_VARIATION[self.link.mode]
        loops = max(1, round(self.freq))
        first_day = self.rng.randrange(7)
        plan = [((first_day + (i * 7) // loops) % 7, self.rng.randrange(4, 22) * 60) for i in range(loops)]
        first = self.start - timedelta(days=lead_days)
        monday = first - timedelta(days=first.weekday())
        out = []
        for week in range(((self.start - monday).days + self.days) // 7 + 2):
            for i, (weekday, minutes) in enumerate(plan):
                planned_utc = self._local(monday + timedelta(weeks=week, days=weekday), minutes)
                planned = planned_utc.astimezone(self.otz)
                early = bool(lead_days) and first <= planned.date() < self.start
                if not early and not self._in_range(planned):
                    continue
                status, dep = "scheduled", planned_utc
                winter = planned.month in WINTER_MONTHS and self.link.mode is Mode.FEEDER
                if self.rng.random() < p_blank * (1.5 if winter else 1.0):
                    status = "cancelled"
                elif self.rng.random() < p_delay:
                    status, dep = "delayed", planned_utc + timedelta(hours=self.rng.uniform(d_lo, d_hi))
                run = self.run * self.rng.uniform(r_lo, r_hi)
                name, operator = self.fleet[(week + i * 3) % len(self.fleet)]
                made = self._make(planned, dep, run, status, name, operator)
                if early:
                    self.lead_in.append(made[1])
                else:
                    out.append(made)
        return out

    # -- ships sailing on past a sea waypoint (see the module notes)
    def continued(self, inbound: list[Departure], connect_hours: float) -> list[tuple[datetime, Departure]]:
        """This link's sailings: each of the `inbound` ships leaves the waypoint `connect_hours`
        after it arrived, with its vessel, operator, voyage and status (a blanked or late voyage
        is blanked or late on here too), taking this link's running time give or take a few per cent."""
        _, _, _, (r_lo, r_hi) = LINER_VARIATION.get(self.link.mode, LINER_VARIATION[Mode.DEEP_SEA])
        wait = timedelta(hours=connect_hours)
        out = []
        for came in sorted(inbound, key=lambda d: (d.arrives_at.timestamp(), d.id)):
            dep = came.arrives_at.astimezone(UTC) + wait
            planned = dep.astimezone(self.otz)
            run = self.run * self.rng.uniform(r_lo, r_hi)
            if self._in_range(planned):
                out.append(self._make(planned, dep, run, came.status, came.vehicle, came.operator, came.voyage))
        return out


def _fleet(link: Link, service: LinkService | None) -> list[tuple[str, str]]:
    """(vessel name, operator) pairs: sourced names first, the rest generic and marked unnamed."""
    if not link.mode.is_water:
        return [("", link.operator)]
    base = service.link_id if service else link.id
    named = list(service.vessels) if service else []
    counts = list(service.fleet) if service and service.fleet else []
    if not counts:   # liner loop: ~one vessel per week of round voyage (ESTIMATE)
        size = max(2, min(14, round(link.running_hours * 2 / 168) + 1))
        counts = [(link.operator or "CARRIER", size)]
    out: list[tuple[str, str]] = []
    for operator, count in counts:
        for i in range(count):
            name = named.pop(0) if named else f"{operator} {link.mode.value} {base}-{i + 1} (unnamed)"
            out.append((name, operator))
    return out


_codes: dict[str, str] = {}


def _vessel_code(name: str) -> str:
    """Short voyage prefix of a vessel: three letters plus any digits of its name (AZE, KMTL151)."""
    if name not in _codes:
        letters = "".join(c for c in name.upper() if c.isalpha())[:3] or "VSL"
        _codes[name] = letters + "".join(c for c in name if c.isdigit())
    return _codes[name]


_ymds: dict[date, str] = {}


def _ymd(day: date) -> str:
    """YYYYMMDD of a date (cached: strftime dominates generation time otherwise)."""
    text = _ymds.get(day)
    if text is None:
        text = _ymds[day] = f"{day.year:04d}{day.month:02d}{day.day:02d}"
    return text


@contextmanager
def _gc_paused():
    """Pause the cyclic GC while tens of thousands of acyclic records are built (a third of the time)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
