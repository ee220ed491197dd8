"""Every stored event links back to the message it came from, as its sender and at its canonical
place, whether the parser stamped it with the message already or the ingest path did."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

from corridor.domain.parties import Party, Role
from corridor.ingest.csvfmt import parse_csv
from corridor.ingest.dcsa import parse_dcsa
from corridor.ingest.service import Ingestor, parse
from corridor.store import events as ev
from corridor.store.parties import set_alias, upsert_party

RECEIVED = datetime(2026, 3, 5, tzinfo=timezone.utc)


def _event(when: str, code: str, place: str, box: str = "MSKU1234565") -> dict:
    return {"eventID": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{box}/{code}/{when}")), "eventType": "EQUIPMENT",
            "eventClassifierCode": "ACT", "eventDateTime": when, "eventCreatedDateTime": when,
            "equipmentEventTypeCode": code, "equipmentReference": box, "emptyIndicatorCode": "LADEN",
            "eventLocation": {"UNLocationCode": place}}


def _repaired(when: str, code: str, place: str) -> dict:
    """An event in a carrier's spelling (unLocationCode): the models read it, not the fast path."""
    e = _event(when, code, place)
    e["eventLocation"] = {"unLocationCode": place}
    return e


def _stored(store) -> list:
    with store.read() as conn:
        return [ev.row_to_event(r) for r in conn.execute(ev.select_events()).all()]


def test_the_parsers_stamp_the_message_they_are_given():
    content = json.dumps([_event("2026-03-02T08:10:00+05:00", "GTIN", "KZAAU")]).encode()
    (stamped,) = parse_dcsa(content, source_party="PORTAKTAU", received_at=RECEIVED, message_id="m-1").events
    (plain,) = parse_dcsa(content, source_party="PORTAKTAU", received_at=RECEIVED).events
    assert stamped.message_id == "m-1" and plain.message_id is None
    csv = b"event_type,event_code,classifier,event_time,location,equipment\n" \
          b"EQUIPMENT,GTIN,ACT,2026-03-02T08:10:00+05:00,KZAAU,MSKU1234565\n"
    assert [e.message_id for e in parse_csv(csv, source_party="KTZ", message_id="m-2").events] == ["m-2"]


def test_every_stored_event_links_to_its_message_as_its_sender_at_its_place(loaded_store):
    with loaded_store.tx() as conn:
        upsert_party(conn, Party("PORTAKTAU", "Aktau Sea Port", frozenset({Role.TERMINAL}), "KZ"))
        set_alias(conn, "location", "KZXXX", "KZ_AKX")   # a sender's own code for Aktau
    ing = Ingestor(loaded_store)
    content = json.dumps([_event("2026-03-02T08:10:00+05:00", "GTIN", "KZAAU"),
                          _event("2026-03-02T09:10:00+05:00", "LOAD", "KZXXX"),        # re-mapped place
                          _repaired("2026-03-02T10:10:00+05:00", "DISC", "KZAAU")]).encode()
    o = ing.ingest(content, source_party="PORTAKTAU", fmt="dcsa-json", received_at=RECEIVED)
    assert (o.stored, o.quarantined) == (3, 0)
    # parsed elsewhere without the message's id (as the parsing pool does): linked all the same
    more = json.dumps([_event("2026-03-03T08:10:00+05:00", "GTOT", "KZXXX")]).encode()
    parsed = parse(more, "dcsa-json", "PORTAKTAU", RECEIVED)
    p = ing.ingest(more, source_party="PORTAKTAU", fmt="dcsa-json", received_at=RECEIVED, parsed=parsed)
    assert p.stored == 1
    stored = _stored(loaded_store)
    assert [(e.code, e.message_id, e.source_party, e.location) for e in stored] == [
        ("GTIN", o.message_id, "PORTAKTAU", "KZAAU"), ("LOAD", o.message_id, "PORTAKTAU", "KZAAU"),
        ("DISC", o.message_id, "PORTAKTAU", "KZAAU"), ("GTOT", p.message_id, "PORTAKTAU", "KZAAU")]
    assert o.message_id != p.message_id
