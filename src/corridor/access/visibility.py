"""Who may see what — decided here and only here, for the API, DCSA, stream, webhooks and pages.

- the administrator sees everything;
- a shipper or forwarder sees its own bookings and container trips and those nominated to it;
- an operator (railway, terminal, ferry line) sees what is planned through or present at its
  facilities and on its services, and what it sent itself;
- an authority sees, read-only, the movements at locations in its country (and aggregates).
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from sqlalchemy import ColumnElement, Connection, Text, bindparam, false, or_, select, type_coerce

from ..domain.events import Event
from ..domain.parties import Party, Role
from ..store.tables import bookings, departures, events, locations, trips


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


def event_clause(v: Viewer) -> ColumnElement | None:
    """SQL condition on `events` for what the viewer may see; None means no restriction."""
    if v.sees_all:
        return None
    pid = v.id
    conds = [_like_token(events.c.parties, pid), events.c.source_party == pid,
             events.c.trip_id.in_(select(trips.c.id).where(_json_has(trips.c.parties, pid)))]
    if v.party.is_operator:
        if v.facility_refs:
            conds.append(events.c.location.in_(sorted(v.facility_refs)))
        conds.append(events.c.departure_id.in_(select(departures.c.id).where(departures.c.operator == pid)))
    if v.country_refs:
        conds.append(events.c.location.in_(sorted(v.country_refs)))
    return or_(*conds)


def booking_clause(v: Viewer) -> ColumnElement | None:
    """SQL condition on `bookings` for the bookings the viewer may see."""
    if v.sees_all:
        return None
    pid = v.id
    conds = [bookings.c.shipper == pid, bookings.c.forwarder == pid, _json_has(bookings.c.nominated, pid)]
    if v.party.is_operator:
        from ..store.tables import booking_legs
        conds.append(bookings.c.ref.in_(
            select(booking_legs.c.booking_ref).join(departures, departures.c.id == booking_legs.c.departure_id)
            .where(departures.c.operator == pid)))
        if v.party.facilities:
            # planned through one of its terminals or stations (legs keep location ids, as facilities do)
            fac = sorted(v.party.facilities)
            conds.append(bookings.c.ref.in_(select(booking_legs.c.booking_ref).where(
                or_(booking_legs.c.origin.in_(fac), booking_legs.c.destination.in_(fac)))))
    return or_(*conds)


def trip_clause(v: Viewer) -> ColumnElement | None:
    """SQL condition on `trips`: the container trips the viewer may see."""
    if v.sees_all:
        return None
    pid = v.id
    conds = [_json_has(trips.c.parties, pid)]
    ev_cond = event_clause(v)
    if v.party.is_operator or v.country_refs:
        conds.append(trips.c.id.in_(select(events.c.trip_id).where(ev_cond)))
    return or_(*conds) if conds else false()


def is_read_only(party: Party) -> bool:
    """True for an authority that operates nothing: it reads, it never writes."""
    return Role.AUTHORITY in party.roles and not party.is_operator and not party.is_admin


def can_see_event(v: Viewer, e: Event, trip_parties: frozenset[str] = frozenset(),
                  departure_operator: str | None = None) -> bool:
    """The same rule as `event_clause`, for one event in memory (stream, webhooks)."""
    if v.sees_all:
        return True
    pid = v.id
    if pid in e.parties or pid == e.source_party or pid in trip_parties:
        return True
    if v.party.is_operator and (e.location in v.facility_refs or departure_operator == pid):
        return True
    return bool(v.country_refs) and e.location in v.country_refs


def can_post_event(v: Viewer, e: Event, departure_operator: str | None = None) -> str | None:
    """None when the viewer may post this event; otherwise the reason it is refused.

    Operators post only for their own facilities and services; shippers and forwarders may post
    about their own containers (e.g. a tracker's positions); authorities never write.
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
        return (f"party {v.id} may post events only for its own facilities and services; "
                f"{e.location or 'no location'} is not one of them")
    return None  # shippers/forwarders: attribution to their own trips is checked on the trip


def posting_rights(conn: Connection, party) -> Callable[[Event], str | None] | None:
    """`allowed(event)` for a sender on the ingest path (API, MQTT, NATS workers); None for the
    administrator. An operator's own departures count as its services: a ferry line posts the
    events of its sailings by voyage number or departure id without listing services."""
    if party.is_admin:
        return None
    viewer = viewer_for(conn, party)
    ids, voyages = set(), set()
    if party.is_operator:
        for r in conn.execute(select(departures.c.id, departures.c.voyage).where(departures.c.operator == party.id)):
            ids.add(r.id)
            if r.voyage:
                voyages.add(r.voyage)

    def allowed(e: Event) -> str | None:
        tc = e.transport_call
        own = tc is not None and (tc.departure_id in ids or (tc.voyage is not None and tc.voyage in voyages))
        return can_post_event(viewer, e, party.id if own else None)
    return allowed


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
