"""Publishing an operator notice and letting the corridor react to it.

A notice changes the timetable (a cancelled sailing, a delayed train, every departure from a
port closed by storm), and every open booking on an affected departure gets a NOTC alert with the
reason, so tracking, ETAs, webhooks and the planner all see the same change.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from ..domain.errors import DomainError
from ..domain.events import Classifier, Event, EventKind
from ..domain.network import Mode
from ..store import Store
from ..eventlog import record
from ..store import network as netstore
from ..store import notices as repo
from ..store.ingest import trips_of_booking

KINDS = ("cancelled", "delayed", "closure", "queue", "works")
# a place's notice may hold for some modes only; "sea" names every vessel mode at once
SEA_MODES = (Mode.FERRY.value, Mode.FEEDER.value, Mode.DEEP_SEA.value)


def notice_modes(modes) -> list[str] | None:
    """The Mode values a notice names (None: every mode); "sea" stands for the vessel modes."""
    if not modes:
        return None
    out: list[str] = []
    for m in modes:
        m = str(m).strip().lower()
        got = SEA_MODES if m == "sea" else (m,) if m in {x.value for x in Mode} else None
        if got is None:
            raise DomainError(f"unknown mode {m!r}; use sea or one of {', '.join(x.value for x in Mode)}")
        out += [x for x in got if x not in out]
    return out


class NoticeRefused(DomainError):
    """The party may not publish this notice (not its facility or service)."""


@dataclass
class NoticeOutcome:
    """What a notice did: the departures it changed and the bookings alerted."""

    id: int
    kind: str
    departures: list[str] = field(default_factory=list)
    bookings: list[str] = field(default_factory=list)
    modes: list[str] | None = None     # the modes it holds for; None: every mode

    def as_json(self) -> dict:
        return {"id": self.id, "kind": self.kind, "modes": self.modes, "departures_affected": len(self.departures),
                "departures": self.departures[:200], "bookings_alerted": self.bookings}


def publish(store: Store, *, operator: str, kind: str, starts_at: datetime, ends_at: datetime | None = None,
            location: str | None = None, departure_id: str | None = None, delay_hours: float | None = None,
            text: str = "", facilities: frozenset[str] | None = None, is_admin: bool = False,
            now: datetime | None = None, modes=None) -> NoticeOutcome:
    """Record a notice, apply it to the timetable, alert the open bookings it touches.

    `location` is a Location id; `facilities` are the publishing operator's Location ids (checked
    unless `is_admin`). `modes`: a place's notice (closure, queue, works) holds for the
    departures of these modes only (`notice_modes`: "sea" for the vessel modes); every mode when
    not given.
    """
    if kind not in KINDS:
        raise DomainError(f"unknown notice kind {kind!r}; use one of {', '.join(KINDS)}")
    if starts_at.tzinfo is None or (ends_at and ends_at.tzinfo is None):
        raise DomainError("notice times need a UTC offset")
    if ends_at and ends_at <= starts_at:
        raise DomainError("a notice must end after it starts")
    if kind in ("cancelled", "delayed") and not departure_id:
        raise DomainError(f"a {kind} notice names the departure (departure_id)")
    if kind == "delayed" and not delay_hours:
        raise DomainError("a delayed notice gives delay_hours")
    if kind in ("closure", "queue", "works") and not location:
        raise DomainError(f"a {kind} notice names the location")
    if modes and kind not in ("closure", "queue", "works"):
        raise DomainError(f"a {kind} notice names its departure: modes belong to a place's notice")
    modes = notice_modes(modes)
    with store.tx() as conn:
        return apply_notice(conn, operator=operator, kind=kind, starts_at=starts_at, ends_at=ends_at,
                            location=location, departure_id=departure_id, delay_hours=delay_hours, text=text,
                            facilities=facilities, is_admin=is_admin, now=now, modes=modes)


def apply_notice(conn, *, operator: str, kind: str, starts_at: datetime, ends_at: datetime | None = None,
                 location: str | None = None, departure_id: str | None = None, delay_hours: float | None = None,
                 text: str = "", facilities: frozenset[str] | None = None, is_admin: bool = False,
                 now: datetime | None = None, modes: list[str] | None = None) -> NoticeOutcome:
    """`publish` inside the caller's transaction (the ingest path applies IFTSAI schedule changes).

    `now`: when it is published, the notice's and its alerts' time (the wall clock's unless the
    caller keeps its own: the twin publishes at simulated time)."""
    now = now or datetime.now(timezone.utc)
    dep = netstore.get_departure(conn, departure_id) if departure_id else None
    if departure_id and dep is None:
        raise DomainError(f"no departure {departure_id!r}")
    if not is_admin:
        own = (dep and dep[0].operator == operator) or (location and facilities and location in facilities) \
            or (dep and facilities and dep[0].origin in facilities)
        if not own:
            raise NoticeRefused(f"{operator} may publish notices only for its own facilities and services")
    nid = repo.add_notice(conn, operator=operator, kind=kind, location=location, departure_id=departure_id,
                          starts_at=starts_at, ends_at=ends_at, delay_hours=delay_hours, text=text,
                          created_at=now, modes=modes)
    out = NoticeOutcome(nid, kind, modes=modes)
    if kind == "cancelled":
        netstore.set_status(conn, departure_id, "cancelled")
        out.departures = [departure_id]
    elif kind == "delayed":
        netstore.set_status(conn, departure_id, "delayed", timedelta(hours=delay_hours))
        out.departures = [departure_id]
    elif kind == "closure":
        out.departures = repo.departures_from(conn, location, starts_at, ends_at, modes)
        for d in out.departures:
            netstore.set_status(conn, d, "cancelled")
    elif delay_hours:   # a border queue or works: departures in the window leave later
        out.departures = repo.departures_from(conn, location, starts_at, ends_at, modes)
        for d in out.departures:
            netstore.set_status(conn, d, "delayed", timedelta(hours=delay_hours))
    # a closed port holds what is due in, too: ships ride it out at anchor (not cancelled)
    arriving = repo.departures_into(conn, location, starts_at, ends_at, modes) if kind == "closure" else []
    alerts = []
    # the place as events name it, its times in its own zone to the minute (as a person reads them)
    where, zone = repo.place_of(conn, location or (dep[0].origin if dep else None))
    def at(t: datetime) -> str:
        return (t.astimezone(ZoneInfo(zone)) if zone else t).isoformat(timespec="minutes")
    for b in repo.bookings_on(conn, out.departures + [d for d in arriving if d not in out.departures]):
        out.bookings.append(b.ref)
        parties = frozenset({b.shipper, *([b.forwarder] if b.forwarder else []), *(b.nominated or [])})
        reason = (f"notice {nid} from {operator}: {kind}"
                  + (f" of departure {b.departure_id}" if kind in ("cancelled", "delayed") else
                     f" at {where} from {at(starts_at)}"
                     + (f" to {at(ends_at)}" if ends_at else "")
                     + (f" for {', '.join(modes)}" if modes else ""))
                  + (f" (+{delay_hours:g} h)" if delay_hours else "") + (f": {text}" if text else "")
                  + "; re-routing options: GET /api/v1/bookings/" + b.ref + "/reroute")
        alert = Event(EventKind.ALERT, "NOTC", Classifier.ACT, now, location=where,
                      references=(("BKG", b.ref),), source_party="CORRIDOR", parties=parties,
                      reason=reason, extra={"notice": nid, "departure_id": b.departure_id})
        alerts.append(alert)
        # and on each container of the booking under way, so its own timeline and subscribers see it
        for trip in trips_of_booking(conn, b.ref):
            if trip.ends_at is None:
                alerts.append(replace(alert, equipment=trip.equipment, trip_id=trip.id,
                                      parties=parties | trip.parties))
    out.bookings = sorted(set(out.bookings))
    record(conn, alerts, now)
    return out
