"""An EDIFACT interchange from a sender nobody knows yet: one quarantine entry for the message
(the sender id and how to fix it), and a replay after the alias stores every event — both stores."""

from __future__ import annotations

from sqlalchemy import select

from corridor.domain.parties import Party, Role
from corridor.ingest.service import Ingestor
from corridor.store import events as ev
from corridor.store.parties import add_alias, upsert_party
from corridor.store.tables import quarantine

BOXES = ("MSKU1234565", "TGHU7654320", "CSQU3054383")


def gate_ins(sender: str = "AKXGATE01") -> bytes:
    """Three gate-ins at Aktau in one CODECO, the way a terminal system writes them."""
    groups = "".join(f"EQD+CN+{box}+45G1:102:5++2+5'DTM+7:20260302081{i}:203'LOC+165+KZAAU:139:6'"
                     for i, box in enumerate(BOXES))
    return (f"UNB+UNOC:3+{sender}:ZZZ+CORRIDOR:ZZZ+260302:0815+5501'UNH+1+CODECO:D:95B:UN:ITG14'"
            f"BGM+34+GI0002+9'{groups}CNT+16:3'UNT+13+1'UNZ+1+5501'").encode()


def _open(store) -> list:
    with store.read() as conn:
        return conn.execute(select(quarantine).where(quarantine.c.status == "open")).all()


def test_unknown_sender_is_one_entry_per_message_and_the_replay_stores_every_event(loaded_store):
    with loaded_store.tx() as conn:
        upsert_party(conn, Party("PORTAKTAU", "Aktau Sea Port", frozenset({Role.TERMINAL}), "KZ",
                                 facilities=frozenset({"KZ_AKX"})))
    ing = Ingestor(loaded_store)
    o = ing.ingest(gate_ins(), filename="gate.edi")
    assert (o.stored, o.quarantined) == (0, 1)
    [entry] = _open(loaded_store)
    assert "unknown sender id 'AKXGATE01'" in entry.reason and "3 events are held" in entry.reason
    assert "corridor alias add party AKXGATE01 <PARTY> --replay" in entry.reason
    assert entry.detail["sender"] == "AKXGATE01" and entry.detail["events"] == 3
    assert entry.detail["equipment"] == sorted(BOXES)

    again = ing.replay(o.message_id)              # still unknown: the same entry, one more attempt
    assert (again.stored, again.quarantined) == (0, 1)
    [still] = _open(loaded_store)
    assert still.id == entry.id and still.attempts == 1

    with loaded_store.tx() as conn:
        add_alias(conn, "party", "AKXGATE01", "PORTAKTAU")
    done = ing.replay(o.message_id)
    assert (done.stored, done.quarantined, done.source_party) == (3, 0, "PORTAKTAU")
    assert _open(loaded_store) == []
    with loaded_store.read() as conn:
        stored = [ev.row_to_event(r) for r in conn.execute(ev.select_events()).all()]
    assert sorted(e.equipment for e in stored) == sorted(BOXES) and {e.code for e in stored} == {"GTIN"}


def test_a_bay_plan_from_an_unknown_sender_is_held_not_dropped(loaded_store):
    baplie = ("UNB+UNOC:3+NEWLINE01:ZZZ+CORRIDOR:ZZZ+260302:0815+5502'UNH+1+BAPLIE:D:95B:UN:SMDG20'BGM++BP1+9'"
              "DTM+137:202603020815:203'TDT+20+V12+++:172:20+++UACT:103::AZERBAIJAN'LOC+5+KZAAU:139:6'"
              "DTM+133:202603021200:203'LOC+147+0010082::5'MEA+WT++KGM:22000'LOC+9+KZAAU:139:6'"
              "LOC+11+AZBAK:139:6'EQD+CN+MSKU1234565+45G1+++5'UNT+14+1'UNZ+1+5502'").encode()
    ing = Ingestor(loaded_store)
    o = ing.ingest(baplie, filename="bay.edi")
    assert o.quarantined == 1 and "unknown sender id 'NEWLINE01'" in o.reasons[0] and "1 stowage" in o.reasons[0]
    assert o.stowage == 0
    # once the sender is known its plan is recorded: the outcome says so (a bay plan stores no event)
    with loaded_store.tx() as conn:
        upsert_party(conn, Party("ACTL", "Azerbaijan Caspian Shipping", frozenset({Role.FERRY_OPERATOR}), "AZ"))
        add_alias(conn, "party", "NEWLINE01", "ACTL")
    done = ing.replay(o.message_id)
    assert (done.stored, done.quarantined, done.stowage) == (0, 0, 1), done.reasons
    assert done.as_json()["stowage"] == 1
