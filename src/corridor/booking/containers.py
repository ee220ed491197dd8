"""Container requests as people type them: '2x40', '1x20,3x40HC', '2x45G1', '40HC'."""

from __future__ import annotations

import re

from ..domain.bookings import ContainerRequest
from ..domain.equipment import size_type
from ..domain.errors import DomainError, InvalidEquipment

# Common trade shorthands -> ISO 6346 size-type codes.
SHORTHAND = {
    "20": "22G1", "20GP": "22G1", "20DV": "22G1", "20DC": "22G1", "20RF": "22R1", "20OT": "22U1",
    "20TK": "22T1", "40": "42G1", "40GP": "42G1", "40DV": "42G1", "40DC": "42G1", "40HC": "45G1",
    "40HQ": "45G1", "40RF": "42R1", "40RH": "45R1", "40OT": "42U1", "45": "L5G1", "45HC": "L5G1",
}
_ITEM = re.compile(r"^\s*(?:(\d+)\s*[xX×*]\s*)?([0-9A-Za-z]+)\s*$")


def parse_size(text: str) -> str:
    """The ISO size-type code for '40', '40HC', '45G1' ...; InvalidEquipment names the valid forms."""
    t = text.strip().upper()
    if t in SHORTHAND:
        return SHORTHAND[t]
    try:
        return size_type(t).code
    except InvalidEquipment as e:
        raise InvalidEquipment(f"container size {text!r} is not known ({e}); use 20, 40, 40HC, 45 "
                               "or an ISO 6346 size-type code such as 22G1 or 45G1") from None


def parse_containers(spec: str) -> tuple[ContainerRequest, ...]:
    """The container requests of '2x40,1x20' (same sizes merged); DomainError on a zero count."""
    if not spec or not spec.strip():
        raise DomainError("no containers given; say e.g. 2x40 or 1x20,3x40HC")
    counts: dict[str, int] = {}
    for part in spec.split(","):
        m = _ITEM.match(part)
        if not m:
            raise DomainError(f"container request {part.strip()!r} is not of the form COUNTxSIZE, e.g. 2x40")
        n = int(m.group(1)) if m.group(1) is not None else 1
        if n <= 0:
            raise DomainError(f"container request {part.strip()!r}: the count must be at least 1")
        code = parse_size(m.group(2))
        counts[code] = counts.get(code, 0) + n
    return from_counts(counts)


def from_counts(counts: dict[str, int]) -> tuple[ContainerRequest, ...]:
    """Validated requests from {size-type: count}."""
    # No upper bound here: how many TEU one booking can take depends on the route (one departure
    # per leg); the planner and the booking refuse a larger lot with that figure (exit 5, HTTP 409).
    if sum(counts.values()) <= 0:
        raise DomainError("the number of containers must be at least 1")
    return tuple(ContainerRequest(n, code) for code, n in sorted(counts.items()))


def containers_json(reqs: tuple[ContainerRequest, ...]) -> list[dict]:
    return [{"count": c.count, "size_type": c.size_type, "teu": c.teu} for c in reqs]


def describe(reqs: tuple[ContainerRequest, ...]) -> str:
    """'2x42G1, 1x22G1' for messages and tables."""
    return ", ".join(f"{c.count}x{c.size_type}" for c in reqs)
