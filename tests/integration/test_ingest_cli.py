"""`corridor ingest`, `quarantine list | show | replay` and `alias add | list` on a real SQLite store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from corridor.cli import ingest as cli_ingest
from corridor.domain.parties import Party, Role
from corridor.settings import get_settings
from corridor.store.parties import upsert_party

from test_ingest import FIXTURES, gate_in

app = typer.Typer()
cli_ingest.register(app)
runner = CliRunner()


@pytest.fixture
def db(sqlite_loaded_store, monkeypatch):
    monkeypatch.setenv("CORRIDOR_DATABASE_URL", sqlite_loaded_store.url)
    get_settings.cache_clear()
    with sqlite_loaded_store.tx() as conn:
        upsert_party(conn, Party("PORTAKTAU", "Aktau Sea Port", frozenset({Role.TERMINAL}), "KZ",
                                 facilities=frozenset({"KZ_AKX"})))
    yield sqlite_loaded_store
    get_settings.cache_clear()


def run(*args: str) -> tuple[int, dict]:
    r = runner.invoke(app, [*args, "--json"])
    return r.exit_code, json.loads(r.stdout) if r.stdout.strip() else {}


def test_ingest_a_folder_then_again(db, tmp_path: Path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "events.csv").write_bytes((FIXTURES / "csv" / "corridor_default.csv").read_bytes())
    (tmp_path / "gate.edi").write_bytes(gate_in(place="KZAAU"))
    code, doc = run("ingest", str(tmp_path), "--party", "PORTAKTAU")
    assert code == 0
    assert set(doc) >= {"inputs", "stored", "duplicates", "quarantined", "files"} and doc["inputs"] == 2
    by = {Path(f["path"]).name: f for f in doc["files"]}
    assert by["gate.edi"]["format"] == "edifact" and by["gate.edi"]["stored"] == 1
    assert by["events.csv"]["format"] == "csv" and by["events.csv"]["quarantined"] > 0
    assert all(set(f) >= {"path", "format", "stored", "duplicates", "quarantined", "reasons"} for f in doc["files"])
    code, again = run("ingest", str(tmp_path), "--party", "PORTAKTAU")
    assert code == 0 and again["stored"] == 0 and again["duplicates"] == doc["stored"]


def test_dry_run_shows_and_stores_nothing(db, tmp_path: Path):
    f = tmp_path / "gate.edi"
    f.write_bytes(gate_in(place="KZAAU"))
    code, doc = run("ingest", str(f), "--party", "PORTAKTAU", "--dry-run")
    assert code == 0 and doc["dry_run"] and doc["stored"] == 1
    assert doc["files"][0]["events"][0]["equipment"] == "MSKU1234565"
    code, doc = run("ingest", str(f), "--party", "PORTAKTAU")
    assert doc["stored"] == 1                                  # the dry run left nothing behind


def test_quarantine_alias_replay_round_trip(db, tmp_path: Path):
    f = tmp_path / "gate.edi"
    f.write_bytes(gate_in(place="KZXXX"))
    code, doc = run("ingest", str(f))
    assert code == 0 and doc["quarantined"] == 1 and "unknown sender id" in doc["files"][0]["reasons"][0]

    code, q = run("quarantine", "list")
    assert code == 0 and len(q["entries"]) == 1
    entry = q["entries"][0]
    code, shown = run("quarantine", "show", str(entry["id"]))
    assert code == 0 and "CODECO" in shown["message"]["content"] and shown["reason"] == entry["reason"]

    assert run("alias", "add", "party", "AKTAUPORT", "PORTAKTAU")[0] == 0
    code, doc = run("alias", "add", "location", "KZXXX", "Aktau", "--replay")   # a name is accepted too
    assert code == 0 and doc["target"] == "KZ_AKX" and doc["replay"]["stored"] == 1
    code, doc = run("quarantine", "replay", entry["message_id"])
    assert code == 0 and doc["stored"] == 0 and doc["duplicates"] == 1    # replaying twice stores nothing twice
    code, q = run("quarantine", "list")
    assert q["entries"] == []
    code, aliases = run("alias", "list", "--kind", "party")
    assert {"kind": "party", "value": "aktauport", "target": "PORTAKTAU", "note": ""} in aliases["aliases"]


def test_errors_have_reasons_and_exit_codes(db, tmp_path: Path):
    assert run("ingest", str(tmp_path / "missing.edi"))[0] == 3
    code, doc = run("alias", "add", "location", "XX", "Atlantis")
    assert code == 4 and "unknown location" in doc["error"]["message"]
    assert run("quarantine", "show", "999")[0] == 3
