"""A message's events: `corridor messages show` and GET /api/v1/messages/{id} list what it stored.

Each processing of a message records where its events lie in the log (raw_messages.seq_ranges),
so the events of a message are read down the log's key, without an index of events.message_id
on the append path; a replay adds its own range — on both stores.
"""

from __future__ import annotations

from corridor.store.ingest import SEQ_RANGES_KEPT, add_seq_range
# world: the receipts tests' fixture (an ingest API over the store with KTZ and PORTBAKU, the CLI on it)
from test_quarantine_receipts import M1, cli, gate_log, post, run, runner, world  # noqa: F401


def boxes(doc: dict) -> list[tuple[str, str]]:
    return [(e["equipment"], e["location"]) for e in doc["events"]]


def test_a_message_lists_the_events_it_stored_and_no_other_messages(world):
    first = post(world, "PORTBAKU", gate_log(("MSKU1234565", "AZALA", "2025-03-02T08:10:00+04:00"),
                                             ("CSQU3054383", "AZALA", "2025-03-02T09:00:00+04:00")))
    # a second file repeats one gate-in (a duplicate: it stays the first file's) and adds one
    second = post(world, "PORTBAKU", gate_log(("CSQU3054383", "AZALA", "2025-03-02T09:00:00+04:00"),
                                              ("TGHU7654320", "AZALA", "2025-03-02T10:00:00+04:00")))
    assert (first["stored"], second["stored"], second["duplicates"]) == (2, 1, 1)

    shown = run("messages", "show", first["message_id"])
    assert boxes(shown) == [("MSKU1234565", "AZALA"), ("CSQU3054383", "AZALA")]
    e = shown["events"][0]
    assert (e["code"], e["classifier"], e["event_time"], e["source_party"]) == \
        ("GTIN", "ACT", "2025-03-02T08:10:00+04:00", "PORTBAKU")
    assert e["trip_id"] and e["seq"] < shown["events"][1]["seq"]
    assert boxes(run("messages", "show", second["message_id"])) == [("TGHU7654320", "AZALA")]
    assert run("messages", "show", first["message_id"], "--events", "1")["events"][0]["equipment"] == "MSKU1234565"
    assert run("messages", "show", first["message_id"], "--events", "0")["events"] == []
    # the table a person reads names the boxes and says how many of the stored it shows
    r = runner.invoke(cli, ["messages", "show", first["message_id"][:12], "--events", "1"])
    assert r.exit_code == 0, r.output
    assert "MSKU1234565" in r.output and "1 of 2" in r.output and "CSQU3054383" not in r.output

    # over HTTP, to its sender (and the administrator): the same events
    doc = world.get(f"/api/v1/messages/{first['message_id']}", headers=world.keys["PORTBAKU"]).json()
    assert boxes(doc) == boxes(shown) and doc["stored"] == 2
    assert world.get(f"/api/v1/messages/{first['message_id']}?limit=1",
                     headers=world.keys["admin"]).json()["events"][0]["equipment"] == "MSKU1234565"
    assert world.get(f"/api/v1/messages/{first['message_id']}", headers=world.keys["KTZ"]).status_code == 404


def test_a_replay_adds_the_events_it_stored_to_the_messages_list(world):
    # the administrator posts for KTZ: the Alat gate-in goes in, the one at an unknown code is held
    first = post(world, "admin", M1, party="KTZ")
    assert (first["stored"], first["quarantined"]) == (1, 1)
    # another message in between: the replay's events lie after it in the log
    other = post(world, "PORTBAKU", gate_log(("CSQU3054383", "AZALA", "2025-03-02T09:00:00+04:00")))
    assert other["stored"] == 1
    assert run("alias", "add", "location", "KZYYY", "KZAAU", "--replay")["replay"]["stored"] == 1
    shown = run("messages", "show", first["message_id"])
    assert shown["stored"] == 2
    assert boxes(shown) == [("MSKU1234565", "AZALA"), ("TGHU7654320", "KZAAU")]
    assert boxes(run("messages", "show", other["message_id"])) == [("CSQU3054383", "AZALA")]


def test_seq_ranges_merge_when_they_touch_and_stay_few():
    assert add_seq_range([], (5, 9)) == [[5, 9]]
    assert add_seq_range([[5, 9]], (10, 12)) == [[5, 12]]            # adjacent: one range
    assert add_seq_range([[5, 9]], (20, 22)) == [[5, 9], [20, 22]]
    assert add_seq_range([[20, 22]], (1, 3)) == [[1, 3], [20, 22]]      # kept in order
    ranges: list = []
    for i in range(SEQ_RANGES_KEPT + 5):
        ranges = add_seq_range(ranges, (i * 10, i * 10 + 1 + (i == 3)))   # the gap after range 3 is the smallest
    assert len(ranges) == SEQ_RANGES_KEPT
    assert ranges[0][0] == 0 and ranges[-1][1] == (SEQ_RANGES_KEPT + 4) * 10 + 1
    # every seq once inside stays inside: a wider read, nothing missed
    assert all(any(lo <= s <= hi for lo, hi in ranges) for i in range(SEQ_RANGES_KEPT + 5) for s in (i * 10, i * 10 + 1))
