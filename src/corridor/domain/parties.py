"""Parties (organisations) and their roles: every record on the corridor knows its parties."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    SHIPPER = "shipper"
    FORWARDER = "forwarder"
    RAILWAY = "railway"
    TERMINAL = "terminal"          # port or rail terminal operator
    FERRY_OPERATOR = "ferry_operator"
    AUTHORITY = "authority"        # customs, ministry: aggregates + movements in its country
    ADMIN = "admin"                # corridor administrator: sees everything


@dataclass(frozen=True, slots=True)
class Party:
    """An organisation using Corridor; operators list the facilities and services they run."""

    id: str                                  # short stable id, e.g. KTZ, ADY, ASCO, ACME
    name: str
    roles: frozenset[Role]
    country: str | None = None               # for authorities: the country whose movements they see
    facilities: frozenset[str] = frozenset() # Location ids operated (terminals, stations, ports)
    services: frozenset[str] = frozenset()   # Link ids / service codes operated
    edi_ids: tuple[str, ...] = ()            # EDIFACT sender/recipient ids that mean this party
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    def has(self, role: Role) -> bool:
        return role in self.roles

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles

    @property
    def is_operator(self) -> bool:
        return bool(self.roles & {Role.RAILWAY, Role.TERMINAL, Role.FERRY_OPERATOR})


ADMIN_PARTY = "CORRIDOR"   # the platform administrator's own party id
