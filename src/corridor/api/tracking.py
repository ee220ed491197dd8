"""Corridor's own tracking API: container and booking timelines, search by any identifier, the
live Server-Sent Events stream, and replay of a subscription from a cursor."""

from __future__ import annotations

import asyncio
import json
import time

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from ..access.keycache import verified
from ..access.keys import KeyRejected
from ..access.visibility import Viewer, booking_timeline_view, event_clause, viewer_for
from ..domain.parties import Party, Role
from ..store import Store
from ..store import tracking as tracking_store
from ..store import events as evstore
from ..store import retractions
from ..store.events import row_to_event, select_events
from ..store.tables import event_retractions, events
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


# An open stream re-reads its key this often (a cache hit and one indexed read: access.keycache):
# revoked or expired, the stream ends; a party changed (facilities, roles) is seen by the next read.
KEY_RECHECK_SECONDS = 2.0
_POLL_SECONDS = 0.5


def _resume_after(request: Request, after: int | None) -> int | None:
    """Where a stream starts: after Last-Event-ID when the client sends one (a reconnect, which
    carries the id it saw last and repeats the URL's `after`), else after `after`; None: the head."""
    raw = request.headers.get("last-event-id")
    if raw is None or not raw.strip():   # an empty id is no id (Server-Sent Events)
        return after
    text = raw.strip()
    if not text.isascii() or not text.isdigit() or int(text) > 2**62:
        raise Problem(400, "Bad Request", f"Last-Event-ID {raw[:40]!r} is not an event id: send the "
                                          "`id:` of the last event received (a whole number from 0 to 2^62)")
    return int(text)


def _place(request: Request, store: Store, text: str) -> str:
    """The stored ref (UN/LOCODE, else the corridor id) of a place given as events name it, by its
    corridor id, code, name or an alias of the network or of the registry (`corridor alias add
    location`), as the queue and notices endpoints take it; 400 for an unknown or ambiguous one."""
    from ..domain.errors import UnknownPlace
    from ..store.ingest import Registry
    net = request.app.state.network()
    loc = net.by_code(text) if net is not None else None
    if loc is not None:
        return loc.ref
    with store.read() as conn:
        ref = Registry(conn).locations([text])[text]
    if ref is not None:
        return ref
    if net is None:
        raise UnknownPlace(f"unknown place {text!r}", [])
    return net.resolve(text).ref   # a name or a unique prefix of one; else UnknownPlace/AmbiguousPlace


def _retraction_head(conn, start: int | None) -> int:
    """The id of the last retraction a stream need not announce: for a new stream (or one from
    the start of the log), the newest kept; for a resume after event `start`, the newest received
    before that event was (a client that saw `start` was connected then; a retraction since may
    name an event it was shown)."""
    r = event_retractions.c
    q = select(func.coalesce(func.max(r.id), 0))
    if start:   # (after 0: nothing shown yet, and what is withdrawn is left out of what comes)
        at = conn.execute(select(events.c.received_at).where(events.c.seq == start)).scalar()
        if at is None:   # not an event of this store (or none yet): every retraction may matter
            return 0
        q = q.where(r.received_at < at)
    return conn.execute(q).scalar_one()


@router.get("/stream", summary="Live events as Server-Sent Events, filtered and visibility-checked")
async def stream(request: Request, booking: str | None = None, container: str | None = None,
                 facility: str | None = Query(None, description="UN/LOCODE, corridor id, name or alias of a place"),
                 after: int | None = Query(None, ge=0, le=2**62, description="start after this event id (seq)"),
                 max_seconds: float = Query(0, ge=0, le=86400, description="close after this long (0: never)"),
                 p: Principal = Depends(principal), creds: HTTPAuthorizationCredentials | None = Depends(bearer),
                 store: Store = Depends(get_store)):
    """Each event is `id: <seq>` + `event: <kind>` + `data: <json>`, in seq order; reconnect with
    Last-Event-ID to resume. Only seqs below the store's horizon are sent (store.events.horizon): an
    event still being written with a lower seq is never skipped. An event its sender retracted is
    not sent, and a retraction of an event sent already (or before the stream's start) comes as
    `event: retraction` without an id, so the client's Last-Event-ID stays its last event's.
    docs/api.md, "Live stream"."""
    start = _resume_after(request, after)
    place = await run_in_threadpool(_place, request, store, facility) if facility else None
    key = bearer_key(creds)

    def head() -> tuple[int, int]:
        with store.read() as conn:
            return evstore.head(conn), _retraction_head(conn, None)

    def since(at: int) -> int:
        with store.read() as conn:
            return _retraction_head(conn, at)

    def narrowed(q, conn, party: Party):
        """`q` over the events table with the stream's filters and the caller's visibility."""
        if booking:
            q = q.where(events.c.booking_ref == booking)
        if container:
            q = q.where(events.c.equipment == container.upper())
        if place:
            q = q.where(events.c.location == place)
        vis = event_clause(_viewer(conn, party))
        return q if vis is None else q.where(vis)

    def withdrawn(conn, party: Party, last: int, after_r: int) -> tuple[list[dict], int]:
        """(the retractions kept after id `after_r` that withdraw events up to seq `last` this
        stream shows, the id read up to): one read of the primary key when none is new."""
        r = event_retractions.c
        new = conn.execute(select(r.id, r.source_party, r.event_id, r.retracted_at, r.received_at)
                           .where(r.id > after_r).order_by(r.id).limit(500)).all()
        if not new:
            return [], after_r
        out = []
        for x in new:
            hit = conn.execute(narrowed(select(events.c.seq, events.c.trip_id).where(
                events.c.source_party == x.source_party, events.c.event_id == x.event_id, events.c.seq <= last),
                conn, party).order_by(events.c.seq)).all()
            if hit:
                out.append({"event_id": x.event_id, "source_party": x.source_party,
                            "seqs": [h.seq for h in hit], "trips": sorted({h.trip_id for h in hit if h.trip_id}),
                            "retracted_at": x.retracted_at.isoformat() if x.retracted_at else None,
                            "received_at": x.received_at.isoformat()})
        return out, new[-1].id

    def fetch(last: int, after_r: int, party: Party, recheck: bool
              ) -> tuple[list, list[dict], int, Party, str | None]:
        """(events after `last` up to the horizon, the retractions of events up to the last of
        them, the retraction id read up to, the caller's party, why the stream must end)."""
        with store.read() as conn:
            if recheck:
                try:
                    _info, party = verified(conn, key)
                except KeyRejected as e:
                    return [], [], after_r, party, str(e)
                if party is None:
                    return [], [], after_r, party, "the key's party no longer exists"
            hz = evstore.horizon(conn)   # before the rows: what is below it is committed by now
            q = select_events().where(events.c.seq > last)
            if hz is not None:
                q = q.where(events.c.seq <= hz)
            vis = retractions.visible_if(conn)   # none kept: the query of before
            if vis is not None:
                q = q.where(vis)
            rows = conn.execute(narrowed(q, conn, party).limit(500)).all()
            upto = rows[-1].seq if rows else last
            # read after the events: a retraction of one of them is announced now, not missed
            gone, after_r = withdrawn(conn, party, upto, after_r)
            return ([(r.seq, timeline.event_json(r.seq, row_to_event(r), r.received_at)) for r in rows],
                    gone, after_r, party, None)

    async def gen():
        if start is None:
            last, after_r = await run_in_threadpool(head)
        else:
            last, after_r = start, await run_in_threadpool(since, start)
        now = time.monotonic()
        t_end = now + max_seconds if max_seconds else None
        recheck_at = now + KEY_RECHECK_SECONDS
        party = p.party
        yield ": corridor stream\n\n"
        idle, first = 0.0, True
        while first or not (t_end and time.monotonic() > t_end):
            first = False   # always fetch once, however short max_seconds is
            if await request.is_disconnected():
                break
            recheck = time.monotonic() >= recheck_at
            if recheck:
                recheck_at = time.monotonic() + KEY_RECHECK_SECONDS
            batch, gone, after_r, party, ended = await run_in_threadpool(fetch, last, after_r, party, recheck)
            if ended:
                # a comment, which clients ignore; their reconnect is answered 401 with the reason
                yield f": closed: {ended}\n\n"
                return
            for seq, doc in batch:
                last = seq
                yield f"id: {seq}\nevent: {doc['kind'].lower()}\ndata: {json.dumps(doc, separators=(',', ':'))}\n\n"
            for doc in gone:   # no id: the resume point stays the last event's
                yield f"event: retraction\ndata: {json.dumps(doc, separators=(',', ':'))}\n\n"
            if not batch and not gone:
                idle += _POLL_SECONDS
                if idle >= 15:
                    idle = 0.0
                    yield ": keep-alive\n\n"
                await asyncio.sleep(_POLL_SECONDS)
        return

    return StreamingResponse(gen(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
