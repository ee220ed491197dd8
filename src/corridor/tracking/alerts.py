"""Alerts as ALERT events: late against the promise, dwell above normal, missed connection,
nothing heard for hours, off the planned route. Alerts are stored like any event, so they reach
timelines, the stream and subscriptions; the event time is chosen so a repeat collapses onto it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection

from ..domain.events import Classifier, Event, EventKind
from ..store import tracking as repo
from .eta import Eta, Places, observed

LATE_TOLERANCE = timedelta(hours=6)
SILENT_HOURS = 24.0
DEFAULT_DWELL_HOURS = 72.0   # above this at one facility is abnormal where no history says otherwise


def alert(status: dict, code: str, when: datetime, reason: str, *, location: str | None = None,
          parties: frozenset[str] = frozenset(), extra: dict | None = None) -> Event:
    """An ALERT event about one trip, visible to the trip's parties."""
    refs = (("BKG", status["booking_ref"]),) if status.get("booking_ref") else ()
    return Event(kind=EventKind.ALERT, code=code, classifier=Classifier.ACT, event_time=when,
                 location=location or status.get("location"), equipment=status["equipment"],
                 references=refs, trip_id=status["trip_id"], source_party="CORRIDOR",
                 parties=parties or frozenset(status["parties"].split()), reason=reason, extra=extra or {})


def on_eta(status: dict, eta: Eta | None, ctx: dict, places: Places, said=()) -> list[Event]:
    """Alerts that follow from a new ETA: LATE, MISS, OFFR.

    `said`: the (booked, next) departures of the MISS alerts the trip has had. A missed connection
    is news once (or when the departure it now waits for changes), not at every later move."""
    out: list[Event] = []
    promised = ctx.get("promised_arrival")
    if eta is not None and promised is not None and eta.at > promised + LATE_TOLERANCE:
        hours = (eta.at - promised).total_seconds() / 3600
        out.append(alert(status, "LATE", promised, f"expected {eta.at.isoformat()}, {hours:.0f} h after the "
                         f"promised arrival {promised.isoformat()}", location=places.ref_of.get(ctx["destination"]),
                         extra={"eta": eta.at.isoformat(), "promised": promised.isoformat()}))
    for booked, nxt in (eta.missed if eta else ()):
        if (booked, nxt) in said:
            continue
        out.append(alert(status, "MISS", status.get("since") or eta.at,
                         f"missed the booked departure {booked}; next with space: {nxt}",
                         extra={"booked": booked, "next": nxt}))
    if ctx.get("off_route") and status.get("location"):
        stops = ", ".join(sorted(places.ref_of.get(s, s) for s in ctx["booked_stops"]))
        out.append(alert(status, "OFFR", status.get("since") or status["last_heard_at"],
                         f"reported at {status['location']}, which is not on the booked route ({stops})"))
    return out


def sweep(conn: Connection, now: datetime, *, silent_hours: float = SILENT_HOURS,
          said: set[tuple] | frozenset = frozenset()) -> tuple[list[Event], set[tuple]]:
    """Time-driven alerts for open trips: SILN (nothing heard) and DWEL (dwell above normal).

    `said`: (trip, code, place, event time) of the alerts an earlier sweep of this process stored; they
    are not made again (a box silent for weeks was alerted again at every sweep, to be dropped as
    a duplicate only when stored). Returns the new alerts and every (trip, code, place, event time)
    due now: the next sweep's `said`."""
    hist = observed(conn, str(conn.engine.url))   # the ETA's history, cached: this runs every minute
    out: list[Event] = []
    due: set[tuple] = set()
    silent = timedelta(hours=silent_hours)
    for s in repo.alert_candidates(conn, now - silent):
        heard = s.get("last_heard_at")
        if heard and now - heard > silent:
            due.add(k := (s["trip_id"], "SILN", s["location"], heard + silent))
            if k not in said:
                hours = (now - heard).total_seconds() / 3600
                out.append(alert(s, "SILN", heard + silent, f"nothing heard since {heard.isoformat()} ({hours:.0f} h)"))
        if s["state"] == "at_facility" and s.get("since"):
            normal = hist.dwell.get(s["location"])
            limit = normal.high if normal else DEFAULT_DWELL_HOURS
            if (now - s["since"]).total_seconds() / 3600 > limit:
                at = s["since"] + timedelta(hours=limit)
                due.add(k := (s["trip_id"], "DWEL", s["location"], at))
                if k not in said:
                    out.append(alert(s, "DWEL", at, f"at {s['location']} since {s['since'].isoformat()}, above the "
                                     f"normal {limit:.0f} h dwell there", extra={"limit_hours": limit}))
    return out, due
