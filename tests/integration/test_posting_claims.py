"""A shipper or forwarder posts only for its own containers and bookings (docs/access.md), on both stores.

The corridor of the defect report: BOSPHORUS's box is on its booking, loaded at Poti by the port;
ACME, another shipper, posts a discharge and a gate-out for it (the CSV the reviewer sent). Before
the fix both were stored and the box showed delivered. Operators keep their own rule
(test_access_matrix, test_ingest_api).
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from corridor.access import keys
from corridor.access.demo import DEMO_PARTIES
from corridor.api.app import create_app
from corridor.booking.containers import parse_containers
from corridor.booking.service import BookingService
from corridor.domain.equipment import with_check_digit
from corridor.domain.parties import ADMIN_PARTY, Party, Role
from corridor.settings import Settings
from corridor.store import Store
from corridor.store import parties as partystore
from corridor.store.tables import events, quarantine, trips
from corridor.tracking.dcsa_out import to_dcsa_22

from tracking_helpers import box_event, ingest

THEIRS, MINE = "TGHU1234567", "MSCU1234566"
FRESH = {name: with_check_digit(f"CAIU{n:06d}") for n, name in enumerate(
    ("booking", "own", "worker", "probe"), start=555001)}   # boxes Corridor has no trip of, one per test
FAST = Settings(rate_limit_per_minute=1_000_000, nats_url=None)
HEADER = "event_type,event_code,classifier,event_time,location,equipment,size_type,mode,voyage,vehicle,booking_ref\n"
ROLES = {"ACME": "ACME", "BOSPHORUS": "BOSPHORUS", "SILKWAY": "SILKWAY", "POTIPORT": "POTIPORT", "admin": ADMIN_PARTY}


class Corridor:
    def __init__(self, store, client, k, ref, t0):
        self.store, self.client, self.keys, self.ref, self.t0 = store, client, k, ref, t0

    def h(self, who: str) -> dict:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def csv(self, who: str, rows: list[str]) -> dict:
        r = self.client.post("/api/v1/messages", content=(HEADER + "\n".join(rows) + "\n").encode(),
                             headers={**self.h(who), "Content-Type": "text/csv"})
        assert r.status_code == 200, r.text
        return r.json()

    def dcsa(self, who: str, evs) -> dict:
        body = json.dumps([to_dcsa_22(e, f"{who}-{i}-{e.code}-{e.event_time:%s}", e.event_time)
                           for i, e in enumerate(evs)])
        r = self.client.post("/api/v1/events", content=body, headers=self.h(who))
        assert r.status_code == 200, r.text
        return r.json()

    def stored_by(self, box: str) -> set[tuple[str, str]]:
        """(sender, code) of the box's events, but Corridor's own (ETA estimates, alerts)."""
        with self.store.read() as conn:
            return {(r.source_party, r.code) for r in conn.execute(
                select(events.c.source_party, events.c.code).where(events.c.equipment == box,
                                                                   events.c.source_party != ADMIN_PARTY))}


def build(store: Store) -> Corridor:
    """BOSPHORUS booked one box Tbilisi -> Istanbul (nominating nobody), ACME one Xi'an -> Istanbul
    nominating SILKWAY; Poti port loaded BOSPHORUS's box on its booking two days ago."""
    with store.tx() as conn:
        for p in [*DEMO_PARTIES, Party(ADMIN_PARTY, "Corridor", frozenset({Role.ADMIN}))]:
            partystore.upsert_party(conn, p)
        k = {who: keys.create_key(conn, pid, scopes=("read", "write", "admin") if who == "admin" else ("read", "write"))
             for who, pid in ROLES.items()}
    svc = BookingService(store)
    ready = (datetime.now(timezone.utc) + timedelta(days=2)).replace(microsecond=0)
    ref = {}
    for who, origin, nominated in (("BOSPHORUS", "GETBS", []), ("ACME", "CNXIA", ["SILKWAY"])):
        q = svc.quote(origin, "TRIST", ready, parse_containers("1x40"), 3)
        ref[who] = svc.book(who, origin, "TRIST", ready, parse_containers("1x40"), q.options[0].departure_ids,
                            nominated=nominated, created_by=who).booking.ref
    t0 = (datetime.now(timezone.utc) - timedelta(days=2)).replace(microsecond=0)
    ingest(store, [box_event("LOAD", t0, "GEPTI", box=THEIRS, bkg=ref["BOSPHORUS"], mode="VESSEL",
                             voyage="PTI88")], "POTIPORT")
    app = create_app(FAST.model_copy(update={"database_url": store.url}), store=store)
    return Corridor(store, TestClient(app), k, ref, t0)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def corridor(request, templates):
    """One corridor per store for the module; each test posts for boxes of its own (FRESH)."""
    shared = sys.modules[type(templates).__module__]      # tests/conftest.py, however pytest named it
    for store in shared._make_store(request, templates, with_network=True):
        yield build(store)


def _rows(box: str, t: datetime, bkg: str = "") -> list[str]:
    """The reviewer's two rows: a discharge at Poti, then the gate-out."""
    return [f"EQUIPMENT,DISC,ACT,{t.isoformat()},GEPTI,{box},42G1,VESSEL,PTI88,,{bkg}",
            f"EQUIPMENT,GTOT,ACT,{(t + timedelta(hours=1)).isoformat()},GEPTI,{box},42G1,,,,{bkg}"]


def test_a_shipper_cannot_post_for_another_shippers_box(corridor):
    c = corridor
    out = c.csv("ACME", _rows(THEIRS, c.t0 + timedelta(hours=20)))
    assert (out["stored"], out["quarantined"]) == (0, 2), out
    for why in out["reasons"]:
        assert "may post events only for containers on its own trips and bookings" in why
        # nothing of BOSPHORUS's: not its name, its booking or its trip
        assert "BOSPHORUS" not in why and c.ref["BOSPHORUS"] not in why and f"{THEIRS}-" not in why
    assert not {who for who, _ in c.stored_by(THEIRS)} & {"ACME"}
    # BOSPHORUS's box is still aboard, not delivered, as the administrator sees it
    box = c.client.get(f"/api/v1/containers/{THEIRS}", headers=c.h("admin")).json()
    assert not {m["code"] for m in box["milestones"] if m.get("actual")} & {"DISC", "GTOT"}, box["milestones"]
    # kept in ACME's quarantine with the reason, as other refusals are; hidden from BOSPHORUS
    q = [e for e in c.client.get("/api/v1/quarantine", headers=c.h("ACME")).json()["entries"] if THEIRS in e["reason"]]
    assert len(q) == 2 and all(e["kind"] == "rejected" and e["source_party"] == "ACME" for e in q)
    assert c.client.get(f"/api/v1/quarantine/{q[0]['id']}", headers=c.h("BOSPHORUS")).status_code == 404
    # a replay by ACME does not get round it
    r = c.client.post(f"/api/v1/quarantine/{q[0]['id']}/replay", headers=c.h("ACME")).json()
    assert r["stored"] == 0 and not {who for who, _ in c.stored_by(THEIRS)} & {"ACME"}


def test_the_refusal_says_the_same_whatever_the_box_holds(corridor):
    """No probing: another's box on its trip at the time, days or months before that trip: one reason."""
    reasons = set()
    for when in (corridor.t0 + timedelta(hours=3), corridor.t0 - timedelta(days=10), corridor.t0 - timedelta(days=90)):
        out = corridor.csv("ACME", _rows(THEIRS, when)[1:])
        assert (out["stored"], out["quarantined"]) == (0, 1), out
        reasons.add(out["reasons"][0].split(": ", 1)[1])
    assert len(reasons) == 1, reasons
    assert "covers" not in reasons.pop()   # not attribution's "no trip of this container covers the event time"


def test_a_shipper_cannot_name_another_shippers_booking(corridor):
    c, box = corridor, FRESH["booking"]
    # quoting BOSPHORUS's booking on a box Corridor has no trip of would open a trip on that booking
    out = c.csv("ACME", _rows(box, c.t0, bkg=c.ref["BOSPHORUS"]))
    assert (out["stored"], out["quarantined"]) == (0, 2), out
    assert all("is not one of party ACME's bookings" in why for why in out["reasons"])
    # a reference of Corridor's form that does not exist is refused alike (no probing of references)
    ghost = c.ref["BOSPHORUS"][:-6] + "999999"
    again = c.csv("ACME", _rows(box, c.t0, bkg=ghost))
    assert again["reasons"][0].replace(ghost, "X") == out["reasons"][0].replace(c.ref["BOSPHORUS"], "X")
    with c.store.read() as conn:
        assert conn.execute(select(trips.c.id).where(trips.c.equipment == box)).first() is None


def test_a_shipper_cannot_move_a_vessel_it_does_not_operate(corridor):
    """A sailing's DEPA without a container moves every box aboard: only its operator posts it."""
    row = f"TRANSPORT,DEPA,ACT,{(corridor.t0 + timedelta(hours=6)).isoformat()},GEPTI,,,VESSEL,PTI88,,"
    out = corridor.csv("ACME", [row])
    assert (out["stored"], out["quarantined"]) == (0, 1), out
    assert "only the vehicle's operator may post it" in out["reasons"][0]
    assert not {who for who, _ in corridor.stored_by(THEIRS)} & {"ACME"}


def test_own_boxes_and_bookings_still_go_in(corridor):
    c, box = corridor, FRESH["own"]
    # a box Corridor has no trip of: ACME's report opens ACME's own trip, and its next events follow
    first = c.csv("ACME", _rows(box, c.t0))
    assert (first["stored"], first["quarantined"]) == (2, 0), first
    more = c.csv("ACME", _rows(box, c.t0 + timedelta(hours=6))[1:])
    assert (more["stored"], more["quarantined"]) == (1, 0), more
    # now it is ACME's: BOSPHORUS may not post for it
    theirs = c.csv("BOSPHORUS", _rows(box, c.t0 + timedelta(hours=8))[1:])
    assert (theirs["stored"], theirs["quarantined"]) == (0, 1), theirs
    # the owner of the booked box posts for it
    own = c.csv("BOSPHORUS", _rows(THEIRS, c.t0 + timedelta(hours=30)))
    assert (own["stored"], own["quarantined"]) == (2, 0), own
    # ACME on its own booking (a box new to Corridor), and SILKWAY, nominated on it, on the same trip
    booked = c.dcsa("ACME", [box_event("GTIN", c.t0, "KZDOS", box=MINE, bkg=c.ref["ACME"])])
    assert (booked["stored"], booked["quarantined"]) == (1, 0), booked
    fwd = c.dcsa("SILKWAY", [box_event("GTOT", c.t0 + timedelta(hours=2), "KZDOS", box=MINE, bkg=c.ref["ACME"])])
    assert (fwd["stored"], fwd["quarantined"]) == (1, 0), fwd
    with c.store.read() as conn:
        mine = conn.execute(select(trips.c.booking_ref, trips.c.parties).where(trips.c.equipment == MINE)).all()
    assert len(mine) == 1 and mine[0].booking_ref == c.ref["ACME"] and {"ACME", "SILKWAY"} <= set(mine[0].parties)
    # the port posts for anyone's box at its own facility, as before
    port = c.csv("POTIPORT", _rows(box, c.t0 + timedelta(hours=9))[1:])
    assert (port["stored"], port["quarantined"]) == (1, 0), port


def test_the_worker_path_checks_the_same(corridor):
    """NATS workers and MQTT build `allowed` with posting_rights once and keep it: the kept one
    reads the trips again for the next message (a box that became another's is refused at once)."""
    from corridor.access.visibility import posting_rights
    from corridor.ingest.service import Ingestor
    from corridor.store.parties import get_party
    c, box = corridor, FRESH["worker"]
    with c.store.read() as conn:
        allowed = posting_rights(conn, get_party(conn, "ACME"))
    ing = Ingestor(c.store)
    body = (HEADER + "\n".join(_rows(box, c.t0 - timedelta(days=10))) + "\n").encode()
    assert ing.ingest(body, source_party="ACME", fmt="csv", allowed=allowed).stored == 2
    # the port opens BOSPHORUS's booking on that box later on: ACME's trip ends there
    ingest(c.store, [box_event("GTIN", c.t0, "GEPTI", box=box, bkg=c.ref["BOSPHORUS"])], "POTIPORT")
    late = (HEADER + "\n".join(_rows(box, c.t0 + timedelta(days=1))) + "\n").encode()
    out = ing.ingest(late, source_party="ACME", fmt="csv", allowed=allowed)
    assert (out.stored, out.quarantined) == (0, 2), out.reasons
    with c.store.read() as conn:
        held = conn.execute(select(quarantine.c.reason).where(quarantine.c.source_party == "ACME",
                                                               quarantine.c.message_id == out.message_id)).all()
    assert len(held) == 2 and all("own trips and bookings" in r.reason for r in held)


def test_the_recheck_on_locked_trips_judges_alike(corridor):
    """`allowed.recheck(event, trips)` (for the ingest path to run on the trips it holds locked)
    refuses what `allowed` would refuse on those trips, and lets through what it would let through."""
    from corridor.access.visibility import posting_rights
    from corridor.domain.events import Classifier, Event, EventKind
    from corridor.store.ingest import trips_of_many
    from corridor.store.parties import get_party
    c = corridor
    with c.store.read() as conn:
        acme, bos = (posting_rights(conn, get_party(conn, p)) for p in ("ACME", "BOSPHORUS"))
        theirs = trips_of_many(conn, [THEIRS])[THEIRS]
    e = Event(kind=EventKind.EQUIPMENT, code="GTOT", classifier=Classifier.ACT, event_time=c.t0 + timedelta(hours=5),
              location="GEPTI", equipment=THEIRS, source_party="ACME", message_id="recheck-1")
    assert "own trips and bookings" in acme.recheck(e, theirs)
    assert acme.recheck(e, []) is None                      # no trip yet: it would open ACME's own
    assert bos.recheck(e, theirs) is None
    with c.store.read() as conn:
        port = posting_rights(conn, get_party(conn, "POTIPORT"))
    # operators: their own rule; the recheck judges only a container's position (test_posting_positions)
    assert port.recheck(e, theirs) is None

