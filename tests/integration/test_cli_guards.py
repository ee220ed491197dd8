"""The `corridor` command's guards (review of session 10): `--json` on every reporting command, tables
that never cut ids, dates or money, aliases and EDIFACT ids that cannot take over what a code already
means, the API's party rules, and the documented exit codes with their JSON errors."""

from __future__ import annotations

import io
import json
from datetime import date, timedelta
from pathlib import Path

import pytest
import typer
from rich.table import Table
from typer.testing import CliRunner

from corridor.cli import app
from corridor.domain.parties import Party, Role
from corridor.settings import get_settings
from corridor.store import parties as ps

READY = (date.today() + timedelta(days=7)).isoformat()
DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
NOT_REPORTING = {"serve", "demo"}   # they run a server; they print no result


def _use(store, monkeypatch):
    monkeypatch.setenv("CORRIDOR_DATABASE_URL", store.url)
    monkeypatch.setenv("CORRIDOR_ADMIN_KEY", "cor_guardsadmin_" + "g" * 32)
    monkeypatch.delenv("COLUMNS", raising=False)
    get_settings.cache_clear()
    with store.tx() as conn:
        ps.upsert_party(conn, Party("ACME", "Acme Trading", frozenset({Role.SHIPPER}), "CN"))
        ps.upsert_party(conn, Party("PORTAKTAU", "Aktau port", frozenset({Role.TERMINAL}), "KZ",
                                    frozenset({"KZ_AKX"}), edi_ids=("KZAAUPORT",)))
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


@pytest.fixture
def cli(loaded_store, monkeypatch):
    """The whole `corridor` command on the default network, on both stores."""
    yield _use(loaded_store, monkeypatch)
    get_settings.cache_clear()


@pytest.fixture
def cli_sqlite(sqlite_loaded_store, monkeypatch):
    """The same on SQLite only, for what does not depend on the store (output layout, KPIs)."""
    yield _use(sqlite_loaded_store, monkeypatch)
    get_settings.cache_clear()


def error(r, status: int) -> dict:
    """The JSON error of a run that must have failed with `status`."""
    assert r.exit_code == status, (r.exit_code, r.output)
    doc = json.loads(r.stdout)["error"]
    assert doc["exit_status"] == status and doc["message"]
    return doc


# --- 1. --json everywhere ----------------------------------------------------------------------

def _leaves(cmd, path=()):
    subs = getattr(cmd, "commands", None)
    if subs is None:
        yield " ".join(path), cmd
        return
    for name, sub in subs.items():
        yield from _leaves(sub, (*path, name))


def test_every_reporting_command_takes_json(cli_sqlite):
    leaves = dict(_leaves(typer.main.get_command(app)))
    assert {"kpi", "export iftsta", "plan", "alias list", "init"} <= set(leaves)
    lacking = [name for name, cmd in leaves.items() if name not in NOT_REPORTING
               and not any("--json" in p.opts for p in cmd.params)]
    assert lacking == []
    r = cli_sqlite("kpi", "--json")
    assert r.exit_code == 0, r.output
    assert {"period", "volumes", "transit", "on_time", "dwell", "co2e", "data_quality"} <= set(json.loads(r.stdout))
    error(cli_sqlite("kpi", "--json", "--format", "csv"), 2)


# --- 2. tables for people ----------------------------------------------------------------------

def test_tables_are_whole_when_not_a_terminal(cli_sqlite):
    r = cli_sqlite("book", "--from", "Xian", "--to", "Poti", "--containers", "2x40", "--ready", READY,
                   "--option", "1", "--shipper", "ACME", "--json")
    assert r.exit_code == 0, r.output
    b = json.loads(r.stdout)
    shown = cli_sqlite("bookings").stdout
    assert "…" not in shown
    local = lambda t: f"{t[:10]} {t[11:16]} {t[-6:]}"    # '2027-06-01 22:15 +08:00' as the table shows it
    line = next(x for x in shown.splitlines() if b["ref"] in x)
    for value in (b["ref"], b["status"], local(b["departure"]), local(b["arrival"]), f"{b['price']['amount']:,.0f}"):
        assert value in line

    plan = json.loads(cli_sqlite("plan", "--from", "Xian", "--to", "Duisburg", "--ready", READY, "--json").stdout)
    shown = cli_sqlite("plan", "--from", "Xian", "--to", "Duisburg", "--ready", READY).stdout
    assert "…" not in shown
    for o in plan["options"]:
        assert local(o["departure"]) in shown and local(o["arrival"]) in shown
        assert f"{o['price']['amount']:,.2f}" in shown

    deps = json.loads(cli_sqlite("departures", "--from", "KZAAU", "--limit", "5", "--json").stdout)["departures"]
    shown = cli_sqlite("departures", "--from", "KZAAU", "--limit", "5").stdout
    assert deps and "…" not in shown
    assert all(d["id"] in shown and local(d["departure"]) in shown for d in deps)


def test_a_narrow_terminal_wraps_a_cell_and_never_cuts_it():
    from corridor.cli.common import CorridorConsole
    console = CorridorConsole(file=io.StringIO(), force_terminal=True, width=40, color_system=None)
    t = Table(title="Bookings")
    for col in ("ref", "status", "departs", "USD"):
        t.add_column(col)
    t.add_row("CB-2611-000001", "confirmed", "2027-06-01 22:15 +08:00", "12,354")
    console.print(t)
    text = console.file.getvalue()
    assert "…" not in text and max(len(x) for x in text.splitlines()) <= 40
    body = [x.split("│")[1:-1] for x in text.splitlines() if x.startswith("│")]
    columns = ["".join(cells).replace(" ", "") for cells in zip(*body)]   # each column's lines joined
    assert columns == ["CB-2611-000001", "confirmed", "2027-06-0122:15+08:00", "12,354"]


# --- 3. aliases --------------------------------------------------------------------------------

def test_an_alias_cannot_take_a_network_code_or_name(cli, loaded_store):
    doc = error(cli("alias", "add", "location", "CNXIA", "GEPTI", "--json"), 5)
    assert doc["code"] == "conflict" and doc["existing"] == "CN_XIA" and doc["replaceable"] is False
    assert error(cli("alias", "add", "location", "Aktau", "AZALA", "--json"), 5)["existing"] == "KZ_AKX"
    # not even with --replace: the network's own codes and names are not the registry's to re-point
    assert cli("alias", "add", "location", "cnxia", "GEPTI", "--replace").exit_code == 5
    with loaded_store.read() as conn:
        assert ps.resolve_alias(conn, "location", "CNXIA") == "CN_XIA"
        assert ps.resolve_alias(conn, "location", "Aktau") == "KZ_AKX"
    # the place's own spellings are fine (nothing changes meaning)
    assert cli("alias", "add", "location", "Xian", "CNXIA").exit_code == 0


def test_an_alias_pointing_elsewhere_needs_replace(cli, loaded_store):
    assert cli("alias", "add", "location", "Alyat port", "AZALA").exit_code == 0
    assert cli("alias", "add", "location", "ALYAT PORT", "AZALA", "--json").exit_code == 0   # the same again
    doc = error(cli("alias", "add", "location", "Alyat port", "GEPTI", "--json"), 5)
    assert doc["existing"] == "AZ_ALA" and doc["replaceable"] is True and "--replace" in doc["message"]
    with loaded_store.read() as conn:
        assert ps.resolve_alias(conn, "location", "alyat port") == "AZ_ALA"
    r = cli("alias", "add", "location", "Alyat port", "GEPTI", "--replace", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["target"] == "GE_PTI"
    # party aliases: another party's EDIFACT id or id is never taken
    assert error(cli("alias", "add", "party", "KZAAUPORT", "ACME", "--json"), 5)["existing"] == "PORTAKTAU"
    assert error(cli("alias", "add", "party", "PORTAKTAU", "ACME", "--replace", "--json"), 5)["existing"] == "PORTAKTAU"
    with loaded_store.read() as conn:
        assert ps.resolve_alias(conn, "party", "KZAAUPORT") == "PORTAKTAU"


def test_unknown_alias_target_place_is_invalid_like_plan(cli):
    assert error(cli("alias", "add", "location", "X", "Atlantis", "--json"), 4)["code"] == "invalid"
    assert error(cli("alias", "add", "party", "X", "NOBODY", "--json"), 3)["code"] == "not_found"


# --- 4. parties ----------------------------------------------------------------------------------

def test_an_edifact_id_belongs_to_one_party(cli, loaded_store):
    doc = error(cli("party", "add", "DUPEDI", "--name", "x", "--role", "terminal", "--edi-id", "KZAAUPORT",
                    "--json"), 5)
    assert doc["existing"] == "PORTAKTAU"
    assert cli("party", "add", "DUPEDI", "--name", "x", "--role", "terminal", "--edi-id", "ACME").exit_code == 5
    with loaded_store.read() as conn:
        assert ps.get_party(conn, "DUPEDI") is None
        assert ps.resolve_alias(conn, "party", "KZAAUPORT") == "PORTAKTAU"
    # the holder may save itself again, and a new id is fine
    assert cli("party", "add", "PORTAKTAU", "--name", "Aktau port", "--role", "terminal",
               "--edi-id", "KZAAUPORT").exit_code == 0
    assert cli("party", "add", "DUPEDI", "--name", "x", "--role", "terminal", "--edi-id", "DUPEDI01").exit_code == 0


@pytest.mark.parametrize("args", [
    ["", "--name", "x"], ["A B/C", "--name", "x"], ["ÜNİ", "--name", "x"], ["a", "--name", "x"],
    ["OKID", "--name", ""], ["OKID", "--name", "  "], ["OKID", "--name", "x", "--country", "ZZZ"],
    ["OKID", "--name", "x", "--country", "kz"], ["OKID", "--name", "x", "--edi-id", " "],
])
def test_party_fields_follow_the_api_rules(cli, loaded_store, args):
    with loaded_store.read() as conn:
        before = ps.list_parties(conn)
    r = cli("party", "add", *args, "--role", "shipper", "--json")
    assert error(r, 4)["code"] == "invalid"
    with loaded_store.read() as conn:
        assert ps.list_parties(conn) == before


def test_the_store_refuses_what_the_command_refuses(loaded_store):
    """The rules live in the store, so the API and every other writer keep them too."""
    with loaded_store.tx() as conn:
        ps.upsert_party(conn, Party("PORTAKTAU", "Aktau port", frozenset({Role.TERMINAL}), edi_ids=("KZAAUPORT",)))
    for bad in (Party("A B", "x", frozenset({Role.SHIPPER})), Party("OK", "", frozenset({Role.SHIPPER})),
                Party("OK", "x", frozenset({Role.SHIPPER}), "ZZZ")):
        with pytest.raises(ps.InvalidParty), loaded_store.tx() as conn:
            ps.upsert_party(conn, bad)
    with pytest.raises(ps.AliasConflict), loaded_store.tx() as conn:
        ps.upsert_party(conn, Party("DUPEDI", "x", frozenset({Role.TERMINAL}), edi_ids=("kzaauport",)))
    with pytest.raises(ps.AliasConflict), loaded_store.tx() as conn:
        ps.add_alias(conn, "location", "GEPTI", "AZ_ALA", replace=True)
    with loaded_store.read() as conn:
        assert ps.get_party(conn, "DUPEDI") is None and ps.resolve_alias(conn, "location", "GEPTI") == "GE_PTI"


def test_the_api_schema_uses_the_same_rules():
    from corridor.api.access import PartyIn
    patterns = {name: [getattr(m, "pattern", None) for m in f.metadata] for name, f in PartyIn.model_fields.items()}
    assert ps.PARTY_ID_PATTERN in patterns["id"] and ps.COUNTRY_PATTERN in patterns["country"]


# --- 5. exit codes and JSON errors --------------------------------------------------------------

def test_key_expiry_is_a_future_date(cli, loaded_store):
    from corridor.access import keys
    assert error(cli("key", "create", "--party", "ACME", "--expires", "garbage", "--json"), 4)["code"] == "invalid"
    assert "future" in error(cli("key", "create", "--party", "ACME", "--expires", "2020-01-01", "--json"), 4)["message"]
    with loaded_store.read() as conn:
        assert keys.list_keys(conn, "ACME") == []
    r = cli("key", "create", "--party", "ACME", "--expires", f"{date.today().year + 2}-01-01", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["expires_at"].endswith("+00:00")


def test_key_scopes_are_checked_as_the_api_checks_them(cli):
    assert "unknown scopes" in error(cli("key", "create", "--party", "ACME", "--scope", "delete", "--json"), 4)["message"]
    r = cli("key", "create", "--party", "ACME", "--scope", "write", "--scope", "read", "--scope", "read", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["scopes"] == ["read", "write"]   # once each, in order


def test_bad_choices_are_refused_with_json(cli):
    assert error(cli("quarantine", "list", "--status", "bogus", "--json"), 2)["code"] == "usage"
    assert error(cli("alias", "list", "--kind", "bogus", "--json"), 2)["code"] == "usage"
    assert cli("quarantine", "list", "--status", "all", "--json").exit_code == 0
    assert cli("alias", "list", "--kind", "party", "--json").exit_code == 0
    # Typer's own errors (unknown option, a value of the wrong type) give the JSON error as well
    assert "--bogus" in error(cli("party", "list", "--bogus", "--json"), 2)["message"]
    assert "--days" in error(cli("departures", "--days", "abc", "--json"), 2)["message"]
    assert "--days" in error(cli("departures", "--days", "-1", "--json"), 2)["message"]
    assert "--limit" in error(cli("bookings", "--limit", "0", "--json"), 2)["message"]
    assert error(cli("departures", "--start", "garbage", "--json"), 4)["message"].startswith("--start 'garbage'")
    assert cli("party", "list", "--bogus").stdout == ""


# --- 6. init, kpi, export -----------------------------------------------------------------------

def test_init_again_says_what_is_there(cli, loaded_store):
    from corridor.store import network as netstore
    with loaded_store.read() as conn:
        links, departures = len(netstore.load_network(conn).links), netstore.count_departures(conn)
    cli("init", "--json")
    r = cli("init", "--json")
    doc = json.loads(r.stdout)
    assert r.exit_code == 0 and doc["changed"] is False and doc["actions"] == []
    assert (doc["locations"], doc["links"], doc["departures"]) == (40, links, departures) and departures > 0


def test_kpi_period_must_run_forwards(cli_sqlite):
    doc = error(cli_sqlite("kpi", "--from", "2030-01-01", "--json"), 4)
    assert "--from 2030-01-01" in doc["message"] and "--to" in doc["message"]
    assert error(cli_sqlite("kpi", "--to", "2001-01-01", "--format", "json"), 4)["code"] == "invalid"
    assert cli_sqlite("kpi", "--from", "2030-01-01", "--to", "2030-02-01", "--json").exit_code == 0


def test_export_iftsta_json_keeps_the_edifact(cli_sqlite, tmp_path):
    r = cli_sqlite("export", "iftsta", "--party", "ACME", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["out"] is None and doc["edifact"].startswith("UNB+") and "UNZ+" in doc["edifact"]
    r = cli_sqlite("export", "iftsta", "--party", "ACME", "--json", "--out", str(tmp_path / "a.edi"))
    assert "edifact" not in json.loads(r.stdout) and (tmp_path / "a.edi").read_text().startswith("UNB+")


def test_docs_quote_the_current_revision_and_network(loaded_store):
    from corridor.network_file import load_network
    text = DOC.read_text(encoding="utf-8")
    net = load_network()
    assert f'"revision": "{loaded_store.current_revision()}"' in text
    assert f"({len(net.locations)} locations, {len(net.links)} links," in text
    assert f'"links": {len(net.links)},' in text
