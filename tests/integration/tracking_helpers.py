"""Shared helpers of the tracking tests: parties, keys, an app with the tracking routers, events."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

from corridor.access import keys
from corridor.domain.events import Classifier, Event, EventKind, TransportCall
from corridor.domain.parties import Party, Role
from corridor.ingest.service import Ingestor
from corridor.store import parties as partystore
from corridor.tracking import hooks  # noqa: F401 - registers the tracking steps on ingest
from corridor.tracking.dcsa_out import to_dcsa_22


def party(store, pid: str, *roles: Role, **kw) -> str:
    """Create a party and return a read/write key for it."""
    with store.tx() as conn:
        partystore.upsert_party(conn, Party(pid, pid, frozenset(roles), **kw))
        return keys.create_key(conn, pid, scopes=("read", "write"))


def app_for(store):
    from fastapi.testclient import TestClient
    from corridor.api import dcsa, tracking
    from corridor.api.app import create_app
    app = create_app(store=store)
    app.include_router(tracking.router)
    app.include_router(dcsa.router)
    return TestClient(app)


def box_event(code: str, when: datetime, where: str, *, box: str, bkg: str, mode: str = "RAIL",
              voyage: str | None = None, cls: Classifier = Classifier.ACT, bol: str | None = None) -> Event:
    refs = (("BKG", bkg),) + ((("BOL", bol),) if bol else ())
    return Event(kind=EventKind.EQUIPMENT, code=code, classifier=cls, event_time=when, location=where,
                 equipment=box, size_type="42G1",
                 transport_call=TransportCall(mode=mode, location=where, voyage=voyage) if voyage else None,
                 references=refs)


def ingest(store, evs: list[Event], sender: str):
    """Send events through the real ingest path as DCSA 2.2 JSON."""
    body = json.dumps([to_dcsa_22(e, f"{sender}-{i}-{e.code}-{e.event_time.isoformat()}", min(e.event_time, datetime.now(timezone.utc)))
                       for i, e in enumerate(evs)]).encode()
    out = Ingestor(store).ingest(body, source_party=sender, fmt="dcsa-json")
    assert out.stored + out.duplicates == len(evs), out.reasons
    return out


def vehicle_left(store, when: datetime, voyage: str, where: str, mode: str, call_id: str | None = None,
                 sender: str = "ACME"):
    """A carrier's DCSA report of its vehicle (`voyage`) leaving `where`: ingest moves every box on it."""
    move = [{"eventID": str(uuid.uuid4()), "eventType": "TRANSPORT", "eventClassifierCode": "ACT",
             "eventDateTime": when.isoformat(), "eventCreatedDateTime": when.isoformat(),
             "transportEventTypeCode": "DEPA",
             "transportCall": {"transportCallID": call_id or f"{voyage}-{where}", "carrierVoyageNumber": voyage,
                               "UNLocationCode": where, "modeOfTransport": mode}}]
    return Ingestor(store).ingest(json.dumps(move).encode(), source_party=sender, fmt="dcsa-json")


def booked_sailing(store, days_ago: tuple[float, float], gap: timedelta = timedelta(0)):
    """(booking record, sailing): ACME (made a shipper) booked one 40' box on the first Aktau ->
    Alat sailing that left between `days_ago` (from, to) days ago with its next sailing `gap` or
    more later."""
    from corridor.booking.containers import parse_containers
    from corridor.booking.service import BookingService
    from corridor.store import network as netstore
    party(store, "ACME", Role.SHIPPER)
    now = datetime.now(timezone.utc)
    with store.read() as conn:
        deps = [d for d, _ in netstore.list_departures(conn, origin="KZ_AKX", destination="AZ_ALA", limit=1000)]
    deps = sorted((d for d in deps if d.status != "cancelled"), key=lambda d: d.departs_at)
    booked = next(d for d, n in zip(deps, deps[1:]) if now - timedelta(days=days_ago[0]) < d.departs_at
                  < now - timedelta(days=days_ago[1]) and n.departs_at - d.departs_at >= gap)
    rec = BookingService(store).book("ACME", "KZAAU", "AZALA", booked.departs_at - timedelta(days=2),
                                     parse_containers("1x40"), [booked.id], with_alternatives=False)
    return rec, booked


def past_aktau_sailing(store, **changes):
    """The latest Aktau ferry sailing that left over 8 days ago; with `changes`, a copy of it
    (another id, service, voyage: e.g. a service code short enough for 2.2's 5 characters) saved
    in the timetable beside it."""
    from dataclasses import replace
    from sqlalchemy import select
    from corridor.store import network as netstore
    from corridor.store.tables import departures
    now = datetime.now(timezone.utc)
    with store.read() as conn:
        r = conn.execute(select(departures).where(
            departures.c.origin == "KZ_AKX", departures.c.mode == "ferry", departures.c.status != "cancelled",
            departures.c.departs_at < now - timedelta(days=8)).order_by(departures.c.departs_at.desc())).first()
    assert r is not None, "no past ferry sailing from Aktau in the timetable"
    dep = netstore.row_to_departure(r)
    if changes:
        dep = replace(dep, **changes)
        with store.tx() as conn:
            netstore.save_departures(conn, [dep])
    return dep


def quoted_option(svc, origin: str, dest: str, ready: datetime, boxes: str = "1x40", *,
                  want=frozenset(), avoid=frozenset(), days: int = 28):
    """(departure ids, ready) of the first quoted option whose operators and places include all of
    `want` and none of `avoid`, for `ready` or the first later day that has one. Which lines a quote
    leads with changes with the calendar (the timetable, storm seasons), so a test needing a route
    of a certain shape looks for it rather than taking the first option of whatever day it runs on."""
    from corridor.booking.containers import parse_containers
    from corridor.store.network import get_departure
    for day in range(days):
        at = ready + timedelta(days=day)
        q = svc.quote(origin, dest, at, parse_containers(boxes), 6)
        with svc.store.read() as conn:
            for opt in q.options:
                deps = [get_departure(conn, d)[0] for d in opt.departure_ids]
                marks = {d.operator for d in deps} | {d.origin for d in deps} | {d.destination for d in deps}
                if set(want) <= marks and not marks & set(avoid):
                    return list(opt.departure_ids), at
    raise AssertionError(f"no option {origin}->{dest} with {set(want)} avoiding {set(avoid)} "
                         f"for {days} days from {ready.date()}")
