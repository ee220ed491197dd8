"""Route options for a shipper's request: comparable Middle Corridor variants plus Northern and Sea."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from corridor.domain.bookings import BookingLeg, ContainerRequest
from corridor.domain.errors import CapacityExceeded, DomainError
from corridor.domain.network import Corridor, FacilityType, Mode, Network
from corridor.domain.timetable import Departure

from .pricing import Money
from .router import FAMILIES, FreeTeu, Journey, Timetable

MAX_DAYS_AHEAD = 366       # timetables are published about a year ahead
SEARCH_HORIZON = timedelta(days=75)   # the slowest sensible option (Cape routing) is ~55 days
# stations where a different choice makes a different Middle Corridor variant
_CHOICE_POINTS = (FacilityType.BOCR, FacilityType.POTE, FacilityType.BRTH)
# Why options over suez_restricted links are marked (network.yaml: sea_routing and its routing rule)
SUEZ_RESTRICTION = ("the network marks the Suez links suez_restricted: since the Red Sea attacks of December "
                    "2023 most Asia-Europe services sail round the Cape of Good Hope and few lines still "
                    "transit Suez; check with the carrier before relying on it")


class PlanningRequestError(DomainError):
    """A route request that cannot be answered as asked (bad date, quantity or place)."""


class NoRoute(DomainError):
    """No departures with room connect the two places within the search horizon."""


class LotTooLarge(PlanningRequestError, CapacityExceeded):
    """More TEU than any route's departures hold: a booking takes one departure per leg."""


class NoRoom(NoRoute, CapacityExceeded):
    """Departures connect the two places but none in time has room for the whole lot."""


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
    restriction: str | None = None   # why the route is restricted (a Suez sailing), None when it is not

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
         now: datetime | None = None, suez: bool = True) -> list[RouteOption]:
    """Up to `max_options` comparable options, best Middle Corridor variants first, then Northern and Sea.

    The search starts at `ready_at` or now, whichever is later (no departure that has left is
    offered). With `suez` the sea route through the Suez Canal is offered beside the default
    (Cape) one, marked with its `restriction`, when the timetable holds its sailings.
    `departures` may be a compiled Timetable (compile once, plan many times).
    """
    tt = departures if isinstance(departures, Timetable) else Timetable(network, departures, include_suez=suez)
    o, d = network.resolve(origin), network.resolve(destination)
    if o.id == d.id:
        raise PlanningRequestError(f"origin and destination are both {o.ref} ({o.name})")
    start = check_ready(ready_at, now)
    if tt.last_departure is not None and start.timestamp() > tt.last_departure:
        last = datetime.fromtimestamp(tt.last_departure, timezone.utc).date()
        raise PlanningRequestError(f"ready date {start.date()} is after the last departure in the "
                                   f"timetable ({last})")
    teu = requested_teu(containers)
    if teu <= 0:
        raise PlanningRequestError(f"the request has {teu} TEU: ask for at least one container")
    suez = suez and bool(tt.restricted)
    cap, limit = tt.largest_lot(o.id, d.id, suez=suez)
    if limit is not None and teu > cap:
        raise LotTooLarge(lot_too_large(network, teu, cap, limit, o.ref, d.ref))

    found = tt.pareto(o.id, d.id, start, teu, free_teu=free_teu, horizon=SEARCH_HORIZON, by_family=True,
                      suez=False)
    middle = [j for j in found if j.family is Corridor.MIDDLE]
    if middle:   # variants: the fastest Middle route again, avoiding each of its choice points
        first = min(middle, key=lambda j: j.arrives_at)
        for stop in first.stops[1:-1]:
            if network.locations[stop].facility_type in _CHOICE_POINTS:
                alt = tt.earliest_arrival(o.id, d.id, start, teu, family=Corridor.MIDDLE,
                                          free_teu=free_teu, avoid=[stop], suez=False)
                if alt and alt.arrives_at - start <= SEARCH_HORIZON:
                    middle.append(alt)
    others = []
    for fam in (Corridor.NORTHERN, Corridor.SEA):
        fam_journeys = [j for j in found if j.family is fam]
        if fam_journeys:
            others.append(min(fam_journeys, key=lambda j: (j.arrives_at, j.price_usd_per_teu)))
    if suez:   # the sea route through the canal, beside the default one round the Cape
        via = [j for j in tt.pareto(o.id, d.id, start, teu, family=Corridor.SEA, free_teu=free_teu,
                                    horizon=SEARCH_HORIZON, suez=True) if _restricted(tt, j)]
        if via:
            others.append(min(via, key=lambda j: (j.arrives_at, j.price_usd_per_teu)))
    others.sort(key=lambda j: (FAMILIES.index(j.family), j.arrives_at))
    chosen = _distinct(sorted(middle, key=lambda j: (j.arrives_at, j.price_usd_per_teu)))
    chosen = chosen[:max(1, max_options - len(others))] + others
    if not chosen:
        raise _no_route(tt, o.id, d.id, start, teu, free_teu, network, suez)
    return [_option(tt, j, teu) for j in chosen[:max_options]]


def check_ready(ready_at: datetime, now: datetime | None = None, *, ahead: bool = True) -> datetime:
    """When the search starts: `ready_at`, or now when that is earlier on today's date.

    A ready date before today (in the ready time's own zone) is refused as a bad date, and so is
    one further ahead than timetables are published (unless not `ahead`: the caller says what
    its timetable holds).
    """
    if ready_at.tzinfo is None or ready_at.utcoffset() is None:
        raise PlanningRequestError(f"ready time {ready_at.isoformat()} has no time zone; "
                                   "give it with its UTC offset")
    now = (now or datetime.now(timezone.utc)).astimezone(ready_at.tzinfo)
    if ready_at.date() < now.date():
        raise PlanningRequestError(f"ready date {ready_at.date()} is in the past (today is {now.date()} there); "
                                   "give today or a later date")
    if ahead and ready_at > now + timedelta(days=MAX_DAYS_AHEAD):
        raise PlanningRequestError(f"ready date {ready_at.date()} is more than {MAX_DAYS_AHEAD} days ahead; "
                                   "no timetable is published that far")
    if ready_at >= now:
        return ready_at
    # from now, to the next whole minute (timetables are in minutes, and no departure of the
    # current minute is offered once it may have left)
    return now.replace(second=0, microsecond=0) + timedelta(minutes=1 if now.second or now.microsecond else 0)


def lot_too_large(network: Network, teu: int, cap: int, limit: Departure, origin: str, destination: str) -> str:
    """Why `teu` TEU cannot go as one booking: the departure that limits the widest route."""
    a, b = network.locations[limit.origin], network.locations[limit.destination]
    return (f"{teu} TEU do not fit in one booking from {origin} to {destination}: a booking takes one "
            f"departure on each leg, and on every route some leg holds at most {cap} TEU (on the widest, "
            f"{limit.mode.value} {a.ref} → {b.ref}); split the lot into bookings of at most {cap} TEU")


def _restricted(tt: Timetable, j: Journey) -> bool:
    return any(tt.links[dep.link_id].suez_restricted for dep in j.legs)


def _distinct(journeys: list[Journey]) -> list[Journey]:
    """The first journey of each route (sequence of stations)."""
    seen, out = set(), []
    for j in journeys:
        if j.stops not in seen:
            seen.add(j.stops)
            out.append(j)
    return out


def _no_route(tt: Timetable, o: str, d: str, ready_at: datetime, teu: int, free_teu, network,
              suez: bool) -> NoRoute:
    a, b = network.locations[o], network.locations[d]
    days = SEARCH_HORIZON.days
    if teu > 1 or free_teu is not None:
        if tt.earliest_arrival(o, d, ready_at, 1, suez=suez) is not None:
            # the lot fits the departures' size (checked first): space is booked up or the large
            # enough departures do not connect in time, which another date or a smaller lot can change
            return NoRoom(f"no route from {a.ref} ({a.name}) to {b.ref} ({b.name}) has room for {teu} TEU "
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
        teu=teu, legs=tuple(legs), restriction=SUEZ_RESTRICTION if _restricted(tt, j) else None)
