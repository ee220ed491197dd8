"""A booked container's timeline shows its booking's plan: each booked departure and arrival with
its planned time, the actual and estimated ones beside it as they are reported; a re-routed
booking's timelines follow the new plan; the stored answer is the one built from the events, and
the booking can be tracked before any of its containers is reported — on both stores."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from corridor.access.visibility import viewer_for
from corridor.booking.service import BookingService
from corridor.domain.parties import Party, Role
from corridor.store import network as netstore
from corridor.tracking import timeline

from tracking_helpers import booked_sailing, box_event, ingest, vehicle_left

BOX = "MSCU1234566"
ADMIN = Party("ADM", "admin", frozenset({Role.ADMIN}))


def _timeline(store, ref: str = BOX) -> tuple[dict, dict]:
    """(the answer a read makes now, the one built from the trip's events alone)."""
    with store.read() as conn:
        v = viewer_for(conn, ADMIN)
        timeline.forget(conn)
        first = json.loads(timeline.container_json(conn, ref, v))
        conn.exec_driver_sql("DELETE FROM trip_timelines")   # rolled back: nothing of it is kept
        timeline.forget(conn)
        built = json.loads(timeline.container_json(conn, ref, v))
        conn.rollback()
    timeline.forget()
    return first, built


def _at(ms: list[dict], code: str, where: str) -> list[dict]:
    return [m for m in ms if m["code"] == code and m["location"] == where]


def _same_moment(a: str | None, b: datetime) -> bool:
    return a is not None and datetime.fromisoformat(a) == b


def test_the_booked_departure_and_arrival_show_planned_beside_actual(loaded_store):
    rec, booked = booked_sailing(loaded_store, (12, 8))
    came = booked.departs_at - timedelta(days=1)
    ingest(loaded_store, [box_event("GTIN", came, "KZAAU", box=BOX, bkg=rec.ref),
                          box_event("LOAD", came + timedelta(hours=20), "KZAAU", box=BOX, bkg=rec.ref,
                                    mode="VESSEL", voyage=booked.voyage)], "ACME")
    left = booked.departs_at + timedelta(minutes=40)
    assert vehicle_left(loaded_store, left, booked.voyage, "KZAAU", "VESSEL").stored == 2
    doc, built = _timeline(loaded_store)
    assert doc == built                                  # stored milestones or the events: one answer
    [dep] = _at(doc["milestones"], "DEPA", "KZAAU")       # one milestone: the vessel's report joined the plan
    assert _same_moment(dep["planned"], booked.departs_at) and _same_moment(dep["actual"], left)
    assert dep["planned"].endswith("+05:00") and dep["vehicle"] == booked.voyage
    [arr] = _at(doc["milestones"], "ARRI", "AZALA")       # still to come: planned (and estimated) only
    assert _same_moment(arr["planned"], booked.arrives_at) and arr["actual"] is None
    assert arr["planned"].endswith("+04:00")
    # the head names the destination as events do (its UN/LOCODE), not by Corridor's id
    assert doc["eta"] is None or doc["eta"]["destination"] == "AZALA"


def test_a_rerouted_booking_shows_its_new_plan(loaded_store):
    rec, booked = booked_sailing(loaded_store, (12, 8), gap=timedelta(hours=12))
    came = booked.departs_at - timedelta(days=2)
    ingest(loaded_store, [box_event("GTIN", came, "KZAAU", box=BOX, bkg=rec.ref)], "ACME")
    with loaded_store.read() as conn:
        later = next(d for d, _ in netstore.list_departures(conn, origin="KZ_AKX", destination="AZ_ALA",
                                                             start=booked.departs_at + timedelta(hours=1), limit=5)
                     if d.status != "cancelled")
    before, _ = _timeline(loaded_store)
    assert _same_moment(_at(before["milestones"], "DEPA", "KZAAU")[0]["planned"], booked.departs_at)
    BookingService(loaded_store).amend(rec.ref, [later.id], reason="customer asked")
    doc, built = _timeline(loaded_store)
    assert doc == built
    [dep] = _at(doc["milestones"], "DEPA", "KZAAU")
    [arr] = _at(doc["milestones"], "ARRI", "AZALA")
    assert _same_moment(dep["planned"], later.departs_at) and _same_moment(arr["planned"], later.arrives_at)


def test_a_booking_is_tracked_before_its_containers_are_reported(loaded_store):
    rec, booked = booked_sailing(loaded_store, (12, 8))
    with loaded_store.read() as conn:
        acme = viewer_for(conn, Party("ACME", "ACME", frozenset({Role.SHIPPER})))
        other = viewer_for(conn, Party("OTHER", "OTHER", frozenset({Role.SHIPPER})))
        doc = timeline.booking_timeline(conn, rec.ref, acme)
        assert timeline.booking_timeline(conn, rec.ref, other) is None     # not its booking
    assert doc["containers"] == [] and doc["booking"]["origin"] == "KZAAU"
    assert doc["booking"]["destination"] == "AZALA" and doc["booking"]["status"] == "confirmed"
    [leg] = doc["plan"]
    assert (leg["departure_id"], leg["from"], leg["to"]) == (booked.id, "KZAAU", "AZALA")
    assert _same_moment(leg["departs_at"], booked.departs_at) and leg["departs_at"].endswith("+05:00")


def _booking_status(store, ref: str) -> str:
    from corridor.store.tables import bookings
    from sqlalchemy import select
    with store.read() as conn:
        return conn.execute(select(bookings.c.status).where(bookings.c.ref == ref)).scalar_one()


def test_a_booking_is_in_transit_when_its_box_moves_and_delivered_when_it_is(loaded_store):
    rec, booked = booked_sailing(loaded_store, (12, 8))
    came = booked.departs_at - timedelta(days=1)
    ingest(loaded_store, [box_event("GTIN", came, "KZAAU", box=BOX, bkg=rec.ref)], "ACME")
    assert _booking_status(loaded_store, rec.ref) == "confirmed"          # at the terminal: not yet
    ingest(loaded_store, [box_event("LOAD", came + timedelta(hours=20), "KZAAU", box=BOX, bkg=rec.ref,
                                    mode="VESSEL", voyage=booked.voyage)], "ACME")
    assert _booking_status(loaded_store, rec.ref) == "in_transit"
    ingest(loaded_store, [box_event("DISC", booked.arrives_at, "AZALA", box=BOX, bkg=rec.ref, mode="VESSEL",
                                    voyage=booked.voyage)], "ACME")
    assert _booking_status(loaded_store, rec.ref) == "in_transit"         # discharged, not yet collected
    ingest(loaded_store, [box_event("GTOT", booked.arrives_at + timedelta(hours=6), "AZALA", box=BOX,
                                    bkg=rec.ref)], "ACME")
    assert _booking_status(loaded_store, rec.ref) == "delivered"
    with loaded_store.read() as conn:
        doc = timeline.booking_timeline(conn, rec.ref, viewer_for(conn, ADMIN))
    assert doc["booking"]["status"] == "delivered" and len(doc["containers"]) == 1
    # stamped when the box was collected (a twin's simulated time, a late report's own), not at the
    # wall clock of the batch that said so
    from corridor.store.tables import bookings
    from sqlalchemy import select
    with loaded_store.read() as conn:
        updated = conn.execute(select(bookings.c.updated_at).where(bookings.c.ref == rec.ref)).scalar_one()
    assert updated == booked.arrives_at + timedelta(hours=6)


def test_corridor_track_shows_a_booking_before_its_containers(loaded_store, monkeypatch):
    import typer
    from typer.testing import CliRunner
    from corridor.cli import track as cli_track
    from corridor.settings import get_settings
    rec, booked = booked_sailing(loaded_store, (12, 8))
    app = typer.Typer()
    cli_track.register(app)
    app.command("noop", hidden=True)(lambda: None)
    monkeypatch.setenv("CORRIDOR_DATABASE_URL", loaded_store.url)
    get_settings.cache_clear()
    try:
        r = CliRunner().invoke(app, ["track", rec.ref, "--json"])
        assert r.exit_code == 0, r.output
        assert [leg["departure_id"] for leg in json.loads(r.stdout)["plan"]] == [booked.id]
        text = CliRunner().invoke(app, ["track", rec.ref])
        assert text.exit_code == 0 and booked.id in text.output and "0 container(s) reported" in text.output
    finally:
        get_settings.cache_clear()


def test_milestones_are_in_time_order_whatever_offset_their_senders_give(loaded_store):
    # China reports at +08:00, Kazakhstan at +05:00: 14:35+08:00 (06:35 UTC) comes before
    # 12:35+05:00 (07:35 UTC), though its text sorts after
    from datetime import timezone as tz
    beijing, almaty = tz(timedelta(hours=8)), tz(timedelta(hours=5))
    off = datetime(2025, 3, 8, 14, 35, tzinfo=beijing)
    on = datetime(2025, 3, 8, 12, 35, tzinfo=almaty)
    ingest(loaded_store, [box_event("DISC", off, "CNHRS", box=BOX, bkg="B-OUTSIDE"),
                          box_event("LOAD", on, "KZHOR", box=BOX, bkg="B-OUTSIDE")], "ACME")
    doc, built = _timeline(loaded_store)
    assert doc == built
    assert [m["code"] for m in doc["milestones"]] == ["DISC", "LOAD"]
