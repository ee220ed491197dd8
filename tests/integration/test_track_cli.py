"""`corridor track REF [--json]` on a real SQLite store: timeline, ETA with its range, alerts, and
every time ISO 8601 with the offset of the place it happens at."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import typer
from sqlalchemy import select
from typer.testing import CliRunner

from corridor.cli import track as cli_track
from corridor.domain.events import Classifier
from corridor.domain.parties import Role
from corridor.settings import get_settings
from corridor.store.tables import locations
from corridor.tracking import hooks

from tracking_helpers import box_event, ingest, party

BOX = "MSCU1234566"
app = typer.Typer()
cli_track.register(app)
app.command("noop", hidden=True)(lambda: None)   # two commands: `track` stays a named subcommand
runner = CliRunner()


@pytest.fixture
def db(sqlite_loaded_store, monkeypatch):
    monkeypatch.setenv("CORRIDOR_DATABASE_URL", sqlite_loaded_store.url)
    get_settings.cache_clear()
    party(sqlite_loaded_store, "ACME", Role.SHIPPER)
    t0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=3)
    ingest(sqlite_loaded_store, [
        box_event("GTIN", t0, "KZDOS", box=BOX, bkg="B1", bol="BL77"),
        box_event("LOAD", t0 + timedelta(hours=5), "KZDOS", box=BOX, bkg="B1", voyage="T100"),
        box_event("DISC", t0 + timedelta(days=4), "KZAAU", box=BOX, bkg="B1", voyage="T100",
                  cls=Classifier.EST)], "ACME")
    hooks.sweep(sqlite_loaded_store, datetime.now(timezone.utc) + timedelta(days=2))   # silence -> SILN
    yield sqlite_loaded_store
    get_settings.cache_clear()


def zone(store, code: str) -> ZoneInfo:
    with store.read() as conn:
        return ZoneInfo(conn.execute(select(locations.c.timezone).where(locations.c.code == code)).scalar_one())


def test_track_json_gives_timeline_eta_range_and_alerts_in_local_time(db):
    r = runner.invoke(app, ["track", BOX, "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["equipment"] == BOX and doc["booking_ref"] == "B1"
    assert [m["code"] for m in doc["milestones"]][:2] == ["GTIN", "LOAD"]
    st, eta = doc["status"], doc["eta"]
    assert (st["state"], st["location"], st["vehicle"]) == ("on_rail", "KZDOS", "T100")
    since = datetime.fromisoformat(st["since"])
    assert since.utcoffset() == zone(db, "KZDOS").utcoffset(since) and st["timezone"]
    at, low, high = (datetime.fromisoformat(eta[k]) for k in ("eta", "low", "high"))
    assert low <= at <= high and at > since
    assert at.utcoffset() == zone(db, "KZAAU").utcoffset(at) and eta["destination"] == "KZAAU"
    assert "SILN" in {a["code"] for a in doc["alerts"]}

    def times(x):
        if isinstance(x, dict):
            for v in x.values():
                yield from times(v)
        elif isinstance(x, list):
            for v in x:
                yield from times(v)
        elif isinstance(x, str) and len(x) >= 19 and x[4] == "-" and x[10] == "T":
            yield x
    stamps = list(times(doc))
    assert len(stamps) > 8 and all(datetime.fromisoformat(s).tzinfo is not None for s in stamps), stamps


def test_track_by_booking_bill_of_lading_and_text(db):
    by_bkg = json.loads(runner.invoke(app, ["track", "B1", "--json"]).stdout)
    assert by_bkg["booking_ref"] == "B1" and by_bkg["containers"][0]["equipment"] == BOX
    by_bol = json.loads(runner.invoke(app, ["track", "BL77", "--json"]).stdout)
    assert by_bol["equipment"] == BOX
    text = runner.invoke(app, ["track", BOX])
    assert text.exit_code == 0 and "milestones" in text.output and "SILN" in text.output
    missing = runner.invoke(app, ["track", "NOPE0000000", "--json"])
    assert missing.exit_code != 0 and "NOPE0000000" in missing.output


def test_track_takes_a_container_number_as_people_write_it_and_says_what_is_wrong_with_a_bad_one(db):
    spaced = json.loads(runner.invoke(app, ["track", "mscu 123456-6", "--json"]).stdout)
    assert spaced["equipment"] == BOX
    bad = runner.invoke(app, ["track", "MSCU1234567", "--json"])
    assert bad.exit_code != 0 and "check digit 7 is wrong, expected 6" in bad.output
