"""The one ingest path: raw message -> parse -> registry -> trips -> append, or quarantine.

Every raw message is kept once per sender and content (a receipt: the same bytes from two
parties are two receipts, each processed as its own sender), with its received time; every event
links back to it. What cannot be parsed, mapped or attributed goes to quarantine with the reason
and can be replayed once an alias or mapping is fixed. Re-sending anything never duplicates: the
event log's natural key decides (see corridor.domain.events.event_keys).
"""

from __future__ import annotations

import gc
import logging
import threading
from concurrent.futures import Future
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timedelta, timezone
from typing import Callable

from sqlalchemy import Connection

from ..domain.events import Classifier, Event, EventKind, TransportCall, event_keys
from ..domain.trips import Trip, attribute
from ..store import Store
from ..store import events as evstore
from ..store import ingest as repo
from ..store import retractions
from .results import ParseResult, Rejection

log = logging.getLogger("corridor.ingest")

# Called inside the ingest transaction with the newly stored (seq, event) pairs: tracking
# updates and the webhook outbox register here, so they commit or roll back with the events.
AFTER_APPEND: list[Callable[[Connection, list[tuple[int, Event]]], None]] = []

# how far before a container's first known trip an out-of-order report may still extend it
EARLY_REPORT = timedelta(days=30)

FORMATS = ("edifact", "dcsa-json", "csv", "position-json")

# which end of a departure an event's place is: boxes go on where it leaves, come off where it arrives
_CALL_SIDE = {"DEPA": "origin", "LOAD": "origin", "ARRI": "destination", "DISC": "destination"}


@dataclass
class IngestOutcome:
    """What happened to one input: stored, duplicate and quarantined counts, with the reasons."""

    message_id: str
    format: str
    filename: str | None = None
    source_party: str = ""
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    stowage: int = 0        # bay-plan positions recorded (BAPLIE: which container is on which sailing)
    schedule: int = 0       # schedule changes applied as operator notices (IFTSAI)
    retracted: int = 0      # events withdrawn by their sender (DCSA 3.0 isRetracted), new retractions
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dry_run: bool = False
    preview: list[dict] = field(default_factory=list)   # the events that would be stored (dry run)

    def as_json(self) -> dict:
        d = {"path": self.filename, "message_id": self.message_id, "format": self.format,
             "source_party": self.source_party, "stored": self.stored, "duplicates": self.duplicates,
             "quarantined": self.quarantined, "stowage": self.stowage, "schedule_changes": self.schedule,
             "retracted": self.retracted, "reasons": self.reasons, "warnings": self.warnings}
        if self.dry_run:
            d["dry_run"] = True
            d["events"] = self.preview
        return d


def parse(content: bytes, fmt: str, source_party: str, received_at: datetime, tz_for=None,
          filename: str | None = None, message_id: str | None = None) -> ParseResult:
    """Dispatch to the format's parser (each never raises; reasons come back as rejections).

    Positions received over MQTT keep their topic as the file name, so a replay reads it again.
    `message_id` (the kept message's) is stamped on the events by the parsers that can.
    """
    if fmt == "edifact":
        from .edifact import parse_edifact
        return parse_edifact(content, source_party=source_party, received_at=received_at, tz_for=tz_for)
    if fmt == "dcsa-json":
        from .dcsa import parse_dcsa
        return parse_dcsa(content, source_party=source_party, received_at=received_at, message_id=message_id)
    if fmt == "csv":
        from .csvfmt import parse_csv
        return parse_csv(content, source_party=source_party, message_id=message_id, tz_for=tz_for)
    if fmt == "position-json":
        from .positions import parse_position
        topic = filename if filename and filename.startswith("corridor/") else None
        return parse_position(content, source_party=source_party, topic=topic)
    return ParseResult(format=fmt, rejections=[Rejection(
        "unrecognised format: not EDIFACT (UNA/UNB/UNH), DCSA JSON, position JSON or CSV with a known header",
        expected="one of " + ", ".join(FORMATS))])


def detect(content: bytes, filename: str | None) -> str:
    from .detect import detect_format
    return detect_format(content, filename)


# A message of many events allocates tens of thousands of small containers (its JSON, events,
# rows) that live until it is stored: the cyclic garbage collector would walk them over and over
# (measured: a tenth to a quarter of the PostgreSQL path's time for 1,000-event files) though
# none of them form a cycle and reference counting frees them. It is paused for such a message.
PAUSE_FROM = 64 * 1024   # content bytes from which a message pauses the collector
_PAUSE_LOCK = threading.Lock()
_pausing = 0   # messages in flight (any thread) that paused the collector


@contextmanager
def collector_paused(pause: bool = True):
    """Pause the cyclic garbage collector while the block runs; it resumes when the last message
    in flight that paused it is done. An application that keeps the collector off is left so."""
    global _pausing
    with _PAUSE_LOCK:
        pause = pause and (_pausing > 0 or gc.isenabled())
        if pause:
            _pausing += 1
            gc.disable()
    try:
        yield
    finally:
        if pause:
            with _PAUSE_LOCK:
                _pausing -= 1
                if _pausing == 0:
                    gc.enable()


@dataclass(frozen=True)
class Incoming:
    """One raw message for `Ingestor.ingest_many` (the arguments of `Ingestor.ingest`)."""

    content: bytes
    source_party: str | None = None
    filename: str | None = None
    fmt: str | None = None
    received_at: datetime | None = None
    allowed: Callable[[Event], str | None] | None = None
    parsed: ParseResult | Future | None = None   # a parse made elsewhere (a Future: awaited in turn)


def _ready(parsed: ParseResult | Future | None) -> ParseResult | None:
    return parsed.result() if isinstance(parsed, Future) else parsed


class Ingestor:
    """The ingest path over one store. Thread-safe: each call is its own transaction."""

    def __init__(self, store: Store):
        self.store = store

    # -- public ------------------------------------------------------------------------------
    def ingest(self, content: bytes, *, source_party: str | None = None, filename: str | None = None,
               fmt: str | None = None, received_at: datetime | None = None, dry_run: bool = False,
               allowed: Callable[[Event], str | None] | None = None,
               parsed: ParseResult | None = None, checked: bool | None = None) -> IngestOutcome:
        """Take in one raw message. `allowed(event)` returns a reason when the sender may not post it.

        `checked`: the post is held to its sender's posting rights, so a replay is too (default:
        when `allowed` is given; an MQTT message always is, its topic's sender known or not).

        `parsed`: the message already read by `parse` elsewhere (corridor.ingest.pool parses on
        other cores); it must be the parse of this very content, format and sender.
        """
        received_at = received_at or datetime.now(timezone.utc)
        fmt = fmt or detect(content, filename)
        if dry_run:
            # everything runs, nothing stays: the transaction is rolled back
            with self.store.writing(), self.store.engine.connect() as conn:
                trans = conn.begin()
                try:
                    return self._process(conn, repo.message_id(content, source_party), content, fmt,
                                         source_party, filename, received_at, True, allowed)
                finally:
                    trans.rollback()
        with collector_paused(len(content) >= PAUSE_FROM), self.store.tx() as conn:
            mid, new = repo.keep_raw(conn, content, fmt=fmt, source_party=source_party or "",
                                     received_at=received_at, filename=filename,
                                     checked=allowed is not None if checked is None else checked)
            return self._process(conn, mid, content, fmt, source_party, filename, received_at, False, allowed,
                                 fresh=new, parsed=parsed)

    def ingest_many(self, messages: list[Incoming]) -> list[IngestOutcome]:
        """Take in several raw messages in one transaction (group commit), in order.

        Each message is processed exactly as `ingest` would (it sees what the earlier ones
        stored); the tracking hooks run once over everything stored, before the one commit.
        A feed of many small messages (the twin's windows, a folder, a pulled NATS batch)
        writes each index page once instead of once per message. Should the batch fail, every
        message is taken in again on its own, so one bad message cannot sink the others; the
        first failure is raised after the rest went in (as `ingest` raises it).
        """
        if not messages:
            return []
        stored: list[tuple[int, Event]] = []
        try:
            with collector_paused(sum(len(m.content) for m in messages) >= PAUSE_FROM), self.store.tx() as conn:
                outs = []
                for m in messages:
                    received_at = m.received_at or datetime.now(timezone.utc)
                    fmt = m.fmt or detect(m.content, m.filename)
                    mid, new = repo.keep_raw(conn, m.content, fmt=fmt, source_party=m.source_party or "",
                                             received_at=received_at, filename=m.filename,
                                             checked=m.allowed is not None)
                    outs.append(self._process(conn, mid, m.content, fmt, m.source_party, m.filename, received_at,
                                              False, m.allowed, fresh=new, parsed=_ready(m.parsed),
                                              deferred=stored))
                for hook in AFTER_APPEND:
                    hook(conn, stored)
                return outs
        except Exception:
            if len(messages) == 1:
                raise
            log.warning("a batch of %d messages failed; taking them in one by one", len(messages), exc_info=True)
        outs, failed = [], None
        for m in messages:
            try:
                outs.append(self.ingest(m.content, source_party=m.source_party, filename=m.filename, fmt=m.fmt,
                                        received_at=m.received_at, allowed=m.allowed, parsed=_ready(m.parsed)))
            except Exception as e:   # the others still go in; the caller learns of the first failure
                failed = failed or e
        if failed is not None:
            raise failed
        return outs

    def keep(self, content: bytes, *, source_party: str | None = None, filename: str | None = None,
             fmt: str | None = None, received_at: datetime | None = None,
             checked: bool = False) -> tuple[str, str, bool]:
        """Keep a raw message for later processing (status 'pending'); returns (id, format, new).

        The id is the receipt's: the same bytes from another party are another message, processed
        as that party. `checked`: the post is held to its sender's posting rights (processing it
        with them records that too)."""
        received_at = received_at or datetime.now(timezone.utc)
        fmt = fmt or detect(content, filename)
        with self.store.tx() as conn:
            mid, new = repo.keep_raw(conn, content, fmt=fmt, source_party=source_party or "",
                                     received_at=received_at, filename=filename, checked=checked)
            if not new:
                # a re-send of a kept message is processed again (its events collapse as duplicates)
                repo.mark_raw(conn, mid, "pending")
        return mid, fmt, new

    def process(self, message_id: str, allowed: Callable[[Event], str | None] | None = None,
                only_pending: bool = False) -> IngestOutcome | None:
        """Process a kept message in one transaction, as its own sender; None when `only_pending`
        and it is done already. Processed with `allowed` (its sender's posting rights), the
        receipt is marked so: a replay of it is held to them again."""
        with self.store.tx() as conn:
            raw = repo.get_raw(conn, message_id)
            if raw is None:
                raise KeyError(message_id)
            if only_pending and raw.status != "pending":
                return None
            if allowed is not None and not raw.checked:
                repo.mark_checked(conn, message_id)
            return self._process(conn, message_id, bytes(raw.content), raw.format, raw.source_party or None,
                                 raw.filename, raw.received_at, False, allowed)

    def replay(self, message_id: str, allowed: Callable[[Event], str | None] | None = None, *,
               kept_rights: dict | None = None) -> IngestOutcome:
        """Process a kept message again (after an alias or mapping fix); resolves what it no longer holds.

        Posting rights are judged as the post judged them, whoever replays: a receipt whose post
        was held to its sender's rights (an API key's, an MQTT topic's: `raw_messages.checked`) is
        held to them again, so an alias never lets in what its sender was refused. `allowed` (a
        replaying party's own rights, which for its own receipt are its sender's) is used as
        given. `kept_rights`: a party -> rights dict for a run of many replays (read once each).
        """
        if allowed is None:
            allowed = self._post_rights(message_id, {} if kept_rights is None else kept_rights)
        return self.process(message_id, allowed)

    def _post_rights(self, message_id: str, kept: dict) -> Callable[[Event], str | None] | None:
        """The posting rights a kept receipt's post was judged by: its sender's when it was
        (`raw_messages.checked`), else none. A receipt kept without a sender (an MQTT topic, an
        EDIFACT UNB names it) is judged by the sender it names, through the registry of now."""
        from .nats import sender_rights   # posting_rights of a sender id, as the ingest workers judge it
        with self.store.read() as conn:
            raw = repo.raw_sender(conn, message_id)
            if raw is None:
                raise KeyError(message_id)
            if not raw.checked:
                return None
            sender = raw.source_party
            if not sender:
                full = repo.get_raw(conn, message_id)
                sender = _sender_code(parse(bytes(full.content), full.format, "", full.received_at,
                                            filename=full.filename).meta) or ""
        if sender not in kept:
            kept[sender] = sender_rights(self.store, sender) if sender else None
        return kept[sender]

    # -- the pipeline ----------------------------------------------------------------------
    def _process(self, conn, mid, content, fmt, source_party, filename, received_at, dry_run, allowed,
                 fresh=False, parsed: ParseResult | None = None, deferred: list | None = None):
        """`fresh`: the raw message was first kept in this transaction (no quarantine of it to read).

        `deferred`: collect the stored events there and leave the hooks to the caller (one run per batch).
        """
        out = IngestOutcome(message_id=mid, format=fmt, filename=filename, dry_run=dry_run)
        registry = repo.Registry(conn)   # sender ids, places and zones: one read while nothing changed
        result = parsed or parse(content, fmt, source_party or "", received_at,
                                 tz_for=self._tz_for(conn, registry), filename=filename, message_id=mid)
        out.warnings.extend(result.warnings)
        quarantine: list[dict] = []

        def hold(kind: str, reason: str, detail: dict | None = None):
            quarantine.append({"message_id": mid, "kind": kind, "format": fmt, "source_party": party or "",
                               "reason": reason, "detail": detail, "status": "open", "attempts": 0,
                               "created_at": datetime.now(timezone.utc)})
            out.reasons.append(reason)

        party = source_party or self._sender(conn, result.meta, registry)
        out.source_party = party or ""
        for rej in result.rejections:
            hold("rejected", _reason(rej), {k: v for k, v in asdict(rej).items() if v is not None})
        if not party:
            # the sender is unknown for the whole message: one entry holds all of it (its events,
            # schedule, stowage); an alias and a replay of the message take every one in again
            held = {"events": len(result.events), "schedule": len(result.schedule), "stowage": len(result.stowage)}
            if any(held.values()):
                sender = _sender_code(result.meta)
                what = ", ".join(f"{n} {k}" for k, n in held.items() if n)
                why = (f"unknown sender id {sender!r}: add a party alias for it and replay "
                       f"(corridor alias add party {sender} <PARTY> --replay); the message's {what} are held"
                       if sender else f"no sending party: post with an API key or name the sender, then replay; "
                                      f"the message's {what} are held")
                boxes = sorted({e.equipment for e in result.events if e.equipment})
                hold("rejected", why, {"sender": sender, **held, "equipment": boxes[:50],
                                       "fix": (f"corridor alias add party {sender} <PARTY> --replay" if sender
                                               else "post with an API key, or give the sending party")})
            result.events = []
        # a bay plan or schedule stores no event: the counts say what it did
        out.stowage = sum(1 for s in result.stowage if s.voyage) if party else 0
        if party and not dry_run:
            self._stowage(conn, result, party, received_at)
            refused, out.schedule = self._schedule(conn, result, party, received_at)
            for why in refused:
                hold("rejected", why, None)
        out.retracted = retractions.take(conn, result, party, mid, received_at, hold, out.warnings)

        # the message's places from the registry, then each event is checked and expanded
        places = registry.locations({e.location for e in result.events if e.location})
        late = received_at + FUTURE_SKEW
        checked: list[Event] = []
        for e in result.events:
            loc = places.get(e.location) if e.location else None
            if e.location and loc is None:
                hold("rejected", f"unknown location code {e.location!r}: add a location alias and replay",
                     {"event": _event_json(e, party)})
                continue
            if e.classifier == _ACT and e.event_time > late:
                # what happened cannot have happened after it was reported (every format; DCSA's
                # reader words it already)
                hold("rejected", _future(e, received_at), {"event": _event_json(e, party)})
                continue
            loc = loc or e.location
            if e.message_id != mid or e.source_party != party or e.location != loc:
                e = _as_received(e, party, mid, loc)   # (a parser may have stamped them already)
            if allowed and (why := allowed(e)):
                hold("rejected", why, {"event": _event_json(e)})
                continue
            checked.append(e)
        consists = self._consists(conn, checked)
        if consists is None:
            ready = checked
        else:
            consists.apply([op for e in checked if e.equipment for op in _coupling(e)])
            ready = []
            for e in checked:
                ready.extend(self._expand(consists, e))

        # keys once per event; a re-sent event is already in the log: count it as a duplicate
        # before attributing it (attribution may differ now that later trips exist)
        keys = [event_keys(e) for e in ready]
        known = repo.known_events(conn, list({k[1] for k in keys})) if ready else set()
        resent = [e for e, k in zip(ready, keys) if k[1] in known]
        if resent and (anew := evstore.reassertions(conn, list(zip(ready, keys)), known)):
            # an estimate its sender goes back to is a new report, under its own key
            known |= repo.known_events(conn, list(anew.values()))
            for i, key in anew.items():
                keys[i] = (keys[i][0], key)
            resent = [e for e, k in zip(ready, keys) if k[1] in known]
        if resent:
            kept = [(e, k) for e, k in zip(ready, keys) if k[1] not in known]
            ready, keys = [e for e, _ in kept], [k for _, k in kept]
        # after the keys: a departure found now (the timetable may change) must not change them
        ready = self._departures(conn, ready, party)
        attributed: list[Event] = []
        attributed_keys: list[tuple[str, str]] = []
        coupling: list[tuple] = []
        # a posting check (access.visibility.posting_rights) judges where a container event lands
        # here, on the trips held under the containers' lock, those this message opens too
        recheck = getattr(allowed, "recheck", None) if allowed else None
        boxes = sorted({e.equipment for e in (ready + resent if recheck else ready)
                        if e.equipment and e.kind != _ALERT})
        if boxes:
            repo.lock_containers(conn, boxes)   # two workers never create two trips for one box
        known = repo.trips_of_many(conn, boxes) if boxes else {}
        if recheck is not None and resent:
            # a re-sent copy too: refused, not a "duplicate" that tells of another party's event
            judged = []
            for e in resent:
                if e.equipment and e.kind != _ALERT and (why := recheck(e, known.get(e.equipment) or [])):
                    hold("rejected", why, {"event": _event_json(e)})
                else:
                    judged.append(e)
            resent = judged
        before = {t.id: t for ts in known.values() for t in ts}
        sizes: dict[str, str | None] = {}    # size type of each new trip's container
        # a booking's parties matter only to a trip it opens: read those whose container has no trip of it
        bookings = [_booking(e) if e.equipment and e.kind != _ALERT else None for e in ready]
        booked = {(box, t.booking_ref) for box, ts in known.items() for t in ts if t.booking_ref}
        opening = {b for e, b in zip(ready, bookings) if b and (e.equipment, b) not in booked}
        shippers = repo.booking_parties(conn, sorted(opening)) if opening else {}
        # a large message's events go down to PostgreSQL as they are attributed (evstore.Stream):
        # the database stores them while this loop works out the next ones
        log = evstore.Stream(conn, received_at, len(ready)) if not dry_run and evstore.streams(conn, len(ready)) \
            else None
        with log or nullcontext():
            for e, k, bkg in zip(ready, keys, bookings):
                if e.equipment and e.kind != _ALERT:
                    if recheck is not None and (why := recheck(e, known.get(e.equipment) or [])):
                        hold("rejected", why, {"event": _event_json(e)})
                        continue
                    trip, why = self._trip(conn, e, known, shippers, sizes, bkg)
                    if trip is None:
                        hold("held", f"{e.equipment} {e.code} at {e.location or '?'} "
                                     f"{e.event_time.isoformat()}: {why}", {"event": _event_json(e)})
                        continue
                    coupling += _coupling(e)
                    e = _on_trip(e, trip.id, e.parties | trip.parties)
                attributed.append(e)
                attributed_keys.append(k)
                if log is not None:
                    log.add(e, k)
        if not dry_run:
            repo.couple_many(conn, coupling)

        repo.save_trips(conn, before, [t for ts in known.values() for t in ts], sizes)
        if dry_run:
            out.preview = [_event_json(e) for e in attributed]
            out.stored, out.duplicates = len(attributed), len(resent)
            out.quarantined = len(quarantine)
            return out
        stored, dups = log.result() if log is not None else evstore.append(
            conn, attributed, received_at, keys=attributed_keys, checked=True)
        out.stored, out.duplicates = len(stored), len(dups) + len(resent)
        out.quarantined = repo.quarantine_sync(conn, mid, quarantine, fresh=fresh)
        status = "processed" if not quarantine else ("quarantined" if not stored and not out.duplicates else "partial")
        seqs = (min(n for n, _ in stored), max(n for n, _ in stored)) if stored else None
        repo.finish_raw(conn, mid, status=status, stored=len(stored), duplicates=out.duplicates,
                        rejected=out.quarantined, source_party=party or None, seqs=seqs, fresh=fresh)
        if deferred is not None:
            deferred.extend(stored)
            return out
        for hook in AFTER_APPEND:
            hook(conn, stored)
        return out

    # -- steps -------------------------------------------------------------------------------
    def _sender(self, conn, meta: dict, registry: repo.Registry | None = None) -> str | None:
        """The party behind the message's own sender id (EDIFACT UNB, MQTT topic), via the registry."""
        sender = _sender_code(meta)
        if not sender:
            return None
        return (registry or repo.Registry(conn)).party(sender)

    def _location(self, conn, code: str | None) -> str | None:
        """Canonical location ref (UN/LOCODE, else corridor id) of an outside code; None if unknown."""
        if not code:
            return None
        return repo.Registry(conn).locations([code])[code]

    def _tz_for(self, conn, registry: repo.Registry | None = None):
        """Location code -> ZoneInfo, for senders that give local times without an offset.

        The registry answers from memory while no alias changed (an alias added counts at once).
        """
        from zoneinfo import ZoneInfo
        registry = registry or repo.Registry(conn)
        cache: dict[str, object] = {}

        def tz_for(code: str):
            if code not in cache:
                zone = registry.zone(code)
                cache[code] = ZoneInfo(zone) if zone else None
            return cache[code]
        return tz_for

    @staticmethod
    def _carriers(e: Event) -> list[tuple[str, str]]:
        """The wagon, train or vessel whose containers a vehicle-level event moves."""
        tc = e.transport_call
        if e.equipment or tc is None:
            return []
        if tc.wagon:
            return [("wagon", tc.wagon)]
        if tc.mode == "RAIL" and tc.voyage:
            return [("train", tc.voyage)]
        if tc.mode == "VESSEL" and tc.voyage:
            return [("vessel", tc.voyage)]
        return []

    def _consists(self, conn, events: list[Event]) -> repo.Consists | None:
        """The consists of every carrier the message's vehicle-level events name (one read)."""
        # only an event without a container but with a transport call names a carrier (_carriers)
        moves = [(c, e.event_time) for e in events if not e.equipment and e.transport_call is not None
                 for c in self._carriers(e)]
        if not moves:
            return None
        times = [t for _, t in moves]
        return repo.Consists(conn, {c for c, _ in moves}, min(times), max(times))

    def _expand(self, consists: repo.Consists | None, e: Event) -> list[Event]:
        """A train, wagon or sailing event moves every container on it (from the consists)."""
        carriers = self._carriers(e) if consists is not None else []
        if not carriers:
            return [e]
        boxes: list[str] = []
        for kind, cid in carriers:
            boxes += consists.containers_on(kind, cid, e.event_time)
        # the vehicle's own event is kept too (it is what the operator reported)
        return [e] + [_for_box(e, b) for b in boxes]

    def _trip(self, conn, e: Event, known: dict[str, list[Trip]], shippers: dict,
              sizes: dict, bkg: str | None) -> tuple[Trip | None, str | None]:
        """The trip an event belongs to; a new trip when the container has none open for it.

        `known` holds the trips of the message's containers (loaded once, kept current here);
        `bkg` is the event's booking reference.
        """
        trips = known.get(e.equipment)
        if trips is None:
            trips = known[e.equipment] = []
        if bkg:
            hit, hits = None, 0
            for t in trips:
                if t.booking_ref == bkg:
                    hit, hits = t, hits + 1
            if not hits:
                return self._new_trip(e, bkg, trips, shippers, sizes), None
            if hits == 1:
                return hit, None   # as attribute() decides: the booking's one trip
        if not trips:
            return self._new_trip(e, None, trips, shippers, sizes), None
        a = attribute(trips, e.event_time, bkg)
        if a.trip:
            return a.trip, None
        open_trips = [t for t in trips if t.ends_at is None]
        if not bkg and len(open_trips) == 1 and e.event_time >= open_trips[0].starts_at:
            return open_trips[0], None
        first = trips[0]
        if (not bkg and first.booking_ref is None and e.event_time < first.starts_at
                and first.starts_at - e.event_time <= EARLY_REPORT):
            # out of order: an earlier report of the container's first trip (nobody's booking yet,
            # so no shipper can be shown another's data) arrived after a later one; the trip grows back
            start = e.event_time.astimezone(timezone.utc)
            trips[0] = replace(first, starts_at=start)
            return trips[0], None
        return None, a.reason

    def _new_trip(self, e: Event, booking_ref: str | None, trips: list[Trip], shippers: dict, sizes: dict) -> Trip:
        parties = {e.source_party} if e.source_party else set()
        if booking_ref and booking_ref in shippers:
            parties |= shippers[booking_ref]
        start = e.event_time.astimezone(timezone.utc)
        trip = Trip(id=f"{e.equipment}-{start:%Y%m%d%H%M}", equipment=e.equipment, booking_ref=booking_ref,
                    parties=frozenset(parties), starts_at=start)
        same = next((t for t in trips if t.id == trip.id), None)
        if same:
            return same
        # the container's previous open trip ends where this one starts; one created out of order
        # (before a later trip) ends where that one starts. Written once per message (_save_trips).
        later = [t.starts_at for t in trips if t.starts_at > start]
        if later:
            trip = replace(trip, ends_at=min(later))
        for i, t in enumerate(trips):
            if t.ends_at is None and t.starts_at < start:
                trips[i] = replace(t, ends_at=start)
        trips.append(trip)
        sizes[trip.id] = e.size_type
        trips.sort(key=lambda t: t.starts_at)
        return trip

    def _schedule(self, conn, result: ParseResult, party: str, received_at: datetime) -> tuple[list[str], int]:
        """Apply a carrier's schedule changes (IFTSAI: a delayed or cancelled sailing) as operator
        notices, so ETAs, alerts and open bookings react; returns the reasons of refused changes
        and how many were applied.
        The notices and their NOTC alerts are stamped when the message was received (the twin's
        simulated time, a replay's original receipt), not at the wall clock of this run."""
        if not result.schedule:
            return [], 0
        from ..notices.service import NoticeRefused, apply_notice
        refused, done, applied = [], set(), 0
        for u in result.schedule:
            if u.status not in ("delayed", "cancelled"):
                continue
            dep = repo.departure_for_call(conn, u.location, u.voyage, party,
                                          arrival=u.planned_arrival,
                                          departure=u.planned_departure or u.estimated_departure)
            if dep is None:
                result.warnings.append(f"schedule change of voyage {u.voyage} at {u.location} ({u.status}) "
                                       "matches no departure in the timetable; kept with the message only")
                continue
            if dep.id in done:
                continue
            done.add(dep.id)
            delay = ((u.estimated_arrival - u.planned_arrival).total_seconds() / 3600
                     if u.status == "delayed" and u.estimated_arrival and u.planned_arrival else None)
            try:
                apply_notice(conn, operator=party, kind=u.status, departure_id=dep.id, delay_hours=delay,
                             starts_at=dep.departs_at, now=received_at,
                             text=f"IFTSAI {u.message_ref or ''} voyage {u.voyage or '?'} ({u.vessel or 'vessel'})")
            except NoticeRefused as e:
                refused.append(f"schedule change of voyage {u.voyage} at {u.location}: {e}")
            else:
                applied += 1
        return refused, applied

    def _departures(self, conn, events: list[Event], party: str | None) -> list[Event]:
        """Name the timetable departure of each transport call: the one whose id the sender quotes
        as its transportCallID, else the one its voyage or train number runs that leaves (DEPA,
        LOAD) or reaches (ARRI, DISC) the event's place near its time (repo.CallDepartures
        decides, as for IFTSAI schedule lines). One read per message; none without a call."""
        ids, voyages = set(), set()
        for e in events:
            tc = e.transport_call
            if tc is None or tc.departure_id:
                continue
            quoted = e.extra.get("transport_call_id") if e.extra else None
            if quoted:
                ids.add(quoted)
            if tc.voyage and e.location and e.code in _CALL_SIDE:
                voyages.add(tc.voyage)
        if not ids and not voyages:
            return events
        timetable = repo.CallDepartures(conn, ids, voyages)
        if not timetable.by_id:
            return events
        at: dict[tuple, list] = {}          # a voyage's departures at one place: once per message
        calls: dict[tuple, TransportCall] = {}   # by the call's identity: a CSV's rows share theirs
        out = []
        for e in events:
            tc = e.transport_call
            dep = None
            if tc is not None and not tc.departure_id:
                quoted = e.extra.get("transport_call_id") if e.extra else None
                if quoted in timetable.by_id:
                    dep = quoted
                elif tc.voyage and e.location and (side := _CALL_SIDE.get(e.code)):
                    key = (e.location, tc.voyage, side, tc.mode)
                    if key not in at:
                        at[key] = timetable.at(*key)
                    dep = timetable.pick(at[key], e.event_time, party)
            if dep is not None:
                call = calls.get((id(tc), dep))
                if call is None:
                    call = calls[(id(tc), dep)] = _of_departure(tc, dep)
                e = _with_call(e, call)
            out.append(e)
        return out

    def _stowage(self, conn, result: ParseResult, party: str, received_at: datetime) -> None:
        """A bay plan says which containers are on which sailing: record them as consists."""
        repo.couple_many(conn, [("couple", "vessel", s.voyage, "container", s.equipment, received_at, party)
                                for s in result.stowage if s.voyage])


FUTURE_SKEW = timedelta(minutes=15)   # senders' clocks drift (as dcsa.CLOCK_SKEW)
# per-event tests against plain names: an enum member read off its class is a Python-level look-up
_ACT, _ALERT = Classifier.ACT, EventKind.ALERT


def _coupling(e: Event) -> list[tuple]:
    """The consist changes of an event: ACT LOAD puts a container on its carrier, DISC takes it off.
    A load onto a wagon of a named train also puts the wagon in that train, so a report of the
    train (without its wagons) moves the box too."""
    tc = e.transport_call
    if tc is None or e.classifier != _ACT or e.code not in ("LOAD", "DISC"):
        return []
    kind, cid = ("wagon", tc.wagon) if tc.wagon else ("train" if tc.mode == "RAIL" else "vessel", tc.voyage)
    if not cid:
        return []
    if e.code == "DISC":
        return [("uncouple", kind, cid, e.equipment, e.event_time)]
    ops = [("couple", kind, cid, "container", e.equipment, e.event_time, e.source_party)]
    if tc.wagon and tc.voyage:   # a wagon runs on rails: its voyage is its train
        ops.append(("couple", "train", tc.voyage, "wagon", tc.wagon, e.event_time, e.source_party))
    return ops


# Event is a frozen, validated dataclass; the ingest path derives many copies of events it has
# already validated (sender, message, place, trip, container). Setting the slots directly skips
# re-validation and `dataclasses.replace`'s generic loop: each copier is unrolled once at import.
def _copier(*changed: str, cls: type = Event):
    """A function (event, *new values of `changed`) -> a copy of the event with those fields
    (of a `cls` instance: a transport call is copied the same way)."""
    names = [f.name for f in fields(cls)]
    env = {"_new": cls.__new__, "_Event": cls}
    lines = [f"def copy(e, {', '.join(changed)}):", "    new = _new(_Event)"]
    for n in names:
        env[f"_set_{n}"] = cls.__dict__[n].__set__
        lines.append(f"    _set_{n}(new, {n if n in changed else 'e.' + n})")
    lines.append("    return new")
    exec("\n".join(lines), env)   # noqa: S102 - code built from the dataclass's own field names
    return env["copy"]


_as_received = _copier("source_party", "message_id", "location")
_with_call = _copier("transport_call")
_of_departure = _copier("departure_id", cls=TransportCall)
_on_trip = _copier("trip_id", "parties")
_for_box = _copier("equipment")


def _booking(e: Event) -> str | None:
    """The event's first BKG reference (Event.reference, without its generator)."""
    for kind, value in e.references:
        if kind == "BKG":
            return value
    return None


def _sender_code(meta: dict) -> str | None:
    """The sender id a message names itself: the EDIFACT UNB sender, or the party of an MQTT topic."""
    return meta.get("sender") or (meta.get("source_party") if meta.get("topic") else None) or None


def _reason(r: Rejection) -> str:
    """The reason with where it is: the message, segment (or item) and element, each unless the
    reader's own words say it already (a CSV reason names its line and column, a DCSA one its path)."""
    where = []
    text = r.reason
    if r.message_ref:
        where.append(f"message {r.message_ref}")
    if r.segment is not None and not text.startswith(f"line {r.segment}"):
        where.append(f"segment {r.segment}")
    if r.element and not text.startswith(r.element) and f"column {r.element}:" not in text:
        where.append(r.element)
    if r.expected:
        text += f" (expected {r.expected})"
    return (", ".join(where) + ": " + text) if where else text


def _future(e: Event, received_at: datetime) -> str:
    """Why an actual event timed after its own receipt is refused, in the words of its kind."""
    got = f"is after the message was received ({received_at.isoformat(timespec='seconds')})"
    if e.kind is EventKind.IOT:
        # a tracker's fix: its clock is wrong (or its time in another unit), there is no estimate to send
        device = (e.extra or {}).get("device") or (e.transport_call.vehicle if e.transport_call else None)
        where = f"{e.lat:.5f},{e.lon:.5f}" if e.lat is not None and e.lon is not None else "?"
        return (f"position fix of {e.equipment or 'device ' + (device or '?')} at {where}: its time "
                f"{e.event_time.isoformat()} {got}: check the tracker's clock and the time's unit and offset")
    return (f"{e.code} {e.equipment or ''} at {e.location or '?'}: actual time {e.event_time.isoformat()} {got}: "
            "an actual event cannot be in the future (send it as an estimate)")


def _event_json(e: Event, source_party: str | None = None) -> dict:
    tc = e.transport_call
    return {"kind": e.kind.value, "code": e.code, "classifier": e.classifier.value,
            "event_time": e.event_time.isoformat(), "location": e.location, "equipment": e.equipment,
            "trip_id": e.trip_id, "references": [list(r) for r in e.references],
            "transport_call": asdict(tc) if tc else None, "lat": e.lat, "lon": e.lon,
            "source_party": e.source_party if source_party is None else source_party}
