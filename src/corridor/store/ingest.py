"""Persistence for ingest: raw messages (content-addressed), quarantine, trips and consists."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import datetime, timezone

from sqlalchemy import Connection, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..domain.trips import Trip
from .parties import fold, resolve_alias
from .tables import aliases, bookings, consists, events, locations, quarantine, raw_messages, trips


def content_id(content: bytes) -> str:
    """The content address of a raw message: SHA-256 of its bytes."""
    return hashlib.sha256(content).hexdigest()


def keep_raw(conn: Connection, content: bytes, *, fmt: str, source_party: str, received_at: datetime,
             filename: str | None) -> tuple[str, bool]:
    """Store a raw message once; returns (id, True if it was new)."""
    mid = content_id(content)
    ins = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(raw_messages)
    res = conn.execute(ins.values(id=mid, format=fmt, source_party=source_party, received_at=received_at,
                                  filename=filename, size=len(content), content=content, status="pending",
                                  stored=0, duplicates=0, rejected=0).on_conflict_do_nothing(index_elements=["id"]))
    return mid, res.rowcount == 1


def known_events(conn: Connection, keys: list[str]) -> set[str]:
    """The event natural keys (dedup_key) among `keys` that the log holds already."""
    found: set[str] = set()
    sqlite = conn.dialect.name == "sqlite"
    for i in range(0, len(keys), 500):
        part = keys[i:i + 500]
        if sqlite:   # a plain statement: SQLAlchemy's per-call compile of a 500-item IN costs more
            found.update(k for (k,) in conn.exec_driver_sql(
                f"SELECT dedup_key FROM events WHERE dedup_key IN ({','.join('?' * len(part))})", tuple(part)))
        else:
            found.update(conn.execute(select(events.c.dedup_key).where(events.c.dedup_key.in_(part))).scalars())
    return found


def finish_raw(conn: Connection, mid: str, *, status: str, stored: int, duplicates: int, rejected: int,
               source_party: str | None = None) -> None:
    """Record the outcome of processing; `source_party` (e.g. resolved from the EDIFACT UNB via the
    alias registry) fills in a message kept without a sender, never replaces a known one."""
    values = dict(status=status, stored=raw_messages.c.stored + stored, duplicates=duplicates, rejected=rejected)
    if source_party:
        values["source_party"] = func.coalesce(func.nullif(raw_messages.c.source_party, ""), source_party)
    conn.execute(update(raw_messages).where(raw_messages.c.id == mid).values(**values))


def mark_raw(conn: Connection, mid: str, status: str) -> None:
    conn.execute(update(raw_messages).where(raw_messages.c.id == mid).values(status=status))


def get_raw(conn: Connection, mid: str):
    return conn.execute(select(raw_messages).where(raw_messages.c.id == mid)).first()


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


def quarantine_sync(conn: Connection, mid: str, rows: list[dict]) -> int:
    """Make the open quarantine of a message equal `rows`; returns how many are open.

    Re-sending or replaying a message re-evaluates all of it: entries it still produces stay
    open (attempts counted), new ones are added, and those it no longer produces are resolved.
    So nothing is held twice, and a fixed alias closes the entries it explains.
    """
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


def lock_containers(conn: Connection, equipment: list[str]) -> None:
    """Serialise trip attribution per container across concurrent ingest workers.

    PostgreSQL: transaction-scoped advisory locks, taken in sorted order (no deadlock between
    two messages). SQLite needs none: its writers already take the database lock at BEGIN.
    """
    if conn.dialect.name != "postgresql":
        return
    for box in sorted(set(equipment)):
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext(%(k)s))", {"k": "trip:" + box})


def trips_of(conn: Connection, equipment: str) -> list[Trip]:
    """Every trip of one container, oldest first."""
    rows = conn.execute(select(trips).where(trips.c.equipment == equipment).order_by(trips.c.starts_at)).all()
    return [_trip(r) for r in rows]


def trips_of_many(conn: Connection, equipment: list[str]) -> dict[str, list[Trip]]:
    """Every trip of each container, oldest first, in one round trip per 500 containers."""
    out: dict[str, list[Trip]] = {}
    if conn.dialect.name == "sqlite":
        return _trips_of_many_sqlite(conn, equipment)
    for i in range(0, len(equipment), 500):
        rows = conn.execute(select(trips).where(trips.c.equipment.in_(equipment[i:i + 500]))
                            .order_by(trips.c.equipment, trips.c.starts_at)).all()
        for r in rows:
            out.setdefault(r.equipment, []).append(_trip(r))
    return out


def _trips_of_many_sqlite(conn: Connection, equipment: list[str]) -> dict[str, list[Trip]]:
    """`trips_of_many` on SQLite: plain rows, each distinct party list decoded once."""
    out: dict[str, list[Trip]] = {}
    party_sets: dict[str, frozenset] = {}
    utc = timezone.utc
    for i in range(0, len(equipment), 500):
        part = equipment[i:i + 500]
        for tid, box, bkg, parties, start, end in conn.exec_driver_sql(
                "SELECT id, equipment, booking_ref, parties, starts_at, ends_at FROM trips WHERE equipment IN "
                f"({','.join('?' * len(part))}) ORDER BY equipment, starts_at", tuple(part)):
            ps = party_sets.get(parties)
            if ps is None:
                ps = party_sets[parties] = frozenset(json.loads(parties) if parties else ())
            out.setdefault(box, []).append(Trip(
                id=tid, equipment=box, booking_ref=bkg, parties=ps,
                starts_at=datetime.fromisoformat(start).replace(tzinfo=utc),
                ends_at=datetime.fromisoformat(end).replace(tzinfo=utc) if end else None))
    return out


def booking_parties(conn: Connection, refs: list[str]) -> dict[str, set[str]]:
    """The parties of each known booking (shipper, forwarder, nominated)."""
    out: dict[str, set[str]] = {}
    for i in range(0, len(refs), 500):
        for b in conn.execute(select(bookings.c.ref, bookings.c.shipper, bookings.c.forwarder, bookings.c.nominated)
                              .where(bookings.c.ref.in_(refs[i:i + 500]))).all():
            out[b.ref] = {b.shipper, *([b.forwarder] if b.forwarder else []), *(b.nominated or [])}
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
    now = datetime.now(timezone.utc)
    new = [{"id": t.id, "equipment": t.equipment, "booking_ref": t.booking_ref, "parties": sorted(t.parties),
            "size_type": sizes.get(t.id), "starts_at": t.starts_at, "ends_at": t.ends_at, "created_at": now}
           for t in after if t.id not in before]
    if new:
        conn.execute(insert(trips), new)
    moved = [{"tid": t.id, "s": t.starts_at, "e": t.ends_at} for t in after
             if (old := before.get(t.id)) is not None and (old.starts_at, old.ends_at) != (t.starts_at, t.ends_at)]
    if moved:
        conn.execute(update(trips).where(trips.c.id == bindparam("tid"))
                     .values(starts_at=bindparam("s"), ends_at=bindparam("e")), moved)


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
    folded = {c: fold(c) for c in codes}
    found: dict[str, str] = {}
    keys = sorted(set(folded.values()))
    for i in range(0, len(keys), 500):
        for r in conn.execute(select(aliases.c.value, aliases.c.target, locations.c.code)
                              .select_from(aliases.outerjoin(locations, locations.c.id == aliases.c.target))
                              .where(aliases.c.kind == "location", aliases.c.value.in_(keys[i:i + 500]))).all():
            found[r.value] = r.code or r.target
    return {c: found.get(f) for c, f in folded.items()}


def departure_for_call(conn: Connection, location: str, voyage: str | None, operator: str, *,
                       arrival=None, departure=None, window_hours: float = 12.0):
    """The timetable departure a carrier's port call means: the same voyage number, else the
    operator's departure arriving at (or leaving) that place closest to the given time."""
    from datetime import timedelta

    from .network import row_to_departure
    from .tables import departures
    loc_id = resolve_alias(conn, "location", location)
    if loc_id is None:
        return None
    if voyage:
        r = conn.execute(select(departures).where(departures.c.voyage == voyage, or_(
            departures.c.origin == loc_id, departures.c.destination == loc_id))).first()
        if r:
            return row_to_departure(r)
    when, col = (arrival, departures.c.arrives_at) if arrival else (departure, departures.c.departs_at)
    side = departures.c.destination if arrival else departures.c.origin
    if when is None:
        return None
    w = timedelta(hours=window_hours)
    rows = conn.execute(select(departures).where(side == loc_id, departures.c.operator == operator,
                                                 col >= when - w, col <= when + w)).all()
    best = min(rows, key=lambda r: abs((getattr(r, col.name) - when).total_seconds()), default=None)
    return row_to_departure(best) if best else None
