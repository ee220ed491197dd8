"""Events the platform itself records (booking plans, notices' alerts), with the same follow-up
steps as ingested events: trip status, ETA, alerts and the webhook outbox, in the same transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

from sqlalchemy import Connection

from .domain.events import Event
from .store import events as evstore


def record(conn: Connection, events: Sequence[Event], received_at: datetime | None = None
           ) -> tuple[list[tuple[int, Event]], list[Event]]:
    """Append events and run every AFTER_APPEND step; returns (stored, duplicates)."""
    from .ingest.service import AFTER_APPEND
    stored, dups = evstore.append(conn, events, received_at)
    for hook in AFTER_APPEND:
        hook(conn, stored)
    return stored, dups
