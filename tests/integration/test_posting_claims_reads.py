"""A shipper's posting check reads no container trips of its own: where a container event lands is
judged under the containers' lock, on the trips the ingest path reads there anyway
(`ClaimCheck.recheck`), so a message of many new boxes costs no read per box on a connection of
its own; the rule holds as before, for a re-sent copy of another party's event too — on both
stores."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event as sa_event

from corridor.access.visibility import posting_rights
from corridor.domain.equipment import with_check_digit
from corridor.domain.parties import Party, Role
from corridor.ingest.service import Ingestor
from corridor.store import ingest as ingest_repo
from corridor.store.parties import get_party, upsert_party

HEADER = "event_type,event_code,classifier,event_time,location,equipment,size_type,mode,voyage,vehicle,booking_ref\n"
T0 = datetime(2025, 3, 1, 8, tzinfo=timezone.utc)


def _csv(boxes: list[str], code: str = "GTIN", when: datetime = T0, where: str = "KZDOS") -> bytes:
    return (HEADER + "".join(f"EQUIPMENT,{code},ACT,{when.isoformat()},{where},{b},42G1,,,,\n" for b in boxes)).encode()


def _boxes(first: int, n: int) -> list[str]:
    return [with_check_digit(f"CAIU{first + i:06d}") for i in range(n)]


class Reads:
    """Connections checked out of the store's pool, and trip reads (any connection)."""

    def __init__(self, store, monkeypatch):
        self.connections = self.trip_reads = 0
        sa_event.listen(store.engine, "checkout", self._checkout)
        self._store = store
        real = ingest_repo.trips_of_many

        def counted(conn, equipment):
            self.trip_reads += 1
            return real(conn, equipment)
        monkeypatch.setattr(ingest_repo, "trips_of_many", counted)

    def _checkout(self, *_):
        self.connections += 1

    def during(self, fn):
        self.connections = self.trip_reads = 0
        out = fn()
        return out, (self.connections, self.trip_reads)

    def close(self):
        sa_event.remove(self._store.engine, "checkout", self._checkout)


@pytest.fixture
def parties(loaded_store):
    with loaded_store.tx() as conn:
        for pid in ("ACME", "BOSPHORUS"):
            upsert_party(conn, Party(pid, pid, frozenset({Role.SHIPPER})))
    with loaded_store.read() as conn:
        return {pid: posting_rights(conn, get_party(conn, pid)) for pid in ("ACME", "BOSPHORUS")}


def test_new_boxes_from_a_shipper_cost_no_read_per_box(loaded_store, parties, monkeypatch):
    reads = Reads(loaded_store, monkeypatch)
    ing = Ingestor(loaded_store)
    try:
        # the same message shape without a posting check (the administrator's): what ingest itself costs
        plain, (conns, trip_reads) = reads.during(lambda: ing.ingest(_csv(_boxes(610000, 200)), source_party="ACME",
                                                                      fmt="csv"))
        assert plain.stored == 200 and (conns, trip_reads) == (1, 1)
        # ACME's 200 new boxes: the one transaction, the one trip read under the lock (was 200 more of each)
        out, cost = reads.during(lambda: ing.ingest(_csv(_boxes(620000, 200)), source_party="ACME", fmt="csv",
                                                    allowed=parties["ACME"]))
        assert (out.stored, out.quarantined) == (200, 0), out.reasons[:3]
        assert cost == (1, 1)
        # one box per message (a feed posting as boxes come): still the ingest path's reads only
        for box in _boxes(630000, 20):
            one, cost = reads.during(lambda: ing.ingest(_csv([box]), source_party="ACME", fmt="csv",
                                                        allowed=parties["ACME"]))
            assert one.stored == 1 and cost == (1, 1)
        # the rule is the same: those boxes are ACME's now; BOSPHORUS may not post for them, nor
        # ACME for BOSPHORUS's, whatever the time
        theirs = _boxes(640000, 3)
        assert ing.ingest(_csv(theirs), source_party="BOSPHORUS", fmt="csv", allowed=parties["BOSPHORUS"]).stored == 3
        mine = _boxes(620000, 3)
        for who, boxes in (("BOSPHORUS", mine), ("ACME", theirs)):
            for when in (T0 + timedelta(hours=6), T0 - timedelta(days=60)):
                refused = ing.ingest(_csv(boxes, "GTOT", when), source_party=who, fmt="csv", allowed=parties[who])
                assert (refused.stored, refused.quarantined) == (0, 3), refused.reasons
                assert all("may post events only for containers on its own trips and bookings" in r
                           for r in refused.reasons)
        more = ing.ingest(_csv(mine, "GTOT", T0 + timedelta(hours=7)), source_party="ACME", fmt="csv",
                          allowed=parties["ACME"])
        assert (more.stored, more.quarantined) == (3, 0), more.reasons
    finally:
        reads.close()


def test_a_resent_copy_of_another_partys_event_is_refused_not_counted_a_duplicate(loaded_store, parties):
    """A copy of a stored event is a duplicate by its key whoever sends it; to a party that may not
    post for the box, "duplicate" would say the event is in the log: the answer is the refusal."""
    ing = Ingestor(loaded_store)
    theirs, mine = _boxes(650000, 2)
    assert ing.ingest(_csv([theirs]), source_party="BOSPHORUS", fmt="csv", allowed=parties["BOSPHORUS"]).stored == 1
    assert ing.ingest(_csv([mine]), source_party="ACME", fmt="csv", allowed=parties["ACME"]).stored == 1
    copy = ing.ingest(_csv([theirs, mine]), source_party="ACME", fmt="csv", allowed=parties["ACME"])
    assert (copy.stored, copy.duplicates, copy.quarantined) == (0, 1, 1), copy.reasons
    assert theirs in copy.reasons[0] and "own trips and bookings" in copy.reasons[0]
    # the same guess as a dry run tells no more
    dry = ing.ingest(_csv([theirs]), source_party="ACME", fmt="csv", allowed=parties["ACME"], dry_run=True)
    assert (dry.stored, dry.duplicates, dry.quarantined) == (0, 0, 1), dry
    # the owner's own re-send stays a duplicate
    again = ing.ingest(_csv([theirs]), source_party="BOSPHORUS", fmt="csv", allowed=parties["BOSPHORUS"])
    assert (again.stored, again.duplicates, again.quarantined) == (0, 1, 0)
