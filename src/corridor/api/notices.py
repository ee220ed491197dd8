"""Operator notices over HTTP: POST /api/v1/notices, GET /api/v1/notices."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from ..notices.service import KINDS, publish
from ..store import Store
from ..store.notices import list_notices
from .bodies import StrictBody
from .deps import Principal, get_store, poster, principal

router = APIRouter(prefix="/api/v1", tags=["operator notices"])


class NoticeIn(StrictBody):
    kind: str = Field(description="cancelled | delayed | closure | queue | works")
    location: str | None = Field(None, description="UN/LOCODE or name of the port, border or line section")
    departure_id: str | None = None
    starts_at: datetime = Field(description="ISO 8601 with offset")
    ends_at: datetime | None = None
    delay_hours: float | None = Field(None, gt=0, le=24 * 30)
    text: str = ""
    modes: list[str] | None = Field(None, max_length=8, description=(
        "A place's notice (closure, queue, works) holds for these modes only: sea (every vessel mode), "
        "ferry, feeder, deep_sea, rail, truck. A storm closes a port to ships, not the railway through it. "
        "Every mode when not given."))


@router.post("/notices", status_code=201, summary="Publish a disruption notice (operators)")
def post_notice(body: NoticeIn, request: Request, p: Principal = Depends(poster),
                store: Store = Depends(get_store)) -> dict:
    """Apply the notice to the timetable and alert every open booking it touches."""
    loc = request.app.state.network().resolve(body.location).id if body.location else None
    out = publish(store, operator=p.party.id, kind=body.kind, starts_at=body.starts_at, ends_at=body.ends_at,
                  location=loc, departure_id=body.departure_id, delay_hours=body.delay_hours, text=body.text,
                  facilities=p.party.facilities, is_admin=p.party.is_admin, modes=body.modes)
    return out.as_json()


@router.get("/notices", summary="Notices, newest first (all parties may read them)")
def get_notices(active_at: datetime | None = None, location: str | None = None, request: Request = None,
                _: Principal = Depends(principal), store: Store = Depends(get_store)) -> list[dict]:
    loc = request.app.state.network().resolve(location).id if location else None
    with store.read() as conn:
        rows = list_notices(conn, active_at=active_at, location=loc)
    return [{k: v for k, v in r._mapping.items()} for r in rows]


__all__ = ["router", "KINDS"]
