"""Rows of `bookings` and `booking_legs` <-> domain Bookings, and the booking reference sequence.

(Kept next to the booking capability until a `store/bookings.py` repository takes it over.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import Connection, cast, delete, insert, select, update
from sqlalchemy import Integer, String
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..domain.bookings import Booking, BookingLeg, BookingStatus, ContainerRequest
from ..store.tables import booking_legs, bookings, idempotency_keys, meta_kv

REF_PREFIX = "CB"
IDEMPOTENCY_KEEP = timedelta(hours=24)   # how long a client's Idempotency-Key answers with its booking


@dataclass
class BookingRecord:
    """A stored booking: the domain Booking plus its route, promise, timestamps and amended-away legs."""

    booking: Booking
    route: str = ""
    promised_arrival: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    created_by: str = ""
    history: list[BookingLeg] = field(default_factory=list)   # legs no longer active (re-routed)
    replayed: bool = False   # made earlier under the same Idempotency-Key: this request made nothing

    @property
    def ref(self) -> str:
        return self.booking.ref


def next_ref(conn: Connection, now: datetime) -> str:
    """The next readable booking reference, 'CB-YYMM-NNNNNN', numbered per month (atomic upsert)."""
    key = f"booking_seq:{now:%y%m}"
    ins = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(meta_kv)
    stmt = ins.values(key=key, value="1").on_conflict_do_update(
        index_elements=["key"],
        set_={"value": cast(cast(meta_kv.c.value, Integer) + 1, String)}).returning(meta_kv.c.value)
    n = int(conn.execute(stmt).scalar_one())
    return f"{REF_PREFIX}-{now:%y%m}-{n:06d}"


@dataclass(frozen=True)
class IdempotencyKey:
    """A client's Idempotency-Key: its party, the key and a digest of the request it came with."""

    party: str
    key: str
    body_hash: str


@dataclass(frozen=True)
class KeyUse:
    """A live Idempotency-Key as stored: the request digest, its booking and when it was claimed."""

    body_hash: str
    booking_ref: str | None
    created_at: datetime


def key_use(conn: Connection, k: IdempotencyKey, now: datetime) -> KeyUse | None:
    """The key's live use (claimed within IDEMPOTENCY_KEEP of `now`), or None."""
    t = idempotency_keys.c
    r = conn.execute(select(t.body_hash, t.booking_ref, t.created_at)
                     .where(t.party_id == k.party, t.idem_key == k.key,
                            t.created_at >= now - IDEMPOTENCY_KEEP)).first()
    return KeyUse(r.body_hash, r.booking_ref, r.created_at) if r else None


def claim_key(conn: Connection, k: IdempotencyKey, now: datetime) -> KeyUse | None:
    """Claim the key in the booking's transaction: None when claimed now, else its earlier use.

    The insert is the arbiter: on PostgreSQL a second transaction inserting the same key waits for
    the first to end and then finds its row (ON CONFLICT DO NOTHING); on SQLite writers are serial
    (BEGIN IMMEDIATE). Keys older than IDEMPOTENCY_KEEP are dropped first, so one may be used again.
    """
    t = idempotency_keys.c
    conn.execute(delete(idempotency_keys).where(t.created_at < now - IDEMPOTENCY_KEEP))
    ins = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(idempotency_keys)
    got = conn.execute(ins.values(party_id=k.party, idem_key=k.key, body_hash=k.body_hash, created_at=now)
                       .on_conflict_do_nothing(index_elements=["party_id", "idem_key"])
                       .returning(t.party_id)).first()
    if got is not None:
        return None
    r = conn.execute(select(t.body_hash, t.booking_ref, t.created_at)
                     .where(t.party_id == k.party, t.idem_key == k.key)).one()
    return KeyUse(r.body_hash, r.booking_ref, r.created_at)


def key_booked(conn: Connection, k: IdempotencyKey, ref: str) -> None:
    """Record the booking the claimed key made (same transaction as the claim)."""
    t = idempotency_keys.c
    conn.execute(update(idempotency_keys).where(t.party_id == k.party, t.idem_key == k.key)
                 .values(booking_ref=ref))


def insert_booking(conn: Connection, b: Booking, *, route: str, promised_arrival: datetime | None,
                   created_by: str, now: datetime) -> None:
    conn.execute(insert(bookings).values(
        ref=b.ref, shipper=b.shipper, forwarder=b.forwarder, nominated=sorted(b.nominated), origin=b.origin,
        destination=b.destination, ready_at=b.ready_at,
        containers=[{"count": c.count, "size_type": c.size_type} for c in b.containers], teu=b.teu,
        status=b.status.value, price_usd=b.price_usd, co2e_kg=b.co2e_kg, promised_arrival=promised_arrival,
        route=route, created_at=now, updated_at=now, created_by=created_by))


def insert_legs(conn: Connection, ref: str, legs: list[BookingLeg]) -> None:
    if legs:
        conn.execute(insert(booking_legs), [{
            "booking_ref": ref, "seq": leg.seq, "departure_id": leg.departure_id, "origin": leg.origin,
            "destination": leg.destination, "departs_at": leg.departs_at, "arrives_at": leg.arrives_at,
            "teu": leg.teu, "active": True} for leg in legs])


def deactivate_legs(conn: Connection, ref: str, seqs: list[int]) -> None:
    if seqs:
        conn.execute(update(booking_legs).where(booking_legs.c.booking_ref == ref, booking_legs.c.seq.in_(seqs))
                     .values(active=False))


def update_booking(conn: Connection, ref: str, now: datetime, **values) -> None:
    if "status" in values and isinstance(values["status"], BookingStatus):
        values["status"] = values["status"].value
    conn.execute(update(bookings).where(bookings.c.ref == ref).values(updated_at=now, **values))


def _leg(r) -> BookingLeg:
    return BookingLeg(seq=r.seq, departure_id=r.departure_id, origin=r.origin, destination=r.destination,
                      departs_at=r.departs_at, arrives_at=r.arrives_at, teu=r.teu)


def _record(r, legs: list) -> BookingRecord:
    b = Booking(ref=r.ref, shipper=r.shipper, origin=r.origin, destination=r.destination, ready_at=r.ready_at,
                containers=tuple(ContainerRequest(c["count"], c["size_type"]) for c in r.containers),
                status=BookingStatus(r.status), forwarder=r.forwarder, nominated=frozenset(r.nominated or ()),
                price_usd=r.price_usd, co2e_kg=r.co2e_kg)
    active = sorted((_leg(x) for x in legs if x.active), key=lambda leg: (leg.departs_at, leg.seq))
    b.legs = active
    return BookingRecord(b, r.route, r.promised_arrival, r.created_at, r.updated_at, r.created_by,
                         sorted((_leg(x) for x in legs if not x.active), key=lambda leg: leg.seq))


def get_booking(conn: Connection, ref: str, *, where=None, for_update: bool = False) -> BookingRecord | None:
    """The booking `ref` (None when absent or outside `where`, a visibility clause)."""
    q = select(bookings).where(bookings.c.ref == ref)
    if where is not None:
        q = q.where(where)
    if for_update and conn.dialect.name == "postgresql":
        q = q.with_for_update()
    r = conn.execute(q).first()
    if r is None:
        return None
    legs = conn.execute(select(booking_legs).where(booking_legs.c.booking_ref == ref)).all()
    return _record(r, legs)


def list_bookings(conn: Connection, *, where=None, status: str | None = None, limit: int = 200,
                  offset: int = 0) -> list[BookingRecord]:
    """Bookings newest first, limited to `where` (a visibility clause) and `status`."""
    q = select(bookings).order_by(bookings.c.created_at.desc(), bookings.c.ref.desc())
    if where is not None:
        q = q.where(where)
    if status:
        q = q.where(bookings.c.status == status)
    rows = conn.execute(q.limit(limit).offset(offset)).all()
    if not rows:
        return []
    legs: dict[str, list] = {}
    for x in conn.execute(select(booking_legs).where(booking_legs.c.booking_ref.in_([r.ref for r in rows]))):
        legs.setdefault(x.booking_ref, []).append(x)
    return [_record(r, legs.get(r.ref, [])) for r in rows]


def refs_on_departure(conn: Connection, departure_id: str) -> list[str]:
    """Refs of open bookings with an active leg on the departure (operator notices re-route them)."""
    q = (select(bookings.c.ref).join(booking_legs, booking_legs.c.booking_ref == bookings.c.ref)
         .where(booking_legs.c.departure_id == departure_id, booking_legs.c.active.is_(True),
                bookings.c.status.in_(["requested", "confirmed", "in_transit"]))
         .order_by(bookings.c.ref).distinct())
    return list(conn.execute(q).scalars())


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
