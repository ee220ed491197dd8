"""The SimPy model: block trains, gauge transshipment, Caspian sailings with storms, Alat berths, onward rail.

Sim time is hours since the scenario start (00:00 UTC). The model says what happens through a
`Voice` (speak.Outbox records); statistics for the report are gathered on the way.
"""

from __future__ import annotations

import heapq
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import simpy

from corridor.domain.equipment import with_check_digit
from corridor.domain.network import Network

from .parties import PORT_PARTY, TRACKING_PARTY

# who reports a box collected by its consignee where its journey ends (at Alat the port's own
# gate-out is sent as the box leaves it)
PICKED_UP_FROM = {"GE_PTI": "POTIPORT", "GE_BUS": "BATUMIPORT", "AZ_ABS": "ADY", "TR_KRS": "TCDD"}
from .scenario import Scenario
from .speak import PHASE_CONSIST, PHASE_MOVE, Outbox

UTC = timezone.utc
CN_BORDER = {"KZ_ALT": "CN_HRS", "KZ_DOS": "CN_AKL"}
OWNERS = ("TGHU", "CAIU", "TCNU", "FCIU", "MSKU", "KZTU")   # container owner prefixes on the corridor
# a run's series of numbers: containers (six digits), trains and shipment references
SERIES, SERIES_BOXES, SERIES_TRAINS = 10, 100_000, 10_000
SIZES_40 = ("45G1", "42G1")
FORMATION_H = 8.0          # a block train's formation and papers take 3-8 h: it is booked no sooner
# the twin's railway that reports the trains of a timetable operator
RAILWAY_OF = {"CRCT": "CRCT", "KTZ": "KTZ", "KTZE": "KTZ", "ADY": "ADY", "ADY-EXPRESS": "ADY", "GR": "GR",
              "TCDD": "TCDD"}
SAIL_CLAIM_H = 12.0        # a vessel runs as a booked sailing due within this many hours
SAILING_GRACE_H = 24.0     # a booked sailing no vessel ran as by then is gone (a storm cancelled it)
SAIL_EARLY_H = 1.5         # a full vessel running as a timetable sailing leaves at most this early


@dataclass(slots=True)
class Box:
    """One container trip in the model."""

    number: str
    size: str
    bkg: str
    origin: str
    dest: str
    loaded_at: float = 0.0
    port_arrival: float = 0.0
    wagon: str = ""
    tracker: str = ""
    legs: dict | None = None      # (from, to) -> booked timetable Departure, shared by the booking's boxes
    path: tuple = ()              # the places it passes (timetable runs: the hops it rides)


@dataclass(frozen=True, slots=True)
class _Run:
    """A train the timetable does not run (an extra): what `rail_hop` needs of a departure."""

    id: None
    voyage: str
    origin: str
    destination: str
    departs_at: datetime
    operator: str
    status: str = "extra"


@dataclass(slots=True)
class Waiting:
    """The boxes waiting at a ferry port for their crossing, on the quay or aboard a ship that has
    not sailed yet, as a step function of sim time: (hour, TEU, boxes) from that hour on.

    A box joins when the railway discharges it at the port and leaves when its ship departs,
    the same two moments its wait (`Stats.port_wait`) is measured between, so the time-weighted
    queue and the waits obey Little's law (mean queue = arrival rate x mean wait).
    """

    steps: list = field(default_factory=lambda: [(0.0, 0, 0)])
    since: dict = field(default_factory=dict)     # box number -> (hour it joined, TEU), waiting now

    def join(self, now: float, boxes: list) -> None:
        for b in boxes:
            self.since[b.number] = (now, box_teu(b))
        self._step(now, sum(map(box_teu, boxes)), len(boxes))

    def leave(self, now: float, boxes: list) -> None:
        for b in boxes:
            self.since.pop(b.number, None)
        self._step(now, -sum(map(box_teu, boxes)), -len(boxes))

    def _step(self, now: float, dteu: int, dboxes: int) -> None:
        h, t, n = self.steps[-1]
        if h == now:
            self.steps[-1] = (h, t + dteu, n + dboxes)
        else:
            self.steps.append((now, t + dteu, n + dboxes))


def box_teu(box: Box) -> int:
    """TEU of a box: a 20' is one, the rest (40', 45') two."""
    return 1 if box.size == "22G1" else 2


@dataclass
class Stats:
    """What the report is made of (hours unless named)."""

    trains: int = 0
    onward_trains: int = 0
    containers: int = 0
    teu: int = 0
    delivered: int = 0
    bookings: int = 0
    unbooked: int = 0                                                         # shares no departure had room for
    rebooked: int = 0                                   # bookings re-booked after a box rolled to a later departure
    # gauge-change station -> [boxes that arrived on time for a booked onward departure, of them
    # the boxes that left on it]: how often the planned dwell holds the border's handling
    connections: dict = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    reused: int = 0
    transit_days: dict = field(default_factory=lambda: defaultdict(list))     # (origin, dest) -> days
    border_to_dest_days: dict = field(default_factory=lambda: defaultdict(list))
    port_wait: dict = field(default_factory=lambda: defaultdict(list))        # port -> hours per box
    port_wait_teu_hours: dict = field(default_factory=lambda: defaultdict(float))  # port -> sum of TEU x hours
    queue: dict = field(default_factory=lambda: defaultdict(Waiting))         # port -> boxes waiting to cross
    fill: dict = field(default_factory=lambda: defaultdict(list))             # port -> fill per sailing
    crossing: list = field(default_factory=list)
    alat_handling: list = field(default_factory=list)
    monthly: dict = field(default_factory=lambda: defaultdict(lambda: [0, 0]))  # YYYY-MM -> [boxes, TEU]
    storm_days: int = 0
    closures: list = field(default_factory=list)                              # (start h, end h)
    notices: list = field(default_factory=list)                # (port, notice id, departures, bookings)
    clock: object = None                                       # () -> the model's current hour


class Twin:
    """The corridor model over one scenario and network; `voice` receives what parties report."""

    def __init__(self, scenario: Scenario, network: Network, seed: int = 1, voice: Outbox | None = None,
                 book=None, series: int = 0):
        self.sc, self.net, self.rng = scenario, network, random.Random(seed)
        # consignees' pick-ups draw from their own stream: the rest of a seed's run stays as it was
        self.pickup_rng = random.Random(f"pickup-{seed}")
        self.wx = random.Random(seed * 7919 + 1)   # weather has its own stream: what-ifs share the storms
        self.env = simpy.Environment()
        self.voice = voice
        self.book = book                   # callable(shipper, forwarder, path, ready_at, sizes, ...) -> Booked | None
        # with a timetable (a store): callable(hop, after, teu) -> the first Departure with room, and
        # callable(ref, path, first, legs, now, reason) -> the booking's new legs (re-booked) or None.
        # Trains then run as the timetable's departures, hop by hop (see `rail_hop`).
        self.next_departure = None
        self.rebook = None
        self.booking_teu: dict[str, int] = {}       # booking ref -> TEU (the booker's)
        self.notify = None                 # callable(port, start_h, end_h): a closure notice (else a CSV one)
        self.stats = Stats()
        start = scenario.start
        self.t0 = datetime(start.year, start.month, start.day, tzinfo=UTC)
        self._zones: dict[str, ZoneInfo] = {}
        self._hours = {(l.origin, l.destination): l.running_hours for l in network.links}
        self.pool: tuple[list, list] = ([], [])   # heaps of (free from hour, number): 40', 20'
        # numbers of the run's own series (run.next_series): a second run into a store that holds
        # one already names other containers, trains and shipments, never the first run's
        series %= SERIES
        self._series = series
        self._serial = series * SERIES_BOXES
        self._wagon = defaultdict(int)
        self._train = series * SERIES_TRAINS
        self._bkg = series * SERIES_BOXES
        self.closed = False
        self.queues: dict[str, list[Box]] = {"KZ_AKX": [], "KZ_KUR": []}
        for port in self.queues:
            self.stats.queue[port]           # both ports are reported, boxes or not
        self.stats.clock = lambda: self.env.now
        self.alat_yard: dict[str, list[Box]] = defaultdict(list)
        self.berths = simpy.Resource(self.env, capacity=int(scenario["alat_berths"]))
        self._border_at: dict[str, float] = {}
        self._claimed: set[str] = set()             # booked sailings a vessel runs as
        self._hop_operator = {(l.origin, l.destination): l.operator or "" for l in network.links}
        self._onward_waiting: list[Box] = []        # at Alat for their onward departure (timetable runs)
        self._sailed: set[str] = set()              # ... and has sailed as
        self._cancelled: set[str] = set()           # sailings a closure notice cancelled
        self._unrolled: set[str] = set()            # bookings no later sailing had room for (see roll_missed)
        self._rolled_at: dict[str, float] = {}      # port -> the hour its missed sailings were last rolled

    # ---- time and places ------------------------------------------------------------------
    def at(self, hours: float, loc: str) -> datetime:
        """The aware local time at `loc` of a sim hour (minutes precision)."""
        z = self._zones.get(loc)
        if z is None:
            z = self._zones[loc] = ZoneInfo(self.net.locations[loc].timezone)
        return (self.t0 + timedelta(minutes=round(hours * 60))).astimezone(z)

    def code(self, loc: str) -> str:
        """The code a sender uses for a place: its UN/LOCODE, else the ESR code or corridor id."""
        if loc == "KZ_DOS":
            return "708507"          # KTZ reports Dostyk by its ESR station code
        return self.net.locations[loc].code or loc

    def run_hours(self, a: str, b: str) -> float:
        return self._hours[(a, b)]

    @staticmethod
    def onward_path(dest: str) -> list[str]:
        """The places from Alat to `dest` as the onward trains run them."""
        if dest == "AZ_ABS":
            return ["AZ_ALA", "AZ_ABS"]
        head = ["AZ_ALA", "AZ_BKS", "GE_GAR", "GE_TBS"]
        return head + ([dest] if dest in ("GE_PTI", "GE_BUS") else ["GE_MAR", "GE_AKH", "GE_KRT", "TR_KRS"])

    def path(self, origin: str, border: str, port: str, dest: str) -> list[str]:
        """The places a box passes from its origin to `dest` (the hops of its booking)."""
        return [origin, CN_BORDER[border], border, port] + self.onward_path(dest)

    def hours(self, t: datetime) -> float:
        """Sim hours of an aware time."""
        return (t - self.t0).total_seconds() / 3600

    def tri(self, spec) -> float:
        lo, mode, hi = spec
        return self.rng.triangular(lo, hi, mode)

    def rail_delay(self) -> float:
        d = self.sc["rail_delay"]
        return self.rng.uniform(*d["hours"]) if self.rng.random() < d["probability"] else 0.0

    # ---- identities -----------------------------------------------------------------------
    def box_number(self, size: str) -> tuple[str, bool]:
        """A container for a new trip: one back from its last trip when free, else a new number."""
        heap = self.pool[size == "22G1"]
        if heap and heap[0][0] <= self.env.now and self._serial >= self.sc["container_pool"] * 0.5:
            return heapq.heappop(heap)[1], True
        self._serial += 1
        owner = OWNERS[self._serial % len(OWNERS)]
        return with_check_digit(f"{owner}{self._serial:06d}"), False

    def release(self, box: Box) -> None:
        """The box goes back east (empty repositioning) and is free for another shipper later."""
        lo, hi = self.sc["turnaround_days"]
        heapq.heappush(self.pool[box.size == "22G1"], (self.env.now + 24 * self.rng.uniform(lo, hi), box.number))

    def wagon(self, railway: str) -> str:
        """A wagon number with its check digit: 12-digit UIC on standard gauge, 8-digit OSJD on 1520 mm."""
        # of the run's own series too: trains are the timetable's (a second run over the same days
        # rides the same trains), so a wagon's consist must not hold another run's boxes
        self._wagon[railway] += 1
        n = self._wagon[railway]
        if railway in ("CRCT", "TCDD"):   # the series in the type digit: 10,000 wagons a run, a month's worth
            base = {"CRCT": "313345", "TCDD": "317545"}[railway]
            return with_check_digit(f"{base}{self._series}{n % 10000:04d}")
        base = {"KTZ": 5, "ADY": 6, "GR": 7}[railway]
        return with_check_digit(f"{base}{self._series * 50000 + n % 25000 + 25000 * (self._train % 2):06d}")

    def train_no(self, prefix: str) -> str:
        self._train += 1
        return f"{prefix}{self._train:05d}"

    # ---- what parties report --------------------------------------------------------------
    def say(self, phase, party, fmt, kind, record):
        if self.voice is not None:
            self.voice.add(phase, party, fmt, kind, record)

    def rail_boxes(self, party: str, code: str, loc: str, train: str, boxes: list[Box]):
        """A railway's container-level LOAD/DISC rows (each box on its wagon)."""
        t = self.at(self.env.now, loc)
        kind = "csv-ktz" if party == "KTZ" else "csv"
        for b in boxes:
            self.say(PHASE_CONSIST, party, "csv", kind,
                     (t, "EQUIPMENT", code, self.code(loc), b.number, b.size, b.wagon, train, b.bkg, None))

    def rail_move(self, party: str, code: str, loc: str, train: str, wagons: list[str]):
        """A railway's wagon-level ARRI/DEPA rows: ingest moves every container on each wagon."""
        t = self.at(self.env.now, loc)
        kind = "csv-ktz" if party == "KTZ" else "csv"
        for w in wagons:
            self.say(PHASE_MOVE, party, "csv", kind, (t, "TRANSPORT", code, self.code(loc), None, None, w, train,
                                                      None, None))

    def vessel_boxes(self, port: str, code: str, loc: str, voyage: str, vessel: str, operator: str, boxes):
        t = self.at(self.env.now, loc)
        for b in boxes:
            self.say(PHASE_CONSIST, port, "edifact", "coarri",
                     (t, "EQUIPMENT", code, self.code(loc), b.number, b.size, voyage, vessel, b.bkg, operator))

    def gate(self, port: str, code: str, loc: str, boxes, mode: str = "RAIL"):
        t = self.at(self.env.now, loc)
        for b in boxes:
            self.say(PHASE_CONSIST, port, "edifact", "codeco",
                     (t, "EQUIPMENT", code, self.code(loc), b.number, b.size, mode, None, b.bkg, None))

    def sailing(self, carrier: str, code: str, loc: str, voyage: str, vessel: str, imo: str, dep_id=None):
        self.say(PHASE_MOVE, carrier, "dcsa-json", "dcsa",
                 (self.at(self.env.now, loc), "TRANSPORT", code, self.code(loc), voyage, vessel, imo, dep_id, None,
                  None))

    def notice(self, port: str, loc: str, reason: str):
        self.say(PHASE_CONSIST, port, "csv", "csv",
                 (self.at(self.env.now, loc), "ALERT", "NOTC", self.code(loc), None, None, None, None, None, reason))

    def fix(self, box: Box, a: str, b: str, share: float):
        """A tracker position part-way between two places (trackers report while moving)."""
        if not box.tracker:
            return
        la, lb = self.net.locations[a], self.net.locations[b]
        lat, lon = la.lat + (lb.lat - la.lat) * share, la.lon + (lb.lon - la.lon) * share
        self.say(PHASE_MOVE, TRACKING_PARTY, "position-json", "positions",
                 (self.at(self.env.now, a), "IOT", box.tracker, box.number, lat, lon))

    # ---- processes ------------------------------------------------------------------------
    def start(self, days: float) -> None:
        """Register every process; then `env.run(until=...)` advances the model."""
        for origin, spec in self.sc["origins"].items():
            self.env.process(self.origin(origin, spec))
        for spec in self.sc["fleet"]:
            for i in range(int(spec["count"])):
                self.env.process(self.vessel(spec, i))
        self.env.process(self.weather(days))
        self.env.process(self.onward_timed() if self.timed else self.onward())

    @property
    def timed(self) -> bool:
        """Whether trains run as the timetable's departures (a store's timetable is wired)."""
        return self.next_departure is not None

    def origin(self, origin: str, spec: dict):
        per_month = float(spec["trains_per_month"])
        if per_month <= 0:
            return
        gap = 24 * 30.4 / per_month
        yield self.env.timeout(self.rng.uniform(0, gap))
        while True:
            if self.timed:
                self.block_train_timed(origin, spec["border"])
            else:
                self.env.process(self.block_train(origin, spec["border"]))
            yield self.env.timeout(self.rng.expovariate(1 / gap) * 0.5 + gap * 0.5)

    def load_train(self, origin: str, border: str, port: str) -> tuple[list[Box], str, str]:
        """Boxes of one block train in 2-5 bookings of different shippers and destinations.

        With a booker the first share settles the way (preferred border and port first, then the
        others: a share needs one departure with room on every hop); returns (boxes, border, port).
        """
        sc, rng = self.sc, self.rng
        n_wagons = rng.randint(*sc["wagons_per_train"])
        dests, weights = zip(*sc["destinations"].items())
        from .parties import FORWARDERS, SHIPPERS
        groups = rng.randint(2, 5)
        cut = sorted(rng.sample(range(1, n_wagons), groups - 1))
        bounds = list(zip([0] + cut, cut + [n_wagons]))
        boxes: list[Box] = []
        now = self.env.now
        ways = [(border, port)]
        train_dep = None      # timetable runs: the departure the train leaves its origin on
        if self.book:
            other_b = "KZ_DOS" if border == "KZ_ALT" else "KZ_ALT"
            other_p = "KZ_AKX" if port == "KZ_KUR" else "KZ_KUR"
            ways += [(other_b, port), (border, other_p), (other_b, other_p)]
        for lo, hi in bounds:
            dest = rng.choices(dests, weights)[0]
            shipper = rng.choice(SHIPPERS)[0]
            forwarder = rng.choice(FORWARDERS)[0] if rng.random() < 0.6 else None
            spec: list[tuple[str, int]] = []
            for w in range(lo, hi):
                if rng.random() < sc["twin_twenty_share"]:
                    spec.append(("22G1", w))
                    spec.append(("22G1", w))
                else:
                    spec.append((rng.choice(SIZES_40), w))
            sizes: dict[str, int] = defaultdict(int)
            for s, _w in spec:
                sizes[s] += 1
            self._bkg += 1
            ref, legs = f"TWIN{self._bkg:07d}", None
            if self.book:
                for b_, p_ in ways:
                    path = self.path(origin, b_, p_, dest)
                    got = None
                    if train_dep is not None:   # a share of the train: on the departure it leaves on
                        got = self.book(shipper, forwarder, path, self.at(now, origin), dict(sizes),
                                        first=train_dep)
                    if got is None:             # (no room on it: the share goes on a later train)
                        got = self.book(shipper, forwarder, path, self.at(now, origin), dict(sizes),
                                        **({"leave_after": self.at(now + FORMATION_H, origin)} if self.timed
                                           else {}))
                    if got is not None:
                        ref, legs, ways = got.ref, got.legs, [(b_, p_)]   # the train's way is settled
                        if train_dep is None and self.timed:
                            train_dep = legs[(origin, path[1])]
                        break
                else:
                    self.stats.unbooked += 1
            self.stats.bookings += legs is not None or not self.book
            for s, w in spec:
                number, reused = self.box_number(s)
                self.stats.reused += reused
                # the forwarder's GPS trackers ride on its own customers' boxes (it may post their positions)
                tracker = (f"TRK{self._serial:06d}" if forwarder == TRACKING_PARTY
                           and rng.random() < sc["trackers_share"] * 3 else "")
                boxes.append(Box(number, s, ref, origin, dest, now, wagon=str(w), tracker=tracker, legs=legs))
        border, port = ways[0]
        return boxes, border, port

    def put_on_wagons(self, boxes: list[Box], railway: str) -> list[str]:
        """Assign the boxes to fresh wagons of `railway` (two 20' share one wagon); returns the wagons."""
        wagons, last_key, current = [], None, None
        for b in boxes:
            key = b.wagon
            if key != last_key or b.size != "22G1" or current is None:
                current = self.wagon(railway)
                wagons.append(current)
            b.wagon, last_key = current, key
        return wagons

    def block_train(self, origin: str, border: str):
        env, st = self.env, self.stats
        port = "KZ_KUR" if self.rng.random() < self.sc["kuryk_share"] else "KZ_AKX"
        boxes, border, port = self.load_train(origin, border, port)
        booked = next((b.legs for b in boxes if b.legs), None)
        for i, b in enumerate(boxes):
            b.wagon = f"{origin}:{b.wagon}"
        train = self.train_no("X")
        wagons = self.put_on_wagons(boxes, "CRCT")
        st.trains += 1
        st.containers += len(boxes)
        st.teu += sum(1 if b.size == "22G1" else 2 for b in boxes)
        self.rail_boxes("CRCT", "LOAD", origin, train, boxes)
        formation = self.rng.uniform(3, 8)                        # train formation and papers
        if booked:   # the train is the booked timetable departure: it leaves on its path, not before
            dep = booked[(origin, CN_BORDER[border])]
            formation = max(formation, self.hours(dep.departs_at) - env.now)
        yield env.timeout(formation)
        self.rail_move("CRCT", "DEPA", origin, train, wagons)
        cn_border = CN_BORDER[border]
        run = self.run_hours(origin, cn_border) + self.rail_delay()
        yield env.timeout(run / 2)
        for b in boxes:
            self.fix(b, origin, cn_border, 0.5)
        yield env.timeout(run / 2)
        self.rail_move("CRCT", "ARRI", cn_border, train, wagons)
        # break of gauge: boxes lifted from 1435 mm onto 1520 mm wagons at Dostyk / Altynkol
        yield env.timeout(self.tri(self.sc["border_hours"]))
        self.rail_boxes("CRCT", "DISC", cn_border, train, boxes)
        yield env.timeout(1)
        kz_train = self.train_no("K")
        for b in boxes:
            b.wagon = f"kz:{b.wagon}"
        kz_wagons = self.put_on_wagons(boxes, "KTZ")
        self.rail_boxes("KTZ", "LOAD", border, kz_train, boxes)
        border_at = env.now
        wait = self.rng.uniform(2, 5)
        if booked and (dep := booked.get((border, port))) is not None:   # the booked KTZ path, if not missed
            wait = max(wait, self.hours(dep.departs_at) - env.now)
        yield env.timeout(wait)
        self.rail_move("KTZ", "DEPA", border, kz_train, kz_wagons)
        run = self.run_hours(border, port) + self.rail_delay()
        yield env.timeout(run / 2)
        for b in boxes:
            self.fix(b, border, port, 0.5)
        yield env.timeout(run / 2)
        self.rail_move("KTZ", "ARRI", port, kz_train, kz_wagons)
        yield env.timeout(self.rng.uniform(2, 6))
        self.rail_boxes("KTZ", "DISC", port, kz_train, boxes)
        for b in boxes:
            b.port_arrival = env.now
            self._border_at[b.number] = border_at
        self.queues[port].extend(boxes)
        st.queue[port].join(env.now, boxes)

    # ---- timetable runs: every train is a timetable departure ---------------------------------
    # With a store's timetable (run.connect) a train is the departure it runs as, hop by hop: it
    # reports under the departure's train number (its voyage) and leaves on its time, never before.
    # The boxes leave a hop on the departure they are booked on; a box that missed it (a late train,
    # a long gauge change) rolls to the next departure with room, and its booking is re-booked from
    # there through the booking service (`rebook`), as a forwarder would.

    def block_train_timed(self, origin: str, border: str):
        """A block train's shares, booked on the departure the train leaves on (a share it has no
        room for goes on the first later departure with room: a train of its own)."""
        port = "KZ_KUR" if self.rng.random() < self.sc["kuryk_share"] else "KZ_AKX"
        boxes, border, port = self.load_train(origin, border, port)
        for b in boxes:
            b.wagon = f"{origin}:{b.wagon}"
            b.path = tuple(self.path(origin, border, port, b.dest))
        formation = self.rng.uniform(3, 8)                        # train formation and papers
        hop = (origin, CN_BORDER[border])
        for dep, group in self.departures_for(boxes, hop, self.env.now + FORMATION_H):
            self.env.process(self.origin_train(dep, hop, group, formation))

    def origin_train(self, dep, hop: tuple[str, str], boxes: list[Box], formation: float):
        env, st = self.env, self.stats
        origin = hop[0]
        st.trains += 1
        st.containers += len(boxes)
        st.teu += sum(map(box_teu, boxes))
        self.put_on_wagons(boxes, "CRCT")
        self.rail_boxes("CRCT", "LOAD", origin, dep.voyage, boxes)
        yield env.timeout(max(formation, self.hours(dep.departs_at) - env.now))
        yield from self.rail_hop(dep, boxes, left=True)

    def departures_for(self, boxes: list[Box], hop: tuple[str, str], ready: float) -> list[tuple]:
        """[(departure, boxes)] leaving on `hop`, in time order: each box on the departure it is
        booked on when that has not left by `ready` (sim hours), else on the first later one with
        room, its booking re-booked from here (a roll); boxes without a booking go with the first.
        A hop the timetable runs nothing on within the booker's horizon: an extra train."""
        deps, by = {}, {}
        loose = []
        for b in boxes:
            d = b.legs.get(hop) if b.legs else None
            if d is None:
                loose.append(b)
            else:
                deps[d.id] = d
                by.setdefault(d.id, []).append(b)
        after = self.t0 + timedelta(hours=ready)
        out: dict = {}
        for key in sorted(by, key=lambda k: deps[k].departs_at):
            d, group = deps[key], by[key]
            if d.departs_at >= after and d.status != "cancelled":
                out.setdefault(d.id, (d, []))[1].extend(group)
                continue
            refs = {b.bkg: b.legs for b in group}
            teu = sum(self.booking_teu.get(r, 0) for r in refs)
            nd = self.next_departure(hop, after, teu) or self.next_departure(hop, after, 0)
            if nd is None:
                loose += group
                continue
            for ref, legs in refs.items():
                path = self.rest_of(group, ref, hop[0])
                new = self.rebook(ref, path, nd, legs, self.at(self.env.now, hop[0]),
                                  f"missed {d.id} at {self.code(hop[0])}; on {nd.id}")
                if new is not None:
                    self.stats.rebooked += 1
                    for k in [k for k in legs if k[0] in path[:-1]]:
                        del legs[k]
                    legs.update(new)            # the booking's boxes share its legs
            out.setdefault(nd.id, (nd, []))[1].extend(group)
        if loose:
            if out:
                min(out.values(), key=lambda x: x[0].departs_at)[1].extend(loose)
            else:
                nd = self.next_departure(hop, after, 0) or self.extra_run(hop, ready)
                out[nd.id] = (nd, loose)
        return sorted(out.values(), key=lambda x: x[0].departs_at)

    @staticmethod
    def rest_of(group: list[Box], ref: str, here: str) -> list[str]:
        path = next(b.path for b in group if b.bkg == ref)
        return list(path[path.index(here):])

    def roll_onto(self, boxes: list[Box], hop: tuple[str, str], dep) -> None:
        """Boxes that left on `dep` though booked on another departure of `hop` (their sailing went
        without them, or a storm cancelled it): their bookings are re-booked from here on `dep`."""
        seen = set()
        for b in boxes:
            d = b.legs.get(hop) if b.legs else None
            if d is None or d.id == dep.id or b.bkg in seen:
                continue
            seen.add(b.bkg)
            self.rebooked_from(b.bkg, list(b.path[b.path.index(hop[0]):]), dep, b.legs,
                               f"{d.id} sailed without it; on {dep.id}")

    def rebooked_from(self, ref: str, path: list[str], dep, legs: dict, reason: str) -> bool:
        """Re-book booking `ref` from `path[0]` on `dep` now; on success its legs from there are the
        new ones (`legs`: shared by the booking's boxes) and it counts as re-booked."""
        new = self.rebook(ref, path, dep, legs, self.at(self.env.now, path[0]), reason)
        if new is None:
            return False
        self.stats.rebooked += 1
        for k in [k for k in legs if k[0] in path[:-1]]:
            del legs[k]
        legs.update(new)
        return True

    def extra_run(self, hop: tuple[str, str], ready: float):
        """A train the timetable does not run (beyond its horizon): its own number, leaving when ready."""
        return _Run(None, self.train_no("E"), hop[0], hop[1], self.t0 + timedelta(hours=ready),
                    self._hop_operator.get(hop, ""))

    def rail_hop(self, dep, boxes: list[Box], left: bool = False):
        """One hop on departure `dep` (its train number), then what the railway does where it
        arrives: a gauge change, a hand-over to the next departure, the port, the destination.
        Each railway reports its own train leaving and arriving, wagon by wagon (vehicle-level:
        the ingest path moves the boxes on each wagon), at border and junction stations too."""
        env = self.env
        a, here = dep.origin, dep.destination
        party = self.railway(dep)
        wagons = list(dict.fromkeys(b.wagon for b in boxes))
        if not left:
            yield env.timeout(max(0.0, self.hours(dep.departs_at) - env.now))
        self.rail_move(party, "DEPA", a, dep.voyage, wagons)
        run = self.run_hours(a, here)
        if run >= 10:                          # long hauls: random delays, tracker fixes on the way
            run += self.rail_delay()
            yield env.timeout(run / 2)
            for b in boxes:
                self.fix(b, a, here, 0.5)
            yield env.timeout(run / 2)
        else:
            yield env.timeout(run)
        self.rail_move(party, "ARRI", here, dep.voyage, wagons)
        done = [b for b in boxes if b.dest == here]
        rest = [b for b in boxes if b.dest != here] if done else boxes
        if done:
            env.process(self.at_destination(party, here, dep.voyage, done))
        if not rest:
            return
        if here in self.queues:                # the Caspian port: off the wagons, onto the quay
            yield env.timeout(self.rng.uniform(2, 6))
            self.rail_boxes(party, "DISC", here, dep.voyage, rest)
            for b in rest:
                b.port_arrival = env.now
            self.queues[here].extend(rest)
            self.stats.queue[here].join(env.now, rest)
            return
        gauge = {"CN_HRS": "KTZ", "CN_AKL": "KTZ", "GE_AKH": "TCDD"}.get(here)
        on_time = {}
        if gauge:    # break of gauge: boxes lifted onto the next railway's wagons
            if dep.id is not None and env.now <= self.hours(dep.arrives_at) + 1e-6:
                for b in rest:          # arrived on time: the booked onward departure is theirs to make
                    nxt = b.legs.get((here, b.path[b.path.index(here) + 1])) if b.legs else None
                    if nxt is not None:
                        on_time[b.number] = nxt.id
            yield env.timeout(self.tri(self.sc["akhalkalaki_hours" if here == "GE_AKH" else "border_hours"]))
            self.rail_boxes(party, "DISC", here, dep.voyage, rest)
            yield env.timeout(1)
        by_hop: dict = {}
        for b in rest:
            by_hop.setdefault((here, b.path[b.path.index(here) + 1]), []).append(b)
        for hop, group in by_hop.items():
            for nd, g in self.departures_for(group, hop, env.now):
                if on_time:
                    c = self.stats.connections[here]
                    for b in g:
                        if b.number in on_time:
                            c[0] += 1
                            c[1] += on_time[b.number] == nd.id
                if gauge:
                    for b in g:
                        b.wagon = f"{gauge}:{b.wagon}"
                    self.put_on_wagons(g, gauge)
                    self.rail_boxes(self.railway(nd), "LOAD", here, nd.voyage, g)
                    if gauge == "KTZ":
                        for b in g:
                            self._border_at[b.number] = env.now
                env.process(self.rail_hop(nd, g))

    def railway(self, dep) -> str:
        """The twin's railway that reports a departure's train (the BTK line is Georgian Railway's up
        to the gauge change at Akhalkalaki, TCDD's beyond it)."""
        op = dep.operator
        if op == "BTKI":
            return "TCDD" if dep.origin == "GE_AKH" else "GR"
        return RAILWAY_OF.get(op, op)

    def at_destination(self, party: str, here: str, train: str, boxes: list[Box]):
        yield self.env.timeout(2)
        self.rail_boxes(party, "DISC", here, train, boxes)
        if here == "GE_PTI":
            yield self.env.timeout(1)
            self.gate("POTIPORT", "GTIN", here, boxes)
        self.arrived(boxes, here)

    def onward_timed(self):
        """Alat: the boxes off the ship wait in the yard for their onward departure; each hour the
        departures leaving within the next hours are loaded (the port's gate-out, the railway's load)."""
        env = self.env
        while True:
            for yard in self.alat_yard.values():
                self._onward_waiting += yard
                yard.clear()
            if self._onward_waiting:
                by_hop: dict = {}
                for b in self._onward_waiting:
                    by_hop.setdefault(("AZ_ALA", b.path[b.path.index("AZ_ALA") + 1]), []).append(b)
                keep = []
                for hop, group in by_hop.items():
                    for dep, g in self.departures_for(group, hop, env.now + 1):
                        if self.hours(dep.departs_at) - env.now > 4:
                            keep += g                  # not yet: loaded when its train is formed
                            continue
                        self.stats.onward_trains += 1
                        self.gate("PORTBAKU", "GTOT", "AZ_ALA", g)
                        for b in g:
                            b.wagon = f"az:{b.number if b.size != '22G1' else b.bkg + b.wagon}"
                        self.put_on_wagons(g, "ADY")
                        self.rail_boxes("ADY", "LOAD", "AZ_ALA", dep.voyage, g)
                        env.process(self.rail_hop(dep, g))
                self._onward_waiting = keep
            yield env.timeout(1)

    def vessel(self, spec: dict, i: int):
        """One feeder or ferry shuttling between its Kazakh port and Alat.

        It sails on schedule or when loaded: as the earliest timetable sailing of its line that
        waiting boxes are booked on (at that time, with those boxes and any without a sailing of
        their own), or, with no booked sailing to run as, when full enough or waited long enough.
        """
        env, st, rng = self.env, self.stats, self.rng
        port, operator, cap = spec["port"], spec["operator"], int(spec["capacity_teu"])
        name = f"{'FDR' if spec['kind'] == 'feeder' else 'FERRY'} {operator} {i + 1}"
        imo = f"9{sum(map(ord, port + operator + spec['kind'])) * 97 + i:06d}"
        port_party = PORT_PARTY[port]
        voyages = 0
        yield env.timeout(rng.uniform(0, 48))
        while True:
            # at the Kazakh port: load for the scheduled sailing, or until full enough or waited long enough
            aboard: list[Box] = []
            teu, since, sailing = 0, None, None
            while True:
                if self.timed:
                    self.roll_missed(port)
                if sailing is None:
                    sailing = self.sailing_due(port, operator)
                took = self.take(port, cap - teu, sailing)
                if took:
                    since = since if since is not None else env.now
                    aboard += took
                    teu += sum(1 if b.size == "22G1" else 2 for b in took)
                full = teu >= self.sc["sail_fill"] * cap
                if sailing is not None:
                    # the timetable sailing it runs as (claimed at most SAIL_CLAIM_H ahead) leaves on
                    # its time, or up to SAIL_EARLY_H early when full (sailing when loaded), never
                    # hours ahead of the timetable customers and ports plan by
                    due = False
                    if sailing.id in self._cancelled:     # a storm cancelled it: sail as an extra
                        sailing, full = None, full or bool(aboard)
                    else:
                        # quay time (loading, then 1.5 h to cast off) counted back from the sailing
                        ready_at = self.hours(sailing.departs_at) - self.load_hours(teu) - 1.5
                        due = env.now >= ready_at
                        full = full and env.now >= ready_at - SAIL_EARLY_H
                else:
                    due = since is not None and env.now - since >= self.sc["max_wait_hours"]
                if (full or due) and not self.closed:
                    break
                yield env.timeout(1)
            if sailing is not None:
                self._sailed.add(sailing.id)
                if self.timed:   # aboard though booked on a sailing gone (none later had room):
                    # re-booked onto this one at the cut-off, while it is still ahead
                    self.roll_onto(aboard, (port, "AZ_ALA"), sailing)
            voyages += 1
            voyage = f"{operator}{port[-3:]}{i + 1}{voyages:03d}"
            # loading takes quay time; COARRI reports it as the boxes go on board
            yield env.timeout(self.load_hours(teu))
            self.vessel_boxes(port_party, "LOAD", port, voyage, name, operator, aboard)
            yield env.timeout(1.5)
            while self.closed:
                yield env.timeout(1)
            if sailing is not None and sailing.id in self._cancelled:
                sailing = None
            # a sailing the timetable does not have (sailing when loaded) is an extra under its own
            # voyage; one that runs as a timetable sailing quotes it (transportCallID)
            dep_id = sailing.id if sailing is not None else None
            self.sailing(operator, "DEPA", port, voyage, name, imo, dep_id)
            for b in aboard:
                st.port_wait[port].append(env.now - b.port_arrival)
                st.port_wait_teu_hours[port] += (1 if b.size == "22G1" else 2) * (env.now - b.port_arrival)
            st.queue[port].leave(env.now, aboard)                    # sailed: no longer waiting
            st.fill[port].append(teu / cap)
            crossing = self.tri(self.sc["crossing_hours"])
            yield env.timeout(crossing / 2)
            for b in aboard:
                self.fix(b, port, "AZ_ALA", 0.5)
            yield env.timeout(crossing / 2)
            while self.closed:                                  # riding out a storm at anchorage
                yield env.timeout(1)
            st.crossing.append(crossing)
            with self.berths.request() as berth:
                yield berth
                self.sailing(operator, "ARRI", "AZ_ALA", voyage, name, imo, dep_id)
                h = self.sc["alat_handling_hours"]
                handling = self.tri((h["low"], h["mode"], h["high"]))
                st.alat_handling.append(handling)
                yield env.timeout(handling * 0.6)
                self.vessel_boxes("PORTBAKU", "DISC", "AZ_ALA", voyage, name, operator, aboard)
                for b in aboard:
                    self.alat_yard[b.dest].append(b)
                yield env.timeout(handling * 0.4)
            yield env.timeout(2)
            while self.closed:
                yield env.timeout(1)
            yield env.timeout(self.tri(self.sc["crossing_hours"]))

    def roll_missed(self, port: str) -> None:
        """Boxes on the quay whose booked sailing is gone (it sailed without them, a storm cancelled
        it, or no vessel ran as it) roll to the first later sailing with room, their bookings re-booked
        from here while it is still ahead (once an hour per port). A booking no sailing has room for
        within the booker's horizon takes the first vessel with room, as an unbooked box does."""
        now = self.env.now
        if self._rolled_at.get(port) == now:
            return
        self._rolled_at[port] = now
        hop = (port, "AZ_ALA")
        by: dict[str, list[Box]] = {}
        own = self._own_sailings(port)
        for b in self.queues[port]:
            if b.legs and b.bkg not in self._unrolled and hop in b.legs and own(b) is None:
                by.setdefault(b.bkg, []).append(b)
        after = self.t0 + timedelta(hours=now)
        for ref, group in by.items():
            legs, teu = group[0].legs, self.booking_teu.get(ref, 0)
            gone = legs[hop]
            nd = self.next_departure(hop, after, teu)
            while nd is not None and (nd.id in self._sailed or nd.id in self._cancelled):
                nd = self.next_departure(hop, nd.departs_at + timedelta(seconds=1), teu)
            if nd is None or not self.rebooked_from(ref, self.rest_of(group, ref, port), nd, legs,
                                                    f"missed {gone.id}; on {nd.id}"):
                self._unrolled.add(ref)

    def load_hours(self, teu: int) -> float:
        """Quay hours to load `teu` aboard."""
        return max(1.0, teu / 100 * self.sc["load_hours_per_100_teu"])

    def own_sailing(self, box: Box, port: str):
        """The booked sailing a box at `port` still waits for, or None (unbooked, or its sailing has
        gone or is long overdue: a box that missed its sailing takes the first vessel with room)."""
        d = box.legs.get((port, "AZ_ALA")) if box.legs else None
        if (d is None or d.id in self._sailed or d.id in self._cancelled
                or self.hours(d.departs_at) < self.env.now - SAILING_GRACE_H):
            return None
        return d

    def _own_sailings(self, port: str):
        """`own_sailing` at `port` for the boxes of one scan of its queue: a booking's boxes share
        one legs dict, so it is asked once per booking, not once per box (vessels scan the queue
        hourly; a year's queues made the per-box question a tenth of the run)."""
        seen: dict[int, object] = {}

        def own(box: Box):
            legs = box.legs
            if not legs:
                return None
            k = id(legs)        # the dicts outlive the scan: ids are not reused within it
            if k in seen:
                return seen[k]
            d = seen[k] = self.own_sailing(box, port)
            return d
        return own

    def sailing_due(self, port: str, operator: str):
        """The earliest booked sailing of `operator` that boxes waiting at `port` are booked on and
        no other vessel runs as; it is claimed for the asking vessel."""
        best = None
        # a vessel runs as a sailing due within hours, not one days ahead (it would sit at the quay,
        # or sail when loaded under the later sailing's name)
        horizon = self.env.now + SAIL_CLAIM_H
        own, asked = self._own_sailings(port), set()
        for b in self.queues[port]:
            d = own(b)
            if d is None or d.id in asked:      # (the boxes of one sailing: asked once)
                continue
            asked.add(d.id)
            if (d.operator == operator and d.id not in self._claimed
                    and self.hours(d.departs_at) <= horizon
                    and (best is None or d.departs_at < best.departs_at)):
                best = d
        if best is not None:
            self._claimed.add(best.id)
        return best

    def take(self, port: str, room: int, sailing) -> list[Box]:
        """Boxes from the port queue, in order, that go on this call: those booked on its sailing and
        those without a sailing of their own; boxes booked on another sailing wait for it."""
        q, took, keep = self.queues[port], [], []
        own_of = self._own_sailings(port)
        for b in q:
            size = 1 if b.size == "22G1" else 2
            own = own_of(b)
            if size <= room and (own is None or (sailing is not None and own.id == sailing.id)):
                took.append(b)
                room -= size
            else:
                keep.append(b)
        if took:
            q[:] = keep
        return took

    def weather(self, days: float):
        """Caspian storm spells by month: the sea and its ports close; the port authorities say so."""
        env, rng, sc = self.env, self.wx, self.sc
        spell = float(sc["storm_spell_days"])
        while True:
            month = self.at(env.now, "AZ_ALA").month
            share = min(0.95, sc["storm_share"][month] * float(sc["storm_scale"]))
            # a spell starts on a day with probability share/(spell*(1-share)): closed share of days
            p = share / (spell * (1 - share)) if share < 1 else 1.0
            if not self.closed and rng.random() < p:
                length = max(1.0, rng.expovariate(1 / spell)) * 24
                self.closed = True
                start = env.now
                for port, loc in (("PORTAKTAU", "KZ_AKX"), ("PORTKURYK", "KZ_KUR"), ("PORTBAKU", "AZ_ALA")):
                    if self.notify:      # the port publishes an operator notice: departures cancelled
                        self.notify(port, loc, start, start + length)
                    else:
                        until = self.at(start + length, loc)
                        self.notice(port, loc, f"port closed by storm until {until.isoformat(timespec='minutes')}")
                yield env.timeout(length)
                self.closed = False
                self.stats.storm_days += round(length / 24)
                self.stats.closures.append((start, env.now))
            else:
                yield env.timeout(24)

    def onward(self):
        """Daily block trains from Alat to Absheron, Georgia's ports and over BTK to Kars."""
        env = self.env
        hour = self.sc["onward_departure_hour"] - 4            # Asia/Baku is UTC+4
        yield env.timeout((hour - env.now) % 24 or 24)
        while True:
            for dest, yard in list(self.alat_yard.items()):
                while yard:
                    cap = int(self.sc["onward_capacity_feu"])
                    take, teu = [], 0
                    while yard and teu + (1 if yard[0].size == "22G1" else 2) <= cap * 2:
                        b = yard.pop(0)
                        teu += 1 if b.size == "22G1" else 2
                        take.append(b)
                    env.process(self.onward_train(dest, take))
            yield env.timeout(24)

    def onward_train(self, dest: str, boxes: list[Box]):
        env, st = self.env, self.stats
        st.onward_trains += 1
        train = self.train_no("A")
        for b in boxes:
            b.wagon = f"az:{b.number if b.size != '22G1' else b.bkg + b.wagon}"
        wagons = self.put_on_wagons(boxes, "ADY")
        self.gate("PORTBAKU", "GTOT", "AZ_ALA", boxes)
        self.rail_boxes("ADY", "LOAD", "AZ_ALA", train, boxes)
        yield env.timeout(self.rng.uniform(2, 4))
        self.rail_move("ADY", "DEPA", "AZ_ALA", train, wagons)
        if dest == "AZ_ABS":
            yield env.timeout(self.run_hours("AZ_ALA", "AZ_ABS") + self.rail_delay())
            self.rail_move("ADY", "ARRI", "AZ_ABS", train, wagons)
            yield env.timeout(2)
            self.rail_boxes("ADY", "DISC", "AZ_ABS", train, boxes)
            return self.arrived(boxes, dest)
        h = (self.run_hours("AZ_ALA", "AZ_BKS") + self.run_hours("AZ_BKS", "GE_GAR") + self.rng.uniform(2, 12)
             + self.run_hours("GE_GAR", "GE_TBS") + self.rail_delay())
        yield env.timeout(h / 2)
        for b in boxes:
            self.fix(b, "AZ_ALA", "GE_TBS", 0.5)
        yield env.timeout(h / 2)
        self.rail_move("GR", "ARRI", "GE_TBS", train, wagons)
        if dest in ("GE_PTI", "GE_BUS"):
            yield env.timeout(self.rng.uniform(2, 6) + self.run_hours("GE_TBS", dest))
            self.rail_move("GR", "ARRI", dest, train, wagons)
            yield env.timeout(2)
            self.rail_boxes("GR", "DISC", dest, train, boxes)
            if dest == "GE_PTI":
                yield env.timeout(1)
                self.gate("POTIPORT", "GTIN", dest, boxes)
            return self.arrived(boxes, dest)
        # Baku-Tbilisi-Kars: break of gauge at Akhalkalaki, then TCDD to Kars
        yield env.timeout(self.run_hours("GE_TBS", "GE_MAR") + self.run_hours("GE_MAR", "GE_AKH") + 2)
        self.rail_move("GR", "ARRI", "GE_AKH", train, wagons)
        yield env.timeout(self.tri(self.sc["akhalkalaki_hours"]))
        self.rail_boxes("GR", "DISC", "GE_AKH", train, boxes)
        yield env.timeout(1)
        tr_train = self.train_no("T")
        for b in boxes:
            b.wagon = f"tr:{b.wagon}"
        tr_wagons = self.put_on_wagons(boxes, "TCDD")
        self.rail_boxes("TCDD", "LOAD", "GE_AKH", tr_train, boxes)
        yield env.timeout(3)
        self.rail_move("TCDD", "DEPA", "GE_AKH", tr_train, tr_wagons)
        yield env.timeout(self.run_hours("GE_AKH", "GE_KRT") + self.run_hours("GE_KRT", "TR_KRS") + 6)
        self.rail_move("TCDD", "ARRI", "TR_KRS", tr_train, tr_wagons)
        yield env.timeout(2)
        self.rail_boxes("TCDD", "DISC", "TR_KRS", tr_train, boxes)
        return self.arrived(boxes, dest)

    def arrived(self, boxes: list[Box], dest: str):
        collected = dest in PICKED_UP_FROM
        if collected:   # freed for another shipper once the consignee has it
            self.env.process(self.collected(boxes, dest))
        st, now = self.stats, self.env.now
        month = self.at(now, dest).strftime("%Y-%m")
        for b in boxes:
            st.transit_days[(b.origin, dest)].append((now - b.loaded_at) / 24)
            st.border_to_dest_days[dest].append((now - self._border_at.pop(b.number, b.loaded_at)) / 24)
            st.delivered += 1
            st.monthly[month][0] += 1
            st.monthly[month][1] += 1 if b.size == "22G1" else 2
            if not collected:
                self.release(b)

    def collected(self, boxes: list[Box], dest: str):
        """The consignee's trucks collect the boxes after half a day to three days: the terminal's
        gate-out (a port's CODECO, a railway terminal's CSV row) closes each journey as delivered."""
        yield self.env.timeout(self.pickup_rng.uniform(12, 72))
        party, t = PICKED_UP_FROM[dest], self.at(self.env.now, dest)
        if party in PORT_PARTY.values():
            self.gate(party, "GTOT", dest, boxes, mode="TRUCK")
        else:
            for b in boxes:
                self.say(PHASE_CONSIST, party, "csv", "csv",
                         (t, "EQUIPMENT", "GTOT", self.code(dest), b.number, b.size, None, None, b.bkg, None))
        for b in boxes:
            self.release(b)
