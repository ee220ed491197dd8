"""A fresh database reaches a working, authenticated API with nothing but
`CORRIDOR_ADMIN_KEY=... corridor init && corridor serve` (issue 11), on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import IN_CI, _pg_admin, _pg_available, _pg_url

ADMIN = "cor_deploytest_" + "k" * 32
CORRIDOR = str(Path(sys.executable).with_name("corridor"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _database(kind: str, tmp_path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path}/fresh.db"
    why = _pg_available()
    if why:
        if IN_CI:
            pytest.fail(why)
        pytest.skip(why)
    db = f"corridor_fresh_{uuid.uuid4().hex[:10]}"
    with _pg_admin() as a:
        a.execute(f'CREATE DATABASE "{db}"')
    return _pg_url(db)


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_init_then_serve_gives_an_authenticated_api(kind, tmp_path):
    url = _database(kind, tmp_path)
    env = {**os.environ, "CORRIDOR_DATABASE_URL": url, "CORRIDOR_ADMIN_KEY": ADMIN}
    first = subprocess.run([CORRIDOR, "init", "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    again = subprocess.run([CORRIDOR, "init", "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and '"changed": false' in again.stdout
    port = _free_port()
    server = subprocess.Popen([CORRIDOR, "serve", "--host", "127.0.0.1", "--port", str(port), "--role", "api"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, server.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "server did not come up in 60 s"
            time.sleep(0.3)
        assert httpx.get(f"{base}/api/v1/network", timeout=10).status_code == 401
        r = httpx.get(f"{base}/api/v1/network", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
        assert r.status_code == 200 and len(r.json()["locations"]) >= 30
        wrong = httpx.get(f"{base}/v2/events", headers={"Authorization": f"Bearer {ADMIN}"},
                          params={"limit": "-3"}, timeout=10)
        assert wrong.status_code == 400 and "errors" in wrong.json()   # the DCSA error object
    finally:
        server.terminate()
        server.wait(timeout=30)
        if kind == "postgresql":
            with _pg_admin() as a:
                a.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
