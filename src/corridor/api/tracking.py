"""Corridor's own tracking API: container and booking timelines, search by any identifier, the
live Server-Sent Events stream, and replay of a subscription from a cursor."""

from __future__ import annotations

import asyncio
import json
import time

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials
from starlette.concurrency import run_in_threadpool

from ..access.visibility import Viewer, booking_timeline_view, event_clause, viewer_for
from ..domain.parties import Party, Role
from ..store import Store
from ..store import tracking as tracking_store
from ..store.events import row_to_event, select_events
from ..store.tables import events
from ..tracking import hooks, outbox, timeline  # noqa: F401 - hooks registers the ingest steps
from .deps import (Principal, audit_one, authenticate, bearer, bearer_key, get_store, on_store, principal,
                   writer)
from .problems import Problem

router = APIRouter(prefix="/api/v1", tags=["tracking"])


def _viewer(conn, party: Party) -> Viewer:
    """`viewer_for` without its read of every location when the party has none to resolve
    (no facilities, not an authority of a country): the same Viewer, built for free."""
    if party.facilities or (party.country and Role.AUTHORITY in party.roles):
        return viewer_for(conn, party)
    return Viewer(party, frozenset(), frozenset())


@router.get("/containers/{ref}", response_model=dict,
            summary="Timeline, position, ETA and alerts of a container trip")
async def container(ref: str, request: Request,
                    creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Response:
    """`ref` is a container number (its latest trip the caller may see) or a trip id."""
    store: Store = request.app.state.store
    body = await on_store(store, _container_json, request, creds, store, ref)
    if body is None:
        raise Problem(404, "Not Found", f"no container trip {ref} that you may see")
    return Response(body, media_type="application/json")   # made once per kept timeline


def _container_json(request: Request, creds: HTTPAuthorizationCredentials | None, store: Store,
                    ref: str) -> bytes | None:
    """The caller (as `deps.principal` has it), the audit of its read and the timeline, on one read
    connection: the trip is found once, for what is shown and what is logged."""
    key = bearer_key(creds)
    with store.read() as conn:
        p = authenticate(request, key, conn)
        v = _viewer(conn, p.party)
        head = timeline.container_head(conn, ref, v)
        if request.method == "GET":   # as deps.principal audits
            audit_one(request, p, store, None if head is None else timeline.owners(head))
        return None if head is None else timeline.head_json(conn, head, v)


@router.get("/bookings/{ref}/timeline", summary="Timelines of every container of a booking")
def booking(ref: str, p: Principal = Depends(principal), store: Store = Depends(get_store)) -> dict:
    with store.read() as conn:
        v = _viewer(conn, p.party)
        tl = timeline.booking_timeline(conn, ref, v)
        if tl is not None:   # an operator is shown the plan of its own legs (access.visibility)
            tl = booking_timeline_view(conn, v, tl)
    if tl is None:
        raise Problem(404, "Not Found", f"no tracked booking {ref} that you may see")
    return tl


@router.get("/search", summary="Find by container, booking, B/L, consignment note, wagon, train or sailing")
def search(q: str = Query(..., min_length=2, max_length=60), p: Principal = Depends(principal),
           store: Store = Depends(get_store)) -> dict:
    with store.read() as conn:
        return {"q": q, "results": timeline.search(conn, q, viewer_for(conn, p.party))}


@router.get("/positions/latest", summary="Latest known position of every visible open trip, and of trains/vessels")
def positions(p: Principal = Depends(principal), store: Store = Depends(get_store)) -> dict:
    with store.read() as conn:
        return timeline.latest_positions(conn, viewer_for(conn, p.party))


@router.get("/subscriptions/{sid}/deliveries", summary="Delivery log of a subscription, newest first")
def delivery_log(sid: str, limit: int = Query(100, ge=1, le=1000), before: int | None = Query(None, ge=1),
                 p: Principal = Depends(principal), store: Store = Depends(get_store)) -> dict:
    """Every attempt: when, how many events, the receiver's status code or the error, how long."""
    with store.read() as conn:
        owner = tracking_store.subscription_owner(conn, sid)
        if owner is None or (owner != p.party.id and not p.party.is_admin):
            raise Problem(404, "Not Found", f"no subscription {sid}")
        rows = tracking_store.delivery_log(conn, sid, limit=limit, before=before)
    # `at`, `status`, `http_status`, `last_error`: the names the subscriptions page reads
    items = [{"id": r.id, "attempted_at": r.attempted_at.isoformat(), "at": r.attempted_at.isoformat(),
              "events": r.events, "status_code": r.status_code, "http_status": r.status_code,
              "status": "delivered" if r.error is None else "failed", "ok": r.error is None, "error": r.error, "last_error": r.error,
              "duration_ms": round(r.duration_ms, 1)} for r in rows]
    return {"subscription": sid, "deliveries": items,
            "next": f"/api/v1/subscriptions/{sid}/deliveries?limit={limit}&before={items[-1]['id']}"
            if len(items) == limit else None}


@router.post("/subscriptions/{sid}/replay", summary="Deliver a subscription's events again from a cursor")
def replay(sid: str, cursor: int = Query(0, ge=0, le=2**62, description="event sequence number to replay after"),
           p: Principal = Depends(writer), store: Store = Depends(get_store)) -> dict:
    with store.tx() as conn:
        r = outbox.get(conn, sid)
        if r is None or (r.party_id != p.party.id and not p.party.is_admin):
            raise Problem(404, "Not Found", f"no subscription {sid}")
        return {"subscription": sid, "queued": outbox.replay(conn, sid, cursor)}


@router.get("/stream", summary="Live events as Server-Sent Events, filtered and visibility-checked")
async def stream(request: Request, booking: str | None = None, container: str | None = None,
                 facility: str | None = None, after: int | None = Query(None, ge=0, le=2**62),
                 max_seconds: float = Query(0, ge=0, le=86400, description="close after this long (0: never)"),
                 p: Principal = Depends(principal), store: Store = Depends(get_store)):
    """Each event is `id: <seq>` + `data: <json>`; reconnect with Last-Event-ID to resume."""
    start = after if after is not None else int(request.headers.get("last-event-id") or -1)

    def head() -> int:
        with store.read() as conn:
            from sqlalchemy import func, select
            return conn.execute(select(func.coalesce(func.max(events.c.seq), 0))).scalar_one()

    def fetch(last: int) -> list:
        with store.read() as conn:
            v = viewer_for(conn, p.party)
            q = select_events().where(events.c.seq > last)
            if booking:
                q = q.where(events.c.booking_ref == booking)
            if container:
                q = q.where(events.c.equipment == container.upper())
            if facility:
                q = q.where(events.c.location == facility)
            vis = event_clause(v)
            rows = conn.execute((q if vis is None else q.where(vis)).limit(500)).all()
            out = []
            for r in rows:
                e = row_to_event(r)
                out.append((r.seq, timeline.event_json(r.seq, e, r.received_at)))
            return out

    async def gen():
        last = start if start >= 0 else await run_in_threadpool(head)
        t_end = time.monotonic() + max_seconds if max_seconds else None
        yield ": corridor stream\n\n"
        idle, first = 0.0, True
        while first or not (t_end and time.monotonic() > t_end):
            first = False   # always fetch once, however short max_seconds is
            if await request.is_disconnected():
                break
            batch = await run_in_threadpool(fetch, last)
            for seq, doc in batch:
                last = seq
                yield f"id: {seq}\nevent: {doc['kind'].lower()}\ndata: {json.dumps(doc, separators=(',', ':'))}\n\n"
            if not batch:
                idle += 0.5
                if idle >= 15:
                    idle = 0.0
                    yield ": keep-alive\n\n"
                await asyncio.sleep(0.5)
        return

    return StreamingResponse(gen(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
