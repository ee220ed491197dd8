"""Planning and booking rules on both stores, through the service, the API and the CLI: nothing that
has left is offered or booked, one true size limit (exit 5 / 409), past ready dates are bad dates,
the Suez sea route is shown (restricted) or said to be left out, and requests are strict."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from corridor.access.keys import create_key
from corridor.api.app import create_app
from corridor.booking.containers import parse_containers
from corridor.booking.service import BookingService, NoRoute, ready_time
from corridor.cli import plan as plan_cli
from corridor.domain.errors import CapacityExceeded, DomainError
from corridor.domain.parties import Party, Role
from corridor.settings import get_settings
from corridor.store import network as netstore
from corridor.store.parties import upsert_party

READY = (date.today() + timedelta(days=7)).isoformat()
REQ = {"origin": "Xi'an", "destination": "TRIST", "ready": READY, "containers": "2x40"}


def _parties(store):
    with store.tx() as conn:
        upsert_party(conn, Party("ACME", "Acme Trading", frozenset({Role.SHIPPER})))
        return create_key(conn, "ACME")


@pytest.fixture
def api(loaded_store):
    key = _parties(loaded_store)
    client = TestClient(create_app(store=loaded_store))

    def call(method, path, **kw):
        return client.request(method, path, headers={"Authorization": f"Bearer {key}"}, **kw)
    return call


@pytest.fixture
def cli(loaded_store, monkeypatch):
    _parties(loaded_store)
    monkeypatch.setenv("CORRIDOR_DATABASE_URL", loaded_store.url)
    get_settings.cache_clear()
    app = typer.Typer()
    plan_cli.register(app)
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, list(args))
    get_settings.cache_clear()


def _xian_departure(store, day: date):
    """The first departure from Xi'an on `day` (Xi'an time) that leaves after 02:00 there."""
    tz = BookingService(store).network.locations["CN_XIA"].tz
    start = datetime(day.year, day.month, day.day, 2, tzinfo=tz)
    with store.read() as conn:
        return next(d for d, _ in netstore.list_departures(conn, origin="CN_XIA", start=start, limit=20)
                    if d.status != "cancelled")


# ---- 1. nothing that has left ------------------------------------------------------------------
def test_a_ready_date_of_today_means_from_now(loaded_store):
    _parties(loaded_store)
    day = date.today() + timedelta(days=3)
    left = _xian_departure(loaded_store, day)
    now = left.departs_at + timedelta(minutes=1)     # "now" is just after a Xi'an departure of that day
    svc = BookingService(loaded_store, clock=lambda: now)
    q = svc.quote("CNXIA", "TRIST", ready_time(svc.network, "CNXIA", day.isoformat()), parse_containers("1x40"))
    assert q.ready_at >= now and q.ready_at.utcoffset() == timedelta(hours=8)
    assert q.options and all(o.departs_at > now for o in q.options)
    assert left.id not in {i for o in q.options for i in o.departure_ids}
    # a booking naming the departure that has left is refused with the reason
    with pytest.raises(DomainError, match=f"departure {left.id} left at .*cannot be booked"):
        svc.book("ACME", "CNXIA", left.destination, ready_time(svc.network, "CNXIA", day.isoformat()),
                 parse_containers("1x40"), [left.id])


def test_plan_without_a_ready_date_starts_now(cli):
    before = datetime.now(timezone.utc)
    r = cli("plan", "--from", "Xian", "--to", "Istanbul", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert datetime.fromisoformat(doc["ready_at"]) >= before - timedelta(minutes=1)
    assert all(datetime.fromisoformat(o["departure"]) > before for o in doc["options"])


def test_the_api_refuses_to_book_a_departure_that_has_left(api, loaded_store):
    today = datetime.now(timezone.utc)
    with loaded_store.read() as conn:
        gone = next(d for d, _ in netstore.list_departures(conn, origin="CN_XIA", start=today - timedelta(days=5),
                                                           limit=20) if d.status != "cancelled")
    r = api("POST", "/api/v1/bookings", json={**REQ, "destination": gone.destination, "departure_ids": [gone.id],
                                              "ready": (today + timedelta(days=1)).date().isoformat()})
    assert r.status_code == 400, r.text
    # today where the cargo is (Xi'an is UTC+8: from 16:00 UTC its date is the UTC date's next)
    here = today.astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
    r = api("POST", "/api/v1/bookings", json={**REQ, "destination": gone.destination, "departure_ids": [gone.id],
                                              "ready": here})
    assert r.status_code == 400 and f"departure {gone.id} left at" in r.json()["detail"], r.text
    assert "cannot be booked" in r.json()["detail"]


# ---- 2. one size limit, true, exit 5 / 409 -------------------------------------------------------
def test_the_size_limit_is_the_routes_and_answers_exit_5(cli):
    r = cli("plan", "--from", "Xian", "--to", "Istanbul", "-c", "10000x40", "--ready", READY, "--json")
    assert r.exit_code == 5, r.output
    msg = json.loads(r.stdout)["error"]["message"]
    cap = int(msg.split("bookings of at most ")[1].split()[0])
    assert "later date" not in msg and "block trains" not in msg
    for spec in ("200x40", "100x40", f"{cap // 2 + 1}x40"):   # every lot too large: the same reason
        r = cli("plan", "--from", "Xian", "--to", "Istanbul", "-c", spec, "--ready", READY, "--json")
        assert r.exit_code == 5 and json.loads(r.stdout)["error"]["code"] == "conflict", r.output
        assert f"bookings of at most {cap} TEU" in json.loads(r.stdout)["error"]["message"]
    # and the limit is true: a lot of exactly that size is planned
    r = cli("plan", "--from", "Xian", "--to", "Istanbul", "-c", f"{cap // 2}x40", "--ready", READY, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["options"]


def test_a_lot_too_large_is_409_over_the_api(api):
    r = api("POST", "/api/v1/quotes", json={**REQ, "containers": "200x40"})
    assert r.status_code == 409 and "split the lot" in r.json()["detail"]


def test_a_booked_up_route_is_a_capacity_conflict(loaded_store):
    _parties(loaded_store)
    svc = BookingService(loaded_store)
    ready = ready_time(svc.network, "AZALA", READY)
    with loaded_store.tx() as conn:   # every Alat -> Absheron train of the search window is full
        for d, n in netstore.list_departures(conn, origin="AZ_ALA", destination="AZ_ABS", start=ready,
                                             end=ready + timedelta(days=80)):
            netstore.reserve(conn, d.id, d.capacity_teu - n)
    with pytest.raises(CapacityExceeded, match="no route .* has room for 4 TEU .*later date"):
        svc.quote("AZALA", "AZ_ABS", ready, parse_containers("2x40"))


# ---- 3. ready dates ------------------------------------------------------------------------------
def test_a_past_ready_date_is_a_bad_date(cli, api):
    r = cli("plan", "--from", "Xian", "--to", "Istanbul", "--ready", "2020-01-01", "--json")
    assert r.exit_code == 4, r.output
    msg = json.loads(r.stdout)["error"]["message"]
    assert "2020-01-01 is in the past" in msg and "no departures after" not in msg
    r = api("POST", "/api/v1/quotes", json={**REQ, "ready": "2020-01-01"})
    assert r.status_code == 400 and "in the past" in r.json()["detail"]


def test_a_ready_date_before_the_timetable_is_explained(loaded_store):
    with loaded_store.read() as conn:
        first = netstore.list_departures(conn, limit=1)[0][0].departs_at.astimezone(timezone.utc)
    early = first - timedelta(days=200)
    svc = BookingService(loaded_store, clock=lambda: early)
    with pytest.raises(NoRoute) as e:
        svc.quote("CNXIA", "TRIST", early, parse_containers("1x40"))
    msg = str(e.value)
    assert "no departures after" not in msg
    assert f"no departures within 75 days of {early:%Y-%m-%d}" in msg and f"runs from {first:%Y-%m-%d}" in msg


# ---- 4. Suez ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dest", ["TRIST", "DEDUI"])
def test_the_suez_sea_route_is_shown_restricted_beside_the_cape(api, dest):
    doc = api("POST", "/api/v1/quotes", json={**REQ, "destination": dest}).json()
    sea = {("EGPSD" in o["route"]): o for o in doc["options"] if o["corridor"] == "sea"}
    assert set(sea) == {True, False}, [o["route"] for o in doc["options"]]
    assert sea[True]["restricted"] is True and "Red Sea" in sea[True]["restriction"]
    assert sea[True]["route"].startswith("Sea via Suez (restricted)")
    assert sea[False]["restricted"] is False and "ZA_CAPE" in sea[False]["route"]
    off = api("POST", "/api/v1/quotes", json={**REQ, "destination": dest, "include_suez": False}).json()
    assert not any("EGPSD" in o["route"] for o in off["options"])
    left = [n for n in off["not_offered"] if n.get("route") == "suez"]
    assert left and left[0]["corridor"] == "sea" and "left out on request" in left[0]["reason"]


def test_the_cli_switch_leaves_suez_out_and_says_so(cli):
    r = cli("plan", "--from", "Xian", "--to", "Istanbul", "--ready", READY)
    assert r.exit_code == 0 and "Sea via Suez (restricted)" in r.stdout and "is restricted:" in r.stdout
    r = cli("plan", "--from", "Xian", "--to", "Istanbul", "--ready", READY, "--no-suez")
    assert r.exit_code == 0 and "No Sea via Suez option: left out on request" in " ".join(r.stdout.split())


# ---- 5. strict requests ------------------------------------------------------------------------------
def test_reroute_refuses_what_is_not_a_departure_and_answers_in_local_time(api):
    b = api("POST", "/api/v1/bookings", json={**REQ, "option": 1}).json()
    url = f"/api/v1/bookings/{b['ref']}/reroute"
    for bad in ("KZAAU", "Atlantis"):
        r = api("GET", url, params={"avoid": [bad]})
        assert r.status_code == 400 and bad in r.json()["detail"] and "departure" in r.json()["detail"]
    r = api("GET", url, params={"avoid": [b["legs"][1]["departure_id"]]})
    assert r.status_code == 200, r.text
    assert r.json()["ready_at"].endswith("+08:00")     # Xi'an time, like the booking's own ready_at


def test_unknown_fields_and_modes_are_refused(api):
    r = api("POST", "/api/v1/bookings", json={**REQ, "option": 1, "hold": True})
    assert r.status_code == 422 and "hold" in r.json()["detail"]
    assert api("GET", "/api/v1/bookings").json()["bookings"] == []    # nothing was booked
    assert api("POST", "/api/v1/quotes", json={**REQ, "colour": "red"}).status_code == 422
    r = api("GET", "/api/v1/departures", params={"mode": "spaceship"})
    assert r.status_code == 400 and "spaceship" in r.json()["detail"] and "ferry" in r.json()["detail"]
    assert api("GET", "/api/v1/departures", params={"mode": "ferry", "limit": 5}).json()["departures"]


# ---- 6. the command named in the message exists ----------------------------------------------------
def test_an_unknown_shipper_is_told_the_real_command(cli):
    r = cli("book", "--from", "Xian", "--to", "Istanbul", "--ready", READY, "--shipper", "NOBODY", "--json")
    assert r.exit_code == 4
    assert "`corridor party add`" in json.loads(r.stdout)["error"]["message"]
