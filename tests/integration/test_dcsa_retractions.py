"""DCSA 3.0 retractions withdraw the retracted event — on both stores.

An event with `isRetracted: true` says the sender's event of that eventID "has been retracted and
the data in the event must be discarded or ignored". The retracted event leaves the container's
timeline, its current status and GET /v2/events, and stays in the append-only log; a retraction
that comes first keeps its event out when it comes; a sender retracts only its own events; a
retraction sent again changes nothing.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select

from corridor.access.visibility import viewer_for
from corridor.cli.ingest import ingest_json
from corridor.domain.parties import Party, Role
from corridor.ingest.dcsa import parse_dcsa
from corridor.ingest.results import ParseResult, Retraction
from corridor.ingest.service import Incoming, Ingestor
from corridor.store.db import alembic_config
from corridor.store.tables import event_retractions, events, metadata
from corridor.tracking import timeline
from corridor.tracking.outbox import event_uuid

from tracking_helpers import app_for, party

BOX = "MSCU1234566"
CARRIER, OTHER = "CASPLINE", "PORTAKTAU"
ADMIN = Party("ADM", "admin", frozenset({Role.ADMIN}))
T0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=3)


def _at(t: datetime) -> str:
    return t.astimezone(timezone(timedelta(hours=5))).isoformat()


def _gate_in(eid: str, when: datetime = T0) -> dict:
    """A 3.0 gate-in of BOX at Aktau."""
    return {"eventID": eid, "eventDateTime": _at(when),
            "eventClassification": {"eventTypeCode": "EQUIPMENT", "eventClassifierCode": "ACT",
                                    "equipmentEventTypeCode": "GTIN"},
            "eventLocation": {"UNLocationCode": "KZAAU"},
            "equipmentDetails": {"equipmentReference": BOX, "emptyIndicatorCode": "LADEN"}}


def _load(eid: str, voyage: str = "CL101", when: datetime = T0 + timedelta(hours=5)) -> dict:
    """A 3.0 load of BOX at Aktau onto a sailing of `voyage`."""
    return {"eventID": eid, "eventDateTime": _at(when),
            "eventClassification": {"eventTypeCode": "EQUIPMENT", "eventClassifierCode": "ACT",
                                    "equipmentEventTypeCode": "LOAD"},
            "eventLocation": {"UNLocationCode": "KZAAU"},
            "equipmentDetails": {"equipmentReference": BOX, "emptyIndicatorCode": "LADEN"},
            "transportDetails": {"transportCall": {
                "modeOfTransport": "VESSEL", "exportVoyageNumberOrReference": {"carrierVoyageNumber": voyage},
                "vesselTransport": {"vesselName": "AKTAU STAR"}}}}


def _retraction(eid: str, when: datetime | None = None) -> dict:
    return {"eventID": eid, "isRetracted": True, **({"eventUpdatedDateTime": _at(when)} if when else {})}


def _send(store, items: list[dict], sender: str | None = CARRIER):
    return Ingestor(store).ingest(json.dumps({"events": items}).encode(), source_party=sender, fmt="dcsa-json")


def _timeline(store) -> dict:
    with store.read() as conn:
        return timeline.container_timeline(conn, BOX, viewer_for(conn, ADMIN))


def _codes(tl: dict) -> list[str]:
    return [m["code"] for m in tl["milestones"]]


def _logged(store) -> dict[str, int]:
    """eventID -> seq of every event row in the log."""
    with store.read() as conn:
        return dict(conn.execute(select(events.c.event_id, events.c.seq).where(events.c.event_id.is_not(None))).all())


def _v2(store, key: str) -> set[str]:
    """The eventIDs GET /v2/events gives (Corridor's: one per stored seq)."""
    r = app_for(store).get("/v2/events?limit=1000", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    return {d["eventID"] for d in r.json()}


def test_a_retraction_is_a_typed_item_of_the_parse():
    at = T0 + timedelta(hours=6)
    r = parse_dcsa({"events": [_gate_in("g-1"), _retraction("l-1", at)]}, source_party=CARRIER)
    assert [e.event_id for e in r.events] == ["g-1"] and r.rejections == []
    assert r.retractions == [Retraction(event_id="l-1", path="events[1]", retracted_at=at)]
    assert r.retractions[0].retracted_at.utcoffset() == timedelta(hours=5)
    # a full event sent retracted is a retraction, not an event; an eventID past the stored width is
    # named as the events table holds that sender's event of it
    long = "x" * 150
    full = parse_dcsa([{**_load(long), "isRetracted": True}], source_party=CARRIER)
    stored = parse_dcsa([_load(long)], source_party=CARRIER).events[0].event_id
    assert full.events == [] and [x.event_id for x in full.retractions] == [stored] and len(stored) == 100
    # other formats read none
    assert ParseResult(format="csv").retractions == []


def test_a_stored_event_retracted_leaves_the_timeline_status_and_v2_events_not_the_log(loaded_store):
    admin = party(loaded_store, "ADM", Role.ADMIN)
    party(loaded_store, CARRIER, Role.FERRY_OPERATOR)
    first = _send(loaded_store, [_gate_in("g-1"), _load("l-1")])
    assert (first.stored, first.quarantined, first.retracted) == (2, 0, 0), first.reasons
    before = _timeline(loaded_store)
    assert _codes(before) == ["GTIN", "LOAD"] and before["status"]["state"] == "at_sea"
    with loaded_store.read() as conn:   # kept by this process: a retraction must make it stale
        timeline.container_json(conn, BOX, viewer_for(conn, ADMIN))
    seqs = _logged(loaded_store)
    assert _v2(loaded_store, admin) == {event_uuid(seqs["g-1"]), event_uuid(seqs["l-1"])}

    out = _send(loaded_store, [_retraction("l-1", T0 + timedelta(hours=6))])
    assert (out.stored, out.quarantined, out.retracted) == (0, 0, 1), out.reasons
    assert out.as_json()["retracted"] == 1 and ingest_json([out.as_json()])["retracted"] == 1
    assert any("'l-1' retracted by CASPLINE: 1 stored event(s) withdrawn" in w for w in out.warnings), out.warnings
    after = _timeline(loaded_store)
    assert _codes(after) == ["GTIN"]
    assert (after["status"]["state"], after["status"]["location"], after["status"]["vehicle"]) == \
        ("at_facility", "KZAAU", None)
    with loaded_store.read() as conn:
        v = viewer_for(conn, ADMIN)
        assert json.loads(timeline.container_json(conn, BOX, v)) == after
        timeline.forget(conn)   # built from scratch: the same
        assert timeline.container_timeline(conn, BOX, v) == after
    assert _v2(loaded_store, admin) == {event_uuid(seqs["g-1"])}
    c = app_for(loaded_store)
    gone = c.get(f"/v2/events/{event_uuid(seqs['l-1'])}", headers={"Authorization": f"Bearer {admin}"})
    assert gone.status_code == 404
    assert _logged(loaded_store) == seqs   # the log keeps it, for audit
    with loaded_store.read() as conn:
        row = conn.execute(select(event_retractions)).one()
    assert (row.source_party, row.event_id, row.message_id) == (CARRIER, "l-1", out.message_id)
    assert row.retracted_at == T0 + timedelta(hours=6)

    # the carrier's correction: the box went on the next sailing; the timeline is kept again
    fixed = _send(loaded_store, [_load("l-2", "CL102", T0 + timedelta(hours=30))])
    assert fixed.stored == 1, fixed.reasons
    tl = _timeline(loaded_store)
    assert _codes(tl) == ["GTIN", "LOAD"] and tl["milestones"][1]["vehicle"] == "CL102"
    assert tl["status"]["vehicle"] == "CL102"
    with loaded_store.read() as conn:
        assert timeline.stored_is_current(conn, timeline.latest_trip(conn, BOX, viewer_for(conn, ADMIN)))


def test_a_retraction_before_its_event_keeps_the_event_out(loaded_store):
    admin = party(loaded_store, "ADM", Role.ADMIN)
    party(loaded_store, CARRIER, Role.FERRY_OPERATOR)
    early = _send(loaded_store, [_retraction("l-1")])
    assert (early.stored, early.quarantined, early.retracted) == (0, 0, 1), early.reasons
    assert any("CASPLINE has sent no event of that eventID yet" in w for w in early.warnings), early.warnings
    late = _send(loaded_store, [_gate_in("g-1"), _load("l-1")])
    assert (late.stored, late.quarantined) == (1, 0), late.reasons
    assert any("'l-1'" in w and "was retracted by CASPLINE: not stored" in w for w in late.warnings), late.warnings
    tl = _timeline(loaded_store)
    assert _codes(tl) == ["GTIN"] and tl["status"]["state"] == "at_facility"
    assert _v2(loaded_store, admin) == {event_uuid(_logged(loaded_store)["g-1"])}


def test_a_retraction_and_its_event_in_one_batch(loaded_store):
    """Ingestor.ingest_many runs the tracking steps once, after every message: the event the
    batch stored and then retracted is not folded into the status."""
    party(loaded_store, CARRIER, Role.FERRY_OPERATOR)
    _send(loaded_store, [_gate_in("g-1")])
    body = lambda items: json.dumps({"events": items}).encode()   # noqa: E731
    outs = Ingestor(loaded_store).ingest_many([
        Incoming(body([_load("l-1")]), source_party=CARRIER, fmt="dcsa-json"),
        Incoming(body([_retraction("l-1")]), source_party=CARRIER, fmt="dcsa-json")])
    assert [(o.stored, o.retracted) for o in outs] == [(1, 0), (0, 1)]
    tl = _timeline(loaded_store)
    assert _codes(tl) == ["GTIN"] and tl["status"]["state"] == "at_facility"


def test_another_party_cannot_retract_an_event(loaded_store):
    admin = party(loaded_store, "ADM", Role.ADMIN)
    party(loaded_store, CARRIER, Role.FERRY_OPERATOR)
    party(loaded_store, OTHER, Role.TERMINAL)
    _send(loaded_store, [_gate_in("g-1"), _load("l-1")])
    out = _send(loaded_store, [_retraction("l-1")], sender=OTHER)
    assert out.retracted == 1   # kept as PORTAKTAU's own: it withdraws nothing of CASPLINE's
    assert any("PORTAKTAU has sent no event of that eventID yet" in w
               and "withdraws only its own sender's events" in w for w in out.warnings), out.warnings
    tl = _timeline(loaded_store)
    assert _codes(tl) == ["GTIN", "LOAD"] and tl["status"]["state"] == "at_sea"
    seqs = _logged(loaded_store)
    assert _v2(loaded_store, admin) == {event_uuid(seqs["g-1"]), event_uuid(seqs["l-1"])}
    # nor does it keep out the carrier's later events of that eventID
    again = _send(loaded_store, [_load("l-1", "CL102", T0 + timedelta(hours=30))])
    assert again.stored == 1, again.reasons


def test_a_retraction_sent_again_changes_nothing(loaded_store):
    party(loaded_store, CARRIER, Role.FERRY_OPERATOR)
    _send(loaded_store, [_gate_in("g-1"), _load("l-1")])
    first = _send(loaded_store, [_retraction("l-1", T0 + timedelta(hours=6))])
    with loaded_store.read() as conn:
        kept = conn.execute(select(event_retractions)).one()
    same = _send(loaded_store, [_retraction("l-1", T0 + timedelta(hours=6))])        # the same bytes
    other = _send(loaded_store, [_retraction("l-1", T0 + timedelta(hours=7)), _gate_in("g-2", T0)])
    assert [o.retracted for o in (first, same, other)] == [1, 0, 0]
    assert same.message_id == first.message_id and other.message_id != first.message_id
    assert any("received before: nothing more to withdraw" in w for w in same.warnings), same.warnings
    with loaded_store.read() as conn:
        assert conn.execute(select(event_retractions)).one() == kept
    tl = _timeline(loaded_store)
    assert _codes(tl) == ["GTIN"] and tl["status"]["state"] == "at_facility"


def test_a_retraction_without_a_sender_is_held_for_a_replay(loaded_store):
    out = _send(loaded_store, [_retraction("l-1")], sender=None)
    assert (out.retracted, out.quarantined) == (0, 1)
    assert "retraction(s) are held" in out.reasons[0]
    with loaded_store.read() as conn:
        assert conn.execute(select(func.count()).select_from(event_retractions)).scalar_one() == 0


def test_0013_upgrades_and_downgrades(store):
    cfg = alembic_config(store.url)
    command.downgrade(cfg, "0012_raw_message_listing")
    store.engine.dispose()   # pooled connections may hold the old schema
    with store.engine.connect() as conn:
        assert "event_retractions" not in inspect(conn).get_table_names()
        assert "ix_events_event_id" not in {i["name"] for i in inspect(conn).get_indexes("events")}
    command.upgrade(cfg, "0013_event_retractions")
    store.engine.dispose()
    assert store.current_revision() == "0013_event_retractions"
    with store.engine.connect() as conn:
        assert "event_retractions" in inspect(conn).get_table_names()
        assert "ix_events_event_id" in {i["name"] for i in inspect(conn).get_indexes("events")}
    command.upgrade(cfg, "head")
    store.engine.dispose()
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    party(store, CARRIER, Role.FERRY_OPERATOR)   # retractions are kept on the upgraded store
    assert _send(store, [_retraction("l-1")]).retracted == 1
