"""Who may see what — decided here and only here, for the API, DCSA, stream, webhooks and pages.

- the administrator sees everything;
- a shipper or forwarder sees its own bookings and container trips and those nominated to it;
- an operator (railway, terminal, ferry line) sees what is planned through or present at its
  facilities and on its services, and what it sent itself; the operator of a departure sees the
  boxes booked on it from the moment they are booked: their trips, and their events at the two
  ends of its legs and aboard its vehicles; of their bookings only its own part (`booking_view`);
- an authority sees, read-only, the movements at locations in its country (and aggregates).

Who may post what is decided here too (`posting_rights`): operators for their own facilities and
services, and the positions of their own vehicles and devices and of the containers in their hands
(`HandlingCheck`); shippers and forwarders for their own containers and bookings. docs/access.md.
"""

from __future__ import annotations

import bisect
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Callable

from sqlalchemy import (ColumnElement, Connection, Text, bindparam, func, or_, select, tuple_,
                        type_coerce)

from ..domain.events import Event
from ..domain.parties import Party, Role
from ..store.tables import booking_legs, bookings, departures, events, locations, trips


@dataclass(frozen=True)
class Viewer:
    """A party as visibility sees it: its id, roles, and the location refs it has a say over."""

    party: Party
    facility_refs: frozenset[str]      # UN/LOCODE (or id) of the facilities it operates
    country_refs: frozenset[str]       # for authorities: every location ref in its country

    @property
    def id(self) -> str:
        return self.party.id

    @property
    def sees_all(self) -> bool:
        return self.party.is_admin


def viewer_for(conn: Connection, party: Party) -> Viewer:
    """Build the Viewer of a party (resolves facility ids to refs, country to its locations)."""
    rows = conn.execute(select(locations.c.id, locations.c.code, locations.c.country)).all()
    ref = {r.id: (r.code or r.id) for r in rows}
    fac = frozenset(ref.get(f, f) for f in party.facilities)
    country = frozenset(ref[r.id] for r in rows if party.country and r.country == party.country
                        and Role.AUTHORITY in party.roles)
    return Viewer(party, fac, country)


VIEWER_SECONDS = 5.0   # how long a built Viewer is kept: it reads every location
_viewers: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()   # engine -> {Party: (stamp, Viewer)}
_viewers_lock = threading.Lock()


def cached_viewer(conn: Connection, party: Party) -> Viewer:
    """`viewer_for`, kept per database and party for VIEWER_SECONDS: locations rarely change, and a
    changed party is a different key. A party with nothing to resolve (no facilities, not an
    authority of a country) needs no read at all."""
    if not party.facilities and not (party.country and Role.AUTHORITY in party.roles):
        return Viewer(party, frozenset(), frozenset())
    now = time.monotonic()
    with _viewers_lock:
        kept = _viewers.setdefault(conn.engine, {}).get(party)
    if kept is not None and now - kept[0] < VIEWER_SECONDS:
        return kept[1]
    v = viewer_for(conn, party)
    with _viewers_lock:
        per_db = _viewers.setdefault(conn.engine, {})
        if len(per_db) > 1000:
            per_db.clear()   # parties are few; many entries means many changes: start again
        per_db[party] = (now, v)
    return v


def _like_token(col, pid: str):
    return col.like(f"% {pid} %")


def _json_has(col, pid: str):
    """Membership in a JSON list kept as text; the column is read as plain text so the pattern
    is not JSON-encoded itself."""
    return type_coerce(col, Text).like(f'%"{pid}"%')


def _operated(pid: str):
    """The departures (sailings, trains) a party operates: read by `ix_departures_operator`."""
    return select(departures.c.id).where(departures.c.operator == pid)


def _booked_on(pid: str, place_id: str | None = None):
    """Refs of the bookings with an active leg on a departure the party operates (leaving or
    reaching `place_id`, a location id, when given). A leg amended away no longer counts."""
    leg = booking_legs.c
    q = select(leg.booking_ref).where(leg.departure_id.in_(_operated(pid)), leg.active.is_(True))
    return q if place_id is None else q.where(or_(leg.origin == place_id, leg.destination == place_id))


def _booked_ends(pid: str):
    """(trip id, place) for every trip of a booking with an active leg on a departure the party
    operates, at either end of that leg, the place as events name it (UN/LOCODE, else the id)."""
    leg, loc = booking_legs.c, locations.c
    place = func.coalesce(func.nullif(loc.code, ""), loc.id)
    return (select(trips.c.id, place)
            .select_from(booking_legs.join(trips, trips.c.booking_ref == leg.booking_ref)
                         .join(locations, or_(loc.id == leg.origin, loc.id == leg.destination)))
            .where(leg.departure_id.in_(_operated(pid)), leg.active.is_(True)))


def event_clause(v: Viewer) -> ColumnElement | None:
    """SQL condition on `events` for what the viewer may see; None means no restriction.

    An operator's: events at its facilities, aboard its departures, and, of the boxes booked on
    its departures, those at either end of such a leg (the gate-in at the port of loading, the
    discharge and gate-out at the port of discharge), not the rest of the box's journey."""
    if v.sees_all:
        return None
    pid = v.id
    conds = [_like_token(events.c.parties, pid), events.c.source_party == pid,
             events.c.trip_id.in_(select(trips.c.id).where(_json_has(trips.c.parties, pid)))]
    if v.party.is_operator:
        if v.facility_refs:
            conds.append(events.c.location.in_(sorted(v.facility_refs)))
        conds.append(events.c.departure_id.in_(_operated(pid)))
        conds.append(tuple_(events.c.trip_id, events.c.location).in_(_booked_ends(pid)))
    if v.country_refs:
        conds.append(events.c.location.in_(sorted(v.country_refs)))
    return or_(*conds)


def booking_clause(v: Viewer) -> ColumnElement | None:
    """SQL condition on `bookings` for the bookings the viewer may see (an operator: those with a
    leg, active or amended away, on its departures or through its facilities; `booking_view`
    shows it only those legs)."""
    if v.sees_all:
        return None
    pid = v.id
    conds = [bookings.c.shipper == pid, bookings.c.forwarder == pid, _json_has(bookings.c.nominated, pid)]
    if v.party.is_operator:
        conds.append(bookings.c.ref.in_(select(booking_legs.c.booking_ref)
                                        .where(booking_legs.c.departure_id.in_(_operated(pid)))))
        if v.party.facilities:
            # planned through one of its terminals or stations (legs keep location ids, as facilities do)
            fac = sorted(v.party.facilities)
            conds.append(bookings.c.ref.in_(select(booking_legs.c.booking_ref).where(
                or_(booking_legs.c.origin.in_(fac), booking_legs.c.destination.in_(fac)))))
    return or_(*conds)


def trip_clause(v: Viewer) -> ColumnElement | None:
    """SQL condition on `trips`: the container trips the viewer may see — its own, those with an
    event it may see (`event_clause`), and for an operator those booked on its departures from
    the moment of booking (before any of their events reaches it).

    Written as indexed reads rather than `event_clause` over every event: the events at its
    facilities or in its country (location index), aboard its departures (departure index), the
    trips of its booked bookings (booking index); only the events naming the party (what it sent,
    its services' calls) are a scan of one column."""
    if v.sees_all:
        return None
    pid = v.id
    conds = [_json_has(trips.c.parties, pid)]
    if v.party.is_operator or v.country_refs:
        conds.append(trips.c.id.in_(select(events.c.trip_id).where(_like_token(events.c.parties, pid))))
    if v.party.is_operator:
        if v.facility_refs:
            conds.append(trips.c.id.in_(select(events.c.trip_id).where(events.c.location.in_(sorted(v.facility_refs)))))
        conds.append(trips.c.id.in_(select(events.c.trip_id).where(events.c.departure_id.in_(_operated(pid)))))
        conds.append(trips.c.booking_ref.in_(_booked_on(pid)))
    if v.country_refs:
        conds.append(trips.c.id.in_(select(events.c.trip_id).where(events.c.location.in_(sorted(v.country_refs)))))
    return or_(*conds)


def sees_place_whole(v: Viewer, place_ref: str) -> bool:
    """The administrator, the operator of a facility at the place and an authority of its country
    see every box there and its booked departures."""
    return v.sees_all or place_ref in v.country_refs or (v.party.is_operator and place_ref in v.facility_refs)


def sees_departure_of(v: Viewer, place_ref: str, trip_parties, departure_operator: str | None) -> bool:
    """May the viewer see which departure a box at `place_ref` is booked (or expected) out on? Those
    who see the place whole, the trip's own parties, and the departure's operator (its own sailing);
    a railway that brought the box sees it is here, not which ferry the shipper booked on."""
    return sees_place_whole(v, place_ref) or v.id in set(trip_parties or ()) or departure_operator == v.id


def queue_clause(v: Viewer, place_ref: str, place_id: str) -> ColumnElement | None:
    """SQL condition on `trips` for the boxes at one place the viewer may see there (the queue):
    `event_clause` narrowed to that place. Everything to the operator of a facility there and an
    authority of its country; to the operator of a departure, the boxes booked on its departures
    leaving or reaching the place, those its vehicles brought there and those it reported there;
    to anyone, its own trips (as a party). None: no restriction."""
    if sees_place_whole(v, place_ref):
        return None
    pid = v.id
    conds = [_json_has(trips.c.parties, pid)]
    if v.party.is_operator:
        # the events at this place only (location index): those it sent, those off its vehicles
        here = select(events.c.trip_id).where(events.c.location == place_ref)
        conds.append(trips.c.id.in_(here.where(or_(_like_token(events.c.parties, pid),
                                                   events.c.departure_id.in_(_operated(pid))))))
        conds.append(trips.c.booking_ref.in_(_booked_on(pid, place_id)))
    return or_(*conds)


def is_read_only(party: Party) -> bool:
    """True for an authority that operates nothing: it reads, it never writes."""
    return Role.AUTHORITY in party.roles and not party.is_operator and not party.is_admin


def can_see_event(v: Viewer, e: Event, trip_parties: frozenset[str] = frozenset(),
                  departure_operator: str | None = None, booked_by: frozenset[str] = frozenset()) -> bool:
    """The same rule as `event_clause`, for one event in memory (stream, webhooks). `booked_by`:
    the operators whose departure the event's trip is booked on from or to the event's place
    (`booked_operators`)."""
    if v.sees_all:
        return True
    pid = v.id
    if pid in e.parties or pid == e.source_party or pid in trip_parties:
        return True
    if v.party.is_operator and (e.location in v.facility_refs or departure_operator == pid or pid in booked_by):
        return True
    return bool(v.country_refs) and e.location in v.country_refs


def booked_operators(conn: Connection, events_: list[Event]) -> dict[tuple[str, str], frozenset[str]]:
    """(trip id, place) -> the operators of the departures the trip's booking has an active leg
    on, leaving or reaching that place, for the events given (one read): `can_see_event`'s
    `booked_by`, as `event_clause` judges it in SQL."""
    pairs = {(e.trip_id, e.location) for e in events_ if e.trip_id and e.location}
    if not pairs:
        return {}
    leg, loc = booking_legs.c, locations.c
    place = func.coalesce(func.nullif(loc.code, ""), loc.id)
    out: dict[tuple[str, str], set[str]] = {}
    ids = sorted({t for t, _ in pairs})
    for i in range(0, len(ids), 500):
        q = (select(trips.c.id, place, departures.c.operator)
             .select_from(booking_legs.join(trips, trips.c.booking_ref == leg.booking_ref)
                          .join(departures, departures.c.id == leg.departure_id)
                          .join(locations, or_(loc.id == leg.origin, loc.id == leg.destination)))
             .where(trips.c.id.in_(ids[i:i + 500]), leg.active.is_(True)))
        for trip_id, where, operator in conn.execute(q):
            if (trip_id, where) in pairs:
                out.setdefault((trip_id, where), set()).add(operator)
    return {k: frozenset(v) for k, v in out.items()}


# --- a booking as the viewer may see it -----------------------------------------------------------

def sees_whole_booking(v: Viewer, shipper: str | None, forwarder: str | None, nominated) -> bool:
    """The administrator, the booking's shipper, forwarder and nominated parties see all of it;
    an operator that sees it for its departures or facilities sees only its part."""
    return v.sees_all or v.id in {shipper, forwarder} or v.id in set(nominated or ())


def _own_legs(conn: Connection, v: Viewer, *lists: list[dict]) -> list[list[dict]]:
    """Of each list of legs (booking JSON: departure_id, from, to), those the viewer operates or
    that leave or reach one of its facilities (one read of the departures' operators)."""
    if not v.party.is_operator:
        return [[] for _ in lists]
    ids = sorted({x["departure_id"] for legs in lists for x in legs})
    ops = dict(conn.execute(select(departures.c.id, departures.c.operator)
                            .where(departures.c.id.in_(ids))).all()) if ids else {}
    return [[x for x in legs if ops.get(x["departure_id"]) == v.id or x["from"] in v.facility_refs
             or x["to"] in v.facility_refs] for legs in lists]


# what an operator is shown of a booking beside its own legs: the box count, sizes and TEU it
# carries, the reference and status. The shipper's price, promise, route and other legs are not its
BOOKING_SHARE_KEEPS = ("ref", "status", "containers", "teu", "created_at", "updated_at")


def booking_view(conn: Connection, v: Viewer, doc: dict) -> dict:
    """A booking's JSON (`booking.service.booking_json`) as the viewer may see it: whole to those
    `sees_whole_booking` names; to an operator only its part (`"partial": true`): its own legs
    (active and amended away), origin/destination and departure/arrival those of its part, the
    containers and TEU; no parties, price, CO2e, route, ready time or promised arrival."""
    if sees_whole_booking(v, doc.get("shipper"), doc.get("forwarder"), doc.get("nominated")):
        return doc
    legs, history = _own_legs(conn, v, doc.get("legs") or [], doc.get("history") or [])
    span = legs or history
    out = {k: doc.get(k) for k in BOOKING_SHARE_KEEPS}
    out.update({
        "partial": True, "shipper": None, "forwarder": None, "nominated": [], "parties": [],
        "origin": span[0]["from"] if span else None, "destination": span[-1]["to"] if span else None,
        "ready_at": None, "route": None, "price": None, "co2e_kg": None,
        "departure": span[0]["departure"] if span else None, "arrival": span[-1]["arrival"] if span else None,
        "legs": legs, "history": history})
    return {k: out[k] for k in (*doc.keys(), "partial") if k in out}


def booking_timeline_view(conn: Connection, v: Viewer, doc: dict) -> dict:
    """A booking's timeline (`tracking.timeline.booking_timeline`) as the viewer may see it: an
    operator that does not see the booking whole gets the plan of its own legs only and no
    promised arrival; the booking's origin and destination are those of its part."""
    if v.sees_all:
        return doc
    b = conn.execute(select(bookings.c.shipper, bookings.c.forwarder, bookings.c.nominated)
                     .where(bookings.c.ref == doc["booking_ref"])).first()
    if b is None or sees_whole_booking(v, b.shipper, b.forwarder, b.nominated):
        return doc
    out = dict(doc)
    if doc.get("plan") is not None:
        out["plan"] = _own_legs(conn, v, doc["plan"])[0]
    if doc.get("booking") is not None:
        span = out.get("plan") or []
        out["booking"] = {**doc["booking"], "origin": span[0]["from"] if span else None,
                          "destination": span[-1]["to"] if span else None, "promised_arrival": None}
    out["partial"] = True
    return out


def _is_position(e: Event) -> bool:
    """A GPS/tracker fix (positions.py, DCSA or CSV IoT): it has no place of its own."""
    from ..domain.events import EventKind
    return e.kind is EventKind.IOT and e.code == "POSI"


def can_post_event(v: Viewer, e: Event, departure_operator: str | None = None) -> str | None:
    """None when the viewer may post this event as far as its role decides; otherwise the reason.

    Operators post for their own facilities and services; authorities never write. A position has
    no place: an operator posts those of its own vehicles and devices (a fix without a container
    that names no train, wagon or sailing moves nothing but the device), and a container's only
    while the box is in its hands, which `HandlingCheck.recheck` judges on the box's trips (this
    function lets it through). A shipper's or forwarder's events are decided by their bookings and
    the containers' trips (`posting_rights`, `ClaimCheck`): this function alone lets them through.
    """
    if v.sees_all:
        return None
    if is_read_only(v.party):
        return f"party {v.id} is an authority: read-only"
    if v.party.is_operator:
        tc = e.transport_call
        vehicle_ok = departure_operator == v.id or (tc is not None and tc.service in v.party.services)
        if (e.location and e.location in v.facility_refs) or vehicle_ok:
            return None
        if _is_position(e) and not e.location:
            from ..ingest.service import Ingestor
            if e.equipment or not Ingestor._carriers(e):
                return None   # a box's fix: `HandlingCheck.recheck`; a device's own fix moves no box
        return (f"party {v.id} may post events only for its own facilities and services; "
                f"{e.location or 'no location'} is not one of them ({_may_post(v)})")
    return None


def _may_post(v: Viewer) -> str:
    """What an operator may post, in its own terms, for a refusal's reason."""
    fac = ", ".join(sorted(v.facility_refs)) or "none"
    svc = ", ".join(sorted(v.party.services))
    return (f"its facilities: {fac}; its services: {svc + ' and ' if svc else ''}the departures it operates "
            f"by id or voyage; positions: of its own vehicles and devices, and of containers in its hands")


class OperatedDepartures:
    """The departures (ids and voyage numbers) an operator runs, as its posting rights judge them.

    Read whole when the rights are made; a departure or voyage not among them is looked up when
    first named, since rights are kept for long by the NATS workers and the MQTT consumer while
    timetables (IFTSAI, `corridor timetable`) add sailings: a ferry line's new voyage counts from
    its first report, not from the next restart. A miss is remembered for MISS_SECONDS only, so a
    stream of another operator's departures costs one indexed read per name and interval.
    Thread-safe (sets and dicts under the GIL; a race only repeats a read)."""

    MISS_SECONDS = 5.0
    MAX_MISSES = 10_000

    def __init__(self, conn: Connection, operator: str):
        self.engine, self.operator = conn.engine, operator
        self.ids: set[str] = set()
        self.voyages: set[str] = set()
        for r in conn.execute(select(departures.c.id, departures.c.voyage).where(departures.c.operator == operator)):
            self.ids.add(r.id)
            if r.voyage:
                self.voyages.add(r.voyage)
        self._missed: dict[tuple, float] = {}

    def holds(self, departure_id: str | None, voyage: str | None) -> bool:
        if departure_id in self.ids or (voyage and voyage in self.voyages):
            return True
        if not departure_id and not voyage:
            return False
        key, now = (departure_id, voyage), time.monotonic()
        if now - self._missed.get(key, -1e9) < self.MISS_SECONDS:
            return False
        d = departures.c
        named = [d.id == departure_id] if departure_id else []
        if voyage:
            named.append(d.voyage == voyage)
        with self.engine.connect() as c:
            rows = c.execution_options(corridor_read=True).execute(
                select(d.id, d.voyage).where(d.operator == self.operator, or_(*named))).all()
        for r in rows:
            self.ids.add(r.id)
            if r.voyage:
                self.voyages.add(r.voyage)
        if departure_id in self.ids or (voyage and voyage in self.voyages):
            return True
        if len(self._missed) >= self.MAX_MISSES:
            self._missed.clear()
        self._missed[key] = now
        return False


def posting_rights(conn: Connection, party) -> Callable[[Event], str | None] | None:
    """`allowed(event)` for a sender on the ingest path (API, MQTT, NATS workers); None for the
    administrator. An operator's own departures count as its services: a ferry line posts the
    events of its sailings by voyage number or departure id without listing services; the
    positions of containers it posts are judged by `HandlingCheck`. Any other writer (shipper,
    forwarder) posts only for its own containers and bookings (`ClaimCheck`). `allowed` judges
    what the event says (its place, booking, vehicle), `allowed.recheck` where a container event
    lands (its container's trips), run by the ingest path on every container event it keeps,
    re-sent copies included, on the trips it holds under the containers' locks.

    The callable may be kept and called from several threads: it holds no connection."""
    if party.is_admin:
        return None
    viewer = viewer_for(conn, party)
    operated = OperatedDepartures(conn, party.id) if party.is_operator else None
    if operated is not None:
        claims, handling = None, HandlingCheck(conn.engine, viewer, operated)
    else:
        claims, handling = ClaimCheck(conn.engine, party.id), None

    def allowed(e: Event) -> str | None:
        tc = e.transport_call
        own = tc is not None and operated is not None and operated.holds(tc.departure_id, tc.voyage)
        why = can_post_event(viewer, e, party.id if own else None)
        if why is None and claims is not None:
            why = claims(e)
        return why
    # for the ingest path to judge again on the trips it holds locked (ClaimCheck.recheck,
    # HandlingCheck.recheck)
    allowed.recheck = claims.recheck if claims is not None else handling.recheck
    return allowed


def _box(e: Event) -> str | None:
    """The container an event is attributed by (alerts are not: Ingestor._process)."""
    from ..domain.events import EventKind
    return e.equipment if e.equipment and e.kind is not EventKind.ALERT else None


CLAIM_KEEP_SECONDS = 2.0   # how long ClaimCheck keeps what it read for one message (same thread)


class ClaimCheck:
    """What a writer that operates nothing (a shipper, a forwarder) may post; docs/access.md.

    1. A booking the event names that is a Corridor booking (or has its CB- form) must be one of
       the party's: it is the booking's shipper, forwarder or a nominated party.
    2. An event about a container may land only on the party's own trips: every trip of the
       container the ingest path could attribute it to must list the party, or be of a booking
       of the party. Those trips are, as `Ingestor._trip` decides: the container's trip of the
       named booking when it has exactly one; otherwise every trip whose window covers the
       event time (with its slack) and the first trip when an early report could stretch it
       back. A container Corridor has no trip of is free: the event opens the party's own
       trip. A container whose trips are all another party's is refused even when none covers
       the time, so the answer says no more about it than that it is not the party's.
    3. An event without a container that names a wagon, train or sailing moves every container
       aboard (`Ingestor._expand`): only the vehicle's operator may post it.

    Calling the check judges rules 1 and 3 (the booking parties read once per booking and
    message: kept per thread while the events of one message come in, at most
    CLAIM_KEEP_SECONDS). Rule 2 is `recheck`'s, on the container's trips as the ingest path holds
    them under the containers' locks just before attribution (`Ingestor._process` runs it on every
    container event it keeps, re-sent copies included, so a refusal is never a "duplicate"). The
    call reads no trips: a read per container on a connection of its own cost more than the
    ingest path's own locked read of them all. The reasons name only what the sender sent.
    """

    def __init__(self, engine, party_id: str):
        self.engine, self.party_id = engine, party_id
        self._local = threading.local()

    def _kept(self, message_id: str | None):
        """This thread's reads for the message at hand (new for another message, or when old)."""
        k, now = self._local, time.monotonic()
        if getattr(k, "message_id", None) != message_id or message_id is None or now - k.at > CLAIM_KEEP_SECONDS:
            k.message_id, k.at, k.bookings = message_id, now, {}
        return k

    def _read(self, kept, refs: list[str]) -> None:
        """The parties of the bookings `refs`, in one read."""
        from ..store import ingest as repo
        refs = sorted({r for r in refs if r not in kept.bookings})
        if not refs:
            return
        with self.engine.connect() as c:
            # a read: no write lock (SQLite's BEGIN IMMEDIATE) while the ingest transaction holds it
            parties = repo.booking_parties(c.execution_options(corridor_read=True), refs)
        for r in refs:
            kept.bookings[r] = parties.get(r)   # None: not a Corridor booking

    def __call__(self, e: Event) -> str | None:
        """Rules 1 and 3 for one event as the sender sent it; rule 2 is `recheck`'s."""
        from ..booking.records import REF_PREFIX
        from ..ingest.service import Ingestor
        pid = self.party_id
        bkg = e.reference("BKG")
        if bkg:
            kept = self._kept(e.message_id)
            if bkg not in kept.bookings:
                self._read(kept, [bkg])
            owners = kept.bookings.get(bkg)
            if (owners is not None or bkg.upper().startswith(f"{REF_PREFIX}-")) and pid not in (owners or ()):
                return f"booking {bkg} is not one of party {pid}'s bookings: a party names only its own"
        if not _box(e):
            return self._vehicle(e, Ingestor)
        return None   # where it lands is judged under the container's lock (`recheck`)

    def recheck(self, e: Event, trips: list) -> str | None:
        """Rule 2 for a container event, against `trips`: the container's trips as the ingest
        path holds them under the container's lock, just before attribution (those this message
        opened included). Bookings are read only of trips that do not list the party."""
        if not _box(e):
            return None
        kept = self._kept(e.message_id)
        refs = [t.booking_ref for t in trips if t.booking_ref and self.party_id not in t.parties
                and t.booking_ref not in kept.bookings]
        if refs:
            self._read(kept, refs)
        return self._judge(e, trips, kept)

    def _judge(self, e: Event, trips: list, kept) -> str | None:
        """Rule 2 (and 3) for container event `e` over the container's `trips` (oldest first)."""
        if not trips:
            return None   # a container Corridor has no trip of: the event opens the party's own
        pid, bkg = self.party_id, e.reference("BKG")

        def mine(t) -> bool:
            return pid in t.parties or (t.booking_ref is not None and pid in (kept.bookings.get(t.booking_ref) or ()))

        reach = _reach(e, trips)
        # nothing in reach: a booking opens a new trip; without one attribution holds the event,
        # which the party may learn only of a container it has a trip of
        if all(mine(t) for t in reach) and (reach or bkg or any(mine(t) for t in trips)):
            return None
        return (f"{_box(e)} {e.code} at {e.location or '?'} {e.event_time.isoformat()}: party {pid} may post "
                "events only for containers on its own trips and bookings (or on no trip yet)")

    def _vehicle(self, e: Event, ingestor) -> str | None:
        if ingestor._carriers(e):
            return (f"{e.code} of {e.subject or 'a vehicle'} without a container: only the vehicle's operator "
                    f"may post it (it moves every container aboard); party {self.party_id} operates none")
        return None


def _reach(e: Event, trips: list) -> list:
    """The trips of a container (oldest first) a container event could land on, as
    `Ingestor._trip` attributes: the container's trip of the named booking when it has exactly
    one; otherwise every trip whose window covers the event time (with its slack), and the first
    trip when an early report could stretch it back."""
    from ..ingest.service import EARLY_REPORT
    when, bkg = e.event_time, e.reference("BKG")
    named = [t for t in trips if bkg and t.booking_ref == bkg]
    if len(named) == 1:
        return named   # the booking decides (Ingestor._trip)
    reach = named + [t for t in trips if t.covers(when)]
    first = trips[0] if trips else None
    if (first is not None and not bkg and first.booking_ref is None and when < first.starts_at
            and first.starts_at - when <= EARLY_REPORT):
        reach.append(first)   # an early report stretches the first trip back
    return reach


HANDOVER = timedelta(days=2)   # a box booked on a departure is in its operator's hands this long
#                                before the departure (gated in for it) and after its arrival
_LEAVES = frozenset({"GTOT", "DEPA"})   # the box leaves the place (but on the operator's own vehicle)
_REPORT_KINDS = ("EQUIPMENT", "TRANSPORT")   # what says where a box is; not fixes, alerts, documents


class HandlingCheck:
    """The positions of containers an operator may post: those in its hands at the fix's time;
    docs/access.md. (Its own vehicles' and devices' fixes, which carry no container and name no
    train, wagon or sailing, `can_post_event` lets through: they move no box.)

    A container's fix (no place of its own) passes when it is aboard the operator's own call (a
    departure it operates, its voyage or service, as any of its events) or, on every trip of the
    box it could land on (`_reach`, as attribution decides), the box is in the operator's hands:

    1. the trip lists the operator (its report opened the trip);
    2. the trip's booking has an active leg on a departure the operator operates, and the fix is
       from HANDOVER before that departure to HANDOVER after its arrival (booked on it);
    3. the box's last actual report on the trip at or before the fix (other fixes, alerts and
       documents aside) puts it there: aboard one of the operator's departures or services (but
       its discharge), loaded by the operator, or at one of its facilities (but leaving it: a
       gate-out, or a departure on another's vehicle). The reports of the same message count too.

    A box Corridor has no trip of is free, as for a shipper: the fix opens the operator's own
    trip. Anything else is refused with one reason, whatever the box holds, so a refusal tells no
    more than that the box is not in the operator's hands; it never lets an operator lay a track
    on a competitor's box it has nothing to do with.

    `recheck` runs on the trips the ingest path holds under the containers' locks (as
    `ClaimCheck.recheck`); what it reads (the booking's legs, the trip's reports) is read on a
    connection of its own and kept per thread for one message, at most CLAIM_KEEP_SECONDS.
    """

    def __init__(self, engine, viewer: Viewer, operated: OperatedDepartures):
        self.engine, self.viewer = engine, viewer
        self.party_id = viewer.id
        self.operated = operated
        self._local = threading.local()

    def _kept(self, message_id: str | None):
        k, now = self._local, time.monotonic()
        if getattr(k, "message_id", None) != message_id or message_id is None or now - k.at > CLAIM_KEEP_SECONDS:
            k.message_id, k.at, k.legs, k.last, k.reports = message_id, now, {}, {}, {}
        return k

    def _own_call(self, e: Event) -> bool:
        tc = e.transport_call
        return tc is not None and (self.operated.holds(tc.departure_id, tc.voyage)
                                   or (tc.service is not None and tc.service in self.viewer.party.services))

    def _in_hands(self, code: str, location: str | None, source_party: str | None, departure_id: str | None,
                  voyage: str | None, service: str | None) -> bool:
        """Whether a report leaves the box in the operator's hands (rule 3)."""
        aboard = self.operated.holds(departure_id, voyage) or (service and service in self.viewer.party.services)
        if aboard and code != "DISC":
            return True
        if location and location in self.viewer.facility_refs and code not in _LEAVES:
            return True
        return source_party == self.party_id and code == "LOAD"

    def recheck(self, e: Event, trips: list) -> str | None:
        """None when the operator may post container event `e` on the container's `trips` (as the
        ingest path holds them locked); otherwise the reason. Only a container's fix without a
        place is judged here: every other event of an operator was judged by `can_post_event`."""
        box = _box(e)
        if not box:
            return None
        kept = self._kept(e.message_id)
        if not _is_position(e) or e.location:
            if e.classifier.value == "ACT" and e.kind.value in _REPORT_KINDS:
                # where the box is, for this message's fixes after it (not in the log yet)
                tc = e.transport_call
                kept.reports.setdefault(box, []).append((e.event_time, self._in_hands(
                    e.code, e.location, e.source_party, tc.departure_id if tc else None,
                    tc.voyage if tc else None, tc.service if tc else None)))
            return None
        if self._own_call(e) or not trips:
            return None   # aboard its own call; or a box on no trip yet: the fix opens the operator's own
        reach = _reach(e, trips)
        if reach and all(self._handles(t, e, kept) for t in reach):
            return None
        fac = ", ".join(sorted(self.viewer.facility_refs)) or "none"
        return (f"{box} {e.code} {e.event_time.isoformat()}: party {self.party_id} may post the positions of "
                f"containers only while they are in its hands (booked on or loaded onto its departures or "
                f"vehicles, or at its facilities: {fac}) or on no trip yet, and of its own vehicles and devices "
                "(a fix without a container); this container is not in its hands at that time")

    def _handles(self, trip, e: Event, kept) -> bool:
        pid, when = self.party_id, e.event_time
        if pid in trip.parties:
            return True
        if trip.booking_ref:
            if trip.booking_ref not in kept.legs:
                kept.legs[trip.booking_ref] = self._legs(trip.booking_ref)
            if any(lo <= when <= hi for lo, hi in kept.legs[trip.booking_ref]):
                return True
        if trip.id not in kept.last:
            kept.last[trip.id] = self._reports(trip.id)
        times, hands = kept.last[trip.id]
        i = bisect.bisect_right(times, when)
        last = (times[i - 1], hands[i - 1]) if i else None
        here = max((r for r in kept.reports.get(e.equipment, ()) if r[0] <= when), key=lambda r: r[0], default=None)
        if here is not None and (last is None or here[0] >= last[0]):
            last = here   # a report of this message is the latest
        return last is not None and last[1]

    def _read(self):
        c = self.engine.connect()
        # a read: no write lock (SQLite's BEGIN IMMEDIATE) while the ingest transaction holds it
        return c, c.execution_options(corridor_read=True)

    def _legs(self, booking_ref: str) -> list[tuple]:
        """(from, to) of each active leg of the booking on a departure the operator operates (rule 2)."""
        leg, dep = booking_legs.c, departures.c
        c, conn = self._read()
        with c:
            rows = conn.execute(select(leg.departs_at, leg.arrives_at, dep.departs_at.label("d_at"),
                                       dep.arrives_at.label("a_at"))
                                .select_from(booking_legs.join(departures, dep.id == leg.departure_id))
                                .where(leg.booking_ref == booking_ref, leg.active.is_(True),
                                       dep.operator == self.party_id)).all()
        return [(min(r.departs_at, r.d_at) - HANDOVER, max(r.arrives_at, r.a_at) + HANDOVER) for r in rows]

    def _reports(self, trip_id: str) -> tuple[list, list[bool]]:
        """The trip's actual reports (fixes, alerts and documents aside), oldest first: their times
        and whether each leaves the box in the operator's hands (rule 3). Read once per trip and
        message, so a batch of fixes costs one read, not one each."""
        ev = events.c
        c, conn = self._read()
        with c:
            rows = conn.execute(select(ev.event_time, ev.code, ev.location, ev.source_party, ev.departure_id,
                                       ev.voyage, ev.service)
                                .where(ev.trip_id == trip_id, ev.classifier == "ACT", ev.kind.in_(_REPORT_KINDS))
                                .order_by(ev.event_time, ev.seq)).all()
        return ([r.event_time for r in rows],
                [self._in_hands(r.code, r.location, r.source_party, r.departure_id, r.voyage, r.service) for r in rows])


@lru_cache(maxsize=1024)
def _container_owners(v: Viewer):
    """The statement of `owners_of`'s container branch for one viewer, built once: the audit
    decision runs on every read of another party's box, and building the statement cost more
    than running it."""
    q = select(trips.c.parties).where(or_(trips.c.id == bindparam("ref"), trips.c.equipment == bindparam("box")))
    tc = trip_clause(v)
    return (q if tc is None else q.where(tc)).order_by(trips.c.starts_at.desc()).limit(1)


def owners_of(conn: Connection, v: Viewer, kind: str, ref: str) -> set[str] | None:
    """The parties whose data `ref` is, when the viewer may see it; None when it may not (or it does not exist).

    kinds: container (trip id or container number: its latest visible trip), booking, event (sequence number).
    """
    from ..store.tables import trips as t
    if kind == "container":
        r = conn.execute(_container_owners(v), {"ref": ref, "box": ref.upper()}).first()
        return None if r is None else set(r.parties or ())
    if kind == "booking":
        b = conn.execute(select(bookings.c.ref, bookings.c.shipper, bookings.c.forwarder)
                         .where(bookings.c.ref == ref)).first()
        if b is None:
            return None
        bc, tc = booking_clause(v), trip_clause(v)
        seen = bc is None or conn.execute(select(bookings.c.ref).where(bookings.c.ref == ref, bc)).first()
        seen = seen or conn.execute(select(t.c.id).where(t.c.booking_ref == ref, tc).limit(1)).first()
        return {b.shipper, b.forwarder} - {None} if seen else None
    if kind == "event":
        if not ref.isdigit():
            return None
        q = select(events.c.parties).where(events.c.seq == int(ref))
        ec = event_clause(v)
        r = conn.execute(q if ec is None else q.where(ec)).first()
        return None if r is None else set((r.parties or "").split())
    raise ValueError(f"unknown kind {kind!r}")
