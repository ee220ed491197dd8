"""What a port's coordination board reads, on both stores: the departures arriving at a place in a
window (`GET /api/v1/departures?window=arrival`: those under way included, in order of arrival) and
the containers waiting there now (`GET /api/v1/locations/{code}/queue`, as each party may see it).

One Aktau per store (module scope), built through the real services: ACME and BOSPHORUS book space
Aktau -> Alat; the port reports its boxes (gate-ins, a discharge, a load, a gate-out), Baku's port
one box of its own.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from corridor.access import keys
from corridor.access.demo import DEMO_PARTIES
from corridor.api.app import create_app
from corridor.booking.containers import parse_containers
from corridor.booking.service import BookingService
from corridor.domain.parties import ADMIN_PARTY, Party, Role
from corridor.settings import Settings
from corridor.store import Store
from corridor.store import network as netstore
from corridor.store import parties as partystore
from corridor.store.tables import events

from tracking_helpers import box_event, ingest, quoted_option

# ISO 6346 numbers with their check digits
A1, A2, A3 = "MSCU1234566", "TGHU1234567", "CAIU1000012"   # ACME's: 40', 20', then gone out of the gate
B1, B2 = "CSQU3054383", "MSKU9070323"                        # BOSPHORUS's: loaded aboard; still here
AZ = "TCNU1000000"                                           # ACME's, at Baku's port
PARTIES = ("ACME", "BOSPHORUS", "PORTAKTAU", "BATUMIPORT", "KZCUSTOMS", "ASCO")
FAST = Settings(rate_limit_per_minute=1_000_000, nats_url=None)


@dataclass
class Port:
    store: Store
    client: TestClient
    keys: dict[str, str]
    booked: dict[str, str]      # shipper -> its booking's departure out of Aktau
    ref: dict[str, str]         # shipper -> booking ref
    t0: datetime                # when A1 gated in

    def get(self, who: str, path: str, **params):
        return self.client.get(path, params=params, headers={"Authorization": f"Bearer {self.keys[who]}"})


def _build(store: Store) -> Port:
    with store.tx() as conn:
        for p in [*DEMO_PARTIES, Party(ADMIN_PARTY, "Corridor", frozenset({Role.ADMIN}))]:
            partystore.upsert_party(conn, p)
        k = {pid: keys.create_key(conn, pid, scopes=("read", "write")) for pid in PARTIES}
        k["admin"] = keys.create_key(conn, ADMIN_PARTY, scopes=("read", "write", "admin"))
    svc = BookingService(store)
    ready = (datetime.now(timezone.utc) + timedelta(days=1)).replace(microsecond=0)
    booked, ref = {}, {}
    for shipper, boxes in (("ACME", "1x40,1x20"), ("BOSPHORUS", "2x40")):
        # on another line than ASCO's, whose view of the queue is tested as an operator's elsewhere
        ids, at = quoted_option(svc, "KZAAU", "AZALA", ready, boxes, avoid={"ASCO"})
        rec = svc.book(shipper, "KZAAU", "AZALA", at, parse_containers(boxes), ids, created_by=shipper)
        booked[shipper], ref[shipper] = rec.booking.legs[0].departure_id, rec.booking.ref
    now = datetime.now(timezone.utc).replace(microsecond=0)
    t0 = now - timedelta(hours=30)
    a, b = ref["ACME"], ref["BOSPHORUS"]
    ingest(store, [box_event("GTIN", t0, "KZAAU", box=A1, bkg=a),
                   replace(box_event("DISC", now - timedelta(hours=10), "KZAAU", box=A2, bkg=a), size_type="22G1"),
                   box_event("GTIN", now - timedelta(hours=20), "KZAAU", box=A3, bkg=a),
                   box_event("GTOT", now - timedelta(hours=3), "KZAAU", box=A3, bkg=a),
                   box_event("GTIN", now - timedelta(hours=26), "KZAAU", box=B1, bkg=b),
                   box_event("LOAD", now - timedelta(hours=2), "KZAAU", box=B1, bkg=b, mode="VESSEL",
                             voyage="KMT15426009W"),
                   box_event("GTIN", now - timedelta(hours=5), "KZAAU", box=B2, bkg=b)], "PORTAKTAU")
    ingest(store, [box_event("GTIN", now - timedelta(hours=40), "AZALA", box=AZ, bkg=a)], "PORTBAKU")
    app = create_app(FAST.model_copy(update={"database_url": store.url}), store=store)
    return Port(store, TestClient(app), k, booked, ref, t0)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def port(request, templates):
    shared = sys.modules[type(templates).__module__]      # tests/conftest.py, however pytest named it
    for store in shared._make_store(request, templates, with_network=True):
        yield _build(store)


def _queue(port: Port, who: str, code: str = "KZAAU") -> dict:
    r = port.get(who, f"/api/v1/locations/{code}/queue")
    assert r.status_code == 200, r.text
    return r.json()


# --- the queue -----------------------------------------------------------------------------------

def test_the_port_sees_every_box_waiting_longest_first_with_totals(port):
    q = _queue(port, "PORTAKTAU")
    assert [c["equipment"] for c in q["containers"]] == [A1, A2, B2]   # A3 went out, B1 is aboard
    assert q["location"] == {"code": "KZAAU", "id": "KZ_AKX", "name": q["location"]["name"],
                             "timezone": "Asia/Aqtau"}
    t = q["totals"]
    assert (t["boxes"], t["teu"], t["booked_out"], t["missed_booked_departure"]) == (3, 2 + 1 + 2, 3, 0)
    # Kazakhstan is UTC+5 all year: the port's own clock, with its offset
    assert t["oldest_since"] == port.t0.astimezone(timezone(timedelta(hours=5))).isoformat()
    assert 29.9 <= t["oldest_waiting_hours"] <= 30.5
    first = q["containers"][0]
    assert first["since"].endswith("+05:00") and first["teu"] == 2 and first["booking_ref"] == port.ref["ACME"]
    dep = first["booked_departure"]
    assert dep["id"] == port.booked["ACME"] and dep["from"] == "KZAAU" and dep["missed"] is False
    assert dep["departure"].endswith("+05:00")
    assert q["containers"][1]["teu"] == 1 and q["containers"][1]["size_type"] == "22G1"
    assert q["containers"][2]["booked_departure"]["id"] == port.booked["BOSPHORUS"]
    with port.store.read() as conn:
        assert q["cursor"] == conn.execute(select(func.max(events.c.seq))).scalar_one()


@pytest.mark.parametrize("who, boxes", [
    ("admin", [A1, A2, B2]), ("KZCUSTOMS", [A1, A2, B2]),          # the place's country's authority
    ("ACME", [A1, A2]), ("BOSPHORUS", [B2]),                         # a shipper: its own only
    ("BATUMIPORT", []), ("ASCO", [])])                               # operators elsewhere: nothing
def test_each_party_sees_the_queue_as_the_access_rules_allow(port, who, boxes):
    q = _queue(port, who)
    assert [c["equipment"] for c in q["containers"]] == boxes
    assert q["totals"]["boxes"] == len(boxes)   # totals count only what the caller may see


def test_another_place_has_its_own_queue_and_an_unknown_one_is_a_problem(port):
    assert [c["equipment"] for c in _queue(port, "admin", "AZALA")["containers"]] == [AZ]
    assert _queue(port, "admin", "KZ_AKX")["location"]["code"] == "KZAAU"   # by its corridor id too
    empty = _queue(port, "admin", "GEBUS")
    assert empty["containers"] == [] and empty["totals"]["boxes"] == 0 and empty["totals"]["oldest_since"] is None
    r = port.get("admin", "/api/v1/locations/XXNOPE/queue")
    assert r.status_code in (400, 404) and "XXNOPE" in r.json()["detail"]


def test_limit_lists_fewer_and_totals_still_count_all(port):
    r = port.get("PORTAKTAU", "/api/v1/locations/KZAAU/queue", limit=1).json()
    assert [c["equipment"] for c in r["containers"]] == [A1] and r["truncated"] is True
    assert r["totals"]["boxes"] == 3


# --- arrivals ------------------------------------------------------------------------------------

def _all_into(store: Store, dest: str) -> list:
    """Every departure into `dest` (no window at all), to judge the API's window by hand."""
    with store.read() as conn:
        return netstore.list_departures(conn, destination=dest)


def test_arrival_window_has_what_is_under_way_in_order_of_arrival_with_booked_teu(port):
    pivot = (datetime.now(timezone.utc) + timedelta(days=20)).replace(minute=0, second=0, microsecond=0)
    end = pivot + timedelta(days=3)
    into = _all_into(port.store, "KZ_AKX")
    under_way = [d for d, _ in into if d.departs_at < pivot < d.arrives_at]
    assert under_way, "the timetable has trains to Aktau taking days: some are under way at any hour"
    train = under_way[0]
    with port.store.tx() as conn:
        assert netstore.reserve(conn, train.id, 12)
    r = port.get("PORTAKTAU", "/api/v1/departures", to="KZAAU", window="arrival", start=pivot.isoformat(),
                 end=end.isoformat(), limit=5000)
    assert r.status_code == 200, r.text
    got = r.json()["departures"]
    want = sorted((d for d, _ in into if pivot <= d.arrives_at < end), key=lambda d: (d.arrives_at, d.id))
    assert [d["id"] for d in got] == [d.id for d in want]
    arrivals = [datetime.fromisoformat(d["arrival"]) for d in got]
    assert arrivals == sorted(arrivals)
    row = next(d for d in got if d["id"] == train.id)
    assert row["reserved_teu"] == 12 and row["arrival"].endswith("+05:00")
    assert datetime.fromisoformat(row["departure"]) < pivot   # it left before the window opened
    # the departure window (the default) leaves it out: it did not leave in the window
    by_dep = port.get("PORTAKTAU", "/api/v1/departures", to="KZAAU", start=pivot.isoformat(),
                      end=end.isoformat(), limit=5000).json()["departures"]
    assert train.id not in {d["id"] for d in by_dep}
    assert all(pivot <= datetime.fromisoformat(d["departure"]) < end for d in by_dep)


def test_a_late_or_cancelled_arrival_shows_its_status_and_its_new_time(port):
    pivot = (datetime.now(timezone.utc) + timedelta(days=40)).replace(minute=0, second=0, microsecond=0)
    end = pivot + timedelta(days=2)
    due = [d for d, _ in _all_into(port.store, "KZ_AKX") if pivot <= d.arrives_at < end - timedelta(hours=12)]
    late, gone = due[0], due[1]
    with port.store.tx() as conn:
        assert netstore.set_status(conn, late.id, "delayed", timedelta(hours=8))
        assert netstore.set_status(conn, gone.id, "cancelled")
    got = port.get("PORTAKTAU", "/api/v1/departures", to="KZAAU", window="arrival", start=pivot.isoformat(),
                   end=end.isoformat(), limit=5000).json()["departures"]
    by_id = {d["id"]: d for d in got}
    assert by_id[late.id]["status"] == "delayed"
    assert datetime.fromisoformat(by_id[late.id]["arrival"]) == late.arrives_at + timedelta(hours=8)
    assert by_id[gone.id]["status"] == "cancelled"
    arrivals = [datetime.fromisoformat(d["arrival"]) for d in got]
    assert arrivals == sorted(arrivals)   # the late one moved to its new place in the order


def test_an_unknown_window_is_refused(port):
    r = port.get("PORTAKTAU", "/api/v1/departures", to="KZAAU", window="eta")
    assert r.status_code == 422 and "window" in r.text


def test_store_refuses_an_unknown_window(port):
    with port.store.read() as conn, pytest.raises(ValueError, match="window"):
        netstore.list_departures(conn, window="eta")


# --- the documentation -----------------------------------------------------------------------------

def _documented() -> list[dict]:
    import json
    import re
    from pathlib import Path
    doc = Path(__file__).resolve().parents[2] / "docs" / "api.md"
    return [json.loads(b) for b in re.findall(r"```json\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)]


def _keys(doc, path="$") -> set[str]:
    """Every key path of a JSON document (list items as [])."""
    if isinstance(doc, dict):
        return {f"{path}.{k}" for k in doc} | {p for k, v in doc.items() for p in _keys(v, f"{path}.{k}")}
    if isinstance(doc, list):
        return {p for v in doc for p in _keys(v, f"{path}[]")}
    return set()


def test_docs_api_md_shows_what_the_api_answers(port):
    docs = _documented()   # the boards' two examples among the page's others
    departures = next(d for d in docs if "departures" in d)
    queue = next(d for d in docs if "location" in d and "containers" in d)
    got = port.get("PORTAKTAU", "/api/v1/departures", to="KZAAU", window="arrival", limit=1).json()
    assert _keys(departures) == _keys(got)
    got = port.get("PORTAKTAU", "/api/v1/locations/KZAAU/queue", limit=1).json()
    assert _keys(queue) - {"$.containers[].expected_departure"} == _keys(got) - {"$.containers[].expected_departure"}
    r = port.get("PORTAKTAU", "/api/v1/departures", to="KZAAU", start="2026-12-05T18:00:00")
    assert r.status_code == 400 and "offset" in r.json()["detail"]   # as the doc says
