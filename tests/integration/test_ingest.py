"""The one ingest path on both stores: raw kept, exactly-once, quarantine with reasons, replay."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import func, select

from corridor.domain.parties import Party, Role
from corridor.ingest.service import Ingestor
from corridor.store import events as ev
from corridor.store import ingest as repo
from corridor.store.parties import set_alias, upsert_party
from corridor.store.tables import quarantine, raw_messages

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def gate_in(sender: str = "AKTAUPORT", place: str = "KZXXX", box: str = "MSKU1234565",
            when: str = "202603020810", ref: str = "100001") -> bytes:
    """A CODECO gate-in report, the way a terminal system writes it."""
    return (f"UNA:+.? 'UNB+UNOC:3+{sender}:ZZZ+CORRIDOR:ZZZ+260302:0810+{ref}'"
            "UNH+1+CODECO:D:95B:UN:ITG14'BGM+34+GI0001+9'NAD+MS+AKTAU'"
            f"EQD+CN+{box}+45G1:102:5++2+5'DTM+7:{when}:203'LOC+165+{place}:139:6'"
            f"CNT+16:1'UNT+8+1'UNZ+1+{ref}'").encode()


def dcsa_event(when: str, classifier: str = "ACT", code: str = "GTIN", place: str = "KZAAU",
               box: str = "MSKU1234565", event_id: str | None = None) -> dict:
    eid = event_id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"{box}/{code}/{classifier}/{when}"))
    return {"eventID": eid, "eventType": "EQUIPMENT",
            "eventClassifierCode": classifier, "eventDateTime": when, "eventCreatedDateTime": when,
            "equipmentEventTypeCode": code, "equipmentReference": box, "emptyIndicatorCode": "LADEN",
            "eventLocation": {"UNLocationCode": place}}


def _port(store) -> None:
    with store.tx() as conn:
        upsert_party(conn, Party("PORTAKTAU", "Aktau Sea Port", frozenset({Role.TERMINAL}), "KZ",
                                 facilities=frozenset({"KZ_AKX"})))


def _counts(store) -> tuple[int, int, int]:
    with store.read() as conn:
        return (ev.count(conn), conn.execute(select(func.count()).select_from(raw_messages)).scalar_one(),
                conn.execute(select(func.count()).select_from(quarantine).where(quarantine.c.status == "open"))
                .scalar_one())


def test_resending_a_file_never_duplicates(loaded_store):
    ing = Ingestor(loaded_store)
    csv = (FIXTURES / "csv" / "corridor_default.csv").read_bytes()
    first = ing.ingest(csv, source_party="KTZ", filename="a.csv", fmt="csv")
    assert first.stored > 0 and first.quarantined > 0      # the fixture has good and bad rows
    events, raws, held = _counts(loaded_store)
    again = ing.ingest(csv, source_party="KTZ", filename="a.csv", fmt="csv")
    assert again.stored == 0 and again.duplicates == first.stored
    assert again.quarantined == first.quarantined
    assert _counts(loaded_store) == (events, raws, held)   # no new event, raw message or quarantine row
    with loaded_store.read() as conn:
        raw = repo.get_raw(conn, first.message_id)
        rows = conn.execute(ev.select_events()).all()
    assert raw.status == "partial" and bytes(raw.content) == csv and raw.source_party == "KTZ"
    assert {r.message_id for r in rows} == {first.message_id}   # every event links back to its message


def test_resending_an_event_inside_another_message_never_duplicates(loaded_store):
    ing = Ingestor(loaded_store)
    e = dcsa_event("2026-03-02T08:10:00+05:00")
    a = ing.ingest(json.dumps([e]).encode(), source_party="PORTAKTAU", fmt="dcsa-json")
    # the same event re-sent with a new eventID, next to a new one: only the new one is stored
    b = ing.ingest(json.dumps([{**e, "eventID": str(uuid.uuid4())}, dcsa_event("2026-03-03T09:00:00+05:00", code="GTOT")]
                              ).encode(), source_party="PORTAKTAU", fmt="dcsa-json")
    assert (a.stored, b.stored, b.duplicates) == (1, 1, 1)
    assert a.message_id != b.message_id and _counts(loaded_store)[:2] == (2, 2)


def test_out_of_order_estimates_are_all_kept(loaded_store):
    ing = Ingestor(loaded_store)
    later = dcsa_event("2026-03-05T18:00:00+04:00", classifier="EST", code="DISC", place="AZALA")
    earlier = dcsa_event("2026-03-05T11:00:00+04:00", classifier="EST", code="DISC", place="AZALA")
    actual = dcsa_event("2026-03-02T08:10:00+05:00")
    for e in (later, actual, earlier):      # the newer estimate arrives first
        assert ing.ingest(json.dumps([e]).encode(), source_party="ASCO", fmt="dcsa-json").stored == 1
    with loaded_store.read() as conn:
        rows = [ev.row_to_event(r) for r in conn.execute(ev.select_events()).all()]
    ests = [e for e in rows if e.classifier.value == "EST"]
    assert len(ests) == 2 and ests[0].milestone_key == ests[1].milestone_key
    assert len({e.trip_id for e in rows}) == 1   # one trip, whatever the arrival order


def test_unknown_sender_and_location_are_held_until_aliases_and_replay(loaded_store):
    _port(loaded_store)
    ing = Ingestor(loaded_store)
    msg = gate_in()
    o = ing.ingest(msg, filename="gate.edi")
    assert o.format == "edifact" and o.stored == 0 and o.quarantined == 1
    assert "unknown sender id 'AKTAUPORT'" in o.reasons[0]

    with loaded_store.tx() as conn:
        set_alias(conn, "party", "AKTAUPORT", "PORTAKTAU")
    o = ing.replay(o.message_id)
    assert o.stored == 0 and o.source_party == "PORTAKTAU"
    assert o.quarantined == 1 and "unknown location code 'KZXXX'" in o.reasons[0]
    with loaded_store.read() as conn:
        statuses = sorted(r.status for r in conn.execute(select(quarantine)).all())
    assert statuses == ["open", "resolved"]         # the sender entry closed, the location one opened

    with loaded_store.tx() as conn:
        set_alias(conn, "location", "KZXXX", "KZ_AKX")
    o = ing.replay(o.message_id)
    assert (o.stored, o.quarantined) == (1, 0)
    with loaded_store.read() as conn:
        (row,) = conn.execute(ev.select_events()).all()
        assert repo.get_raw(conn, o.message_id).status == "processed"
    stored = ev.row_to_event(row)
    assert stored.location == "KZAAU" and stored.source_party == "PORTAKTAU" and stored.code == "GTIN"
    # Aktau keeps UTC+5: the local time without offset is read in the port's zone once it is known
    assert stored.event_time.utcoffset() == timedelta(hours=5)

    again = ing.replay(o.message_id)
    assert (again.stored, again.duplicates, again.quarantined) == (0, 1, 0)
    assert _counts(loaded_store) == (1, 1, 0)


def test_unparseable_input_is_quarantined_with_the_reason(store):
    o = Ingestor(store).ingest(b"UNH+1+CODECO:D:95B:UN'BGM+34+X+9'UNT+2+9'", source_party="X", fmt="edifact")
    assert o.stored == 0 and o.quarantined >= 1 and all(o.reasons)
    with store.read() as conn:
        (q,) = repo.quarantine_list(conn)
    assert q.reason == o.reasons[0] and q.message_id == o.message_id and q.status == "open"


def test_dry_run_stores_nothing(loaded_store):
    csv = (FIXTURES / "csv" / "corridor_default.csv").read_bytes()
    o = Ingestor(loaded_store).ingest(csv, source_party="KTZ", fmt="csv", dry_run=True)
    assert o.dry_run and o.stored > 0 and len(o.preview) == o.stored
    assert {"code", "event_time", "location", "equipment"} <= set(o.preview[0])
    assert _counts(loaded_store) == (0, 0, 0)


def test_operators_may_post_only_for_their_facilities(loaded_store):
    from corridor.access.visibility import can_post_event, viewer_for
    _port(loaded_store)
    with loaded_store.read() as conn:
        from corridor.store.parties import get_party
        viewer = viewer_for(conn, get_party(conn, "PORTAKTAU"))
    payload = json.dumps([dcsa_event("2026-03-02T08:10:00+05:00"),
                          dcsa_event("2026-03-06T08:10:00+04:00", place="AZALA", code="GTOT")]).encode()
    o = Ingestor(loaded_store).ingest(payload, source_party="PORTAKTAU", fmt="dcsa-json",
                                      allowed=lambda e: can_post_event(viewer, e))
    assert (o.stored, o.quarantined) == (1, 1)
    assert "only for its own facilities" in o.reasons[0] and "AZALA" in o.reasons[0]


def test_events_keep_their_received_time_and_offset(store):
    t = datetime(2026, 3, 2, 3, 0, tzinfo=timezone.utc)
    o = Ingestor(store).ingest(json.dumps([dcsa_event("2026-03-02T08:10:00+05:00", place="KZAAU")]).encode(),
                               source_party="PORTAKTAU", fmt="dcsa-json", received_at=t)
    # no network loaded: the location is unknown, so it is held, with the raw message kept
    assert o.quarantined == 1
    with store.read() as conn:
        assert repo.get_raw(conn, o.message_id).received_at == t


def _vessel_arrival(voyage: str) -> dict:
    """A ferry line's DCSA 2.2 arrival of `voyage` at Alat."""
    return {"eventID": str(uuid.uuid4()), "eventType": "TRANSPORT", "eventClassifierCode": "ACT",
            "eventDateTime": "2026-03-04T10:00:00+04:00", "eventCreatedDateTime": "2026-03-04T10:00:00+04:00",
            "transportEventTypeCode": "ARRI",
            "transportCall": {"transportCallID": f"{voyage}-AZALA", "carrierVoyageNumber": voyage,
                              "UNLocationCode": "AZALA", "modeOfTransport": "VESSEL"}}


def test_a_ferry_line_posts_its_own_sailings_without_listing_services(loaded_store):
    """The operator of a timetable departure may post its transport events anywhere it calls;
    another line's voyage at a port it does not run is refused."""
    from corridor.access.visibility import posting_rights
    from corridor.store.parties import get_party
    from corridor.store.tables import departures
    with loaded_store.read() as conn:
        mine = conn.execute(select(departures.c.operator, departures.c.voyage, departures.c.destination)
                            .where(departures.c.voyage.is_not(None), departures.c.destination == "AZ_ALA")
                            .limit(1)).first()
        other = conn.execute(select(departures.c.voyage).where(
            departures.c.voyage.is_not(None), departures.c.operator != mine.operator)).first()
    assert mine is not None and other is not None
    with loaded_store.tx() as conn:
        upsert_party(conn, Party("LINE", "A ferry line", frozenset({Role.FERRY_OPERATOR}), "AZ"))
        conn.execute(departures.update().where(departures.c.operator == mine.operator).values(operator="LINE"))
    with loaded_store.read() as conn:
        allowed = posting_rights(conn, get_party(conn, "LINE"))

    o = Ingestor(loaded_store).ingest(json.dumps([_vessel_arrival(mine.voyage), _vessel_arrival(other.voyage)]).encode(),
                                      source_party="LINE", fmt="dcsa-json", allowed=allowed)
    assert (o.stored, o.quarantined) == (1, 1)
    assert "only for its own facilities and services" in o.reasons[0]


def test_kept_posting_rights_take_a_sailing_added_after_them(loaded_store):
    """The NATS workers and the MQTT consumer keep a sender's posting rights while no party
    changes; a sailing its timetable adds afterwards (IFTSAI, `corridor timetable`) counts from
    its first report, while another line's voyage stays refused."""
    from dataclasses import replace as dc_replace

    from corridor.access.visibility import posting_rights
    from corridor.store.network import get_departure, save_departures
    from corridor.store.parties import get_party
    from corridor.store.tables import departures
    with loaded_store.read() as conn:
        line = conn.execute(select(departures.c.id, departures.c.operator).where(
            departures.c.voyage != "", departures.c.destination == "AZ_ALA").limit(1)).first()
        other = conn.execute(select(departures.c.voyage).where(
            departures.c.voyage != "", departures.c.operator != line.operator)).first()
        template = get_departure(conn, line.id)[0]
    with loaded_store.tx() as conn:
        upsert_party(conn, Party("LINE2", "A ferry line", frozenset({Role.FERRY_OPERATOR}), "AZ"))
        conn.execute(departures.update().where(departures.c.operator == line.operator).values(operator="LINE2"))
    with loaded_store.read() as conn:
        allowed = posting_rights(conn, get_party(conn, "LINE2"))   # kept from here on
    added = dc_replace(template, id=template.id + "-X", voyage="NEWVOY77", operator="LINE2")
    with loaded_store.tx() as conn:
        save_departures(conn, [added])

    o = Ingestor(loaded_store).ingest(json.dumps([_vessel_arrival("NEWVOY77"), _vessel_arrival(other.voyage)]).encode(),
                                      source_party="LINE2", fmt="dcsa-json", allowed=allowed)
    assert (o.stored, o.quarantined) == (1, 1), o.reasons
    assert other.voyage in o.reasons[0] or "only for its own facilities and services" in o.reasons[0]
