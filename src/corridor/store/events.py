"""The append-only event log: exactly-once append on the natural key, and reads back to Events."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Iterable, Sequence

from sqlalchemy import Connection, Select, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..domain.events import Classifier, Event, EventKind, TransportCall, event_keys
from .tables import events

_COLS = [c.name for c in events.columns if c.name != "seq"]


def party_set(parties: Iterable[str]) -> str:
    """Encode a party set for the `parties` column: ' A B ' (exact-token match with LIKE '% A %')."""
    items = sorted({p for p in parties if p})
    return " " + " ".join(items) + " " if items else " "


def event_row(e: Event, received_at: datetime) -> dict:
    """The table row of an Event (keys computed once here, on the append path)."""
    tc = e.transport_call
    off = e.event_time.utcoffset()
    milestone, dedup = event_keys(e)
    return {
        "dedup_key": dedup,
        "milestone_key": milestone,
        "kind": e.kind.value,
        "code": e.code,
        "classifier": e.classifier.value,
        "event_time": e.event_time,
        "event_offset": int(off.total_seconds() // 60) if off else 0,
        "location": e.location,
        "equipment": e.equipment,
        "trip_id": e.trip_id,
        "booking_ref": e.reference("BKG"),
        "mode": tc.mode if tc else None,
        "voyage": tc.voyage if tc else None,
        "vehicle": tc.vehicle if tc else None,
        "departure_id": tc.departure_id if tc else None,
        "facility_code": tc.facility_code if tc else None,
        "facility_type": tc.facility_type if tc else None,
        "wagon": (tc.wagon if tc else None) or e.reference("WGN"),
        "refs": [list(r) for r in e.references] or None,
        "lat": e.lat,
        "lon": e.lon,
        "source_party": e.source_party or "",
        "parties": party_set(e.parties | {e.source_party}),
        "message_id": e.message_id,
        "created_at": e.created_at,
        "received_at": received_at,
        "event_id": e.event_id,
        "reason": e.reason,
        "extra": e.extra or None,
    }


def _insert(conn: Connection):
    return (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(events)


def append(conn: Connection, batch: Sequence[Event], received_at: datetime | None = None
           ) -> tuple[list[tuple[int, Event]], list[Event]]:
    """Append events; return (stored as (seq, event), duplicates). Re-sent events never duplicate.

    One multi-row INSERT .. ON CONFLICT DO NOTHING .. RETURNING per chunk: the database decides
    what is new, so two workers appending the same event at once still store it once.
    """
    if not batch:
        return [], []
    received_at = received_at or datetime.now(timezone.utc)
    rows, seen, in_batch_dups = [], {}, []
    for e in batch:
        row = event_row(e, received_at)
        if row["dedup_key"] in seen:
            in_batch_dups.append(e)
            continue
        seen[row["dedup_key"]] = e
        rows.append(row)
    if conn.dialect.name == "sqlite":
        stored = _append_sqlite(conn, rows, seen)
    elif conn.dialect.name == "postgresql" and len(rows) >= 200:
        stored = _append_pg_copy(conn, rows, seen)
    else:
        stmt = _insert(conn).on_conflict_do_nothing(index_elements=["dedup_key"]).returning(
            events.c.seq, events.c.dedup_key)
        stored = [(seq, seen[key]) for seq, key in conn.execute(stmt, rows).all()]
        stored.sort(key=lambda t: t[0])
    got = {e.dedup_key for _, e in stored} if len(stored) < len(seen) else None
    dups = in_batch_dups + ([e for k, e in seen.items() if k not in got] if got is not None else [])
    return stored, dups


_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"   # SQLAlchemy's own SQLite DATETIME format: keep them equal
_TIME_COLS = {"event_time", "created_at", "received_at"}
_JSON_COLS = {"refs", "extra"}


def _sqlite_value(col: str, v):
    if v is None:
        return None
    if col in _TIME_COLS:
        return v.astimezone(timezone.utc).strftime(_SQLITE_TIME)
    if col in _JSON_COLS:
        return json.dumps(v, separators=(",", ":"), default=str)
    return v


def _append_sqlite(conn: Connection, rows: list[dict], seen: dict) -> list[tuple[int, Event]]:
    """SQLite fast path: the write lock is held from BEGIN IMMEDIATE, so a key check followed by a
    plain executemany is race-free, and new rowids are consecutive after the current maximum."""
    keys = list(seen)
    existing: set[str] = set()
    for i in range(0, len(keys), 500):
        part = keys[i:i + 500]
        existing.update(k for (k,) in conn.exec_driver_sql(
            f"SELECT dedup_key FROM events WHERE dedup_key IN ({','.join('?' * len(part))})", tuple(part)))
    new = [r for r in rows if r["dedup_key"] not in existing]
    if not new:
        return []
    first = (conn.exec_driver_sql("SELECT COALESCE(MAX(seq), 0) FROM events").scalar() or 0) + 1
    sql = f"INSERT INTO events ({','.join(_COLS)}) VALUES ({','.join('?' * len(_COLS))})"
    conn.exec_driver_sql(sql, [tuple(_sqlite_value(c, r[c]) for c in _COLS) for r in new])
    return [(first + i, seen[r["dedup_key"]]) for i, r in enumerate(new)]


def _append_pg_copy(conn: Connection, rows: list[dict], seen: dict) -> list[tuple[int, Event]]:
    """PostgreSQL bulk path: COPY into a session temp table, then one INSERT .. SELECT .. ON CONFLICT
    DO NOTHING RETURNING — the database still decides what is new, at COPY speed."""
    raw = conn.connection.driver_connection
    with raw.cursor() as cur:
        cur.execute("SELECT to_regclass('pg_temp._events_in')")
        if cur.fetchone()[0] is None:
            cur.execute(f"CREATE TEMP TABLE _events_in AS SELECT {','.join(_COLS)} FROM events WITH NO DATA")
            cur.execute("ALTER TABLE _events_in ADD COLUMN ord integer")
        with cur.copy(f"COPY _events_in ({','.join(_COLS)},ord) FROM STDIN") as copy:
            for i, r in enumerate(rows):
                copy.write_row([_pg_value(c, r[c]) for c in _COLS] + [i])
        cur.execute(f"INSERT INTO events ({','.join(_COLS)}) SELECT {','.join(_COLS)} FROM _events_in "
                    "ORDER BY ord ON CONFLICT (dedup_key) DO NOTHING RETURNING seq, dedup_key")
        out = [(seq, seen[key]) for seq, key in cur.fetchall()]
        cur.execute("TRUNCATE _events_in")
    out.sort(key=lambda t: t[0])
    return out


def _pg_value(col: str, v):
    if v is not None and col in _JSON_COLS:
        return json.dumps(v, separators=(",", ":"), default=str)
    return v


def row_to_event(r) -> Event:
    """The Event of a stored row, with the sender's UTC offset restored."""
    m = r._mapping
    tz = timezone(timedelta(minutes=m["event_offset"]))
    tc = None
    if m["mode"] or m["voyage"] or m["vehicle"] or m["departure_id"] or m["facility_code"]:
        tc = TransportCall(mode=m["mode"] or "", location=m["location"], facility_code=m["facility_code"],
                           facility_type=m["facility_type"], voyage=m["voyage"], vehicle=m["vehicle"],
                           departure_id=m["departure_id"], wagon=m["wagon"])
    return Event(
        kind=EventKind(m["kind"]), code=m["code"], classifier=Classifier(m["classifier"]),
        event_time=m["event_time"].astimezone(tz), location=m["location"], equipment=m["equipment"],
        transport_call=tc, references=tuple(tuple(x) for x in (m["refs"] or [])), trip_id=m["trip_id"],
        lat=m["lat"], lon=m["lon"], source_party=m["source_party"],
        parties=frozenset(m["parties"].split()), message_id=m["message_id"], created_at=m["created_at"],
        reason=m["reason"], event_id=m["event_id"], extra=m["extra"] or {})


def select_events() -> Select:
    """SELECT of every event column, in append order; callers add their filters."""
    return select(events).order_by(events.c.seq)


def for_trip(conn: Connection, trip_id: str) -> list[tuple[int, Event]]:
    """Every event of one container trip, in append order."""
    rows = conn.execute(select_events().where(events.c.trip_id == trip_id)).all()
    return [(r.seq, row_to_event(r)) for r in rows]


def count(conn: Connection) -> int:
    from sqlalchemy import func
    return conn.execute(select(func.count()).select_from(events)).scalar_one()
