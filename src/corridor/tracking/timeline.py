"""Timelines: a container trip (or a booking's trips) as legs and milestones with planned,
estimated and actual times, the current state from `trip_status`, the latest position joined to
its leg, the ETA with its range, and the alerts. Reads only what the viewer may see.

A trip's timeline depends on its events and on one row (`store.reads.head_query`: the trips row,
the status row, the booking's destination, the newest event seq, the stored timeline's row).

The part made from the events (legs, milestones, alerts) is kept up to date as events arrive:
`fold_in`, a step of the status fold in the ingest transaction, folds each trip's new events into
its stored milestones (`trip_milestones`: each as folded and as sent; only those an event makes or
changes are written) and alerts (`trip_timelines`). A read of a whole trip takes them (one indexed
range read) when they have folded the trip's newest event with the place names and zones in use;
otherwise (events from before the tables, a network change not folded yet) the timeline is built
from the trip's events, as it always was. Either way the answer is the same document.

A timeline that shows every event of the trip (to the administrator and to the trip's own
parties) is also kept per process with its head row; a read compares the row, so a new event or
ETA is seen at once. Viewers who see part of a trip (operators, authorities) get it built from the
events they may see, each time.
"""

from __future__ import annotations

import hashlib
import json
import threading
import weakref
from collections import OrderedDict, namedtuple
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, or_, select

from ..access.visibility import Viewer, booking_clause, event_clause, trip_clause
from ..domain.equipment import is_container_number
from ..domain.events import Event
from ..store import reads
from ..store import tracking as repo
from ..store.retractions import visible
from ..store.tables import bookings, events, locations, trips

KIND = {"LOAD": "load", "DEPA": "depart", "ARRI": "arrive", "DISC": "discharge", "GTIN": "gate_in",
        "GTOT": "gate_out", "PICK": "pick_up", "DROP": "drop_off", "STUF": "stuff", "STRP": "strip",
        "INSP": "inspect"}
KEPT_PER_STORE = 4096   # timelines kept (as JSON, about 6 kB each) per store and process


def event_json(seq: int, e: Event, received_at: datetime | None = None) -> dict:
    """Corridor's own JSON of one event (API, stream, Corridor-format webhooks)."""
    tc = e.transport_call
    return {"seq": seq, "kind": e.kind.value, "code": e.code, "classifier": e.classifier.value,
            "event_time": e.event_time.isoformat(), "location": e.location, "equipment": e.equipment,
            "trip_id": e.trip_id, "references": [list(r) for r in e.references],
            "mode": tc.mode if tc else None, "voyage": tc.voyage if tc else None,
            "vehicle": tc.vehicle if tc else None, "departure_id": tc.departure_id if tc else None,
            "wagon": tc.wagon if tc else None, "lat": e.lat, "lon": e.lon, "source_party": e.source_party,
            "reason": e.reason, "extra": e.extra or None,
            "received_at": received_at.isoformat() if received_at else None}


@lru_cache(maxsize=512)
def _offset(minutes: int) -> timezone:
    return timezone(timedelta(minutes=minutes))


def sender_time(e) -> datetime:
    """An event row's time in the sender's offset, as the log keeps it (`store.events.row_to_event`)."""
    return e.event_time.astimezone(_offset(e.event_offset))


def _places(conn: Connection) -> dict[str, dict]:
    """Location ref -> name, border, gauge change (cached per store)."""
    return repo.cached(conn, "timeline-places", _read_places)


def _read_places(conn: Connection) -> dict[str, dict]:
    out = {}
    for r in conn.execute(select(locations.c.id, locations.c.code, locations.c.name, locations.c.facility_type,
                                 locations.c.data)).all():
        # ref: the one name a timeline gives the place (UN/LOCODE, else id: as ingest and the booked
        # plan name it), so a report naming it by the other joins the milestones there
        info = {"name": r.name, "border": r.facility_type == "BOCR",
                "gauge_change": len(set((r.data or {}).get("gauges", ()))) > 1, "ref": r.code or r.id}
        out[r.id] = info
        if r.code:
            out[r.code] = info
    return out


_FIELD = {"PLN": "planned", "EST": "estimated", "ACT": "actual"}


def milestones(items: list, places: dict[str, dict]) -> list[dict]:
    """Milestones (one per code, place and vehicle) with planned/estimated/actual; latest report wins.
    `items`: a trip's event rows (`store.reads.EVENT_FACTS`) in append order."""
    ms: dict[tuple, dict] = {}
    _fold(ms, [], items, places)
    return _in_order(ms)


_NOT_MILESTONES = frozenset(("IOT", "ALERT", "SHIPMENT"))   # event kinds that make no milestone


def _fold(ms: dict[tuple, dict | tuple], alerts: list[list], items: list, places: dict[str, dict],
          changed: set | None = None) -> None:
    """Fold event rows (append order, after those folded before) into milestones `ms` (keyed by code,
    place and a tag of their own, in the order first made; times as the sender gave them) and
    `alerts` ([code, sender's time, reason, place]): all that a timeline takes from the events.

    One milestone per move of the box: a report joins the milestone of its code at its place (its
    UN/LOCODE or id: `_where`) on the vehicle it names, else one no vehicle is named on yet (the
    booked plan's, the ETA's); an actual report fills the booked plan's milestone there that has no
    actual yet, whichever vehicle was expected on it (the box rode another train or sailing than
    booked): the planned time stands beside the actual one, the booked vehicle beside the one that
    carried the box (`as_booked`).

    A milestone in `ms` may be as stored (`_unstored`), read when an event may join it; `changed`
    collects the keys of the milestones made or changed."""
    at: dict[tuple, list] = {}   # (code, place) -> the keys of the milestones there, in order
    for k in ms:
        at.setdefault(k[:2], []).append(k)
    for e in items:
        if e.kind == "ALERT":
            alerts.append([e.code, sender_time(e).isoformat(), e.reason, e.location])
        if e.kind in _NOT_MILESTONES:
            continue
        p = places.get(e.location or "")
        where = p["ref"] if p else e.location
        booked = e.kind == _BOOKED
        call = not booked and (e.mode or e.voyage or e.vehicle or e.departure_id or e.facility_code)
        vehicle = (e.voyage or e.vehicle or e.departure_id) if call else None
        field = _FIELD[e.classifier]
        here = at.get((e.code, where))
        key, take = _join(ms, here, e, vehicle, field == "actual") if here else (None, False)
        if key is None:
            key = (e.code, where, -len(ms) - 1)   # a tag of its own (stored ones: their row number)
            at.setdefault(key[:2], []).append(key)
            m = ms[key] = {"code": e.code, "milestone": KIND.get(e.code, e.code.lower()), "location": where,
                           "vehicle": vehicle, "mode": (e.mode or "") if call else None,
                           "departure_id": e.departure_id if call else None,
                           "planned_vehicle": None, "planned_departure_id": None, "as_booked": None,
                           "planned": None, "estimated": None, "actual": None, "seq": e.seq}
        else:
            m = ms[key]
            if take:   # the vehicle named at last, or the one that carried the box: the milestone is on it
                m["vehicle"], m["mode"], m["departure_id"] = vehicle, e.mode or "", e.departure_id
        if booked:
            m["planned_vehicle"], m["planned_departure_id"] = e.voyage, e.departure_id
        if m["planned_departure_id"] is not None and m["vehicle"] is not None:
            # the booked departure, by its id or its voyage, or another (the report names another)
            m["as_booked"] = m["departure_id"] == m["planned_departure_id"] or \
                m["vehicle"] in (m["planned_vehicle"], m["planned_departure_id"])
        if field == "estimated":
            if not _supersedes(e.created_at, m.get("estimated_as_of")):
                continue   # an older estimate that arrived late: kept in the log, not current
            m["estimated_as_of"] = e.created_at.astimezone(timezone.utc).isoformat() if e.created_at else None
            m.pop("estimated_range", None)
            if e.extra and e.extra.get("eta_low"):
                m["estimated_range"] = [e.extra["eta_low"], e.extra["eta_high"]]
        m[field] = sender_time(e).isoformat()
        m["seq"] = max(m["seq"], e.seq)
        p = p or {}
        if p.get("border"):
            m["border_crossing"] = True
        if p.get("gauge_change"):
            m["gauge_change"] = True
        m["place"] = p.get("name")
        if changed is not None:
            changed.add(key)


def _join(ms: dict, keys: list[tuple], e, vehicle: str | None, actual: bool) -> tuple[tuple | None, bool]:
    """The milestone (among `keys`: those of the report's code and place, in order) a report of
    `vehicle` joins, and whether the vehicle takes it; (None, False): a milestone of its own."""
    for k in keys:
        if ms[k].__class__ is tuple:
            ms[k] = _unstored(*ms[k])
    if vehicle is None:   # a report without the vehicle (Corridor's ETA) joins that milestone
        return keys[0], False
    dep = e.departure_id
    for k in keys:   # the vehicle's own: by the name the report gives it, or its departure
        m = ms[k]
        v = m["vehicle"]
        if v is not None and (v == vehicle or v == e.vehicle or (dep is not None and m["departure_id"] == dep)):
            return k, False
    for k in keys:   # named on none yet (the booked plan, the ETA's estimate): now on this vehicle
        if ms[k]["vehicle"] is None:
            return k, True
    if actual:       # the booked move with no actual yet, expected on another vehicle: this one did it
        for k in keys:
            m = ms[k]
            if m["planned_departure_id"] is not None and m["actual"] is None:
                return k, True
    return None, False


def _supersedes(created: datetime | None, current: str | None) -> bool:
    """Whether an estimate created at `created` replaces the one made at `current` (UTC ISO): the
    one its sender created last is current (DCSA's eventCreatedDateTime); without both times,
    append order decides."""
    return created is None or current is None or created >= datetime.fromisoformat(current)


def _unstored(planned: str | None, estimated: str | None, actual: str | None, estimated_range: str | None,
              body: str) -> dict:
    """A milestone as folded, from its stored row: as sent, with the sender's times put back (the
    same keys in the same order: `_localize_milestone` changes only these values)."""
    m = json.loads(body)
    m["planned"], m["estimated"], m["actual"] = planned, estimated, actual
    if estimated_range is not None:
        m["estimated_range"] = json.loads(estimated_range)
    return m


def _in_order(ms: dict[tuple, dict]) -> list[dict]:
    return sorted(ms.values(), key=lambda m: (_instant(m["actual"] or m["estimated"] or m["planned"]), m["seq"]))


_NEVER = datetime.min.replace(tzinfo=timezone.utc)


@lru_cache(maxsize=65536)
def _instant(moment: str | None) -> datetime:
    """The instant of a sender's time (the order of milestones is in time, not in the text: senders
    give +08:00, +05:00 and Z, and a 14:35+08:00 comes before a 12:35+05:00)."""
    return datetime.fromisoformat(moment) if moment else _NEVER


def legs(ms: list[dict]) -> list[dict]:
    """Movements on one vehicle: from its first load/depart to its last arrive/discharge."""
    out: dict[str, dict] = {}
    for m in ms:
        if not m["vehicle"] or m["code"] not in ("LOAD", "DEPA", "ARRI", "DISC"):
            continue
        leg = out.setdefault(m["vehicle"], {"vehicle": m["vehicle"], "mode": m["mode"], "departure_id": m["departure_id"],
                                            "from": None, "to": None, "depart": None, "arrive": None})
        times = {k: m[k] for k in ("planned", "estimated", "actual")}
        if m["code"] in ("LOAD", "DEPA") and (leg["depart"] is None or m["code"] == "DEPA"):
            leg["from"], leg["depart"] = m["location"], times
        if m["code"] in ("ARRI", "DISC") and (leg["arrive"] is None or m["code"] == "ARRI"):
            leg["to"], leg["arrive"] = m["location"], times
    return list(out.values())


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local(moment: datetime | str | None, place: str | None, zones: dict[str, str]) -> str | None:
    """ISO 8601 of `moment` in the local time of `place` (its IANA zone's offset); UTC offset kept
    when the place is unknown."""
    if moment is None:
        return None
    tz = zones.get(place or "")
    if isinstance(moment, str):
        return _local_text(moment, tz)
    return (moment.astimezone(_zone(tz)) if tz else moment).isoformat()


@lru_cache(maxsize=65536)
def _local_text(moment: str, tz: str | None) -> str:
    """`local` of a sender's time as text: a trip's timeline is made again at each of its events,
    from mostly the same times."""
    t = datetime.fromisoformat(moment)
    return (t.astimezone(_zone(tz)) if tz else t).isoformat()


def _localize(ms: list[dict], ls: list[dict], zones: dict[str, str]) -> None:
    """Milestone and leg times in the local time of their place (after sorting on UTC)."""
    for m in ms:
        _localize_milestone(m, zones)
    for leg in ls:
        for end, place in (("depart", leg["from"]), ("arrive", leg["to"])):
            if leg[end]:
                leg[end] = {k: local(v, place, zones) for k, v in leg[end].items()}


def _localize_milestone(m: dict, zones: dict[str, str]) -> dict:
    for k in ("planned", "estimated", "actual"):
        m[k] = local(m[k], m["location"], zones)
    if m.get("estimated_range"):
        m["estimated_range"] = [local(x, m["location"], zones) for x in m["estimated_range"]]
    return m


def _leg_at(spans: list, when: str) -> str | None:
    """The vehicle of the leg under way at `when`; `spans`: [vehicle, actual departure, actual arrival]
    of each leg, as the sender gave them."""
    for vehicle, dep, arr in spans:
        if dep and dep <= when and (arr is None or when <= arr):
            return vehicle
    return None


# --- reads ----------------------------------------------------------------------------------------

_QUERIES = {"status": reads.status_query, "head": reads.head_query}


def _prepared(conn: Connection, what: str, by: str, v: Viewer) -> reads.Prepared:
    """The statement of `what` by `by` for this viewer: compiled per viewer only when visibility
    narrows it (the administrator's has no clause)."""
    if v.sees_all:
        return reads.prepared(conn, (what, by, None), _QUERIES[what], by)
    return reads.prepared(conn, (what, by, v), lambda: _QUERIES[what](by, trip_clause(v)))


def _find(conn: Connection, what: str, ref: str, v: Viewer) -> tuple | None:
    """The row of the viewer's latest visible trip of a container number, or of a trip id.

    Container numbers are 11 characters and Corridor's trip ids longer ('<box>-<start>'), so the
    likely column is read first and the other only when that finds nothing (one indexed read)."""
    up = ref.upper()
    if len(up) == 11:
        rows = _prepared(conn, what, "equipment", v).rows(conn, up) or \
            _prepared(conn, what, "trip", v).rows(conn, ref)
    else:
        rows = _prepared(conn, what, "trip", v).rows(conn, ref) or \
            _prepared(conn, what, "equipment", v).rows(conn, up)
    return rows[0] if rows else None


def container_status(conn: Connection, ref: str, v: Viewer):
    """The status of the viewer's latest visible trip of a container number or trip id: its
    `trip_status` row (as `status.get` has it, as a named tuple) with `trip`, the trip id; None
    when there is no such trip or nothing has been heard of it yet."""
    row = _find(conn, "status", ref, v)
    return None if row is None or row.trip_id is None else row


def latest_trip(conn: Connection, ref: str, v: Viewer) -> str | None:
    """A trip id given as such, or the viewer's latest visible trip of a container number."""
    row = _find(conn, "status", ref, v)
    return row.trip if row else None


class _Kept:
    """A timeline's JSON and what it was built from (the head row, zones and places)."""

    __slots__ = ("stamp", "zones", "places", "body")

    def __init__(self, stamp: tuple, zones: dict, places: dict, body: bytes):
        self.stamp, self.zones, self.places, self.body = stamp, zones, places, body


class _Shelf:
    """Kept timelines of one store, least recently read dropped first."""

    def __init__(self):
        self.items: OrderedDict[str, _Kept] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, trip_id: str) -> _Kept | None:
        with self.lock:
            k = self.items.get(trip_id)
            if k is not None:
                self.items.move_to_end(trip_id)
            return k

    def put(self, trip_id: str, kept: _Kept) -> None:
        with self.lock:
            self.items[trip_id] = kept
            self.items.move_to_end(trip_id)
            while len(self.items) > KEPT_PER_STORE:
                self.items.popitem(last=False)


_SHELVES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()   # engine -> _Shelf


def _shelf(conn: Connection) -> _Shelf:
    s = _SHELVES.get(conn.engine)
    if s is None:
        s = _SHELVES.setdefault(conn.engine, _Shelf())
    return s


def forget(conn: Connection | None = None) -> None:
    """Drop the kept timelines (of one store, or all): the next reads build them again."""
    if conn is None:
        _SHELVES.clear()
    else:
        _SHELVES.pop(conn.engine, None)


def _same(k: _Kept, zones: dict, places: dict) -> bool:
    """The kept timeline was made with these zones and places (reread every minute: compared
    once by content, then by identity)."""
    if k.zones is zones and k.places is places:
        return True
    if k.zones == zones and k.places == places:
        k.zones, k.places = zones, places
        return True
    return False


def _timeline(conn: Connection, h, v: Viewer) -> tuple[dict | None, bytes | None]:
    """(doc, body) of one head row's timeline as the viewer may see it: a JSON body kept or made
    from the stored timeline (no doc), or a doc just built, with its body when it is kept (a whole
    trip, seen by its parties)."""
    whole = v.sees_all or f'"{v.id}"' in (h.parties or "")   # the trip's own party sees all its events
    zones, places = repo.zones(conn), _places(conn)
    if not whole:
        q = reads.prepared(conn, ("events", v), lambda: reads.trip_events_query(_standing(event_clause(v))))
        return _build(h, q.rows(conn, h.id), zones, places), None
    shelf = _shelf(conn)
    k = shelf.get(h.id)
    if k is not None and k.stamp == h and _same(k, zones, places):
        return None, k.body
    if _current(h, zones, places):
        doc = None
        q = reads.prepared(conn, ("milestones",), reads.milestones_query)
        tail, dest, spans = _stored(q.rows(conn, h.id), h.tl_alerts)
        body = _json(_head(h, h.destination or dest, spans, zones))[:-1] + b"," + tail.encode("utf-8") + b"}"
    else:
        q = reads.prepared(conn, ("events", None), lambda: reads.trip_events_query(visible()))
        plan = _plan_facts(repo.booked_plans(conn, [h.id]).get(h.id, ())) if h.booking_ref else []
        doc = _build(h, plan + list(q.rows(conn, h.id)), zones, places)
        body = _json(doc)
    shelf.put(h.id, _Kept(h, zones, places, body))
    return doc, body


def _standing(clause):
    """A viewer's events clause narrowed to the events no retraction withdrew (store.retractions)."""
    return visible() if clause is None else and_(clause, visible())


def _current(h, zones: dict, places: dict) -> bool:
    """The stored timeline of head row `h` has every event of the trip, made with these zones and
    places: a read takes its milestones, not the events."""
    return h.tl_last_seq is not None and h.tl_last_seq == h.newest_seq and h.tl_basis == _basis(zones, places)


def stored_is_current(conn: Connection, trip_id: str) -> bool:
    """Whether a whole-trip read of `trip_id` now takes its stored timeline (else it is built from
    the events): what a benchmark on a kept store checks it measures."""
    rows = reads.prepared(conn, ("head", "trip", None), reads.head_query, "trip").rows(conn, trip_id)
    return bool(rows) and _current(rows[0], repo.zones(conn), _places(conn))


_LEG_CODES = frozenset(("LOAD", "DEPA", "ARRI", "DISC"))


def _stored(rows: list, alerts: str) -> tuple[str, str | None, list]:
    """The "legs", "milestones" and "alerts" of a body from stored milestone rows
    (`store.reads.milestones_query`) and alerts, as `_build` makes them; and what its head takes
    from them: the last estimated discharge place, the legs' spans."""
    rows = sorted(rows, key=lambda r: (_instant(r.actual or r.estimated or r.planned), r.seq))
    out: dict[str, list] = {}   # as `legs` makes them: vehicle -> [its first milestone, depart, arrive]
    for r in rows:
        if not r.vehicle or r.code not in _LEG_CODES:
            continue
        leg = out.get(r.vehicle)
        if leg is None:
            leg = out[r.vehicle] = [r, None, None]
        if r.code in ("LOAD", "DEPA") and (leg[1] is None or r.code == "DEPA"):
            leg[1] = r
        if r.code in ("ARRI", "DISC") and (leg[2] is None or r.code == "ARRI"):
            leg[2] = r
    # a leg's times are those of its milestones, at the same place: as sent already
    sent = ",".join(f'{{"vehicle":{_text(v)},"mode":{_text(first.mode)},"departure_id":{_text(first.departure_id)},'
                    f'"from":{_text(dep.location) if dep else "null"},"to":{_text(arr.location) if arr else "null"},'
                    f'"depart":{dep.times if dep else "null"},"arrive":{arr.times if arr else "null"}}}'
                    for v, (first, dep, arr) in out.items())
    spans = [[v, dep.actual if dep else None, arr.actual if arr else None] for v, (_, dep, arr) in out.items()]
    dest = next((r.location for r in reversed(rows) if r.code == "DISC" and r.estimated), None)
    return f'"legs":[{sent}],"milestones":[{",".join(r.body for r in rows)}],"alerts":{alerts}', dest, spans


def _doc(answer: tuple[dict | None, bytes | None]) -> dict:
    doc, body = answer
    return doc if doc is not None else json.loads(body)   # a fresh dict: the caller may change it


def _build(h, items: list, zones: dict[str, str], places: dict[str, dict]) -> dict:
    """The timeline of head row `h` from its event rows `items` (append order)."""
    ms: dict[tuple, dict] = {}
    alerts: list[list] = []
    _fold(ms, alerts, items, places)
    ls, mss, als, dest, spans = _parts(_in_order(ms), alerts, zones)
    return {**_head(h, h.destination or dest, spans, zones), "legs": ls, "milestones": mss, "alerts": als}


def _parts(ms: list[dict], alerts: list[list], zones: dict[str, str]) -> tuple:
    """(legs, milestones, alerts) of a timeline in local times, from its folded milestones (in
    order; localised in place) and alerts; and what its head takes from them: the last estimated
    discharge place, and the legs' spans (`_leg_at`)."""
    ls = legs(ms)
    spans = [[leg["vehicle"], (leg["depart"] or {}).get("actual"), (leg["arrive"] or {}).get("actual")] for leg in ls]
    dest = next((m["location"] for m in reversed(ms) if m["code"] == "DISC" and m["estimated"]), None)
    _localize(ms, ls, zones)
    als = [{"code": code, "at": local(at, where, zones), "reason": reason, "location": where}
           for code, at, reason, where in _alerts_in_order(alerts)]
    return ls, ms, als, dest, spans


def _alerts_in_order(alerts: list[list]) -> list[list]:
    """Alerts ([code, sender's time, reason, place], in append order) in time order: by instant,
    not by the text (senders give different offsets); those at one instant in append order."""
    return sorted(alerts, key=lambda a: _instant(a[1]))


def _head(h, dest: str | None, spans, zones: dict[str, str]) -> dict:
    """A timeline's fields from its head row, in order, up to its legs: the trip, the status, the ETA
    (at `dest`: the booking's destination, else the last estimated discharge place) and the
    position (on the leg `spans` place it on)."""
    pos = None
    where = h.st_location
    if h.st_lat is not None:
        when = h.st_position_at.isoformat()
        pos = {"lat": h.st_lat, "lon": h.st_lon, "at": local(when, where, zones), "leg": _leg_at(spans, when)}
    has_status = h.st_trip_id is not None
    return {
        "trip_id": h.id, "equipment": h.equipment, "booking_ref": h.booking_ref,
        "starts_at": h.starts_at.isoformat(), "ends_at": h.ends_at.isoformat() if h.ends_at else None,
        "status": None if not has_status else {
            "state": h.st_state, "location": where, "vehicle": h.st_vehicle,
            "departure_id": h.st_departure_id, "since": local(h.st_since, where, zones),
            "last_heard_at": local(h.st_last_heard_at, where, zones), "timezone": zones.get(where or "")},
        "eta": None if not has_status or h.st_eta is None else {
            "eta": local(h.st_eta, dest, zones), "low": local(h.st_eta_low, dest, zones),
            "high": local(h.st_eta_high, dest, zones), "destination": dest, "timezone": zones.get(dest or "")},
        "position": pos,
    }


# json.dumps with these options, its encoder made once (dumps makes one per call for them)
_text = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def _json(doc: dict) -> bytes:
    """The body FastAPI's JSONResponse would send for `doc`."""
    return _text(doc).encode("utf-8")


_BASES: dict[tuple[int, int], tuple[dict, dict, str]] = {}


# the shape of a stored milestone; a timeline stored in another shape is folded again (2: the
# estimate's creation time, `estimated_as_of`, decides which estimate is current; 3: alerts in
# time order, not in the order stored; 4: places by one name, the booked vehicle kept beside the
# one that carried the box, an actual report fills the booked milestone whatever vehicle it names)
_FORMAT = 4


def _basis(zones: dict[str, str], places: dict[str, dict]) -> str:
    """A digest of the zones and place facts a timeline is made with: a stored timeline made with
    others is not used (the same on every process; worked out once per cached copy)."""
    hit = _BASES.get((id(zones), id(places)))
    if hit is not None and hit[0] is zones and hit[1] is places:
        return hit[2]
    digest = hashlib.sha256(json.dumps([_FORMAT, zones, places], sort_keys=True, separators=(",", ":")).encode()) \
        .hexdigest()[:32]
    if len(_BASES) >= 16:
        _BASES.clear()
    _BASES[(id(zones), id(places))] = (zones, places, digest)   # holds them: their ids stay theirs
    return digest


# --- kept up to date on ingest -------------------------------------------------------------------

_Fact = namedtuple("_Fact", reads.EVENT_FACTS)


def _fact(seq: int, e: Event) -> _Fact:
    """What the stored row of a just-stored event gives a timeline (`store.reads.EVENT_FACTS`, as
    `store.events.event_row` stores it), without reading it back."""
    tc = e.transport_call
    off = e.event_time.utcoffset()
    extra = e.extra or None
    if extra and "eta_low" in extra:   # the range a timeline shows: as the JSON column gives it back
        extra = json.loads(json.dumps(extra, separators=(",", ":"), default=str))
    return _Fact(seq, str(e.kind), e.code, str(e.classifier), e.event_time,
                 int(off.total_seconds() // 60) if off else 0, e.location, tc.mode if tc else None,
                 tc.voyage if tc else None, tc.vehicle if tc else None, tc.departure_id if tc else None,
                 tc.facility_code if tc else None, extra, e.reason, e.created_at)


def fold_in(conn: Connection, stored: dict[str, list[tuple[int, Event]]], prior: dict[str, int],
            replan: set[str] | frozenset = frozenset()) -> None:
    """Fold newly stored events into their trips' stored timelines (`trip_timelines`,
    `trip_milestones`), in the ingest transaction. `stored`: trip id -> its new events as (seq,
    event); `prior`: trip id -> the newest seq folded for the trip before them (its status row's
    `last_event_seq`; 0 when new).

    The new events are folded onto the stored milestones; only those they make or change are
    written (as sent, with the sender's times beside). A trip whose stored timeline is not at `prior` (events from
    before the tables; events folded out of their order) or was made with other place names or
    zones is folded again from all its events, read in one query. A trip folded from its start
    begins with its booking's plan (`_plan_facts`); the trips in `replan` (their booking was
    re-planned) take the new plan onto their stored milestones where that is what folding them
    again gives (`_replanned_onto`), else are folded again. A fixed number of queries per batch."""
    if not stored and not replan:
        return
    zones, places = repo.zones(conn), _places(conn)
    basis = _basis(zones, places)
    held = repo.timeline_heads(conn, sorted(set(stored) | set(replan)))
    items: dict[str, list] = {}
    heads, rows, anew = [], [], []
    again: list[str] = [t for t in replan if t not in stored]
    if again:
        done = _replanned_onto(conn, [t for t in again if t in held], held, basis, places, zones, heads, rows, anew)
        again = [t for t in again if t not in done]
    for t, new in stored.items():
        last, made_with = held[t][:2] if t in held else (0, basis)
        new = sorted(new, key=lambda p: p[0])
        if t not in replan and last == prior.get(t, 0) and new[0][0] > last and made_with == basis:
            items[t] = [_fact(seq, e) for seq, e in new]
        else:
            again.append(t)
    onto = [t for t in items if t in held]
    # the milestones the new events can join: same code, same place (what `_fold` looks up)
    kept = repo.milestone_rows(conn, {t: {(f.code, _where(places, f.location)) for f in items[t]
                                          if f.kind not in _NOT_MILESTONES} for t in onto}) if onto else {}
    items.update(repo.event_facts(conn, again))
    first = [t for t in items if t not in held or t in again]
    for t, legs in (repo.booked_plans(conn, first) if first else {}).items():
        items[t] = _plan_facts(legs) + items[t]
    for t, facts in items.items():
        ms: dict[tuple, dict | tuple] = {}   # in the order first reported: `_fold` joins the first
        ns: dict[tuple, int] = {}
        for n, code, where, _, row in kept.get(t, ()):
            ms[(code, where, n)], ns[(code, where, n)] = row, n
        changed: set[tuple] = set()
        alerts: list[list] = []
        _fold(ms, alerts, facts, places, changed)
        _, _, had, size = held[t] if t in held and t not in again else (0, 0, "[]", 0)
        for key, m in ms.items():
            if key in changed:
                n = ns.get(key)
                if n is None:   # a new milestone: after those there are
                    n, size = size, size + 1
                rows.append((t, n, *_stored_milestone(m, zones)))
        sent = [_text({"code": code, "at": local(at, where, zones), "reason": reason, "location": where})
                for code, at, reason, where in _alerts_in_order(alerts)]
        heads.append((t, facts[-1].seq, basis, _joined(had, sent), size))   # TIMELINE_COLUMNS
    repo.save_timelines(conn, heads, rows, again + anew)


def _stored_milestone(m: dict, zones: dict[str, str]) -> tuple:
    """A folded milestone's row (MILESTONE_COLUMNS after trip_id and n): as folded, as sent, and
    its times as sent."""
    sent = _localize_milestone(dict(m), zones)
    rng = m.get("estimated_range")
    times = f'{{"planned":{_iso(sent["planned"])},"estimated":{_iso(sent["estimated"])},' \
            f'"actual":{_iso(sent["actual"])}}}'
    return (m["code"], m["location"], m["vehicle"], m["mode"], m["departure_id"], m["planned"], m["estimated"],
            m["actual"], None if rng is None else _text(rng), m["seq"], _text(sent), times)


def _iso(moment: str | None) -> str:
    """A time as `_text` gives it (ISO 8601 text has nothing to escape), a fifth of the cost."""
    return "null" if moment is None else f'"{moment}"'


def _replanned_onto(conn: Connection, trip_ids: list[str], held: dict, basis: str, places: dict[str, dict],
                    zones: dict[str, str], heads: list, rows: list, anew: list) -> set[str]:
    """Take the re-planned booking's plan onto the stored milestones of its trips `trip_ids`
    without reading their events, where that gives what folding them again would; the trips done
    (their rows added to `heads`, `rows`; those renumbered to `anew`, their rows written anew).

    A timeline folded from its start holds its booking's plan first: the milestones the plan
    made, in order, the only ones with a booked departure. A re-routed booking keeps its legs up
    to where the box is and replaces the rest. Where no event has joined a milestone of the plan
    replaced (its seq is 0: none of the trip's events is at its code and place) and none is at
    the code and place of a milestone of the new plan (it would join that one), the events'
    milestones stay as they are: the new ones only take the place of the plan's after those
    kept (and the events' move along when the plan's count changes). Else the trip is folded
    again from its events. One query each for the newest seqs, the rows, and the plans."""
    newest = repo.newest_seqs(conn, trip_ids)
    # folded up to the trip's newest event, with these places and zones: else folded again
    trip_ids = [t for t in trip_ids if held[t][1] == basis and newest.get(t) == held[t][0]]
    if not trip_ids:
        return set()
    have, plans = repo.trip_milestone_rows(conn, trip_ids), repo.booked_plans(conn, trip_ids)
    made: dict[tuple, list] = {}   # plan -> its milestones' rows: a booking's trips share them
    done = set()
    for t in trip_ids:
        legs = tuple(plans.get(t, ()))
        plan = made.get(legs)
        if plan is None:
            ms: dict[tuple, dict] = {}
            _fold(ms, [], _plan_facts(legs), places)
            plan = made[legs] = [((m["code"], m["location"]), (m["planned"], m["planned_vehicle"],
                                  m["planned_departure_id"]), _stored_milestone(m, zones)) for m in ms.values()]
        old = have.get(t, [])
        new = _onto(old, plan) if len(old) == held[t][3] else None
        if new is None:
            continue
        done.add(t)
        if len(new) == len(old):   # as many milestones in the plan: only those that differ are written
            rows += [(t, n, *r) for n, (a, r) in enumerate(zip(old, new)) if a[2:] != r]
        else:                      # the events' milestones move along: all written anew
            anew.append(t)
            rows += [(t, n, *r) for n, r in enumerate(new)]
        heads.append((t, held[t][0], basis, held[t][2], len(new)))   # TIMELINE_COLUMNS
    return done


def _onto(old: list[tuple], plan: list[tuple]) -> list[tuple] | None:
    """A trip's stored milestone rows `old` (in order) with the booking's plan `plan` ((code and
    place, the plan's own fields, the row from `_stored_milestone`) of each milestone the plan
    makes, in order) in place of the plan they hold: the rows (after trip_id and n) a fold from
    the start makes; None when that is not the rows kept (`_replanned_onto`)."""
    held: list[dict | None] = []   # the plan's milestones lead: those with a booked departure
    for i, r in enumerate(old):
        if r[1] != i:
            return None
        if r[11] == 0:   # no event joined it: a milestone of the plan as it made it
            held.append(None)
            continue
        m = json.loads(r[12])
        if m.get("planned_departure_id") is None:
            break
        held.append(m)
    k = len(held)
    if any(r[11] == 0 for r in old[k:]):
        return None   # not a timeline folded from its start
    c = 0   # the milestones of the legs kept: those joined by events compared on what the plan gives them
    for r, m, (key, own, row) in zip(old, held, plan):
        if r[2:] != row and (m is None or (r[2], r[3]) != key
                             or (r[7], m["planned_vehicle"], m["planned_departure_id"]) != own):
            break
        c += 1
    if any(m is not None for m in held[c:]):
        return None   # an event joined a milestone of the plan replaced: it joins another from the start
    keys = {key for key, _, _ in plan[c:]}
    if any((r[2], r[3]) in keys for r in old[k:]):
        return None   # an event at a milestone of the new plan: it joins that one from the start
    return [r[2:] for r in old[:c]] + [row for _, _, row in plan[c:]] + [r[2:] for r in old[k:]]


_BOOKED = "BOOKED"   # the kind of `_plan_facts`: the booking's plan, not an event


def _plan_facts(legs) -> list[_Fact]:
    """A booking's active legs (`store.tracking.booked_plans`) as the planned departures and
    arrivals a timeline folds before the trip's events. The booked departure is kept as the
    planned vehicle; the vehicle that reports the move joins them, its actual time beside the
    planned one (`_fold`)."""
    out: list[_Fact] = []
    for dep, origin, destination, departs, arrives, voyage, _ in legs:
        for code, at, where in (("DEPA", departs, origin), ("ARRI", arrives, destination)):
            out.append(_Fact(0, _BOOKED, code, "PLN", at, 0, where, None, voyage, None, dep, None, None, None, None))
    return out


def _where(places: dict[str, dict], location: str | None) -> str | None:
    """The name a timeline gives a place (`_read_places`: UN/LOCODE, else id); unknown ones as given."""
    p = places.get(location or "")
    return p["ref"] if p else location


def _joined(array: str, more: list[str]) -> str:
    """The JSON text of the stored alerts `array` (in time order) with the new alerts `more` (JSON
    texts, in time order) merged in by instant: an alert stamped before one stored already (a MISS
    stamped when its departure left, a late report) goes before it; at one instant the stored one
    stays first (it was appended first), so the order is the one `_build` makes from the events."""
    if not more:
        return array
    if array == "[]":
        return f"[{','.join(more)}]"
    had = json.loads(array)
    if _instant(had[-1]["at"]) <= _instant(json.loads(more[0])["at"]):   # all after the stored (the usual case)
        return f"{array[:-1]},{','.join(more)}]"
    merged = sorted(had + [json.loads(a) for a in more], key=lambda a: _instant(a["at"]))   # stable: stored first
    return f"[{','.join(_text(a) for a in merged)}]"   # as stored: the same encoder made them


def trip_timeline(conn: Connection, trip_id: str, v: Viewer) -> dict | None:
    """The timeline of one trip as the viewer may see it; None when it does not exist for them."""
    rows = _prepared(conn, "head", "trip", v).rows(conn, trip_id)
    return _doc(_timeline(conn, rows[0], v)) if rows else None


def container_timeline(conn: Connection, ref: str, v: Viewer) -> dict | None:
    """The timeline of the viewer's latest visible trip of a container number (or of a trip id)."""
    row = _find(conn, "head", ref, v)
    return None if row is None else _doc(_timeline(conn, row, v))


def container_json(conn: Connection, ref: str, v: Viewer) -> bytes | None:
    """`container_timeline` as the JSON body of the API answer (kept with the timeline)."""
    row = container_head(conn, ref, v)
    return None if row is None else head_json(conn, row, v)


def container_head(conn: Connection, ref: str, v: Viewer):
    """The head row of the viewer's latest visible trip of a container number (or of a trip id),
    or None: the trip `container_json` shows, with its parties (`owners`)."""
    return _find(conn, "head", ref, v)


def head_json(conn: Connection, row, v: Viewer) -> bytes:
    """The JSON body of the timeline of a head row (`container_head`) as the viewer may see it."""
    doc, body = _timeline(conn, row, v)
    return body if body is not None else _json(doc)


def owners(row) -> set[str]:
    """The parties whose trip a head row is (as `access.visibility.owners_of` gives them)."""
    return set(json.loads(row.parties) or ())


def booking_timeline(conn: Connection, ref: str, v: Viewer) -> dict | None:
    """Every visible trip of a booking with its timeline, the booking's latest ETA, and its plan
    (the booked departures, in local times) where the viewer may see the booking: a booking is
    tracked from when it is made, before any of its containers is reported."""
    rows = _prepared(conn, "head", "booking", v).rows(conn, ref)
    seen = v.sees_all or conn.execute(select(bookings.c.ref).where(bookings.c.ref == ref, booking_clause(v))).first()
    if not rows and not seen:
        return None
    bq = reads.prepared(conn, ("booking",), reads.booking_query)
    b = next(iter(bq.rows(conn, ref)), None)
    if b is None and not rows:
        return None
    tls = [_doc(_timeline(conn, r, v)) for r in rows]
    etas = [t["eta"] for t in tls if t["eta"]]
    zones = repo.zones(conn)
    plan = [{"departure_id": dep, "vehicle": voyage, "mode": mode, "from": a, "to": z,
             "departs_at": local(at, a, zones), "arrives_at": local(until, z, zones)}
            for dep, a, z, at, until, voyage, mode in repo.booking_plan(conn, ref)] \
        if seen else None
    return {"booking_ref": ref,
            "booking": None if b is None else {"origin": b.origin, "destination": b.destination, "status": b.status,
                                               "promised_arrival": local(b.promised_arrival, b.destination, zones)},
            "plan": plan,
            "eta": max(etas, key=lambda x: datetime.fromisoformat(x["eta"])) if etas else None,
            # every container's alerts in time order (by instant; one container's, then the next's, at one instant)
            "alerts": sorted((a | {"equipment": t["equipment"]} for t in tls for a in t["alerts"]),
                             key=lambda a: _instant(a["at"])),
            "containers": tls}


def search(conn: Connection, q: str, v: Viewer, limit: int = 20) -> list[dict]:
    """Everything an identifier can mean: container, booking, B/L, consignment note, wagon, train, sailing."""
    term = q.strip()
    up = term.upper()
    hits: list[dict] = []
    tc = trip_clause(v)
    if is_container_number(up) or len(up) == 11:
        tq = select(trips.c.id, trips.c.booking_ref, trips.c.starts_at).where(trips.c.equipment == up) \
            .order_by(trips.c.starts_at.desc()).limit(limit)
        for r in conn.execute(tq if tc is None else tq.where(tc)).all():
            hits.append({"type": "container", "ref": up, "trip_id": r.id, "booking_ref": r.booking_ref})
    ev = event_clause(v)

    def probe(kind: str, cond):
        sq = select(events.c.trip_id, events.c.equipment).where(cond).distinct().limit(limit)
        for r in conn.execute(sq if ev is None else sq.where(ev)).all():
            hits.append({"type": kind, "ref": term, "trip_id": r.trip_id, "equipment": r.equipment})

    probe("booking", events.c.booking_ref == term)
    for kind, label in (("BOL", "bill_of_lading"), ("SMGS", "consignment_note"), ("CIM", "consignment_note")):
        probe(label, _refs().like(f'%["{kind}","{term}"]%'))
    probe("wagon", events.c.wagon == term)
    probe("train", and_(events.c.mode == "RAIL", events.c.voyage == term))
    probe("sailing", and_(events.c.mode.in_(("VESSEL", "BARGE")),
                          or_(events.c.voyage == term, events.c.vehicle == term)))
    seen, out = set(), []
    for h in hits:
        k = (h["type"], h.get("trip_id"), h.get("equipment"))
        if k not in seen:
            seen.add(k)
            out.append(h)
    return out[:limit]


def _refs():
    """The refs column as plain text: LIKE on the JSON type would JSON-encode the pattern."""
    from sqlalchemy import Text, type_coerce
    return type_coerce(events.c.refs, Text)


def latest_positions(conn: Connection, v: Viewer, limit: int = 5000) -> dict:
    """The live map: the latest position of every open trip the viewer may see, and of each train or
    vessel those boxes are on (its freshest box report). A trip without GPS is placed at its facility."""
    zones, points = repo.zones(conn), repo.location_points(conn)
    trips_out: list[dict] = []
    vehicles: dict[str, dict] = {}
    for r in repo.latest_positions(conn, trip_clause(v), limit):
        if r.lat is not None:
            lat, lon, at, source = r.lat, r.lon, r.position_at, "gps"
        elif r.location in points:
            (lat, lon), at, source = points[r.location], r.since, "facility"
        else:
            continue
        trips_out.append({"trip_id": r.trip_id, "equipment": r.equipment, "booking_ref": r.booking_ref,
                          "state": r.state, "location": r.location, "vehicle": r.vehicle,
                          "departure_id": r.departure_id, "lat": lat, "lon": lon, "source": source,
                          "at": local(at, r.location, zones), "eta": r.eta.isoformat() if r.eta else None})
        if r.vehicle and r.state in ("on_rail", "at_sea", "on_road"):
            key = r.departure_id or r.vehicle
            veh = vehicles.get(key)
            if veh is None:
                veh = vehicles[key] = {"vehicle": r.vehicle, "departure_id": r.departure_id, "mode": r.mode,
                                       "operator": r.operator, "from": r.origin, "to": r.destination,
                                       "state": r.state, "containers": 0, "lat": None, "lon": None, "at": None,
                                       "_at": None}
            veh["containers"] += 1
            if source == "gps" and (veh["_at"] is None or at > veh["_at"]):
                veh.update(lat=lat, lon=lon, _at=at, at=at.isoformat())
    for veh in vehicles.values():
        veh.pop("_at")
    return {"trips": trips_out, "vehicles": sorted(vehicles.values(), key=lambda x: x["vehicle"] or "")}
