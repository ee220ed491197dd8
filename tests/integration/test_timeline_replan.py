"""A re-booked booking's trips take the new plan onto their stored milestones (no read of their
events) where that gives what folding them again from the start gives, row for row; where an
event joined the plan replaced, or one is at a milestone of the new plan, they are folded again —
on both stores. The re-bookings are the twin's (`twin.booking.Booker.reroute`: a box that missed
its departure at the gauge change re-booked on a later one)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, select

from corridor.access.visibility import viewer_for
from corridor.booking.service import BookingService
from corridor.domain.equipment import with_check_digit
from corridor.domain.parties import Party, Role
from corridor.ingest.service import Ingestor
from corridor.store import tracking as repo
from corridor.store.tables import trip_milestones, trip_timelines, trips
from corridor.tracking import timeline
from corridor.twin.booking import Booker

from tracking_helpers import box_event, ingest, party

BOXES = [with_check_digit("MSCU123456"), with_check_digit("TGHU765432")]
ADMIN = Party("ADM", "admin", frozenset({Role.ADMIN}))
PATH = ["CN_XIA", "CN_HRS", "KZ_ALT", "KZ_AKX", "AZ_ALA"]
HOPS = set(zip(PATH, PATH[1:])) | {("KZ_ALT", "BY_BQT"), ("BY_BQT", "KZ_DOS"), ("KZ_DOS", "KZ_AKX")}
H = timedelta(hours=1)


def _vehicle(store, code: str, when: datetime, voyage: str, where: str) -> None:
    """The railway's DCSA report of its train (`voyage`) arriving or leaving: ingest moves its boxes."""
    move = [{"eventID": str(uuid.uuid4()), "eventType": "TRANSPORT", "eventClassifierCode": "ACT",
             "eventDateTime": when.isoformat(), "eventCreatedDateTime": when.isoformat(),
             "transportEventTypeCode": code,
             "transportCall": {"transportCallID": f"{voyage}-{where}", "carrierVoyageNumber": voyage,
                               "UNLocationCode": where, "modeOfTransport": "RAIL"}}]
    out = Ingestor(store).ingest(json.dumps(move).encode(), source_party="ACME", fmt="dcsa-json")
    assert out.stored >= 1, out.reasons


def _rode(store, booked_ref: str, dep, ref, left: datetime, came: datetime | None) -> None:
    """The booking's boxes loaded on departure `dep`, the train leaving at `left`, arriving at `came`."""
    ingest(store, [box_event("LOAD", left - 2 * H, ref(dep.origin), box=b, bkg=booked_ref, voyage=dep.voyage)
                   for b in BOXES], "ACME")
    _vehicle(store, "DEPA", left, dep.voyage, ref(dep.origin))
    if came is not None:
        _vehicle(store, "ARRI", came, dep.voyage, ref(dep.destination))


def _rows(conn, ids: list[str]) -> dict:
    return {t: (tuple(conn.execute(select(trip_timelines).where(trip_timelines.c.trip_id == t)).one()),
                [tuple(r) for r in conn.execute(select(trip_milestones).where(trip_milestones.c.trip_id == t)
                                                .order_by(trip_milestones.c.n))])
            for t in ids}


def _stored_and_from_scratch(store, ids: list[str]) -> tuple[dict, dict]:
    """(the trips' stored timeline rows, the rows a fold of each from its start makes)."""
    with store.tx() as conn:   # rolled back: nothing of it is kept
        stored = _rows(conn, ids)
        conn.execute(delete(trip_milestones).where(trip_milestones.c.trip_id.in_(ids)))
        conn.execute(delete(trip_timelines).where(trip_timelines.c.trip_id.in_(ids)))
        timeline.fold_in(conn, {}, {}, replan=set(ids))
        made = _rows(conn, ids)
        conn.rollback()
    return stored, made


def _doc(store, box: str) -> tuple[dict, dict]:
    """(the answer a read makes now, the one built from the trip's events alone)."""
    with store.read() as conn:
        v = viewer_for(conn, ADMIN)
        timeline.forget(conn)
        first = json.loads(timeline.container_json(conn, box, v))
        conn.exec_driver_sql("DELETE FROM trip_timelines")
        timeline.forget(conn)
        built = json.loads(timeline.container_json(conn, box, v))
        conn.rollback()
    timeline.forget()
    return first, built


def test_a_rebooked_trip_takes_the_new_plan_onto_its_stored_milestones_as_a_fold_from_the_start(
        loaded_store, monkeypatch):
    party(loaded_store, "ACME", Role.SHIPPER)
    net = BookingService(loaded_store).network
    ref = lambda place: net.locations[place].ref   # noqa: E731 - as events name places
    now = datetime.now(timezone.utc)
    booker = Booker(loaded_store, HOPS, now - timedelta(days=40), now + timedelta(days=30), net)   # journeys may end ahead
    booked = next(b for days in range(30, 20, -1)
                  if (b := booker.book("ACME", None, PATH, now - timedelta(days=days), {"42G1": 2})) is not None)
    legs = dict(booked.legs)
    read: list[str] = []   # the trips whose events a fold read
    real = repo.event_facts
    monkeypatch.setattr(repo, "event_facts", lambda conn, ids: (read.extend(ids), real(conn, ids))[1])

    # the train from Xi'an, late at Khorgos; the gauge change takes so long the booked KTZ train has gone
    d0, d1 = legs[("CN_XIA", "CN_HRS")], legs[("CN_HRS", "KZ_ALT")]
    ingest(loaded_store, [box_event("GTIN", d0.departs_at - 6 * H, ref("CN_XIA"), box=b, bkg=booked.ref)
                          for b in BOXES], "ACME")
    came = d0.arrives_at + 3 * H
    _rode(loaded_store, booked.ref, d0, ref, d0.departs_at + 0.25 * H, came)
    changed = max(came + 14 * H, d1.departs_at + H)
    ingest(loaded_store, [box_event("DISC", changed, ref("CN_HRS"), box=b, bkg=booked.ref, voyage=d0.voyage)
                          for b in BOXES], "ACME")
    with loaded_store.read() as conn:
        ids = sorted(conn.execute(select(trips.c.id).where(trips.c.booking_ref == booked.ref)).scalars())
    assert len(ids) == 2

    # 1. re-booked from Khorgos on the next KTZ train: the new plan taken onto the stored milestones
    nd = booker.next_free(("CN_HRS", "KZ_ALT"), changed + H, 4)
    read.clear()
    new = booker.reroute(booked.ref, PATH[1:], nd, legs, changed + 0.5 * H, f"missed {d1.id}")
    assert new is not None and new[("CN_HRS", "KZ_ALT")].id == nd.id
    assert not set(read) & set(ids)                      # their events were not read again
    stored, made = _stored_and_from_scratch(loaded_store, ids)
    assert stored == made
    doc, built = _doc(loaded_store, BOXES[0])
    assert doc == built
    [dep] = [m for m in doc["milestones"] if m["code"] == "DEPA" and m["location"] == ref("CN_HRS")]
    assert datetime.fromisoformat(dep["planned"]) == nd.departs_at and dep["planned_departure_id"] == nd.id
    legs.update(new)

    # 2. on to Altynkol as booked, then re-booked from there by Dostyk (more legs): the events'
    # milestones after the plan's move along
    came = nd.arrives_at + 2 * H
    _rode(loaded_store, booked.ref, nd, ref, nd.departs_at + 0.25 * H, came)
    first = booker.next_free(("KZ_ALT", "BY_BQT"), came + 9 * H, 4)
    read.clear()
    new = booker.reroute(booked.ref, ["KZ_ALT", "BY_BQT", "KZ_DOS", "KZ_AKX", "AZ_ALA"], first, legs, came + H,
                         "customer asked")
    assert new is not None and len(new) == 4
    assert not set(read) & set(ids)
    with loaded_store.read() as conn:
        assert conn.execute(select(trip_timelines.c.milestones).where(trip_timelines.c.trip_id == ids[0])
                            ).scalar_one() == len(_rows(conn, ids[:1])[ids[0]][1])
    stored, made = _stored_and_from_scratch(loaded_store, ids)
    assert stored == made
    assert _doc(loaded_store, BOXES[1])[0] == _doc(loaded_store, BOXES[1])[1]
    legs = {k: v for k, v in legs.items() if k[0] in ("CN_XIA", "CN_HRS")} | new

    # 3. the boxes left Altynkol on another train than booked, reported before the re-booking onto it:
    # that report joined the plan's departure there, so the trips are folded again from their events
    other = booker.next_free(("KZ_ALT", "BY_BQT"), first.departs_at + H, 4)
    _rode(loaded_store, booked.ref, other, ref, other.departs_at + 0.25 * H, None)
    read.clear()
    new = booker.reroute(booked.ref, ["KZ_ALT", "BY_BQT", "KZ_DOS", "KZ_AKX", "AZ_ALA"], other, legs,
                         other.departs_at - H, f"{first.id} left without it")
    assert new is not None
    assert set(read) >= set(ids)                         # folded again
    stored, made = _stored_and_from_scratch(loaded_store, ids)
    assert stored == made
    doc, built = _doc(loaded_store, BOXES[0])
    assert doc == built
    [dep] = [m for m in doc["milestones"] if m["code"] == "DEPA" and m["location"] == ref("KZ_ALT")]
    assert dep["vehicle"] == other.voyage and dep["as_booked"] is True


def test_after_a_twin_run_with_rebookings_every_stored_timeline_is_a_fold_from_the_start(loaded_store, monkeypatch):
    from datetime import date

    from corridor.twin.run import simulate
    from corridor.twin.scenario import load_scenario
    onto: list[str] = []   # the re-planned trips that took their new plan onto their stored milestones
    real = timeline._replanned_onto
    monkeypatch.setattr(timeline, "_replanned_onto",
                        lambda conn, ids, *a: (d := real(conn, ids, *a), onto.extend(d))[0])
    sc = load_scenario(name="rebooked", origins={"CN_XIA": {"trains_per_month": 0}, "CN_CQI": {"trains_per_month": 0},
                                                 "CN_LYG": {"trains_per_month": 0},
                                                 "CN_URM": {"trains_per_month": 12}},
                       wagons_per_train=[20, 30], container_pool=0,
                       # a slow gauge change (not the calibrated default): boxes miss their booked train
                       border_hours=[12, 20, 36],
                       start=(date.today() - timedelta(days=25)).isoformat())
    s = simulate(loaded_store, sc, days=20, seed=3).summary()
    assert s["rebooked"] >= 10 and len(onto) >= 50, (s["rebooked"], len(onto))
    with loaded_store.read() as conn:
        ids = sorted(conn.execute(select(trip_timelines.c.trip_id)).scalars())
    stored, made = _stored_and_from_scratch(loaded_store, ids)
    assert [t for t in ids if stored[t] != made[t]] == []
