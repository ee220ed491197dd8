"""schemathesis over the app's own OpenAPI, in-process (ASGI) on a loaded SQLite store: no request,
authenticated as the administrator or as a shipper, gets a server error (5xx).

Bounded for CI (about a minute): a few examples per operation (CORRIDOR_FUZZ_EXAMPLES), a
time limit per request. The live stream is left out
(it is open-ended by design; the access matrix reads it with a time limit).
"""

from __future__ import annotations

import os
import time

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402

from corridor.access import keys  # noqa: E402
from corridor.api.app import create_app  # noqa: E402
from corridor.domain.parties import ADMIN_PARTY, Party, Role  # noqa: E402
from corridor.settings import Settings  # noqa: E402
from corridor.store import Store  # noqa: E402
from corridor.store import parties as partystore  # noqa: E402

MAX_EXAMPLES = int(os.environ.get("CORRIDOR_FUZZ_EXAMPLES", "8"))   # raise it for a deeper local run
DEADLINE_S = 10.0     # per request: a hang is a failure too


@pytest.fixture(scope="module")
def fuzzed(templates):
    """The app on a loaded SQLite store with an administrator's and a shipper's key."""
    store = Store(templates.sqlite_copy(True))
    with store.tx() as conn:
        partystore.upsert_party(conn, Party(ADMIN_PARTY, "Corridor", frozenset({Role.ADMIN})))
        partystore.upsert_party(conn, Party("ACME", "Acme", frozenset({Role.SHIPPER}), "CN"))
        admin = keys.create_key(conn, ADMIN_PARTY, scopes=("read", "write", "admin"))
        shipper = keys.create_key(conn, "ACME")
    app = create_app(Settings(database_url=store.url, rate_limit_per_minute=1_000_000, nats_url=None), store=store)
    app.state.fuzz_keys = {"admin": admin, "shipper": shipper}
    yield app
    store.dispose()


def _labels() -> list[str]:
    """Every operation of the OpenAPI document (it does not depend on the data), 'METHOD /path'."""
    app = create_app(Settings(database_url="sqlite://"), store=Store("sqlite://"))
    doc = app.openapi()
    return [f"{m.upper()} {path}" for path, item in doc["paths"].items() for m in item
            if m in ("get", "post", "put", "patch", "delete") and path != "/api/v1/stream"]


@pytest.fixture(scope="module")
def api_schema(fuzzed):
    return schemathesis.openapi.from_asgi("/openapi.json", fuzzed)


@pytest.mark.parametrize("label", _labels())
def test_no_server_error(label, api_schema, fuzzed):
    op = api_schema.find_operation_by_label(label)
    heads = {who: {"Authorization": f"Bearer {key}"} for who, key in fuzzed.state.fuzz_keys.items()}

    @given(case=op.as_strategy())
    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case):
        for who, h in heads.items():
            t0 = time.perf_counter()
            response = case.call(headers=h)
            assert response.status_code < 500, (f"{who}: {case.method} {case.formatted_path} -> "
                                                f"{response.status_code}\n{case.as_curl_command()}\n"
                                                f"{response.text[:2000]}")
            assert time.perf_counter() - t0 < DEADLINE_S, f"{who}: {label} took over {DEADLINE_S} s"

    run()
