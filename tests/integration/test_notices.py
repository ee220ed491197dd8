"""Operator notices change the timetable and alert the bookings they touch (both stores)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select

from corridor.domain.errors import DomainError
from corridor.domain.parties import Party, Role
from corridor.notices.service import NoticeRefused, publish
from corridor.store import events as evstore
from corridor.store import network as netstore
from corridor.store import parties as ps
from corridor.store.tables import booking_legs, bookings, departures, events


def _caspian_sailing(conn, after: datetime):
    row = conn.execute(select(departures).where(departures.c.origin == "KZ_AKX", departures.c.mode.in_(
        ["ferry", "feeder"]), departures.c.departs_at >= after, departures.c.status == "scheduled")
        .order_by(departures.c.departs_at)).first()
    return netstore.row_to_departure(row)


def _book_on(conn, ref: str, dep) -> None:
    now = datetime.now(timezone.utc)
    ps.upsert_party(conn, Party("ACME", "Acme", frozenset({Role.SHIPPER})))
    conn.execute(insert(bookings).values(ref=ref, shipper="ACME", nominated=["SILKWAY"], origin="CN_XIA",
                                         destination="AZ_ALA", ready_at=now, containers=[{"count": 1, "size_type": "42G1"}],
                                         teu=2, status="confirmed", created_at=now, updated_at=now))
    conn.execute(insert(booking_legs).values(booking_ref=ref, seq=1, departure_id=dep.id, origin=dep.origin,
                                             destination=dep.destination, departs_at=dep.departs_at,
                                             arrives_at=dep.arrives_at, teu=2, active=True))
    assert netstore.reserve(conn, dep.id, 2)


def test_a_storm_closure_cancels_sailings_and_alerts_the_booking(loaded_store):
    start = datetime.now(timezone.utc) + timedelta(days=10)
    with loaded_store.tx() as conn:
        dep = _caspian_sailing(conn, start)
        _book_on(conn, "CB-TEST-1", dep)
    out = publish(loaded_store, operator="PORTAKTAU", kind="closure", location="KZ_AKX",
                  starts_at=dep.departs_at - timedelta(hours=1), ends_at=dep.departs_at + timedelta(days=2),
                  text="storm, port closed", facilities=frozenset({"KZ_AKX"}))
    assert dep.id in out.departures and out.bookings == ["CB-TEST-1"]
    with loaded_store.read() as conn:
        assert netstore.get_departure(conn, dep.id)[0].status == "cancelled"
        alert = evstore.row_to_event(conn.execute(select(events).where(events.c.code == "NOTC")).one())
    assert alert.reference("BKG") == "CB-TEST-1" and {"ACME", "SILKWAY"} <= alert.parties
    assert "storm" in alert.reason and "reroute" in alert.reason
    # where the port is closed, as events name it, and its times in Aktau's zone to the minute
    local = (dep.departs_at - timedelta(hours=1)).astimezone(timezone(timedelta(hours=5)))
    assert alert.location == "KZAAU" and f"at KZAAU from {local.isoformat(timespec='minutes')} to " in alert.reason


def test_a_delay_shifts_the_departure(loaded_store):
    with loaded_store.read() as conn:
        dep = _caspian_sailing(conn, datetime.now(timezone.utc) + timedelta(days=3))
    out = publish(loaded_store, operator=dep.operator, kind="delayed", departure_id=dep.id, delay_hours=18,
                  starts_at=dep.departs_at)
    assert out.departures == [dep.id] and out.bookings == []
    with loaded_store.read() as conn:
        moved = netstore.get_departure(conn, dep.id)[0]
    assert moved.status == "delayed" and moved.departs_at - dep.departs_at == timedelta(hours=18)


def test_operators_may_only_publish_for_their_own_facilities(loaded_store):
    with pytest.raises(NoticeRefused):
        publish(loaded_store, operator="PORTBAKU", kind="closure", location="KZ_AKX",
                starts_at=datetime.now(timezone.utc), facilities=frozenset({"AZ_ALA"}))
    with pytest.raises(DomainError, match="delay_hours"):
        publish(loaded_store, operator="X", kind="delayed", departure_id="nope", starts_at=datetime.now(timezone.utc))


def test_a_closure_alert_reaches_the_timeline_of_each_container_under_way(loaded_store):
    import json
    from corridor.access.visibility import viewer_for
    from corridor.ingest.service import Ingestor
    from corridor.tracking.timeline import trip_timeline
    from corridor.wiring import ensure_wired
    ensure_wired()
    start = datetime.now(timezone.utc) + timedelta(days=10)
    with loaded_store.tx() as conn:
        dep = _caspian_sailing(conn, start)
        _book_on(conn, "CB-TEST-2", dep)
        ps.upsert_party(conn, Party("PORTAKTAU", "Aktau", frozenset({Role.TERMINAL}), "KZ",
                                    facilities=frozenset({"KZ_AKX"})))
    gate_in = {"eventID": "6c1f0e3e-0000-4000-8000-000000000001", "eventType": "EQUIPMENT",
               "eventClassifierCode": "ACT", "eventDateTime": "2026-03-02T08:10:00+05:00",
               "eventCreatedDateTime": "2026-03-02T08:10:00+05:00", "equipmentEventTypeCode": "GTIN",
               "equipmentReference": "MSKU1234565", "emptyIndicatorCode": "LADEN",
               "eventLocation": {"UNLocationCode": "KZAAU"},
               "documentReferences": [{"documentReferenceType": "BKG", "documentReferenceValue": "CB-TEST-2"}]}
    o = Ingestor(loaded_store).ingest(json.dumps([gate_in]).encode(), source_party="PORTAKTAU", fmt="dcsa-json")
    assert o.stored == 1
    publish(loaded_store, operator="PORTAKTAU", kind="closure", location="KZ_AKX",
            starts_at=dep.departs_at - timedelta(hours=1), ends_at=dep.departs_at + timedelta(days=2),
            text="storm, port closed", facilities=frozenset({"KZ_AKX"}))
    with loaded_store.read() as conn:
        rows = conn.execute(select(events.c.equipment, events.c.trip_id).where(events.c.code == "NOTC")).all()
        trip_id = next(r.trip_id for r in rows if r.equipment == "MSKU1234565")
        tl = trip_timeline(conn, trip_id, viewer_for(conn, ps.get_party(conn, "ACME")))
    assert sorted((r.equipment or "") for r in rows) == ["", "MSKU1234565"]   # the booking's and the box's
    assert any(a["code"] == "NOTC" and "storm" in (a.get("reason") or "") for a in tl["alerts"]), tl["alerts"]
