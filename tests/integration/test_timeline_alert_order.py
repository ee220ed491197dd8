"""A timeline's alerts are in time order (by instant, not by the text of times in different
offsets; at one instant in the order reported), whether the read takes the stored timeline
(`trip_timelines.alerts`, merged on ingest by tracking.timeline.fold_in) or builds it from the
events; a booking's alerts across its containers too — on both stores."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, func, insert, select

from corridor.access.visibility import viewer_for
from corridor.domain.events import Classifier, Event, EventKind
from corridor.domain.parties import Party, Role
from corridor.store import events as evstore
from corridor.store.tables import trip_timelines, trips
from corridor.tracking import status, timeline

from tracking_helpers import party

ADMIN = Party("ADM", "admin", frozenset({Role.ADMIN}))
XIAN = timezone(timedelta(hours=8))      # Asia/Shanghai
DOSTYK = timezone(timedelta(hours=5))    # Kazakhstan
T0 = datetime(2025, 3, 1, tzinfo=timezone.utc)


def _trip(box: str) -> str:
    return f"{box}-202503010000"


def _alert(box: str, code: str, when: datetime, where: str, reason: str) -> Event:
    """An alert; the tests tell them apart by `reason`."""
    return Event(EventKind.ALERT, code, Classifier.ACT, when, location=where, equipment=box,
                 references=(("BKG", "B9"),), trip_id=_trip(box), source_party="CORRIDOR",
                 parties=frozenset({"ACME"}), reason=reason)


def _gate_in(box: str, when: datetime) -> Event:
    return Event(EventKind.EQUIPMENT, "GTIN", Classifier.ACT, when, location="CNXIA", equipment=box,
                 references=(("BKG", "B9"),), trip_id=_trip(box), source_party="ACME", parties=frozenset({"ACME"}))


def _append(store, box: str, batch: list[Event]) -> None:
    """Stored as the ingest path does: appended, then the status step (which folds the timeline)."""
    with store.tx() as conn:
        if conn.execute(select(func.count()).select_from(trips).where(trips.c.id == _trip(box))).scalar_one() == 0:
            conn.execute(insert(trips).values(id=_trip(box), equipment=box, booking_ref="B9", parties=["ACME"],
                                              starts_at=T0, created_at=T0))
        stored, _ = evstore.append(conn, batch)
        status.apply(conn, stored)


def _stored_and_built(store, box: str, v) -> tuple[bytes, bytes, bool]:
    """(the answer from the stored timeline, the one built from the events, whether the first took
    the stored row)."""
    with store.read() as conn:
        timeline.forget(conn)
        current = timeline.stored_is_current(conn, _trip(box))
        stored = timeline.container_json(conn, box, v)
    with store.tx() as conn:
        conn.execute(delete(trip_timelines).where(trip_timelines.c.trip_id == _trip(box)))
        timeline.forget(conn)
        built = timeline.container_json(conn, box, v)
        conn.rollback()
    timeline.forget()
    return stored, built, current


def _reasons(body: bytes) -> list[str]:
    return [a["reason"] for a in json.loads(body)["alerts"]]


def test_alerts_are_in_time_order_stored_and_built(loaded_store):
    party(loaded_store, "ACME", Role.SHIPPER)
    with loaded_store.read() as conn:
        admin = viewer_for(conn, ADMIN)
    box = "MSCU1234566"
    # 1st batch: an alert at Dostyk at 12:35+05:00 (07:35Z), and one at Xi'an reported after it but
    # earlier in time (14:35+08:00 = 06:35Z): by the text 12:35 < 14:35, in time Xi'an comes first
    _append(loaded_store, box, [
        _gate_in(box, T0),
        _alert(box, "LATE", datetime(2025, 3, 1, 12, 35, tzinfo=DOSTYK), "KZDOS", "DOS1"),
        _alert(box, "DWEL", datetime(2025, 3, 1, 14, 35, tzinfo=XIAN), "CNXIA", "XIA1")])
    stored, built, current = _stored_and_built(loaded_store, box, admin)
    assert current and stored == built
    assert _reasons(stored) == ["XIA1", "DOS1"]
    # 2nd batch, stored after the 1st: one before both (06:00Z), one at Dostyk's instant (after
    # it at that instant: reported later), one after all
    _append(loaded_store, box, [
        _alert(box, "SILN", datetime(2025, 3, 1, 15, 35, tzinfo=XIAN), "CNXIA", "SAME"),
        _alert(box, "MISS", datetime(2025, 3, 2, 0, 0, tzinfo=timezone.utc), "KZDOS", "LAST"),
        _alert(box, "OFFR", datetime(2025, 3, 1, 6, 0, tzinfo=timezone.utc), "CNXIA", "EARLY")])
    stored, built, current = _stored_and_built(loaded_store, box, admin)
    assert current and stored == built
    assert _reasons(stored) == ["EARLY", "XIA1", "DOS1", "SAME", "LAST"]
    ats = [datetime.fromisoformat(a["at"]) for a in json.loads(stored)["alerts"]]
    assert ats == sorted(ats) and [a[-6:] for a in (x["at"] for x in json.loads(stored)["alerts"])] == \
        ["+08:00", "+08:00", "+05:00", "+08:00", "+05:00"]   # each in its place's time
    # 3rd batch: after all of them (appended to the stored ones as they are)
    _append(loaded_store, box, [_alert(box, "LATE", datetime(2025, 3, 3, tzinfo=timezone.utc), "KZDOS", "NEXT")])
    stored, built, current = _stored_and_built(loaded_store, box, admin)
    assert current and stored == built and _reasons(stored)[-2:] == ["LAST", "NEXT"]


def test_a_bookings_alerts_are_in_time_order_across_its_containers(loaded_store):
    party(loaded_store, "ACME", Role.SHIPPER)
    with loaded_store.read() as conn:
        admin = viewer_for(conn, ADMIN)
    one, two = "MSCU1234566", "TGHU1234567"
    _append(loaded_store, one, [_gate_in(one, T0),
                                _alert(one, "LATE", datetime(2025, 3, 1, 9, tzinfo=timezone.utc), "KZDOS", "A3")])
    _append(loaded_store, two, [_gate_in(two, T0),
                                _alert(two, "DWEL", datetime(2025, 3, 1, 14, tzinfo=XIAN), "CNXIA", "B1"),
                                _alert(two, "SILN", datetime(2025, 3, 1, 18, tzinfo=XIAN), "CNXIA", "B4")])
    _append(loaded_store, one, [_alert(one, "MISS", datetime(2025, 3, 1, 12, tzinfo=DOSTYK), "KZDOS", "A2")])
    with loaded_store.read() as conn:
        doc = timeline.booking_timeline(conn, "B9", admin)
    assert [(a["reason"], a["equipment"]) for a in doc["alerts"]] == [("B1", two), ("A2", one), ("A3", one), ("B4", two)]
