"""GET /v2/events as a query: every DCSA 2.2 filter, the operator suffixes, keyset paging.

Parameters are checked here and a ValueError carries the message the 400 answer shows. The
cursor is an opaque token holding the filters and the position, so the paging headers stay valid
while new events arrive (keyset on the sort column and `seq`, never an offset).
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, and_, exists, or_, select

from ..access.visibility import Viewer, event_clause
from ..domain.events import EQUIPMENT_CODES, SHIPMENT_CODES, TRANSPORT_CODES
from ..domain.parties import ADMIN_PARTY
from ..ingest.dcsa import DOCUMENT_TYPES_22
from ..store.events import horizon, row_to_event, select_events
from ..store.retractions import visible
from ..store.tables import booking_legs, departures, events
from ..store.tracking import departure_services
from .dcsa_out import dcsa_22_gap, departures_to_name, place_names, shipment_codes, to_dcsa_22
from .outbox import event_uuid

EVENT_TYPES = ("SHIPMENT", "TRANSPORT", "EQUIPMENT")
LISTS = {"eventType": set(EVENT_TYPES), "shipmentEventTypeCode": SHIPMENT_CODES - {"CANC"},
         "documentTypeCode": set(DOCUMENT_TYPES_22), "transportEventTypeCode": TRANSPORT_CODES,
         "equipmentEventTypeCode": EQUIPMENT_CODES}
VALUES = {"carrierBookingReference": 35, "bookingReference": 35, "transportDocumentReference": 20,
          "transportDocumentID": 36, "scheduleID": 36, "transportCallID": 100, "vesselIMONumber": 7,
          "carrierVoyageNumber": 50, "exportVoyageNumber": 50, "carrierServiceCode": 5, "UNLocationCode": 5,
          "equipmentReference": 15}
TIMES = {"eventCreatedDateTime": "received_at", "eventDateTime": "event_time"}
OPS = {"gte", "gt", "lte", "lt", "eq"}
SORTABLE = {"eventCreatedDateTime": "received_at", "eventDateTime": "event_time"}
PAGING = {"limit", "cursor", "sort"}
MAX_LIMIT = 1000
_DOC_REF = {"BKG": "BKG", "TRD": "BOL"}


@dataclass
class Query:
    """Validated filters, sort and page size of one GET /v2/events."""

    filters: dict = field(default_factory=dict)      # name -> value or list
    times: list = field(default_factory=list)        # [(column, op, iso)]
    sort: tuple[str, bool] = ("seq", False)          # (column, descending)
    limit: int = 100

    def token(self, pos: dict) -> str:
        doc = {"f": self.filters, "t": self.times, "s": list(self.sort), "l": self.limit, **pos}
        return base64.urlsafe_b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode().rstrip("=")


def parse(params: list[tuple[str, str]]) -> tuple[Query, dict]:
    """A Query and the page position from request parameters; ValueError with the reason."""
    names = [k for k, _ in params]
    if "cursor" in names:
        raw = dict(params)["cursor"]
        try:
            doc = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
            q = Query(doc["f"], [tuple(t) for t in doc["t"]], tuple(doc["s"]), int(doc["l"]))
        except Exception:
            raise ValueError("cursor is not one this server issued; start again without it")
        if "limit" in names:
            q.limit = _limit(dict(params)["limit"])
        return q, {k: doc[k] for k in ("a", "b", "last") if k in doc}
    q = Query()
    for name, value in params:
        base, _, op = name.partition(":")
        if base in PAGING and not op:
            if base == "limit":
                q.limit = _limit(value)
            elif base == "sort":
                q.sort = _sort(value)
            continue
        if base in TIMES:
            op = op or "eq"
            if op not in OPS:
                raise ValueError(f"{name}: unknown operator {op!r}; use one of :gte, :gt, :lte, :lt, :eq")
            q.times.append((TIMES[base], op, _when(name, value).isoformat()))
            continue
        if op:
            raise ValueError(f"{name}: operators apply only to eventCreatedDateTime and eventDateTime")
        if base in LISTS:
            items = [v.strip() for v in value.split(",") if v.strip()]
            bad = [v for v in items if v not in LISTS[base]]
            if not items or bad:
                raise ValueError(f"{base}: {', '.join(bad) or 'empty value'} is not one of "
                                 f"{', '.join(sorted(LISTS[base]))}")
            # given twice (eventType=SHIPMENT&eventType=EQUIPMENT): one list, OR-ed as the comma form
            q.filters[base] = list(dict.fromkeys(q.filters.get(base, []) + items))
        elif base in VALUES:
            check_value(base, value)
            if q.filters.get(base, value) != value:   # no value both is and is not: say so, not last-wins
                raise ValueError(f"{base}: given twice with different values ({q.filters[base]!r}, {value!r})")
            q.filters[base] = value
        else:
            raise ValueError(f"unknown query parameter {name!r}")
    return q, {}


def check_value(name: str, value) -> None:
    """ValueError unless `value` is one the 2.2 schema allows for the single-valued filter `name`
    (a query parameter or a subscription body field: both carry the same schema)."""
    if not isinstance(value, str):
        raise ValueError(f"{name}: must be a string")
    if not value or len(value) > VALUES[name]:
        raise ValueError(f"{name}: must be 1 to {VALUES[name]} characters")
    if name == "UNLocationCode" and not re.fullmatch(r"[A-Z]{2}[A-Z2-9]{3}", value):
        raise ValueError("UNLocationCode: must be a UN/LOCODE such as KZAAU (2 letters, 3 letters/digits)")
    if name == "vesselIMONumber" and not re.fullmatch(r"\d{7}", value):
        raise ValueError("vesselIMONumber: must be 7 digits")
    if name in ("transportDocumentID", "scheduleID"):
        try:
            uuid.UUID(value)
        except ValueError:
            raise ValueError(f"{name}: must be a UUID")


def _limit(value: str) -> int:
    """The page size: 2.2 sets a minimum of 1 and no maximum, and `limit` is the most items a page
    may hold, so a larger one is answered with pages of MAX_LIMIT (Next-Page for the rest)."""
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"limit: {value!r} is not an integer")
    if n < 1:
        raise ValueError("limit: must be 1 or more")
    return min(n, MAX_LIMIT)


def _sort(value: str) -> tuple[str, bool]:
    parts = [p for p in value.split(",") if p]
    if len(parts) != 1:
        raise ValueError("sort: give one field, e.g. eventCreatedDateTime:DESC")
    name, _, direction = parts[0].partition(":")
    if name not in SORTABLE:
        raise ValueError(f"sort: cannot sort by {name!r}; use one of {', '.join(SORTABLE)}")
    if direction.upper() not in ("", "ASC", "DESC"):
        raise ValueError(f"sort: direction must be ASC or DESC, not {direction!r}")
    return SORTABLE[name], direction.upper() == "DESC"


# RFC 3339 date-time, the `format: date-time` of eventCreatedDateTime (the offset is required)
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def _when(name: str, value: str) -> datetime:
    # the spec's own example (eventCreatedDateTime:gte=2021-04-01T14:12:56+01:00) sent unencoded
    # arrives with its "+" decoded to a space: that space can only be the offset's sign
    value = re.sub(r"(?<=\d) (?=\d{2}:\d{2}$)", "+", value)
    if not _DATE_TIME.fullmatch(value):
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?", value):
            raise ValueError(f"{name}: {value!r} needs a UTC offset (e.g. +05:00 or Z)")
        raise ValueError(f"{name}: {value!r} is not an ISO 8601 date-time such as 2021-04-01T14:12:56+01:00")
    try:
        return datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{name}: {value!r} is not a date-time (month 1-12, day of the month, 24-hour clock)")


def conditions(q: Query, v: Viewer) -> list:
    """SQL conditions of the query, visibility included."""
    c = events.c
    conds = [c.kind.in_(q.filters.get("eventType", EVENT_TYPES))]
    for key, kind in (("shipmentEventTypeCode", "SHIPMENT"), ("transportEventTypeCode", "TRANSPORT"),
                      ("equipmentEventTypeCode", "EQUIPMENT")):
        if key in q.filters:
            codes = shipment_codes(q.filters[key]) if kind == "SHIPMENT" else q.filters[key]
            conds.append(or_(c.kind != kind, c.code.in_(codes)))
    if "documentTypeCode" in q.filters:
        docs = [or_(*[_refs().like(f'%["{_DOC_REF.get(d, d)}",%') for d in q.filters["documentTypeCode"]])]
        conds.append(or_(c.kind != "SHIPMENT", *docs))
    f = q.filters
    bkg = f.get("carrierBookingReference") or f.get("bookingReference")
    if bkg:
        conds.append(c.booking_ref == bkg)
    bol = f.get("transportDocumentReference")
    if bol:
        conds.append(_refs().like(f'%["BOL","{bol}"]%'))
    if f.get("transportDocumentID") or f.get("scheduleID"):
        conds.append(c.seq < 0)   # Corridor issues neither: nothing matches
    if f.get("vesselIMONumber"):
        conds.append(c.vehicle == f["vesselIMONumber"])
    voyage = f.get("exportVoyageNumber") or f.get("carrierVoyageNumber")
    if voyage:
        conds.append(c.voyage == voyage)
    if f.get("carrierServiceCode"):
        # the service the sender named on the call, or that of the timetable departure it was mapped to
        code = f["carrierServiceCode"]
        conds.append(or_(c.service == code,
                         c.departure_id.in_(select(departures.c.id).where(departures.c.service == code))))
    if f.get("UNLocationCode"):
        conds.append(c.location == f["UNLocationCode"])
    if f.get("equipmentReference"):
        conds.append(c.equipment == f["equipmentReference"])
    for col, op, iso in q.times:
        t, colx = datetime.fromisoformat(iso), getattr(c, col)
        conds.append({"gte": colx >= t, "gt": colx > t, "lte": colx <= t, "lt": colx < t, "eq": colx == t}[op])
    vis = event_clause(v)
    if vis is not None:
        conds.append(vis)
    conds.append(current_plan_only())
    conds.append(visible())   # an event its sender retracted is not shown (store.retractions)
    return conds


# ---- a booking's current plan only (booking capability, helper-54) ----------------------------
def current_plan_only():
    """Leave out a booking's planned legs that a re-route replaced: Corridor's own TRANSPORT PLN
    events of a booking (booking.service._plan_events: no trip, the departure on the call) stand
    while the booking has an active leg on that departure (booking_legs.active, cleared by amend).
    A departure the new plan keeps, or goes back to, keeps its one event (same report key)."""
    c, leg = events.c, booking_legs.c
    return or_(c.classifier != "PLN", c.kind != "TRANSPORT", c.source_party != ADMIN_PARTY,
               c.booking_ref.is_(None), c.departure_id.is_(None), c.trip_id.is_not(None),
               exists().where(leg.booking_ref == c.booking_ref, leg.departure_id == c.departure_id,
                              leg.active.is_(True)))


def page(conn: Connection, q: Query, pos: dict, v: Viewer) -> tuple[list[dict], dict]:
    """One page of DCSA 2.2 events and the paging tokens (current, next, prev, first, last)."""
    col_name, desc = q.sort
    col, seq = getattr(events.c, col_name), events.c.seq
    conds = conditions(q, v)
    backward = "b" in pos or "last" in pos          # read against the sort order, then flip
    # in seq order a Next-Page is a seq cursor: never past a seq a transaction may still commit
    # below (store.events.horizon; None on SQLite); what waits above it comes on a later page
    hz = horizon(conn) if col_name == "seq" and not desc else None
    if hz is not None:
        held = [*conds, seq > hz]
        conds.append(seq <= hz)
    if "a" in pos or "b" in pos:
        k = pos.get("a") or pos.get("b")
        kv = _key_value(col_name, k[0])
        forward_after = ("a" in pos) != desc        # after the key in ascending terms
        if forward_after:
            conds.append(or_(col > kv, and_(col == kv, seq > k[1])) if col_name != "seq" else seq > k[1])
        else:
            conds.append(or_(col < kv, and_(col == kv, seq < k[1])) if col_name != "seq" else seq < k[1])
    asc = desc == backward
    order = [col.asc(), seq.asc()] if asc else [col.desc(), seq.desc()]
    if col_name == "seq":
        order = order[1:]
    items: list[tuple] = []
    scan_after = None
    want = q.limit + 1
    pred = _python_filter(q)
    services: dict[str, str | None] = {}           # departure id -> its service, read per scan
    names = place_names(conn)                       # places with no UN/LOCODE, named in words
    while len(items) < want:
        sq = select_events().where(*conds)
        if scan_after is not None:
            sq = sq.where(seq > scan_after if asc else seq < scan_after) if col_name == "seq" else sq.where(
                or_(col > scan_after[0], and_(col == scan_after[0], seq > scan_after[1])) if asc else
                or_(col < scan_after[0], and_(col == scan_after[0], seq < scan_after[1])))
        rows = conn.execute(sq.order_by(None).order_by(*order).limit(max(want * 2, 200))).all()
        _read_services(conn, rows, services)
        for r in rows:
            e = row_to_event(r)
            if dcsa_22_gap(e):
                continue
            doc = to_dcsa_22(e, event_uuid(r.seq), r.received_at, departure_service=services.get(r.departure_id),
                             names=names)
            if pred(doc):
                items.append((r, doc))
                if len(items) >= want:
                    break
        if len(rows) < max(want * 2, 200) or not rows:
            break
        last = rows[-1]
        scan_after = last.seq if col_name == "seq" else (getattr(last, col_name), last.seq)
    more = len(items) > q.limit
    if hz is not None and not more and not backward and items:
        more = conn.execute(select(seq).where(*held).limit(1)).first() is not None
    items = items[:q.limit]
    if backward:
        items.reverse()
    key = lambda r: [getattr(r, col_name).isoformat() if col_name != "seq" else r.seq, r.seq]
    tokens = {"current": q.token(pos), "first": q.token({})}
    if items:
        has_next = more if not backward else True
        has_prev = (more if backward else bool(pos))
        if "last" in pos:
            has_next = False
        if has_next:
            tokens["next"] = q.token({"a": key(items[-1][0])})
        if has_prev:
            tokens["prev"] = q.token({"b": key(items[0][0])})
        tokens["last"] = q.token({"last": 1})
    return [d for _, d in items], tokens


def _read_services(conn: Connection, rows, services: dict) -> None:
    """Add the services of the departures these rows' calls were mapped to without naming one:
    the carrierServiceCode filter matched them so, and the JSON must show it. One read per scan,
    beside the page query (which keeps its plan), never one per event."""
    wanted = departures_to_name(rows) - services.keys()
    if wanted:
        found = departure_services(conn, wanted)
        services.update((d, found.get(d)) for d in wanted)


def _key_value(col_name: str, v):
    return datetime.fromisoformat(v) if col_name != "seq" else v


def _python_filter(q: Query):
    """Filters on values Corridor derives rather than stores (transport call id)."""
    tcid = q.filters.get("transportCallID")
    if not tcid:
        return lambda doc: True
    return lambda doc: (doc.get("transportCall") or {}).get("transportCallID") == tcid


def _refs():
    """The refs column as plain text: LIKE on the JSON type would JSON-encode the pattern."""
    from sqlalchemy import Text, type_coerce
    return type_coerce(events.c.refs, Text)
