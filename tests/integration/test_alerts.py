"""Alerts, each from a constructed case through the real ingest path: LATE against the promise,
MISS of the booked departure, OFFR off the booked route, SILN nothing heard, DWEL above normal;
alerts are stored events and reach subscriptions through the outbox."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from corridor.booking.containers import parse_containers
from corridor.booking.service import BookingService
from corridor.domain.parties import Role
from corridor.store import network as netstore
from corridor.store.tables import events, outbox, trip_status
from corridor.tracking import hooks, outbox as subs
from corridor.tracking.alerts import DEFAULT_DWELL_HOURS, LATE_TOLERANCE, SILENT_HOURS

from tracking_helpers import box_event, ingest, party

BOX = "MSCU1234566"


def alerts_of(store, box: str = BOX) -> list:
    with store.read() as conn:
        return conn.execute(select(events).where(events.c.kind == "ALERT", events.c.equipment == box)
                            .order_by(events.c.seq)).all()


def status_of(store, box: str = BOX):
    with store.read() as conn:
        return conn.execute(select(trip_status).where(trip_status.c.equipment == box)).one()


@pytest.fixture
def ferry_booking(loaded_store):
    """ACME booked on an Aktau -> Alat sailing ten days ago, with a later sailing on the same link."""
    party(loaded_store, "ACME", Role.SHIPPER)
    now = datetime.now(timezone.utc)
    with loaded_store.read() as conn:
        deps = [d for d, _ in netstore.list_departures(conn, origin="KZ_AKX", destination="AZ_ALA", limit=500)]
    deps = [d for d in deps if d.status != "cancelled"]
    booked = next(d for d in deps if now - timedelta(days=12) < d.departs_at < now - timedelta(days=8))
    rec = BookingService(loaded_store).book("ACME", "KZAAU", "AZALA", booked.departs_at - timedelta(days=2),
                                            parse_containers("1x40"), [booked.id], with_alternatives=False)
    return rec, booked


def test_box_after_the_ferry_left_raises_miss_and_late(loaded_store, ferry_booking):
    rec, booked = ferry_booking
    came = booked.departs_at + timedelta(days=2)         # the booked sailing left two days ago
    ingest(loaded_store, [box_event("GTIN", came, "KZAAU", box=BOX, bkg=rec.ref)], "ACME")
    st = status_of(loaded_store)
    codes = {a.code: a for a in alerts_of(loaded_store)}
    assert "MISS" in codes
    assert codes["MISS"].extra["booked"] == booked.id and codes["MISS"].extra["next"] != booked.id
    # the ETA is laid on a later sailing: beyond the promise by more than the tolerance -> LATE
    assert st.eta > rec.promised_arrival + LATE_TOLERANCE
    late = codes["LATE"]
    assert late.event_time == rec.promised_arrival and late.location == "AZALA"
    assert datetime.fromisoformat(late.extra["eta"]) == st.eta
    assert "ACME" in late.parties and late.trip_id == st.trip_id


def test_box_in_time_for_its_sailing_raises_nothing(loaded_store, ferry_booking):
    rec, booked = ferry_booking
    ingest(loaded_store, [box_event("GTIN", booked.departs_at - timedelta(hours=30), "KZAAU", box=BOX,
                                    bkg=rec.ref)], "ACME")
    assert status_of(loaded_store).eta is not None
    assert [a.code for a in alerts_of(loaded_store)] == []


def test_box_reported_off_the_booked_route_raises_offr(loaded_store, ferry_booking):
    rec, booked = ferry_booking
    ingest(loaded_store, [box_event("GTIN", booked.departs_at - timedelta(days=1), "KZDOS", box=BOX,
                                    bkg=rec.ref)], "ACME")
    offr = [a for a in alerts_of(loaded_store) if a.code == "OFFR"]
    assert len(offr) == 1 and "KZDOS" in offr[0].reason and "KZAAU" in offr[0].reason


def test_silence_raises_siln_once(loaded_store, ferry_booking):
    rec, booked = ferry_booking
    load = booked.departs_at - timedelta(hours=1)
    ingest(loaded_store, [box_event("LOAD", load, "KZAAU", box=BOX, bkg=rec.ref, mode="VESSEL",
                                    voyage=booked.id)], "ACME")
    assert hooks.sweep(loaded_store, load + timedelta(hours=SILENT_HOURS - 1)) == 0   # not silent yet
    assert hooks.sweep(loaded_store, load + timedelta(hours=SILENT_HOURS + 5)) == 1
    assert hooks.sweep(loaded_store, load + timedelta(hours=SILENT_HOURS + 9)) == 0   # the same alert again
    siln = [a for a in alerts_of(loaded_store) if a.code in ("SILN", "DWEL")]
    assert [a.code for a in siln] == ["SILN"]                                     # aboard: no dwell
    assert siln[0].event_time == load + timedelta(hours=SILENT_HOURS)


def test_dwell_above_normal_raises_dwel_and_reaches_subscriptions(loaded_store, ferry_booking):
    rec, booked = ferry_booking
    with loaded_store.tx() as conn:
        corridor_sub = subs.create(conn, "ACME", "http://127.0.0.1:9/cb", b"k" * 32, {"format": "corridor"})
        dcsa_sub = subs.create(conn, "ACME", "http://127.0.0.1:9/cb", b"k" * 32, {})
    came = booked.departs_at - timedelta(days=1)
    ingest(loaded_store, [box_event("GTIN", came, "KZAAU", box=BOX, bkg=rec.ref)], "ACME")
    before = hooks.sweep(loaded_store, came + timedelta(hours=DEFAULT_DWELL_HOURS - 2), silent_hours=1e6)
    assert before == 0
    assert hooks.sweep(loaded_store, came + timedelta(hours=DEFAULT_DWELL_HOURS + 3), silent_hours=1e6) == 1
    dwel = [a for a in alerts_of(loaded_store) if a.code == "DWEL"]
    assert len(dwel) == 1 and dwel[0].location == "KZAAU"
    assert dwel[0].event_time == came + timedelta(hours=DEFAULT_DWELL_HOURS)
    with loaded_store.read() as conn:
        queued = {(r.subscription_id, r.event_seq) for r in conn.execute(select(outbox)).all()}
    assert (corridor_sub, dwel[0].seq) in queued          # an alert is a notification like any event
    assert (dcsa_sub, dwel[0].seq) not in queued          # DCSA 2.2 has no alert events
    assert any(s == dcsa_sub for s, _ in queued)          # ...but the GTIN itself went to both


def test_a_missed_connection_is_alerted_once_while_the_box_moves_on_toward_it(loaded_store, ferry_booking):
    rec, booked = ferry_booking
    came = booked.departs_at + timedelta(days=2)         # the booked sailing left two days ago
    # gate in, out to the truck park, in again: three state changes, one missed connection
    for i, code in enumerate(("GTIN", "GTOT", "GTIN")):
        ingest(loaded_store, [box_event(code, came + timedelta(hours=3 * i), "KZAAU", box=BOX, bkg=rec.ref)], "ACME")
    misses = [a for a in alerts_of(loaded_store) if a.code == "MISS"]
    assert len(misses) == 1, [(a.event_time, a.extra) for a in misses]
    assert misses[0].extra["booked"] == booked.id
