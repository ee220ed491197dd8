"""CO2e of legs, route options and bookings (ISO 14083 / GLEC Framework, well-to-wheel).

Transport emissions = activity x WTW intensity of the mode: tonne-km when the factor is per
t-km (ferries, rail, road), TEU-km when it is per TEU-km (container ships). Hub emissions are
added per container handling (port lift, gauge-change transshipment).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from corridor.domain.network import Link, Mode
from corridor.domain.timetable import Departure

# ASSUMPTION: 10 net tonnes of cargo per TEU, the usual average for a loaded TEU when only the
# TEU count is known (Clean Cargo / GLEC practice). A 40' box therefore counts 20 t.
NET_TONNES_PER_TEU = 10.0

# ESTIMATE: kg CO2e per TEU per container handling at a hub (one lift at a port, one
# transshipment at a break of gauge). Container terminals report scope 1+2 intensities of
# roughly 10-20 kg CO2e per TEU handled in their sustainability reports; 15 is the middle.
# GLEC v3 hub defaults should replace it.
HUB_KG_PER_TEU_HANDLING = 15.0


@dataclass(frozen=True, slots=True)
class Factor:
    """A well-to-wheel intensity: kg CO2e per t-km or per TEU-km, with where it comes from."""

    key: str
    kg_co2e: float
    per: str              # "t-km" or "TEU-km"
    source: str
    estimated: bool = False
    net_tonnes_per_teu: float = NET_TONNES_PER_TEU

    def per_teu_km(self) -> float:
        """kg CO2e for one TEU over one km."""
        return self.kg_co2e * (self.net_tonnes_per_teu if self.per == "t-km" else 1.0)


def factors_from_network(block: Mapping) -> dict[Mode, Factor]:
    """One WTW factor per mode from a network file's `emission_factors` block (its `by_mode`)."""
    tonnes = float((block.get("net_tonnes_per_teu") or {}).get("value") or NET_TONNES_PER_TEU)
    out = {}
    for mode_name, row in (block.get("by_mode") or {}).items():
        if row.get("value_wtw") is None:
            continue
        out[Mode(mode_name)] = Factor(
            str(row.get("factor_key", mode_name)), float(row["value_wtw"]),
            str(row["unit"]).removeprefix("kgCO2e/"), str(row.get("basis", row.get("source", ""))),
            bool(row.get("estimated")), tonnes)
    missing = set(Mode) - set(out)
    if missing:
        raise ValueError(f"emission factors lack a WTW value for {sorted(m.value for m in missing)}")
    return out


@lru_cache(maxsize=1)
def default_factors() -> dict[Mode, Factor]:
    """The packaged network's factors (GLEC where retrieved, marked estimates elsewhere)."""
    from corridor.network_file import emission_factors
    return factors_from_network(emission_factors())


def handlings(link: Link, origin_waypoint: bool = False, destination_waypoint: bool = False) -> int:
    """Container handlings a leg over `link` causes: port lifts at each real port, one per gauge change."""
    n = 0
    if link.mode.is_water:
        n += (not origin_waypoint) + (not destination_waypoint)
    if (link.transfer or "").startswith("gauge_change"):
        n += 1
    return n


def leg_co2e_per_teu(link: Link, factors: Mapping[Mode, Factor] | None = None,
                     n_handlings: int | None = None) -> float:
    """kg CO2e WTW for one TEU over `link`, transport plus hub handlings."""
    factors = factors or default_factors()
    hubs = handlings(link) if n_handlings is None else n_handlings
    return link.distance_km * factors[link.mode].per_teu_km() + hubs * HUB_KG_PER_TEU_HANDLING


def leg_co2e_kg(departure: Departure, link: Link, teu: int,
                factors: Mapping[Mode, Factor] | None = None, n_handlings: int | None = None) -> float:
    """kg CO2e WTW of `teu` TEU on one departure (its link gives distance and handlings)."""
    if departure.link_id != link.id:
        raise ValueError(f"departure {departure.id} runs on link {departure.link_id}, not {link.id}")
    return teu * leg_co2e_per_teu(link, factors, n_handlings)


def option_co2e_kg(leg_kgs: Iterable[float]) -> float:
    """kg CO2e of a route option: the sum of its legs."""
    return sum(leg_kgs)


def booking_co2e_kg(booking, departures: Mapping[str, Departure], links: Mapping[str, Link],
                    waypoints: frozenset[str] = frozenset(),
                    factors: Mapping[Mode, Factor] | None = None) -> float:
    """kg CO2e of a booking's legs for its TEU (`departures` and `links` by id)."""
    total = 0.0
    for leg in booking.legs:
        dep = departures[leg.departure_id]
        link = links[dep.link_id]
        n = handlings(link, link.origin in waypoints, link.destination in waypoints)
        total += leg_co2e_kg(dep, link, leg.teu, factors, n)
    return total
