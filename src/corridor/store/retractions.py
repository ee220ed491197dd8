"""Retracted events (DCSA 3.0 `isRetracted`): a sender withdraws an event it sent, by its eventID.

The event log is append-only, so a retraction is kept beside it (`event_retractions`: one row per
sender and eventID) and the reads leave out the events it names (`visible`): the timelines, the
current status and GET /v2/events stop showing them, the log keeps them for audit. A retraction
names the event by the sender's own eventID, so it withdraws only that sender's events: another
party's eventID is never touched. Out of order is normal: a retraction that comes before its event
is kept, and the event is not stored when it comes (its raw message keeps it, as every message).

The readers of the whole log (the KPIs' facts, data quality, the IFTSTA export, the ETA's observed
history, a subscription's replay, the live stream) take `visible_if`: no condition while no
retraction is kept, so they cost what they did before. The live stream announces a retraction of
an event it may have shown; a webhook row still queued for a withdrawn event is held back
(`AFTER_WITHDRAW`).

`take` runs in the ingest transaction. The trips that lose an event have their status folded again
from the events still standing and their stored timeline set aside (`AFTER_RETRACT`: tracking
registers the status step; the timeline is made from the events at its next read or event).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Callable

from sqlalchemy import Connection, exists, select

from ..domain.events import Event
from .events import row_to_event, select_events
from .tables import event_retractions, events

if TYPE_CHECKING:
    from ..ingest.results import ParseResult, Retraction

# Called in the ingest transaction with the trips whose events a retraction withdrew (sorted):
# tracking.status registers the fold of their status rows from the events still standing.
AFTER_RETRACT: list[Callable[[Connection, list[str]], None]] = []
# Called in the ingest transaction with the sender and the (seq, eventID, trip) of the stored events
# its retractions withdrew: tracking.hooks registers the webhooks' (their rows still queued held back).
AFTER_WITHDRAW: list[Callable[[Connection, str, list[tuple[int, str, str | None]]], None]] = []

# the stored timeline of a trip that lost an event: a row no read takes as current and no fold
# builds on (the trip is folded again from its events at its next one); its last_seq is minus the
# retraction's id, so the kept copies of every process (compared by head row) are stale at once
SET_ASIDE = "retracted"

_CHUNK = 500


def visible(ev=events):
    """SQL condition: the event row is not withdrawn by a retraction of its own sender."""
    r = event_retractions.c
    return ~exists().where(r.source_party == ev.c.source_party, r.event_id == ev.c.event_id)


# `visible` for plain SQL over the events table (store.tracking.event_facts)
VISIBLE_SQL = ("NOT EXISTS (SELECT 1 FROM event_retractions r "
               "WHERE r.source_party = events.source_party AND r.event_id = events.event_id)")


def any_kept(conn: Connection) -> bool:
    """Whether any retraction is kept (one probe of the primary key)."""
    return conn.execute(select(event_retractions.c.id).limit(1)).first() is not None


def visible_if(conn: Connection, ev=events):
    """`visible(ev)` when a retraction is kept, else None: the readers of the whole log (KPIs, the
    ETA's history) then run the query they ran before retractions, at its cost."""
    return visible(ev) if any_kept(conn) else None


def visible_sql_if(conn: Connection, table: str = "events") -> str:
    """`VISIBLE_SQL` over `table` (a name or alias of the events table) when a retraction is kept,
    else a condition that is always true."""
    return VISIBLE_SQL.replace("events.", f"{table}.") if any_kept(conn) else "1 = 1"


def _ph(conn: Connection) -> str:
    return "?" if conn.dialect.name == "sqlite" else "%s"


def retracted_ids(conn: Connection, party: str, event_ids: list[str]) -> set[str]:
    """Those of `event_ids` that `party` has retracted (one query per 500)."""
    out: set[str] = set()
    ids = sorted(set(event_ids))
    for i in range(0, len(ids), _CHUNK):
        part = ids[i:i + _CHUNK]
        out.update(conn.execute(select(event_retractions.c.event_id).where(
            event_retractions.c.source_party == party, event_retractions.c.event_id.in_(part))).scalars())
    return out


def withdrawn_now(conn: Connection) -> frozenset | set:
    """(sender, eventID) of the retractions recorded in this connection's transaction: events stored
    earlier in it whose tracking steps wait for the end of a batch (`Ingestor.ingest_many`) are
    left out of them (tracking.status.fold)."""
    got = conn.info.get(_NOW)
    return got[1] if got is not None and got[0] is conn.get_transaction() else frozenset()


_NOW = "corridor.retracted_now"


def _any_of(conn: Connection, party: str) -> bool:
    """Whether `party` ever retracted an event (the unique index's first column: one probe)."""
    return conn.exec_driver_sql(f"SELECT 1 FROM event_retractions WHERE source_party = {_ph(conn)} LIMIT 1",
                                (party,)).first() is not None


def standing_events(conn: Connection, trip_ids: list[str]) -> dict[str, list[tuple[int, Event]]]:
    """Trip id -> its events no retraction withdrew, as (seq, event), in append order."""
    out: dict[str, list[tuple[int, Event]]] = {}
    ids = sorted(set(trip_ids))
    for i in range(0, len(ids), _CHUNK):
        q = select_events().where(events.c.trip_id.in_(ids[i:i + _CHUNK]), visible())
        for r in conn.execute(q).all():
            out.setdefault(r.trip_id, []).append((r.seq, row_to_event(r)))
    return out


def take(conn: Connection, result: ParseResult, party: str | None, message_id: str, received_at: datetime,
         hold: Callable[[str, str, dict | None], None], notes: list[str]) -> int:
    """Apply a message's retractions as its sender's, in the ingest transaction; returns how many
    were new. The message's own events that a retraction of their sender withdraws (this one's or
    an earlier one's) are taken out of `result.events`; each step leaves a warning in `notes`.

    A retraction without a known sender cannot say whose event it withdraws: it is held (`hold`,
    the ingest path's quarantine) and a replay once the sender is known applies it."""
    if not party:
        if result.retractions:
            hold("rejected", f"no sending party: the message's {len(result.retractions)} retraction(s) are held "
                             "(a retraction withdraws only its own sender's events); post with an API key or name "
                             "the sender, then replay",
                 {"retractions": [r.event_id for r in result.retractions][:50]})
        return 0
    new = _record(conn, result, party, message_id, received_at, notes) if result.retractions else 0
    ids = [e.event_id for e in result.events if e.event_id]
    if ids and (result.retractions or _any_of(conn, party)):
        gone = retracted_ids(conn, party, ids)
        if gone:
            kept = []
            for e in result.events:
                if e.event_id in gone:
                    notes.append(f"event {e.event_id!r} ({e.code} {e.equipment or ''} at {e.location or '?'}) "
                                 f"was retracted by {party}: not stored")
                else:
                    kept.append(e)
            result.events = kept
    return new


def _record(conn: Connection, result: ParseResult, party: str, message_id: str, received_at: datetime,
            notes: list[str]) -> int:
    """Keep the message's retractions (a re-sent one is there already: nothing changes) and
    withdraw the stored events they name; returns how many were new."""
    first: dict[str, Retraction] = {}
    for r in result.retractions:
        first.setdefault(r.event_id, r)
    had = retracted_ids(conn, party, list(first))
    for event_id in had:
        notes.append(f"retraction of event {event_id!r} by {party} was received before: nothing more "
                     "to withdraw")
    fresh = [r for event_id, r in first.items() if event_id not in had]
    if not fresh:
        return 0
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    # a retraction sent twice at once (two workers) is one row: the other insert does nothing
    conn.execute(insert(event_retractions).on_conflict_do_nothing(index_elements=["source_party", "event_id"]),
                 [{"source_party": party, "event_id": r.event_id, "message_id": message_id,
                   "retracted_at": r.retracted_at, "received_at": received_at} for r in fresh])
    got = conn.info.get(_NOW)
    if got is None or got[0] is not conn.get_transaction():
        got = conn.info[_NOW] = (conn.get_transaction(), set())
    got[1].update((party, r.event_id) for r in fresh)
    stored: dict[str, list[tuple[int, str | None]]] = {}
    wanted = [r.event_id for r in fresh]
    for i in range(0, len(wanted), _CHUNK):
        for seq, event_id, trip_id in conn.execute(
                select(events.c.seq, events.c.event_id, events.c.trip_id)
                .where(events.c.event_id.in_(wanted[i:i + _CHUNK]), events.c.source_party == party)).all():
            stored.setdefault(event_id, []).append((seq, trip_id))
    for r in fresh:
        hit = stored.get(r.event_id)
        where = f"{r.path}: " if r.path else ""
        if hit:
            notes.append(f"{where}event {r.event_id!r} retracted by {party}: {len(hit)} stored event(s) "
                         "withdrawn from the timelines, the status and GET /v2/events (kept in the log)")
        else:
            notes.append(f"{where}retraction of event {r.event_id!r} recorded: {party} has sent no event "
                         "of that eventID yet; should it come, it is not stored (a retraction withdraws "
                         "only its own sender's events)")
    if stored:
        gone = sorted((seq, event_id, trip) for event_id, hit in stored.items() for seq, trip in hit)
        for hook in AFTER_WITHDRAW:
            hook(conn, party, gone)
    trips = sorted({t for hit in stored.values() for _, t in hit if t})
    if trips:
        _set_aside(conn, party, trips, wanted)
        for hook in AFTER_RETRACT:
            hook(conn, trips)
    return len(fresh)


def _set_aside(conn: Connection, party: str, trips: list[str], event_ids: list[str]) -> None:
    """The stored timelines of `trips` are no longer theirs: each becomes a row no read or fold
    builds on (SET_ASIDE), stamped with minus the id of the retraction, so a timeline kept by any
    process is stale too (it is compared with its head row)."""
    newest = conn.execute(select(event_retractions.c.id).where(
        event_retractions.c.source_party == party, event_retractions.c.event_id.in_(event_ids[:_CHUNK]))
        .order_by(event_retractions.c.id.desc()).limit(1)).scalar_one()
    from .tracking import save_timelines   # (store.tracking reads VISIBLE_SQL from here)
    save_timelines(conn, [(t, -newest, SET_ASIDE, "[]", 0) for t in trips], [], trips)
