"""Fixtures of the browser tests: Debian's chromium (never a downloaded browser) and a real server."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.browser.server import LiveServer, demo_keys, web_app  # noqa: E402

from corridor.store import Store  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-quic", "--no-first-run"]


@pytest.fixture(scope="module")
def chromium():
    if not CHROMIUM.exists():
        why = f"{CHROMIUM} is missing (apt-get install chromium); browser tests never download a browser"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI=true requires {why}")
        pytest.skip(why)
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A real server on a free port over a copy of the loaded network, with the demo parties' keys
    (`site.keys`) and its store (`site.store`); one per test module."""
    from tests.conftest import _Templates
    store = Store(_Templates(tmp_path_factory.mktemp("web")).sqlite_copy(True))
    keys = demo_keys(store)
    with LiveServer(web_app(store)) as srv:
        srv.keys, srv.store = keys, store
        yield srv
    store.dispose()
