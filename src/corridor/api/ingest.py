"""Ingest over HTTP: raw messages, DCSA events, positions; the quarantine and the alias registry.

A poster is the party of its API key; operators may post only for their own facilities and
services, shippers and forwarders only for their own containers and bookings (docs/access.md,
access.visibility.posting_rights); what a party may not post is kept in its quarantine with the
reason. With CORRIDOR_NATS_URL set, messages are kept and queued (202, processed by the ingest
workers; `Location` names the receipt, GET /api/v1/messages/{id}, where the sender reads the
outcome); otherwise they are processed at once (200, the outcome in the answer).
"""

from __future__ import annotations

import logging
import threading
import zlib
from datetime import datetime, timezone

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from ..cli.ingest import ALIAS_KINDS, quarantine_json, receipt_json, resolve_alias_target
from ..store import ingest as repo
from ..store.receipts import message_events, open_entries, receipt
from ..tracking.timeline import event_json
from .bodies import StrictBody
from .deps import Principal, admin, audit_one, get_store, poster, principal
from .problems import Problem

router = APIRouter(prefix="/api/v1", tags=["ingest"])
log = logging.getLogger("corridor.api.ingest")
_publisher_lock = threading.Lock()

OUTCOME_EXAMPLE = {"path": "gate-2026-03-02.edi", "message_id": "9f2c…", "format": "edifact",
                   "source_party": "PORTAKTAU", "stored": 12, "duplicates": 0, "quarantined": 1,
                   "reasons": ["unknown location code 'KZXXX': add a location alias and replay"], "warnings": []}


QUEUED = {"description": "Kept and queued for the ingest workers (NATS configured); `Location` names its "
                          "receipt, GET /api/v1/messages/{message_id}",
          "headers": {"Location": {"schema": {"type": "string"}, "description": "The receipt of the message"}}}


def _body(media: dict[str, dict]) -> dict:
    return {"requestBody": {"required": True, "content": media}}


def _publisher(request: Request):
    """The JetStream publisher of this app, when CORRIDOR_NATS_URL is set: one per app, made without
    waiting (it connects and reconnects in the background, on its one thread)."""
    url = getattr(request.app.state.settings, "nats_url", None)
    if not url:
        return None
    pub = getattr(request.app.state, "ingest_publisher", None)
    if pub is None:
        with _publisher_lock:
            pub = getattr(request.app.state, "ingest_publisher", None)
            if pub is None:
                from ..ingest.nats import JetStreamPublisher
                # a request answers within a few seconds whatever NATS does (the message is kept first)
                pub = request.app.state.ingest_publisher = JetStreamPublisher(url, timeout=2.0, wait=False)
    return pub


# Content-Encoding of a posted message (RFC 9110 8.4) that a sender's HTTP client may compress with
_GZIP, _ZLIB, _RAW = 16 + zlib.MAX_WBITS, zlib.MAX_WBITS, -zlib.MAX_WBITS
_CODINGS = {"gzip": (_GZIP,), "x-gzip": (_GZIP,), "deflate": (_ZLIB, _RAW)}   # bare deflate too: some clients


def _inflate(data: bytes, wbits: int, limit: int, coding: str) -> bytes:
    """`data` decompressed, at most `limit` bytes: a bomb of zeros stops there, not in the memory."""
    out = bytearray()
    while data:
        d = zlib.decompressobj(wbits)
        out += d.decompress(data, limit + 1 - len(out))
        if len(out) > limit or d.unconsumed_tail:
            raise Problem(413, "Content Too Large", f"request body over {limit} bytes once {coding}-decoded")
        if not d.eof:
            raise zlib.error("the compressed data ends early")
        data = d.unused_data if wbits == _GZIP else b""   # gzip members may follow each other (RFC 1952)
    return bytes(out)


def _decoded(content: bytes, coding_header: str, limit: int) -> bytes:
    """The body with its content codings undone, the last applied first."""
    codings = [c.strip().lower() for c in coding_header.split(",") if c.strip()]
    if any(c not in _CODINGS and c != "identity" for c in codings):
        raise Problem(415, "Unsupported Media Type",
                      f"Content-Encoding {coding_header!r}: send the message as it is, or gzip or deflate it",
                      headers={"Accept-Encoding": "gzip, deflate"})
    for coding in reversed(codings):
        if coding == "identity":
            continue
        for i, wbits in enumerate(_CODINGS[coding]):
            try:
                content = _inflate(content, wbits, limit, coding)
                break
            except zlib.error as e:
                if i == len(_CODINGS[coding]) - 1:
                    raise Problem(400, "Bad Request", f"the body is not valid {coding} data ({e}): send it "
                                                      "as it is, or compressed as its Content-Encoding says")
    return content


def _rights(conn, p: Principal):
    """`allowed(event)` for the caller: None for the administrator."""
    from ..access.visibility import posting_rights
    return posting_rights(conn, p.party)


async def _accept(request: Request, p: Principal, fmt: str | None, filename: str | None,
                  party: str | None) -> JSONResponse:
    content = await request.body()
    coding = request.headers.get("content-encoding", "")
    if coding.strip():
        content = _decoded(content, coding, request.app.state.settings.max_body_bytes)
    if not content.strip():
        raise Problem(400, "Bad Request", "empty body: send the message itself as the request body")
    store = get_store(request)
    sender = p.party.id
    if party and party != p.party.id:
        if not p.party.is_admin:
            raise Problem(403, "Forbidden", "only the administrator may post on behalf of another party")
        sender = party
    elif p.party.is_admin and not party:
        sender = None   # the administrator relays: the sender comes from the message (e.g. UNB)

    def run():
        from ..ingest.nats import PublishDeferred
        from ..ingest.service import Ingestor
        ingestor = Ingestor(store)
        with store.read() as conn:
            allowed = _rights(conn, p)
        pub = _publisher(request)
        if pub is None:
            return 200, ingestor.ingest(content, source_party=sender, filename=filename, fmt=fmt,
                                        allowed=allowed).as_json()
        mid, used, new = ingestor.keep(content, source_party=sender, filename=filename, fmt=fmt)
        doc = {"message_id": mid, "format": used, "status": "pending", "new": new, "queued": True}
        try:
            pub.publish(mid, check_visibility=allowed is not None)
        except PublishDeferred as e:
            # kept all the same: the ingest workers' sweep publishes pending messages once NATS is back
            log.warning("message %s kept, not queued: %s", mid, e)
            doc.update(queued=False, note=f"kept; processing is deferred until NATS is reachable again ({e})")
        return 202, doc

    status, doc = await run_in_threadpool(run)
    # where the sender reads what became of a queued message (GET /api/v1/messages/{id})
    headers = {"Location": _path(request, f"/messages/{doc['message_id']}")} if status == 202 else None
    return JSONResponse(doc, status_code=status, headers=headers)


def _path(request: Request, tail: str) -> str:
    """The path of one of this router's resources, as the client reaches it (behind a root path too)."""
    return f"{request.scope.get('root_path', '')}{router.prefix}{tail}"


@router.post("/messages", summary="Post a raw EDIFACT or CSV message", status_code=200,
             openapi_extra=_body({"application/edifact": {"schema": {"type": "string"}},
                                  "text/csv": {"schema": {"type": "string"}},
                                  "text/plain": {"schema": {"type": "string"}}}),
             responses={200: {"description": "Processed: stored, duplicates, quarantined with reasons",
                              "content": {"application/json": {"example": OUTCOME_EXAMPLE}}},
                        202: QUEUED})
async def post_message(request: Request, fmt: str | None = Query(None, alias="format",
                                                                   description="edifact | csv (default: detected)"),
                       filename: str | None = Query(None, description="The original file name, kept with it"),
                       party: str | None = Query(None, description="Administrator only: post for this party"),
                       p: Principal = Depends(poster)) -> JSONResponse:
    """Keep the raw message, store its events once, quarantine the rest with reasons."""
    if fmt and fmt not in ("edifact", "csv"):
        raise Problem(400, "Bad Request", f"format {fmt!r}: this endpoint takes edifact or csv "
                                          "(DCSA JSON goes to /api/v1/events, positions to /api/v1/positions)")
    return await _accept(request, p, fmt, filename, party)


@router.post("/events", summary="Post DCSA Track & Trace events (2.2 array or 3.0 shape)",
             openapi_extra=_body({"application/json": {"schema": {"type": "array", "items": {"type": "object"}}}}),
             responses={200: {"content": {"application/json": {"example": OUTCOME_EXAMPLE}}}, 202: QUEUED})
async def post_events(request: Request, party: str | None = Query(None, description="Administrator only"),
                      p: Principal = Depends(poster)) -> JSONResponse:
    """DCSA JSON events in; each is validated, stored once or quarantined with the JSON path at fault."""
    return await _accept(request, p, "dcsa-json", None, party)


@router.post("/positions", summary="Post GPS/IoT positions (one fix or a list)",
             openapi_extra=_body({"application/json": {"schema": {"type": "object", "example": {
                 "time": "2026-03-02T08:10:00+05:00", "lat": 43.65, "lon": 51.17, "device": "trk-77",
                 "container": "MSKU1234565"}}}}),
             responses={200: {"content": {"application/json": {"example": OUTCOME_EXAMPLE}}}, 202: QUEUED})
async def post_positions(request: Request, party: str | None = Query(None, description="Administrator only"),
                         p: Principal = Depends(poster)) -> JSONResponse:
    """The same payloads as the MQTT topic corridor/v1/positions/{party}/{device}."""
    return await _accept(request, p, "position-json", None, party)


# --- receipts --------------------------------------------------------------------------------

RECEIPT_EXAMPLE = {"message_id": "9f2c…", "status": "partial", "format": "edifact", "filename": "gate-2026-03-02.edi",
                   "received_at": "2026-03-02T03:12:07.512000+00:00", "source_party": "PORTAKTAU", "size": 1843,
                   "stored": 12, "duplicates": 0, "quarantined": 1,
                   "quarantine": [{"id": 41, "kind": "rejected", "attempts": 0,
                                   "reason": "unknown location code 'KZXXX': add a location alias and replay",
                                   "created_at": "2026-03-02T03:12:07.530000+00:00",
                                   "href": "/api/v1/quarantine/41"}]}


def _is_receipt_id(mid: str) -> bool:
    """SHA-256 in lower-case hex, as store.ingest.message_id makes it."""
    return len(mid) == 64 and all(c in "0123456789abcdef" for c in mid)


@router.get("/messages/{message_id}", summary="What became of a posted message: its receipt",
            responses={200: {"content": {"application/json": {"example": RECEIPT_EXAMPLE}}},
                       404: {"description": "No such message, or not the caller's"}})
def show_message(request: Request, message_id: str = Path(..., max_length=200,
                                                          description="The message_id its post answered"),
                 limit: int = Query(100, ge=1, le=1000,
                                    description="At most this many open quarantine entries, and events"),
                 p: Principal = Depends(principal)) -> dict:
    """Its status (pending | processed | partial | quarantined), the events stored from it (how
    many, and the first `limit` of them in append order), the duplicates of its latest
    processing (null while pending) and its open quarantine entries.
    Its sender and the administrator see it; for anyone else it does not exist (404)."""
    store = get_store(request)
    sender = None if p.party.is_admin else p.party.id
    with store.read() as conn:
        raw = receipt(conn, message_id, sender) if _is_receipt_id(message_id) else None
        if raw is None:
            raise Problem(404, "Not Found", "no such message")
        entries, total = open_entries(conn, message_id, sender, limit)
        stored = message_events(conn, raw, limit)
    if raw.source_party:
        audit_one(request, p, store, {raw.source_party})   # the administrator reading a party's receipt
    doc = receipt_json(raw, entries, total, href=lambda i: _path(request, f"/quarantine/{i}"))
    doc["events"] = [event_json(seq, e, at) for seq, e, at in stored]
    return doc


@router.get("/messages", summary="The messages received, newest first: their receipts")
def list_messages(request: Request,
                  status: str | None = Query(None, pattern="^(processed|partial|quarantined|pending)$"),
                  format: str | None = Query(None, pattern="^(edifact|dcsa-json|csv|position-json)$",
                                             description="edifact | dcsa-json | csv | position-json"),
                  since: datetime | None = Query(None, description="Received at or after (ISO 8601)"),
                  before: datetime | None = Query(None, description="Received before (ISO 8601): the next page "
                                                                    "starts before the last receipt's received_at"),
                  party: str | None = Query(None, max_length=40, description="The sender (the administrator only)"),
                  limit: int = Query(100, ge=1, le=1000), p: Principal = Depends(principal)) -> dict:
    """Receipts without content (GET /api/v1/messages/{message_id} has one with its quarantine
    entries). A party sees the messages it sent; the administrator every party's, or one's."""
    from ..store.receipts import receipt_counts, receipts
    if party is not None and not p.party.is_admin and party != p.party.id:
        raise Problem(403, "Forbidden", "a party lists the messages it sent only")
    sender = party if p.party.is_admin else p.party.id
    aware = lambda t: t if t is None or t.tzinfo else t.replace(tzinfo=timezone.utc)   # noqa: E731
    store = get_store(request)
    with store.read() as conn:
        rows = receipts(conn, sender=sender, status=status, fmt=format, since=aware(since), before=aware(before),
                        limit=limit)
        counts = receipt_counts(conn, sender)
    if p.party.is_admin and (owners := {r.source_party for r in rows if r.source_party}):
        audit_one(request, p, store, owners)   # the administrator reading parties' receipts
    return {"counts": counts, "limit": limit,
            "messages": [{**receipt_json(r), "href": _path(request, f"/messages/{r.id}")} for r in rows]}


# --- quarantine ------------------------------------------------------------------------------

def _own(p: Principal, row) -> None:
    if row is None or (not p.party.is_admin and row.source_party != p.party.id):
        raise Problem(404, "Not Found", "no such quarantine entry")


@router.get("/quarantine", summary="Quarantined entries with their reasons (newest first)")
def list_quarantine(request: Request, status: str = Query("open", description="open | resolved | replayed | all"),
                    limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=10**9),
                    p: Principal = Depends(principal)) -> dict:
    """The administrator sees all; a party sees what it sent."""
    store = get_store(request)
    with store.read() as conn:
        rows = repo.quarantine_list(conn, status=None if status == "all" else status,
                                    party=None if p.party.is_admin else p.party.id, limit=limit, offset=offset)
    return {"entries": [quarantine_json(r) for r in rows], "limit": limit, "offset": offset}


@router.get("/quarantine/{entry_id}", summary="One quarantined entry and its raw message")
def show_quarantine(request: Request, entry_id: int = Path(..., ge=1, le=2**62), p: Principal = Depends(principal)) -> dict:
    store = get_store(request)
    with store.read() as conn:
        row = repo.quarantine_get(conn, entry_id)
        _own(p, row)
        return quarantine_json(row, repo.get_raw(conn, row.message_id), with_content=True)


@router.post("/quarantine/{entry_id}/replay", summary="Process the entry's message again (after a fix)")
def replay_quarantine(request: Request, entry_id: int = Path(..., ge=1, le=2**62), p: Principal = Depends(poster)) -> dict:
    """Re-process the whole message; what is stored already is never stored twice. The message
    is judged as its post was: the administrator's replay of a party's post is held to that
    party's posting rights (`Ingestor.replay`), a party's replay to its own."""
    from ..ingest.service import Ingestor
    store = get_store(request)
    with store.read() as conn:
        row = repo.quarantine_get(conn, entry_id)
        _own(p, row)
        allowed = _rights(conn, p)   # None for the administrator: the message's own sender's rights then
    return Ingestor(store).replay(row.message_id, allowed).as_json()


# --- aliases ---------------------------------------------------------------------------------

class AliasIn(StrictBody):
    kind: str = Field(..., description="party | location | operator", examples=["location"])
    value: str = Field(..., min_length=1, max_length=200, description="The outside code or spelling",
                       examples=["708507"])
    target: str = Field(..., min_length=1, description="Party id, or location id / UN/LOCODE / name",
                        examples=["KZDOS"])
    note: str = Field("", description="Where the code comes from")
    replace: bool = Field(False, description="Re-point an alias that already names something else "
                                             "(never a network's own code or name, nor another party's id)")


@router.get("/aliases", summary="The registry of outside codes")
def list_aliases(request: Request, kind: str | None = Query(None, description="party | location | operator"),
                 _: Principal = Depends(principal)) -> dict:
    from ..store.parties import all_aliases
    with get_store(request).read() as conn:
        rows = all_aliases(conn, kind)
    return {"aliases": [{"kind": k, "value": v, "target": t, "note": n} for k, v, t, n in rows]}


@router.post("/aliases", status_code=201, summary="Map an outside code to a party or facility (administrator)")
def add_alias(request: Request, body: AliasIn, _: Principal = Depends(admin)) -> dict:
    """Then replay the quarantine entries it explains. 409 when the code already means something
    else (a place's own code or name, another party, or an alias pointing elsewhere without `replace`)."""
    from ..store.parties import AliasConflict, add_alias as add_checked
    if body.kind not in ALIAS_KINDS:
        raise Problem(400, "Bad Request", f"kind {body.kind!r}: use one of {', '.join(ALIAS_KINDS)}")
    with get_store(request).tx() as conn:
        try:
            target = resolve_alias_target(conn, body.kind, body.target)
        except LookupError as e:
            raise Problem(404, "Not Found", str(e))
        try:
            add_checked(conn, body.kind, body.value, target, note=body.note, replace=body.replace)
        except AliasConflict as e:
            raise Problem(409, "Conflict", str(e), existing=e.existing, replaceable=e.replaceable)
    return {"kind": body.kind, "value": body.value, "target": target, "note": body.note}
