"""A booked box's timeline has one row per booked move, whichever vehicle carried the box: the
booked departure's row takes the actual report of the move (a later sailing than booked, the same
sailing named by another party, the place named by its corridor id), keeps the booked vehicle as
planned vehicle beside the one that carried the box (`as_booked`), and the stored answer is the
one built from the events after each batch; a load that names no vehicle takes the box off the
facility's queue — on both stores."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, func, insert, select

from corridor.access.visibility import viewer_for
from corridor.domain.events import Classifier, Event, EventKind, TransportCall
from corridor.domain.parties import Party, Role
from corridor.store import events as evstore
from corridor.store import network as netstore
from corridor.store import queues
from corridor.store.tables import trip_timelines, trips
from corridor.tracking import status, timeline

from tracking_helpers import booked_sailing

BOX = "MSCU1234566"
TRIP = f"{BOX}-202501010000"
ADMIN = Party("ADM", "admin", frozenset({Role.ADMIN}))
IMO = "9135897"


def _event(code, when, where, bkg, kind=EventKind.EQUIPMENT, cls=Classifier.ACT, voyage=None, mode="VESSEL",
           departure=None, vehicle=None, source="ACME"):
    tc = TransportCall(mode, location=where, voyage=voyage, vehicle=vehicle, departure_id=departure) \
        if (voyage or vehicle or departure) else None
    return Event(kind, code, cls, when, location=where, equipment=BOX, transport_call=tc,
                 references=(("BKG", bkg),), trip_id=TRIP, source_party=source, parties=frozenset({"ACME"}))


def _append(store, bkg: str, batch: list[Event]) -> None:
    """Store a batch as the ingest path does: appended, then the status step (which folds the timeline)."""
    with store.tx() as conn:
        if conn.execute(select(func.count()).select_from(trips).where(trips.c.id == TRIP)).scalar_one() == 0:
            t0 = min(e.event_time for e in batch)
            conn.execute(insert(trips).values(id=TRIP, equipment=BOX, booking_ref=bkg, parties=["ACME"],
                                              starts_at=t0, created_at=t0))
        stored, _ = evstore.append(conn, batch)
        status.apply(conn, stored)


def _answers(store) -> tuple[dict, dict]:
    """(the answer a read makes from the stored timeline, the one built from the trip's events)."""
    with store.read() as conn:
        v = viewer_for(conn, ADMIN)
        timeline.forget(conn)
        assert timeline.stored_is_current(conn, TRIP)
        stored = json.loads(timeline.container_json(conn, BOX, v))
    with store.tx() as conn:   # rolled back: nothing of it is kept
        conn.execute(delete(trip_timelines).where(trip_timelines.c.trip_id == TRIP))
        timeline.forget(conn)
        built = json.loads(timeline.container_json(conn, BOX, v))
        conn.rollback()
    timeline.forget()
    return stored, built


def _at(doc: dict, code: str, where: str) -> list[dict]:
    return [m for m in doc["milestones"] if m["code"] == code and m["location"] == where]


def _is(moment: str | None, when: datetime) -> bool:
    return moment is not None and datetime.fromisoformat(moment) == when


def _next_sailing(store, after: datetime):
    with store.read() as conn:
        return next(d for d, _ in netstore.list_departures(conn, origin="KZ_AKX", destination="AZ_ALA",
                                                           start=after + timedelta(hours=1), limit=5)
                    if d.status != "cancelled")


def test_a_box_rolled_to_a_later_sailing_fills_the_booked_rows(loaded_store):
    # the line expected the box on the booked sailing (its estimate names it); the box was rolled
    # and sailed on the next one: one "Departed Aktau" row with the booked time, the estimate and
    # the actual departure, the vessel that carried it and the booked one beside it
    rec, booked = booked_sailing(loaded_store, (12, 8), gap=timedelta(hours=12))
    later = _next_sailing(loaded_store, booked.departs_at)
    came = booked.departs_at - timedelta(days=1)
    left = later.departs_at + timedelta(minutes=40)
    batches = [
        [_event("GTIN", came, "KZAAU", rec.ref)],
        [_event("DEPA", booked.departs_at, "KZAAU", rec.ref, kind=EventKind.TRANSPORT, cls=Classifier.EST,
                voyage=booked.voyage, departure=booked.id)],
        [_event("LOAD", later.departs_at - timedelta(hours=2), "KZAAU", rec.ref, voyage=later.voyage,
                departure=later.id),
         _event("DEPA", left, "KZAAU", rec.ref, kind=EventKind.TRANSPORT, voyage=later.voyage, departure=later.id)],
        [_event("ARRI", later.arrives_at, "AZALA", rec.ref, kind=EventKind.TRANSPORT, voyage=later.voyage,
                departure=later.id)],
    ]
    for n, batch in enumerate(batches, 1):
        _append(loaded_store, rec.ref, batch)
        doc, built = _answers(loaded_store)
        assert doc == built, n
    [dep] = _at(doc, "DEPA", "KZAAU")          # not a planned row beside an actual one
    assert _is(dep["planned"], booked.departs_at) and _is(dep["estimated"], booked.departs_at)
    assert _is(dep["actual"], left)
    assert (dep["vehicle"], dep["departure_id"]) == (later.voyage, later.id)
    assert (dep["planned_vehicle"], dep["planned_departure_id"], dep["as_booked"]) == (booked.voyage, booked.id, False)
    [arr] = _at(doc, "ARRI", "AZALA")
    assert _is(arr["planned"], booked.arrives_at) and _is(arr["actual"], later.arrives_at)
    assert arr["vehicle"] == later.voyage and arr["as_booked"] is False
    # the leg is the sailing that carried the box, from Aktau to Alat, with the booked times
    [leg] = [x for x in doc["legs"] if x["vehicle"] == later.voyage]
    assert (leg["from"], leg["to"]) == ("KZAAU", "AZALA") and _is(leg["depart"]["planned"], booked.departs_at)


def test_the_same_sailing_reported_by_two_parties_is_one_row(loaded_store):
    # the line reports its voyage; the terminal the same departure under its own call reference
    rec, booked = booked_sailing(loaded_store, (12, 8))
    left = booked.departs_at + timedelta(minutes=25)
    _append(loaded_store, rec.ref, [_event("GTIN", booked.departs_at - timedelta(days=1), "KZAAU", rec.ref)])
    _append(loaded_store, rec.ref, [_event("DEPA", left, "KZAAU", rec.ref, kind=EventKind.TRANSPORT,
                                           voyage=booked.voyage, vehicle=IMO, departure=booked.id)])
    _append(loaded_store, rec.ref, [_event("DEPA", left + timedelta(minutes=5), "KZAAU", rec.ref,
                                           kind=EventKind.TRANSPORT, voyage="AKX-CALL-0412", departure=booked.id,
                                           source="PORTAKTAU")])
    doc, built = _answers(loaded_store)
    assert doc == built
    [dep] = _at(doc, "DEPA", "KZAAU")
    assert _is(dep["planned"], booked.departs_at) and _is(dep["actual"], left + timedelta(minutes=5))
    assert dep["vehicle"] == booked.voyage and dep["as_booked"] is True


def test_a_report_naming_the_place_by_its_corridor_id_fills_the_booked_row(loaded_store):
    # the booking names Aktau by its UN/LOCODE (KZAAU); a report names it by Corridor's id (KZ_AKX)
    rec, booked = booked_sailing(loaded_store, (12, 8))
    left = booked.departs_at + timedelta(hours=3)
    _append(loaded_store, rec.ref, [
        _event("LOAD", booked.departs_at - timedelta(hours=3), "KZ_AKX", rec.ref, voyage=booked.voyage),
        _event("DEPA", left, "KZ_AKX", rec.ref, kind=EventKind.TRANSPORT, voyage=booked.voyage)])
    doc, built = _answers(loaded_store)
    assert doc == built
    assert not [m for m in doc["milestones"] if m["location"] == "KZ_AKX"]   # one name per place
    [dep] = _at(doc, "DEPA", "KZAAU")
    assert _is(dep["planned"], booked.departs_at) and _is(dep["actual"], left)
    assert dep["as_booked"] is True and dep["place"].startswith("Aktau")
    assert [m["code"] for m in doc["milestones"] if m["location"] == "KZAAU"] == ["LOAD", "DEPA"]


def _state(store) -> str:
    from corridor.store.tables import trip_status
    with store.read() as conn:
        return conn.execute(select(trip_status.c.state).where(trip_status.c.trip_id == TRIP)).scalar_one()


def _queue(store) -> list[str]:
    with store.read() as conn:
        return [w.equipment for w in queues.facility_queue(conn, "KZAAU", "KZ_AKX")]


def test_a_load_that_names_no_vessel_takes_the_box_off_the_port_queue(loaded_store):
    # a terminal's load report without the vessel: the box is aboard (the booked leg out of Aktau
    # is a ferry), no longer waiting at the port
    rec, booked = booked_sailing(loaded_store, (12, 8))
    came = booked.departs_at - timedelta(days=1)
    _append(loaded_store, rec.ref, [_event("GTIN", came, "KZAAU", rec.ref)])
    assert _state(loaded_store) == "at_facility" and _queue(loaded_store) == [BOX]
    _append(loaded_store, rec.ref, [_event("LOAD", booked.departs_at - timedelta(hours=2), "KZAAU", rec.ref)])
    assert _state(loaded_store) == "at_sea" and _queue(loaded_store) == []


def test_a_load_without_vessel_or_booking_is_in_transit(loaded_store):
    t0 = datetime.now(timezone.utc) - timedelta(days=3)
    _append(loaded_store, "B-ELSEWHERE", [_event("GTIN", t0, "KZAAU", "B-ELSEWHERE")])
    _append(loaded_store, "B-ELSEWHERE", [_event("LOAD", t0 + timedelta(hours=5), "KZAAU", "B-ELSEWHERE")])
    assert _state(loaded_store) == "in_transit" and _queue(loaded_store) == []
