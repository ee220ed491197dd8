"""The booking capability: quotes on live free space, capacity-safe bookings and their lifecycle.

Space is never oversold: every leg is reserved with one conditional UPDATE (`store.network.reserve`)
inside the booking's own transaction, so either every leg is held or none is. Departures are
reserved in id order so two bookings sharing legs always lock them in the same order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection

from ..eventlog import record as record_events
from ..access.visibility import Viewer, booking_clause
from ..domain.bookings import Booking, BookingLeg, BookingStatus, ContainerRequest, check_transition
from ..domain.errors import CapacityExceeded, DomainError, InvalidTransition
from ..domain.events import Classifier, Event, EventKind, TransportCall
from ..domain.network import Mode, Network
from ..domain.parties import ADMIN_PARTY
from ..domain.timetable import Departure
from ..planning.options import LotTooLarge, check_ready
from ..planning.pricing import Money
from ..store import Store
from ..store import network as netstore
from ..store.parties import get_party
from . import records
from .quotes import (HORIZON, QuotedOption, QuoteOption, not_offered, not_offered_json, plan_options, price_legs,
                     quote_changes, quote_id)
from .records import BookingRecord, IdempotencyKey


class BookingNotFound(DomainError):
    """No booking with that reference (or none the caller may see)."""


class SpaceUnavailable(CapacityExceeded):
    """A departure of the requested journey has no room left; names it and carries alternatives."""

    def __init__(self, message: str, departure_id: str, free_teu: int, requested_teu: int):
        super().__init__(message)
        self.departure_id, self.free_teu, self.requested_teu = departure_id, free_teu, requested_teu
        self.alternatives: list[QuoteOption] = []


class NoRoute(DomainError):
    """No journey fits the request; the message says why and what would work."""


class QuoteChanged(DomainError):
    """The option the client was shown (its `quote_id`) is no longer what would be booked: `changes`
    names each difference (route, price); `departure_ids` and `price` are what is on offer now."""

    def __init__(self, message: str, changes: list[str], departure_ids: tuple[str, ...], price: float):
        super().__init__(message)
        self.changes, self.departure_ids, self.price = changes, departure_ids, price


class IdempotencyKeyReused(DomainError):
    """An Idempotency-Key already used for another request body; the message names its booking."""


@dataclass(frozen=True)
class Quote:
    """The answer to 'N containers from A to B ready at T': options earliest first."""

    origin: str
    destination: str
    ready_at: datetime
    containers: tuple[ContainerRequest, ...]
    options: list[QuoteOption]
    not_offered: tuple[tuple[str, str], ...] = ()   # (corridor, why) of each family without an option

    @property
    def teu(self) -> int:
        return sum(c.teu for c in self.containers)

    def as_json(self, net: Network) -> dict:
        """The quote as the API and `corridor plan --json` give it."""
        return {"origin": net.locations[self.origin].ref, "destination": net.locations[self.destination].ref,
                "ready_at": self.ready_at.astimezone(net.locations[self.origin].tz).isoformat(),
                "containers": [{"count": c.count, "size_type": c.size_type, "teu": c.teu} for c in self.containers],
                "teu": self.teu,
                "options": [{**o.as_json(net), "quote_id": quote_id(self.origin, self.destination, self.containers, o)}
                            for o in self.options],
                "not_offered": [not_offered_json(fam, why) for fam, why in self.not_offered]}


class BookingService:
    """Quotes, bookings and their lifecycle on one store (network loaded once).

    With a `clock` (the CLI and the API pass the wall clock, the twin its simulated time) a booking
    is refused on a departure that has left by then and for a ready date before its day, and every
    record it makes (created/updated times, RECE/CONF/CANC and plan events, the reference's month)
    is stamped with it; without one (tests on fixed timetables) departures are taken as given and
    the wall clock stamps. Quotes always start from now at the earliest.
    """

    def __init__(self, store: Store, network: Network | None = None, *,
                 clock: Callable[[], datetime] | None = None):
        self.store = store
        self.clock = clock
        if network is None:
            with store.read() as conn:
                network = netstore.load_network(conn)
            if network is None:
                raise DomainError("the database has no network yet; run `corridor init` first")
        self.network = network

    # ---- quotes --------------------------------------------------------------------------
    def quote(self, origin: str, destination: str, ready_at: datetime,
              containers: tuple[ContainerRequest, ...], max_options: int = 6,
              avoid_departures: Iterable[str] = (), *, suez: bool = True) -> Quote:
        """Route options for the request on live free space (capacity − reserved); NoRoute when none.

        The search starts at the ready time or now, whichever is later (`Quote.ready_at`): a ready
        date of today means from now, a ready date before today is refused. `suez` offers the sea
        route through the canal (marked restricted) beside the one round the Cape.
        """
        o, d = self.network.resolve(origin), self.network.resolve(destination)
        if o.id == d.id:
            raise DomainError(f"origin and destination are both {o.ref} ({o.name})")
        _aware(ready_at)
        start = check_ready(ready_at, self._now(), ahead=False)   # the timetable's span says more
        teu = sum(c.teu for c in containers)
        if teu <= 0:
            raise DomainError("the number of containers must be at least 1")
        with self.store.read() as conn:
            rows = netstore.list_departures(conn, start=start, end=start + HORIZON)
        avoid = set(avoid_departures)
        deps = [dep for dep, _ in rows if dep.id not in avoid]
        reserved = {dep.id: n for dep, n in rows}
        if not deps:
            raise NoRoute(self._why_no_departures(start))
        try:
            options = plan_options(self.network, deps, reserved, o.id, d.id, start, containers, max_options,
                                   suez=suez, now=self._now())
        except DomainError as e:
            if type(e).__name__ == "NoRoute":   # the planner's own: keep its reason
                raise NoRoute(str(e)) from None
            raise
        if not options:
            raise NoRoute(f"no route from {o.ref} to {d.ref} within {HORIZON.days} days of {start:%Y-%m-%d}")
        return Quote(o.id, d.id, start, containers, options,
                     tuple(not_offered(self.network, o.id, d.id, start, teu, options, suez)))

    def _now(self) -> datetime:
        return self.clock() if self.clock else records.utcnow()

    def _why_no_departures(self, start: datetime) -> str:
        """Why no departure leaves within the search horizon of `start`: the timetable's span."""
        from sqlalchemy import func, select
        from ..store.tables import departures
        with self.store.read() as conn:
            first, last = conn.execute(select(func.min(departures.c.departs_at),
                                              func.max(departures.c.departs_at))).one()
        if first is None:
            return "the timetable has no departures; load one with `corridor init`"
        span = f"the timetable runs from {first:%Y-%m-%d} to {last:%Y-%m-%d}"
        if start.timestamp() > _utc(last).timestamp():
            return f"no departures after {start:%Y-%m-%d}: {span}"
        if (start + HORIZON).timestamp() <= _utc(first).timestamp():
            return (f"no departures within {HORIZON.days} days of {start:%Y-%m-%d}: {span}; "
                    f"ask with a ready date from {_utc(first) - HORIZON:%Y-%m-%d}")
        return f"no departures within {HORIZON.days} days of {start:%Y-%m-%d} ({span})"

    # ---- booking ----------------------------------------------------------------------------
    def book(self, shipper: str, origin: str, destination: str, ready_at: datetime,
             containers: tuple[ContainerRequest, ...], departure_ids: Sequence[str], *,
             forwarder: str | None = None, nominated: Iterable[str] = (), created_by: str = "",
             confirm: bool = True, route: str = "", price_usd: float | None = None,
             co2e_kg: float | None = None, with_alternatives: bool = True,
             idempotency: IdempotencyKey | None = None, quoted: QuotedOption | None = None) -> BookingRecord:
        """Reserve space on every departure in one transaction; SpaceUnavailable (with alternatives) if any is full.

        The booking is stored as requested and, when `confirm`, confirmed in the same transaction.
        `with_alternatives=False` skips re-planning on a full departure (bulk and load tests).
        `idempotency`: the client's key, claimed in the same transaction; a key already used with
        the same body gives back that booking (`replayed`), with another body IdempotencyKeyReused.
        `quoted`: the option the client was shown; QuoteChanged when the journey or price differs.
        """
        o, d = self.network.resolve(origin), self.network.resolve(destination)
        _aware(ready_at)
        if self.clock:
            check_ready(ready_at, self.clock(), ahead=False)
        teu = sum(c.teu for c in containers)
        if teu <= 0:
            raise DomainError("the number of containers must be at least 1")
        try:
            with self.store.tx() as conn:
                now = self._now()
                if idempotency is not None:   # first: a concurrent twin request waits here, then replays
                    used = records.claim_key(conn, idempotency, now)
                    if used is not None:
                        raise _Replay(self._replay_ref(idempotency, used))
                self._check_parties(conn, shipper, forwarder, nominated)
                deps = self._journey(conn, departure_ids, o.id, d.id, ready_at)
                small = min(deps, key=lambda dep: dep.capacity_teu)
                if teu > small.capacity_teu:
                    net = self.network
                    raise LotTooLarge(
                        f"{teu} TEU do not fit in one booking: departure {small.id} ({small.mode.value} "
                        f"{net.locations[small.origin].ref} → {net.locations[small.destination].ref}) holds "
                        f"{small.capacity_teu} TEU; split the lot into bookings of at most {small.capacity_teu} TEU")
                legs, total, kg = price_legs(self.network, deps, teu, {})
                if quoted is not None:
                    self._check_quoted(quoted, o.id, d.id, containers, deps,
                                       total if price_usd is None else Money(Decimal(str(price_usd)), total.currency))
                ref = records.next_ref(conn, now)
                b = Booking(ref=ref, shipper=shipper, origin=o.id, destination=d.id, ready_at=ready_at,
                            containers=tuple(containers), forwarder=forwarder,
                            nominated=frozenset(p for p in nominated if p and p != shipper),
                            price_usd=float(total.amount) if price_usd is None else price_usd,
                            co2e_kg=round(kg if co2e_kg is None else co2e_kg, 1))
                b.legs = [BookingLeg(i + 1, dep.id, dep.origin, dep.destination, dep.departs_at, dep.arrives_at, teu)
                          for i, dep in enumerate(deps)]
                route = route or self._route(deps)
                records.insert_booking(conn, b, route=route, promised_arrival=deps[-1].arrives_at,
                                       created_by=created_by or shipper, now=now)
                self._reserve_all(conn, deps, teu)
                records.insert_legs(conn, ref, b.legs)
                evs = [self._shipment_event(b, "RECE", now), *self._plan_events(b, deps, plan=1, now=now)]
                if confirm:
                    b.transition(BookingStatus.CONFIRMED)
                    records.update_booking(conn, ref, now, status=b.status)
                    evs.append(self._shipment_event(b, "CONF", now))
                record_events(conn, evs)
                if idempotency is not None:
                    records.key_booked(conn, idempotency, ref)
        except _Replay as r:
            return replace(self.get(r.ref), replayed=True)
        except SpaceUnavailable as e:
            if with_alternatives:
                e.alternatives = self._alternatives(o.id, d.id, ready_at, containers)
            raise
        return self.get(ref)

    def replay(self, idempotency: IdempotencyKey) -> BookingRecord | None:
        """The booking a live Idempotency-Key made (`replayed`), None when the key is new or has
        expired; IdempotencyKeyReused when it came with another request body. A read: the claim
        that decides between two requests at once is `book`'s."""
        with self.store.read() as conn:
            used = records.key_use(conn, idempotency, self._now())
        if used is None or used.booking_ref is None:
            return None
        return replace(self.get(self._replay_ref(idempotency, used)), replayed=True)

    def _replay_ref(self, k: IdempotencyKey, used: records.KeyUse) -> str:
        if used.body_hash != k.body_hash:
            raise IdempotencyKeyReused(
                f"Idempotency-Key {k.key!r} was used at {_utc(used.created_at).isoformat(timespec='seconds')} "
                f"for another request (booking {used.booking_ref}); a retry must send the same body, and a new "
                f"booking needs a new key")
        if used.booking_ref is None:   # not reachable: the claim and the booking commit together
            raise DomainError(f"Idempotency-Key {k.key!r} is held by a request that made no booking")
        return used.booking_ref

    def check_quoted(self, seen: QuotedOption, quote: Quote, number: int) -> QuoteOption:
        """Option `number` of a quote just planned, if it is still the one the client saw (a re-route
        taken by option); QuoteChanged or DomainError as for a booking."""
        if not 1 <= number <= len(quote.options):
            raise DomainError(f"option {number} does not exist; there are {len(quote.options)}")
        opt = quote.options[number - 1]
        self._check_quoted(seen, quote.origin, quote.destination, quote.containers,
                           [leg.departure for leg in opt.legs], opt.price)
        return opt

    def _check_quoted(self, seen: QuotedOption, origin: str, destination: str,
                      containers: Sequence[ContainerRequest], deps: Sequence[Departure], price: Money) -> None:
        """QuoteChanged naming what differs from the option the client saw; DomainError when the
        quote_id answered another request (places or containers)."""
        from .quotes import _container_key
        net = self.network
        asked = (origin, destination, _container_key(containers))
        if (seen.origin, seen.destination, seen.containers) != asked:
            def said(o, d, c):
                where = " → ".join(net.locations[x].ref if x in net.locations else x for x in (o, d))
                return f"{where}, " + ",".join(f"{n}x{s}" for n, s in c)
            raise DomainError(f"quote_id is of a quote for {said(seen.origin, seen.destination, seen.containers)}, "
                              f"not this request ({said(*asked)}); book with the request the quote answered")
        changes = quote_changes(seen, net, deps, price)
        if changes:
            raise QuoteChanged("the option is no longer as quoted: " + "; ".join(changes)
                               + ". Take it as it is now without quote_id, or with the quote_id of a new quote",
                               changes, tuple(d.id for d in deps), float(price.amount))

    def book_option(self, shipper: str, quote: Quote, number: int, **kw) -> BookingRecord:
        """Book option `number` (from 1) of a quote (re-planned now: `quoted=` holds it to what the
        client was shown)."""
        if not 1 <= number <= len(quote.options):
            raise DomainError(f"option {number} does not exist; the quote has options 1 to {len(quote.options)}")
        opt = quote.options[number - 1]
        return self.book(shipper, quote.origin, quote.destination, quote.ready_at, quote.containers,
                         opt.departure_ids, route=opt.route(self.network), price_usd=float(opt.price.amount),
                         co2e_kg=opt.co2e_kg, **kw)

    def _alternatives(self, o: str, d: str, ready_at: datetime, containers) -> list[QuoteOption]:
        try:
            return self.quote(o, d, max(ready_at, self._now()), containers, max_options=3).options
        except DomainError:
            return []

    def _check_parties(self, conn: Connection, shipper: str, forwarder: str | None, nominated) -> None:
        for role, pid in [("shipper", shipper), ("forwarder", forwarder), *(("nominated party", p) for p in nominated)]:
            if pid and get_party(conn, pid) is None:
                raise DomainError(f"{role} {pid!r} is not a registered party; register it first "
                                  "(`corridor party add`)")
        if not shipper:
            raise DomainError("a booking needs its shipper")

    def _journey(self, conn: Connection, ids: Sequence[str], origin: str | None, destination: str | None,
                 ready_at: datetime | None) -> list[Departure]:
        """The departures `ids` as a connected journey from origin to destination, or the reason not."""
        if not ids:
            raise DomainError("no departures given for the booking; choose an option of a quote")
        found = netstore.get_departures(conn, ids)
        deps = []
        for dep_id in ids:
            got = found.get(dep_id)
            if got is None:
                raise DomainError(f"departure {dep_id!r} does not exist; list them with `corridor departures`")
            deps.append(got[0])
        net = self.network
        if origin and deps[0].origin != origin:
            raise DomainError(f"the first departure {deps[0].id} leaves from {net.locations[deps[0].origin].ref}, "
                              f"not from the booking's origin {net.locations[origin].ref}")
        if destination and deps[-1].destination != destination:
            raise DomainError(f"the last departure {deps[-1].id} ends at {net.locations[deps[-1].destination].ref}, "
                              f"not at the booking's destination {net.locations[destination].ref}")
        now = self.clock() if self.clock else None
        for dep in deps:
            if now is not None and dep.departs_at <= now:
                raise DomainError(f"departure {dep.id} left at {dep.departs_at.isoformat()}, before now "
                                  f"({now.astimezone(dep.departs_at.tzinfo).isoformat(timespec='minutes')}); "
                                  "a departure that has left cannot be booked: ask for a new quote")
        if ready_at and deps[0].departs_at < ready_at:
            raise DomainError(f"departure {deps[0].id} leaves {deps[0].departs_at.isoformat()}, before the cargo "
                              f"is ready ({ready_at.isoformat()})")
        for a, b in zip(deps, deps[1:]):
            if a.destination != b.origin:
                raise DomainError(f"departures {a.id} and {b.id} do not connect: the first ends at "
                                  f"{net.locations[a.destination].ref}, the next leaves from {net.locations[b.origin].ref}")
            if b.departs_at < a.arrives_at:
                raise DomainError(f"departure {b.id} leaves {b.departs_at.isoformat()}, before {a.id} arrives "
                                  f"({a.arrives_at.isoformat()})")
        for dep in deps:
            if dep.status == "cancelled":
                raise DomainError(f"departure {dep.id} is cancelled; ask for a new quote")
        return deps

    def _reserve_all(self, conn: Connection, deps: Sequence[Departure], teu: int) -> None:
        """Reserve `teu` on each departure (one statement); SpaceUnavailable names the first full one
        (id order: a fixed lock order)."""
        if netstore.reserve_all(conn, [d.id for d in deps], teu):
            return
        for dep in sorted(deps, key=lambda x: x.id):
            if not netstore.reserve(conn, dep.id, teu):
                got = netstore.get_departure(conn, dep.id)
                free = max(0, got[0].capacity_teu - got[1]) if got else 0
                net = self.network
                raise SpaceUnavailable(
                    f"departure {dep.id} ({dep.service} {net.locations[dep.origin].ref} → "
                    f"{net.locations[dep.destination].ref}, {dep.departs_at.isoformat()}) has {free} TEU free, "
                    f"{teu} TEU requested", dep.id, free, teu)

    def _route(self, deps: Sequence[Departure]) -> str:
        from .quotes import FAMILY_NAMES, _family_of
        fam = _family_of(self.network, deps)
        stops = [deps[0].origin, *(d.destination for d in deps)]
        return f"{FAMILY_NAMES.get(fam, fam or 'Route')}: " + " → ".join(self.network.locations[s].ref for s in stops)

    # ---- events of the plan ------------------------------------------------------------------
    def _plan_events(self, b: Booking, deps: Sequence[Departure], plan: int, now: datetime) -> list[Event]:
        """DEPA/ARRI TRANSPORT PLN per leg with the departure's transport call and the BKG reference.

        The voyage and vehicle go into `extra`, not the transport call: with them there, the event's
        milestone would be the vehicle's, and the second booking on the same train would collapse onto the
        first one's plan. Keyed on the booking (subject = BKG) and departure_id, each booking keeps its own plan.
        """
        out = []
        for dep in deps:
            for code, loc_id, when in (("DEPA", dep.origin, dep.departs_at), ("ARRI", dep.destination, dep.arrives_at)):
                loc = self.network.locations[loc_id]
                tc = TransportCall(mode=dep.mode.dcsa, location=loc.ref, facility_type=loc.facility_type.value,
                                   service=dep.service, departure_id=dep.id)
                out.append(Event(
                    kind=EventKind.TRANSPORT, code=code, classifier=Classifier.PLN, event_time=when,
                    location=loc.ref, transport_call=tc, references=(("BKG", b.ref),), source_party=ADMIN_PARTY,
                    parties=b.parties | {dep.operator}, created_at=now,
                    extra={"voyage": dep.voyage, "vehicle": dep.vehicle, "operator": dep.operator,
                           "plan_from_seq": plan, "mode": dep.mode.value}))
        return out

    def _shipment_event(self, b: Booking, code: str, now: datetime, reason: str | None = None) -> Event:
        """A SHIPMENT event on the booking (RECE received, CONF confirmed, CANC cancelled)."""
        loc = self.network.locations[b.origin]
        return Event(kind=EventKind.SHIPMENT, code=code, classifier=Classifier.ACT, event_time=now,
                     location=loc.ref, references=(("BKG", b.ref),), source_party=ADMIN_PARTY,
                     parties=b.parties, created_at=now, reason=reason, extra={"status": b.status.value})

    # ---- reading -----------------------------------------------------------------------------------
    def get(self, ref: str, viewer: Viewer | None = None) -> BookingRecord:
        """The booking `ref` as `viewer` may see it; BookingNotFound otherwise."""
        with self.store.read() as conn:
            rec = records.get_booking(conn, ref, where=booking_clause(viewer) if viewer else None)
        if rec is None:
            raise BookingNotFound(f"no booking {ref!r}" + (" visible to you" if viewer else ""))
        return rec

    def list(self, viewer: Viewer | None = None, status: str | None = None, limit: int = 200,
             offset: int = 0) -> list[BookingRecord]:
        """Bookings `viewer` may see, newest first."""
        if status and status not in {s.value for s in BookingStatus}:
            raise DomainError(f"unknown status {status!r}; one of " + ", ".join(s.value for s in BookingStatus))
        with self.store.read() as conn:
            return records.list_bookings(conn, where=booking_clause(viewer) if viewer else None, status=status,
                                         limit=limit, offset=offset)

    def departures(self, origin: str | None = None, destination: str | None = None,
                   start: datetime | None = None, end: datetime | None = None, mode: str | None = None,
                   limit: int = 100, window: str = "departure") -> list[tuple[Departure, int]]:
        """Departures (with reserved TEU) in a window, origin/destination given as code or name;
        `window` "arrival" bounds and orders by arrival time (netstore.list_departures)."""
        o = self.network.resolve(origin).id if origin else None
        d = self.network.resolve(destination).id if destination else None
        if mode is not None and mode not in {m.value for m in Mode}:
            raise DomainError(f"unknown mode {mode!r}; one of " + ", ".join(m.value for m in Mode))
        with self.store.read() as conn:
            return netstore.list_departures(conn, start=start, end=end, origin=o, destination=d, mode=mode,
                                            limit=limit, window=window)

    # ---- lifecycle -----------------------------------------------------------------------------------
    def _change(self, ref: str, new: BookingStatus, viewer: Viewer | None, reason: str | None = None
                ) -> BookingRecord:
        with self.store.tx() as conn:
            rec = records.get_booking(conn, ref, where=booking_clause(viewer) if viewer else None, for_update=True)
            if rec is None:
                raise BookingNotFound(f"no booking {ref!r}" + (" visible to you" if viewer else ""))
            b = rec.booking
            check_transition(b.status, new)
            if b.status == new:
                raise InvalidTransition(f"booking {ref} is already {new.value}")
            now = self._now()
            if new == BookingStatus.CANCELLED:
                for leg in b.legs:   # space goes back to the departures
                    netstore.release(conn, leg.departure_id, leg.teu)
            b.transition(new)
            records.update_booking(conn, ref, now, status=b.status)
            code = {BookingStatus.CONFIRMED: "CONF", BookingStatus.CANCELLED: "CANC"}.get(new)
            if code:
                record_events(conn, [self._shipment_event(b, code, now, reason)])
        return self.get(ref)

    def confirm(self, ref: str, viewer: Viewer | None = None) -> BookingRecord:
        """Requested → confirmed (space is already held)."""
        return self._change(ref, BookingStatus.CONFIRMED, viewer)

    def start_transit(self, ref: str, viewer: Viewer | None = None) -> BookingRecord:
        """Confirmed → in transit."""
        return self._change(ref, BookingStatus.IN_TRANSIT, viewer)

    def deliver(self, ref: str, viewer: Viewer | None = None) -> BookingRecord:
        """In transit → delivered."""
        return self._change(ref, BookingStatus.DELIVERED, viewer)

    def cancel(self, ref: str, viewer: Viewer | None = None, reason: str | None = None) -> BookingRecord:
        """Requested/confirmed → cancelled; the space on every leg is released."""
        return self._change(ref, BookingStatus.CANCELLED, viewer, reason)

    def amend(self, ref: str, departure_ids: Sequence[str], viewer: Viewer | None = None,
              reason: str | None = None) -> BookingRecord:
        """Re-route: the journey from `departure_ids[0]`'s origin on is replaced by `departure_ids`.

        Active legs up to that point are kept; the legs replaced are kept as history (inactive) and
        their space released; the new ones are reserved in the same transaction (all or nothing).
        """
        try:
            with self.store.tx() as conn:
                rec = records.get_booking(conn, ref, where=booking_clause(viewer) if viewer else None,
                                          for_update=True)
                if rec is None:
                    raise BookingNotFound(f"no booking {ref!r}" + (" visible to you" if viewer else ""))
                b = rec.booking
                if b.status not in (BookingStatus.REQUESTED, BookingStatus.CONFIRMED, BookingStatus.IN_TRANSIT):
                    raise InvalidTransition(f"a {b.status.value} booking cannot be amended")
                new = self._journey(conn, departure_ids, None, b.destination, None)
                start = new[0].origin
                keep: list[BookingLeg] = []
                if start != b.origin:
                    for leg in b.legs:
                        keep.append(leg)
                        if leg.destination == start:
                            break
                    else:
                        raise DomainError(f"the new route starts at {self.network.locations[start].ref}, which the "
                                          f"booking's current route does not reach")
                    if new[0].departs_at < keep[-1].arrives_at:
                        raise DomainError(f"departure {new[0].id} leaves before the cargo arrives at "
                                          f"{self.network.locations[start].ref} ({keep[-1].arrives_at.isoformat()})")
                elif new[0].departs_at < b.ready_at:
                    raise DomainError(f"departure {new[0].id} leaves before the cargo is ready")
                old_tail = [leg for leg in b.legs if leg not in keep]
                old_ids, new_ids = {leg.departure_id for leg in old_tail}, {dep.id for dep in new}
                if old_ids == new_ids:
                    raise DomainError("the new route is the same as the current one")
                for leg in old_tail:
                    if leg.departure_id not in new_ids:
                        netstore.release(conn, leg.departure_id, leg.teu)
                self._reserve_all(conn, [dep for dep in new if dep.id not in old_ids], b.teu)
                records.deactivate_legs(conn, ref, [leg.seq for leg in old_tail])
                seq0 = max([leg.seq for leg in b.legs + rec.history] or [0])
                added = [BookingLeg(seq0 + i + 1, dep.id, dep.origin, dep.destination, dep.departs_at,
                                    dep.arrives_at, b.teu) for i, dep in enumerate(new)]
                records.insert_legs(conn, ref, added)
                got = netstore.get_departures(conn, [leg.departure_id for leg in keep]) if keep else {}
                all_deps = [got[leg.departure_id][0] for leg in keep] + new
                _, total, kg = price_legs(self.network, all_deps, b.teu, {})
                now = self._now()
                records.update_booking(conn, ref, now, route=self._route(all_deps), price_usd=float(total.amount),
                                       co2e_kg=round(kg, 1), promised_arrival=new[-1].arrives_at)
                b.legs = keep + added
                evs = self._plan_events(b, new, plan=seq0 + 1, now=now)
                if reason:
                    evs.append(replace(self._shipment_event(b, "CONF", now, f"re-routed: {reason}"),
                                       extra={"status": b.status.value, "amended": True}))
                record_events(conn, evs)
                out = records.get_booking(conn, ref)   # as committed, without another transaction
        except SpaceUnavailable as e:
            cur = self.get(ref).booking
            start = self._origin_of(departure_ids[0]) or cur.origin
            e.alternatives = self._alternatives(start, cur.destination, cur.ready_at, cur.containers)
            raise
        return out

    def _origin_of(self, dep_id: str) -> str:
        with self.store.read() as conn:
            got = netstore.get_departure(conn, dep_id)
        return got[0].origin if got else ""

    def reroute_options(self, ref: str, from_place: str | None = None, ready_at: datetime | None = None,
                        viewer: Viewer | None = None, avoid: Iterable[str] = ()) -> Quote:
        """Options for the rest of a booking's journey from `from_place` (default: its origin), skipping `avoid`."""
        b = self.get(ref, viewer).booking
        start = self.network.resolve(from_place).id if from_place else b.origin
        avoid = list(dict.fromkeys(avoid))
        if avoid:
            with self.store.read() as conn:
                known = netstore.get_departures(conn, avoid)
            unknown = [x for x in avoid if x not in known]
            if unknown:
                raise DomainError(f"avoid takes departure ids; {', '.join(repr(x) for x in unknown)} "
                                  f"{'is' if len(unknown) == 1 else 'are'} not a departure "
                                  "(see the booking's legs or `corridor departures`)")
        if ready_at is None:   # when the cargo is there, or now if that has passed
            arrived = [leg.arrives_at for leg in b.legs if leg.destination == start]
            ready_at = max(arrived[0] if arrived else b.ready_at, self._now())
        return self.quote(start, b.destination, ready_at, b.containers, avoid_departures=avoid)

    def affected_by(self, departure_id: str) -> list[str]:
        """Refs of open bookings with space on the departure (for operator notices)."""
        with self.store.read() as conn:
            return records.refs_on_departure(conn, departure_id)


class _Replay(Exception):
    """Inside `book`: the key was used before; leave the transaction (rolled back) with its booking."""

    def __init__(self, ref: str):
        super().__init__(ref)
        self.ref = ref


def _utc(t: datetime) -> datetime:
    """A time read from the store: SQLite gives it naive in UTC."""
    from datetime import timezone
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _aware(t: datetime) -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise DomainError(f"time {t.isoformat()} has no UTC offset; give it as ISO 8601 with offset")
    return t


def ready_time(network: Network, origin: str, text: str, what: str = "ready date") -> datetime:
    """Cargo-ready time from '2026-12-01' (midnight at the origin, in its zone) or a full ISO 8601
    time; `what` names the value in the error."""
    from datetime import date, time
    loc = network.resolve(origin)
    t = (text or "").strip()
    try:
        if len(t) == 10:
            return datetime.combine(date.fromisoformat(t), time(0), tzinfo=loc.tz)
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError as e:
        raise DomainError(f"{what} {text!r} is not a valid date ({e}); use YYYY-MM-DD such as "
                          f"{datetime.now(loc.tz):%Y-%m-%d} or an ISO 8601 time with offset") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=loc.tz)


def booking_json(rec: BookingRecord, network: Network) -> dict:
    """The stable JSON of a booking (API and `corridor bookings --json`)."""
    b = rec.booking

    def ref(loc_id: str) -> str:
        loc = network.locations.get(loc_id)
        return loc.ref if loc else loc_id

    def leg(x: BookingLeg, active: bool) -> dict:
        o, d = network.locations.get(x.origin), network.locations.get(x.destination)
        return {"seq": x.seq, "departure_id": x.departure_id, "from": ref(x.origin), "to": ref(x.destination),
                "departure": x.departs_at.astimezone(o.tz).isoformat() if o else x.departs_at.isoformat(),
                "arrival": x.arrives_at.astimezone(d.tz).isoformat() if d else x.arrives_at.isoformat(),
                "teu": x.teu, "active": active}

    o, d = network.locations.get(b.origin), network.locations.get(b.destination)
    return {
        "ref": b.ref, "status": b.status.value, "shipper": b.shipper, "forwarder": b.forwarder,
        "nominated": sorted(b.nominated), "parties": sorted(b.parties),
        "origin": ref(b.origin), "destination": ref(b.destination),
        "ready_at": b.ready_at.astimezone(o.tz).isoformat() if o else b.ready_at.isoformat(),
        "containers": [{"count": c.count, "size_type": c.size_type, "teu": c.teu} for c in b.containers],
        "teu": b.teu, "route": rec.route,
        "departure": leg(b.legs[0], True)["departure"] if b.legs else None,
        "arrival": (rec.promised_arrival.astimezone(d.tz).isoformat() if rec.promised_arrival and d else
                    rec.promised_arrival.isoformat() if rec.promised_arrival else None),
        "price": {"amount": round(b.price_usd, 2), "currency": "USD"}, "co2e_kg": b.co2e_kg,
        "legs": [leg(x, True) for x in b.legs], "history": [leg(x, False) for x in rec.history],
        "created_at": rec.created_at.isoformat() if rec.created_at else None,
        "updated_at": rec.updated_at.isoformat() if rec.updated_at else None,
    }


def departure_json(dep: Departure, reserved: int, network: Network) -> dict:
    """A departure with how full it is (GET /api/v1/departures, `corridor departures --json`)."""
    o, d = network.locations.get(dep.origin), network.locations.get(dep.destination)
    # a cancelled sailing takes nothing: its capacity is no space anyone can book
    free = 0 if dep.status == "cancelled" else max(0, dep.capacity_teu - reserved)
    return {"id": dep.id, "service": dep.service, "operator": dep.operator, "mode": dep.mode.value,
            "from": o.ref if o else dep.origin, "to": d.ref if d else dep.destination,
            "departure": dep.departs_at.isoformat(), "arrival": dep.arrives_at.isoformat(),
            "vehicle": dep.vehicle, "voyage": dep.voyage, "status": dep.status,
            "capacity_teu": dep.capacity_teu, "reserved_teu": reserved, "free_teu": free,
            "load_factor": round(reserved / dep.capacity_teu, 3) if dep.capacity_teu else None}
