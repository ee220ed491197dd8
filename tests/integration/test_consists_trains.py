"""A railway reports a box loaded on a wagon of a train, then the train's moves without its
wagons: the train's report moves the box (the wagon is in the train), through CSV as documented
(docs/examples/events.csv) — on both stores."""

from __future__ import annotations

from sqlalchemy import select

from corridor.ingest.service import Ingestor
from corridor.store.tables import events

from tracking_helpers import party
from corridor.domain.parties import Role

HEAD = "event_type,event_code,classifier,event_time,location,equipment,size_type,mode,voyage,vehicle,booking_ref,bl_ref,wagon,train,lat,lon\n"


def _csv(*rows: str) -> bytes:
    return (HEAD + "\n".join(rows) + "\n").encode()


def test_a_train_report_moves_the_boxes_on_its_wagons(loaded_store):
    party(loaded_store, "CRCT", Role.RAILWAY)
    ing = Ingestor(loaded_store)
    out = ing.ingest(_csv("EQUIPMENT,LOAD,ACT,2025-03-02T08:10:00+08:00,CN_XIA,MSKU1234565,45G1,RAIL,,,,,95123451,T777,,",
                          "EQUIPMENT,LOAD,ACT,2025-03-02T08:20:00+08:00,CN_XIA,TGHU7654320,45G1,,,,,,95123469,T777,,"),
                     source_party="CRCT", fmt="csv")
    assert out.stored == 2, out.reasons
    out = ing.ingest(_csv("TRANSPORT,DEPA,ACT,2025-03-02T09:00:00+08:00,CN_XIA,,,RAIL,,,,,,T777,,",
                          "TRANSPORT,ARRI,ACT,2025-03-05T09:00:00+08:00,CN_HRS,,,RAIL,,,,,,T777,,"),
                     source_party="CRCT", fmt="csv")
    assert out.stored == 6, out.reasons      # the train's two moves, and each of them for each box
    with loaded_store.read() as conn:
        moved = conn.execute(select(events.c.equipment, events.c.code).where(
            events.c.equipment.is_not(None), events.c.code.in_(("DEPA", "ARRI")))).all()
    assert sorted(moved) == sorted([("MSKU1234565", "DEPA"), ("MSKU1234565", "ARRI"),
                                    ("TGHU7654320", "DEPA"), ("TGHU7654320", "ARRI")])
    # a box taken off its wagon is not moved by the train's next report
    assert ing.ingest(_csv("EQUIPMENT,DISC,ACT,2025-03-05T12:00:00+08:00,CN_HRS,TGHU7654320,45G1,RAIL,,,,,95123469,"
                           "T777,,"), source_party="CRCT", fmt="csv").stored == 1
    out = ing.ingest(_csv("TRANSPORT,DEPA,ACT,2025-03-05T18:00:00+08:00,CN_HRS,,,RAIL,,,,,,T777,,"),
                     source_party="CRCT", fmt="csv")
    assert out.stored == 2, out.reasons      # the train's move, and the box still on it


def test_an_actual_event_in_the_future_is_refused_in_every_format(loaded_store):
    # CSV (and EDIFACT, positions) had no such check: a LOAD "done" in 2030 was stored as fact
    party(loaded_store, "CRCT", Role.RAILWAY)
    ing = Ingestor(loaded_store)
    out = ing.ingest(_csv("EQUIPMENT,LOAD,ACT,2030-01-01T08:10:00+08:00,CN_XIA,MSKU1234565,45G1,RAIL,,,,,95123451,T9,,",
                          "EQUIPMENT,LOAD,EST,2030-01-01T08:10:00+08:00,CN_XIA,MSKU1234565,45G1,RAIL,,,,,95123451,T9,,"),
                     source_party="CRCT", fmt="csv")
    assert (out.stored, out.quarantined) == (1, 1)
    assert "an actual event cannot be in the future" in out.reasons[0] and "2030-01-01T08:10:00+08:00" in out.reasons[0]
