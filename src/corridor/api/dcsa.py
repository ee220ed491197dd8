"""DCSA Track & Trace 2.2 at /v2: events (every filter, operator suffixes, keyset paging) and
event subscriptions with signed callbacks. Visibility applies exactly as everywhere else."""

from __future__ import annotations

import base64
import inspect
import re
from datetime import datetime, timezone
from urllib.parse import urlsplit

import httpx
from fastapi import APIRouter, Body, Depends, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from ..access import callbacks
from ..access.visibility import event_clause, viewer_for
from ..store import Store
from ..store.events import row_to_event, select_events
from ..store.retractions import visible
from ..store.tables import events
from ..store.tracking import departure_services
from ..tracking import dcsa_query, hooks, outbox  # noqa: F401 - hooks registers the ingest steps
from ..tracking.dcsa_out import dcsa_22_gap, departures_to_name, place_names, to_dcsa_22
from .deps import Principal, get_store, principal, writer
from .problems import Problem

API_VERSION = "2.2.0"
V = {"API-Version": API_VERSION}
SUB_FIELDS = {"callbackUrl", "transportDocumentTypeCode"} | set(dcsa_query.LISTS) | set(dcsa_query.VALUES)
TRANSPORT_DOCUMENT_TYPES = {"BOL", "SWB"}    # 2.2 transportDocumentType (deprecated filter, still valid)
# a request's API-Version "MUST only contain MAJOR version" aligned with /v2; the DCSA conformance
# tool sends the full 2.2.0, so a 2.x version is taken too
_REQUEST_VERSION = re.compile(r"2(\.\d+){0,2}")


class _Dcsa22Route(APIRoute):
    """A /v2 route: the request's API-Version checked, and every answer carrying API-Version,
    the errors too (2.2's `default` response declares it, and a client checks it on a 400 as on a
    200): what the view, its dependencies (the key check) or body validation raise is answered
    here by the app's own handler, then stamped."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                asked = request.headers.get("API-Version")
                if asked is not None and not _REQUEST_VERSION.fullmatch(asked.strip()):
                    raise Problem(400, "Bad Request", f"API-Version {asked!r} does not match /v2: send 2 (the "
                                  "major version) or leave the header out", reason="invalidInput")
                response = await handler(request)
            except Exception as exc:
                answer = next((request.app.exception_handlers[k] for k in type(exc).__mro__
                               if k in request.app.exception_handlers), None)
                if answer is None:
                    raise
                response = answer(request, exc)
                if inspect.isawaitable(response):
                    response = await response
            response.headers.setdefault("API-Version", API_VERSION)
            return response
        return route


router = APIRouter(prefix="/v2", tags=["DCSA Track & Trace 2.2"], route_class=_Dcsa22Route)


def _pages(request: Request, tokens: dict) -> dict:
    base = str(request.url.path)
    names = {"current": "Current-Page", "next": "Next-Page", "prev": "Prev-Page", "first": "First-Page",
             "last": "Last-Page"}
    return {names[k]: f"{base}?cursor={t}" for k, t in tokens.items()}


@router.get("/events", summary="Find events (DCSA TNT 2.2)")
def get_events(request: Request, p: Principal = Depends(principal), store: Store = Depends(get_store)):
    """Events the caller may see, filtered as the DCSA 2.2 specification describes, paged by cursor."""
    try:
        q, pos = dcsa_query.parse(list(request.query_params.multi_items()))
    except ValueError as e:
        raise Problem(400, "Bad Request", str(e), reason="invalidQuery")
    with store.read() as conn:
        items, tokens = dcsa_query.page(conn, q, pos, viewer_for(conn, p.party))
    return JSONResponse(items, headers=V | _pages(request, tokens))


@router.get("/events/{eventID}", summary="Find an event by its eventID")
def get_event(eventID: str, p: Principal = Depends(principal), store: Store = Depends(get_store)):
    """One event by the eventID Corridor gave it; 404 when unknown or not visible."""
    seq = outbox.seq_of(eventID)
    if seq is None:
        raise Problem(404, "Not Found", f"no event {eventID}", reason="notFound")
    with store.read() as conn:
        q = select_events().where(events.c.seq == seq, visible())   # a retracted event is gone: 404
        vis = event_clause(viewer_for(conn, p.party))
        r = conn.execute(q if vis is None else q.where(vis)).first()
        # the service of its departure when the call names none, as GET /v2/events shows it
        services = departure_services(conn, departures_to_name([r])) if r is not None else {}
        names = place_names(conn)
    if r is None or dcsa_22_gap(e := row_to_event(r)):
        raise Problem(404, "Not Found", f"no event {eventID}", reason="notFound")
    return JSONResponse(to_dcsa_22(e, outbox.event_uuid(r.seq), r.received_at,
                                   departure_service=services.get(r.departure_id), names=names), headers=V)


# --- subscriptions ----------------------------------------------------------------------------

def _check_body(body: dict, *, with_secret: bool, allow_private: bool = False) -> tuple[str, dict, bytes | None]:
    """The callback URL, filters and secret of a subscription body; Problem 400 with the reason.

    The callback host must resolve to public addresses only, unless the installation allows
    private ones (CORRIDOR_WEBHOOK_ALLOW_PRIVATE): access/callbacks.py."""
    if not isinstance(body, dict):
        raise Problem(400, "Bad Request", "the body must be a JSON object", reason="invalidInput")
    unknown = set(body) - SUB_FIELDS - {"secret", "subscriptionID"}
    if unknown:
        raise Problem(400, "Bad Request", f"unknown field(s): {', '.join(sorted(unknown))}", reason="invalidInput")
    url = body.get("callbackUrl")
    parts = urlsplit(url) if isinstance(url, str) else None
    if not parts or parts.scheme not in ("http", "https") or not parts.netloc:
        raise Problem(400, "Bad Request", "callbackUrl must be an absolute http(s) URL", reason="invalidInput")
    try:   # what delivery will post to: a URL its client cannot send (control characters, ...) is refused now
        httpx.URL(url)
    except httpx.InvalidURL as e:
        raise Problem(400, "Bad Request", f"callbackUrl is not a URL that can be called: {e}", reason="invalidInput")
    secret = None
    if with_secret:
        if "secret" not in body:
            raise Problem(400, "Bad Request", "secret is required (base64 of 32 to 64 bytes)", reason="invalidInput")
        try:
            secret = outbox.decode_secret(body["secret"])
        except ValueError as e:
            raise Problem(400, "Bad Request", str(e), reason="invalidInput")
    elif "secret" in body:
        raise Problem(400, "Bad Request", "secret may only be set on POST, or with PUT .../secret",
                      reason="invalidInput")
    filters: dict = {}
    for k, v in body.items():
        if k in ("callbackUrl", "secret", "subscriptionID") or v in (None, [], ""):
            continue
        if k in dcsa_query.LISTS or k == "transportDocumentTypeCode":
            allowed = dcsa_query.LISTS.get(k, TRANSPORT_DOCUMENT_TYPES)
            if not isinstance(v, list) or any(not isinstance(x, str) or x not in allowed for x in v):
                raise Problem(400, "Bad Request", f"{k} must be a list of {', '.join(sorted(allowed))}",
                              reason="invalidInput")
        else:
            # the same schema as the query parameter: a list or an over-long value would be stored
            # and then match no event, silently
            try:
                dcsa_query.check_value(k, v)
            except ValueError as e:
                raise Problem(400, "Bad Request", str(e), reason="invalidInput")
        filters[k] = v
    if not allow_private:   # last: it looks the host up
        try:
            callbacks.check(url)
        except callbacks.CallbackRefused as e:
            raise Problem(400, "Bad Request", str(e), reason="invalidInput")
    return url, filters, secret


def _allow_private(request: Request) -> bool:
    """The installation's CORRIDOR_WEBHOOK_ALLOW_PRIVATE, as this app was configured."""
    return bool(getattr(request.app.state.settings, "webhook_allow_private", False))


def _json(r) -> dict:
    return {"subscriptionID": r.id, "callbackUrl": r.callback_url,
            **{k: v for k, v in (r.filters or {}).items() if k not in outbox.CORRIDOR_FILTERS}}


def _own(conn, sid: str, p: Principal):
    r = outbox.get(conn, sid)
    if r is None or (r.party_id != p.party.id and not p.party.is_admin):
        raise Problem(404, "Not Found", f"no subscription {sid}", reason="notFound")
    return r


@router.get("/event-subscriptions", summary="The caller's event subscriptions")
def list_subscriptions(request: Request, limit: int = 100, cursor: str | None = None,
                       p: Principal = Depends(principal), store: Store = Depends(get_store)):
    """Subscriptions of the caller's party (all for the administrator), paged by cursor."""
    if limit < 1:
        raise Problem(400, "Bad Request", "limit must be 1 or more", reason="invalidQuery")
    limit = min(limit, 1000)   # 2.2 sets no maximum: `limit` is the most a page holds
    try:
        start = int(base64.urlsafe_b64decode(cursor + "==").decode()) if cursor else 0
    except Exception:
        raise Problem(400, "Bad Request", "cursor is not one this server issued", reason="invalidQuery")
    with store.read() as conn:
        rows = outbox.list_for(conn, None if p.party.is_admin else p.party.id)
    tok = lambda n: base64.urlsafe_b64encode(str(n).encode()).decode().rstrip("=")
    pages = {"current": tok(start), "first": tok(0)}
    if start + limit < len(rows):
        pages["next"] = tok(start + limit)
    if start > 0:
        pages["prev"] = tok(max(0, start - limit))
    if rows:
        pages["last"] = tok(max(0, (len(rows) - 1) // limit * limit))
    headers = V | {k: v.replace("?cursor=", f"?limit={limit}&cursor=") for k, v in _pages(request, pages).items()}
    return JSONResponse([_json(r) for r in rows[start:start + limit]], headers=headers)


@router.post("/event-subscriptions", status_code=201, summary="Subscribe to events")
def create_subscription(request: Request, body: dict = Body(...), p: Principal = Depends(writer),
                        store: Store = Depends(get_store)):
    """Create a subscription; callbacks carry events stored from now on, signed with the secret.
    The callback host must be public (docs/access.md)."""
    url, filters, secret = _check_body(body, with_secret=True, allow_private=_allow_private(request))
    with store.tx() as conn:
        sid = outbox.create(conn, p.party.id, url, secret, filters)
        r = outbox.get(conn, sid)
    return JSONResponse(_json(r), status_code=201, headers=V)


@router.get("/event-subscriptions/{subscriptionID}", summary="One subscription")
def get_subscription(subscriptionID: str, p: Principal = Depends(principal), store: Store = Depends(get_store)):
    with store.read() as conn:
        return JSONResponse(_json(_own(conn, subscriptionID, p)), headers=V)


@router.put("/event-subscriptions/{subscriptionID}", summary="Change a subscription (not its secret)")
def put_subscription(request: Request, subscriptionID: str, body: dict = Body(...), p: Principal = Depends(writer),
                     store: Store = Depends(get_store)):
    url, filters, _ = _check_body(body, with_secret=False, allow_private=_allow_private(request))
    if body.get("subscriptionID") not in (None, subscriptionID):
        raise Problem(400, "Bad Request", "subscriptionID in the body differs from the path", reason="invalidInput")
    with store.tx() as conn:
        _own(conn, subscriptionID, p)
        outbox.change(conn, subscriptionID, callback_url=url, filters=filters)
        return JSONResponse(_json(outbox.get(conn, subscriptionID)), headers=V)


@router.delete("/event-subscriptions/{subscriptionID}", status_code=204, summary="Remove a subscription")
def delete_subscription(subscriptionID: str, p: Principal = Depends(writer), store: Store = Depends(get_store)):
    with store.tx() as conn:
        _own(conn, subscriptionID, p)
        outbox.remove(conn, subscriptionID)
    return Response(status_code=204, headers=V)


@router.put("/event-subscriptions/{subscriptionID}/secret", status_code=204, summary="Rotate the secret")
def rotate_secret(subscriptionID: str, body: dict = Body(...), p: Principal = Depends(writer),
                  store: Store = Depends(get_store)):
    """Replace the signing secret; callbacks from now on are signed with the new one."""
    try:
        secret = outbox.decode_secret((body or {}).get("secret") or "")
    except ValueError as e:
        raise Problem(400, "Bad Request", str(e), reason="invalidInput")
    with store.tx() as conn:
        _own(conn, subscriptionID, p)
        outbox.change(conn, subscriptionID, secret=secret)
    return Response(status_code=204, headers=V)


