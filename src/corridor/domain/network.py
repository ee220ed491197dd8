"""The physical corridor: locations (with facilities) and links between them by mode."""

from __future__ import annotations

import difflib
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum
from zoneinfo import ZoneInfo

from .errors import AmbiguousPlace, UnknownPlace


class FacilityType(StrEnum):
    """DCSA facility type codes, plus the corridor's own for borders and gauge changes."""

    POTE = "POTE"  # port terminal
    RAMP = "RAMP"  # rail terminal / ramp
    INTE = "INTE"  # inland terminal, dry port
    BOCR = "BOCR"  # border crossing
    DEPO = "DEPO"  # depot
    BRTH = "BRTH"  # berth (ferry berth)
    CLOC = "CLOC"  # customer location
    WAYP = "WAYP"  # sea waypoint (Suez, Cape): pass-through only


class Mode(StrEnum):
    """Mode of a link or a departure; DCSA modeOfTransport maps onto these."""

    RAIL = "rail"
    FERRY = "ferry"        # rail ferry / Ro-Pax on the Caspian: counted in wagons
    FEEDER = "feeder"      # container feeder vessel (Caspian, Black Sea)
    DEEP_SEA = "deep_sea"  # ocean container line
    TRUCK = "truck"

    @property
    def dcsa(self) -> str:
        """DCSA modeOfTransport code."""
        return {"rail": "RAIL", "truck": "TRUCK"}.get(self.value, "VESSEL")

    @property
    def is_water(self) -> bool:
        return self in (Mode.FERRY, Mode.FEEDER, Mode.DEEP_SEA)


class Corridor(StrEnum):
    """Routing families: a route never mixes two (Xi'an-Brest-Duisburg-Istanbul is nonsense)."""

    MIDDLE = "middle"
    NORTHERN = "northern"
    SEA = "sea"


@dataclass(frozen=True, slots=True)
class Location:
    """A place on the corridor: a UN/LOCODE-coded town, terminal, border station or port."""

    id: str                        # stable corridor id, e.g. KZ_AKX
    code: str | None               # UN/LOCODE, e.g. KZAAU (None where none is confirmed)
    name: str
    country: str                   # ISO 3166 alpha-2
    timezone: str                  # IANA zone of event timestamps at this place
    lat: float
    lon: float
    kind: str                      # trade kind: seaport_ferry_terminal, border_crossing_gauge_change, ...
    facility_type: FacilityType
    gauges: tuple[int, ...] = ()
    aliases: tuple[str, ...] = ()  # other spellings, ESR/OSJD codes, SMDG codes
    min_transfer_hours: float = 0.0
    estimated: tuple[str, ...] = ()
    source: str = ""

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def ref(self) -> str:
        """The code shown to users: UN/LOCODE where there is one, else the corridor id."""
        return self.code or self.id

    @property
    def gauge_change(self) -> bool:
        return len(set(self.gauges)) > 1


@dataclass(frozen=True, slots=True)
class Link:
    """A directed way between two locations by one mode, with its typical times and capacity."""

    id: str
    origin: str                    # Location.id
    destination: str               # Location.id
    mode: Mode
    corridors: frozenset[Corridor]
    distance_km: float
    running_hours: float
    dwell_hours: float = 0.0       # waiting/handling at the origin before this link starts
    dwell_hours_range: tuple[float, float] | None = None
    frequency_per_week: float | None = None
    capacity_teu: int = 0
    capacity_wagons: int | None = None
    operator: str = ""
    transfer: str | None = None    # e.g. gauge_change_1435_1520
    status: str = "operational"
    suez_restricted: bool = False
    price_usd_per_feu: float | None = None
    estimated: tuple[str, ...] = ()
    source: str = ""

    def reversed(self, dwell_hours: float | None = None,
                 dwell_hours_range: tuple[float, float] | None = None) -> "Link":
        """The same link run the other way (for bidirectional links); a gauge change flips too.

        The dwell is the wait at the origin, which the reverse run leaves from the other end:
        `dwell_hours` (with its range) is the wait at `destination` before the reverse run
        (e.g. the Suez transit wait or none at the Cape, where the forward link's dwell is the
        handling at its port). Without it the same dwell is assumed at both ends.
        """
        if dwell_hours is None:
            dwell_hours, dwell_hours_range = self.dwell_hours, self.dwell_hours_range
        transfer = self.transfer
        if transfer and transfer.startswith("gauge_change_"):
            a, b = transfer.removeprefix("gauge_change_").split("_", 1)
            transfer = f"gauge_change_{b}_{a}"
        return Link(
            id=self.id + "R", origin=self.destination, destination=self.origin, mode=self.mode,
            corridors=self.corridors, distance_km=self.distance_km, running_hours=self.running_hours,
            dwell_hours=dwell_hours, dwell_hours_range=dwell_hours_range,
            frequency_per_week=self.frequency_per_week, capacity_teu=self.capacity_teu,
            capacity_wagons=self.capacity_wagons, operator=self.operator, transfer=transfer,
            status=self.status, suez_restricted=self.suez_restricted,
            price_usd_per_feu=self.price_usd_per_feu, estimated=self.estimated, source=self.source)


def _fold(text: str) -> str:
    """Case- and accent-insensitive form of a name: 'Constanța' == 'constanta'."""
    norm = unicodedata.normalize("NFKD", text)
    return "".join(c for c in norm if not unicodedata.combining(c)).casefold().strip()


@dataclass
class Network:
    """Locations and directed links; resolves a place given as UN/LOCODE, id, alias or name."""

    locations: dict[str, Location]
    links: list[Link]
    name: str = "corridor"
    _index: dict[str, set[str]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for loc in self.locations.values():
            keys = {loc.id, loc.code or "", loc.name, *loc.aliases}
            for k in filter(None, keys):
                self._index.setdefault(_fold(k), set()).add(loc.id)

    def location(self, loc_id: str) -> Location:
        return self.locations[loc_id]

    def resolve(self, text: str) -> Location:
        """Return the one location meant by `text`, or raise UnknownPlace/AmbiguousPlace with candidates."""
        key = _fold(text or "")
        if not key:
            raise UnknownPlace("no place given")
        ids = self._index.get(key)
        if not ids:
            # a unique prefix or word match on names ("Baku" -> several, "Poti" -> one)
            ids = {lid for k, s in self._index.items() for lid in s
                   if k.startswith(key) or key in k.replace("(", " ").replace(",", " ").split()}
        if len(ids) == 1:
            return self.locations[next(iter(ids))]
        if len(ids) > 1:
            cands = sorted(f"{self.locations[i].ref} ({self.locations[i].name})" for i in ids)
            raise AmbiguousPlace(f"{text!r} is ambiguous: " + "; ".join(cands), cands)
        near = difflib.get_close_matches(key, list(self._index), n=3, cutoff=0.7)   # 0.6 offered Alat for "Atlantis"
        cands = sorted({f"{self.locations[i].ref} ({self.locations[i].name})" for k in near for i in self._index[k]})
        hint = f"; did you mean {', '.join(cands)}?" if cands else ""
        raise UnknownPlace(f"unknown place {text!r}{hint}", cands)

    def by_code(self, code: str) -> Location | None:
        """The location with this UN/LOCODE or id, without fuzzy matching."""
        ids = self._index.get(_fold(code or ""))
        return self.locations[next(iter(ids))] if ids and len(ids) == 1 else None

    def directed_links(self, include_planned: bool = False) -> list[Link]:
        """Every link in the direction(s) it may be used (the router's input)."""
        out = []
        for link in self.links:
            if link.status != "operational" and not include_planned:
                continue
            out.append(link)
        return out
