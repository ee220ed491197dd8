"""The ETA holds a box to its booking until evidence says otherwise — on both stores.

A train runs its stops as the timetable's departures the box is booked on (a stop of many hours
at Tbilisi is the timetable's, not the link's nominal dwell), a box that came early to a stop waits
there for the departure it is booked on (its booking may have been moved after it set out), and
only a box that came in after its booked departure left is laid on the next one.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from corridor.booking.containers import parse_containers
from corridor.booking.service import BookingService
from corridor.domain.parties import Role
from corridor.store import network as netstore

from test_eta_observed import BOX, book, status_and_eta, vehicle_move
from tracking_helpers import box_event, ingest, party


def first_after(store, origin: str, destination: str, t: datetime):
    """The first departure on the hop leaving at or after `t` that runs."""
    with store.read() as conn:
        return next(d for d, _ in netstore.list_departures(conn, start=t, end=t + timedelta(days=10),
                                                           origin=origin, destination=destination)
                    if d.status != "cancelled" and d.departs_at >= t)


def book_on(store, deps) -> str:
    """ACME books one 40' box on exactly these departures; its ref."""
    party(store, "ACME", Role.SHIPPER)
    rec = BookingService(store).book("ACME", deps[0].origin, deps[-1].destination,
                                     deps[0].departs_at - timedelta(days=1), parse_containers("1x40"),
                                     [d.id for d in deps], with_alternatives=False)
    return rec.booking.ref


def test_a_box_put_on_its_booked_train_is_due_when_its_booked_departures_arrive(loaded_store):
    ref, deps = book(loaded_store, ["AZ_ALA", "AZ_BKS", "GE_GAR", "GE_TBS", "GE_PTI"],
                     datetime.now(timezone.utc) - timedelta(days=12))
    # the train stops at Tbilisi for longer than the link's nominal dwell (the timetable says so)
    assert deps[3].departs_at - deps[2].arrives_at > timedelta(hours=4)
    ingest(loaded_store, [box_event("LOAD", deps[0].departs_at - timedelta(hours=3), "AZALA", box=BOX, bkg=ref,
                                    voyage="A00778")], "ADY")
    st, got, _ = status_and_eta(loaded_store)
    assert st["state"] == "on_rail"
    # ridden to its first stop, then on the departures it is booked on: the booking's arrival
    assert [l.departure_id for l in got.legs] == [None] + [d.id for d in deps[1:]]
    assert got.at == deps[-1].arrives_at and not got.missed


def test_a_train_at_a_stop_leaves_on_the_departure_the_box_is_booked_on_days_later(loaded_store):
    now = datetime.now(timezone.utc)
    first = first_after(loaded_store, "GE_GAR", "GE_TBS", now - timedelta(days=12))
    # the booking was moved: the run on from Tbilisi is three days after the train gets there
    onward = first_after(loaded_store, "GE_TBS", "GE_PTI", first.arrives_at + timedelta(days=3))
    ref = book_on(loaded_store, [first, onward])
    ingest(loaded_store, [box_event("LOAD", first.departs_at - timedelta(hours=2), "GEGAR", box=BOX, bkg=ref,
                                    voyage="G00551")], "GR")
    vehicle_move(loaded_store, "DEPA", first.departs_at, "GEGAR", "RAIL", "G00551", "GR")
    vehicle_move(loaded_store, "ARRI", first.arrives_at, "GETBS", "RAIL", "G00551", "GR")
    st, got, _ = status_and_eta(loaded_store)
    assert st["state"] == "on_rail" and st["location"] == "GETBS"
    assert [l.departure_id for l in got.legs] == [onward.id] and not got.missed
    assert got.at == onward.arrives_at


def test_a_train_in_after_the_booked_departure_left_puts_the_box_on_the_next_one(loaded_store):
    now = datetime.now(timezone.utc)
    first = first_after(loaded_store, "GE_GAR", "GE_TBS", now - timedelta(days=12))
    onward = first_after(loaded_store, "GE_TBS", "GE_PTI", first.arrives_at + timedelta(hours=4))
    ref = book_on(loaded_store, [first, onward])
    came = onward.departs_at + timedelta(hours=2)             # late: the booked run has gone
    nxt = first_after(loaded_store, "GE_TBS", "GE_PTI", came)
    ingest(loaded_store, [box_event("LOAD", first.departs_at - timedelta(hours=2), "GEGAR", box=BOX, bkg=ref,
                                    voyage="G00552")], "GR")
    vehicle_move(loaded_store, "DEPA", first.departs_at, "GEGAR", "RAIL", "G00552", "GR")
    vehicle_move(loaded_store, "ARRI", came, "GETBS", "RAIL", "G00552", "GR")
    st, got, alerts = status_and_eta(loaded_store)
    assert [l.departure_id for l in got.legs] == [nxt.id] and got.at == nxt.arrives_at
    assert got.missed == ((onward.id, nxt.id),) and "MISS" in alerts


def test_a_box_set_down_early_waits_for_the_train_it_is_booked_on(loaded_store):
    now = datetime.now(timezone.utc)
    sailing = first_after(loaded_store, "KZ_AKX", "AZ_ALA", now - timedelta(days=14))
    train = first_after(loaded_store, "AZ_ALA", "AZ_BKS", sailing.arrives_at + timedelta(hours=20))
    ref = book_on(loaded_store, [sailing, train])
    # it came over on an earlier vessel than the sailing it is booked on: off it days before that arrives
    off = sailing.arrives_at - timedelta(days=3)
    earlier = first_after(loaded_store, "AZ_ALA", "AZ_BKS", off)
    assert earlier.departs_at < train.departs_at
    ingest(loaded_store, [box_event("DISC", off, "AZALA", box=BOX, bkg=ref, mode="VESSEL", voyage="KMTF002")],
           "PORTBAKU")
    st, got, _ = status_and_eta(loaded_store)
    assert st["state"] == "at_facility" and st["location"] == "AZALA"
    assert [l.departure_id for l in got.legs] == [train.id] and got.at == train.arrives_at and not got.missed
