"""Bookings on both stores: one-transaction reservations, lifecycle, re-routing, PLN events, no overselling."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from corridor.booking.containers import parse_containers
from corridor.booking.service import BookingNotFound, BookingService, NoRoute, SpaceUnavailable, ready_time
from corridor.domain.errors import AmbiguousPlace, CapacityExceeded, DomainError, InvalidTransition, UnknownPlace
from corridor.domain.parties import Party, Role
from corridor.store import network as netstore
from corridor.store.events import row_to_event, select_events
from corridor.store.parties import upsert_party
from corridor.store.tables import bookings, events

from tracking_helpers import quoted_option


def _parties(store):
    with store.tx() as conn:
        upsert_party(conn, Party("ACME", "Acme Trading", frozenset({Role.SHIPPER})))
        upsert_party(conn, Party("BETA", "Beta Goods", frozenset({Role.SHIPPER})))
        upsert_party(conn, Party("FWD", "Silk Forwarding", frozenset({Role.FORWARDER})))


@pytest.fixture
def svc(loaded_store):
    _parties(loaded_store)
    return BookingService(loaded_store)


def _quote(svc, frm="XIA", to="Poti", containers="2x40", day=None):
    day = day or (date.today() + timedelta(days=7)).isoformat()   # quotes refuse past days
    return svc.quote(frm, to, ready_time(svc.network, frm, day), parse_containers(containers))


def _reserved(store, dep_id):
    with store.read() as conn:
        return netstore.get_departure(conn, dep_id)[1]


def test_quote_offers_timed_priced_options_on_the_corridor(svc):
    q = _quote(svc, "XIA", "IST")
    assert q.options and q.teu == 4
    for opt in q.options:
        assert opt.departs_at >= q.ready_at and opt.arrives_at > opt.departs_at
        assert opt.legs[0].departure.origin == "CN_XIA" and opt.legs[-1].departure.destination == "TR_IST"
        assert float(opt.price.amount) > 0 and opt.co2e_kg > 0
        doc = opt.as_json(svc.network)
        assert doc["departure"].endswith(("+08:00",)) and doc["arrival"].endswith("+03:00")
        assert doc["transit_days"] == pytest.approx(doc["transit_hours"] / 24, abs=0.06)


def test_places_by_name_and_ambiguity(svc):
    with pytest.raises(AmbiguousPlace) as e:
        _quote(svc, "XIA", "Baku")
    assert any("AZALA" in c for c in e.value.candidates)
    with pytest.raises(UnknownPlace) as e:
        _quote(svc, "XIA", "Potti")
    assert "GEPTI" in str(e.value)


def test_book_reserves_every_leg_and_writes_the_plan(svc, loaded_store):
    q = _quote(svc)
    rec = svc.book_option("ACME", q, 1, forwarder="FWD")
    b = rec.booking
    assert b.status.value == "confirmed" and b.ref.startswith("CB-") and len(b.ref) == 14
    assert b.parties == {"ACME", "FWD"}
    assert [leg.departure_id for leg in b.legs] == list(q.options[0].departure_ids)
    for leg in b.legs:
        assert _reserved(loaded_store, leg.departure_id) == 4
    with loaded_store.read() as conn:
        evs = [row_to_event(r) for r in conn.execute(select_events().where(events.c.booking_ref == b.ref))]
    plan = [e for e in evs if e.classifier.value == "PLN"]
    assert len(plan) == 2 * len(b.legs)
    assert {e.transport_call.departure_id for e in plan} == {leg.departure_id for leg in b.legs}
    first = next(e for e in plan if e.code == "DEPA" and e.transport_call.departure_id == b.legs[0].departure_id)
    assert first.event_time == b.legs[0].departs_at and first.location == "CNXIA"
    assert {"ACME", "FWD"} <= first.parties
    assert {e.code for e in evs if e.kind.value == "SHIPMENT"} == {"RECE", "CONF"}


def test_two_bookings_on_the_same_train_each_keep_their_plan(svc, loaded_store):
    q = _quote(svc)
    a = svc.book_option("ACME", q, 1).booking
    b = svc.book_option("BETA", q, 1).booking
    with loaded_store.read() as conn:
        n = {ref: conn.execute(select(func.count()).select_from(events).where(
            events.c.booking_ref == ref, events.c.classifier == "PLN")).scalar() for ref in (a.ref, b.ref)}
    assert n[a.ref] == n[b.ref] == 2 * len(a.legs)


def test_full_leg_rolls_back_every_leg_and_offers_alternatives(svc, loaded_store):
    q = _quote(svc)
    opt = q.options[0]
    ferry = next(leg.departure for leg in opt.legs if leg.departure.mode.is_water)
    with loaded_store.tx() as conn:   # someone else took all but 2 TEU of the ferry
        assert netstore.reserve(conn, ferry.id, ferry.capacity_teu - 2)
    with pytest.raises(SpaceUnavailable) as e:
        svc.book_option("ACME", q, 1)
    assert e.value.departure_id == ferry.id and e.value.free_teu == 2 and ferry.id in str(e.value)
    assert e.value.alternatives and all(ferry.id not in a.departure_ids for a in e.value.alternatives)
    for leg in opt.legs:   # nothing else stayed reserved
        expected = ferry.capacity_teu - 2 if leg.departure.id == ferry.id else 0
        assert _reserved(loaded_store, leg.departure.id) == expected
    with loaded_store.read() as conn:
        assert conn.execute(select(func.count()).select_from(bookings)).scalar() == 0


def test_lifecycle_and_cancel_releases_space(svc, loaded_store):
    q = _quote(svc)
    rec = svc.book_option("ACME", q, 1, confirm=False)
    assert rec.booking.status.value == "requested"
    ids = [leg.departure_id for leg in rec.booking.legs]
    assert all(_reserved(loaded_store, i) == 4 for i in ids)
    assert svc.confirm(rec.ref).booking.status.value == "confirmed"
    with pytest.raises(InvalidTransition):
        svc.deliver(rec.ref)
    svc.cancel(rec.ref, reason="order withdrawn")
    assert all(_reserved(loaded_store, i) == 0 for i in ids)
    with pytest.raises(InvalidTransition):
        svc.cancel(rec.ref)
    other = svc.book_option("BETA", q, 1)
    assert svc.start_transit(other.ref).booking.status.value == "in_transit"
    assert svc.deliver(other.ref).booking.status.value == "delivered"
    with pytest.raises(BookingNotFound):
        svc.get("CB-0000-000000")


def test_reroute_after_a_missed_ferry_keeps_history(svc, loaded_store):
    # a route over Aktau: on some days the quote leads with Kuryk's ferries instead
    day = (date.today() + timedelta(days=7)).isoformat()
    ids, ready = quoted_option(svc, "CNXIA", "GEPTI", ready_time(svc.network, "XIA", day), "2x40", want={"KZ_AKX"})
    rec = svc.book("ACME", "CNXIA", "GEPTI", ready, parse_containers("2x40"), ids)
    b = rec.booking
    i = next(k for k, leg in enumerate(b.legs) if svc.network.locations[leg.origin].ref == "KZAAU")
    missed = b.legs[i]
    arrived = b.legs[i - 1].arrives_at
    alt = svc.reroute_options(b.ref, "KZAAU", arrived, avoid=[missed.departure_id])
    new = alt.options[0]
    assert missed.departure_id not in new.departure_ids
    out = svc.amend(b.ref, new.departure_ids, reason="missed ferry").booking
    assert [leg.departure_id for leg in out.legs[:i]] == [leg.departure_id for leg in b.legs[:i]]
    assert [leg.departure_id for leg in out.legs[i:]] == list(new.departure_ids)
    hist = svc.get(b.ref).history
    assert missed.departure_id in {leg.departure_id for leg in hist}
    assert _reserved(loaded_store, missed.departure_id) == 0
    for dep_id in new.departure_ids:
        assert _reserved(loaded_store, dep_id) == 4
    for leg in b.legs[:i]:
        assert _reserved(loaded_store, leg.departure_id) == 4
    assert svc.affected_by(new.departure_ids[0]) == [b.ref]
    with pytest.raises(DomainError):   # a route that does not connect
        svc.amend(b.ref, [new.departure_ids[-1]])


def test_bad_requests_say_what_is_wrong(svc):
    with pytest.raises(DomainError, match="not a valid date"):
        ready_time(svc.network, "XIA", "2026-02-30")
    with pytest.raises(DomainError, match="at least 1"):
        parse_containers("0x40")
    with pytest.raises(CapacityExceeded, match="split the lot into bookings of at most"):
        _quote(svc, containers="100000x40")
    with pytest.raises(NoRoute, match="timetable runs from"):
        _quote(svc, day="2040-01-01")
    with pytest.raises(DomainError, match="split"):
        _quote(svc, containers="400x40")
    with pytest.raises(DomainError, match="not a registered party"):
        svc.book_option("NOBODY", _quote(svc), 1)


def _fifty_teu_sailing(store, svc):
    """A 50-TEU Aktau → Alat feeder sailing added to the timetable."""
    with store.read() as conn:
        base = next(d for d, _ in netstore.list_departures(conn, origin="KZ_AKX", destination="AZ_ALA", limit=50))
    dep = replace(base, id=base.id + "-T50", capacity_teu=50, status="scheduled")
    with store.tx() as conn:
        netstore.save_departures(conn, [dep])
    return dep


def test_500_concurrent_requests_never_oversell_a_50_teu_sailing(svc, loaded_store):
    dep = _fifty_teu_sailing(loaded_store, svc)
    box = parse_containers("1x20")
    ready = dep.departs_at - timedelta(days=1)
    start = threading.Barrier(100)
    outcome = {"ok": 0, "full": 0}
    lock = threading.Lock()

    def one(i: int):
        if i < 100:
            start.wait()
        try:
            svc.book("ACME" if i % 2 else "BETA", "KZAAU", "AZALA", ready, box, [dep.id], with_alternatives=False)
            key = "ok"
        except SpaceUnavailable:
            key = "full"
        with lock:
            outcome[key] += 1

    with ThreadPoolExecutor(max_workers=100) as pool:
        list(pool.map(one, range(500)))
    assert outcome == {"ok": 50, "full": 450}
    assert _reserved(loaded_store, dep.id) == 50
    with loaded_store.read() as conn:
        assert conn.execute(select(func.count()).select_from(bookings)
                            .where(bookings.c.status == "confirmed")).scalar() == 50
        refs = conn.execute(select(bookings.c.ref)).scalars().all()
    assert len(set(refs)) == 50
