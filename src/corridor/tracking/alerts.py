"""Alerts as ALERT events: late against the promise, dwell above normal, missed connection,
nothing heard for hours, off the planned route. Alerts are stored like any event, so they reach
timelines, the stream and subscriptions; the event time is chosen so a repeat collapses onto it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection

from ..domain.events import Classifier, Event, EventKind
from ..store import db as _db
from ..store import tracking as repo
from .eta import ABOARD, Eta, Places, StoredDepartures, current_places, observed, trip_etas

LATE_TOLERANCE = timedelta(hours=6)
SILENT_HOURS = 24.0
DEFAULT_DWELL_HOURS = 72.0   # above this at one facility is abnormal where no history says otherwise
# a time-driven alert that fell due longer ago than this is not raised afresh: the sweeps that ran
# then (every minute) raised it. A box silent for months is not read again at every sweep.
RAISED_WITHIN = timedelta(days=7)


def alert(status: dict, code: str, when: datetime, reason: str, *, location: str | None = None,
          parties: frozenset[str] = frozenset(), extra: dict | None = None) -> Event:
    """An ALERT event about one trip, visible to the trip's parties."""
    refs = (("BKG", status["booking_ref"]),) if status.get("booking_ref") else ()
    return Event(kind=EventKind.ALERT, code=code, classifier=Classifier.ACT, event_time=when,
                 location=location or status.get("location"), equipment=status["equipment"],
                 references=refs, trip_id=status["trip_id"], source_party="CORRIDOR",
                 parties=parties or frozenset(status["parties"].split()), reason=reason, extra=extra or {})


def on_eta(status: dict, eta: Eta | None, ctx: dict, places: Places, said=(), now: datetime | None = None
           ) -> list[Event]:
    """Alerts that follow from a new ETA: LATE, MISS, OFFR.

    `said`: the (booked departure, how) of the MISS alerts the trip has had (`how`: expected,
    cancelled or missed; None for an alert stored before `how` was kept: said in some form). A
    missed connection (the first booked departure the ETA cannot make) is news once, whether
    foreseen or found when the departure has left (the forecast come true tells the shipper
    nothing new), and again only when the departure is cancelled: not at every later move, nor
    when the next departure with space it suggests changes (the published ETA follows that).
    `now`: the sweep's time, where it lays the ETA (a departure gone before it was missed,
    whatever the box's last report)."""
    out: list[Event] = []
    promised = ctx.get("promised_arrival")
    if eta is not None and promised is not None and eta.at > promised + LATE_TOLERANCE:
        hours = (eta.at - promised).total_seconds() / 3600
        out.append(alert(status, "LATE", promised, f"expected {eta.at.isoformat()}, {hours:.0f} h after the "
                         f"promised arrival {promised.isoformat()}", location=places.ref_of.get(ctx["destination"]),
                         extra={"eta": eta.at.isoformat(), "promised": promised.isoformat()}))
    # the first booked departure the box misses: those after it are its consequences (the published
    # ETA says where they lead); each is alerted when it is the next one missed
    for i, (booked, nxt) in enumerate(eta.missed[:1] if eta else ()):
        how, text = _missing(status, booked, eta.missed_as[i] if i < len(eta.missed_as) else None, now)
        if any((booked, h) in said for h in _SAID_AS[how]):
            continue
        out.append(alert(status, "MISS", _found(status, how, eta.missed_as[i] if i < len(eta.missed_as) else None,
                                                now) or eta.at,
                         f"{text}; next with space: {nxt}", extra={"booked": booked, "next": nxt, "as": how}))
    if ctx.get("off_route") and status.get("location"):
        stops = ", ".join(sorted(places.ref_of.get(s, s) for s in ctx["booked_stops"]))
        out.append(alert(status, "OFFR", status.get("since") or status["last_heard_at"],
                         f"reported at {status['location']}, which is not on the booked route ({stops})"))
    return out


# what a MISS said before keeps one of each `how` from being said again
_SAID_AS = {"expected": ("expected", "missed", None), "missed": ("expected", "missed", None),
            "cancelled": ("cancelled", None)}


def _missing(status: dict, booked: str, as_read: tuple[str, datetime] | None,
             now: datetime | None = None) -> tuple[str, str]:
    """(how, what) a MISS says of the booked departure: cancelled, expected (still to leave, but
    the box will not be there in time: a forecast days ahead is not a miss yet) or missed. Still
    to leave: after the box's last report and, in a sweep, after `now`."""
    if as_read is not None and as_read[0] == "cancelled":
        return "cancelled", f"the booked departure {booked} is cancelled"
    heard = status.get("last_heard_at")
    if now is not None:
        heard = now if heard is None else max(heard, now)
    if as_read is not None and heard is not None and as_read[1] > heard:
        return "expected", f"expected to miss the booked departure {booked} (it leaves {as_read[1].isoformat()})"
    return "missed", f"missed the booked departure {booked}"


def _found(status: dict, how: str, as_read: tuple[str, datetime] | None, now: datetime | None) -> datetime | None:
    """When a MISS became known: at the box's last report (not when its state began: a box put on
    a train at Xi'an a week before the report that shows it late was not late then); found by a
    sweep after the departure left without a word, when it left."""
    heard = status.get("last_heard_at") or status.get("since")
    if now is not None and how == "missed" and as_read is not None and (heard is None or as_read[1] > heard):
        return min(as_read[1], now)
    return heard


def sweep(conn: Connection, now: datetime, *, silent_hours: float = SILENT_HOURS,
          said: set[tuple] | frozenset = frozenset()) -> tuple[list[Event], set[tuple]]:
    """Time-driven alerts for open trips: SILN (nothing heard) and DWEL (dwell above normal).

    Silence is counted from the last report, or from the next move the box's plan expected after
    it when that is later (`expected_moves`): a box waiting for its departure, or aboard a train
    still on its way, is not silent. A box at a facility whose expected departure left without it
    is not alerted silent when a MISS said so already (`_announced`): that departure booked, and
    foreseen missed, missed or cancelled. `said`: (trip, code, place, event time) of the alerts an
    earlier sweep of this process stored, or found said by such a MISS; they are not made again (a
    box silent for weeks was alerted again at every sweep, to be dropped as a duplicate only when
    stored). Returns the new alerts and every (trip, code, place, event time) due now: the next
    sweep's `said`."""
    hist = observed(conn, str(conn.engine.url))   # the ETA's history, cached: this runs every minute
    out: list[Event] = []
    due: set[tuple] = set()
    silent = timedelta(hours=silent_hours)
    # no dwell limit is below the smallest normal high anywhere (or the default): younger stays are
    # not read, nor those whose dwell alert fell due before RAISED_WITHIN, nor long-silent boxes
    limits = [DEFAULT_DWELL_HOURS, *(s.high for s in hist.dwell.values())]
    rows = repo.alert_candidates(conn, (now - silent - RAISED_WITHIN, now - silent),
                                 (now - timedelta(hours=max(limits)) - RAISED_WITHIN,
                                  now - timedelta(hours=min(limits))))
    quiet = [s for s in rows if s["last_heard_at"] is not None and now - s["last_heard_at"] > silent]
    moves = expected_moves(conn, quiet)
    arrived = at_destination(conn, [s for s in quiet if s["state"] == "at_facility" and s["trip_id"] not in moves])
    silences: list[tuple[dict, datetime, tuple | None]] = []   # due, and not said by this process yet
    for s in quiet:
        if s["trip_id"] in arrived:
            continue   # waiting for its consignee: no move is due, so silence is no news (a long stay is DWEL)
        heard, move = s["last_heard_at"], moves.get(s["trip_id"])
        start = move[0] if move is not None and move[0] > heard else heard
        if now - RAISED_WITHIN <= start + silent < now:
            due.add(k := (s["trip_id"], "SILN", s["location"], start + silent))
            if k not in said:
                silences.append((s, start, move))
    # read only for boxes at a facility whose expected departure left without them (a day ago at
    # least, as their silence is due) and whose silence this process has not said yet: few
    announced = _announced(conn, {s["trip_id"]: move[2] for s, _, move in silences
                                  if s["state"] == "at_facility" and move is not None and move[2] is not None})
    for s, start, move in silences:
        if s["trip_id"] in announced:
            continue   # the MISS of the departure it was left behind by said it; a long stay is still DWEL
        heard = s["last_heard_at"]
        hours = (now - heard).total_seconds() / 3600
        why = f"nothing heard since {heard.isoformat()} ({hours:.0f} h)"
        out.append(alert(s, "SILN", start + silent, f"{why}; {move[1]}" if start > heard else why))
    for s in rows:
        if s["state"] == "at_facility" and s.get("since"):
            normal = hist.dwell.get(s["location"])
            limit = normal.high if normal else DEFAULT_DWELL_HOURS
            at = s["since"] + timedelta(hours=limit)
            if now - RAISED_WITHIN <= at < now:
                due.add(k := (s["trip_id"], "DWEL", s["location"], at))
                if k not in said:
                    out.append(alert(s, "DWEL", at, f"at {s['location']} since {s['since'].isoformat()}, above the "
                                     f"normal {limit:.0f} h dwell there", extra={"limit_hours": limit}))
    return out, due


def _announced(conn: Connection, left_behind: dict[str, str]) -> set[str]:
    """Trip ids of `left_behind` (trip id -> the departure its box waited for at a facility, gone
    without it) that had a MISS naming that departure as booked (foreseen, missed or cancelled):
    that MISS told the shipper already, so the silence after it is no news. One query per 500
    trips, on the trip index."""
    if not left_behind:
        return set()
    said = repo.alerted_pairs(conn, list(left_behind), "MISS", "CORRIDOR", ("booked", "as"))
    return {t for t, dep in left_behind.items() if any(booked == dep for booked, _ in said.get(t, ()))}


def at_destination(conn: Connection, rows: list[dict]) -> set[str]:
    """Trip ids of `rows` (status rows) whose box is at the place its trip ends: the destination of
    its booking (its last active leg's end without a booking row), or, unbooked, of its sender's
    latest plan or estimate."""
    if not rows:
        return set()
    places = current_places(conn)
    plans = repo.booking_plans(conn, [s.get("booking_ref") for s in rows])
    dest: dict[str, str | None] = {}
    for s in rows:
        legs, end, _ = plans.get(s.get("booking_ref") or "") or ((), None, None)
        end = end or (legs[-1][1] if legs else None)
        dest[s["trip_id"]] = places.id_of.get(end) if end else None
    unplanned = [t for t, d in dest.items() if d is None]
    for t, ref in repo.planned_places(conn, unplanned).items():
        dest[t] = places.id_of.get(ref)
    return {s["trip_id"] for s in rows
            if dest[s["trip_id"]] is not None and places.id_of.get(s.get("location") or "") == dest[s["trip_id"]]}


# what an expected move depends on: the status as the box's reports left it (the sweep laying the
# ETA again on a later departure changes none of these, so it does not move the silence on)
_REPORTED = ("state", "location", "departure_id", "since", "last_heard_at", "booking_ref")
# store URL -> trip -> (its _REPORTED values, expected move): one laying per trip and report, not per sweep.
# Each sweep keeps only the trips it was given; a store's entry goes when the store is disposed
_MOVES: dict[str, dict[str, tuple]] = {}


def _forget_moves(store) -> None:
    for k in store.cache_keys():
        _MOVES.pop(k, None)


_db.BEFORE_DISPOSE.append(_forget_moves)


def expected_moves(conn: Connection, rows: list[dict]) -> dict[str, tuple[datetime, str, str | None]]:
    """Trip id -> (when, what, departure id or None) of the next move the box's plan expected after
    its last report, for those of `rows` (status rows, as `alert_candidates` gives) that have one.

    A box at a facility is expected to leave on the first departure its ETA was laid on from its
    reports (`next_departs_at` until the sweep lays it again on a later one: when that departure
    left without a word the box is overdue from then, not from the next; unless a MISS said that
    booked departure went without it, which `sweep` reads for these few). A box aboard is expected
    where its vehicle sets it down: the timetabled arrival of the departure it is aboard, or the
    end of the ride laid for a vehicle known by its moves. Never a later leg's departure: that
    would add the transfer and the wait at the next yard or port to a train nobody has heard of.
    The laying is the ETA's own (`trip_etas`, without the sweep's `not_before`), kept per trip
    until its reports change or the departure it names is changed by a notice."""
    url = str(conn.engine.url)
    memo, kept = _MOVES.get(url, {}), {}
    src = StoredDepartures(conn)
    need: list[dict] = []
    for s in rows:
        if s["state"] not in ABOARD and not (s.get("next_departs_at") and s["next_departs_at"] > s["last_heard_at"]):
            continue   # nothing laid after its last report
        hit = memo.get(s["trip_id"])
        if hit is not None and hit[0] == tuple(s.get(c) for c in _REPORTED) and _unchanged(hit[1], src):
            kept[s["trip_id"]] = hit
        else:
            need.append(s)
    if need:
        sts = repo.statuses(conn, [s["trip_id"] for s in need])
        sts = [sts[s["trip_id"]] for s in need if s["trip_id"] in sts]
        places = current_places(conn)
        for st, (eta, _) in zip(sts, trip_etas(conn, sts, key=url, places=places)):
            kept[st["trip_id"]] = (tuple(st.get(c) for c in _REPORTED), _next_move(st, eta, src, places))
    _MOVES[url] = kept
    out = {t: v[1][:3] for t, v in kept.items() if v[1] is not None}
    _ride_along(rows, out)
    return out


def _ride_along(rows: list[dict], moves: dict[str, tuple]) -> None:
    """A box aboard with no move of its own (no destination known: nothing is laid for it) takes
    the move of a box aboard the same vehicle at the same place, in the same stage of the run: the
    train sets both down together. Without it a box nobody booked here was silent a day into every
    long run (twin, 30 days: 343 such trips, 921 silence alerts). Not kept in `_MOVES`: the lender's
    move may change while the borrower's reports do not."""
    def ride(s: dict) -> tuple | None:
        if s["state"] not in ABOARD or not s.get("vehicle"):
            return None
        under_way = s.get("since") is not None and s["last_heard_at"] > s["since"]
        return s["vehicle"], s.get("location"), under_way
    lent: dict[tuple, tuple] = {}
    for s in rows:
        if (m := moves.get(s["trip_id"])) is not None and (k := ride(s)) is not None:
            lent.setdefault(k, m)
    for s in rows:
        if s["trip_id"] not in moves and (k := ride(s)) in lent:
            moves[s["trip_id"]] = lent[k]


def _next_move(st: dict, eta: Eta | None, src: StoredDepartures, places: Places) -> tuple | None:
    """(when, what, departure id, its (status, departs, arrives) as read) of the move expected next.
    Without an ETA (no destination known) only a box aboard a known departure has one."""
    if eta is None and st["state"] not in ABOARD:
        return None
    if st["state"] in ABOARD:
        # put aboard (or stopped on the way) and not heard since: its vehicle is due to leave, and
        # a box on a train that never left is overdue a day after it should have, not after its run
        heard = st["last_heard_at"]
        under_way = st.get("since") is not None and heard > st["since"]
        ride = eta.legs[0] if eta is not None and eta.legs and eta.legs[0].departure_id is None else None
        if ride is not None:
            if not under_way and ride.departs_at > heard:
                return (ride.departs_at, f"its vehicle was due to leave {places.ref_of.get(ride.origin, ride.origin)} "
                        f"at {ride.departs_at.isoformat()}", None, None)
            return (ride.arrives_at, f"its vehicle was due at {places.ref_of.get(ride.destination, ride.destination)} "
                    f"at {ride.arrives_at.isoformat()}", None, None)
        d = src.departure(st["departure_id"]) if st.get("departure_id") else None
        if d is None:
            return None   # arrived aboard where it is set down: that report is due now
        if not under_way and d.departs_at > heard:   # (a train heard leaving under a new number is under way)
            return (d.departs_at, f"its departure {d.id} was due to leave {places.ref_of.get(d.origin, d.origin)} "
                    f"at {d.departs_at.isoformat()}", d.id, (d.status, d.departs_at, d.arrives_at))
        at = min(d.arrives_at, heard + (d.arrives_at - d.departs_at))   # no later than its run from when heard
        return (at, f"its departure {d.id} was due at {places.ref_of.get(d.destination, d.destination)} "
                f"at {at.isoformat()}", d.id, (d.status, d.departs_at, d.arrives_at))
    n = eta.next_departure()
    if n is None:
        return None
    d = src.departure(n.departure_id)
    return (n.departs_at, f"its departure {n.departure_id} was due to leave "
            f"{places.ref_of.get(n.origin, n.origin)} at {n.departs_at.isoformat()}", n.departure_id,
            (d.status, d.departs_at, d.arrives_at) if d else None)


def _unchanged(move: tuple | None, src: StoredDepartures) -> bool:
    """Whether the departure a kept move names is as it was (a notice may have delayed or cancelled it)."""
    if move is None or move[2] is None:
        return True
    d = src.departure(move[2])
    return d is not None and (d.status, d.departs_at, d.arrives_at) == move[3]
