"""Building known event logs for the KPI tests through the real ingest path (Corridor CSV)."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import insert

from corridor.domain.equipment import with_check_digit
from corridor.ingest.csvfmt import DEFAULT_HEADER
from corridor.ingest.service import Ingestor
from corridor.store.tables import bookings

KIND = {"LOAD": "EQUIPMENT", "DISC": "EQUIPMENT", "GTIN": "EQUIPMENT", "GTOT": "EQUIPMENT",
        "ARRI": "TRANSPORT", "DEPA": "TRANSPORT"}


def box(n: int) -> str:
    return with_check_digit(f"TSTU{n:06d}")


def row(code: str, when: str, where: str, equipment: str, *, size: str = "42G1", voyage: str = "",
        mode: str = "RAIL", bkg: str = "") -> str:
    """One line of Corridor's CSV header."""
    return ",".join((KIND[code], code, "ACT", when, where, equipment, size, "LADEN", mode, voyage, "", bkg,
                     "", "", "", "", "", "", "", ""))


def send(store, party: str, rows: list[str], received: str):
    """Post rows as one CSV message from `party`, received at the given ISO time."""
    body = (DEFAULT_HEADER + "\n" + "\n".join(rows) + "\n").encode()
    return Ingestor(store).ingest(body, source_party=party, fmt="csv", filename=f"{party}-{received}.csv",
                                  received_at=datetime.fromisoformat(received))


def book(store, ref: str, origin: str, destination: str, teu: int, promised: str | None) -> None:
    now = datetime(2025, 1, 1, tzinfo=timezone.utc)
    with store.tx() as conn:
        from corridor.domain.parties import Party, Role
        from corridor.store.parties import get_party, upsert_party
        if get_party(conn, "SHIPA") is None:
            upsert_party(conn, Party("SHIPA", "Shipper A", frozenset({Role.SHIPPER})))
        conn.execute(insert(bookings).values(
            ref=ref, shipper="SHIPA", forwarder=None, nominated=[], origin=origin, destination=destination,
            ready_at=now, containers=[{"count": 1, "size_type": "42G1"}], teu=teu, status="confirmed",
            price_usd=0.0, co2e_kg=0.0, promised_arrival=datetime.fromisoformat(promised) if promised else None,
            route="", created_at=now, updated_at=now, created_by="SHIPA"))


def known_corridor(store) -> None:
    """Two trips in March 2025 and one in March 2024, with hand-computed KPIs (see the test)."""
    book(store, "BK1", "CN_XIA", "KZ_AKX", 2, "2025-03-07T12:00:00+00:00")
    book(store, "BK2", "CN_XIA", "CN_HRS", 1, "2025-03-05T00:00:00+00:00")
    a, b, c = box(1), box(2), box(3)
    out = send(store, "RAILX", [
        row("LOAD", "2025-03-01T10:00+08:00", "CNXIA", a, voyage="T1", bkg="BK1"),
        row("DEPA", "2025-03-01T12:00+08:00", "CNXIA", a, voyage="T1", bkg="BK1"),
        row("ARRI", "2025-03-04T12:00+08:00", "CNHRS", a, voyage="T1", bkg="BK1"),
        row("DEPA", "2025-03-05T00:00+08:00", "CNHRS", a, voyage="T1", bkg="BK1"),
        row("ARRI", "2025-03-08T04:00+05:00", "KZAAU", a, voyage="T1", bkg="BK1"),
        row("DISC", "2025-03-08T06:00+05:00", "KZAAU", a, voyage="T1", bkg="BK1"),
        row("LOAD", "2025-03-02T10:00+08:00", "CNXIA", b, size="22G1", voyage="T2", bkg="BK2"),
        row("DEPA", "2025-03-02T12:00+08:00", "CNXIA", b, size="22G1", voyage="T2", bkg="BK2"),
        row("ARRI", "2025-03-06T12:00+08:00", "CNHRS", b, size="22G1", voyage="T2", bkg="BK2"),
        row("DEPA", "2025-03-07T12:00+08:00", "CNHRS", b, size="22G1", voyage="T2", bkg="BK2"),
        row("LOAD", "2024-03-10T10:00+08:00", "CNXIA", c, voyage="T0"),
        row("DEPA", "2024-03-10T12:00+08:00", "CNXIA", c, voyage="T0"),
    ], received="2025-03-09T00:00:00+00:00")
    assert out.stored == 12 and out.quarantined == 0, out.reasons
