"""A place's notice may hold for some modes only: a storm closes Aktau to ships, while the trains
through the same station run on — their departures are not cancelled, their bookings not alerted,
and an ETA does not hold a train at the closed port (both stores)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from corridor.domain.errors import DomainError
from corridor.notices.service import SEA_MODES, publish
from corridor.store import network as netstore
from corridor.store.notices import closures
from corridor.store.tables import departures, events, notices
from corridor.tracking.eta import _Batch
from test_notices import _book_on, _caspian_sailing


def _train_from_aktau(conn, after: datetime):
    row = conn.execute(select(departures).where(departures.c.origin == "KZ_AKX", departures.c.mode == "rail",
                                                departures.c.departs_at >= after, departures.c.status == "scheduled")
                       .order_by(departures.c.departs_at)).first()
    return netstore.row_to_departure(row)


def _storm(store, sailing, train, **kw):
    start = min(sailing.departs_at, train.departs_at) - timedelta(hours=1)
    end = max(sailing.departs_at, train.departs_at) + timedelta(hours=1)
    return publish(store, operator="PORTAKTAU", kind="closure", location="KZ_AKX", starts_at=start, ends_at=end,
                   text="storm, port closed", facilities=frozenset({"KZ_AKX"}), **kw), start, end


def test_a_storm_closure_for_ships_cancels_the_sailings_not_the_trains(loaded_store):
    after = datetime.now(timezone.utc) + timedelta(days=5)
    with loaded_store.tx() as conn:
        sailing, train = _caspian_sailing(conn, after), _train_from_aktau(conn, after)
        _book_on(conn, "CB-SEA-1", sailing)
        _book_on(conn, "CB-RAIL-1", train)
    out, start, end = _storm(loaded_store, sailing, train, modes=["sea"])
    assert out.modes == list(SEA_MODES) and out.as_json()["modes"] == list(SEA_MODES)
    assert sailing.id in out.departures and train.id not in out.departures
    assert out.bookings == ["CB-SEA-1"]
    with loaded_store.read() as conn:
        assert netstore.get_departure(conn, sailing.id)[0].status == "cancelled"
        assert netstore.get_departure(conn, train.id)[0].status == "scheduled"
        kinds = {d.mode.value for d in (netstore.get_departure(conn, i)[0] for i in out.departures)}
        assert kinds <= set(SEA_MODES)
        assert conn.execute(select(notices.c.modes).where(notices.c.id == out.id)).scalar_one() == list(SEA_MODES)
        reasons = conn.execute(select(events.c.reason).where(events.c.code == "NOTC")).scalars().all()
        assert reasons and all("for ferry, feeder, deep_sea" in r and "CB-SEA-1" in r for r in reasons)
        # the ETA: a ship due in during the storm waits for the port to open; a train does not
        assert closures(conn)["KZ_AKX"] == [(start, end, frozenset(SEA_MODES))]
        batch = _Batch(conn, "test", None)
        mid = start + (end - start) / 2
        assert batch.reopens("KZ_AKX", mid, "feeder") == end
        assert batch.reopens("KZ_AKX", mid, "rail") == mid
        assert batch.reopens("KZ_AKX", mid, None) == end       # a vehicle of unknown mode: held, to be safe


def test_a_closure_naming_no_mode_holds_for_every_mode_as_before(loaded_store):
    after = datetime.now(timezone.utc) + timedelta(days=5)
    with loaded_store.read() as conn:
        sailing, train = _caspian_sailing(conn, after), _train_from_aktau(conn, after)
    out, start, end = _storm(loaded_store, sailing, train)
    assert out.modes is None and {sailing.id, train.id} <= set(out.departures)
    with loaded_store.read() as conn:
        batch = _Batch(conn, "test", None)
        assert batch.reopens("KZ_AKX", start + timedelta(minutes=30), "rail") == end


def test_modes_are_checked(loaded_store):
    start = datetime.now(timezone.utc) + timedelta(days=5)
    with pytest.raises(DomainError, match="unknown mode 'boat'"):
        publish(loaded_store, operator="X", kind="closure", location="KZ_AKX", starts_at=start, modes=["boat"],
                is_admin=True)
    with loaded_store.read() as conn:
        sailing = _caspian_sailing(conn, start)
    with pytest.raises(DomainError, match="modes belong to a place's notice"):
        publish(loaded_store, operator="X", kind="delayed", departure_id=sailing.id, delay_hours=3,
                starts_at=start, modes=["rail"], is_admin=True)
    out = publish(loaded_store, operator="X", kind="works", location="KZ_AKX", starts_at=start,
                  ends_at=start + timedelta(days=1), delay_hours=4, modes=["RAIL"], is_admin=True)
    assert out.modes == ["rail"]
    with loaded_store.read() as conn:
        assert {netstore.get_departure(conn, d)[0].mode.value for d in out.departures} == {"rail"}
