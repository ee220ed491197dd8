"""The append-only event log: exactly-once append on the natural key, and reads back to Events."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Iterable, Sequence

from sqlalchemy import Connection, Select, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..domain.events import Classifier, Event, EventKind, TransportCall, event_keys, reasserted_key
from .tables import events

_COLS = [c.name for c in events.columns if c.name != "seq"]


def party_set(parties: Iterable[str]) -> str:
    """Encode a party set for the `parties` column: ' A B ' (exact-token match with LIKE '% A %')."""
    items = sorted({p for p in parties if p})
    return " " + " ".join(items) + " " if items else " "


def event_row(e: Event, received_at: datetime, keys: tuple[str, str] | None = None) -> dict:
    """The table row of an Event (keys computed once, here or by the caller that already has them)."""
    tc = e.transport_call
    off = e.event_time.utcoffset()
    milestone, dedup = keys or event_keys(e)
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
        "size_type": e.size_type,
        "empty": e.empty,
        "trip_id": e.trip_id,
        "booking_ref": e.reference("BKG"),
        "mode": tc.mode if tc else None,
        "voyage": tc.voyage if tc else None,
        "service": tc.service if tc else None,
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


def reassertions(conn: Connection, items: Sequence[tuple[Event, tuple[str, str]]], known: set[str],
                 made_at: datetime | None = None) -> dict[int, str]:
    """Index in `items` -> the report key to store it under, for the estimates whose report key
    (`known`: those the log holds) was given before but that their sender now re-asserts: made
    after its current estimate for the milestone and differing from it (A, then B, then A again).

    Everything else with a known key stays a duplicate: a re-send, an old report arriving late,
    the current estimate made again, or another party reporting what a sender said (an export
    posted back). `made_at` stands in for a report without a creation time (Corridor's own ETAs);
    a sender's other reports without one are duplicates. Container estimates only: the query
    runs on the container index."""
    cand = [(i, e, k) for i, (e, k) in enumerate(items)
            if k[1] in known and e.classifier is Classifier.EST and e.equipment]
    if not cand:
        return {}
    c = events.c
    rows = conn.execute(
        select(c.milestone_key, c.source_party, c.event_time, c.created_at, c.received_at)
        .where(c.equipment.in_(sorted({e.equipment for _, e, _ in cand})),
               c.milestone_key.in_(sorted({k[0] for _, _, k in cand})),
               c.classifier == Classifier.EST.value, c.source_party.in_(sorted({e.source_party for _, e, _ in cand})))
        .order_by(c.seq)).all()
    current: dict[tuple[str, str], tuple[datetime, datetime]] = {}   # (milestone, sender) -> (time, made)
    for r in rows:
        made = r.created_at or r.received_at
        held = current.get((r.milestone_key, r.source_party))
        if held is None or made >= held[1]:    # the one made last is current (append order on a tie)
            current[(r.milestone_key, r.source_party)] = (r.event_time, made)
    out: dict[int, str] = {}
    for i, e, (milestone, dedup) in cand:
        held = current.get((milestone, e.source_party))
        made = e.created_at or made_at
        if held is None or made is None or e.event_time == held[0] or made <= held[1]:
            continue
        out[i] = reasserted_key(dedup, made)
    return out


def _insert(conn: Connection):
    return (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(events)


def append(conn: Connection, batch: Sequence[Event], received_at: datetime | None = None,
           keys: Sequence[tuple[str, str]] | None = None, checked: bool = False
           ) -> tuple[list[tuple[int, Event]], list[Event]]:
    """Append events; return (stored as (seq, event), duplicates). Re-sent events never duplicate.

    `keys`, when given, are the events' `event_keys` in the same order (the ingest path has them
    already). The database decides what is new, so two workers appending the same event at once
    still store it once. `checked` says the caller looked the keys up already in this same
    transaction (on SQLite the write lock is held since BEGIN IMMEDIATE, so nobody added them since).
    """
    if not batch:
        return [], []
    received_at = received_at or datetime.now(timezone.utc)
    if keys is None:
        keys = [event_keys(e) for e in batch]
    picked: list[tuple[Event, tuple[str, str]]] = []
    seen: dict[str, Event] = {}
    in_batch_dups: list[Event] = []
    for e, k in zip(batch, keys):
        if k[1] in seen:
            in_batch_dups.append(e)
            continue
        seen[k[1]] = e
        picked.append((e, k))
    if conn.dialect.name == "sqlite":
        stored = _append_sqlite(conn, picked, seen, received_at, checked)
    elif conn.dialect.name == "postgresql" and len(picked) >= 200:
        stored = _append_pg_copy(conn, picked, seen, received_at, checked)
    elif conn.dialect.name == "postgresql" and _COLS == _SQLITE_COLS:
        stored = _append_pg_values(conn, picked, seen, received_at)
    else:
        if conn.dialect.name == "postgresql":
            _claim_seqs(conn.connection.driver_connection)
        rows = [event_row(e, received_at, k) for e, k in picked]
        stmt = _insert(conn).on_conflict_do_nothing(index_elements=["dedup_key"]).returning(
            events.c.seq, events.c.dedup_key)
        stored = [(seq, seen[key]) for seq, key in conn.execute(stmt, rows).all()]
        stored.sort(key=lambda t: t[0])
    if len(stored) < len(seen):
        got = {id(e) for _, e in stored}
        dups = in_batch_dups + [e for e in seen.values() if id(e) not in got]
    else:
        dups = in_batch_dups
    return stored, dups


_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"   # SQLAlchemy's own SQLite DATETIME format: keep them equal
_TIME_COLS = {"event_time", "created_at", "received_at"}
_JSON_COLS = {"refs", "extra"}
_UTC = timezone.utc
# JSONText's encoding (json.dumps with these options), built once: dumps builds an encoder per call
_JSON = json.JSONEncoder(separators=(",", ":"), default=str).encode


def _sqlite_value(col: str, v):
    if v is None:
        return None
    if col in _TIME_COLS:
        return v.astimezone(timezone.utc).strftime(_SQLITE_TIME)
    if col in _JSON_COLS:
        return json.dumps(v, separators=(",", ":"), default=str)
    return v


def _sqlite_time(v: datetime | None) -> str | None:
    """The stored text of an aware time: UTC in SQLAlchemy's SQLite format (same as _SQLITE_TIME)."""
    if v is None:
        return None
    return v.astimezone(_UTC).isoformat(" ", "microseconds")[:-6]   # less the "+00:00" of UTC


# the SQLite row is built straight as a tuple in this column order (checked against the table)
_SQLITE_COLS = ["dedup_key", "milestone_key", "kind", "code", "classifier", "event_time", "event_offset",
                "location", "equipment", "size_type", "empty", "trip_id", "booking_ref", "mode", "voyage",
                "service", "vehicle", "departure_id", "facility_code", "facility_type", "wagon", "refs", "lat",
                "lon", "source_party", "parties", "message_id", "created_at", "received_at", "event_id", "reason",
                "extra"]


def _sqlite_tuples(picked: list[tuple[Event, tuple[str, str]]], received_at: datetime) -> list[tuple]:
    """Rows ready for sqlite3 executemany, equal to `_sqlite_value` over `event_row`."""
    if _COLS != _SQLITE_COLS:   # the table changed: the generic (slower) way stays right
        return [tuple(_sqlite_value(c, r[c]) for c in _COLS)
                for r in (event_row(e, received_at, k) for e, k in picked)]
    return _rows(picked, _sqlite_time(received_at), _sqlite_time)


def _rows(picked: list[tuple[Event, tuple[str, str]]], received, time) -> list[tuple]:
    """The rows of events in _SQLITE_COLS order, equal to `event_row`'s values with JSON as text and
    each time passed through `time` (SQLite: its stored text; PostgreSQL: ISO 8601 with the offset)."""
    row = _row_maker(received, time)
    return [row(e, milestone, dedup) for e, (milestone, dedup) in picked]


def _row_maker(received, time):
    """A function (event, milestone key, dedup key) -> the event's row, as `_rows` makes them.

    The texts a batch repeats (party sets, references, extras, offsets, created times) are made
    once per maker: one maker serves one batch."""
    party_sets: dict = {}
    offsets: dict = {}
    extra_texts: dict = {}    # (items, value types) of a plain extra -> JSON text
    made: dict = {}       # created_at -> its stored form: often one per message
    kinds, classifiers, plain, encode, refs_json = _KIND_VALUES, _CLASSIFIER_VALUES, _PLAIN, _JSON, _refs_json

    def row(e: Event, milestone: str, dedup: str) -> tuple:
        tc = e.transport_call
        t = e.event_time
        tz = t.tzinfo
        off = offsets.get(tz)
        if off is None:
            o = t.utcoffset()
            off = int(o.total_seconds() // 60) if o else 0
            if type(tz) is timezone:   # a fixed offset; a zone's offset changes with the date (DST)
                offsets[tz] = off
        created = e.created_at
        if time is not None:
            when = time(t)
            if created is t:   # many senders stamp both alike
                created = when
            elif created is not None:
                c = made.get(created)
                if c is None:
                    c = made[created] = time(created)
                created = c
            t = when
        bkg = wgn = None
        refs = e.references
        for k, v in refs:
            if k == "BKG" and bkg is None:
                bkg = v
            elif k == "WGN" and wgn is None:
                wgn = v
        refs_text = refs_json(refs) if refs else None
        extra = e.extra
        if extra:
            types = tuple(map(type, extra.values()))
            if plain.issuperset(types):   # equal keys then mean equal JSON (not so for 1/True, 0.0/-0.0)
                key = (tuple(extra.items()), types)
                text = extra_texts.get(key)
                if text is None:
                    text = extra_texts[key] = encode(extra)
                extra = text
            else:
                extra = encode(extra)
        else:
            extra = None
        pkey = (e.parties, e.source_party)
        ps = party_sets.get(pkey)
        if ps is None:
            ps = party_sets[pkey] = party_set(e.parties | {e.source_party})
        if tc is not None:
            mode, voyage, service, vehicle, dep, fac, ftype, wagon = (
                tc.mode, tc.voyage, tc.service, tc.vehicle, tc.departure_id, tc.facility_code, tc.facility_type,
                tc.wagon or wgn)
        else:
            mode = voyage = service = vehicle = dep = fac = ftype = None
            wagon = wgn
        return (dedup, milestone, kinds[e.kind], e.code, classifiers[e.classifier], t, off, e.location,
                e.equipment, e.size_type, e.empty, e.trip_id, bkg, mode, voyage, service, vehicle, dep, fac, ftype,
                wagon, refs_text, e.lat, e.lon, e.source_party or "", ps, e.message_id, created, received, e.event_id,
                e.reason, extra)
    return row


_PLAIN = frozenset((str, int, bool, type(None)))
_KIND_VALUES = {k: k.value for k in EventKind}
_CLASSIFIER_VALUES = {c: c.value for c in Classifier}
_QUOTE = json.encoder.encode_basestring_ascii   # a string as _JSON writes it (ASCII, escaped)


def _refs_json(refs) -> str:
    """`_JSON` of the references as [[kind, value], ...], written directly: the encoder's set-up
    per call costs several times the text itself. Anything but pairs of strings goes through it."""
    try:
        if len(refs) == 1:   # the usual: one booking or bill
            (kind, value), = refs
            return f"[[{_QUOTE(kind)},{_QUOTE(value)}]]"
        return "[" + ",".join([f"[{_QUOTE(kind)},{_QUOTE(value)}]" for kind, value in refs]) + "]"
    except (TypeError, ValueError):   # not a string, not a pair
        return _JSON([list(r) for r in refs])


def _append_sqlite(conn: Connection, picked: list[tuple[Event, tuple[str, str]]], seen: dict,
                   received_at: datetime, checked: bool = False) -> list[tuple[int, Event]]:
    """SQLite fast path: the write lock is held from BEGIN IMMEDIATE, so a key check followed by a
    plain executemany is race-free, and new rowids are consecutive after the current maximum.
    The statements go to the DB-API connection of the transaction (SQLAlchemy's execution
    machinery costs more than they do)."""
    db = conn.connection.driver_connection
    keys = [] if checked else list(seen)
    existing: set[str] = set()
    for i in range(0, len(keys), 500):
        part = keys[i:i + 500]
        existing.update(k for (k,) in db.execute(
            f"SELECT dedup_key FROM events WHERE dedup_key IN ({','.join('?' * len(part))})", part))
    new = [p for p in picked if p[1][1] not in existing] if existing else picked
    if not new:
        return []
    first = (db.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0] or 0) + 1
    db.executemany(_SQLITE_INSERT, _sqlite_tuples(new, received_at))
    return [(first + i, e) for i, (e, _k) in enumerate(new)]


_SQLITE_INSERT = f"INSERT INTO events ({','.join(_COLS)}) VALUES ({','.join('?' * len(_COLS))})"


def _append_pg_copy(conn: Connection, picked: list[tuple[Event, tuple[str, str]]], seen: dict,
                    received_at: datetime, checked: bool = False) -> list[tuple[int, Event]]:
    """PostgreSQL bulk path: COPY into a session temp table, then one INSERT .. SELECT .. ON CONFLICT
    DO NOTHING RETURNING — the database still decides what is new, at COPY speed.

    `checked` (the caller found none of the keys in this transaction): COPY straight into the log
    with seqs drawn beforehand, under a savepoint. Should another writer have added one of the keys
    since, the COPY fails on the unique key, the savepoint undoes it and the way above decides."""
    if _COLS == _SQLITE_COLS:
        # times go as ISO 8601 text with their offset (the same instant): psycopg's own datetime
        # adaptation costs more than the rest of the row together
        rows = _rows(picked, received_at.isoformat(), datetime.isoformat)
    else:   # the table changed: the generic (slower) way stays right
        rows = [[_pg_value(c, r[c]) for c in _COLS] for r in (event_row(e, received_at, k) for e, k in picked)]
    raw = conn.connection.driver_connection
    if checked:
        import psycopg
        with raw.cursor() as cur:
            seqs = _draw_seqs(cur, len(rows))
            try:
                with raw.transaction():   # a savepoint: the enclosing transaction stays usable
                    with cur.copy(_COPY_IN) as copy:
                        write = copy.write_row
                        for n, r in zip(seqs, rows):
                            write((n, *r))
                return [(n, e) for n, (e, _k) in zip(seqs, picked)]
            except psycopg.errors.UniqueViolation:
                pass
    return _merge_pg(raw, rows, seen)


_COPY_IN = f"COPY events (seq,{','.join(_COLS)}) FROM STDIN"
_VALUES_ROW = "(" + ",".join(["%s"] * len(_COLS)) + ")"


def _append_pg_values(conn: Connection, picked: list[tuple[Event, tuple[str, str]]], seen: dict,
                      received_at: datetime) -> list[tuple[int, Event]]:
    """PostgreSQL, a small batch (an MQTT fix, an API post): one INSERT .. VALUES .. ON CONFLICT DO
    NOTHING on the driver, the rows made as for COPY (times and JSON as text). Through SQLAlchemy's
    insert, adapting each value cost 1.7 ms for 20 events, more than the rest of the message."""
    rows = _rows(picked, received_at.isoformat(), datetime.isoformat)
    raw = conn.connection.driver_connection
    _claim_seqs(raw)
    sql = (f"INSERT INTO events ({','.join(_COLS)}) VALUES {','.join([_VALUES_ROW] * len(rows))} "
           "ON CONFLICT (dedup_key) DO NOTHING RETURNING seq, dedup_key")
    # rows take their seqs in VALUES order: sorted by seq, the stored keep the batch's order
    out = [(seq, seen[key]) for seq, key in raw.execute(sql, [v for r in rows for v in r]).fetchall()]
    out.sort(key=lambda t: t[0])
    return out


def _draw_seqs(cur, n: int) -> list[int]:
    """`n` new seqs of the event log, increasing (the horizon claimed first: `_claim_seqs`)."""
    _claim_seqs(cur)
    # MATERIALIZED: inlined, the sequence's name would be looked up again for every row
    cur.execute("WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence('events', 'seq')::regclass AS seq) "
                "SELECT nextval(s.seq) FROM s, generate_series(1, %s)", (n,))
    return [n for (n,) in cur.fetchall()]


def _merge_pg(raw, rows: list, seen: dict) -> list[tuple[int, Event]]:
    """Rows (without seq) into the log through a session temp table: the database decides what is
    new (ON CONFLICT DO NOTHING); returns (seq, event) of those stored, in seq order."""
    with raw.cursor() as cur:
        _claim_seqs(cur)   # the INSERT below draws seqs: outside the caller's (undone) savepoint
        cur.execute("SELECT to_regclass('pg_temp._events_in')")
        if cur.fetchone()[0] is None:
            cur.execute(f"CREATE TEMP TABLE _events_in AS SELECT {','.join(_COLS)} FROM events WITH NO DATA")
            cur.execute("ALTER TABLE _events_in ADD COLUMN ord integer")
        with cur.copy(f"COPY _events_in ({','.join(_COLS)},ord) FROM STDIN") as copy:
            write = copy.write_row
            for i, r in enumerate(rows):
                write((*r, i))
        cur.execute(f"INSERT INTO events ({','.join(_COLS)}) SELECT {','.join(_COLS)} FROM _events_in "
                    "ORDER BY ord ON CONFLICT (dedup_key) DO NOTHING RETURNING seq, dedup_key")
        out = [(seq, seen[key]) for seq, key in cur.fetchall()]
        cur.execute("TRUNCATE _events_in")
    out.sort(key=lambda t: t[0])
    return out


def streams(conn: Connection, expected: int) -> bool:
    """True when `Stream` is the way to append about `expected` checked events on `conn`."""
    return conn.dialect.name == "postgresql" and expected >= 200 and _COLS == _SQLITE_COLS


class Stream:
    """Append events to the PostgreSQL log while the caller is still deciding the next ones.

    The ingest path attributes a message's events one by one in memory; each decided event's row
    goes down an open COPY at once, so PostgreSQL inserts and indexes rows on its core while
    Python works out the next ones on this one, instead of one after the other. The outcome is
    `append(conn, events, received_at, keys, checked=True)`'s: seqs drawn beforehand (for
    `expected` events, at most: the caller may hold some back) in append order, straight into
    the log under a savepoint; should another writer have added one of the keys meanwhile, the
    savepoint undoes the COPY and the temp-table way decides. The caller must not use the
    connection between `__enter__` and `__exit__`.

        with Stream(conn, received_at, len(events)) as log:
            for e, keys in ...:
                log.add(e, keys)
        stored, duplicates = log.result()
    """

    def __init__(self, conn: Connection, received_at: datetime, expected: int):
        self.raw = conn.connection.driver_connection
        self.expected = expected
        self.row = _row_maker(received_at.isoformat(), datetime.isoformat)
        self.rows: list[tuple] = []
        self.seen: dict[str, Event] = {}
        self.dups: list[Event] = []
        self.stored: list[tuple[int, Event]] | None = None

    def __enter__(self) -> "Stream":
        from contextlib import ExitStack
        self._stack = stack = ExitStack()
        cur = stack.enter_context(self.raw.cursor())
        self.seqs = _draw_seqs(cur, self.expected)
        stack.enter_context(self.raw.transaction())   # a savepoint: the enclosing transaction stays usable
        self._write = stack.enter_context(cur.copy(_COPY_IN)).write_row
        return self

    def add(self, e: Event, keys: tuple[str, str]) -> None:
        """Append one event (its `event_keys`); a key already added this time is a duplicate."""
        milestone, dedup = keys
        if dedup in self.seen:
            self.dups.append(e)
            return
        self.seen[dedup] = e
        r = self.row(e, milestone, dedup)
        self._write((self.seqs[len(self.rows)],) + r)   # IndexError past `expected`: the COPY is undone
        self.rows.append(r)

    def __exit__(self, kind, value, tb) -> bool:
        import psycopg
        if kind is not None:   # the caller failed: the COPY is cancelled, the savepoint undone
            return self._stack.__exit__(kind, value, tb)
        try:
            self._stack.__exit__(None, None, None)
        except psycopg.errors.UniqueViolation:
            self.stored = _merge_pg(self.raw, self.rows, self.seen)
        else:
            self.stored = [(n, e) for n, e in zip(self.seqs, self.seen.values())]
        return False

    def result(self) -> tuple[list[tuple[int, Event]], list[Event]]:
        """(stored as (seq, event), duplicates), as `append` returns them."""
        if len(self.stored) < len(self.seen):
            got = {id(e) for _, e in self.stored}
            return self.stored, self.dups + [e for e in self.seen.values() if id(e) not in got]
        return self.stored, self.dups


# ---- the read horizon ------------------------------------------------------------------------
# Readers that page by seq (the live stream, Last-Event-ID, the queue's `cursor`, /v2/events in seq
# order) may hand out a seq only when no transaction that could still commit a lower one is in
# flight. SQLite has one writer at a time (BEGIN IMMEDIATE; seqs are MAX(seq)+1 under that lock),
# so its seqs commit in order and everything committed is below the horizon. PostgreSQL draws seqs
# from a sequence outside transactions: a large message draws low seqs, a small one drawn after it
# commits first, and a reader at `seq > last` jumps past the large one for good.
#
# The way chosen: each PostgreSQL append, *before* it draws a seq, holds a transaction-scoped shared
# advisory lock whose key is the sequence's last value + 1 at that moment, a lower bound of every
# seq it will draw. A reader reads the sequence's last value S, then the keys still held: every
# seq <= S was drawn before, so its writer held its key before too; if that writer is still in
# flight its key (<= the seq) is listed, and if it is not, it has committed (visible to the
# reader's next statement, READ COMMITTED) or rolled back (a hole for good). So
# horizon = min(S, lowest key held - 1). A rolled-back append releases its key at once, so its
# hole holds nobody up. (It needs the sequence to hand out values in order, CACHE 1 as the serial
# column's is: with a per-session cache a value below S could still be handed out after S.)
# Cost: one statement per append for the writer; two for a reader, whatever the log's size.
# Not chosen: (a) the writer's xid (pg_current_xact_id) with `xid < pg_snapshot_xmin(..)`: xids are
# assigned at a transaction's first write, not when it draws seqs, so a transaction with a lower
# xid can draw higher seqs than one still in flight, commit first and pass the filter: a seq
# cursor would still skip; it would need an (xid, seq) cursor, not the seq the API hands out.
# (b) waiting at each seq hole for a bounded time: holes are everyday (every duplicate an
# ON CONFLICT append burns a seq, every rollback) and would stall every stream for the timeout,
# while a message that takes longer than the timeout (5,000 boxes with their tracking steps)
# would still be skipped.
_SEQ_LOCK = 0x73657173   # 'seqs': class id of the keys (the two-int advisory lock form, its own key space)
_LAST_SEQ = "COALESCE(pg_sequence_last_value(pg_get_serial_sequence('events', 'seq')::regclass), 0)"
# the key is the bound's low 32 bits (an int4); the reader restores the bound next to S
_CLAIM = f"SELECT pg_advisory_xact_lock_shared({_SEQ_LOCK}, ({_LAST_SEQ} + 1)::bit(32)::int)"
_HELD = ("SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND classid = %s AND objsubid = 2 "
         "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")


def _claim_seqs(cur) -> None:
    """Before an append draws seqs on PostgreSQL: hold the lower bound of what it will draw until
    the transaction ends (`horizon`). Taken outside any savepoint the append undoes, so it stays
    held while the append's other way (`_merge_pg`) draws again."""
    cur.execute(_CLAIM)


def horizon(conn: Connection) -> int | None:
    """The highest seq below which (itself included) every event that will ever be stored is
    committed now; None on SQLite, where that is every committed seq. Read it first, then the
    rows (`seq <= horizon`) in a later statement."""
    if conn.dialect.name != "postgresql":
        return None
    db = conn.connection.driver_connection
    last = db.execute(f"SELECT {_LAST_SEQ}").fetchone()[0]
    low = last
    for (objid,) in db.execute(_HELD, (_SEQ_LOCK,)).fetchall():
        # the key's 32 bits, taken as the bound nearest `last` (bounds held are within 2**31 of it)
        d = (int(objid) - last) % (1 << 32)
        bound = last + (d - (1 << 32) if d >= 1 << 31 else d)
        low = min(low, bound - 1)
    return low


def head(conn: Connection) -> int:
    """Where a reader that starts now begins: every event after it is yet to come or committed
    later (the horizon on PostgreSQL, the newest seq on SQLite; 0 for an empty log)."""
    h = horizon(conn)
    if h is not None:
        return max(h, 0)
    from sqlalchemy import func
    return conn.execute(select(func.coalesce(func.max(events.c.seq), 0))).scalar_one()


def _pg_value(col: str, v):
    if v is not None and col in _JSON_COLS:
        return _JSON(v)
    return v


def row_to_event(r) -> Event:
    """The Event of a stored row, with the sender's UTC offset restored."""
    m = r._mapping
    tz = timezone(timedelta(minutes=m["event_offset"]))
    tc = None
    if m["mode"] or m["voyage"] or m["vehicle"] or m["departure_id"] or m["facility_code"] or m["service"]:
        tc = TransportCall(mode=m["mode"] or "", location=m["location"], facility_code=m["facility_code"],
                           facility_type=m["facility_type"], voyage=m["voyage"], service=m["service"],
                           vehicle=m["vehicle"], departure_id=m["departure_id"], wagon=m["wagon"])
    return Event(
        kind=EventKind(m["kind"]), code=m["code"], classifier=Classifier(m["classifier"]),
        event_time=m["event_time"].astimezone(tz), location=m["location"], equipment=m["equipment"],
        size_type=m["size_type"], empty=m["empty"], transport_call=tc,
        references=tuple(tuple(x) for x in (m["refs"] or [])), trip_id=m["trip_id"],
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
