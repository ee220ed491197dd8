"""A raw message's receipt read back by its sender: what became of the message, without its content.

`raw_messages` keeps the outcome of processing (store.ingest.finish_raw): `stored` counts the
events taken in from the message over all its runs (each event links back to it, and one is
never stored twice); `duplicates` and `rejected` are those of its latest run. The open
quarantine entries are read live: a worker that gives up on a message (ingest.nats._give_up)
adds one without touching the counts.
"""

from __future__ import annotations

from sqlalchemy import Connection, func, or_, select

from . import events as evstore
from .tables import events, quarantine, raw_messages

# everything but the content, which may be megabytes
_RECEIPT = select(*[c for c in raw_messages.c if c.name != "content"])
_ENTRY = select(quarantine.c.id, quarantine.c.kind, quarantine.c.reason, quarantine.c.attempts,
                quarantine.c.created_at)


def receipt(conn: Connection, mid: str, sender: str | None = None):
    """The receipt `mid`, without its content; None when there is none, or when `sender` is given
    and the receipt is not that party's (a caller other than its sender learns nothing of it)."""
    q = _RECEIPT.where(raw_messages.c.id == mid)
    if sender is not None:
        q = q.where(raw_messages.c.source_party == sender)
    return conn.execute(q).first()


def open_entries(conn: Connection, mid: str, sender: str | None = None, limit: int = 100) -> tuple[list, int]:
    """The receipt's open quarantine entries, oldest first, at most `limit`, and how many are open.

    `sender`: only that party's entries (those it may open at /api/v1/quarantine/{id})."""
    where = [quarantine.c.message_id == mid, quarantine.c.status == "open"]
    if sender is not None:
        where.append(quarantine.c.source_party == sender)
    rows = conn.execute(_ENTRY.where(*where).order_by(quarantine.c.id).limit(limit)).all()
    if len(rows) < limit:
        return rows, len(rows)
    return rows, conn.execute(select(func.count()).select_from(quarantine).where(*where)).scalar_one()


def receipts(conn: Connection, *, sender: str | None = None, status: str | None = None,
             fmt: str | None = None, since=None, before=None, limit: int = 100) -> list:
    """Receipts without their content, newest first (then by id), at most `limit`: of `sender`
    only when given, in `status` / of format `fmt` when given, received at or after `since` and
    before `before` (a page's last `received_at`) when given. Read down the received-time index."""
    q = _RECEIPT
    if sender is not None:
        q = q.where(raw_messages.c.source_party == sender)
    if status is not None:
        q = q.where(raw_messages.c.status == status)
    if fmt is not None:
        q = q.where(raw_messages.c.format == fmt)
    if since is not None:
        q = q.where(raw_messages.c.received_at >= since)
    if before is not None:
        q = q.where(raw_messages.c.received_at < before)
    return conn.execute(q.order_by(raw_messages.c.received_at.desc(), raw_messages.c.id).limit(limit)).all()


def receipt_counts(conn: Connection, sender: str | None = None) -> dict[str, int]:
    """How many receipts are in each status (of `sender` only when given)."""
    q = select(raw_messages.c.status, func.count()).group_by(raw_messages.c.status)
    if sender is not None:
        q = q.where(raw_messages.c.source_party == sender)
    return {s: n for s, n in conn.execute(q).all()}


def receipts_by_prefix(conn: Connection, prefix: str, sender: str | None = None, limit: int = 2) -> list:
    """Receipts whose id starts with `prefix` (lower-case hex, as listed), without their content:
    an id range read of the key (every id is hex: all of them sort below prefix + 'g')."""
    q = _RECEIPT.where(raw_messages.c.id >= prefix, raw_messages.c.id < prefix + "g")
    if sender is not None:
        q = q.where(raw_messages.c.source_party == sender)
    return conn.execute(q.order_by(raw_messages.c.id).limit(limit)).all()


def message_events(conn: Connection, raw, limit: int = 100) -> list[tuple]:
    """(seq, Event, received_at) of the events the receipt `raw` stored, in append order, at most `limit`.

    Read down the log's key over the seq ranges its processings recorded (finish_raw), each row
    checked to be the message's own (another writer's events may lie between). A message
    processed before the ranges were kept (migration 0014) lists none."""
    ranges = raw.seq_ranges or []
    if not ranges:
        return []
    q = evstore.select_events().where(events.c.message_id == raw.id,
                                      or_(*[events.c.seq.between(lo, hi) for lo, hi in ranges]))
    return [(r.seq, evstore.row_to_event(r), r.received_at) for r in conn.execute(q.limit(limit)).all()]
