"""Subscriptions and the transactional outbox: one row per (subscription, event) written in the
ingest transaction, so a notification exists exactly when its event does."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime, timezone
from typing import Callable

from sqlalchemy import Connection

from ..access.visibility import booked_operators, can_see_event, viewer_for
from ..domain.events import Event
from ..store import tracking as repo
from ..store.parties import get_party
from .dcsa_out import dcsa_22_gap, shipment_codes

# DCSA subscription body fields that filter events (list-valued ones are OR-ed)
LIST_FILTERS = {"eventType", "shipmentEventTypeCode", "documentTypeCode", "transportEventTypeCode",
                "equipmentEventTypeCode"}
VALUE_FILTERS = {"carrierBookingReference", "bookingReference", "transportDocumentReference", "transportDocumentID",
                 "transportCallID", "vesselIMONumber", "carrierVoyageNumber", "exportVoyageNumber",
                 "carrierServiceCode", "UNLocationCode", "equipmentReference", "scheduleID"}
CORRIDOR_FILTERS = {"format", "alerts", "booking", "container"}   # Corridor-format subscriptions
# the outbox status of a queued event its sender retracted before it went out: never delivered
# (the worker takes only pending rows; the column holds 10 characters, no migration needed)
WITHDRAWN = "withdrawn"


def event_uuid(seq: int) -> str:
    """The DCSA eventID of a stored event: a UUID that carries its sequence number."""
    return str(uuid.UUID(int=(0xC0881D0 << 100) | (0x4 << 76) | (0x8 << 60) | seq))


def seq_of(event_uuid_text: str) -> int | None:
    """The sequence number inside a Corridor eventID, or None for any other UUID."""
    try:
        u = uuid.UUID(event_uuid_text)
    except ValueError:
        return None
    return u.int & ((1 << 60) - 1) if u.int >> 100 == 0xC0881D0 else None


_TC_FILTERS = {"transportCallID", "vesselIMONumber", "carrierVoyageNumber", "exportVoyageNumber",
               "carrierServiceCode"}   # the value filters read from the DCSA transport call


def matches(filters: dict, e: Event, dcsa: dict | None) -> bool:
    """True when event `e` (and its DCSA 2.2 JSON `dcsa`) passes a subscription's filters."""
    return _matches(filters, e, dcsa is None, lambda: dcsa)


def _matches(filters: dict, e: Event, gap: bool, dcsa: Callable[[], dict], service: str | None = None) -> bool:
    """`matches`, with the DCSA JSON made by `dcsa()` only when a filter reads it (`gap`: there is none).

    `service`: the service of the timetable departure the event was mapped to; a carrierServiceCode
    filter takes it as GET /v2/events does (the call's own service, or its departure's)."""
    if filters.get("format") == "corridor":
        if e.kind.value == "ALERT" and not filters.get("alerts", True):
            return False
        if filters.get("booking") and e.reference("BKG") != filters["booking"]:
            return False
        return not filters.get("container") or e.equipment == filters["container"]
    if gap:
        return False
    kind = e.kind.value
    if filters.get("eventType") and kind not in filters["eventType"]:
        return False
    for key, k in (("shipmentEventTypeCode", "SHIPMENT"), ("transportEventTypeCode", "TRANSPORT"),
                   ("equipmentEventTypeCode", "EQUIPMENT")):
        if filters.get(key) and kind == k and e.code not in (
                shipment_codes(filters[key]) if k == "SHIPMENT" else filters[key]):
            return False
    if filters.get("documentTypeCode") and kind == "SHIPMENT" and dcsa().get("documentTypeCode") not in filters["documentTypeCode"]:
        return False
    wanted = [(k, v) for k, v in filters.items() if k in VALUE_FILTERS and v not in (None, "")]
    if not wanted:
        return True
    tc = (dcsa().get("transportCall") or {}) if any(k in _TC_FILTERS for k, _ in wanted) else {}
    checks = {
        "carrierBookingReference": e.reference("BKG"), "bookingReference": e.reference("BKG"),
        "transportDocumentReference": e.reference("BOL"), "transportCallID": tc.get("transportCallID"),
        "vesselIMONumber": (tc.get("vessel") or {}).get("vesselIMONumber"),
        "carrierVoyageNumber": tc.get("exportVoyageNumber"), "exportVoyageNumber": tc.get("exportVoyageNumber"),
        "carrierServiceCode": tc.get("carrierServiceCode"), "equipmentReference": e.equipment,
        "UNLocationCode": e.location, "transportDocumentID": None, "scheduleID": None}
    return all(checks[k] == v or (k == "carrierServiceCode" and service == v) for k, v in wanted)


class _LazyDcsa:
    """One stored event's DCSA 2.2 JSON, made once and only if a subscription's filter reads it."""

    __slots__ = ("seq", "event", "now", "json")

    def __init__(self, seq: int, event: Event, now: datetime):
        self.seq, self.event, self.now, self.json = seq, event, now, None

    def __call__(self) -> dict:
        if self.json is None:
            from .dcsa_out import to_dcsa_22
            self.json = to_dcsa_22(self.event, event_uuid(self.seq), self.now)
        return self.json


def fan_out(conn: Connection, stored: list[tuple[int, Event]], now: datetime | None = None) -> int:
    """Queue every stored event for every active subscription it matches and its party may see."""
    if not stored:
        return 0
    subs = repo.active_subscriptions(conn)
    if not subs:
        return 0
    now = now or datetime.now(timezone.utc)
    gaps = {seq: dcsa_22_gap(e) is not None for seq, e in stored} \
        if any((s.filters or {}).get("format") != "corridor" for s in subs) else {}
    lazy = [(seq, e, gaps.get(seq, True), _LazyDcsa(seq, e, now)) for seq, e in stored]
    dep_ids = {e.transport_call.departure_id for _, e in stored if e.transport_call and e.transport_call.departure_id}
    operator = repo.departure_operators(conn, dep_ids)
    services = repo.departure_services(conn, dep_ids) \
        if any((s.filters or {}).get("carrierServiceCode") for s in subs) else {}
    rows, cursors = [], {}
    booked: dict | None = None   # (trip, place) -> operators booked there: read once, if an operator subscribes
    for s in subs:
        party = get_party(conn, s.party_id)
        if party is None:
            continue
        viewer = viewer_for(conn, party)
        if booked is None and party.is_operator:
            booked = booked_operators(conn, [e for _, e in stored])
        for seq, e, gap, dcsa in lazy:
            dep = e.transport_call.departure_id if e.transport_call else None
            if not _matches(s.filters, e, gap, dcsa, services.get(dep)):
                continue
            if not can_see_event(viewer, e, departure_operator=operator.get(dep),
                                 booked_by=(booked or {}).get((e.trip_id, e.location), frozenset())):
                continue
            rows.append((s.id, seq))
            cursors[s.id] = max(cursors.get(s.id, 0), seq)
    repo.queue(conn, rows, now)
    repo.advance_cursors(conn, cursors)
    return len(rows)


def withdraw(conn: Connection, party: str, gone: list[tuple[int, str, str | None]]) -> int:
    """The retraction hook (`store.retractions.AFTER_WITHDRAW`), in the ingest transaction: the
    outbox rows of the withdrawn events (seq, eventID, trip) not yet delivered are held back as
    WITHDRAWN; returns how many."""
    return repo.hold_back(conn, [seq for seq, _, _ in gone], WITHDRAWN)


# --- subscriptions --------------------------------------------------------------------------

def decode_secret(text: str) -> bytes:
    """The raw key of a base64 secret; ValueError unless it decodes to 32..64 bytes."""
    try:
        raw = base64.b64decode(text, validate=True)
    except Exception as e:
        raise ValueError("secret must be base64") from e
    if not 32 <= len(raw) <= 64:
        raise ValueError(f"secret must decode to 32 to 64 bytes; got {len(raw)}")
    return raw


def create(conn: Connection, party_id: str, callback_url: str, secret: bytes, filters: dict) -> str:
    """Store a subscription; returns its id. It receives events stored from now on."""
    sid, now = str(uuid.uuid4()), datetime.now(timezone.utc)
    repo.add_subscription(conn, id=sid, party_id=party_id, callback_url=callback_url, secret=secret,
                          filters=filters, cursor=repo.event_head(conn), created_at=now, updated_at=now, active=True)
    return sid


def get(conn: Connection, sid: str):
    return repo.subscription(conn, sid)


def list_for(conn: Connection, party_id: str | None) -> list:
    return repo.subscriptions_of(conn, party_id)


def change(conn: Connection, sid: str, **values) -> bool:
    values["updated_at"] = datetime.now(timezone.utc)
    return repo.change_subscription(conn, sid, **values)


def remove(conn: Connection, sid: str) -> bool:
    return repo.remove_subscription(conn, sid)


def replay(conn: Connection, sid: str, after_seq: int) -> int:
    """Queue again every visible, matching event after `after_seq` for one subscription."""
    from ..store.events import row_to_event
    s = get(conn, sid)
    if s is None:
        raise KeyError(sid)
    now = datetime.now(timezone.utc)
    repo.unqueue_after(conn, sid, after_seq)
    rows = repo.event_rows_between(conn, after_seq, s.cursor)
    party = get_party(conn, s.party_id)
    viewer = viewer_for(conn, party)
    from .dcsa_out import to_dcsa_22
    # as `fan_out` decides: a departure's service matches its events, its operator may see them
    dep_ids = {r.departure_id for r in rows if r.departure_id}
    operator = repo.departure_operators(conn, dep_ids)
    services = repo.departure_services(conn, dep_ids) if (s.filters or {}).get("carrierServiceCode") else {}
    out = []
    evs = [row_to_event(r) for r in rows]
    booked = booked_operators(conn, evs) if party.is_operator else {}
    for r, e in zip(rows, evs):
        d = None if dcsa_22_gap(e) else to_dcsa_22(e, event_uuid(r.seq), r.received_at)
        if _matches(s.filters, e, d is None, lambda d=d: d, services.get(r.departure_id)) \
                and can_see_event(viewer, e, departure_operator=operator.get(r.departure_id),
                                  booked_by=booked.get((e.trip_id, e.location), frozenset())):
            out.append((sid, r.seq))
    repo.queue(conn, out, now)
    return len(out)
