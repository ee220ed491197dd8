"""A carrier's IFTSAI schedule change becomes a notice, and NOTC alerts, stamped when the message
was received — in a twin run its simulated time — not at the wall clock of the run; through
`Ingestor.ingest` and `ingest_many` (the twin's path) — on both stores."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from corridor.booking.containers import parse_containers
from corridor.booking.service import BookingService
from corridor.domain.parties import Party, Role
from corridor.ingest.service import Incoming, Ingestor
from corridor.store import network as netstore
from corridor.store import parties as ps
from corridor.store.tables import departures, events, notices


def _iftsai(ref: str, voyage: str, planned_arr: datetime, est_arr: datetime | None, cancelled: bool = False) -> bytes:
    """ASCO's schedule message for one Aktau -> Alat sailing: delayed (an estimated arrival after
    the scheduled one) or cancelled (BGM message function 1)."""
    f = lambda t: t.astimezone(timezone.utc).strftime("%Y%m%d%H%M")
    est = f"DTM+132:{f(est_arr)}+00:303'" if est_arr else ""
    n = 6 + bool(est_arr)
    return (f"UNB+UNOA:2+ASCO+CORRIDOR+260101:0900+{ref}'UNH+S1+IFTSAI:D:99B:UN'BGM+TS2+{ref}+{1 if cancelled else 9}'"
            f"TDT+20+{voyage}+1++ASC:172'LOC+9+KZAAU:139:6'LOC+11+AZALA:139:6'"
            f"DTM+232:{f(planned_arr)}+00:303'{est}UNT+{n}+S1'UNZ+1+{ref}'").encode()


def _sailings(store, n: int):
    """The next `n` ASCO sailings Aktau -> Alat more than 20 days ahead, each booked by ACME."""
    with store.tx() as conn:
        ps.upsert_party(conn, Party("ASCO", "ASCO", frozenset({Role.FERRY_OPERATOR}), "AZ", edi_ids=("ASCO",)))
        ps.upsert_party(conn, Party("ACME", "Acme", frozenset({Role.SHIPPER})))
        rows = conn.execute(select(departures).where(
            departures.c.origin == "KZ_AKX", departures.c.destination == "AZ_ALA", departures.c.operator == "ASCO",
            departures.c.status == "scheduled",
            departures.c.departs_at > datetime.now(timezone.utc) + timedelta(days=20))
            .order_by(departures.c.departs_at).limit(n)).all()
    deps = [netstore.row_to_departure(r) for r in rows]
    assert len(deps) == n
    svc = BookingService(store)
    refs = [svc.book("ACME", "KZ_AKX", "AZ_ALA", d.departs_at - timedelta(days=1), parse_containers("1x40"), [d.id]).ref
            for d in deps]
    return deps, refs


def _stamps(store, dep_id: str, booking: str) -> tuple[list[datetime], list[datetime]]:
    """(created_at of the notices on the departure, event times of the booking's NOTC alerts)."""
    with store.read() as conn:
        made = conn.execute(select(notices.c.created_at).where(notices.c.departure_id == dep_id)).scalars().all()
        said = conn.execute(select(events.c.event_time).where(
            events.c.code == "NOTC", events.c.booking_ref == booking)).scalars().all()
    return made, said


def test_a_schedule_change_is_stamped_when_its_message_was_received(loaded_store):
    (late, gone, twin, next_), (b_late, b_gone, b_twin, b_next) = _sailings(loaded_store, 4)
    ingestor = Ingestor(loaded_store)
    # a twin run days ahead of the wall clock, each message at its own simulated time
    received = late.departs_at - timedelta(days=2, hours=3, minutes=17)
    out = ingestor.ingest(_iftsai("SA1", late.voyage, late.arrives_at, late.arrives_at + timedelta(hours=9)),
                          received_at=received)
    assert out.quarantined == 0, out.reasons
    assert (out.schedule, out.as_json()["schedule_changes"]) == (1, 1)   # the sailing it delayed
    made, said = _stamps(loaded_store, late.id, b_late)
    assert made == [received] and said == [received]

    # a cancellation carries no events at all: its notice and alert still take the receipt time
    received = gone.departs_at - timedelta(days=4, minutes=41)
    out = ingestor.ingest(_iftsai("SA2", gone.voyage, gone.arrives_at, None, cancelled=True), received_at=received)
    assert out.quarantined == 0, out.reasons
    with loaded_store.read() as conn:
        assert netstore.get_departure(conn, gone.id)[0].status == "cancelled"
    made, said = _stamps(loaded_store, gone.id, b_gone)
    assert made == [received] and said == [received]

    # the twin hands a reporting window over at once: each message at its own time
    first, then = twin.departs_at - timedelta(days=3), twin.departs_at - timedelta(days=2, hours=20)
    outs = ingestor.ingest_many([
        Incoming(_iftsai("SA3", twin.voyage, twin.arrives_at, twin.arrives_at + timedelta(hours=5)), received_at=first),
        Incoming(_iftsai("SA4", next_.voyage, next_.arrives_at, None, cancelled=True), received_at=then)])
    assert [o.quarantined for o in outs] == [0, 0], [o.reasons for o in outs]
    assert _stamps(loaded_store, twin.id, b_twin) == ([first], [first])
    assert _stamps(loaded_store, next_.id, b_next) == ([then], [then])
