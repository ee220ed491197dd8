"""Door-to-door prices: the departures' tariffs per TEU plus surcharges, as Money."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from corridor.domain.network import FacilityType, Link, Location, Mode
from corridor.domain.timetable import Departure

_CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in one currency, rounded to cents."""

    amount: Decimal
    currency: str = "USD"

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount", Decimal(str(self.amount)).quantize(_CENT, ROUND_HALF_UP))

    def __add__(self, other: "Money") -> "Money":
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(self.amount + other.amount, self.currency)

    def __str__(self) -> str:
        return f"{self.currency} {self.amount:,.2f}"

    @staticmethod
    def total(items: Iterable["Money"], currency: str = "USD") -> "Money":
        """The sum of `items` (zero in `currency` when empty)."""
        out = Money(Decimal(0), currency)
        for m in items:
            out = out + m
        return out


@dataclass(frozen=True, slots=True)
class Surcharge:
    """A charge per TEU that a kind of leg attracts, unless the link tariff already includes it."""

    key: str
    usd_per_teu: float
    applies: str
    estimated: bool = True


# ESTIMATES: no public per-link tariffs were found (corridor-facts.md §6). The network's link
# tariffs already include the gauge change (USD 250/FEU on every break-of-gauge link) and, on the
# Caspian, port charges at both ends (USD 1,800/FEU crossing), see network_file.pricing()
# "pricing_note"; these surcharges add only what those tariffs leave out.
SURCHARGES: tuple[Surcharge, ...] = (
    Surcharge("ferry", 75.0, "rail-ferry crossing: platform hire and lashing of wagons on board"),
    Surcharge("port_handling", 100.0, "terminal handling per port call of a Black Sea feeder or "
              "ocean ship (each end; the Drewry port-to-port rates exclude it)"),
    Surcharge("gauge_transshipment", 0.0, "container transfer between 1435 and 1520 mm wagons: "
              "USD 125/TEU, already in the break-of-gauge link tariff", estimated=False),
)
_BY_KEY = {s.key: s for s in SURCHARGES}
CASPIAN_COUNTRIES = frozenset({"KZ", "TM", "AZ"})   # crossings whose tariff includes port charges


def surcharges_for(link: Link, origin: Location, destination: Location) -> list[Surcharge]:
    """The surcharges a leg over `link` attracts (waypoints are no port calls)."""
    out = []
    if link.mode is Mode.FERRY:
        out.append(_BY_KEY["ferry"])
    if link.mode in (Mode.FEEDER, Mode.DEEP_SEA) and \
            not {origin.country, destination.country} <= CASPIAN_COUNTRIES:
        ports = [x for x in (origin, destination) if x.facility_type is not FacilityType.WAYP]
        out += [_BY_KEY["port_handling"]] * len(ports)
    if (link.transfer or "").startswith("gauge_change"):
        out.append(_BY_KEY["gauge_transshipment"])
    return out


def tariff_usd_per_teu(departure: Departure, link: Link) -> float:
    """The departure's own tariff per TEU; half the link's FEU price when the departure has none."""
    if departure.price_usd_per_teu:
        return departure.price_usd_per_teu
    return (link.price_usd_per_feu or 0.0) / 2.0


def leg_usd_per_teu(departure: Departure, link: Link, origin: Location, destination: Location) -> float:
    """All-in USD per TEU of one leg: tariff plus its surcharges."""
    extra = sum(s.usd_per_teu for s in surcharges_for(link, origin, destination))
    return tariff_usd_per_teu(departure, link) + extra


def leg_price(departure: Departure, link: Link, origin: Location, destination: Location, teu: int) -> Money:
    """All-in price of `teu` TEU on one departure."""
    return Money(Decimal(str(leg_usd_per_teu(departure, link, origin, destination))) * teu)
