"""Running the twin: fast (a year as fast as the ingest path allows) and live (accelerated time)."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy.exc import OperationalError

from corridor.network_file import load_network

from .model import Twin
from .booking import Booker
from .parties import ensure_parties, facilities
from .scenario import Scenario, load_scenario
from .speak import Message, Outbox

log = logging.getLogger("corridor.twin")
UTC = timezone.utc


@dataclass
class Feed:
    """What the ingest path made of the twin's messages."""

    messages: int = 0
    records: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    skipped: int = 0                       # messages no parser takes yet (see `skipped_formats`)
    by_format: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)
    skipped_formats: set = field(default_factory=set)
    ingest_seconds: float = 0.0
    sweeps: int = 0                        # time-driven sweeps run at simulated time (`Sweeper`)
    swept: int = 0                         # events they stored (alerts, ETAs laid again)
    sweep_seconds: float = 0.0


class Sink:
    """Posts the twin's messages through the real ingest path (corridor.ingest.service.Ingestor)."""

    def __init__(self, store, mqtt_url: str | None = None, parse_workers: int = 0):
        from corridor.ingest.service import Ingestor
        self.ingestor = Ingestor(store)
        self.feed = Feed()
        self.positions = importlib.util.find_spec("corridor.ingest.positions") is not None
        self.mqtt = PositionPublisher(mqtt_url) if mqtt_url else None
        self.pool = None
        if parse_workers:
            from corridor.ingest.pool import ParsePool
            # EDIFACT only: pydifact reads a character at a time, while a CSV or JSON parse costs
            # about what pickling its events back does (120 days: 97 s against 114 s for all formats)
            self.pool = ParsePool(store, parse_workers)

    @staticmethod
    def _sender(msg: Message) -> str | None:
        # EDIFACT senders are known by their UNB interchange id (the alias registry), as in reality
        return None if msg.fmt == "edifact" else msg.party

    def window(self, messages: list[Message], received_at: datetime) -> None:
        """Ingest one window's messages in order, in one transaction (group commit: a reporting
        window's messages are what a collector would hand over together); with a parse pool, the
        costly parses of the window run at once on the other cores."""
        from corridor.ingest.service import Incoming
        batch = [m for m in messages if not self._direct(m)]
        if not batch:
            return
        ahead = {}
        if self.pool:
            ahead = {i: self.pool.submit(m.content, m.fmt, self._sender(m), received_at)
                     for i, m in enumerate(batch) if self.pool.takes(m.fmt)}
        t = time.perf_counter()
        outs = self.ingestor.ingest_many([
            Incoming(m.content, source_party=self._sender(m), fmt=m.fmt, received_at=received_at,
                     parsed=ahead.get(i)) for i, m in enumerate(batch)])
        self.feed.ingest_seconds += time.perf_counter() - t
        for msg, out in zip(batch, outs):
            self._count(msg, out)

    def close(self) -> None:
        if self.pool:
            self.pool.close()
        if self.mqtt:
            self.mqtt.close()

    def _direct(self, msg: Message) -> bool:
        """Handle what does not go through the ingest path here (MQTT fixes, skipped formats)."""
        f = self.feed
        # trackers speak MQTT, as in the field; the broker's consumer stamps its own receipt time,
        # so a fix the wall clock has not reached (live runs ahead of it at speed) goes direct,
        # received at simulated time, instead of being refused as an actual in the future
        if msg.fmt == "position-json" and self.mqtt and msg.first_time <= datetime.now(UTC) - timedelta(hours=1):
            f.by_format["mqtt"] += self.mqtt.publish(msg.party, json.loads(msg.content))
            return True
        if msg.fmt == "position-json" and not self.positions:
            f.skipped += 1
            f.skipped_formats.add(msg.fmt)
            return True
        return False

    def _count(self, msg: Message, out) -> None:
        f = self.feed
        f.messages += 1
        f.records += msg.records
        f.stored += out.stored
        f.duplicates += out.duplicates
        f.quarantined += out.quarantined
        f.by_format[msg.fmt] += 1
        for r in out.reasons[:5]:
            f.reasons[r.split(":")[0][:120] if "held" not in r else r[-80:]] += 1

    def __call__(self, msg: Message, received_at: datetime, parsed=None) -> None:
        """Ingest one message on its own (live mode: one transaction per message)."""
        if self._direct(msg):
            return
        t = time.perf_counter()
        extra = {"parsed": parsed.result()} if parsed is not None else {}
        out = self.ingestor.ingest(msg.content, source_party=self._sender(msg), fmt=msg.fmt,
                                   received_at=received_at, **extra)
        self.feed.ingest_seconds += time.perf_counter() - t
        self._count(msg, out)


SWEEP_EVERY_H = 6.0
# a fast run reads again the observed history (delays, dwell) the ETA and the alerts lean on, and
# the space booked on departures the ETA lays boxes by, every this many simulated hours (a server:
# every 5 min and 30 s of its clock), the same whatever the machine's speed; a history read costs
# a quarter of a second or so
HISTORY_EVERY_H = 7 * 24.0
RESERVED_EVERY_H = 24.0


class Sweeper:
    """The time-driven sweep a server runs (`corridor.tracking.hooks.sweep`: silence, dwell, ETAs
    whose departure left without the box), run at simulated time after a window's reports are in,
    at most every SWEEP_EVERY_H simulated hours. Only where tracking is on the ingest path (wired):
    without it there is no trip status to sweep, and importing it here would wire it."""

    def __init__(self, store, feed: Feed, every_h: float = SWEEP_EVERY_H):
        from corridor.ingest import service
        hooks = sys.modules.get("corridor.tracking.hooks")
        self.hooks = hooks if hooks is not None and hooks.after_append in service.AFTER_APPEND else None
        self.store, self.feed, self.every_h, self.last_h = store, feed, every_h, 0.0

    def __call__(self, t0: datetime, hours: float) -> None:
        if self.hooks is None or hours - self.last_h < self.every_h:
            return
        self.last_h = hours
        t = time.perf_counter()
        alerts, relaid = self.hooks.sweep_counts(self.store, t0 + timedelta(hours=hours))
        self.feed.sweeps += 1
        self.feed.swept += alerts + relaid
        self.feed.sweep_seconds += time.perf_counter() - t


def default_parse_workers() -> int:
    """One EDIFACT parser beside the store step where there is a second core (a quiet 2-core
    machine: 120 simulated days in 97 s against 114 s in-process), none on one core."""
    return 1 if (os.cpu_count() or 1) >= 2 else 0


class PositionPublisher:
    """Tracker fixes over MQTT to corridor/v1/positions/{party}/{device} (QoS 1), one message per fix."""

    def __init__(self, url: str):
        from urllib.parse import urlparse

        import paho.mqtt.client as mqtt
        u = urlparse(url if "://" in url else f"mqtt://{url}")
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"corridor-twin-{os.getpid()}")
        if u.username:
            self.client.username_pw_set(u.username, u.password)
        if u.scheme == "mqtts":
            self.client.tls_set()
        self.client.connect(u.hostname or "127.0.0.1", u.port or (8883 if u.scheme == "mqtts" else 1883))
        self.client.loop_start()

    def publish(self, party: str, fixes: list[dict]) -> int:
        """Publish each fix on its device's topic; returns how many went out."""
        from corridor.ingest.positions import position_topic
        for fix in fixes:
            self.client.publish(position_topic(party, fix["device"]), json.dumps(fix), qos=1)
        return len(fixes)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


TWIN_RUNS = "twin_runs"   # meta_kv: how many twin runs this store has taken in


def next_series(store) -> int:
    """The number series of a new twin run into `store` (0 for its first): each run names its own
    containers and trains, so a second `simulate` or `demo` over the same days never reports the
    first run's boxes (their timelines would mix two simulated worlds)."""
    from sqlalchemy import select
    from ..store.tables import meta_kv
    with store.tx() as conn:
        had = conn.execute(select(meta_kv.c.value).where(meta_kv.c.key == TWIN_RUNS)).scalar()
        runs = int(had or 0)
        if had is None:
            conn.execute(meta_kv.insert().values(key=TWIN_RUNS, value="1"))
        else:
            conn.execute(meta_kv.update().where(meta_kv.c.key == TWIN_RUNS).values(value=str(runs + 1)))
    return runs


def timetable_start(store, wanted: datetime, days: float) -> datetime:
    """`wanted` when the store's timetable covers it, else the timetable's first day (00:00 UTC)."""
    from corridor.store import network as netstore
    with store.read() as conn:
        first = netstore.list_departures(conn, limit=1)
        later = netstore.list_departures(conn, start=wanted + timedelta(days=min(days, 30)), limit=1)
    if not first or (first[0][0].departs_at <= wanted and later):
        return wanted
    t = first[0][0].departs_at.astimezone(UTC) + timedelta(days=1)
    return t.replace(hour=0, minute=0, second=0, microsecond=0)


def connect(twin: Twin, store, days: float) -> Booker:
    """Wire the model to the store: bookings through the booking service, storms as closure notices."""
    from corridor.notices.service import publish
    start = twin.t0
    booker = Booker(store, hops(twin), start - timedelta(days=1), start + timedelta(days=days + 40), twin.net)

    def book(shipper, forwarder, path, ready_at, sizes, **kw):
        # inside a SimPy process: an exception would end the model (and SimPy cannot even re-raise
        # SQLAlchemy's errors), so a store that stays busy (a live demo shares it with the API and
        # its workers) costs this one booking, not the twin
        for attempt in range(3):
            try:
                return booker.book(shipper, forwarder, path, ready_at, sizes, **kw)
            except (OperationalError, TimeoutError) as e:
                log.warning("twin booking %s -> %s: store busy (%s), attempt %d", path[0], path[-1], e, attempt + 1)
                time.sleep(0.5 * (attempt + 1))
        log.error("twin booking %s -> %s not made: the store stayed busy", path[0], path[-1])
        booker.failed += 1
        return None

    def rebook(ref, path, first, legs, now, reason):
        # as `book`: a store that stays busy leaves the booking as it was (its MISS alert tells)
        for attempt in range(3):
            try:
                return booker.reroute(ref, path, first, legs, now, reason)
            except (OperationalError, TimeoutError) as e:
                log.warning("twin re-booking %s: store busy (%s), attempt %d", ref, e, attempt + 1)
                time.sleep(0.5 * (attempt + 1))
        return None

    def notify(port: str, loc: str, start_h: float, end_h: float) -> None:
        a, b = twin.t0 + timedelta(hours=start_h), twin.t0 + timedelta(hours=end_h)
        until = twin.at(end_h, loc).isoformat(timespec="minutes")
        try:
            # a storm closes the port to ships: the trains through the same place run on
            out = publish(store, operator=port, kind="closure", location=loc, starts_at=a, ends_at=b,
                          text=f"port closed by storm until {until}", facilities=facilities(port),
                          now=twin.t0 + timedelta(hours=twin.env.now), modes=["sea"])
        except Exception:                     # a notice refused must not stop the corridor
            log.exception("closure notice of %s could not be published", port)
            return
        twin._cancelled.update(booker.cancel_from(loc, a, b, out.modes))
        twin.stats.notices.append((port, out.id, len(out.departures), len(out.bookings)))

    twin.book, twin.notify = book, notify
    # trains run as the timetable's departures; a box that misses one is re-booked (model.rail_hop)
    twin.next_departure, twin.rebook, twin.booking_teu = booker.next_free, rebook, booker.teu
    return booker


def hops(twin: Twin) -> set[tuple[str, str]]:
    """Every (from, to) hop a twin booking may take."""
    out = set()
    for origin in twin.sc["origins"]:
        for border in ("KZ_ALT", "KZ_DOS"):
            for port in ("KZ_AKX", "KZ_KUR"):
                for dest in twin.sc["destinations"]:
                    p = twin.path(origin, border, port, dest)
                    out.update(zip(p, p[1:]))
    return out


@dataclass
class Result:
    """One run: the model's statistics, what ingest stored, and how long it took."""

    scenario: Scenario
    seed: int
    days: float
    twin: Twin
    feed: Feed | None
    wall_seconds: float

    def summary(self) -> dict:
        """The stable JSON summary (`corridor simulate --json`)."""
        st = self.twin.stats
        f = self.feed
        return {"scenario": self.scenario.name, "seed": self.seed, "simulated_days": self.days,
                "start": self.twin.t0.isoformat(), "trains": st.trains, "onward_trains": st.onward_trains,
                "containers": st.containers, "teu": st.teu, "delivered": st.delivered,
                "bookings": st.bookings, "unbooked_shares": st.unbooked, "rebooked": st.rebooked,
                "reused_containers": st.reused,
                "storm_days": st.storm_days, "closure_notices": len(st.notices),
                "bookings_alerted": sum(n[3] for n in st.notices),
                "events": f.stored if f else 0, "messages": f.messages if f else 0,
                "records": f.records if f else 0, "duplicates": f.duplicates if f else 0,
                "quarantined": f.quarantined if f else 0, "messages_by_format": dict(f.by_format) if f else {},
                "skipped_formats": sorted(f.skipped_formats) if f else [],
                "ingest_seconds": round(f.ingest_seconds, 2) if f else 0.0,
                "sweeps": f.sweeps if f else 0, "sweep_events": f.swept if f else 0,
                "sweep_seconds": round(f.sweep_seconds, 2) if f else 0.0,
                "wall_seconds": round(self.wall_seconds, 2)}


def simulate(store=None, scenario: Scenario | None = None, *, days: float = 365, seed: int = 1,
             batch_hours: float = 24, progress=None, mqtt_url: str | None = None,
             parse_workers: int = 0) -> Result:
    """Run the model for `days`; with a store, every report goes through the ingest path.

    With a store the shippers book through the booking service on the store's timetable (the run
    starts on the timetable's first day when the scenario's start is outside it) and storms are
    published as closure notices. `progress(done_days, total_days)` is called after each window.
    Without a store the model runs alone (what-if comparisons, calibration). `parse_workers`
    processes parse EDIFACT while the caller stores (corridor.ingest.pool). With tracking wired the
    server's time-driven sweep runs at simulated time after the windows (`Sweeper`).
    """
    scenario = scenario or load_scenario()
    network = load_network()
    wall = time.perf_counter()
    sink, sweeper, edi_ids = None, None, {}
    outbox = Outbox()
    if store is not None:
        edi_ids = ensure_parties(store)
        sink = Sink(store, mqtt_url, parse_workers)
        sweeper = Sweeper(store, sink.feed)
        begin = datetime(scenario.start.year, scenario.start.month, scenario.start.day, tzinfo=UTC)
        begin = timetable_start(store, begin, days)
        if begin.date() != scenario.start:
            scenario = Scenario(scenario.name, {**scenario.params, "start": begin.date().isoformat()})
    twin = Twin(scenario, network, seed=seed, voice=outbox if sink else None,
                series=next_series(store) if store is not None else 0)
    if store is not None:
        connect(twin, store, days)
    twin.start(days)
    end = days * 24
    eta = sys.modules.get("corridor.tracking.eta") if sweeper is not None and sweeper.hooks else None
    aging = (eta.simulated_clock(store.cache_keys(), eta.CacheClock(
        lambda: twin.env.now * 3600, history_s=HISTORY_EVERY_H * 3600, reserved_s=RESERVED_EVERY_H * 3600))
        if eta is not None else contextlib.nullcontext())
    t = 0.0
    try:
        with aging:
            while t < end:
                t = min(end, t + batch_hours)
                twin.env.run(until=t)
                if sink:
                    sink.window(outbox.drain(edi_ids), twin.t0 + timedelta(hours=t))
                    sweeper(twin.t0, t)
                if progress:
                    progress(t / 24, days)
    finally:
        if sink:
            sink.close()
    return Result(scenario, seed, days, twin, sink.feed if sink else None, time.perf_counter() - wall)


def run_live(store, speed: float = 3600, stop_event: threading.Event | None = None, *,
             scenario: Scenario | None = None, seed: int = 1, start: datetime | None = None,
             tick_seconds: float = 1.0, max_days: float = 3650, warmup_days: float = 20,
             mqtt_url: str | None = None) -> Result:
    """Feed a running store continuously: `speed` simulated seconds per real second (3600 = 1 h/s).

    The model starts `warmup_days` before now and runs those days at once (trains are on the way
    when the demo opens); from now on it keeps pace with the wall clock at `speed`, reporting once
    per simulated hour, until `stop_event` is set or `max_days` pass. Positions go over MQTT when
    `mqtt_url` (default: CORRIDOR_MQTT_URL) is set.
    """
    stop_event = stop_event or threading.Event()
    mqtt_url = mqtt_url if mqtt_url is not None else os.environ.get("CORRIDOR_MQTT_URL") or None
    now = datetime.now(UTC)
    start = start or (now - timedelta(days=warmup_days)).replace(hour=0, minute=0, second=0, microsecond=0)
    scenario = scenario or load_scenario()
    scenario = Scenario(scenario.name, {**scenario.params, "start": start.date().isoformat()})
    network = load_network()
    edi_ids = ensure_parties(store)
    sink = Sink(store, mqtt_url)
    sweeper = Sweeper(store, sink.feed)
    outbox = Outbox()
    twin = Twin(scenario, network, seed=seed, voice=outbox, series=next_series(store))
    connect(twin, store, max_days)
    twin.start(max_days)
    wall = time.perf_counter()

    def advance(to_h: float, step: float) -> float:
        h = twin.env.now
        while h < to_h and not stop_event.is_set():
            h = min(to_h, h + step)
            twin.env.run(until=h)
            for msg in outbox.drain(edi_ids):
                try:
                    sink(msg, twin.t0 + timedelta(hours=h))
                except Exception:                  # one bad message must not stop the demo
                    log.exception("twin message from %s could not be ingested", msg.party)
            try:
                sweeper(twin.t0, h)
            except Exception:                      # nor a failed sweep: the next one retries
                log.exception("sweep at simulated %s failed", twin.t0 + timedelta(hours=h))
        return h

    try:
        # the past up to now at once, in 6-hour windows: the map has trains on the way at once
        sim_h = advance((now - twin.t0).total_seconds() / 3600, 6.0)
        live_from, live_wall = sim_h, time.monotonic()
        while not stop_event.is_set() and sim_h < max_days * 24:
            # keep pace with the wall clock (never drift behind by the time ingest takes)
            target = live_from + (time.monotonic() - live_wall) * speed / 3600.0
            sim_h = advance(min(target, max_days * 24), 1.0)
            stop_event.wait(max(0.0, tick_seconds - ((time.monotonic() - live_wall) % tick_seconds)))
    finally:
        sink.close()
    return Result(scenario, seed, twin.env.now / 24, twin, sink.feed, time.perf_counter() - wall)
