"""`corridor plan | book | bookings | departures`: one JSON document on stdout, exit codes on errors."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
import typer
from typer.testing import CliRunner

from corridor.cli import plan as plan_cli
from corridor.domain.parties import Party, Role
from corridor.settings import get_settings
from corridor.store.parties import upsert_party

# a ready day a week ahead: the timetable starts a month back from today and quotes refuse past days
READY = (date.today() + timedelta(days=7)).isoformat()


@pytest.fixture
def cli(sqlite_loaded_store, monkeypatch):
    with sqlite_loaded_store.tx() as conn:
        upsert_party(conn, Party("ACME", "Acme Trading", frozenset({Role.SHIPPER})))
    monkeypatch.setenv("CORRIDOR_DATABASE_URL", sqlite_loaded_store.url)
    get_settings.cache_clear()
    app = typer.Typer()
    plan_cli.register(app)
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, list(args))
    get_settings.cache_clear()


def test_plan_json_shape(cli):
    r = cli("plan", "--from", "XIA", "--to", "IST", "--containers", "2x40", "--ready", READY, "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    opt = doc["options"][0]
    assert {"route", "departure", "arrival", "transit_hours", "transit_days", "price", "co2e_kg", "legs"} <= set(opt)
    assert opt["departure"].endswith("+08:00") and opt["price"]["currency"] == "USD"


def test_ambiguous_place_is_exit_4_with_candidates(cli):
    r = cli("plan", "--from", "XIA", "--to", "Baku", "--json")
    assert r.exit_code == 4
    err = json.loads(r.stdout)["error"]
    assert any("AZALA" in c for c in err["candidates"])


def test_book_then_list_and_departures_show_it(cli):
    r = cli("book", "--from", "XIA", "--to", "Poti", "--containers", "1x40", "--ready", READY,
            "--option", "1", "--shipper", "ACME", "--json")
    assert r.exit_code == 0, r.output
    b = json.loads(r.stdout)
    ferry = next(x for x in b["legs"] if x["from"] in ("KZAAU", "KZKUR", "TMKRW"))
    listed = json.loads(cli("bookings", "--json").stdout)["bookings"]
    assert [x["ref"] for x in listed] == [b["ref"]]
    deps = json.loads(cli("departures", "--from", ferry["from"], "--start", ferry["departure"][:10],
                          "--days", "3", "--limit", "200", "--json").stdout)["departures"]
    row = next(d for d in deps if d["id"] == ferry["departure_id"])
    assert row["reserved_teu"] == 2
    r = cli("book", "--from", "XIA", "--to", "Poti", "--ready", READY, "--option", "9",
            "--shipper", "ACME")
    assert r.exit_code == 4 and "option 9" in r.output
