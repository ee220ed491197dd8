"""Quotes, bookings and departures over HTTP: /api/v1/quotes, /api/v1/bookings, /api/v1/departures."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timezone

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import Field

from ..access.visibility import Viewer, booking_view, sees_whole_booking, viewer_for
from ..booking.containers import from_counts, parse_containers, parse_size
from ..booking.quotes import read_quote_id
from ..booking.records import IDEMPOTENCY_KEEP, BookingRecord, IdempotencyKey
from ..booking.service import (BookingNotFound, BookingService, IdempotencyKeyReused, Quote, QuoteChanged,
                               SpaceUnavailable, booking_json, departure_json, ready_time)
from ..domain.errors import DomainError
from ..domain.parties import Role
from .deps import Principal, principal, writer
from .bodies import StrictBody as _Strict
from .problems import Problem

router = APIRouter(prefix="/api/v1", tags=["bookings"])


class ContainerItem(_Strict):
    count: int = Field(..., description="how many boxes")
    size_type: str = Field(..., description="ISO 6346 size-type (22G1, 42G1, 45G1) or 20/40/40HC")


class QuoteRequest(_Strict):
    origin: str = Field(..., description="UN/LOCODE (CNXIA) or name (Xi'an)", examples=["CNXIA"])
    destination: str = Field(..., examples=["TRIST"])
    ready: str = Field(..., description="cargo-ready date YYYY-MM-DD (midnight at the origin) or ISO 8601 time",
                       examples=["2026-12-01"])
    containers: str | list[ContainerItem] = Field(..., description="'2x40', '1x20,3x40HC' or a list",
                                                  examples=["2x40"])
    max_options: int = Field(6, ge=1, le=12)
    include_suez: bool = Field(True, description="offer the sea route through the Suez Canal, marked restricted, "
                               "beside the one round the Cape (false: leave it out; not_offered says so)")


class BookingRequest(QuoteRequest):
    option: int | None = Field(None, description="the quote option to book (from 1)")
    departure_ids: list[str] | None = Field(None, description="or the departures themselves, in order")
    quote_id: str | None = Field(None, description="the `quote_id` of the option as the quote showed it: the "
                                 "booking is made only on those departures at that price, else 409 naming "
                                 "what changed")
    shipper: str | None = Field(None, description="party id of the shipper (default: the caller)")
    forwarder: str | None = None
    nominated: list[str] = Field(default_factory=list, description="other parties allowed to see it")
    confirm: bool = Field(True, description="confirm at once (false: held as requested)")


class CancelRequest(_Strict):
    reason: str | None = None


class AmendRequest(_Strict):
    departure_ids: list[str] | None = Field(None, description="the new legs from where the route changes")
    from_place: str | None = Field(None, alias="from", description="re-plan from this place (default origin)")
    ready: str | None = Field(None, description="cargo ready there (default: when the booking arrives there)")
    option: int | None = Field(None, description="the re-routing option to take (from 1)")
    quote_id: str | None = Field(None, description="the option's `quote_id` from GET .../reroute: taken only as "
                                 "shown, else 409 naming what changed")
    avoid: list[str] = Field(default_factory=list, description="departure ids to avoid (missed, cancelled)")
    reason: str | None = None


def service(request: Request) -> BookingService:
    """A booking service on the app's store and its cached network."""
    return BookingService(request.app.state.store, network=request.app.state.network(),
                          clock=lambda: datetime.now(timezone.utc))


def _containers(spec) -> tuple:
    if isinstance(spec, str):
        return parse_containers(spec)
    counts: dict[str, int] = {}
    for item in spec:
        if item.count <= 0:
            raise DomainError(f"container count {item.count} for {item.size_type}: must be at least 1")
        code = parse_size(item.size_type)
        counts[code] = counts.get(code, 0) + item.count
    return from_counts(counts)


def _quote(svc: BookingService, body: QuoteRequest) -> Quote:
    ready = ready_time(svc.network, body.origin, body.ready)
    return svc.quote(body.origin, body.destination, ready, _containers(body.containers), body.max_options,
                     suez=body.include_suez)


def quote_json(q: Quote, svc: BookingService) -> dict:
    return q.as_json(svc.network)


def _viewer(svc: BookingService, p: Principal) -> Viewer:
    with svc.store.read() as conn:
        return viewer_for(conn, p.party)


def _capacity_problem(e: SpaceUnavailable, svc: BookingService) -> Problem:
    return Problem(409, "Capacity exceeded", str(e), departure_id=e.departure_id, free_teu=e.free_teu,
                   requested_teu=e.requested_teu, alternatives=[o.as_json(svc.network) for o in e.alternatives])


def _may_change(p: Principal, rec: BookingRecord) -> None:
    b = rec.booking
    if not (p.party.is_admin or p.party.id in (b.shipper, b.forwarder)):
        raise Problem(403, "Forbidden", f"only the shipper, the forwarder or the administrator may change {b.ref}")


@router.post("/quotes", summary="Route options with price and CO2e for containers ready at a place")
def post_quote(body: QuoteRequest, svc: BookingService = Depends(service), _: Principal = Depends(principal)) -> dict:
    """Options from the Middle Corridor and its alternatives on live free space (capacity − reserved)."""
    return quote_json(_quote(svc, body), svc)


_KEY = re.compile(r"[\x21-\x7e]{1,255}")   # visible ASCII, as the key goes into logs and problem details


def _idempotency(p: Principal, header: str | None, body: BookingRequest) -> IdempotencyKey | None:
    """The caller's Idempotency-Key (a plain token, or a structured-field string in quotes) with a
    digest of the body as parsed, so key order and spacing do not make another request."""
    if header is None:
        return None
    key = header.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not _KEY.fullmatch(key):
        raise Problem(400, "Bad Request", "Idempotency-Key must be 1 to 255 visible ASCII characters "
                      "(a UUID is a good key)")
    canon = json.dumps(body.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":"))
    return IdempotencyKey(p.party.id, key, hashlib.sha256(canon.encode()).hexdigest())


def _quote_changed(e: QuoteChanged) -> Problem:
    return Problem(409, "Quote changed", str(e), changes=e.changes, departure_ids=list(e.departure_ids),
                   price={"amount": round(e.price, 2), "currency": "USD"})


def _reused(e: IdempotencyKeyReused) -> Problem:
    return Problem(422, "Idempotency-Key reused", str(e))


@router.post("/bookings", status_code=201, summary="Book space on every leg of a route option")
def post_booking(body: BookingRequest, response: Response, svc: BookingService = Depends(service),
                 p: Principal = Depends(writer),
                 idempotency_key: str | None = Header(
                     None, alias="Idempotency-Key",
                     description=f"makes a retry safe: the same key and body within "
                     f"{int(IDEMPOTENCY_KEEP.total_seconds() // 3600)} h answer with the booking the first made "
                     "(200, Idempotent-Replayed: true); the same key with another body is 422")) -> dict:
    """Reserve the option's departures in one transaction; 409 naming the full departure, with alternatives.

    With `quote_id` the booking is made only as quoted (409 Quote changed names the differences)."""
    party = p.party
    shipper, forwarder = body.shipper or party.id, body.forwarder
    if not party.is_admin:
        if party.has(Role.FORWARDER) and shipper != party.id:
            forwarder = party.id
        elif party.has(Role.SHIPPER) or party.has(Role.FORWARDER):
            if shipper != party.id:
                raise Problem(403, "Forbidden", f"party {party.id} may book only for itself")
        else:
            raise Problem(403, "Forbidden", "only shippers, forwarders and the administrator book space")
    idem = _idempotency(p, idempotency_key, body)
    try:
        # a retry answers from the key before anything is planned again (the quote may differ by now)
        rec = svc.replay(idem) if idem else None
        if rec is None:
            quoted = read_quote_id(body.quote_id) if body.quote_id else None
            kw = dict(forwarder=forwarder, nominated=body.nominated, created_by=party.id, confirm=body.confirm,
                      idempotency=idem, quoted=quoted)
            if body.departure_ids:
                ready = ready_time(svc.network, body.origin, body.ready)
                rec = svc.book(shipper, body.origin, body.destination, ready, _containers(body.containers),
                               body.departure_ids, **kw)
            else:
                if body.option is None:
                    raise DomainError("say which option to book (`option`, from 1) or give `departure_ids`")
                rec = svc.book_option(shipper, _quote(svc, body), body.option, **kw)
    except SpaceUnavailable as e:
        raise _capacity_problem(e, svc)
    except IdempotencyKeyReused as e:
        raise _reused(e)
    except QuoteChanged as e:
        raise _quote_changed(e)
    if rec.replayed:   # made by the first request with this key: nothing new was created
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    return booking_json(rec, svc.network)


@router.get("/bookings", summary="Bookings the caller may see, newest first")
def get_bookings(status: str | None = None, limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=10**9),
                 svc: BookingService = Depends(service), p: Principal = Depends(principal)) -> dict:
    v = _viewer(svc, p)
    recs = svc.list(v, status=status, limit=limit, offset=offset)
    with svc.store.read() as conn:   # an operator is shown its part of each (access.visibility)
        return {"bookings": [booking_view(conn, v, booking_json(r, svc.network)) for r in recs]}


@router.get("/bookings/{ref}", summary="One booking with its legs and re-routing history")
def get_booking(ref: str, svc: BookingService = Depends(service), p: Principal = Depends(principal)) -> dict:
    v = _viewer(svc, p)
    try:
        doc = booking_json(svc.get(ref, v), svc.network)
    except BookingNotFound as e:
        raise Problem(404, "Not Found", str(e))
    with svc.store.read() as conn:   # an operator is shown its part (access.visibility)
        return booking_view(conn, v, doc)


def _own(svc: BookingService, ref: str, p: Principal) -> Viewer:
    v = _viewer(svc, p)
    try:
        _may_change(p, svc.get(ref, v))
    except BookingNotFound as e:
        raise Problem(404, "Not Found", str(e))
    return v


@router.post("/bookings/{ref}/confirm", summary="Confirm a requested booking")
def confirm_booking(ref: str, svc: BookingService = Depends(service), p: Principal = Depends(writer)) -> dict:
    return booking_json(svc.confirm(ref, _own(svc, ref, p)), svc.network)


@router.post("/bookings/{ref}/cancel", summary="Cancel a booking and release its space")
def cancel_booking(ref: str, body: CancelRequest | None = None, svc: BookingService = Depends(service),
                   p: Principal = Depends(writer)) -> dict:
    v = _own(svc, ref, p)
    return booking_json(svc.cancel(ref, v, reason=body.reason if body else None), svc.network)


@router.get("/bookings/{ref}/reroute", summary="Re-routing options for the rest of a booking's journey")
def reroute_options(ref: str, from_place: str | None = Query(None, alias="from"), ready: str | None = None,
                    avoid: list[str] = Query(default=[]), svc: BookingService = Depends(service),
                    p: Principal = Depends(principal)) -> dict:
    v = _viewer(svc, p)
    try:
        rec = svc.get(ref, v)
        b = rec.booking
        if not sees_whole_booking(v, b.shipper, b.forwarder, b.nominated):
            # a re-plan to the booking's destination is the shipper's journey, not an operator's part
            raise Problem(403, "Forbidden", f"only the booking's own parties may re-route {ref}")
        at = ready_time(svc.network, from_place or rec.booking.origin, ready) if ready else None
        return quote_json(svc.reroute_options(ref, from_place, at, v, avoid=avoid), svc)
    except BookingNotFound as e:
        raise Problem(404, "Not Found", str(e))


@router.post("/bookings/{ref}/amend", summary="Re-route a booking: release the old legs, reserve the new ones")
def amend_booking(ref: str, body: AmendRequest, svc: BookingService = Depends(service),
                  p: Principal = Depends(writer)) -> dict:
    """Give `departure_ids`, or `from` + `option` (of GET .../reroute with the same `from`, `ready`, `avoid`)."""
    v = _own(svc, ref, p)
    ids = body.departure_ids
    try:
        if not ids:
            if body.option is None:
                raise DomainError("give the new `departure_ids`, or `from` and the `option` to take")
            rec = svc.get(ref, v)
            at = ready_time(svc.network, body.from_place or rec.booking.origin, body.ready) if body.ready else None
            q = svc.reroute_options(ref, body.from_place, at, v, avoid=body.avoid)
            if body.quote_id:
                ids = list(svc.check_quoted(read_quote_id(body.quote_id), q, body.option).departure_ids)
            elif not 1 <= body.option <= len(q.options):
                raise DomainError(f"option {body.option} does not exist; there are {len(q.options)}")
            else:
                ids = list(q.options[body.option - 1].departure_ids)
        elif body.quote_id and tuple(ids) != read_quote_id(body.quote_id).departure_ids:
            raise DomainError("departure_ids are not those of the quote_id's option; give one or the other")
        return booking_json(svc.amend(ref, ids, v, reason=body.reason), svc.network)
    except SpaceUnavailable as e:
        raise _capacity_problem(e, svc)
    except QuoteChanged as e:
        raise _quote_changed(e)


@router.get("/departures", summary="Departures with how full each is, by departure or by arrival time")
def get_departures(from_place: str | None = Query(None, alias="from", description="UN/LOCODE or name"),
                   to: str | None = Query(None, description="UN/LOCODE or name"),
                   start: datetime | None = Query(None, description="ISO 8601 with offset; default now"),
                   end: datetime | None = None, mode: str | None = None,
                   window: str = Query("departure", pattern="^(departure|arrival)$", description=(
                       "which time `start`/`end` bound and the list is ordered by: `departure`, or "
                       "`arrival` (what reaches `to` in the window, those under way now included)")),
                   limit: int = Query(100, ge=1, le=5000),
                   svc: BookingService = Depends(service), _: Principal = Depends(principal)) -> dict:
    for t, name in ((start, "start"), (end, "end")):
        if t is not None and t.tzinfo is None:
            raise DomainError(f"{name} {t.isoformat()} has no UTC offset; give it as ISO 8601 with offset")
    rows = svc.departures(from_place, to, start or datetime.now(timezone.utc), end, mode, limit, window=window)
    return {"departures": [departure_json(d, n, svc.network) for d, n in rows]}
