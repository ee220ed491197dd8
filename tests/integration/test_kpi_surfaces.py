"""`corridor kpi`, `corridor export iftsta` and GET /api/v1/kpi* on the hand-computed corridor."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
import typer
from typer.testing import CliRunner

from corridor.settings import get_settings

from test_kpi_data import known_corridor
from tracking_helpers import party

KEYS = {"period", "volumes", "transit", "on_time", "dwell", "co2e", "data_quality"}
MARCH = ["--from", "2025-03-01T00:00:00+00:00", "--to", "2025-04-01T00:00:00+00:00"]


@pytest.fixture
def cli(sqlite_loaded_store, monkeypatch):
    from corridor.cli import kpi
    known_corridor(sqlite_loaded_store)
    monkeypatch.setenv("CORRIDOR_DATABASE_URL", sqlite_loaded_store.url)
    get_settings.cache_clear()
    app = typer.Typer()
    app.command("noop")(lambda: None)   # a group, so `kpi` and `export` are subcommands
    kpi.register(app)
    yield lambda *args: CliRunner().invoke(app, list(args))
    get_settings.cache_clear()


def test_kpi_json_has_the_stable_fields(cli):
    r = cli("kpi", *MARCH, "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert KEYS <= set(doc)
    assert doc["period"]["from"] == "2025-03-01T00:00:00+00:00"
    assert doc["volumes"]["total"]["teu"] == 3


def test_kpi_table_csv_and_errors(cli, tmp_path):
    r = cli("kpi", *MARCH)
    assert r.exit_code == 0 and "Volumes by month" in r.stdout and "2025-03" in r.stdout
    r = cli("kpi", *MARCH, "--format", "csv", "--out", str(tmp_path / "k.csv"))
    assert r.exit_code == 0 and (tmp_path / "k.csv").read_text().startswith("table,")
    r = cli("kpi", "--from", "March", "--format", "json")
    assert r.exit_code == 4 and json.loads(r.stdout)["error"]["code"] == "invalid"
    r = cli("kpi", "--format", "xlsx")
    assert r.exit_code == 2


def test_parquet_needs_pyarrow_or_writes(cli, tmp_path):
    r = cli("kpi", *MARCH, "--format", "parquet", "--out", str(tmp_path / "k.parquet"))
    try:
        import pyarrow  # noqa: F401
        assert r.exit_code == 0 and (tmp_path / "k.parquet").stat().st_size > 0
    except ImportError:
        assert r.exit_code == 1 and "pip install pyarrow" in r.output


def test_export_iftsta_for_a_party(cli, tmp_path):
    r = cli("export", "iftsta", "--party", "SHIPA", "--out", str(tmp_path / "s.edi"), "--json")
    assert r.exit_code == 0, r.output
    text = (tmp_path / "s.edi").read_text()
    # the shipper's 10 reported events, plus any the tracking steps derived for its boxes
    assert json.loads(r.stdout)["statuses"] == text.count("STS+") >= 10
    assert json.loads(r.stdout)["messages"] == text.count("UNH+") == 2 and "IFTSTA:D:00B:UN" in text
    assert cli("export", "iftsta", "--party", "NOBODY").exit_code == 3


def test_api_kpi_sections_and_plots(loaded_store):
    from fastapi.testclient import TestClient
    from corridor.api import kpi
    from corridor.api.app import create_app
    from corridor.domain.parties import Role
    known_corridor(loaded_store)
    app = create_app(store=loaded_store)
    app.include_router(kpi.router)
    client = TestClient(app)
    admin = {"Authorization": f"Bearer {party(loaded_store, 'OPS', Role.ADMIN)}"}
    railz = {"Authorization": f"Bearer {party(loaded_store, 'NOONE', Role.SHIPPER)}"}
    q = {"from": "2025-03-01T00:00:00Z", "to": "2025-04-01T00:00:00Z"}
    doc = client.get("/api/v1/kpi", params=q, headers=admin).json()
    assert KEYS <= set(doc) and doc["volumes"]["total"]["teu"] == 3
    v = client.get("/api/v1/kpi/volumes", params=q, headers=admin).json()
    assert set(v) == {"period", "volumes"}
    dq = client.get("/api/v1/kpi/data-quality", params=q, headers=admin).json()
    assert [p["party"] for p in dq["data_quality"]["parties"]] == ["RAILX"]
    # another shipper sees none of these containers
    assert client.get("/api/v1/kpi/volumes", params=q, headers=railz).json()["volumes"]["total"]["teu"] == 0
    svg = client.get("/api/v1/kpi/plot/volumes.svg", params=q, headers=admin)
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    ET.fromstring(svg.text)
    assert client.get("/api/v1/kpi/plot/pie.svg", headers=admin).status_code == 404
    assert client.get("/api/v1/kpi/nope", headers=admin).status_code == 404
    assert client.get("/api/v1/kpi", params={"from": "2025-03-01T00:00:00"}, headers=admin).status_code == 400
    assert client.get("/api/v1/kpi").status_code == 401
