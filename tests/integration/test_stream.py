"""The Server-Sent Events stream against a real uvicorn server on localhost: events ingested after
subscribing arrive, filters apply, and a shipper never receives another shipper's trip events."""

from __future__ import annotations

import json
import socket
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import httpx
import uvicorn

from corridor.domain.parties import Role

from tracking_helpers import box_event, ingest, party

BOX, OTHER = "MSCU1234566", "TGHU1234567"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(store):
    """The full Corridor app on a free localhost port, in a thread; yields its base URL."""
    from corridor.api.app import create_app
    from corridor.settings import Settings
    port = free_port()
    app = create_app(Settings(database_url=store.url, rate_limit_per_minute=100000), store=store)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        th.join(timeout=10)


class Subscriber:
    """One open SSE connection; `until` reads events until a predicate holds or time runs out."""

    def __init__(self, client: httpx.Client, url: str, key: str, **params):
        self.cm = client.stream("GET", url, params={**params, "max_seconds": 20},
                                headers={"Authorization": f"Bearer {key}"})
        self.resp = self.cm.__enter__()
        assert self.resp.status_code == 200, self.resp.read()
        assert self.resp.headers["content-type"].startswith("text/event-stream")
        self.lines = self.resp.iter_lines()
        assert next(self.lines) == ": corridor stream"   # the server has its starting point now
        self.events: list[dict] = []
        self.ids: list[int] = []

    def until(self, done, seconds: float = 15.0) -> list[dict]:
        end = time.monotonic() + seconds
        for line in self.lines:
            if line.startswith("id: "):
                self.ids.append(int(line[4:]))
            elif line.startswith("data: "):
                self.events.append(json.loads(line[6:]))
                if done(self.events):
                    break
            if time.monotonic() > end:
                break
        return self.events

    def close(self):
        self.cm.__exit__(None, None, None)


def test_stream_delivers_new_events_with_visibility_and_filters(loaded_store):
    admin = party(loaded_store, "ADM", Role.ADMIN)
    acme = party(loaded_store, "ACME", Role.SHIPPER)
    other = party(loaded_store, "OTHER", Role.SHIPPER)
    t0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=2)
    ingest(loaded_store, [box_event("GTIN", t0, "KZDOS", box=BOX, bkg="B1")], "ACME")   # before subscribing
    with serving(loaded_store) as base, httpx.Client(timeout=30) as client:
        url = f"{base}/api/v1/stream"
        mine = Subscriber(client, url, acme)
        theirs = Subscriber(client, url, other)
        at_aktau = Subscriber(client, url, admin, facility="KZAAU")
        by_box = Subscriber(client, url, admin, container=OTHER)
        try:
            ingest(loaded_store, [box_event("GTIN", t0, "KZDOS", box=OTHER, bkg="B2")], "OTHER")
            ingest(loaded_store, [box_event("LOAD", t0 + timedelta(hours=4), "KZDOS", box=BOX, bkg="B1",
                                            voyage="T100")], "ACME")
            ingest(loaded_store, [box_event("GTIN", t0 + timedelta(hours=9), "KZAAU", box=OTHER, bkg="B2")], "OTHER")
            got = mine.until(lambda evs: any(e["code"] == "LOAD" for e in evs))
            # ACME's own event after subscribing arrives; the earlier one does not; OTHER's never do
            assert any(e["code"] == "LOAD" and e["equipment"] == BOX for e in got)
            assert all(e["equipment"] == BOX for e in got), [e["equipment"] for e in got]
            assert not any(e["code"] == "GTIN" for e in got)
            assert mine.ids == sorted(mine.ids)
            seen = theirs.until(lambda evs: sum(e["code"] == "GTIN" for e in evs) >= 2)
            assert {e["equipment"] for e in seen} == {OTHER}
            assert [e["location"] for e in seen if e["code"] == "GTIN"] == ["KZDOS", "KZAAU"]
            facility = at_aktau.until(lambda evs: any(e["code"] == "GTIN" for e in evs))
            assert facility and all(e["location"] == "KZAAU" for e in facility)
            boxes = by_box.until(lambda evs: sum(e["code"] == "GTIN" for e in evs) >= 2)
            assert {e["equipment"] for e in boxes} == {OTHER}
        finally:
            for s in (mine, theirs, at_aktau, by_box):
                s.close()
        # resume: Last-Event-ID replays what came after it, still only what ACME may see
        first = mine.ids[0]
        again = Subscriber(client, url, acme, after=first - 1)
        try:
            replayed = again.until(lambda evs: any(e["code"] == "LOAD" for e in evs))
            assert replayed[0]["seq"] == first and all(e["equipment"] == BOX for e in replayed)
        finally:
            again.close()
