"""Shared fixtures: a fresh store per test on SQLite and on PostgreSQL (same tests, both stores).

Each store is copied from a migrated template (a file copy on SQLite, CREATE DATABASE .. TEMPLATE on
PostgreSQL), so a test gets a clean database in milliseconds. Outside CI a missing PostgreSQL skips
its half of the tests with the reason; with CI=true it fails them.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

# the suite's webhook receivers listen on 127.0.0.1: it runs as an installation that allows private
# callback hosts (docs/access.md); tests/integration/test_webhook_targets.py checks the refusal
os.environ.setdefault("CORRIDOR_WEBHOOK_ALLOW_PRIVATE", "1")

from corridor.store import Store  # noqa: E402 - after the setting above
from corridor.wiring import ensure_wired

ensure_wired()   # the same in-transaction steps as in production (tracking after every append)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
PG_ADMIN_URL = os.environ.get("CORRIDOR_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="run the tests marked slow (long fault trials, fuzz campaigns)")


def shared_path(*parts: str) -> Path:
    """A file from ../shared (read in place, never copied); skips the test when absent."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared material not found at {p}")
    return p


def _pg_admin():
    import psycopg
    return psycopg.connect(PG_ADMIN_URL.replace("postgresql+psycopg", "postgresql"), autocommit=True,
                           connect_timeout=3)


def _pg_url(db: str) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{db}"


def _pg_available() -> str | None:
    try:
        with _pg_admin():
            return None
    except Exception as e:  # noqa: BLE001 - any failure means "not reachable"
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {e.__class__.__name__}: {e}"


class _Templates:
    """Migrated (and optionally network-loaded) template databases, made once per session."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.sqlite: dict[bool, Path] = {}
        self.pg: dict[bool, str] = {}
        self.pg_dbs: list[str] = []

    def _fill(self, store: Store, with_network: bool) -> None:
        store.upgrade()
        if with_network:
            from corridor.bootstrap import load_default_network
            load_default_network(store, days=400)

    def sqlite_copy(self, with_network: bool) -> str:
        if with_network not in self.sqlite:
            path = self.tmp / f"template-{int(with_network)}.db"
            s = Store(f"sqlite:///{path}")
            self._fill(s, with_network)
            s.dispose()  # closing the last connection checkpoints the WAL into the file
            self.sqlite[with_network] = path
        dst = self.tmp / f"t-{uuid.uuid4().hex[:10]}.db"
        shutil.copyfile(self.sqlite[with_network], dst)
        return f"sqlite:///{dst}"

    def pg_copy(self, with_network: bool) -> str:
        if with_network not in self.pg:
            name = f"corridor_tpl_{os.getpid()}_{int(with_network)}"
            with _pg_admin() as a:
                a.execute(f'DROP DATABASE IF EXISTS "{name}"')
                a.execute(f'CREATE DATABASE "{name}"')
            self.pg_dbs.append(name)
            s = Store(_pg_url(name))
            self._fill(s, with_network)
            s.dispose()
            self.pg[with_network] = name
        db = f"corridor_t_{uuid.uuid4().hex[:12]}"
        with _pg_admin() as a:
            a.execute(f'CREATE DATABASE "{db}" TEMPLATE "{self.pg[with_network]}"')
        self.pg_dbs.append(db)
        return _pg_url(db)

    def drop_all(self) -> None:
        if not self.pg_dbs:
            return
        try:
            with _pg_admin() as a:
                for db in reversed(self.pg_dbs):
                    a.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        except Exception:
            pass


@pytest.fixture(scope="session")
def templates(tmp_path_factory):
    t = _Templates(tmp_path_factory.mktemp("stores"))
    yield t
    t.drop_all()


def _make_store(request, templates, with_network: bool):
    kind = request.param
    if kind == "postgresql":
        why = _pg_available()
        if why:
            if IN_CI:
                pytest.fail(f"CI=true requires PostgreSQL: {why}")
            pytest.skip(why)
        url = templates.pg_copy(with_network)
    else:
        url = templates.sqlite_copy(with_network)
    store = Store(url)
    yield store
    store.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request, templates):
    """A migrated, empty store — once on SQLite and once on PostgreSQL."""
    yield from _make_store(request, templates, with_network=False)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def loaded_store(request, templates):
    """A migrated store with the default network and a year's timetable — on both stores."""
    yield from _make_store(request, templates, with_network=True)


@pytest.fixture
def sqlite_loaded_store(templates):
    """The default network on SQLite only (for tests whose subject is not the store)."""
    store = Store(templates.sqlite_copy(True))
    yield store
    store.dispose()
