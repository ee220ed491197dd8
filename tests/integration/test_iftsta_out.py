"""IFTSTA out, round-tripped through the ingest path: what is exported is what comes back."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select

from corridor.access.visibility import viewer_for
from corridor.analytics.iftsta_out import iftsta_for_party
from corridor.domain.parties import Party, Role
from corridor.ingest.edifact import parse_edifact
from corridor.ingest.service import Ingestor
from corridor.store.events import row_to_event, select_events
from corridor.store.tables import events
from corridor.tracking import hooks  # noqa: F401 - the tracking steps run on ingest, as in the API


from test_kpi_data import known_corridor

SHIPPER = Party("SHIPA", "Shipper A", frozenset({Role.SHIPPER}))


def _fields(e):
    tc = e.transport_call
    return (e.kind.value, e.code, e.classifier.value, e.event_time, e.event_time.utcoffset(), e.location,
            e.equipment, tc.voyage if tc else None,
            tuple(r for r in e.references if r[0] == "BKG"), e.dedup_key)


def test_export_parses_back_to_the_same_events(loaded_store):
    known_corridor(loaded_store)
    with loaded_store.read() as conn:
        text, messages, statuses = iftsta_for_party(conn, viewer_for(conn, SHIPPER))
        stored = [row_to_event(r) for r in conn.execute(select_events().where(events.c.equipment.is_not(None)))]
    # the shipper booked boxes 1 and 2: 10 reported events and 2 ETAs (EST DISC) that tracking
    # derived; box 3 is nobody's booking
    assert (messages, statuses) == (2, 12)
    parsed = parse_edifact(text.encode(), source_party="SHIPA")
    assert not parsed.rejections
    mine = [e for e in stored if e.reference("BKG") and e.kind.value != "ALERT"]
    modes = {e.dedup_key: e.transport_call.mode for e in mine if e.transport_call}
    assert all(e.transport_call.mode == modes[e.dedup_key] for e in parsed.events if e.dedup_key in modes)
    assert sorted(map(_fields, parsed.events), key=str) == sorted(map(_fields, mine), key=str)


def test_export_posted_back_collapses_onto_the_stored_events(loaded_store):
    known_corridor(loaded_store)
    with loaded_store.read() as conn:
        before = conn.execute(select(events.c.seq)).all()
        text, _, statuses = iftsta_for_party(conn, viewer_for(conn, SHIPPER),
                                             datetime(2025, 3, 3, tzinfo=timezone.utc))
    out = Ingestor(loaded_store).ingest(text.encode(), source_party="SHIPA", fmt="edifact")
    # since Mar 3: box 1 ARRI/DEPA Khorgos, ARRI/DISC Aktau + its ETA; box 2 ARRI/DEPA Khorgos + its ETA
    assert statuses == 8
    assert (out.stored, out.duplicates, out.quarantined) == (0, 8, 0), out.reasons
    with loaded_store.read() as conn:
        assert len(conn.execute(select(events.c.seq)).all()) == len(before)
