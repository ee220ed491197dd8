"""Route options for a shipper's request: comparable Middle Corridor variants plus Northern and Sea."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from corridor.domain.bookings import BookingLeg, ContainerRequest
from corridor.domain.errors import DomainError
from corridor.domain.network import Corridor, FacilityType, Mode, Network
from corridor.domain.timetable import Departure

from .pricing import Money
from .router import FreeTeu, Journey, Timetable

MAX_TEU = 240              # two full block trains; larger lots are split into several bookings
MAX_DAYS_AHEAD = 366       # timetables are published about a year ahead
SEARCH_HORIZON = timedelta(days=75)   # the slowest sensible option (Cape routing) is ~55 days
# stations where a different choice makes a different Middle Corridor variant
_CHOICE_POINTS = (FacilityType.BOCR, FacilityType.POTE, FacilityType.BRTH)


class PlanningRequestError(DomainError):
    """A route request that cannot be answered as asked (bad date, quantity or place)."""


class NoRoute(DomainError):
    """No departures with room connect the two places within the search horizon."""


@dataclass(frozen=True, slots=True)
class OptionLeg:
    """One leg of an option: a departure with its share of distance, price and CO2e."""

    departure_id: str
    mode: Mode
    operator: str
    origin: str          # location ref (UN/LOCODE or corridor id)
    destination: str
    departs_at: datetime
    arrives_at: datetime
    distance_km: float
    co2e_kg: float
    price: Money


@dataclass(frozen=True, slots=True)
class RouteOption:
    """A door-to-door option: its route, times, all-in price and CO2e for the requested TEU."""

    name: str
    route: tuple[str, ...]
    corridor: Corridor
    departs_at: datetime     # first departure, origin's local time
    arrives_at: datetime     # last arrival, destination's local time
    transit_hours: float     # first departure to last arrival
    price: Money
    co2e_kg: float
    teu: int
    legs: tuple[OptionLeg, ...]

    @property
    def transit_days(self) -> float:
        return round(self.transit_hours / 24.0, 1)

    def booking_legs(self) -> list[BookingLeg]:
        """The legs as a booking reserves them (departure ids with the TEU)."""
        return [BookingLeg(i + 1, leg.departure_id, leg.origin, leg.destination, leg.departs_at,
                           leg.arrives_at, self.teu) for i, leg in enumerate(self.legs)]


def requested_teu(containers: int | str | ContainerRequest | Iterable[ContainerRequest]) -> int:
    """TEU of a request: an int of TEU, '2x40' / '3x22G1' text, or ContainerRequests."""
    if isinstance(containers, bool):
        raise PlanningRequestError("give the containers as a count such as '2x40' or a number of TEU")
    if isinstance(containers, int):
        return containers
    if isinstance(containers, ContainerRequest):
        return containers.teu
    if isinstance(containers, str):
        total = 0
        for part in filter(None, re.split(r"[,+;]\s*|\s+and\s+", containers.strip())):
            m = re.fullmatch(r"\s*(\d+)\s*[x×*]\s*(20|40|45|[0-9A-Z]{4})'?\s*", part, re.I)
            if not m:
                raise PlanningRequestError(
                    f"cannot read the containers {containers!r}: write them like '2x40' or '1x20, 3x45G1'")
            size = {"20": "22G1", "40": "42G1", "45": "L5G1"}.get(m[2], m[2].upper())
            total += ContainerRequest(int(m[1]), size).teu
        return total
    return sum(c.teu for c in containers)


def plan(network: Network, departures: Sequence[Departure] | Timetable, origin: str, destination: str,
         ready_at: datetime, containers, free_teu: FreeTeu | None = None, max_options: int = 6, *,
         now: datetime | None = None) -> list[RouteOption]:
    """Up to `max_options` comparable options, best Middle Corridor variants first, then Northern and Sea.

    `departures` may be a compiled Timetable (compile once, plan many times).
    """
    tt = departures if isinstance(departures, Timetable) else Timetable(network, departures)
    o, d = network.resolve(origin), network.resolve(destination)
    if o.id == d.id:
        raise PlanningRequestError(f"origin and destination are both {o.ref} ({o.name})")
    _check_ready(ready_at, now, tt)
    teu = requested_teu(containers)
    if teu <= 0:
        raise PlanningRequestError(f"the request has {teu} TEU: ask for at least one container")
    if teu > MAX_TEU:
        raise PlanningRequestError(f"{teu} TEU is more than {MAX_TEU} TEU (two full block trains): "
                                   "split the lot into several bookings")

    found = tt.pareto(o.id, d.id, ready_at, teu, free_teu=free_teu, horizon=SEARCH_HORIZON, by_family=True)
    middle = [j for j in found if j.family is Corridor.MIDDLE]
    if middle:   # variants: the fastest Middle route again, avoiding each of its choice points
        first = min(middle, key=lambda j: j.arrives_at)
        for stop in first.stops[1:-1]:
            if network.locations[stop].facility_type in _CHOICE_POINTS:
                alt = tt.earliest_arrival(o.id, d.id, ready_at, teu, family=Corridor.MIDDLE,
                                          free_teu=free_teu, avoid=[stop])
                if alt and alt.arrives_at - ready_at <= SEARCH_HORIZON:
                    middle.append(alt)
    others = []
    for fam in (Corridor.NORTHERN, Corridor.SEA):
        fam_journeys = [j for j in found if j.family is fam]
        if fam_journeys:
            others.append(min(fam_journeys, key=lambda j: (j.arrives_at, j.price_usd_per_teu)))
    chosen = _distinct(sorted(middle, key=lambda j: (j.arrives_at, j.price_usd_per_teu)))
    chosen = chosen[:max(1, max_options - len(others))] + others
    if not chosen:
        raise _no_route(tt, o.id, d.id, ready_at, teu, free_teu, network)
    return [_option(tt, j, teu) for j in chosen[:max_options]]


def _check_ready(ready_at: datetime, now: datetime | None, tt: Timetable) -> None:
    if ready_at.tzinfo is None or ready_at.utcoffset() is None:
        raise PlanningRequestError(f"ready time {ready_at.isoformat()} has no time zone; "
                                   "give it with its UTC offset")
    now = now or datetime.now(timezone.utc)
    if ready_at < now - timedelta(days=1):
        raise PlanningRequestError(f"ready date {ready_at.date()} is in the past (today is {now.date()})")
    if ready_at > now + timedelta(days=MAX_DAYS_AHEAD):
        raise PlanningRequestError(f"ready date {ready_at.date()} is more than {MAX_DAYS_AHEAD} days ahead; "
                                   "no timetable is published that far")
    if tt.last_departure is not None and ready_at.timestamp() > tt.last_departure:
        last = datetime.fromtimestamp(tt.last_departure, timezone.utc).date()
        raise PlanningRequestError(f"ready date {ready_at.date()} is after the last departure in the "
                                   f"timetable ({last})")


def _distinct(journeys: list[Journey]) -> list[Journey]:
    """The first journey of each route (sequence of stations)."""
    seen, out = set(), []
    for j in journeys:
        if j.stops not in seen:
            seen.add(j.stops)
            out.append(j)
    return out


def _no_route(tt: Timetable, o: str, d: str, ready_at: datetime, teu: int, free_teu, network) -> NoRoute:
    a, b = network.locations[o], network.locations[d]
    days = SEARCH_HORIZON.days
    if teu > 1 or free_teu is not None:
        if tt.earliest_arrival(o, d, ready_at, 1) is not None:
            return NoRoute(f"no route from {a.ref} ({a.name}) to {b.ref} ({b.name}) has room for {teu} TEU "
                           f"within {days} days of {ready_at.date()}; try fewer containers or a later date")
    return NoRoute(f"no departures connect {a.ref} ({a.name}) to {b.ref} ({b.name}) within {days} days "
                   f"of {ready_at.date()} on one corridor (middle, northern or sea)")


def _option(tt: Timetable, j: Journey, teu: int) -> RouteOption:
    net = tt.network
    legs = []
    for dep in j.legs:
        usd, kg = tt.leg_cost(dep)
        legs.append(OptionLeg(
            dep.id, dep.mode, dep.operator, net.locations[dep.origin].ref, net.locations[dep.destination].ref,
            dep.departs_at, dep.arrives_at, tt.links[dep.link_id].distance_km, round(kg * teu, 1),
            Money(Decimal(str(usd)) * teu)))
    o, d = net.locations[j.stops[0]], net.locations[j.stops[-1]]
    route = tuple(net.locations[s].ref for s in j.stops)   # waypoints show the sea routing
    return RouteOption(
        name=" – ".join(net.locations[s].name.split(" (")[0] for s in j.stops),
        route=route, corridor=j.family,
        departs_at=j.departs_at.astimezone(o.tz), arrives_at=j.arrives_at.astimezone(d.tz),
        transit_hours=round((j.arrives_at - j.departs_at).total_seconds() / 3600.0, 1),
        price=Money.total(leg.price for leg in legs), co2e_kg=round(sum(leg.co2e_kg for leg in legs), 1),
        teu=teu, legs=tuple(legs))
