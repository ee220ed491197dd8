"""The parties the twin speaks for: the corridor's sample operators (access.demo) and its customers."""

from __future__ import annotations

from corridor.access.demo import DEMO_PARTIES
from corridor.domain.parties import Party, Role
from corridor.store import Store
from corridor.store.parties import get_party, upsert_party

# The twin's senders by role, all from DEMO_PARTIES (one list of corridor actors, one set of EDIFACT ids)
PORT_PARTY = {"KZ_AKX": "PORTAKTAU", "KZ_KUR": "PORTKURYK", "AZ_ALA": "PORTBAKU", "GE_PTI": "POTIPORT",
              "GE_BUS": "BATUMIPORT"}
TRACKING_PARTY = "SILKWAY"          # the forwarder whose GPS trackers ride on some boxes
# Fictitious customers besides the demo's own shipper and forwarder: a few shippers make a busy train
EXTRA_SHIPPERS = [("XIAN-ELEC", "Xi'an Electronics Export Co. — twin shipper"),
                  ("CQ-AUTO", "Chongqing Auto Parts Ltd — twin shipper"),
                  ("URM-TEXTILE", "Urumqi Textile Trading — twin shipper"),
                  ("LYG-SOLAR", "Lianyungang Solar Panels — twin shipper")]
EXTRA_FORWARDERS = [("CASPIAN-FWD", "Caspian Forwarding LLC — twin forwarder")]
SHIPPERS = [(p.id, p.name) for p in DEMO_PARTIES if Role.SHIPPER in p.roles] + EXTRA_SHIPPERS
FORWARDERS = [(p.id, p.name) for p in DEMO_PARTIES if Role.FORWARDER in p.roles] + EXTRA_FORWARDERS


def edi_ids() -> dict[str, str]:
    """Party id -> the EDIFACT interchange id its messages carry (the first of its edi_ids)."""
    return {p.id: p.edi_ids[0] for p in DEMO_PARTIES if p.edi_ids}


def facilities(party: str) -> frozenset[str]:
    """The Location ids a demo party runs (its notices may close them)."""
    return next((p.facilities for p in DEMO_PARTIES if p.id == party), frozenset())


def ensure_parties(store: Store) -> dict[str, str]:
    """Create the demo parties and the twin's customers when missing; returns party id -> EDIFACT id."""
    with store.tx() as conn:
        for p in DEMO_PARTIES:
            if get_party(conn, p.id) is None:
                upsert_party(conn, p)
        for pid, name in EXTRA_SHIPPERS:
            if get_party(conn, pid) is None:
                upsert_party(conn, Party(pid, name, frozenset({Role.SHIPPER}), "CN"))
        for pid, name in EXTRA_FORWARDERS:
            if get_party(conn, pid) is None:
                upsert_party(conn, Party(pid, name, frozenset({Role.FORWARDER}), "AZ"))
    return edi_ids()
