"""Running the twin: fast (a year as fast as the ingest path allows) and live (accelerated time)."""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from corridor.network_file import load_network

from .model import Twin
from .parties import create_booking, ensure_parties
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


class Sink:
    """Posts the twin's messages through the real ingest path (corridor.ingest.service.Ingestor)."""

    def __init__(self, store):
        from corridor.ingest.service import Ingestor
        self.ingestor = Ingestor(store)
        self.feed = Feed()
        self.positions = importlib.util.find_spec("corridor.ingest.positions") is not None

    def __call__(self, msg: Message, received_at: datetime) -> None:
        f = self.feed
        if msg.fmt == "position-json" and not self.positions:
            f.skipped += 1
            f.skipped_formats.add(msg.fmt)
            return
        t = time.perf_counter()
        # EDIFACT senders are known by their UNB interchange id (the alias registry), as in reality
        out = self.ingestor.ingest(msg.content, source_party=None if msg.fmt == "edifact" else msg.party,
                                   fmt=msg.fmt, received_at=received_at)
        f.ingest_seconds += time.perf_counter() - t
        f.messages += 1
        f.records += msg.records
        f.stored += out.stored
        f.duplicates += out.duplicates
        f.quarantined += out.quarantined
        f.by_format[msg.fmt] += 1
        for r in out.reasons[:5]:
            f.reasons[r.split(":")[0][:120] if "held" not in r else r[-80:]] += 1


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
                "bookings": st.bookings, "reused_containers": st.reused, "storm_days": st.storm_days,
                "events": f.stored if f else 0, "messages": f.messages if f else 0,
                "records": f.records if f else 0, "duplicates": f.duplicates if f else 0,
                "quarantined": f.quarantined if f else 0, "messages_by_format": dict(f.by_format) if f else {},
                "skipped_formats": sorted(f.skipped_formats) if f else [],
                "ingest_seconds": round(f.ingest_seconds, 2) if f else 0.0,
                "wall_seconds": round(self.wall_seconds, 2)}


def simulate(store=None, scenario: Scenario | None = None, *, days: float = 365, seed: int = 1,
             batch_hours: float = 24, progress=None) -> Result:
    """Run the model for `days`; with a store, every report goes through the ingest path.

    `progress(done_days, total_days)` is called after each window. Without a store the model
    runs alone (what-if comparisons): the statistics are the same for the same seed.
    """
    scenario = scenario or load_scenario()
    network = load_network()
    wall = time.perf_counter()
    sink, edi_ids, book = None, {}, None
    outbox = Outbox()
    if store is not None:
        edi_ids = ensure_parties(store)
        sink = Sink(store)

        def book(shipper, forwarder, origin, dest, ready_at, sizes):
            with store.tx() as conn:
                return create_booking(conn, shipper=shipper, forwarder=forwarder, origin=origin,
                                      destination=dest, ready_at=ready_at, sizes=sizes, now=ready_at)
    twin = Twin(scenario, network, seed=seed, voice=outbox if sink else None, book=book)
    twin.start(days)
    end = days * 24
    t = 0.0
    while t < end:
        t = min(end, t + batch_hours)
        twin.env.run(until=t)
        if sink:
            received = twin.t0 + timedelta(hours=t)
            for msg in outbox.drain(edi_ids):
                sink(msg, received)
        if progress:
            progress(t / 24, days)
    return Result(scenario, seed, days, twin, sink.feed if sink else None, time.perf_counter() - wall)


def run_live(store, speed: float = 3600, stop_event: threading.Event | None = None, *,
             scenario: Scenario | None = None, seed: int = 1, start: datetime | None = None,
             tick_seconds: float = 1.0, max_days: float = 3650) -> Result:
    """Feed a running store continuously: `speed` simulated seconds per real second (3600 = 1 h/s).

    The model starts at `start` (default: today 00:00 UTC minus 20 days, so trains are already on
    the way) and reports once per simulated hour until `stop_event` is set or `max_days` pass.
    """
    stop_event = stop_event or threading.Event()
    now = datetime.now(UTC)
    start = start or (now - timedelta(days=20)).replace(hour=0, minute=0, second=0, microsecond=0)
    scenario = scenario or load_scenario(start=start.date().isoformat())
    if scenario.start != start.date():
        scenario.params["start"] = start.date().isoformat()
    network = load_network()
    edi_ids = ensure_parties(store)
    sink = Sink(store)
    outbox = Outbox()

    def book(shipper, forwarder, origin, dest, ready_at, sizes):
        with store.tx() as conn:
            return create_booking(conn, shipper=shipper, forwarder=forwarder, origin=origin,
                                  destination=dest, ready_at=ready_at, sizes=sizes, now=ready_at)
    twin = Twin(scenario, network, seed=seed, voice=outbox, book=book)
    twin.start(max_days)
    wall = time.perf_counter()
    sim_h = 0.0
    step = speed * tick_seconds / 3600.0
    while not stop_event.is_set() and sim_h < max_days * 24:
        target = sim_h + step
        while sim_h < target:                      # report once per simulated hour
            sim_h = min(target, sim_h + 1.0)
            twin.env.run(until=sim_h)
            for msg in outbox.drain(edi_ids):
                try:
                    sink(msg, twin.t0 + timedelta(hours=sim_h))
                except Exception:                  # one bad message must not stop the demo
                    log.exception("twin message from %s could not be ingested", msg.party)
        stop_event.wait(tick_seconds)
    return Result(scenario, seed, sim_h / 24, twin, sink.feed, time.perf_counter() - wall)
