"""The messages received, listed and shown: `corridor messages list | show` and GET /api/v1/messages.

Every raw message is kept with its sender, received time and outcome; an operator asks "what did
KTZ send today, and what became of it" without knowing a message id first, and a party lists what
it sent itself (never another party's) — on both stores.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

# world: the receipts tests' fixture (an ingest API over the store with KTZ and PORTBAKU, the CLI on it)
from test_quarantine_receipts import cli, gate_log, runner, world  # noqa: F401


def post(world, who: str, body: bytes, name: str) -> dict:
    r = world.post(f"/api/v1/messages?format=csv&filename={name}", content=body, headers=world.keys[who])
    assert r.status_code == 200, r.text
    return r.json()


def run(*args: str, code: int = 0) -> dict:
    r = runner.invoke(cli, [*args, "--json"])
    assert r.exit_code == code, r.output
    return json.loads(r.stdout)


def test_messages_are_listed_newest_first_by_sender_and_status_and_shown_whole(world):
    ok = post(world, "PORTBAKU", gate_log(("MSKU1234565", "AZALA", "2025-03-02T08:10:00+04:00")), "alat-1.csv")
    # KTZ may not report at Alat: its event is held back (the message is quarantined)
    held = post(world, "KTZ", gate_log(("TGHU7654320", "AZALA", "2025-03-02T09:10:00+04:00")), "ktz-1.csv")
    later = post(world, "PORTBAKU", gate_log(("MSKU1234565", "AZALA", "2025-03-02T08:10:00+04:00"),
                                             ("CSQU3054383", "AZALA", "2025-03-03T10:00:00+04:00")), "alat-2.csv")
    assert (ok["stored"], held["quarantined"], later["stored"], later["duplicates"]) == (1, 1, 1, 1)

    doc = run("messages", "list")
    ids = [m["message_id"] for m in doc["messages"]]
    assert ids == [later["message_id"], held["message_id"], ok["message_id"]]        # newest first
    assert doc["counts"] == {"processed": 2, "quarantined": 1}
    first = doc["messages"][0]
    assert (first["source_party"], first["format"], first["filename"], first["status"], first["stored"],
            first["duplicates"]) == ("PORTBAKU", "csv", "alat-2.csv", "processed", 1, 1)
    assert "content" not in first
    assert [m["message_id"] for m in run("messages", "list", "--party", "KTZ")["messages"]] == [held["message_id"]]
    assert [m["message_id"] for m in run("messages", "list", "--status", "quarantined")["messages"]] == \
        [held["message_id"]]
    assert len(run("messages", "list", "--limit", "1")["messages"]) == 1
    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).date().isoformat()
    assert run("messages", "list", "--since", tomorrow)["messages"] == []

    # shown by the first characters of its id, as the list prints it: the outcome and why it was held
    shown = run("messages", "show", held["message_id"][:12], "--content")
    assert shown["message_id"] == held["message_id"] and shown["source_party"] == "KTZ"
    assert shown["quarantined"] == 1 and "KTZ" in shown["quarantine"][0]["reason"]
    assert "TGHU7654320" in shown["content"] and shown["truncated"] is False
    assert run("messages", "show", "0" * 12, code=3)["error"]["code"] == "not_found"
    assert run("messages", "list", "--status", "lost", code=2)["error"]["exit_status"] == 2


def test_a_party_lists_the_messages_it_sent_and_no_other_partys(world):
    mine = post(world, "PORTBAKU", gate_log(("MSKU1234565", "AZALA", "2025-03-02T08:10:00+04:00")), "a.csv")
    theirs = post(world, "KTZ", gate_log(("TGHU7654320", "AZALA", "2025-03-02T09:10:00+04:00")), "b.csv")
    r = world.get("/api/v1/messages", headers=world.keys["PORTBAKU"])
    assert r.status_code == 200, r.text
    doc = r.json()
    assert [m["message_id"] for m in doc["messages"]] == [mine["message_id"]]
    assert doc["counts"] == {"processed": 1}
    assert doc["messages"][0]["href"].endswith(f"/api/v1/messages/{mine['message_id']}")
    assert world.get(doc["messages"][0]["href"], headers=world.keys["PORTBAKU"]).status_code == 200
    assert world.get("/api/v1/messages?party=KTZ", headers=world.keys["PORTBAKU"]).status_code == 403
    # the administrator sees every sender's, or one's
    every = world.get("/api/v1/messages", headers=world.keys["admin"]).json()
    assert {m["message_id"] for m in every["messages"]} == {mine["message_id"], theirs["message_id"]}
    ktz = world.get("/api/v1/messages?party=KTZ&status=quarantined", headers=world.keys["admin"]).json()
    assert [m["message_id"] for m in ktz["messages"]] == [theirs["message_id"]]
    # the next page starts before the last receipt's time
    page = world.get("/api/v1/messages?limit=1", headers=world.keys["admin"]).json()["messages"]
    rest = world.get("/api/v1/messages", params={"before": page[0]["received_at"]}, headers=world.keys["admin"]).json()
    assert [m["message_id"] for m in page + rest["messages"]] == [m["message_id"] for m in every["messages"]]
