"""The audit log: every write, and every read of another party's data. Never secrets or keys."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Connection, insert, select

from ..store.tables import audit_log

_SECRET_WORDS = ("secret", "key", "password", "token", "authorization")


def scrub(detail: dict | None) -> dict | None:
    """A copy of `detail` with anything that looks like a secret replaced by '***'."""
    if not detail:
        return detail
    return {k: ("***" if any(w in k.lower() for w in _SECRET_WORDS) else v) for k, v in detail.items()}


def record(conn: Connection, *, party_id: str, action: str, target: str = "", key_id: str | None = None,
           detail: dict | None = None) -> None:
    """Append one audit entry."""
    conn.execute(insert(audit_log).values(at=datetime.now(timezone.utc), party_id=party_id, key_id=key_id,
                                          action=action[:60], target=target[:200], detail=scrub(detail)))


def read_of_others(conn: Connection, *, party_id: str, target: str, owners, key_id: str | None = None) -> bool:
    """Record a read of data that belongs to `owners`; True when recorded (the reader is not one of them)."""
    owners = {o for o in owners if o}
    if party_id in owners:
        return False
    record(conn, party_id=party_id, key_id=key_id, action=f"READ {target}", target=target,
           detail={"owners": sorted(owners)} if owners else None)
    return True


def entries(conn: Connection, *, party_id: str | None = None, limit: int = 100) -> list[dict]:
    """Newest audit entries first."""
    q = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if party_id:
        q = q.where(audit_log.c.party_id == party_id)
    return [dict(r._mapping) for r in conn.execute(q).all()]
