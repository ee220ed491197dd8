"""The ETA follows what the box is seen doing before what it was booked on — on both stores.

A box put on a train at Alat a day before the departure it was booked on rides that train to Poti
(its departure plus the links' running and stop times), and a box arriving at Alat aboard a vessel
too late for its booked train waits there for the connection the route planner allows (discharge,
port handling) before the next one.
"""

from __future__ import annotations

import json

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from corridor.booking.containers import parse_containers
from corridor.booking.service import BookingService
from corridor.domain.events import Classifier, Event, EventKind, TransportCall
from corridor.domain.parties import Role
from corridor.ingest.service import Ingestor
from corridor.network_file import load_network
from corridor.store import network as netstore
from corridor.store import tracking as repo
from corridor.store.tables import events, trip_status
from corridor.tracking import eta
from corridor.tracking.dcsa_out import to_dcsa_22

from tracking_helpers import box_event, ingest, party

BOX = "MSCU1234566"


def book(store, path: list[str], ready: datetime):
    """A confirmed booking along `path` from `ready` (days back: the boxes' reports must lie in the
    past), each hop on its first departure after the connection the planner allows; (ref, departures)."""
    party(store, "ACME", Role.SHIPPER)
    net, hop = load_network(), links()
    deps, t = [], ready
    with store.read() as conn:
        for a, b in zip(path, path[1:]):
            if deps:
                t = deps[-1].arrives_at + timedelta(hours=max(hop[(a, b)].dwell_hours,
                                                              net.locations[a].min_transfer_hours))
            deps.append(next(d for d, _ in netstore.list_departures(conn, start=t, end=t + timedelta(days=5),
                                                                    origin=a, destination=b)
                             if d.status != "cancelled" and d.departs_at >= t))
    rec = BookingService(store).book("ACME", path[0], path[-1], ready, parse_containers("1x40"),
                                     [d.id for d in deps], with_alternatives=False)
    return rec.booking.ref, deps


def links() -> dict:
    """(from, to) -> the network file's link (the planner's running and dwell hours)."""
    return {(l.origin, l.destination): l for l in load_network().directed_links()}


def vehicle_move(store, code: str, when: datetime, where: str, mode: str, voyage: str, sender: str) -> None:
    """A train's or vessel's own move, as its operator reports it: ingest applies it to every box aboard."""
    e = Event(kind=EventKind.TRANSPORT, code=code, classifier=Classifier.ACT, event_time=when, location=where,
              transport_call=TransportCall(mode=mode, location=where, voyage=voyage))
    body = json.dumps([to_dcsa_22(e, f"{sender}-{code}-{when.isoformat()}", when)]).encode()
    out = Ingestor(store).ingest(body, source_party=sender, fmt="dcsa-json")
    assert out.stored >= 1 and not out.quarantined, out.reasons


def status_and_eta(store):
    with store.read() as conn:
        trip = conn.execute(select(trip_status.c.trip_id).where(trip_status.c.equipment == BOX)).scalar_one()
        st = repo.statuses(conn, [trip])[trip]
        got, _ = eta.trip_eta(conn, st)
        alerts = conn.execute(select(events.c.code).where(events.c.trip_id == trip, events.c.kind == "ALERT")).all()
    return st, got, {a.code for a in alerts}


def test_a_box_on_a_train_that_left_before_its_booked_one_rides_it_to_the_end(loaded_store):
    ref, deps = book(loaded_store, ["AZ_ALA", "AZ_BKS", "GE_GAR", "GE_TBS", "GE_PTI"],
                     datetime.now(timezone.utc) - timedelta(days=12))
    assert [d.origin for d in deps] == ["AZ_ALA", "AZ_BKS", "GE_GAR", "GE_TBS"]
    left = deps[0].departs_at - timedelta(hours=30)             # a day and more before the booked train
    ingest(loaded_store, [box_event("LOAD", left - timedelta(hours=3), "AZALA", box=BOX, bkg=ref, voyage="A00777")],
           "ADY")
    vehicle_move(loaded_store, "DEPA", left, "AZALA", "RAIL", "A00777", "ADY")
    st, got, alerts = status_and_eta(loaded_store)
    assert st["state"] == "on_rail"
    # the train runs through its stops (the border included) to Poti: running hours, plus each stop's dwell
    run = [links()[(d.origin, d.destination)] for d in deps]
    hours = sum(l.running_hours for l in run) + sum(l.dwell_hours for l in run[1:])
    assert got.legs[0].origin == "AZ_ALA" and got.legs[0].destination == "GE_PTI" and got.legs[0].departs_at == left
    assert got.at == left + timedelta(hours=hours) < deps[-1].arrives_at - timedelta(hours=24)
    assert not got.missed and "MISS" not in alerts     # ahead of its booking, it missed nothing


def test_a_box_arriving_aboard_a_vessel_waits_for_the_connection_before_the_next_train(loaded_store):
    ref, deps = book(loaded_store, ["KZ_AKX", "AZ_ALA", "AZ_BKS"], datetime.now(timezone.utc) - timedelta(days=20))
    assert [d.origin for d in deps] == ["KZ_AKX", "AZ_ALA"]
    at = deps[1].departs_at + timedelta(hours=2)               # the vessel came too late for the booked train
    ingest(loaded_store, [box_event("LOAD", deps[0].departs_at, "KZAAU", box=BOX, bkg=ref, mode="VESSEL",
                                    voyage="KMTF001")], "KMTF")
    vehicle_move(loaded_store, "ARRI", at, "AZALA", "VESSEL", "KMTF001", "KMTF")
    st, got, _ = status_and_eta(loaded_store)
    assert st["state"] == "at_sea" and st["location"] == "AZALA"
    connect = max(load_network().locations["AZ_ALA"].min_transfer_hours, links()[("AZ_ALA", "AZ_BKS")].dwell_hours)
    train = got.legs[0]
    assert (train.origin, train.destination) == ("AZ_ALA", "AZ_BKS") and got.missed[0][0] == deps[1].id
    assert at + timedelta(hours=connect) <= train.departs_at < at + timedelta(hours=connect + 24)
