"""Persistence for ingest: raw messages (one receipt per sender and content), quarantine, trips and consists."""

from __future__ import annotations

import hashlib
import json
import threading
import weakref
import zlib
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta, timezone

from sqlalchemy import Connection, bindparam, func, insert, or_, select, update

from ..domain.trips import Trip
from .events import _sqlite_time
from .parties import REGISTRY_GENERATION, fold, get_party, resolve_alias
from .tables import consists, quarantine, raw_messages, trips

# The statements run once per message go straight to the DB-API connection of the transaction:
# through SQLAlchemy's execution machinery each costs more than the statement itself. The values
# are written as the column types write them (UTC times in SQLAlchemy's SQLite text form, JSON text).
_JSON = json.JSONEncoder(separators=(",", ":"), default=str).encode   # JSONText's own encoding


def _db(conn: Connection):
    """The DB-API connection under `conn` (sqlite3 or psycopg), inside the same transaction."""
    return conn.connection.driver_connection


def _pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _in(n: int) -> str:
    return ",".join("?" * n)


def pg_text_array(values) -> str:
    """The PostgreSQL literal of a text[] of `values` (strings), for a `%s::text[]` parameter.

    psycopg adapts a Python list element by element in Python (4 ms for 1,000 keys, more than
    the query); the literal is one join. Every element is quoted, so none reads as NULL."""
    text = '","'.join(values)
    if "\\" in text or text.count('"') != 2 * (len(values) - 1):   # beyond the separators' own quotes
        text = '","'.join(v.replace("\\", "\\\\").replace('"', '\\"') for v in values)
    return '{"' + text + '"}' if values else "{}"


def _rows_in(conn: Connection, sql: str, keys: list, tail: str = ""):
    """Rows of `sql` (ending with the column to match) for the column in `keys`, then `tail`:
    one `= ANY(%s::text[])` statement on PostgreSQL, IN lists of 500 on SQLite.

    Never a server-side prepared statement on PostgreSQL: psycopg prepares a query from its
    fifth run on, and the generic plan PostgreSQL then picks for `= ANY($1)` tests each row
    against the whole array one element at a time (a bound array is hashed only in a plan made
    for its values): 1,000 containers against a few thousand trips cost 60 ms instead of 2."""
    db = _db(conn)
    if _pg(conn):
        yield from db.execute(f"{sql} = ANY(%s::text[]){tail}", (pg_text_array(keys),), prepare=False).fetchall()
        return
    for i in range(0, len(keys), 500):
        part = keys[i:i + 500]
        yield from db.execute(f"{sql} IN ({_in(len(part))}){tail}", part).fetchall()


def _utc(v) -> datetime:
    """A stored time read back raw: aware UTC, as UTCDateTime reads it."""
    if isinstance(v, str):
        v = datetime.fromisoformat(v)
    return v.replace(tzinfo=timezone.utc) if v.tzinfo is None else v.astimezone(timezone.utc)


def content_id(content: bytes) -> str:
    """The content address of a raw message: SHA-256 of its bytes."""
    return hashlib.sha256(content).hexdigest()


def message_id(content: bytes, source_party: str | None) -> str:
    """The id of one receipt: SHA-256 of the sending party's id, a NUL byte and the content; a
    message kept without a sender (relayed: its sender is read from it) is addressed by its
    content alone. The same bytes from two parties are two receipts, each processed as its own
    sender with its own quarantine; a re-send by the same party is the same receipt."""
    if not source_party:
        return content_id(content)
    h = hashlib.sha256(source_party.encode())
    h.update(b"\0")
    h.update(content)
    return h.hexdigest()


def keep_raw(conn: Connection, content: bytes, *, fmt: str, source_party: str, received_at: datetime,
             filename: str | None, checked: bool = False) -> tuple[str, bool]:
    """Store a receipt once (per sender and content); returns (id, True if it was new).

    `checked`: this post was judged by its sender's posting rights (an API key's, an MQTT
    topic's), so a replay judges it again; once one post of a receipt was, it stays so."""
    mid = message_id(content, source_party)
    if received_at.tzinfo is None:
        raise ValueError("naive datetime given to the store: times must carry an offset")
    sql = ("INSERT INTO raw_messages (id, format, source_party, received_at, filename, size, content, status, "
           "stored, duplicates, rejected, checked) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, 0, 0, ?) "
           "ON CONFLICT (id) DO NOTHING")
    db = _db(conn)
    if _pg(conn):
        # the content as a binary parameter (%b): sent as it is, not hex-escaped to twice its size
        sql = sql.replace("?", "%s").replace("%s, 'pending'", "%b, 'pending'")   # the 7th: content
        cur = db.execute(sql, (mid, fmt, source_party, received_at, filename, len(content), content, checked))
    else:
        cur = db.execute(sql, (mid, fmt, source_party, _sqlite_time(received_at), filename, len(content),
                               content, checked))
    new = cur.rowcount == 1
    if checked and not new:
        mark_checked(conn, mid)
    return mid, new


def mark_checked(conn: Connection, mid: str) -> None:
    """A post of this receipt was judged by its sender's posting rights: so is every replay of it."""
    sql = "UPDATE raw_messages SET checked = ? WHERE id = ? AND checked = ?"
    _db(conn).execute(sql.replace("?", "%s") if _pg(conn) else sql, (True, mid, False))


def known_events(conn: Connection, keys: list[str]) -> set[str]:
    """The event natural keys (dedup_key) among `keys` that the log holds already.

    PostgreSQL: one probe of the key's index per key (a LATERAL look-up). Asked as
    `dedup_key = ANY(array)`, the planner scans the whole log instead for 1,000 keys against
    a log of tens of thousands of events and more (100,000 events: 14 ms a message by scan,
    3 ms by probes), and the scan grows with the log."""
    if not keys:
        return set()
    if _pg(conn):
        # never prepared: see _rows_in
        return {k for (k,) in _db(conn).execute(_KNOWN_PG, (pg_text_array(keys),), prepare=False).fetchall()}
    return {k for (k,) in _rows_in(conn, "SELECT dedup_key FROM events WHERE dedup_key", keys)}


_KNOWN_PG = ("SELECT e.dedup_key FROM unnest(%s::text[]) AS k(v), "
             "LATERAL (SELECT dedup_key FROM events WHERE dedup_key = k.v LIMIT 1) AS e")


def finish_raw(conn: Connection, mid: str, *, status: str, stored: int, duplicates: int, rejected: int,
               source_party: str | None = None, seqs: tuple[int, int] | None = None, fresh: bool = False) -> None:
    """Record the outcome of processing; `source_party` (e.g. resolved from the EDIFACT UNB via the
    alias registry) fills in a message kept without a sender, never replaces a known one.

    `seqs`: the first and last seq of the events this processing stored, added to the message's
    seq ranges (`message_events` reads them); `fresh`: the message was first kept in this
    transaction, so it has no ranges yet to read."""
    sql = "UPDATE raw_messages SET status = ?, stored = stored + ?, duplicates = ?, rejected = ?"
    params: tuple = (status, stored, duplicates, rejected)
    if seqs is not None:
        ranges = [list(seqs)] if fresh else add_seq_range(_kept_ranges(conn, mid), seqs)
        sql += ", seq_ranges = ?"
        params += (json.dumps(ranges, separators=(",", ":")),)
    if source_party:
        sql += ", source_party = COALESCE(NULLIF(source_party, ''), ?)"
        params += (source_party,)
    sql += " WHERE id = ?"
    _db(conn).execute(sql.replace("?", "%s") if _pg(conn) else sql, params + (mid,))


SEQ_RANGES_KEPT = 64   # ranges per message; past that the closest two merge (a wider read, nothing missed)


def _kept_ranges(conn: Connection, mid: str) -> list[list[int]]:
    sql = "SELECT seq_ranges FROM raw_messages WHERE id = ?"
    row = _db(conn).execute(sql.replace("?", "%s") if _pg(conn) else sql, (mid,)).fetchone()
    return json.loads(row[0]) if row and row[0] else []


def add_seq_range(ranges: list[list[int]], seqs: tuple[int, int]) -> list[list[int]]:
    """`ranges` (sorted, disjoint [first, last] pairs) with [first, last] of `seqs` added: ranges
    that overlap or touch become one; past SEQ_RANGES_KEPT the two with the smallest gap merge."""
    merged: list[list[int]] = []
    for lo, hi in sorted([*ranges, [min(seqs), max(seqs)]]):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    while len(merged) > SEQ_RANGES_KEPT:
        i = min(range(len(merged) - 1), key=lambda j: merged[j + 1][0] - merged[j][1])
        merged[i:i + 2] = [[merged[i][0], merged[i + 1][1]]]
    return merged


def mark_raw(conn: Connection, mid: str, status: str) -> None:
    conn.execute(update(raw_messages).where(raw_messages.c.id == mid).values(status=status))


def get_raw(conn: Connection, mid: str):
    return conn.execute(select(raw_messages).where(raw_messages.c.id == mid)).first()


def raw_sender(conn: Connection, mid: str):
    """(source_party, checked) of a kept receipt, without its content; None when unknown."""
    return conn.execute(select(raw_messages.c.source_party, raw_messages.c.checked)
                        .where(raw_messages.c.id == mid)).first()


def pending_raw(conn: Connection, limit: int = 100, received_before: datetime | None = None) -> list[str]:
    """Ids of kept messages not processed yet, oldest first."""
    q = select(raw_messages.c.id).where(raw_messages.c.status == "pending")
    if received_before is not None:
        q = q.where(raw_messages.c.received_at < received_before)
    return conn.execute(q.order_by(raw_messages.c.received_at).limit(limit)).scalars().all()


def quarantine_add(conn: Connection, rows: list[dict]) -> None:
    if rows:
        conn.execute(insert(quarantine), rows)


def _q_key(kind: str, reason: str, detail) -> str:
    return json.dumps([kind, reason, detail], sort_keys=True, default=str)


def quarantine_sync(conn: Connection, mid: str, rows: list[dict], fresh: bool = False) -> int:
    """Make the open quarantine of a receipt equal `rows`; returns how many are open.

    A receipt is one sender's (`message_id`): another party sending the same bytes has its own
    entries, never these. Re-sending or replaying a message re-evaluates all of it: entries it still produces stay
    open (attempts counted), new ones are added, and those it no longer produces are resolved.
    So nothing is held twice, and a fixed alias closes the entries it explains. `fresh` says the
    message was kept in this very transaction: it has no entries yet, nothing to read.
    """
    if fresh:
        quarantine_add(conn, rows)
        return len(rows)
    open_rows = quarantine_open_for(conn, mid)
    have: dict[str, list[int]] = {}
    for r in open_rows:
        have.setdefault(_q_key(r.kind, r.reason, r.detail), []).append(r.id)
    keep, add = [], []
    for row in rows:
        ids = have.get(_q_key(row["kind"], row["reason"], row["detail"]))
        if ids:
            keep.append(ids.pop())
        else:
            add.append(row)
    gone = [i for ids in have.values() for i in ids]
    now = datetime.now(timezone.utc)
    if gone:
        conn.execute(update(quarantine).where(quarantine.c.id.in_(gone)).values(status="resolved", resolved_at=now))
    if keep:
        conn.execute(update(quarantine).where(quarantine.c.id.in_(keep)).values(attempts=quarantine.c.attempts + 1))
    quarantine_add(conn, add)
    return len(keep) + len(add)


def quarantine_messages(conn: Connection, status: str = "open") -> list[str]:
    """Ids of the raw messages with quarantine entries in `status`, oldest first."""
    return conn.execute(select(quarantine.c.message_id).where(quarantine.c.status == status)
                        .group_by(quarantine.c.message_id).order_by(func.min(quarantine.c.id))).scalars().all()


def quarantine_open_for(conn: Connection, mid: str) -> list:
    return conn.execute(select(quarantine).where(quarantine.c.message_id == mid, quarantine.c.status == "open")
                        ).all()


def quarantine_resolve(conn: Connection, mid: str, status: str = "resolved") -> int:
    """Close the open entries of a message (after a successful replay)."""
    return conn.execute(update(quarantine).where(quarantine.c.message_id == mid, quarantine.c.status == "open")
                        .values(status=status, resolved_at=datetime.now(timezone.utc))).rowcount


def quarantine_bump(conn: Connection, mid: str) -> None:
    conn.execute(update(quarantine).where(quarantine.c.message_id == mid, quarantine.c.status == "open")
                 .values(attempts=quarantine.c.attempts + 1))


def quarantine_list(conn: Connection, *, status: str | None = "open", party: str | None = None,
                    limit: int = 100, offset: int = 0) -> list:
    q = select(quarantine).order_by(quarantine.c.id.desc()).limit(limit).offset(offset)
    if status:
        q = q.where(quarantine.c.status == status)
    if party:
        q = q.where(quarantine.c.source_party == party)
    return conn.execute(q).all()


def quarantine_get(conn: Connection, qid: int):
    return conn.execute(select(quarantine).where(quarantine.c.id == qid)).first()


def quarantine_counts(conn: Connection) -> dict[str, int]:
    return dict(conn.execute(select(quarantine.c.status, func.count()).group_by(quarantine.c.status)).all())


# --- trips ---------------------------------------------------------------------------------

def _trip(r) -> Trip:
    return Trip(id=r.id, equipment=r.equipment, booking_ref=r.booking_ref, parties=frozenset(r.parties),
                starts_at=r.starts_at, ends_at=r.ends_at)


# Trip attribution locks (PostgreSQL advisory locks, two-int form: a key space of their own, apart
# from the delivery lease's bigint key). Every lock sits in the server's shared lock table, sized
# max_locks_per_transaction x max_connections (6,400 by default) for all databases together: one
# lock per box made a message of ~6,000 containers fail with "out of shared memory". So a message
# holds at most LOCK_BUCKETS + a few locks, whatever its size:
#   - up to BOX_LOCKS_MAX boxes: each box's bucket in SHARE mode, then each box's own lock;
#   - more boxes: each box's bucket in EXCLUSIVE mode (no lock per box).
# Two messages naming one box therefore always conflict (box lock against box lock, or exclusive
# bucket against any hold of it), and two small messages of different boxes still run side by
# side. Buckets are taken before box locks, each in ascending key order: no deadlock.
LOCK_BUCKETS = 1024
BOX_LOCKS_MAX = 64
_BUCKET_SPACE, _BOX_SPACE = 0x74726970, 0x626F7870   # 'trip', 'boxp': the locks' class ids


def _box_key(box: str) -> int:
    """A box's lock key: stable across processes and hosts (CRC-32 as a signed int4)."""
    k = zlib.crc32(box.encode("utf-8"))
    return k - (1 << 32) if k >= 1 << 31 else k


def _int_array(values: list[int]) -> str:
    return "{" + ",".join(map(str, values)) + "}"   # one literal: cheaper than psycopg's list adaptation


def lock_containers(conn: Connection, equipment: list[str]) -> None:
    """Serialise trip attribution per container across concurrent ingest workers (the lock is
    held to the end of the transaction). SQLite needs none: its writers take the database lock
    at BEGIN."""
    if not _pg(conn) or not equipment:
        return
    keys = sorted({_box_key(box) for box in equipment})
    buckets = sorted({k % LOCK_BUCKETS for k in keys})
    db = _db(conn)
    if len(keys) > BOX_LOCKS_MAX:
        # one round trip; the locks are taken row by row in the order of the (sorted) array
        db.execute("SELECT count(pg_advisory_xact_lock(%s::int, b)) FROM unnest(%s::int[]) AS b",
                   (_BUCKET_SPACE, _int_array(buckets)), prepare=False)
        return
    # UNION ALL runs its branches in order: every bucket, then every box
    db.execute("SELECT count(pg_advisory_xact_lock_shared(%s::int, b)) FROM unnest(%s::int[]) AS b UNION ALL "
               "SELECT count(pg_advisory_xact_lock(%s::int, k)) FROM unnest(%s::int[]) AS k",
               (_BUCKET_SPACE, _int_array(buckets), _BOX_SPACE, _int_array(keys)), prepare=False)


def trips_of(conn: Connection, equipment: str) -> list[Trip]:
    """Every trip of one container, oldest first."""
    rows = conn.execute(select(trips).where(trips.c.equipment == equipment).order_by(trips.c.starts_at)).all()
    return [_trip(r) for r in rows]


def trips_of_many(conn: Connection, equipment: list[str]) -> dict[str, list[Trip]]:
    """Every trip of each container, oldest first, in one round trip (per 500 containers on SQLite);
    plain rows, each distinct party list decoded once."""
    out: dict[str, list[Trip]] = {}
    if not equipment:
        return out
    sql = "SELECT id, equipment, booking_ref, parties, starts_at, ends_at FROM trips WHERE equipment"
    party_sets: dict[str, frozenset] = {}
    # a container's rows all come in one batch, in start order
    for tid, box, bkg, parties, start, end in _rows_in(conn, sql, equipment, " ORDER BY equipment, starts_at"):
        ps = party_sets.get(parties)
        if ps is None:
            ps = party_sets[parties] = frozenset(json.loads(parties) if parties else ())
        trips_of_box = out.get(box)
        if trips_of_box is None:
            trips_of_box = out[box] = []
        trips_of_box.append(_stored_trip(tid, box, bkg, ps, _utc(start), _utc(end) if end else None))
    return out


def _trip_maker():
    """Trip(...) of values read back from the trips table (valid already): the slots are set
    directly, without the frozen dataclass's object.__setattr__ per field."""
    names = ["id", "equipment", "booking_ref", "parties", "starts_at", "ends_at"]
    if [f.name for f in fields(Trip)] != names:   # Trip changed: its own constructor stays right
        return lambda tid, box, bkg, parties, start, end: Trip(
            id=tid, equipment=box, booking_ref=bkg, parties=parties, starts_at=start, ends_at=end)
    new, (s_id, s_box, s_bkg, s_parties, s_start, s_end) = object.__new__, (Trip.__dict__[n].__set__ for n in names)

    def made(tid, box, bkg, parties, start, end) -> Trip:
        t = new(Trip)
        s_id(t, tid)
        s_box(t, box)
        s_bkg(t, bkg)
        s_parties(t, parties)
        s_start(t, start)
        s_end(t, end)
        return t
    return made


_stored_trip = _trip_maker()


def booking_parties(conn: Connection, refs: list[str]) -> dict[str, set[str]]:
    """The parties of each known booking (shipper, forwarder, nominated)."""
    out: dict[str, set[str]] = {}
    if not refs:
        return out
    for ref, shipper, forwarder, nominated in _rows_in(
            conn, "SELECT ref, shipper, forwarder, nominated FROM bookings WHERE ref", refs):
        out[ref] = {shipper, *([forwarder] if forwarder else []), *(json.loads(nominated) if nominated else [])}
    return out


def get_trip(conn: Connection, trip_id: str) -> Trip | None:
    r = conn.execute(select(trips).where(trips.c.id == trip_id)).first()
    return _trip(r) if r else None


def trips_of_booking(conn: Connection, booking_ref: str) -> list[Trip]:
    rows = conn.execute(select(trips).where(trips.c.booking_ref == booking_ref).order_by(trips.c.equipment)).all()
    return [_trip(r) for r in rows]


def create_trip(conn: Connection, trip: Trip, size_type: str | None = None) -> Trip:
    """Create a trip, closing the container's previous open trip just before it starts."""
    conn.execute(update(trips).where(trips.c.equipment == trip.equipment, trips.c.ends_at.is_(None),
                                     trips.c.starts_at < trip.starts_at).values(ends_at=trip.starts_at))
    if trip.ends_at is None:
        # reports can arrive out of order: a trip created after a later one ends where that one starts
        nxt = conn.execute(select(func.min(trips.c.starts_at)).where(
            trips.c.equipment == trip.equipment, trips.c.starts_at > trip.starts_at)).scalar()
        if nxt is not None:
            trip = replace(trip, ends_at=nxt)
    conn.execute(insert(trips).values(id=trip.id, equipment=trip.equipment, booking_ref=trip.booking_ref,
                                      parties=sorted(trip.parties), size_type=size_type, starts_at=trip.starts_at,
                                      ends_at=trip.ends_at, created_at=datetime.now(timezone.utc)))
    return trip


def move_trip_start(conn: Connection, trip_id: str, at: datetime) -> None:
    """Start a trip earlier (an out-of-order report of it arrived late)."""
    conn.execute(update(trips).where(trips.c.id == trip_id, trips.c.starts_at > at).values(starts_at=at))


def save_trips(conn: Connection, before: dict[str, Trip], after: list[Trip], sizes: dict[str, str | None]) -> None:
    """Write a message's trip changes at once: new trips inserted, changed windows updated."""
    pg = _pg(conn)
    stored = (lambda v: v) if pg else _sqlite_time   # a time as the column type writes it
    now = stored(datetime.now(timezone.utc))
    new = [(t.id, t.equipment, t.booking_ref, _JSON(sorted(t.parties)), sizes.get(t.id), stored(t.starts_at),
            stored(t.ends_at), now) for t in after if t.id not in before]
    moved = [(stored(t.starts_at), stored(t.ends_at), t.id) for t in after
             if (old := before.get(t.id)) is not None and (old.starts_at, old.ends_at) != (t.starts_at, t.ends_at)]
    if not (new or moved):
        return
    cur = _db(conn).cursor()
    try:
        if new and pg and len(new) >= _COPY_TRIPS:
            # a first message of many containers opens a trip for each: COPY costs a fraction of
            # executemany's per-row statements; a trip id taken meanwhile fails it alike (unique key)
            with cur.copy(f"COPY trips ({_TRIP_COLS}) FROM STDIN") as copy:
                for row in new:
                    copy.write_row(row)
        elif new:
            sql = f"INSERT INTO trips ({_TRIP_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            cur.executemany(sql.replace("?", "%s") if pg else sql, new)
        if moved:
            sql = "UPDATE trips SET starts_at = ?, ends_at = ? WHERE id = ?"
            cur.executemany(sql.replace("?", "%s") if pg else sql, moved)
    finally:
        cur.close()


_TRIP_COLS = "id, equipment, booking_ref, parties, size_type, starts_at, ends_at, created_at"
_COPY_TRIPS = 50   # new trips in one message from which COPY beats executemany on PostgreSQL


def end_trip(conn: Connection, trip_id: str, at: datetime) -> None:
    conn.execute(update(trips).where(trips.c.id == trip_id, trips.c.ends_at.is_(None)).values(ends_at=at))


def add_trip_parties(conn: Connection, trip_id: str, parties: set[str]) -> None:
    r = conn.execute(select(trips.c.parties).where(trips.c.id == trip_id)).first()
    if r and not parties <= set(r.parties):
        conn.execute(update(trips).where(trips.c.id == trip_id).values(parties=sorted(set(r.parties) | parties)))


# --- consists: which container is on which wagon, train or vessel -----------------------------

def couple(conn: Connection, carrier_kind: str, carrier_id: str, member_kind: str, member_id: str,
           since: datetime, source_party: str) -> None:
    """Put a member (container, wagon) on a carrier (wagon, train, vessel) from `since` on."""
    # a member is on one carrier of a kind at a time: uncouple it from the previous one
    conn.execute(update(consists).where(consists.c.carrier_kind == carrier_kind, consists.c.member_kind == member_kind,
                                        consists.c.member_id == member_id, consists.c.until.is_(None),
                                        consists.c.carrier_id != carrier_id).values(until=since))
    exists = conn.execute(select(consists.c.id).where(
        consists.c.carrier_kind == carrier_kind, consists.c.carrier_id == carrier_id,
        consists.c.member_kind == member_kind, consists.c.member_id == member_id, consists.c.until.is_(None))).first()
    if not exists:
        conn.execute(insert(consists).values(carrier_kind=carrier_kind, carrier_id=carrier_id, member_kind=member_kind,
                                             member_id=member_id, since=since, source_party=source_party))


def uncouple(conn: Connection, carrier_kind: str, carrier_id: str, member_id: str, at: datetime) -> None:
    conn.execute(update(consists).where(consists.c.carrier_kind == carrier_kind, consists.c.carrier_id == carrier_id,
                                        consists.c.member_id == member_id, consists.c.until.is_(None))
                 .values(until=at))


def members(conn: Connection, carrier_kind: str, carrier_id: str, at: datetime) -> list[tuple[str, str]]:
    """(member kind, member id) on a carrier at time `at`."""
    rows = conn.execute(select(consists.c.member_kind, consists.c.member_id).where(
        consists.c.carrier_kind == carrier_kind, consists.c.carrier_id == carrier_id,
        consists.c.since <= at, or_(consists.c.until.is_(None), consists.c.until > at))).all()
    return [(r.member_kind, r.member_id) for r in rows]


def containers_on(conn: Connection, carrier_kind: str, carrier_id: str, at: datetime) -> list[str]:
    """Every container on a carrier at `at`, through wagons as well (train -> wagon -> container)."""
    out, todo, seen = [], [(carrier_kind, carrier_id)], set()
    while todo:
        kind, cid = todo.pop()
        if (kind, cid) in seen:
            continue
        seen.add((kind, cid))
        for mk, mid in members(conn, kind, cid, at):
            if mk == "container":
                out.append(mid)
            else:
                todo.append((mk, mid))
    return sorted(set(out))


def couple_many(conn: Connection, ops: list[tuple]) -> None:
    """Apply a message's consist changes in order, in a few statements.

    `ops` holds ("couple", carrier_kind, carrier_id, member_kind, member_id, since, source_party)
    and ("uncouple", carrier_kind, carrier_id, member_id, at) tuples; the result is the same as
    calling `couple` / `uncouple` one by one: the open rows of the members are read once,
    changed in memory, then closed (one executemany) and added (one executemany).
    """
    if not ops:
        return
    ids = sorted({op[4] if op[0] == "couple" else op[3] for op in ops})
    open_rows: dict[str, list[dict]] = {}   # member id -> its open consist rows (existing or new)
    for i in range(0, len(ids), 500):
        for r in conn.execute(select(consists.c.id, consists.c.carrier_kind, consists.c.carrier_id,
                                     consists.c.member_kind, consists.c.member_id).where(
                consists.c.member_id.in_(ids[i:i + 500]), consists.c.until.is_(None))).all():
            open_rows.setdefault(r.member_id, []).append(
                {"id": r.id, "ck": r.carrier_kind, "cid": r.carrier_id, "mk": r.member_kind})
    closes: list[dict] = []
    added: list[dict] = []
    for op in ops:
        if op[0] == "couple":
            _, ck, cid, mk, mid, since, party = op
            rows = open_rows.setdefault(mid, [])
            exists = False
            for r in list(rows):
                if r["ck"] != ck or r["mk"] != mk:
                    continue
                if r["cid"] != cid:
                    _close(r, since, rows, closes)   # on one carrier of a kind at a time
                else:
                    exists = True
            if not exists:
                new = {"id": None, "ck": ck, "cid": cid, "mk": mk,
                       "row": {"carrier_kind": ck, "carrier_id": cid, "member_kind": mk, "member_id": mid,
                               "since": since, "until": None, "source_party": party}}
                rows.append(new)
                added.append(new["row"])
        else:
            _, ck, cid, mid, at = op
            rows = open_rows.get(mid, [])
            for r in [r for r in rows if r["ck"] == ck and r["cid"] == cid]:
                _close(r, at, rows, closes)
    if closes:
        conn.execute(update(consists).where(consists.c.id == bindparam("rid")).values(until=bindparam("u")),
                     closes)
    if added:
        conn.execute(insert(consists), added)


def _close(r: dict, at: datetime, rows: list[dict], closes: list[dict]) -> None:
    rows.remove(r)
    if r["id"] is None:
        r["row"]["until"] = at          # added by this message: inserted closed
    else:
        closes.append({"rid": r["id"], "u": at})


class Consists:
    """The consists of a message's carriers over its time window, read once, answered in memory."""

    def __init__(self, conn: Connection, carriers: set[tuple[str, str]], lo: datetime, hi: datetime):
        self.rows: dict[tuple[str, str], list[tuple[str, str, datetime, datetime | None]]] = {}
        todo, seen = set(carriers), set()
        while todo:
            batch = sorted(todo - seen)
            seen |= todo
            todo = set()
            by_kind: dict[str, list[str]] = {}
            for kind, cid in batch:
                by_kind.setdefault(kind, []).append(cid)
                self.rows.setdefault((kind, cid), [])
            for kind, cids in by_kind.items():
                for i in range(0, len(cids), 500):
                    for r in conn.execute(select(consists.c.carrier_id, consists.c.member_kind,
                                                 consists.c.member_id, consists.c.since, consists.c.until).where(
                            consists.c.carrier_kind == kind, consists.c.carrier_id.in_(cids[i:i + 500]),
                            consists.c.since <= hi, or_(consists.c.until.is_(None), consists.c.until > lo))).all():
                        self.rows[(kind, r.carrier_id)].append((r.member_kind, r.member_id, r.since, r.until))
                        if r.member_kind != "container":
                            todo.add((r.member_kind, r.member_id))

    def apply(self, ops: list[tuple]) -> None:
        """The message's own consist changes (`couple_many`'s ops, in order), in memory: a file
        that loads boxes onto a train and then reports the train leaving moves those boxes."""
        for op in ops:
            if op[0] == "couple":
                _, ck, cid, mk, mid, since, _party = op
                for key, rows in self.rows.items():   # on one carrier of a kind at a time
                    if key[0] == ck and key[1] != cid:
                        rows[:] = [(k, m, s, since if m == mid and k == mk and u is None and s <= since else u)
                                   for k, m, s, u in rows]
                held = self.rows.setdefault((ck, cid), [])
                if not any(m == mid and k == mk and u is None for k, m, s, u in held):
                    held.append((mk, mid, since, None))
            else:
                _, ck, cid, mid, at = op
                rows = self.rows.get((ck, cid), [])
                rows[:] = [(k, m, s, at if m == mid and u is None and s <= at else u) for k, m, s, u in rows]

    def containers_on(self, carrier_kind: str, carrier_id: str, at: datetime) -> list[str]:
        """Every container on a carrier at `at`, through wagons as well (as `containers_on`)."""
        out, todo, seen = set(), [(carrier_kind, carrier_id)], set()
        while todo:
            key = todo.pop()
            if key in seen:
                continue
            seen.add(key)
            for mk, mid, since, until in self.rows.get(key, ()):
                if since <= at and (until is None or until > at):
                    if mk == "container":
                        out.add(mid)
                    else:
                        todo.append((mk, mid))
        return sorted(out)


def canonical_locations(conn: Connection, codes: list[str]) -> dict[str, str | None]:
    """Outside location code -> canonical ref (UN/LOCODE, else corridor id); None when unknown."""
    return Registry(conn).locations(codes)


# --- the registry as the ingest path reads it ---------------------------------------------------

_MEMOS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()   # engine -> (generation, look-ups)
_MEMOS_LOCK = threading.Lock()
_MEMO_MAX = 100_000   # look-ups kept per database: senders' typos must not grow it without end
_UNSEEN = object()


class Registry:
    """Sender ids, place codes and their time zones, looked up through the alias registry.

    Answers are kept per database (engine) in this process for as long as the registry
    generation stays the same: every alias or party change renews it in its own transaction
    (store.parties.registry_changed), so a change made anywhere counts from the next message on,
    and an unchanged registry costs one read per message. A memo is only ever filled by reads
    made after its generation was read, and a new generation starts an empty one.
    """

    def __init__(self, conn: Connection):
        self.conn = conn
        sql = "SELECT value FROM meta_kv WHERE key = " + ("%s" if _pg(conn) else "?")
        row = _db(conn).execute(sql, (REGISTRY_GENERATION,)).fetchone()
        generation = row[0] if row else None
        with _MEMOS_LOCK:
            held = _MEMOS.get(conn.engine)
            if held is None or held[0] != generation:
                held = _MEMOS[conn.engine] = (generation, {})
        self.memo: dict = held[1]

    def party(self, code: str) -> str | None:
        """The party an outside sender id stands for (an alias, else a party of that id), or None."""
        found = self.memo.get(("party", code), _UNSEEN)
        if found is _UNSEEN:
            found = resolve_alias(self.conn, "party", code) or (code if get_party(self.conn, code) else None)
            self._keep({("party", code): found})
        return found

    def places(self, codes) -> dict[str, tuple[str | None, str | None]]:
        """Outside location code -> (canonical ref, IANA zone); (None, None) when unknown."""
        out, missing = {}, []
        for c in set(codes):
            answer = self.memo.get(("place", c), _UNSEEN)
            if answer is _UNSEEN:
                missing.append(c)
            else:
                out[c] = answer
        if missing:
            folded = {c: fold(c) for c in missing}
            keys = sorted(set(folded.values()))
            sql = ("SELECT a.value, a.target, l.code, l.timezone FROM aliases a "
                   "LEFT OUTER JOIN locations l ON l.id = a.target WHERE a.kind = 'location' AND a.value")
            rows = list(_rows_in(self.conn, sql, keys))
            found = {value: (code or target, zone) for value, target, code, zone in rows}
            answers = {c: found.get(f, (None, None)) for c, f in folded.items()}
            self._keep({("place", c): a for c, a in answers.items()})
            out.update(answers)
        return out

    def _keep(self, answers: dict) -> None:
        if len(self.memo) + len(answers) > _MEMO_MAX:
            self.memo.clear()   # start over rather than grow: the next messages read again
        self.memo.update(answers)

    def locations(self, codes) -> dict[str, str | None]:
        """Outside location code -> canonical ref (UN/LOCODE, else corridor id); None when unknown."""
        return {c: ref for c, (ref, _zone) in self.places(codes).items()}

    def zone(self, code: str) -> str | None:
        """The IANA zone name of the place an outside code stands for, None when unknown."""
        return self.places((code,))[code][1] if code else None


# --- the timetable departure behind a reported call ------------------------------------------

# How far a reported call's time may lie from its departure's time at that place (departs_at at
# the origin, arrives_at at the destination) and still mean it: boxes go on a ferry a day or two
# before it sails and come off a day or two after it berths. A voyage number that recurs inside
# this window (a daily train) names no one departure, and then none is taken.
CALL_WINDOW = timedelta(hours=48)
CALL_CHUNK = (100, 10)   # departure ids and voyage numbers per statement (see _call_rows)

# DCSA modeOfTransport -> the timetable modes it can run as (wagons cross the Caspian on rail ferries)
_RUNS_AS = {"RAIL": frozenset(("rail", "ferry")), "VESSEL": frozenset(("ferry", "feeder", "deep_sea")),
            "BARGE": frozenset(("ferry", "feeder", "deep_sea")), "TRUCK": frozenset(("truck",))}


@dataclass(frozen=True, slots=True)
class _Run:
    """One timetable departure as a call can name it: its ends by location id and by ref."""

    id: str
    voyage: str
    operator: str
    mode: str
    ends: tuple[tuple[str, str, str, datetime], ...]   # (side, location id, ref, time there)


class CallDepartures:
    """The timetable departures a message's transport calls can mean, read at once (one statement
    for up to CALL_CHUNK ids and voyages): those whose id a sender quotes (a DCSA transportCallID,
    as Corridor's own export sends it) and those run by the voyage or train numbers it names."""

    def __init__(self, conn: Connection, ids=(), voyages=()):
        self.by_id: dict[str, _Run] = {}
        self.by_voyage: dict[str, list[_Run]] = {}
        for r in _call_rows(conn, sorted(ids), sorted(voyages)):
            dep_id, voyage, operator, mode, origin, dest, departs, arrives, o_code, d_code = r
            run = _Run(dep_id, voyage, operator, mode, (("origin", origin, o_code or origin, _utc(departs)),
                                                        ("destination", dest, d_code or dest, _utc(arrives))))
            self.by_id[dep_id] = run
            if voyage:
                self.by_voyage.setdefault(voyage, []).append(run)

    def at(self, place: str, voyage: str, side: str | None = None, mode: str | None = None
           ) -> list[tuple[_Run, datetime]]:
        """(departure, its time there) of the voyage's departures that leave (side "origin") or reach
        ("destination"; None: either) `place`, a location id or its ref, by a mode `mode` can run as."""
        modes = _RUNS_AS.get(mode or "")
        out = []
        for run in self.by_voyage.get(voyage, ()):
            if modes is not None and run.mode not in modes:
                continue
            for end, loc_id, ref, when in run.ends:
                if (side is None or end == side) and place in (loc_id, ref):
                    out.append((run, when))
                    break
        return out

    @staticmethod
    def pick(candidates: list[tuple[_Run, datetime]], when: datetime | None, operator: str | None) -> str | None:
        """The one departure the call means: near `when`, the sender's own before another
        operator's; None when none is, or several are (never a guess between two)."""
        hits = [run for run, at in candidates if when is None or abs(at - when) <= CALL_WINDOW]
        if len(hits) > 1:
            hits = [run for run in hits if run.operator == operator]
        return hits[0].id if len(hits) == 1 else None

    def for_call(self, place: str, voyage: str, operator: str | None, *, side: str | None = None,
                 when: datetime | None = None, mode: str | None = None) -> str | None:
        return self.pick(self.at(place, voyage, side, mode), when, operator)


def _call_rows(conn: Connection, ids: list[str], voyages: list[str]) -> list:
    """Departure rows (with their ends' UN/LOCODEs) whose id is in `ids` or voyage in `voyages`:
    the primary key and the voyage index OR-ed, up to CALL_CHUNK of each per statement (a list
    that is empty is left out: SQLite scans the table for `IN ()`).

    PostgreSQL scans the whole table for a longer list, as it must assume that every id matches
    and, before its first ANALYZE, that every voyage runs hundreds of departures (measured on
    the default timetable: 400 ids, or 20 voyages unanalysed, 30-60 ms by scan against 1 ms)."""
    sql = ("SELECT d.id, d.voyage, d.operator, d.mode, d.origin, d.destination, d.departs_at, d.arrives_at, "
           "o.code, t.code FROM departures d LEFT OUTER JOIN locations o ON o.id = d.origin "
           "LEFT OUTER JOIN locations t ON t.id = d.destination WHERE ")
    db, pg = _db(conn), _pg(conn)
    id_n, voyage_n = CALL_CHUNK
    rows, seen = [], set()
    for k in range(max(-(-len(ids) // id_n), -(-len(voyages) // voyage_n))):
        by = {col: part for col, part in (("id", ids[k * id_n:(k + 1) * id_n]),
                                          ("voyage", voyages[k * voyage_n:(k + 1) * voyage_n])) if part}
        if pg:
            found = db.execute(sql + " OR ".join(f"d.{col} = ANY(%s::text[])" for col in by),
                               tuple(pg_text_array(part) for part in by.values()), prepare=False).fetchall()
        else:
            found = db.execute(sql + " OR ".join(f"d.{col} IN ({_in(len(part))})" for col, part in by.items()),
                               [v for part in by.values() for v in part]).fetchall()
        for r in found:
            if r[0] not in seen:   # a departure both quoted and named by its voyage
                seen.add(r[0])
                rows.append(r)
    return rows


def departure_for_call(conn: Connection, location: str, voyage: str | None, operator: str, *,
                       arrival=None, departure=None, window_hours: float = 12.0):
    """The timetable departure a carrier's port call means: the one of that voyage number calling
    there (CallDepartures decides), else the operator's departure arriving at (or leaving) that
    place closest to the given time."""
    from .network import row_to_departure
    from .tables import departures
    loc_id = resolve_alias(conn, "location", location)
    if loc_id is None:
        return None
    if voyage:
        found = CallDepartures(conn, voyages=[voyage]).for_call(loc_id, voyage, operator, when=arrival or departure)
        if found:
            return row_to_departure(conn.execute(select(departures).where(departures.c.id == found)).one())
    when, col = (arrival, departures.c.arrives_at) if arrival else (departure, departures.c.departs_at)
    side = departures.c.destination if arrival else departures.c.origin
    if when is None:
        return None
    w = timedelta(hours=window_hours)
    rows = conn.execute(select(departures).where(side == loc_id, departures.c.operator == operator,
                                                 col >= when - w, col <= when + w)).all()
    best = min(rows, key=lambda r: abs((getattr(r, col.name) - when).total_seconds()), default=None)
    return row_to_departure(best) if best else None
