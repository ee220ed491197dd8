"""Reported transport calls land on the timetable departure they mean, at ingest — on both stores.

A DCSA transportCallID that is a departure id names it (Corridor's own export sends it so); else
a voyage or train number at a place names the one departure of that voyage leaving (LOAD, DEPA)
or reaching (ARRI, DISC) the place near the event's time. Never a guess between two; never a
change of the event's keys.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from corridor.domain.equipment import with_check_digit
from corridor.domain.events import event_keys
from corridor.domain.parties import Role
from corridor.domain.timetable import Departure
from corridor.ingest.dcsa import parse_dcsa
from corridor.ingest.service import Ingestor
from corridor.store import network as netstore
from corridor.store.tables import departures, events, trip_status

from tracking_helpers import app_for, party

SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "standards" / "dcsa-tnt" / "TNT_v2.2.0-resolved.yaml"
BOX, OTHER = "MSCU1234566", "TGHU1234567"
THIRD, FOURTH, FIFTH = (with_check_digit(f"{o}U{n}") for o, n in (("CAI", 555000), ("FSC", 888777), ("TGH", 765432)))


def _sailing(store, origin: str = "KZ_AKX") -> Departure:
    """A past ferry sailing from `origin` whose voyage number no other departure there runs."""
    now = datetime.now(timezone.utc)
    with store.read() as conn:
        rows = conn.execute(select(departures).where(
            departures.c.origin == origin, departures.c.mode == "ferry", departures.c.voyage != "",
            departures.c.status != "cancelled",   # a storm's: no sailing to book or to hear of
            departures.c.departs_at > now - timedelta(days=25), departures.c.departs_at < now - timedelta(days=8))
            .order_by(departures.c.departs_at)).all()
        for r in rows:
            same = conn.execute(select(func.count()).select_from(departures).where(
                departures.c.voyage == r.voyage)).scalar_one()
            if same == 1:
                return netstore.row_to_departure(r)
    pytest.fail(f"no past ferry sailing from {origin} with a voyage of its own in the timetable")


def _status(store, box: str = BOX):
    with store.read() as conn:
        return conn.execute(select(trip_status).where(trip_status.c.equipment == box)).one()


def _stored(store, box: str = BOX) -> list:
    with store.read() as conn:
        return conn.execute(select(events).where(events.c.equipment == box).order_by(events.c.seq)).all()


def _iso(t: datetime) -> str:
    return t.astimezone(timezone(timedelta(hours=5))).isoformat()


def _csv(*rows: tuple[str, datetime, str, str, str]) -> bytes:
    """Corridor's CSV header: (code, time, place, box, voyage) per row, all on a vessel."""
    head = "event_type,event_code,classifier,event_time,location,equipment,size_type,mode,voyage,booking_ref\n"
    return (head + "".join(f"EQUIPMENT,{code},ACT,{_iso(t)},{place},{box},45G1,VESSEL,{voyage},BKG-{box}\n"
                           for code, t, place, box, voyage in rows)).encode()


def _dcsa_load(when: datetime, call: dict, box: str = BOX) -> dict:
    return {"eventID": str(uuid.uuid4()), "eventType": "EQUIPMENT", "eventClassifierCode": "ACT",
            "eventDateTime": _iso(when), "eventCreatedDateTime": _iso(when), "equipmentEventTypeCode": "LOAD",
            "equipmentReference": box, "emptyIndicatorCode": "LADEN",
            "eventLocation": {"UNLocationCode": call["UNLocationCode"]}, "transportCall": call}


def test_a_transport_call_id_that_is_a_departure_names_it(loaded_store):
    dep = _sailing(loaded_store)
    load = _dcsa_load(dep.departs_at - timedelta(hours=3), {
        "transportCallID": dep.id, "UNLocationCode": "KZAAU", "modeOfTransport": "VESSEL"})
    body = json.dumps([load]).encode()
    ing = Ingestor(loaded_store)
    first = ing.ingest(body, source_party="PORTAKTAU", fmt="dcsa-json")
    assert (first.stored, first.quarantined) == (1, 0), first.reasons
    [row] = _stored(loaded_store)
    st = _status(loaded_store)
    assert row.departure_id == dep.id and row.voyage is None
    assert (st.state, st.departure_id) == ("at_sea", dep.id)
    # the keys are those of the event as sent: what was stored before the mapping existed still matches
    sent = parse_dcsa(body, source_party="PORTAKTAU", received_at=datetime.now(timezone.utc)).events[0]
    assert sent.transport_call.departure_id is None
    assert (row.milestone_key, row.dedup_key) == event_keys(sent)
    # re-sent under a new eventID: one event, counted as a duplicate
    again = ing.ingest(json.dumps([{**load, "eventID": str(uuid.uuid4())}]).encode(),
                       source_party="PORTAKTAU", fmt="dcsa-json")
    assert (again.stored, again.duplicates) == (0, 1)
    assert len(_stored(loaded_store)) == 1
    # DCSA 3.0 names the call transportCallReference
    load_30 = {"eventID": "l30", "eventDateTime": _iso(dep.departs_at - timedelta(hours=2)),
               "eventClassification": {"eventTypeCode": "EQUIPMENT", "eventClassifierCode": "ACT",
                                       "equipmentEventTypeCode": "LOAD"},
               "eventLocation": {"UNLocationCode": "KZAAU"},
               "equipmentDetails": {"equipmentReference": OTHER, "emptyIndicatorCode": "LADEN"},
               "transportDetails": {"transportCall": {"transportCallReference": dep.id, "modeOfTransport": "VESSEL"}}}
    out = ing.ingest(json.dumps({"events": [load_30]}).encode(), source_party="PORTAKTAU", fmt="dcsa-json")
    assert out.stored == 1, out.reasons
    assert _status(loaded_store, OTHER).departure_id == dep.id


def test_a_load_on_a_voyage_at_its_port_lands_on_that_sailing(loaded_store):
    dep = _sailing(loaded_store)
    # the port loads the box on the voyage; the other port discharges it at the far end
    csv = _csv(("LOAD", dep.departs_at - timedelta(hours=20), "KZAAU", BOX, dep.voyage))
    ing = Ingestor(loaded_store)
    out = ing.ingest(csv, source_party="PORTAKTAU", fmt="csv")
    assert (out.stored, out.quarantined) == (1, 0), out.reasons
    st = _status(loaded_store)
    assert (st.state, st.vehicle, st.departure_id) == ("at_sea", dep.voyage, dep.id)
    disc = ing.ingest(_csv(("DISC", dep.arrives_at + timedelta(hours=6), "AZALA", BOX, dep.voyage)),
                      source_party="PORTBAKU", fmt="csv")
    assert disc.stored == 1, disc.reasons
    assert [r.departure_id for r in _stored(loaded_store)] == [dep.id, dep.id]
    # the voyage's own keys, as before: a re-sent message collapses onto the stored event
    again = ing.ingest(csv, source_party="PORTAKTAU", fmt="csv")
    assert (again.stored, again.duplicates) == (0, 1)


def test_an_edifact_loading_report_names_the_sailing(loaded_store):
    dep = _sailing(loaded_store)
    t = (dep.departs_at - timedelta(hours=5)).astimezone(timezone(timedelta(hours=5)))
    coarri = ("UNA:+.? 'UNB+UNOC:3+AKTAUPORT:ZZZ+CORRIDOR:ZZZ+260302:0810+C1'UNH+1+COARRI:D:95B:UN:ITG13'"
              f"BGM+46+L1+9'TDT+20+{dep.voyage}+1++ASC:172:20+++:103::{dep.vehicle[:35]}'LOC+9+KZAAU:139:6'"
              f"EQD+CN+{BOX}+45G1:102:5++5'RFF+BN:B1'DTM+203:{t:%Y%m%d%H%M}+0500:303'"
              f"EQD+CN+{OTHER}+22G1:102:5++5'RFF+BN:B2'DTM+203:{t:%Y%m%d%H%M}+0500:303'"
              "UNT+10+1'UNZ+1+C1'").encode()
    out = Ingestor(loaded_store).ingest(coarri, source_party="PORTAKTAU", fmt="edifact")
    assert (out.stored, out.quarantined) == (2, 0), out.reasons
    assert {_status(loaded_store, b).departure_id for b in (BOX, OTHER)} == {dep.id}


def test_an_unknown_or_ambiguous_voyage_names_no_departure(loaded_store):
    dep = _sailing(loaded_store)
    at = dep.departs_at - timedelta(hours=4)
    # a second sailing of the same voyage number from the same port, ten hours later, by another line
    twin = replace(dep, id=dep.id + "-X", operator="OTHERLINE", departs_at=dep.departs_at + timedelta(hours=10),
                   arrives_at=dep.arrives_at + timedelta(hours=10))
    with loaded_store.tx() as conn:
        netstore.save_departures(conn, [twin])
    party(loaded_store, dep.operator, Role.FERRY_OPERATOR)
    ing = Ingestor(loaded_store)
    out = ing.ingest(_csv(("LOAD", at, "KZAAU", BOX, dep.voyage),             # two sailings: which?
                          ("LOAD", at, "KZAAU", OTHER, "NOSUCH26001E"),        # not in the timetable
                          ("LOAD", at, "AZALA", THIRD, dep.voyage),    # the voyage only arrives there
                          ("LOAD", at - timedelta(days=5), "KZAAU", FOURTH, dep.voyage)),  # days away
                     source_party="PORTAKTAU", fmt="csv")
    assert (out.stored, out.quarantined) == (4, 0), out.reasons
    with loaded_store.read() as conn:
        assert conn.execute(select(func.count()).select_from(events).where(
            events.c.departure_id.is_not(None))).scalar_one() == 0
    assert _status(loaded_store).departure_id is None
    # the same report from the line that runs one of the two: its own sailing
    mine = ing.ingest(_csv(("LOAD", at, "KZAAU", FIFTH, dep.voyage)), source_party=dep.operator, fmt="csv")
    assert mine.stored == 1, mine.reasons
    assert _status(loaded_store, FIFTH).departure_id == dep.id


def test_the_dcsa_export_carries_the_departure_back(loaded_store):
    jsonschema = pytest.importorskip("jsonschema")
    dep = _sailing(loaded_store)
    admin = party(loaded_store, "ADM", Role.ADMIN)
    ing = Ingestor(loaded_store)
    ing.ingest(_csv(("LOAD", dep.departs_at - timedelta(hours=20), "KZAAU", BOX, dep.voyage)),
               source_party="PORTAKTAU", fmt="csv")
    c = app_for(loaded_store)
    body = c.get(f"/v2/events?equipmentReference={BOX}", headers={"Authorization": f"Bearer {admin}"}).json()
    [load] = body
    assert load["transportCall"]["transportCallID"] == dep.id
    assert load["transportCall"]["exportVoyageNumber"] == dep.voyage
    if SPEC.exists():
        spec = yaml.safe_load(SPEC.read_text())
        schema = spec["paths"]["/v2/events"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        jsonschema.validate(body, {**schema, "components": spec["components"]})
    # posted back as it is: the same event, a duplicate
    back = ing.ingest(json.dumps(body).encode(), source_party="PORTAKTAU", fmt="dcsa-json")
    assert (back.stored, back.duplicates) == (0, 1), back.reasons
    # without the voyage number only the transportCallID can name the sailing, and it does
    call = {k: v for k, v in load["transportCall"].items() if k != "exportVoyageNumber"}
    bare = ing.ingest(json.dumps([{**load, "eventID": str(uuid.uuid4()), "transportCall": call}]).encode(),
                      source_party="PORTAKTAU", fmt="dcsa-json")
    assert bare.stored == 1, bare.reasons
    newest = _stored(loaded_store)[-1]
    assert (newest.voyage, newest.departure_id) == (None, dep.id)


def _vessel_move(code: str, when: datetime, place: str, dep: Departure) -> bytes:
    """A ferry line's DCSA 2.2 transport event quoting the sailing (its departure id and voyage)."""
    return json.dumps([{
        "eventID": str(uuid.uuid4()), "eventType": "TRANSPORT", "eventClassifierCode": "ACT",
        "eventDateTime": _iso(when), "eventCreatedDateTime": _iso(when), "transportEventTypeCode": code,
        "transportCall": {"transportCallID": dep.id, "carrierVoyageNumber": dep.voyage, "UNLocationCode": place,
                          "facilityTypeCode": "POTE", "modeOfTransport": "VESSEL"}}]).encode()


def test_a_ferry_heard_sailing_days_before_its_slot_is_laid_from_when_it_sailed(loaded_store):
    # Caspian ferries sail when loaded: the line quotes the slot its voyage runs as, days ahead
    from corridor.booking.containers import parse_containers
    from corridor.booking.service import BookingService
    party(loaded_store, "ACME", Role.SHIPPER)
    dep = _sailing(loaded_store)
    rec = BookingService(loaded_store).book("ACME", "KZAAU", "AZALA", dep.departs_at - timedelta(days=5),
                                            parse_containers("1x40"), [dep.id], with_alternatives=False)
    crossing, sailed = dep.arrives_at - dep.departs_at, dep.departs_at - timedelta(days=3)
    ing = Ingestor(loaded_store)
    head = "event_type,event_code,classifier,event_time,location,equipment,size_type,mode,voyage,booking_ref\n"
    load = ing.ingest((head + f"EQUIPMENT,LOAD,ACT,{_iso(sailed - timedelta(hours=2))},KZAAU,{BOX},45G1,VESSEL,"
                              f"{dep.voyage},{rec.ref}\n").encode(), source_party="PORTAKTAU", fmt="csv")
    assert load.stored == 1, load.reasons
    st = _status(loaded_store)
    # put aboard (too early to name the sailing) and nothing since: it leaves no earlier than its slot
    assert st.state == "at_sea" and st.eta > dep.arrives_at - timedelta(hours=12), (st.eta, dep.arrives_at)
    out = ing.ingest(_vessel_move("DEPA", sailed, "KZAAU", dep), source_party="PORTAKTAU", fmt="dcsa-json")
    assert out.stored == 2, out.reasons   # the vessel's move, and the box's aboard it
    st = _status(loaded_store)
    assert st.departure_id == dep.id
    # heard sailing three days early: it arrives about a crossing after that, not at the slot's arrival
    assert sailed + crossing <= st.eta < dep.arrives_at - timedelta(days=2), (st.eta, dep.arrives_at)
    out = ing.ingest(_vessel_move("ARRI", sailed + crossing, "AZALA", dep), source_party="PORTAKTAU",
                     fmt="dcsa-json")
    assert out.stored == 2, out.reasons
    st = _status(loaded_store)
    assert st.location == "AZALA" and sailed + crossing <= st.eta < dep.arrives_at - timedelta(days=2), st.eta
