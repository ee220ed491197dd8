"""Subscriptions and the transactional outbox: one row per (subscription, event) written in the
ingest transaction, so a notification exists exactly when its event does."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime, timezone

from sqlalchemy import Connection, delete, insert, select, update

from ..access.visibility import can_see_event, viewer_for
from ..domain.events import Event
from ..store.parties import get_party
from ..store.tables import departures, outbox, subscriptions
from .dcsa_out import dcsa_22_gap

# DCSA subscription body fields that filter events (list-valued ones are OR-ed)
LIST_FILTERS = {"eventType", "shipmentEventTypeCode", "documentTypeCode", "transportEventTypeCode",
                "equipmentEventTypeCode"}
VALUE_FILTERS = {"carrierBookingReference", "bookingReference", "transportDocumentReference", "transportDocumentID",
                 "transportCallID", "vesselIMONumber", "carrierVoyageNumber", "exportVoyageNumber",
                 "carrierServiceCode", "UNLocationCode", "equipmentReference", "scheduleID"}
CORRIDOR_FILTERS = {"format", "alerts", "booking", "container"}   # Corridor-format subscriptions


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


def matches(filters: dict, e: Event, dcsa: dict | None) -> bool:
    """True when event `e` (and its DCSA 2.2 JSON `dcsa`) passes a subscription's filters."""
    if filters.get("format") == "corridor":
        if e.kind.value == "ALERT" and not filters.get("alerts", True):
            return False
        if filters.get("booking") and e.reference("BKG") != filters["booking"]:
            return False
        return not filters.get("container") or e.equipment == filters["container"]
    if dcsa is None:
        return False
    kind = e.kind.value
    if filters.get("eventType") and kind not in filters["eventType"]:
        return False
    for key, k in (("shipmentEventTypeCode", "SHIPMENT"), ("transportEventTypeCode", "TRANSPORT"),
                   ("equipmentEventTypeCode", "EQUIPMENT")):
        if filters.get(key) and kind == k and e.code not in filters[key]:
            return False
    if filters.get("documentTypeCode") and kind == "SHIPMENT" and dcsa.get("documentTypeCode") not in filters["documentTypeCode"]:
        return False
    tc = dcsa.get("transportCall") or {}
    checks = {
        "carrierBookingReference": e.reference("BKG"), "bookingReference": e.reference("BKG"),
        "transportDocumentReference": e.reference("BOL"), "transportCallID": tc.get("transportCallID"),
        "vesselIMONumber": (tc.get("vessel") or {}).get("vesselIMONumber"),
        "carrierVoyageNumber": tc.get("exportVoyageNumber"), "exportVoyageNumber": tc.get("exportVoyageNumber"),
        "carrierServiceCode": tc.get("carrierServiceCode"), "equipmentReference": e.equipment,
        "UNLocationCode": e.location, "transportDocumentID": None, "scheduleID": None}
    return all(checks[k] == v for k, v in filters.items() if k in VALUE_FILTERS and v not in (None, ""))


def fan_out(conn: Connection, stored: list[tuple[int, Event]], now: datetime | None = None) -> int:
    """Queue every stored event for every active subscription it matches and its party may see."""
    if not stored:
        return 0
    subs = conn.execute(select(subscriptions).where(subscriptions.c.active.is_(True))).all()
    if not subs:
        return 0
    now = now or datetime.now(timezone.utc)
    from .dcsa_out import to_dcsa_22
    dcsa: dict[int, dict | None] = {}
    for seq, e in stored:
        dcsa[seq] = None if dcsa_22_gap(e) else to_dcsa_22(e, event_uuid(seq), now)  # only for matching
    dep_ids = {e.transport_call.departure_id for _, e in stored if e.transport_call and e.transport_call.departure_id}
    operator = dict(conn.execute(select(departures.c.id, departures.c.operator)
                                 .where(departures.c.id.in_(sorted(dep_ids)))).all()) if dep_ids else {}
    rows, cursors = [], {}
    for s in subs:
        party = get_party(conn, s.party_id)
        if party is None:
            continue
        viewer = viewer_for(conn, party)
        for seq, e in stored:
            if not matches(s.filters, e, dcsa[seq]):
                continue
            dep = e.transport_call.departure_id if e.transport_call else None
            if not can_see_event(viewer, e, departure_operator=operator.get(dep)):
                continue
            rows.append({"subscription_id": s.id, "event_seq": seq, "status": "pending", "attempts": 0,
                         "next_attempt_at": now, "created_at": now})
            cursors[s.id] = max(cursors.get(s.id, 0), seq)
    if rows:
        conn.execute(insert(outbox), rows)
    for sid, cur in cursors.items():
        conn.execute(update(subscriptions).where(subscriptions.c.id == sid, subscriptions.c.cursor < cur)
                     .values(cursor=cur))
    return len(rows)


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
    from ..store.tables import events
    from sqlalchemy import func
    sid, now = str(uuid.uuid4()), datetime.now(timezone.utc)
    head = conn.execute(select(func.coalesce(func.max(events.c.seq), 0))).scalar_one()
    conn.execute(insert(subscriptions).values(id=sid, party_id=party_id, callback_url=callback_url, secret=secret,
                                              filters=filters, cursor=head, created_at=now, updated_at=now,
                                              active=True))
    return sid


def get(conn: Connection, sid: str):
    return conn.execute(select(subscriptions).where(subscriptions.c.id == sid)).first()


def list_for(conn: Connection, party_id: str | None) -> list:
    q = select(subscriptions).order_by(subscriptions.c.created_at, subscriptions.c.id)
    return conn.execute(q if party_id is None else q.where(subscriptions.c.party_id == party_id)).all()


def change(conn: Connection, sid: str, **values) -> bool:
    values["updated_at"] = datetime.now(timezone.utc)
    return conn.execute(update(subscriptions).where(subscriptions.c.id == sid).values(**values)).rowcount == 1


def remove(conn: Connection, sid: str) -> bool:
    conn.execute(delete(outbox).where(outbox.c.subscription_id == sid))
    return conn.execute(delete(subscriptions).where(subscriptions.c.id == sid)).rowcount == 1


def replay(conn: Connection, sid: str, after_seq: int) -> int:
    """Queue again every visible, matching event after `after_seq` for one subscription."""
    from ..store.events import row_to_event, select_events
    from ..store.tables import events
    s = get(conn, sid)
    if s is None:
        raise KeyError(sid)
    now = datetime.now(timezone.utc)
    conn.execute(delete(outbox).where(outbox.c.subscription_id == sid, outbox.c.event_seq > after_seq))
    rows = conn.execute(select_events().where(events.c.seq > after_seq, events.c.seq <= s.cursor)).all()
    n = 0
    party = get_party(conn, s.party_id)
    viewer = viewer_for(conn, party)
    from .dcsa_out import to_dcsa_22
    out = []
    for r in rows:
        e = row_to_event(r)
        d = None if dcsa_22_gap(e) else to_dcsa_22(e, event_uuid(r.seq), r.received_at)
        if matches(s.filters, e, d) and can_see_event(viewer, e):
            out.append({"subscription_id": sid, "event_seq": r.seq, "status": "pending", "attempts": 0,
                        "next_attempt_at": now, "created_at": now})
    if out:
        conn.execute(insert(outbox), out)
        n = len(out)
    return n
