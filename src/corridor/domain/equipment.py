"""Equipment identities: ISO 6346 containers, ISO size-type codes, UIC/OSJD wagon numbers."""

from __future__ import annotations

import re
from dataclasses import dataclass

from stdnum import iso6346, luhn

from .errors import InvalidEquipment

_OWNER = re.compile(r"^[A-Z]{3}$")
_CATEGORY = "UJZR"  # U freight container, J detachable equipment, Z trailer/chassis, R reefer (2016+)


def container_number(raw: str) -> str:
    """Return the normalised ISO 6346 number (e.g. 'MSKU1234565') or raise with the reason."""
    if raw is None:
        raise InvalidEquipment("container number is missing")
    value = re.sub(r"[\s\-/.]", "", str(raw)).upper()
    if len(value) != 11:
        raise InvalidEquipment(f"container number {raw!r}: wrong length {len(value)}, expected 11 (4 letters, 7 digits)")
    owner, category, serial, check = value[:3], value[3], value[4:10], value[10]
    if not _OWNER.match(owner):
        raise InvalidEquipment(f"container number {raw!r}: owner code {owner!r} must be three letters")
    if category not in _CATEGORY:
        raise InvalidEquipment(
            f"container number {raw!r}: category {category!r} must be U, J, Z or R")
    if not serial.isdigit() or not check.isdigit():
        raise InvalidEquipment(f"container number {raw!r}: serial and check digit must be 7 digits")
    expected = iso6346.calc_check_digit(value[:10])
    if expected != check:
        raise InvalidEquipment(
            f"container number {raw!r}: check digit {check} is wrong, expected {expected}")
    return value


def is_container_number(raw: str) -> bool:
    """Return True when `raw` is a valid ISO 6346 container number."""
    try:
        container_number(raw)
    except InvalidEquipment:
        return False
    return True


# ISO 6346 size codes (first character = length). TEU as the trade counts them: 45' = 2 TEU.
_LENGTH_FT = {"1": 10, "2": 20, "3": 30, "4": 40, "B": 24, "C": 24.5, "G": 41, "L": 45, "M": 48, "N": 49}
_TYPE_GROUP = {
    "G": "general purpose", "V": "ventilated", "B": "bulk", "S": "named cargo", "R": "reefer",
    "H": "insulated", "U": "open top", "P": "platform / flat rack", "T": "tank", "A": "air/surface",
}


@dataclass(frozen=True, slots=True)
class SizeType:
    """An ISO 6346 size-type code such as 22G1 or 45G1."""

    code: str
    length_ft: float
    high_cube: bool
    group: str

    @property
    def teu(self) -> int:
        """Twenty-foot equivalent units: 1 for 20', 2 for 40' and 45'."""
        return 1 if self.length_ft <= 30 else 2


def size_type(code: str) -> SizeType:
    """Parse an ISO 6346 size-type code ('22G1', '45G1', '42R1', 'L5G1') or raise with the reason."""
    c = (code or "").strip().upper()
    if len(c) != 4:
        raise InvalidEquipment(f"size-type code {code!r}: expected 4 characters such as 22G1 or 45G1")
    if c[0] not in _LENGTH_FT:
        raise InvalidEquipment(f"size-type code {code!r}: unknown length code {c[0]!r}")
    if c[2] not in _TYPE_GROUP:
        raise InvalidEquipment(f"size-type code {code!r}: unknown type group {c[2]!r}")
    return SizeType(c, _LENGTH_FT[c[0]], high_cube=c[1] in "5EF", group=_TYPE_GROUP[c[2]])


def teu_of(code: str | None, default: int = 2) -> int:
    """TEU of a size-type code; `default` when the code is missing or unknown (40' is the corridor norm)."""
    if not code:
        return default
    try:
        return size_type(code).teu
    except InvalidEquipment:
        return default


def wagon_number(raw: str) -> str:
    """Return a normalised wagon number or raise with the reason.

    Two numbering schemes run on the corridor: the 12-digit UIC number (TSI/EU, Türkiye) and the
    8-digit OSJD number of the 1520 mm networks (KZ, AZ, GE). Both end in a Luhn check digit.
    """
    value = re.sub(r"[\s\-.]", "", str(raw or ""))
    if not value.isdigit():
        raise InvalidEquipment(f"wagon number {raw!r}: digits only expected")
    if len(value) not in (8, 12):
        raise InvalidEquipment(f"wagon number {raw!r}: wrong length {len(value)}, expected 8 (OSJD) or 12 (UIC)")
    expected = luhn.calc_check_digit(value[:-1])
    if expected != value[-1]:
        raise InvalidEquipment(f"wagon number {raw!r}: check digit {value[-1]} is wrong, expected {expected}")
    return value


def with_check_digit(prefix: str) -> str:
    """Complete an ISO 6346 (10 chars) or wagon (7 or 11 digits) prefix with its check digit."""
    if len(prefix) == 10 and not prefix.isdigit():
        return prefix + iso6346.calc_check_digit(prefix)
    return prefix + luhn.calc_check_digit(prefix)
