"""The batched ingest steps keep the one-by-one meaning: consists, sender write-back, plan identity."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from corridor.domain.events import Classifier, Event, EventKind, TransportCall, event_keys
from corridor.domain.parties import Party, Role
from corridor.ingest.service import Ingestor
from corridor.store import ingest as repo
from corridor.store.parties import set_alias, upsert_party
from corridor.store.tables import consists, raw_messages

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)


def _consists(conn) -> list[tuple]:
    return [tuple(r) for r in conn.execute(select(
        consists.c.carrier_kind, consists.c.carrier_id, consists.c.member_id, consists.c.since,
        consists.c.until).order_by(consists.c.carrier_kind, consists.c.carrier_id, consists.c.member_id,
                                   consists.c.since)).all()]


def test_couple_many_equals_couple_and_uncouple_one_by_one(store):
    ops = [("couple", "wagon", "W1", "container", "MSKU1234565", T0, "KTZ"),
           ("couple", "wagon", "W1", "container", "TGHU7654320", T0, "KTZ"),
           ("couple", "wagon", "W2", "container", "MSKU1234565", T0 + timedelta(hours=1), "KTZ"),  # moves
           ("couple", "wagon", "W2", "container", "MSKU1234565", T0 + timedelta(hours=2), "KTZ"),  # already on
           ("uncouple", "wagon", "W1", "TGHU7654320", T0 + timedelta(hours=3)),
           ("couple", "vessel", "V1", "container", "TGHU7654320", T0 + timedelta(hours=4), "PORT"),
           ("uncouple", "vessel", "V9", "TGHU7654320", T0 + timedelta(hours=5))]                # not on it
    with store.tx() as conn:
        repo.couple(conn, "wagon", "W0", "container", "TGHU7654320", T0 - timedelta(days=1), "KTZ")
        repo.couple_many(conn, ops)
        batched = _consists(conn)
        conn.execute(consists.delete())
        repo.couple(conn, "wagon", "W0", "container", "TGHU7654320", T0 - timedelta(days=1), "KTZ")
        for op in ops:
            (repo.couple if op[0] == "couple" else repo.uncouple)(conn, *op[1:])
        assert batched == _consists(conn)
        # and a train's containers are found through its wagons, as the one-by-one look-up finds them
        repo.couple(conn, "train", "T1", "wagon", "W2", T0, "KTZ")
        at = T0 + timedelta(hours=2)
        book = repo.Consists(conn, {("train", "T1")}, at, at)
        assert book.containers_on("train", "T1", at) == repo.containers_on(conn, "train", "T1", at) == ["MSKU1234565"]


def test_edifact_sender_resolved_from_unb_is_kept_on_the_raw_message(loaded_store):
    with loaded_store.tx() as conn:
        upsert_party(conn, Party("AKTAU", "Aktau port", frozenset({Role.TERMINAL}), edi_ids=("AKTAUPORT",)))
        set_alias(conn, "location", "KZAAU", "KZ_AKX")
    msg = ("UNA:+.? 'UNB+UNOC:3+AKTAUPORT:ZZZ+CORRIDOR:ZZZ+260302:0810+7'UNH+1+CODECO:D:95B:UN:ITG14'"
           "BGM+34+GI0001+9'EQD+CN+MSKU1234565+45G1:102:5++2+5'DTM+7:202603020810+0500:303'"
           "LOC+165+KZAAU:139:6'CNT+16:1'UNT+7+1'UNZ+1+7'").encode()
    out = Ingestor(loaded_store).ingest(msg, fmt="edifact")
    assert out.source_party == "AKTAU" and out.stored == 1, out.reasons
    with loaded_store.read() as conn:
        assert conn.execute(select(raw_messages.c.source_party)).scalar_one() == "AKTAU"


def test_two_bookings_planned_on_one_train_keep_two_plans():
    call = TransportCall(mode="RAIL", location="KZAAU", voyage="T-1001", departure_id="D1")
    plan = [Event(kind=EventKind.TRANSPORT, code="DEPA", classifier=c, event_time=T0, location="KZAAU",
                  transport_call=call, references=(("BKG", ref),)) for c in (Classifier.PLN,)
            for ref in ("BK1", "BK2")]
    assert event_keys(plan[0])[0] != event_keys(plan[1])[0]
    # an actual departure is the train's, whoever booked on it: one milestone
    act = [Event(kind=EventKind.TRANSPORT, code="DEPA", classifier=Classifier.ACT, event_time=T0,
                 location="KZAAU", transport_call=call, references=(("BKG", ref),)) for ref in ("BK1", "BK2")]
    assert event_keys(act[0]) == event_keys(act[1])
