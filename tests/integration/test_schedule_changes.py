"""A carrier's IFTSAI schedule change (a delayed sailing) reaches the timetable and the bookings
on it through the one ingest path — on both stores."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from corridor.booking.containers import parse_containers
from corridor.booking.service import BookingService
from corridor.domain.parties import Party, Role
from corridor.ingest.service import Ingestor
from corridor.store import network as netstore
from corridor.store import parties as ps
from corridor.store.tables import departures, events


def _iftsai(voyage: str, origin: str, dest: str, planned_arr: datetime, est_arr: datetime) -> bytes:
    f = lambda t: t.astimezone(timezone.utc).strftime("%Y%m%d%H%M")
    return (f"UNB+UNOA:2+ASCO+CORRIDOR+260101:0900+SA7'UNH+S1+IFTSAI:D:99B:UN'BGM+TS2+SCH-7+9'"
            f"TDT+20+{voyage}+1++ASC:172'LOC+9+{origin}:139:6'LOC+11+{dest}:139:6'"
            f"DTM+232:{f(planned_arr)}+00:303'DTM+132:{f(est_arr)}+00:303'UNT+7+S1'UNZ+1+SA7'").encode()


def test_a_delayed_sailing_shifts_the_departure_and_alerts_its_booking(loaded_store):
    with loaded_store.tx() as conn:
        ps.upsert_party(conn, Party("ASCO", "ASCO", frozenset({Role.FERRY_OPERATOR}), "AZ", edi_ids=("ASCO",)))
        ps.upsert_party(conn, Party("ACME", "Acme", frozenset({Role.SHIPPER})))
        r = conn.execute(select(departures).where(
            departures.c.origin == "KZ_AKX", departures.c.destination == "AZ_ALA", departures.c.operator == "ASCO",
            departures.c.status == "scheduled", departures.c.departs_at > datetime.now(timezone.utc) + timedelta(days=5))
            .order_by(departures.c.departs_at)).first()
    dep = netstore.row_to_departure(r)
    svc = BookingService(loaded_store)
    booking = svc.book("ACME", "KZ_AKX", "AZ_ALA", dep.departs_at - timedelta(days=1), parse_containers("1x40"), [dep.id])
    out = Ingestor(loaded_store).ingest(
        _iftsai(dep.voyage, "KZAAU", "AZALA", dep.arrives_at, dep.arrives_at + timedelta(hours=14)))
    assert out.quarantined == 0, out.reasons
    with loaded_store.read() as conn:
        moved = netstore.get_departure(conn, dep.id)[0]
        alerts = conn.execute(select(events.c.reason).where(events.c.code == "NOTC",
                                                           events.c.booking_ref == booking.ref)).scalars().all()
    assert moved.status == "delayed" and moved.arrives_at - dep.arrives_at == timedelta(hours=14)
    assert alerts and "IFTSAI" in alerts[0]
