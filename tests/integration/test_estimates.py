"""Which estimate is current (both stores): the one its sender created last, whatever the order
the reports arrive in; an estimate a sender goes back to after changing its mind (A, then B, then A
again) is a new report, while a re-sent or late old report is not."""

from __future__ import annotations

import json
import uuid

from corridor.access.visibility import viewer_for
from corridor.domain.parties import Party, Role
from corridor.ingest.service import Ingestor
from corridor.store import events as ev
from corridor.tracking import timeline
from corridor.tracking import hooks  # noqa: F401 - the tracking steps run on ingest, as in the API

BOX = "MSKU1234565"
ADMIN = Party("ADM", "admin", frozenset({Role.ADMIN}))
A, B = "2026-03-09T18:00:00+04:00", "2026-03-08T06:00:00+04:00"


def estimate(eta: str, created: str, sender_id: str | None = None) -> dict:
    """A carrier's EST discharge at Alat for the box, created at `created` (a fresh eventID each
    time, as many systems send)."""
    return {"eventID": sender_id or str(uuid.uuid4()), "eventType": "EQUIPMENT", "eventClassifierCode": "EST",
            "eventDateTime": eta, "eventCreatedDateTime": created, "equipmentEventTypeCode": "DISC",
            "equipmentReference": BOX, "emptyIndicatorCode": "LADEN",
            "eventLocation": {"UNLocationCode": "AZALA"}}


def gate_in() -> dict:
    return {"eventID": str(uuid.uuid4()), "eventType": "EQUIPMENT", "eventClassifierCode": "ACT",
            "eventDateTime": "2026-03-02T08:10:00+05:00", "eventCreatedDateTime": "2026-03-02T08:15:00+05:00",
            "equipmentEventTypeCode": "GTIN", "equipmentReference": BOX, "emptyIndicatorCode": "LADEN",
            "eventLocation": {"UNLocationCode": "KZAAU"}}


def send(store, *evs: dict, sender: str = "ASCO"):
    return Ingestor(store).ingest(json.dumps(list(evs)).encode(), source_party=sender, fmt="dcsa-json")


def current(store) -> str | None:
    """The estimated discharge at Alat the box's timeline shows now."""
    with store.read() as conn:
        tl = timeline.container_timeline(conn, BOX, viewer_for(conn, ADMIN))
        fresh = (timeline.forget(conn), timeline.container_timeline(conn, BOX, viewer_for(conn, ADMIN)))[1]
    assert tl == fresh   # the timeline kept at ingest says what one built from the events says
    (m,) = [m for m in tl["milestones"] if m["code"] == "DISC" and m["location"] == "AZALA"]
    return m["estimated"]


def ests(store) -> list:
    with store.read() as conn:
        return [e for e in map(ev.row_to_event, conn.execute(ev.select_events()).all())
                if e.classifier.value == "EST" and e.source_party == "ASCO"]


def test_the_estimate_created_last_is_current_whatever_the_arrival_order(loaded_store):
    assert send(loaded_store, gate_in()).stored == 1
    assert send(loaded_store, estimate(A, "2026-03-04T10:00:00+04:00")).stored == 1
    # an older estimate (created a day before) arrives late: kept, but it does not supersede
    assert send(loaded_store, estimate(B, "2026-03-03T10:00:00+04:00")).stored == 1
    assert current(loaded_store) == A
    assert len(ests(loaded_store)) == 2
    # a newer one does
    assert send(loaded_store, estimate(B, "2026-03-05T10:00:00+04:00")).stored == 1   # made anew
    assert current(loaded_store) == B


def test_an_estimate_the_sender_goes_back_to_is_current_again(loaded_store):
    assert send(loaded_store, gate_in()).stored == 1
    assert send(loaded_store, estimate(A, "2026-03-04T10:00:00+04:00")).stored == 1
    assert send(loaded_store, estimate(B, "2026-03-05T10:00:00+04:00")).stored == 1
    assert current(loaded_store) == B
    back = send(loaded_store, estimate(A, "2026-03-06T10:00:00+04:00"))
    assert (back.stored, back.duplicates) == (1, 0)
    assert current(loaded_store) == A
    # re-sending that report, or an old one, or the same estimate created again, stores nothing
    for again in (estimate(A, "2026-03-06T10:00:00+04:00"), estimate(B, "2026-03-05T10:00:00+04:00"),
                  estimate(A, "2026-03-04T10:00:00+04:00"), estimate(A, "2026-03-07T10:00:00+04:00")):
        o = send(loaded_store, again)
        assert (o.stored, o.duplicates) == (0, 1), again
    assert current(loaded_store) == A
    assert [e.event_time.isoformat() for e in ests(loaded_store)] == [A, B, A]
    # another party reporting the same estimates (an export posted back) collapses onto them
    o = send(loaded_store, estimate(B, "2026-03-08T10:00:00+04:00"), sender="SHIPA")
    assert (o.stored, o.duplicates) == (0, 1)
    assert current(loaded_store) == A


def test_an_eta_corridor_goes_back_to_is_published_again(loaded_store):
    from datetime import datetime, timedelta, timezone
    from types import SimpleNamespace
    assert send(loaded_store, gate_in()).stored == 1
    with loaded_store.read() as conn:
        (st,) = [s for s in conn.execute(ev.select_events()).all()]
    trip = {"trip_id": st.trip_id, "equipment": BOX, "booking_ref": None, "parties": "ASCO"}
    a = datetime(2026, 3, 12, 8, tzinfo=timezone.utc)
    b = a + timedelta(days=3)
    published = []
    for at in (a, b, a):
        eta = SimpleNamespace(at=at, low=at - timedelta(hours=6), high=at + timedelta(hours=6))
        with loaded_store.tx() as conn:
            published += hooks.store_derived(conn, [hooks.est_event(trip, eta, "AZALA")])
    assert [e.event_time for _, e in published] == [a, b, a]   # the third is not dropped as A's re-send
    with loaded_store.read() as conn:
        assert hooks.last_published(conn, st.trip_id) == a
        tl = timeline.container_timeline(conn, BOX, viewer_for(conn, ADMIN))
    (m,) = [m for m in tl["milestones"] if m["code"] == "DISC"]
    assert datetime.fromisoformat(m["estimated"]) == a
