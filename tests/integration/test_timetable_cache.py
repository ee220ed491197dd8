"""The ETA's in-memory timetable catches up with a notice by re-reading the changed rows alone."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from corridor.store import network as netstore
from corridor.store.tables import departures
from corridor.tracking import eta


def _view(tt) -> dict:
    return {pair: (list(times), [(d.id, d.status, d.departs_at, d.arrives_at) for d in deps])
            for pair, (times, deps) in tt.by_pair.items()}


def test_a_delay_and_a_cancellation_patch_the_kept_timetable_as_a_reload_would(loaded_store):
    with loaded_store.tx() as conn:
        before = eta._timetable(conn)
        ids = conn.execute(select(departures.c.id).where(departures.c.mode == "ferry")
                           .order_by(departures.c.departs_at).limit(3)).scalars().all()
        assert len(ids) == 3
        assert netstore.set_status(conn, ids[0], "delayed", timedelta(hours=30))
        assert netstore.set_status(conn, ids[1], "cancelled")
        after = eta._timetable(conn)
        # patched in place: the same cache object, not a reload of every departure
        assert after is before and after.fresh()
        assert after.by_id[ids[1]].status == "cancelled"
        moved = after.by_id[ids[0]]
        assert moved.status == "delayed"
        reloaded = eta._CachedTimetable(conn)
        got, want = _view(after), _view(reloaded)
        assert got.keys() == want.keys()
        for pair in want:
            # the same departures at the same times, in time order (equal times keep no set order)
            assert got[pair][0] == want[pair][0] == sorted(want[pair][0])
            assert sorted(got[pair][1]) == sorted(want[pair][1])
        # the delayed sailing is now found where its new time puts it
        times, deps = after.by_pair[(moved.origin, moved.destination)]
        src = eta.StoredDepartures(conn)
        nxt = src.next_departure(moved.origin, moved.destination, moved.departs_at - timedelta(minutes=1))
        assert nxt is not None and nxt.departs_at <= moved.departs_at


def test_new_departures_still_reload_the_whole_timetable(loaded_store):
    with loaded_store.tx() as conn:
        before = eta._timetable(conn)
        netstore.save_departures(conn, [])
        assert netstore.changed_since(before.generation) is None
        assert eta._timetable(conn) is not before


def test_reserve_all_books_the_whole_journey_or_none_of_it(loaded_store):
    with loaded_store.tx() as conn:
        # three operating departures: the timetable's first ones are storm-cancelled sailings in winter
        rows = conn.execute(select(departures.c.id, departures.c.capacity_teu, departures.c.reserved_teu)
                            .where(departures.c.status != "cancelled")
                            .order_by(departures.c.departs_at).limit(3)).all()
        a, b, c = rows
        assert netstore.reserve_all(conn, [a.id, b.id], 2)
        got = netstore.get_departures(conn, [a.id, b.id, c.id])
        assert (got[a.id][1], got[b.id][1], got[c.id][1]) == (a.reserved_teu + 2, b.reserved_teu + 2, c.reserved_teu)
        # c cannot take it: nothing is reserved on a or b either
        assert not netstore.reserve_all(conn, [a.id, b.id, c.id], c.capacity_teu - c.reserved_teu + 1)
        again = netstore.get_departures(conn, [a.id, b.id, c.id])
        assert {k: v[1] for k, v in again.items()} == {k: v[1] for k, v in got.items()}
        netstore.set_status(conn, a.id, "cancelled")
        assert not netstore.reserve_all(conn, [a.id, b.id], 1)
        assert netstore.get_departures(conn, [b.id])[b.id][1] == got[b.id][1]
