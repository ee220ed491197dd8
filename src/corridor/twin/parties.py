"""The parties the twin speaks for: railways, ports, ferry lines, shippers and forwarders."""

from __future__ import annotations

from datetime import datetime

from corridor.domain.bookings import Booking, BookingStatus, ContainerRequest
from corridor.domain.parties import Party, Role
from corridor.store import Store
from corridor.store.parties import get_party, upsert_party

R, T, F = Role.RAILWAY, Role.TERMINAL, Role.FERRY_OPERATOR
# (id, name, roles, country, facilities, EDIFACT ids)
OPERATORS = [
    ("CRCT", "China Railway Container Transport Corp.", {R}, "CN", {"CN_XIA", "CN_CQI", "CN_URM", "CN_LYG",
                                                                   "CN_HRS", "CN_AKL"}, ("CRCT",)),
    ("KTZ", "Kazakhstan Temir Zholy (KTZ Express)", {R}, "KZ", {"KZ_DOS", "KZ_ALT", "KZ_AKX", "KZ_KUR"},
     ("KTZ", "KTZE")),
    ("ADY", "Azerbaijan Railways (ADY)", {R}, "AZ", {"AZ_ALA", "AZ_ABS", "AZ_BKS"}, ("ADY",)),
    ("GR", "Georgian Railway", {R}, "GE", {"GE_GAR", "GE_TBS", "GE_PTI", "GE_BUS", "GE_AKH", "GE_MAR"}, ("GR",)),
    ("TCDD", "TCDD Tasimacilik", {R}, "TR", {"GE_AKH", "TR_KRS"}, ("TCDD",)),
    ("PORT-AKTAU", "Aktau International Sea Trade Port", {T}, "KZ", {"KZ_AKX"}, ("KZAAUPORT",)),
    ("PORT-KURYK", "Kuryk port ferry complex", {T}, "KZ", {"KZ_KUR"}, ("KZKURPORT",)),
    ("PORT-ALAT", "Baku International Sea Trade Port (Alat)", {T}, "AZ", {"AZ_ALA"}, ("AZALAPORT", "BISTP")),
    ("APMT-POTI", "APM Terminals Poti", {T}, "GE", {"GE_PTI"}, ("APMTPOTI",)),
    ("ASCO", "Azerbaijan Caspian Shipping Company", {F}, "AZ", set(), ("ASCO",)),
    ("KMTF", "Kazmortransflot", {F}, "KZ", set(), ("KMTF",)),
]
SHIPPERS = [("XIAN-ELEC", "Xi'an Electronics Export Co."), ("CQ-AUTO", "Chongqing Auto Parts Ltd"),
            ("URM-TEXTILE", "Urumqi Textile Trading"), ("LYG-SOLAR", "Lianyungang Solar Panels"),
            ("HB-HOME", "Hubei Home Appliances"), ("SX-CHEM", "Shaanxi Chemicals")]
FORWARDERS = [("SILKWAY-FWD", "Silkway Logistics"), ("CASPIAN-FWD", "Caspian Forwarding LLC")]


def ensure_parties(store: Store) -> dict[str, str]:
    """Create the twin's parties when missing; returns party id -> EDIFACT interchange id."""
    with store.tx() as conn:
        for pid, name, roles, country, fac, edi in OPERATORS:
            if get_party(conn, pid) is None:
                upsert_party(conn, Party(pid, name, frozenset(roles), country, frozenset(fac), edi_ids=edi))
        for pid, name in SHIPPERS:
            if get_party(conn, pid) is None:
                upsert_party(conn, Party(pid, name, frozenset({Role.SHIPPER}), "CN"))
        for pid, name in FORWARDERS:
            if get_party(conn, pid) is None:
                upsert_party(conn, Party(pid, name, frozenset({Role.FORWARDER})))
    return {pid: edi[0] for pid, _n, _r, _c, _f, edi in OPERATORS}


def create_booking(conn, *, shipper: str, forwarder: str | None, origin: str, destination: str,
                   ready_at: datetime, sizes: dict[str, int], now: datetime) -> str:
    """A confirmed booking for a train's share of boxes; returns its reference.

    The one adapter to the booking capability: it writes through corridor.booking.records until
    the booking service lands, so ingest can give the shipper's trips their parties.
    """
    from corridor.booking import records
    ref = records.next_ref(conn, now)
    b = Booking(ref=ref, shipper=shipper, origin=origin, destination=destination, ready_at=ready_at,
                containers=tuple(ContainerRequest(n, s) for s, n in sorted(sizes.items())),
                status=BookingStatus.CONFIRMED, forwarder=forwarder)
    records.insert_booking(conn, b, route="twin", promised_arrival=None, created_by="twin", now=now)
    return ref
