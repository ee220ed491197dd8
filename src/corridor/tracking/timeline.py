"""Timelines: a container trip (or a booking's trips) as legs and milestones with planned,
estimated and actual times, the current state from `trip_status`, the latest position joined to
its leg, the ETA with its range, and the alerts. Reads only what the viewer may see."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, or_, select

from ..access.visibility import Viewer, event_clause, trip_clause
from ..domain.equipment import is_container_number
from ..domain.events import Event
from ..store import tracking as repo
from ..store.events import row_to_event, select_events
from ..store.tables import bookings, events, locations, trip_status, trips

KIND = {"LOAD": "load", "DEPA": "depart", "ARRI": "arrive", "DISC": "discharge", "GTIN": "gate_in",
        "GTOT": "gate_out", "PICK": "pick_up", "DROP": "drop_off", "STUF": "stuff", "STRP": "strip",
        "INSP": "inspect"}


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


def _visible(q, v: Viewer):
    c = event_clause(v)
    return q if c is None else q.where(c)


def _places(conn: Connection) -> dict[str, dict]:
    """Location ref -> name, border, gauge change (cached per store)."""
    return repo.cached(conn, "timeline-places", _read_places)


def _read_places(conn: Connection) -> dict[str, dict]:
    out = {}
    for r in conn.execute(select(locations.c.id, locations.c.code, locations.c.name, locations.c.facility_type,
                                 locations.c.data)).all():
        info = {"name": r.name, "border": r.facility_type == "BOCR",
                "gauge_change": len(set((r.data or {}).get("gauges", ()))) > 1}
        out[r.id] = info
        if r.code:
            out[r.code] = info
    return out


def milestones(items: list[tuple[int, Event]], places: dict[str, dict]) -> list[dict]:
    """Milestones (one per code, place and vehicle) with planned/estimated/actual; latest report wins."""
    ms: dict[tuple, dict] = {}
    for seq, e in items:
        if e.kind.value in ("IOT", "ALERT", "SHIPMENT"):
            continue
        tc = e.transport_call
        vehicle = (tc.voyage or tc.vehicle or tc.departure_id) if tc else None
        key = (e.code, e.location, vehicle)
        if vehicle is None:   # a report without the vehicle (Corridor's ETA) joins that milestone
            key = next((k for k in ms if k[:2] == key[:2]), key)
        m = ms.setdefault(key, {"code": e.code, "milestone": KIND.get(e.code, e.code.lower()), "location": e.location,
                                "vehicle": vehicle, "mode": tc.mode if tc else None,
                                "departure_id": tc.departure_id if tc else None,
                                "planned": None, "estimated": None, "actual": None, "seq": seq})
        field = {"PLN": "planned", "EST": "estimated", "ACT": "actual"}[e.classifier.value]
        m[field] = e.event_time.isoformat()   # append order: a later EST supersedes an earlier one
        if e.classifier.value == "EST" and e.extra.get("eta_low"):
            m["estimated_range"] = [e.extra["eta_low"], e.extra["eta_high"]]
        m["seq"] = max(m["seq"], seq)
        p = places.get(e.location or "", {})
        if p.get("border"):
            m["border_crossing"] = True
        if p.get("gauge_change"):
            m["gauge_change"] = True
        m["place"] = p.get("name")
    return sorted(ms.values(), key=lambda m: (m["actual"] or m["estimated"] or m["planned"] or "", m["seq"]))


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
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    tz = zones.get(place or "")
    return (moment.astimezone(_zone(tz)) if tz else moment).isoformat()


def _localize(ms: list[dict], ls: list[dict], zones: dict[str, str]) -> None:
    """Milestone and leg times in the local time of their place (after sorting on UTC)."""
    for m in ms:
        for k in ("planned", "estimated", "actual"):
            m[k] = local(m[k], m["location"], zones)
        if m.get("estimated_range"):
            m["estimated_range"] = [local(x, m["location"], zones) for x in m["estimated_range"]]
    for leg in ls:
        for end, place in (("depart", leg["from"]), ("arrive", leg["to"])):
            if leg[end]:
                leg[end] = {k: local(v, place, zones) for k, v in leg[end].items()}


def _leg_at(ls: list[dict], when: str) -> dict | None:
    for leg in ls:
        dep = (leg["depart"] or {}).get("actual")
        arr = (leg["arrive"] or {}).get("actual")
        if dep and dep <= when and (arr is None or when <= arr):
            return leg
    return None


def trip_timeline(conn: Connection, trip_id: str, v: Viewer) -> dict | None:
    """The timeline of one trip as the viewer may see it; None when it does not exist for them."""
    q = select(trips).where(trips.c.id == trip_id)
    tc = trip_clause(v)
    t = conn.execute(q if tc is None else q.where(tc)).first()
    if t is None:
        return None
    rows = conn.execute(_visible(select_events().where(events.c.trip_id == trip_id), v)).all()
    items = [(r.seq, row_to_event(r)) for r in rows]
    st = conn.execute(select(trip_status).where(trip_status.c.trip_id == trip_id)).first()
    ms = milestones(items, _places(conn))
    ls = legs(ms)
    pos = None
    if st is not None and st.lat is not None:
        when = st.position_at.isoformat()
        leg = _leg_at(ls, when)
        pos = {"lat": st.lat, "lon": st.lon, "at": when, "leg": leg["vehicle"] if leg else None}
    zones = repo.zones(conn)
    where = st.location if st is not None else None
    dest = _destination(conn, t.booking_ref, ms)
    if pos:
        pos["at"] = local(pos["at"], where, zones)
    _localize(ms, ls, zones)
    alerts = [{"code": e.code, "at": local(e.event_time, e.location, zones), "reason": e.reason,
               "location": e.location} for _, e in items if e.kind.value == "ALERT"]
    return {
        "trip_id": t.id, "equipment": t.equipment, "booking_ref": t.booking_ref,
        "starts_at": t.starts_at.isoformat(), "ends_at": t.ends_at.isoformat() if t.ends_at else None,
        "status": None if st is None else {
            "state": st.state, "location": st.location, "vehicle": st.vehicle, "departure_id": st.departure_id,
            "since": local(st.since, where, zones), "last_heard_at": local(st.last_heard_at, where, zones),
            "timezone": zones.get(where or "")},
        "eta": None if st is None or st.eta is None else {
            "eta": local(st.eta, dest, zones), "low": local(st.eta_low, dest, zones),
            "high": local(st.eta_high, dest, zones), "destination": dest, "timezone": zones.get(dest or "")},
        "position": pos, "legs": ls, "milestones": ms, "alerts": alerts,
    }


def _destination(conn: Connection, booking_ref: str | None, ms: list[dict]) -> str | None:
    """Where the ETA points: the booking's destination, else the last estimated discharge place."""
    if booking_ref:
        r = conn.execute(select(bookings.c.destination).where(bookings.c.ref == booking_ref)).first()
        if r is not None:
            return r.destination
    return next((m["location"] for m in reversed(ms) if m["code"] == "DISC" and m["estimated"]), None)


def latest_trip(conn: Connection, ref: str, v: Viewer) -> str | None:
    """A trip id given as such, or the viewer's latest visible trip of a container number."""
    tc = trip_clause(v)
    q = select(trips.c.id).where(or_(trips.c.id == ref, trips.c.equipment == ref.upper()))
    q = q.order_by(trips.c.starts_at.desc()).limit(1)
    r = conn.execute(q if tc is None else q.where(tc)).first()
    return r.id if r else None


def booking_timeline(conn: Connection, ref: str, v: Viewer) -> dict | None:
    """Every visible trip of a booking with its timeline, and the booking's latest ETA."""
    tc = trip_clause(v)
    q = select(trips.c.id).where(trips.c.booking_ref == ref).order_by(trips.c.equipment)
    ids = conn.execute(q if tc is None else q.where(tc)).scalars().all()
    if not ids:
        return None
    tls = [t for i in ids if (t := trip_timeline(conn, i, v))]
    b = conn.execute(select(bookings.c.origin, bookings.c.destination, bookings.c.promised_arrival, bookings.c.status)
                     .where(bookings.c.ref == ref)).first()
    etas = [t["eta"] for t in tls if t["eta"]]
    return {"booking_ref": ref,
            "booking": None if b is None else {"origin": b.origin, "destination": b.destination, "status": b.status,
                                               "promised_arrival": local(b.promised_arrival, b.destination,
                                                                         repo.zones(conn))},
            "eta": max(etas, key=lambda x: datetime.fromisoformat(x["eta"])) if etas else None,
            "alerts": [a | {"equipment": t["equipment"]} for t in tls for a in t["alerts"]],
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
