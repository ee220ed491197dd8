"""A bad scenario is refused before the twin touches the store: nothing booked, nothing ingested."""

from __future__ import annotations

import json

from sqlalchemy import func, select
from typer.testing import CliRunner

from corridor.cli import app
from corridor.settings import get_settings
from corridor.store.tables import bookings, events


def test_a_bad_scenario_is_refused_before_the_run_into_the_store(store, tmp_path, monkeypatch):
    monkeypatch.setenv("CORRIDOR_DATABASE_URL", store.url)
    get_settings.cache_clear()
    bad = tmp_path / "bad.yaml"
    bad.write_text("destinations: {GE_PTI: 1.0}\nalat_berths: 0\n", encoding="utf-8")
    r = CliRunner().invoke(app, ["simulate", str(bad), "--days", "2", "--json"])
    get_settings.cache_clear()
    assert r.exit_code == 4, r.output
    assert json.loads(r.stdout)["error"]["problems"] == [f"{bad}:2 [alat_berths]: 0 is out of range: "
                                                         "must be at least 1 and at most 50"]
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(events)).scalar() == 0
        assert conn.execute(select(func.count()).select_from(bookings)).scalar() == 0
