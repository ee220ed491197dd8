"""The live stream and the seq-cursor reads hand out only seqs below which no transaction is still
writing (store.events.horizon), on both stores: an append that drew lower seqs but commits after a
later one is never skipped; a rolled-back append leaves a hole nobody waits for. Also: a revoked or
expired key's open stream ends; Last-Event-ID and `facility` are checked and resolved."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy import func, select

from corridor import eventlog
from corridor.access import keys
from corridor.domain.parties import ADMIN_PARTY, Party, Role
from corridor.domain.equipment import with_check_digit
from corridor.store import events as evstore
from corridor.store.parties import add_alias, upsert_party
from corridor.store.queues import events_head
from corridor.store.tables import events
from corridor.tracking.outbox import seq_of

from test_stream import Subscriber, serving
from tracking_helpers import box_event, ingest, party

T0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=2)


def _head(store) -> int:
    with store.read() as conn:
        return conn.execute(select(func.coalesce(func.max(events.c.seq), 0))).scalar_one()


class Held:
    """An append in a transaction kept open until `release()` (or rolled back then): its seqs are
    drawn, its rows not yet committed, as a large message's are while its tracking steps run."""

    class _Undo(Exception):
        pass

    def __init__(self, store, evs, rollback: bool = False):
        self.appended, self.go, self.rollback = threading.Event(), threading.Event(), rollback
        self.seqs: list[int] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(store, evs), daemon=True)
        self.thread.start()
        assert self.appended.wait(20), "the held append did not start"

    def _run(self, store, evs):
        try:
            with store.tx() as conn:
                stored, _ = eventlog.record(conn, evs)
                self.seqs = [s for s, _ in stored]
                self.appended.set()
                self.go.wait(60)
                if self.rollback:
                    raise Held._Undo()
        except Held._Undo:
            pass
        except BaseException as e:  # noqa: BLE001 - reported by release()
            self.error = e
            self.appended.set()

    def release(self):
        self.go.set()
        self.thread.join(30)
        assert self.error is None, self.error


def _later(store, fn, *args) -> threading.Thread:
    """`fn(*args)` in a thread: on PostgreSQL it commits (higher seqs) while the held append is still
    open, and is waited for; on SQLite it waits for the held writer (one writer at a time)."""
    t = threading.Thread(target=fn, args=args, daemon=True)
    t.start()
    t.join(60 if store.dialect == "postgresql" else 1)
    assert store.dialect != "postgresql" or not t.is_alive(), "the later append did not commit"
    return t


def test_stream_keeps_an_append_that_commits_after_a_later_one(loaded_store):
    admin = party(loaded_store, "ADM", Role.ADMIN)
    party(loaded_store, "ACME", Role.SHIPPER)
    with serving(loaded_store) as base, httpx.Client(timeout=30) as client:
        sub = Subscriber(client, f"{base}/api/v1/stream", admin)
        try:
            held = Held(loaded_store, [box_event("GTIN", T0, "KZDOS", box="MSCU1234566", bkg="B1")])
            late = _later(loaded_store, ingest, loaded_store, [box_event("GTIN", T0, "KZDOS", box="TGHU1234567", bkg="B2")], "ACME")
            time.sleep(1.5)   # the stream polls (every 0.5 s) while the earlier seqs are uncommitted
            held.release()
            late.join(30)
            got = sub.until(lambda evs: len(evs) >= 2, seconds=10)
        finally:
            sub.close()
    assert sorted(e["equipment"] for e in got) == ["MSCU1234566", "TGHU1234567"]
    assert sub.ids == sorted(sub.ids) and held.seqs[0] in sub.ids


def test_a_rolled_back_append_leaves_a_hole_the_stream_does_not_wait_for(loaded_store):
    admin = party(loaded_store, "ADM", Role.ADMIN)
    party(loaded_store, "ACME", Role.SHIPPER)
    with serving(loaded_store) as base, httpx.Client(timeout=30) as client:
        sub = Subscriber(client, f"{base}/api/v1/stream", admin)
        try:
            held = Held(loaded_store, [box_event("GTIN", T0, "KZDOS", box="MSCU1234566", bkg="B1")], rollback=True)
            held.release()
            ingest(loaded_store, [box_event("GTIN", T0, "KZDOS", box="TGHU1234567", bkg="B2")], "ACME")
            t = time.monotonic()
            got = sub.until(lambda evs: len(evs) >= 1, seconds=10)
            waited = time.monotonic() - t
        finally:
            sub.close()
    assert [e["equipment"] for e in got] == ["TGHU1234567"] and waited < 3, waited


def test_queue_cursor_is_below_an_uncommitted_append(loaded_store):
    """GET /api/v1/locations/{code}/queue's `cursor`: a stream resumed after it carries the events of
    a transaction still writing when the queue was read."""
    party(loaded_store, "ACME", Role.SHIPPER)
    before = _head(loaded_store)
    held = Held(loaded_store, [box_event("GTIN", T0, "KZDOS", box="MSCU1234566", bkg="B1")])
    late = _later(loaded_store, ingest, loaded_store, [box_event("GTIN", T0, "KZDOS", box="TGHU1234567", bkg="B2")], "ACME")
    try:
        with loaded_store.read() as conn:
            cursor = events_head(conn)
    finally:
        held.release()
        late.join(30)
    assert before <= cursor < held.seqs[0]
    with loaded_store.read() as conn:
        after = conn.execute(select(events.c.equipment).where(events.c.seq > cursor).order_by(events.c.seq)).scalars().all()
    assert after == ["MSCU1234566", "TGHU1234567"]


def test_dcsa_seq_paging_never_passes_an_uncommitted_append(loaded_store):
    """GET /v2/events pages in seq order: a Next-Page taken while an earlier append is still being
    written goes on from before it, so the walk has every event."""
    from tracking_helpers import app_for
    admin = party(loaded_store, "ADM", Role.ADMIN)
    party(loaded_store, "ACME", Role.SHIPPER)
    ingest(loaded_store, [box_event("GTIN", T0, "KZDOS", box="CSQU3054383", bkg="B0")], "ACME")
    api, h = app_for(loaded_store), {"Authorization": f"Bearer {admin}"}
    held = Held(loaded_store, [box_event("GTIN", T0, "KZDOS", box="MSCU1234566", bkg="B1")])
    late = _later(loaded_store, ingest, loaded_store, [box_event("GTIN", T0 + timedelta(hours=1), "KZDOS", box="TGHU1234567",
                                                   bkg="B2"),
                                         box_event("GTOT", T0 + timedelta(hours=2), "KZDOS", box="TGHU1234567",
                                                   bkg="B2")], "ACME")
    try:
        first = api.get("/v2/events?limit=2&eventType=EQUIPMENT", headers=h)
        assert first.status_code == 200, first.text
        walk = [(seq_of(d["eventID"]), d["equipmentReference"]) for d in first.json()]
        url = first.headers.get("Next-Page")
    finally:
        held.release()
        late.join(30)
    while url:
        r = api.get(url, headers=h)
        walk += [(seq_of(d["eventID"]), d["equipmentReference"]) for d in r.json()]
        url = r.headers.get("Next-Page")
    with loaded_store.read() as conn:
        stored = conn.execute(select(events.c.seq, events.c.equipment).where(events.c.seq <= max(walk)[0], events.c.kind == "EQUIPMENT")
                              .order_by(events.c.seq)).all()
    assert walk == [tuple(r) for r in stored]   # nothing below the last seq handed out was left out
    if loaded_store.dialect == "postgresql":
        # the first page stopped before the uncommitted append and offered the rest after it
        assert [b for _, b in walk] == ["CSQU3054383", "MSCU1234566", "TGHU1234567", "TGHU1234567"], walk


def _csv(rows: list[tuple[str, str]]) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["event_type", "event_code", "classifier", "event_time", "location", "equipment", "size_type",
                "booking_ref"])
    for box, when in rows:
        w.writerow(["EQUIPMENT", "GTIN", "ACT", when, "KZAAU", box, "42G1", ""])
    return out.getvalue().encode()


def test_concurrent_csv_posts_all_reach_the_stream_and_a_resume(loaded_store):
    """The integrator's run: a CSV of many boxes and, meanwhile, one-row CSVs from other clients; the
    stream opened at the head delivers every new event, and so does a resume from Last-Event-ID."""
    with loaded_store.tx() as conn:
        upsert_party(conn, Party(ADMIN_PARTY, "Corridor", frozenset({Role.ADMIN})))
        upsert_party(conn, Party("PORTAKTAU", "Aktau Sea Port", frozenset({Role.TERMINAL}), "KZ",
                                 facilities=frozenset({"KZ_AKX"})))
        port = keys.create_key(conn, "PORTAKTAU", scopes=("read", "write"))
        admin = keys.create_key(conn, ADMIN_PARTY, scopes=("read", "write", "admin"))
    when = (T0 + timedelta(hours=5)).isoformat()
    big = _csv([(with_check_digit(f"TGHU{i:06d}"), when) for i in range(3000)])
    small = [_csv([(with_check_digit(f"MSKU{i:06d}"), when)]) for i in range(14)]
    start = _head(loaded_store)
    with serving(loaded_store) as base, httpx.Client(timeout=120) as client:
        sub = Subscriber(client, f"{base}/api/v1/stream", admin, after=start)
        h = {"Authorization": f"Bearer {port}", "Content-Type": "text/csv"}
        out: list = []

        def post(body: bytes, delay: float = 0.0):
            time.sleep(delay)
            with httpx.Client(timeout=120) as c:
                out.append(c.post(f"{base}/api/v1/messages?format=csv", content=body, headers=h))

        threads = [threading.Thread(target=post, args=(big,))] + \
                  [threading.Thread(target=post, args=(b, 0.3 + 0.1 * i)) for i, b in enumerate(small)]
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            assert [r.status_code for r in out] == [200] * 15, [r.text for r in out if r.status_code != 200]
            stored = sum(r.json()["stored"] for r in out)
            with loaded_store.read() as conn:
                new = conn.execute(select(func.count()).select_from(events).where(events.c.seq > start)).scalar_one()
            assert stored == 3014 and new >= stored
            got = sub.until(lambda evs: len(evs) >= new, seconds=30)
        finally:
            sub.close()
        assert len(got) == new and len(set(sub.ids)) == new and sub.ids == sorted(sub.ids)
        # a reconnect with Last-Event-ID from half-way carries all the rest
        mid = sub.ids[len(sub.ids) // 2]
        resumed = Subscriber(client, f"{base}/api/v1/stream", admin)
        resumed.close()
        again = client.stream("GET", f"{base}/api/v1/stream", params={"max_seconds": 20, "after": 0},
                              headers={"Authorization": f"Bearer {admin}", "Last-Event-ID": str(mid)})
        r = again.__enter__()
        try:
            ids = []
            for line in r.iter_lines():
                if line.startswith("id: "):
                    ids.append(int(line[4:]))
                    if ids[-1] == sub.ids[-1]:
                        break
        finally:
            again.__exit__(None, None, None)
        assert ids == [i for i in sub.ids if i > mid]


# ---- a revoked or expired key's stream ends --------------------------------------------------

def _open(client, url, key, **params):
    cm = client.stream("GET", url, params=params, headers={"Authorization": f"Bearer {key}"})
    r = cm.__enter__()
    assert r.status_code == 200, r.read()
    return cm, r


def _ends_within(r, seconds: float) -> tuple[bool, list[str]]:
    """Read the stream until the server closes it (True) or `seconds` pass (False)."""
    lines: list[str] = []
    done = threading.Event()

    def read():
        try:
            for line in r.iter_lines():
                lines.append(line)
        except Exception:  # noqa: BLE001 - the client closing it below
            pass
        done.set()
    threading.Thread(target=read, daemon=True).start()
    return done.wait(seconds), lines


def test_revoking_a_key_ends_its_open_stream(loaded_store):
    key = party(loaded_store, "ACME", Role.SHIPPER)
    other = party(loaded_store, "OTHER", Role.SHIPPER)
    with serving(loaded_store) as base, httpx.Client(timeout=30) as client:
        cm, r = _open(client, f"{base}/api/v1/stream", key, max_seconds=0)
        cm2, r2 = _open(client, f"{base}/api/v1/stream", other, max_seconds=0)
        try:
            time.sleep(0.5)
            with loaded_store.tx() as conn:
                assert keys.revoke(conn, keys.split(key)[0])
            ended, lines = _ends_within(r, 10)
            assert ended, "the revoked key's stream is still open"
            assert any("revoked" in line for line in lines), lines
            still, _ = _ends_within(r2, 1)
            assert not still   # another key's stream goes on
        finally:
            cm.__exit__(None, None, None)
            cm2.__exit__(None, None, None)
        assert client.get(f"{base}/api/v1/stream", headers={"Authorization": f"Bearer {key}"}).status_code == 401


def test_an_expired_key_s_stream_ends(loaded_store):
    with loaded_store.tx() as conn:
        upsert_party(conn, Party("ACME", "ACME", frozenset({Role.SHIPPER})))
        key = keys.create_key(conn, "ACME", expires_at=datetime.now(timezone.utc) + timedelta(seconds=2))
    with serving(loaded_store) as base, httpx.Client(timeout=30) as client:
        cm, r = _open(client, f"{base}/api/v1/stream", key, max_seconds=0)
        try:
            ended, lines = _ends_within(r, 10)
        finally:
            cm.__exit__(None, None, None)
    assert ended and any("expired" in line for line in lines), lines


# ---- Last-Event-ID and facility ---------------------------------------------------------------

def test_bad_last_event_id_is_a_400_problem(sqlite_loaded_store):
    from tracking_helpers import app_for
    key = party(sqlite_loaded_store, "ACME", Role.SHIPPER)
    api = app_for(sqlite_loaded_store)
    for bad in ("abc", "-5", "1.5", str(2**63)):
        r = api.get("/api/v1/stream?max_seconds=0.1", headers={"Authorization": f"Bearer {key}",
                                                              "Last-Event-ID": bad})
        assert r.status_code == 400, (bad, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "Last-Event-ID" in r.json()["detail"]


@pytest.mark.parametrize("facility", ["KZ_AKX", "KZAAU", "kzaau", "Aktau", "AKTAU-TERM"])
def test_facility_filter_takes_ids_codes_names_and_aliases(sqlite_loaded_store, facility):
    store = sqlite_loaded_store
    admin = party(store, "ADM", Role.ADMIN)
    party(store, "ACME", Role.SHIPPER)
    with store.tx() as conn:
        add_alias(conn, "location", "AKTAU-TERM", "KZ_AKX")
    with serving(store) as base, httpx.Client(timeout=30) as client:
        sub = Subscriber(client, f"{base}/api/v1/stream", admin, facility=facility)
        try:
            ingest(store, [box_event("GTIN", T0, "KZDOS", box="MSCU1234566", bkg="B1"),
                           box_event("GTIN", T0 + timedelta(hours=1), "KZAAU", box="TGHU1234567", bkg="B2")], "ACME")
            got = sub.until(lambda evs: len(evs) >= 1, seconds=5)
        finally:
            sub.close()
    assert [(e["equipment"], e["location"]) for e in got] == [("TGHU1234567", "KZAAU")]


def test_unknown_facility_is_refused(sqlite_loaded_store):
    from tracking_helpers import app_for
    key = party(sqlite_loaded_store, "ACME", Role.SHIPPER)
    r = app_for(sqlite_loaded_store).get("/api/v1/stream?facility=ZZNOPE&max_seconds=0.1",
                                         headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 400 and r.json()["title"] == "Unknown place", r.text


def test_horizon_is_below_every_uncommitted_seq(store):
    """store.events.horizon: the stream's and the cursors' bound, read directly."""
    evs = [box_event("GTIN", T0 + timedelta(minutes=i), "KZDOS", box="MSCU1234566", bkg="B1") for i in range(3)]
    with store.tx() as conn:
        evstore.append(conn, evs[:1])
    with store.read() as conn:
        assert evstore.head(conn) == _head(store)
    held = Held(store, evs[1:2])
    late = _later(store, _append_one, store, evs[2])
    try:
        with store.read() as conn:
            h = evstore.head(conn)
    finally:
        held.release()
        late.join(30)
    assert h < held.seqs[0]
    with store.read() as conn:
        assert evstore.head(conn) == _head(store)


def _append_one(store, e):
    with store.tx() as conn:
        evstore.append(conn, [e])


def test_docs_show_the_stream_s_event_as_it_is_sent():
    """docs/api.md's live-stream example has the fields Corridor's event JSON has."""
    import re
    from pathlib import Path
    from corridor.tracking.timeline import event_json
    text = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
    section = text.split("## The live stream", 1)[1].split("\n## ", 1)[0]
    shown = json.loads(re.search(r"^data: (\{.*\})$", section, re.M).group(1))
    sent = event_json(1, box_event("GTIN", T0, "KZAAU", box="MSCU1234566", bkg="B1"), T0)
    assert set(shown) == set(sent)
    assert "Last-Event-ID" in section and "horizon" in section
