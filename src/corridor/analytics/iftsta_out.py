"""EDIFACT out: IFTSTA D00B status reports of the containers a party may see, serialised with pydifact.

The status codes are the DCSA codes themselves, which `corridor.ingest.edifact.iftsta` reads back
to the very same event (its status table maps GTIN..DEPA onto themselves), so an export posted
back through the ingest path collapses onto the stored events: kind, code, classifier (DTM+334
ACT, DTM+132 EST), time with its offset (format 304), place (LOC+175 with the terminal), container
and size type (EQD), vehicle (TDT: voyage, mode 8067, vehicle id) and references (RFF) all survive.
One message per container trip, one CNI + STS group per event. PLN events have no IFTSTA form
and are left out.

A place goes out as its UN/LOCODE (C517 3225, code list 139, agency 6 = UN/ECE). A place with no
UN/LOCODE (Kars, Absheron, Kartsakhi...) has no code a receiver could know: it goes out as a
named place, C517 3224 with the location's name and no code (`LOC+175+:::Kars Logistics Centre
(BTK)`), never as Corridor's internal id. Corridor's own network knows each name, so a reader
that takes 3224 when 3225 is empty resolves it again.
"""

from __future__ import annotations

from datetime import datetime, timezone

from pydifact.segmentcollection import Interchange, Message
from pydifact.segments import Segment
from sqlalchemy import Connection, and_, select

from ..access.visibility import Viewer, event_clause
from ..domain.events import Event
from ..domain.network import Location
from ..store.events import row_to_event, select_events
from ..store.network import load_network
from ..store.retractions import visible_if
from ..store.tables import events, trips

MODE_8067 = {"VESSEL": "1", "RAIL": "2", "TRUCK": "3", "BARGE": "8"}
RFF_QUALIFIER = {"BKG": "BN", "BOL": "BM", "SMGS": "SMG", "CIM": "CIM", "TRN": "AJE"}
STATUS_CODES = ("GTIN", "GTOT", "LOAD", "DISC", "STUF", "STRP", "PICK", "DROP", "INSP", "ARRI", "DEPA")
SENDER = "CORRIDOR"
LOCODE_LIST, UNECE = "139", "6"       # 1131: UN/LOCODE; 3055: UN/ECE


def is_locode(ref: str) -> bool:
    """Shaped like a UN/LOCODE: two letters of country, three letters or digits 2-9 of place."""
    return (len(ref) == 5 and ref[:2].isalpha() and ref.isupper()
            and all(c.isupper() or c in "23456789" for c in ref[2:]))


def place_id(ref: str, places: dict[str, Location]) -> list[str]:
    """The C517 composite of a place: its UN/LOCODE, else its name as a named place (no code)."""
    loc = places.get(ref)
    code = loc.code if loc is not None else (ref if is_locode(ref) else None)
    if code:
        return [code, LOCODE_LIST, UNECE]
    return ["", "", "", loc.name if loc is not None else ref]


def network_places(conn: Connection) -> dict[str, Location]:
    """Location ref (UN/LOCODE or id) and id -> Location of the stored network."""
    net = load_network(conn)
    out: dict[str, Location] = {}
    for loc in (net.locations.values() if net else ()):
        out[loc.id] = loc
        out[loc.ref] = loc
    return out


def dtm(t: datetime) -> str:
    """CCYYMMDDHHMMSS+HHMM (format 304): the sender's own offset kept."""
    off = int(t.utcoffset().total_seconds() // 60)
    sign, off = ("-" if off < 0 else "+"), abs(off)
    return f"{t:%Y%m%d%H%M%S}{sign}{off // 60:02d}{off % 60:02d}"


def status_group(e: Event, size_type: str | None = None, places: dict[str, Location] | None = None
                 ) -> list[Segment]:
    """The CNI-level STS group of one container event (`places`: the network's, by ref and id)."""
    segs = [Segment("STS", "1", e.code)]
    for kind, value in e.references:
        if kind in RFF_QUALIFIER:
            segs.append(Segment("RFF", [RFF_QUALIFIER[kind], value]))
    segs.append(Segment("DTM", ["334" if e.classifier.value == "ACT" else "132", dtm(e.event_time), "304"]))
    tc = e.transport_call
    if e.location:
        facility = tc.facility_code if tc and tc.facility_code else None
        segs.append(Segment("LOC", "175", place_id(e.location, places or {}), *([facility] if facility else [])))
    segs.append(Segment("EQD", "CN", e.equipment, *([size_type] if size_type else [])))
    if tc and tc.mode:
        tdt = ["20", tc.voyage or "", MODE_8067.get(tc.mode, ""), "", "", "", "", tc.vehicle or ""]
        while tdt[-1] == "":
            tdt.pop()
        segs.append(Segment("TDT", *tdt))
    return segs


def exportable(e: Event) -> bool:
    return bool(e.equipment) and e.code in STATUS_CODES and e.classifier.value in ("ACT", "EST")


def party_events(conn: Connection, viewer: Viewer, since: datetime | None = None
                 ) -> list[tuple[str, str | None, list[Event]]]:
    """(trip id, size type, events) of every container trip the viewer may see, events in time order."""
    conds = [events.c.equipment.is_not(None), events.c.trip_id.is_not(None),
             events.c.code.in_(STATUS_CODES), events.c.classifier.in_(("ACT", "EST"))]
    if since is not None:
        conds.append(events.c.event_time >= since)
    vis = event_clause(viewer)
    if vis is not None:
        conds.append(vis)
    standing = visible_if(conn)   # a withdrawn event is not reported on (none kept: no condition)
    if standing is not None:
        conds.append(standing)
    rows = conn.execute(select_events().where(and_(*conds))).all()
    by_trip: dict[str, list[Event]] = {}
    for r in rows:
        by_trip.setdefault(r.trip_id, []).append(row_to_event(r))
    sizes = {}
    ids = sorted(by_trip)
    for i in range(0, len(ids), 500):
        sizes.update(conn.execute(select(trips.c.id, trips.c.size_type).where(trips.c.id.in_(ids[i:i + 500]))).all())
    return [(tid, sizes.get(tid), sorted(by_trip[tid], key=lambda e: e.event_time)) for tid in ids]


def iftsta(recipient: str, trips_events: list[tuple[str, str | None, list[Event]]], *,
           control_ref: str = "1", now: datetime | None = None, places: dict[str, Location] | None = None) -> str:
    """An IFTSTA D00B interchange, one message per trip; returns the EDIFACT text."""
    now = now or datetime.now(timezone.utc)
    ic = Interchange(sender=SENDER, recipient=recipient, control_reference=control_ref,
                     syntax_identifier=("UNOC", 3), timestamp=now.astimezone(timezone.utc).replace(tzinfo=None))
    for n, (trip_id, size, evs) in enumerate(trips_events, 1):
        msg = Message(f"{control_ref}{n:05d}"[-14:], identifier=("IFTSTA", "D", "00B", "UN"))
        msg.add_segment(Segment("BGM", "23", trip_id[:35], "9"))
        msg.add_segment(Segment("DTM", ["137", dtm(now), "304"]))
        for i, e in enumerate(evs, 1):
            msg.add_segment(Segment("CNI", str(i)))
            msg.add_segments(status_group(e, size, places))
        ic.add_message(msg)
    return ic.serialize(break_lines=True)


def iftsta_for_party(conn: Connection, viewer: Viewer, since: datetime | None = None, *,
                     recipient: str | None = None, now: datetime | None = None) -> tuple[str, int, int]:
    """(EDIFACT text, messages, status groups) of the viewer's containers since `since`."""
    trips_events = [(t, s, [e for e in evs if exportable(e)]) for t, s, evs in party_events(conn, viewer, since)]
    trips_events = [x for x in trips_events if x[2]]
    edi = recipient or (viewer.party.edi_ids[0] if viewer.party.edi_ids else viewer.id)
    stamp = (now or datetime.now(timezone.utc)).strftime("%y%m%d%H%M%S")
    text = iftsta(edi, trips_events, control_ref=stamp, now=now, places=network_places(conn))
    return text, len(trips_events), sum(len(x[2]) for x in trips_events)
