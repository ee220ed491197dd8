"""Quotes: the planner's route options (`planning.options.plan`) on live free space, as stable JSON.

The planner picks the Middle Corridor variants and the Northern and Sea alternatives; a quote adds
each leg's free TEU and keeps the options numbered so `corridor book --option N` books one.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from ..domain.bookings import ContainerRequest
from ..domain.errors import DomainError
from ..domain.network import Corridor, Network
from ..domain.timetable import Departure
from ..planning import emissions, pricing
from ..planning.options import SUEZ_RESTRICTION, plan
from ..planning.pricing import Money

SUEZ = "sea_suez"   # the not_offered key of the sea route through the canal (corridor "sea", route "suez")

FAMILY_NAMES = {"middle": "Middle Corridor", "northern": "Northern route", "sea": "Sea",
                SUEZ: "Sea via Suez"}
HORIZON = timedelta(days=75)   # how far past the ready time a quote looks for departures


@dataclass(frozen=True, slots=True)
class QuoteLeg:
    """One departure of an option, with its free space and its share of price and CO2e."""

    departure: Departure
    free_teu: int
    price: Money
    co2e_kg: float


@dataclass(frozen=True, slots=True)
class QuoteOption:
    """A bookable way from origin to destination: concrete departures, price and CO2e for the request."""

    number: int
    corridor: str
    legs: tuple[QuoteLeg, ...]
    price: Money
    co2e_kg: float
    restriction: str | None = None   # why the route is restricted (Suez), None when it is not

    @property
    def departs_at(self) -> datetime:
        return self.legs[0].departure.departs_at

    @property
    def arrives_at(self) -> datetime:
        return self.legs[-1].departure.arrives_at

    @property
    def transit_hours(self) -> float:
        return (self.arrives_at - self.departs_at).total_seconds() / 3600.0

    @property
    def departure_ids(self) -> tuple[str, ...]:
        return tuple(leg.departure.id for leg in self.legs)

    @property
    def stops(self) -> tuple[str, ...]:
        return (self.legs[0].departure.origin, *(leg.departure.destination for leg in self.legs))

    def route(self, network: Network) -> str:
        """'Middle Corridor: CNXIA → KZHOR → … → TRIST' (UN/LOCODE where there is one)."""
        refs = " → ".join(network.locations[s].ref for s in self.stops)
        name = FAMILY_NAMES.get(self.corridor, self.corridor)
        if self.corridor == "sea":   # name the way round Africa or through the canal
            name += " via Suez" if "EG_SUEZ" in self.stops else " via the Cape" if "ZA_CAPE" in self.stops else ""
        if self.restriction:
            name += " (restricted)"
        return f"{name}: {refs}"

    def as_json(self, network: Network) -> dict:
        """The stable JSON of an option (`corridor plan --json`, POST /api/v1/quotes)."""
        return {
            "option": self.number, "route": self.route(network), "corridor": self.corridor,
            "departure": self.departs_at.isoformat(), "arrival": self.arrives_at.isoformat(),
            "transit_hours": round(self.transit_hours, 1), "transit_days": round(self.transit_hours / 24, 1),
            "price": money_json(self.price), "co2e_kg": round(self.co2e_kg, 1),
            "restricted": self.restriction is not None, "restriction": self.restriction,
            "legs": [leg_json(leg, network) for leg in self.legs],
        }


QUOTE_ID_PREFIX = "q1."


@dataclass(frozen=True, slots=True)
class QuotedOption:
    """What a client was shown of an option (read from its `quote_id`): the request it answered,
    the departures and the all-in price. A booking that names it is made only on exactly that."""

    origin: str                                  # location ids
    destination: str
    containers: tuple[tuple[int, str], ...]      # (count, size-type), by size-type
    departure_ids: tuple[str, ...]
    price: Decimal
    currency: str


def _container_key(containers: Sequence[ContainerRequest]) -> tuple[tuple[int, str], ...]:
    counts: dict[str, int] = {}
    for c in containers:
        counts[c.size_type] = counts.get(c.size_type, 0) + c.count
    return tuple((n, size) for size, n in sorted(counts.items()))


def quote_id(origin: str, destination: str, containers: Sequence[ContainerRequest], option: QuoteOption) -> str:
    """The option as the client sees it, in one token it hands back when booking (`quote_id`).

    Self-contained, so the booking can say what changed since (route, price) without the server
    keeping every quote; it binds nothing but the client's own expectation, so it needs no secret.
    """
    doc = {"o": origin, "d": destination, "c": [list(x) for x in _container_key(containers)],
           "dep": list(option.departure_ids), "p": str(option.price.amount), "cur": option.price.currency}
    raw = json.dumps(doc, separators=(",", ":")).encode()
    return QUOTE_ID_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def read_quote_id(text: str) -> QuotedOption:
    """The option a `quote_id` stands for; DomainError when it is not one a quote gave."""
    bad = DomainError(f"quote_id {text[:40]!r}{'…' if len(text) > 40 else ''} is not one a quote gave; "
                      "take it from an option of POST /api/v1/quotes")
    if not text.startswith(QUOTE_ID_PREFIX):
        raise bad
    body = text[len(QUOTE_ID_PREFIX):]
    try:
        doc = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        out = QuotedOption(str(doc["o"]), str(doc["d"]), tuple((int(n), str(s)) for n, s in doc["c"]),
                           tuple(str(x) for x in doc["dep"]), Decimal(str(doc["p"])), str(doc["cur"]))
    except (ValueError, KeyError, TypeError, InvalidOperation, binascii.Error):
        raise bad from None
    if not out.departure_ids:
        raise bad
    return out


def quote_changes(seen: QuotedOption, network: Network, deps: Sequence[Departure], price: Money) -> list[str]:
    """What differs between the option the client saw and the journey about to be booked."""
    out = []
    now_ids = tuple(d.id for d in deps)
    if now_ids != seen.departure_ids:
        stops = [deps[0].origin, *(d.destination for d in deps)] if deps else []
        gone = [x for x in seen.departure_ids if x not in now_ids]
        added = [x for x in now_ids if x not in seen.departure_ids]
        what = (f"route: now {' → '.join(network.locations[s].ref for s in stops)} on departures "
                f"{', '.join(now_ids)}")
        if gone:
            what += f"; quoted departure{'s' if len(gone) > 1 else ''} {', '.join(gone)} no longer in it"
        if added:
            what += f"; new: {', '.join(added)}"
        out.append(what)
    if price.currency != seen.currency or price.amount != seen.price:
        out.append(f"price: now {price} (quoted {Money(seen.price, seen.currency)})")
    return out


def money_json(m: Money) -> dict:
    return {"amount": float(m.amount), "currency": m.currency}


def leg_json(leg: QuoteLeg, network: Network) -> dict:
    d = leg.departure
    return {
        "departure_id": d.id, "from": network.locations[d.origin].ref, "to": network.locations[d.destination].ref,
        "from_name": network.locations[d.origin].name, "to_name": network.locations[d.destination].name,
        "mode": d.mode.value, "service": d.service, "operator": d.operator, "vehicle": d.vehicle,
        "voyage": d.voyage, "departure": d.departs_at.isoformat(), "arrival": d.arrives_at.isoformat(),
        "free_teu": leg.free_teu, "price": money_json(leg.price), "co2e_kg": round(leg.co2e_kg, 1),
        "status": d.status,
    }


def price_legs(network: Network, deps: Sequence[Departure], teu: int,
               free: Mapping[str, int]) -> tuple[tuple[QuoteLeg, ...], Money, float]:
    """Legs priced for `teu` TEU with the planning tariffs and ISO 14083 factors; (legs, total, kg)."""
    links = {k.id: k for k in network.links}
    waypoints = {i for i, loc in network.locations.items() if loc.facility_type.value == "WAYP"}
    legs = []
    for d in deps:
        link = links[d.link_id]
        o, t = network.locations[d.origin], network.locations[d.destination]
        n_hub = emissions.handlings(link, d.origin in waypoints, d.destination in waypoints)
        legs.append(QuoteLeg(d, free.get(d.id, d.capacity_teu), pricing.leg_price(d, link, o, t, teu),
                             emissions.leg_co2e_kg(d, link, teu, n_handlings=n_hub)))
    total = Money.total(x.price for x in legs)
    return tuple(legs), total, sum(x.co2e_kg for x in legs)


def _leg_ids(option) -> list[str]:
    """Departure ids of a planner RouteOption, whatever its leg objects are called."""
    out = []
    for leg in option.legs:
        dep_id = getattr(leg, "departure_id", None)
        if dep_id is None and getattr(leg, "departure", None) is not None:
            dep_id = leg.departure.id
        if dep_id is None:
            dep_id = getattr(leg, "id", None)
        out.append(dep_id)
    return out


def plan_options(network: Network, departures: Sequence[Departure], reserved: Mapping[str, int],
                 origin: str, destination: str, ready_at: datetime,
                 containers: tuple[ContainerRequest, ...], max_options: int = 6, *, suez: bool = True,
                 now: datetime | None = None) -> list[QuoteOption]:
    """Route options for the request on the given departures and reservations, numbered from 1.

    `suez`: offer the sea route through the canal (marked restricted) beside the Cape one.
    """
    teu = sum(c.teu for c in containers)
    by_id = {d.id: d for d in departures}
    free = {d.id: max(0, d.capacity_teu - reserved.get(d.id, 0)) for d in departures}
    free_of = lambda dep_id: free.get(dep_id, 0)   # noqa: E731 - the planner's callback
    found: list[tuple[str, list[str], object]] = []
    for opt in plan(network, departures, origin, destination, ready_at, containers,
                    free_teu=free_of, max_options=max_options, suez=suez, now=now):
        fam = getattr(opt, "corridor", None) or getattr(opt, "family", None) or ""
        found.append((getattr(fam, "value", fam), _leg_ids(opt), opt))
    options = []
    for fam, ids, opt in found:
        legs, total, kg = price_legs(network, [by_id[i] for i in ids], teu, free)
        if opt is not None and all(hasattr(x, "price") and hasattr(x, "co2e_kg") for x in opt.legs):
            legs = tuple(QuoteLeg(q.departure, q.free_teu, x.price, float(x.co2e_kg))
                         for q, x in zip(legs, opt.legs))
        if opt is not None:   # the planner's own all-in figures win where it gives them
            p = getattr(opt, "price", None)
            if isinstance(p, Money):
                total = p
            elif isinstance(p, (int, float, Decimal)):
                total = Money(Decimal(str(p)))
            kg = float(getattr(opt, "co2e_kg", kg) or kg)
        if not fam:
            fam = _family_of(network, [by_id[i] for i in ids])
        options.append(QuoteOption(len(options) + 1, fam, legs, total, kg, getattr(opt, "restriction", None)))
    return options


def not_offered(network: Network, origin: str, destination: str, ready_at: datetime, teu: int,
                options: Sequence[QuoteOption], suez: bool = True) -> list[tuple[str, str]]:
    """(corridor, why) of each corridor family without an option, so a shipper comparing routes
    learns whether that family cannot reach the place at all or merely has no departure in time;
    the sea route through Suez (key SUEZ) is accounted for the same way, or as left out on request."""
    offered = {o.corridor for o in options}
    d = network.locations[destination]
    place = f"{d.ref} ({d.name.split(' (')[0]}) from {network.locations[origin].ref}"
    out = []
    for fam in (Corridor.MIDDLE, Corridor.NORTHERN, Corridor.SEA):
        if fam.value in offered:
            continue
        name = FAMILY_NAMES[fam.value]
        if _reaches(network, fam, origin, destination):
            why = (f"no {name} departures with room for {teu} TEU within {HORIZON.days} days "
                   f"of {ready_at:%Y-%m-%d}")
        else:
            why = f"the {name} does not reach {place}"
        out.append((fam.value, why))
    if any(o.restriction for o in options):
        return out
    if not _reaches(network, Corridor.SEA, origin, destination, via_suez=True):
        if _reaches(network, Corridor.SEA, origin, destination):   # else the Sea entry says it already
            out.append((SUEZ, f"no sea route through the Suez Canal reaches {place}"))
        return out
    if not suez:
        why = f"left out on request (--no-suez / include_suez: false); it is restricted: {SUEZ_RESTRICTION}"
    else:
        why = (f"no sailing through the Suez Canal with room for {teu} TEU within {HORIZON.days} days of "
               f"{ready_at:%Y-%m-%d} does better than the options shown; it is restricted: {SUEZ_RESTRICTION}")
    out.append((SUEZ, why))
    return out


def not_offered_json(fam: str, why: str) -> dict:
    """One `not_offered` entry: the corridor family (and route, for Suez) with the reason."""
    if fam == SUEZ:
        return {"corridor": Corridor.SEA.value, "route": "suez", "reason": why}
    return {"corridor": fam, "reason": why}


def _reaches(network: Network, fam: Corridor, origin: str, destination: str, via_suez: bool = False) -> bool:
    """Whether the family's links lead from origin to destination: as the router uses them by
    default (restricted links left out), or `via_suez` through at least one suez_restricted link."""
    nxt: dict[str, set[tuple[str, bool]]] = {}
    for link in network.directed_links():
        if fam in link.corridors and (via_suez or not link.suez_restricted):
            nxt.setdefault(link.origin, set()).add((link.destination, link.suez_restricted))
    # states: (place, whether a restricted link was used on the way)
    start = (origin, False)
    seen, todo = {start}, [start]
    while todo:
        here, used = todo.pop()
        for b, restricted in nxt.get(here, ()):
            state = (b, used or restricted)
            if b == destination and (state[1] or not via_suez):
                return True
            if state not in seen:
                seen.add(state)
                todo.append(state)
    return False


def _family_of(network: Network, deps: Sequence[Departure]) -> str:
    """The corridor family every leg's link shares (middle first when several)."""
    links = {k.id: k for k in network.links}
    common = set.intersection(*(set(links[d.link_id].corridors) for d in deps)) if deps else set()
    for fam in (Corridor.MIDDLE, Corridor.NORTHERN, Corridor.SEA):
        if fam in common:
            return fam.value
    return ""
