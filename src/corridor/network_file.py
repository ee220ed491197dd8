"""The network file: load and validate it (errors name file, line and field) and expose its reference data.

The default file is `corridor/data/network.yaml` (its header documents the schema). Loading is
all-or-nothing: every record is checked first and a `NetworkFileError` names the first problem,
so a half-valid file never becomes a half-built network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from corridor.domain.errors import NetworkFileError
from corridor.domain.network import Corridor, FacilityType, Link, Location, Mode, Network

# the draft's finer mode labels map onto the core's modes
MODE_ALIASES = {"sea_ferry": "ferry", "sea_feeder": "feeder", "short_sea": "feeder", "road": "truck"}
KNOWN_GAUGES = {1000, 1067, 1435, 1520, 1524, 1668}   # mm: metre, Cape, standard, broad (CIS, FI), Iberian
STATUSES = {"operational", "planned"}
SEA_ROUTINGS = {None, "suez_restricted", "cape_default"}
FACTOR_UNITS = {"kgCO2e/t-km", "kgCO2e/TEU-km"}
NODE_REQUIRED = ("id", "name", "country", "tz", "kind", "facility_type", "lat", "lon")
LINK_REQUIRED = ("id", "from", "to", "mode", "corridors", "bidirectional", "distance_km", "typical_hours")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)   # libyaml composes ~7x faster, same marks
_GAUGE_CHANGE = re.compile(r"^gauge_change_(\d+)_(\d+)$")
_NODE_ID = re.compile(r"^[A-Z]{2}_[A-Z]+$")


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in a network file, at a line and field."""

    path: str
    line: int | None
    field: str | None
    reason: str

    def error(self) -> NetworkFileError:
        """The domain error that reports this problem."""
        return NetworkFileError(self.path, self.line, self.field, self.reason)

    def __str__(self) -> str:
        return str(self.error())


@dataclass(frozen=True, slots=True)
class NetworkInfo:
    """Dataset metadata: what was loaded, from where, and what is flagged."""

    dataset: str
    schema_version: Any
    status: str
    path: str
    locations: int
    links: int                           # records in the file
    directed_links: int                  # after bidirectional links are expanded
    countries: tuple[str, ...]
    planned_locations: tuple[str, ...]   # loaded but not part of the operational network
    planned_links: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LinkService:
    """What runs on a link: the named service and vessels, where a source names them."""

    link_id: str
    service_code: str | None
    service_source: str | None
    vessels: tuple[str, ...]
    fleet: tuple[tuple[str, int], ...]   # (operator party id, vessel count)
    vessels_source: str | None


@dataclass(frozen=True, slots=True)
class ReportedFigure:
    """A public transit-time figure and the sub-path it is counted over."""

    days: tuple[float, float]
    counted_from: str
    counted_to: str
    model_days: float | None
    source: str

    @property
    def on_graph(self) -> bool:
        """True when both ends are node ids, so the figure maps onto a sub-path."""
        return bool(_NODE_ID.match(self.counted_from) and _NODE_ID.match(self.counted_to))


@dataclass(frozen=True, slots=True)
class ReferenceRoute:
    """A calibration route: its nodes and links and the public figures it is compared with."""

    id: str
    name: str
    nodes: tuple[str, ...]
    links: tuple[str, ...]
    model_days: float | None
    model_km: float | None
    reported: tuple[ReportedFigure, ...]
    notes: str = ""

    def sub_path(self, from_node: str, to_node: str) -> tuple[str, ...]:
        """The link ids between two of the route's nodes (links[i] joins nodes[i] and nodes[i+1])."""
        i, j = self.nodes.index(from_node), self.nodes.index(to_node)
        return self.links[i:j]


def typical_days(network: Network, link_ids: tuple[str, ...] | list[str]) -> float:
    """Days of typical running + dwell over the given links (no stochastic delays)."""
    by_id = {link.id: link for link in network.links}
    return sum(by_id[i].running_hours + by_id[i].dwell_hours for i in link_ids) / 24.0


# ------------------------------------------------------------------ public entry points

def default_path() -> Path:
    """Path of the packaged default network file."""
    return Path(str(resources.files("corridor") / "data" / "network.yaml"))


def load_network(path: str | Path | None = None) -> Network:
    """The Network in the file (default: the packaged one); raises NetworkFileError on the first problem."""
    loaded = _load(path)
    return Network(locations=dict(loaded.locations), links=list(loaded.links), name=loaded.info.dataset)


def validate_network_file(path: str | Path | None = None) -> list[Problem]:
    """Every problem in the file (empty when it loads)."""
    return _parse(_resolve(path))[1]


def network_info(path: str | Path | None = None) -> NetworkInfo:
    """Metadata of the dataset in the file."""
    return _load(path).info


def link_services(path: str | Path | None = None) -> dict[str, LinkService]:
    """Named services and vessels per link id (file records; reverse links share them)."""
    return dict(_load(path).services)


def emission_factors(network_path: str | Path | None = None) -> dict:
    """The file's `emission_factors` block: `by_mode` (WTW factor per Mode value), `factors`, conversions."""
    return _deep_copy(_load(network_path).emissions)


def reference_routes(path: str | Path | None = None) -> list[ReferenceRoute]:
    """The reference routes with their reported public figures (for calibration reports)."""
    return list(_load(path).routes)


def pricing(path: str | Path | None = None) -> dict:
    """The file's `pricing` block: benchmarks, per-TEU rule and the calibration note."""
    return _deep_copy(_load(path).pricing)


# ------------------------------------------------------------------ loading and caching

@dataclass(frozen=True)
class _Loaded:
    locations: dict[str, Location]
    links: tuple[Link, ...]
    info: NetworkInfo
    services: dict[str, LinkService]
    routes: tuple[ReferenceRoute, ...]
    emissions: dict
    pricing: dict


_cache: dict[tuple[str, int, int], _Loaded] = {}


def _resolve(path: str | Path | None) -> Path:
    return Path(path) if path is not None else default_path()


def _load(path: str | Path | None) -> _Loaded:
    p = _resolve(path)
    try:
        st = p.stat()
    except OSError as exc:
        raise NetworkFileError(str(p), None, None, f"cannot read the network file: {exc.strerror}") from exc
    key = (str(p.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _cache:
        loaded, problems = _parse(p)
        if problems:
            first = problems[0]
            more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
            raise NetworkFileError(first.path, first.line, first.field, first.reason + more)
        _cache.clear()   # one file in use at a time is the norm; keep memory flat
        _cache[key] = loaded
    return _cache[key]


def _deep_copy(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _deep_copy(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_deep_copy(v) for v in obj]
    return obj


# ------------------------------------------------------------------ parsing with line numbers

class _Checker:
    """Collects problems for one file."""

    def __init__(self, path: str):
        self.path = path
        self.problems: list[Problem] = []

    def add(self, line: int | None, field: str | None, reason: str) -> None:
        self.problems.append(Problem(self.path, line, field, reason))


@dataclass
class _Rec:
    """A mapping record with the line of the record and of each of its fields."""

    data: dict
    line: int
    field_lines: dict[str, int]

    def at(self, field: str) -> int:
        return self.field_lines.get(field, self.line)


def _records(root: yaml.MappingNode, data: dict, key: str) -> list[_Rec]:
    seq = next((v for k, v in root.value if k.value == key), None)
    items = data.get(key)
    if not isinstance(seq, yaml.SequenceNode) or not isinstance(items, list):
        return []
    out = []
    for node, item in zip(seq.value, items):
        lines = {k.value: v.start_mark.line + 1 for k, v in node.value} if isinstance(node, yaml.MappingNode) else {}
        out.append(_Rec(item if isinstance(item, dict) else {}, node.start_mark.line + 1, lines))
    return out


def _duplicate_keys(node: yaml.Node, chk: _Checker) -> None:
    """PyYAML keeps the last of two equal keys silently; a network file must not."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode):
                if k.value in seen:
                    chk.add(k.start_mark.line + 1, k.value, f"key {k.value!r} appears twice in the same record")
                seen.add(k.value)
            _duplicate_keys(v, chk)
    elif isinstance(node, yaml.SequenceNode):
        for v in node.value:
            _duplicate_keys(v, chk)


def _parse(p: Path) -> tuple[_Loaded | None, list[Problem]]:
    chk = _Checker(str(p))
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        chk.add(None, None, f"cannot read the network file: {exc.strerror}")
        return None, chk.problems
    except UnicodeDecodeError as exc:
        chk.add(None, None, f"not UTF-8 text ({exc.reason})")
        return None, chk.problems
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        chk.add(mark.line + 1 if mark else None, None, f"not valid YAML: {getattr(exc, 'problem', exc)}")
        return None, chk.problems
    finally:
        loader.dispose()
    if not isinstance(root, yaml.MappingNode) or not isinstance(data, dict):
        chk.add(1, None, "the file must be a mapping with `nodes` and `links`")
        return None, chk.problems
    _duplicate_keys(root, chk)
    top_lines = {k.value: k.start_mark.line + 1 for k, _ in root.value}
    for key in ("nodes", "links"):
        if not isinstance(data.get(key), list) or not data[key]:
            chk.add(top_lines.get(key, 1), key, f"`{key}` must be a non-empty list")
    if chk.problems:
        return None, chk.problems

    node_recs = _records(root, data, "nodes")
    locations = _check_nodes(node_recs, chk)
    gauges = {r.data.get("id"): set(r.data.get("gauge") or []) for r in node_recs}
    link_recs = _records(root, data, "links")
    links, services = _check_links(link_recs, locations, gauges, chk)
    link_ids = {r.data.get("id") for r in link_recs}
    routes = _check_routes(_records(root, data, "routes"), link_ids, links, chk)
    emissions = data.get("emission_factors") or {}
    _check_emissions(emissions, top_lines.get("emission_factors", 1), chk)
    if chk.problems:
        return None, chk.problems

    directed: list[Link] = []
    for rec, link in links:
        directed.append(link)
        if rec.data["bidirectional"]:
            directed.append(_reverse(link, rec.data))
    info = NetworkInfo(
        dataset=str(data.get("dataset", p.stem)), schema_version=data.get("schema_version"),
        status=str(data.get("status", "")), path=str(p), locations=len(locations), links=len(links),
        directed_links=len(directed), countries=tuple(sorted({loc.country for loc in locations.values()})),
        planned_locations=tuple(r.data["id"] for r in node_recs if r.data.get("status") == "planned"),
        planned_links=tuple(link.id for _, link in links if link.status == "planned"))
    loaded = _Loaded(locations, tuple(directed), info, services, tuple(routes), emissions,
                     data.get("pricing") or {})
    return loaded, []


def _reverse(link: Link, d: dict) -> Link:
    """The reverse run; a gauge change is crossed the other way round, and the dwell is the one at
    the place it leaves: `reverse_dwell_hours` (and its range) where the record gives it."""
    rev_dwell = d.get("reverse_dwell_hours")
    rng = d.get("reverse_dwell_hours_range")
    rev = link.reversed(None if rev_dwell is None else float(rev_dwell),
                        (float(rng[0]), float(rng[1])) if rng else None)
    m = _GAUGE_CHANGE.match(link.transfer or "")
    return replace(rev, transfer=f"gauge_change_{m.group(2)}_{m.group(1)}") if m else rev


# ------------------------------------------------------------------ record checks

def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _missing(rec: _Rec, required: tuple[str, ...], what: str, chk: _Checker) -> bool:
    missing = [f for f in required if rec.data.get(f) is None]
    for f in missing:
        chk.add(rec.line, f, f"{what} {rec.data.get('id', '(no id)')} lacks the required field `{f}`")
    return bool(missing)


def _check_estimated(rec: _Rec, chk: _Checker) -> None:
    est = rec.data.get("estimated") or []
    if not isinstance(est, list):
        chk.add(rec.at("estimated"), "estimated", "`estimated` must be a list of field names")
        return
    for name in est:
        if name not in rec.data:
            chk.add(rec.at("estimated"), "estimated",
                    f"{rec.data.get('id')}: `estimated` names {name!r}, which the record does not have")


def _check_nodes(recs: list[_Rec], chk: _Checker) -> dict[str, Location]:
    out: dict[str, Location] = {}
    for rec in recs:
        d = rec.data
        if _missing(rec, NODE_REQUIRED, "node", chk):
            continue
        nid, bad = str(d["id"]), False
        if nid in out:
            chk.add(rec.at("id"), "id", f"duplicate node id {nid!r}")
            continue
        try:
            ZoneInfo(str(d["tz"]))
        except (ZoneInfoNotFoundError, ValueError):
            chk.add(rec.at("tz"), "tz", f"{nid}: {d['tz']!r} is not an IANA time zone (e.g. Asia/Almaty)")
            bad = True
        for f, lim in (("lat", 90), ("lon", 180)):
            if not _is_num(d[f]) or not -lim <= d[f] <= lim:
                chk.add(rec.at(f), f, f"{nid}: {f} {d[f]!r} is not a number in -{lim}..{lim}")
                bad = True
        if not re.fullmatch(r"[A-Z]{2}", str(d["country"])):
            chk.add(rec.at("country"), "country", f"{nid}: country {d['country']!r} is not ISO 3166 alpha-2")
            bad = True
        if d["facility_type"] not in FacilityType.__members__:
            chk.add(rec.at("facility_type"), "facility_type",
                    f"{nid}: facility_type {d['facility_type']!r} is not one of {', '.join(FacilityType)}")
            bad = True
        gauge = d.get("gauge") or []
        if not isinstance(gauge, list) or any(g not in KNOWN_GAUGES for g in gauge):
            chk.add(rec.at("gauge"), "gauge",
                    f"{nid}: gauge {gauge!r} must list track gauges in mm from {sorted(KNOWN_GAUGES)}")
            bad = True
        if d.get("status", "operational") not in STATUSES:
            chk.add(rec.at("status"), "status", f"{nid}: status {d['status']!r} is not one of {sorted(STATUSES)}")
            bad = True
        mt = d.get("min_transfer_hours", 0)
        if not _is_num(mt) or mt < 0:
            chk.add(rec.at("min_transfer_hours"), "min_transfer_hours", f"{nid}: must be a number >= 0")
            bad = True
        _check_estimated(rec, chk)
        if bad:
            continue
        out[nid] = Location(
            id=nid, code=d.get("code"), name=str(d["name"]), country=str(d["country"]), timezone=str(d["tz"]),
            lat=float(d["lat"]), lon=float(d["lon"]), kind=str(d["kind"]),
            facility_type=FacilityType(d["facility_type"]), gauges=tuple(int(g) for g in gauge),
            aliases=tuple(str(a) for a in d.get("aliases") or []), min_transfer_hours=float(mt),
            estimated=tuple(d.get("estimated") or []), source=str(d.get("source") or ""))
    return out


def _check_links(recs: list[_Rec], locations: dict[str, Location], gauges: dict[Any, set],
                 chk: _Checker) -> tuple[list[tuple[_Rec, Link]], dict[str, LinkService]]:
    out: list[tuple[_Rec, Link]] = []
    services: dict[str, LinkService] = {}
    ids: set[str] = set()
    all_ids = {str(r.data.get("id")) for r in recs}
    modes = {m.value for m in Mode}
    for rec in recs:
        d = rec.data
        if _missing(rec, LINK_REQUIRED, "link", chk):
            continue
        lid, bad = str(d["id"]), False
        if lid in ids:
            chk.add(rec.at("id"), "id", f"duplicate link id {lid!r}")
            continue
        ids.add(lid)
        for f in ("from", "to"):
            if d[f] not in gauges:
                chk.add(rec.at(f), f, f"link {lid}: unknown node {d[f]!r} (not in `nodes`)")
                bad = True
        mode = MODE_ALIASES.get(d["mode"], d["mode"])
        if mode not in modes:
            chk.add(rec.at("mode"), "mode", f"link {lid}: unknown mode {d['mode']!r}; use one of {', '.join(sorted(modes))}")
            bad = True
        corridors = d["corridors"] if isinstance(d["corridors"], list) else []
        if not corridors or any(c not in Corridor._value2member_map_ for c in corridors):
            chk.add(rec.at("corridors"), "corridors",
                    f"link {lid}: corridors {d['corridors']!r} must be a non-empty list of {', '.join(Corridor)}")
            bad = True
        if not isinstance(d["bidirectional"], bool):
            chk.add(rec.at("bidirectional"), "bidirectional", f"link {lid}: bidirectional must be true or false")
            bad = True
        for f in ("distance_km", "typical_hours", "dwell_hours", "reverse_dwell_hours", "frequency_per_week",
                  "capacity_teu", "capacity_wagons", "price_usd_per_feu"):
            v = d.get(f)
            if v is not None and (not _is_num(v) or v < 0):
                chk.add(rec.at(f), f, f"link {lid}: {f} {v!r} must be a number >= 0")
                bad = True
        for f in ("dwell_hours_range", "reverse_dwell_hours_range"):
            r = d.get(f)
            if r is not None and not (isinstance(r, list) and len(r) == 2 and all(_is_num(x) for x in r)
                                      and 0 <= r[0] <= r[1]):
                chk.add(rec.at(f), f, f"link {lid}: {f} must be [low, high] with 0 <= low <= high")
                bad = True
        for f in ("reverse_dwell_hours", "reverse_dwell_hours_range"):
            if d.get(f) is not None and d["bidirectional"] is not True:
                chk.add(rec.at(f), f, f"link {lid}: {f} needs bidirectional: true (it is the dwell before the reverse run)")
                bad = True
        if d.get("reverse_dwell_hours_range") is not None and d.get("reverse_dwell_hours") is None:
            chk.add(rec.at("reverse_dwell_hours_range"), "reverse_dwell_hours_range",
                    f"link {lid}: reverse_dwell_hours_range needs reverse_dwell_hours")
            bad = True
        rng = d.get("dwell_hours_range")
        status = d.get("status", "operational")
        if status not in STATUSES:
            chk.add(rec.at("status"), "status", f"link {lid}: status {status!r} is not one of {sorted(STATUSES)}")
            bad = True
        if d.get("capacity_teu") is None and status != "planned":
            chk.add(rec.at("capacity_teu"), "capacity_teu", f"link {lid}: an operational link needs capacity_teu")
            bad = True
        if d.get("sea_routing") not in SEA_ROUTINGS:
            chk.add(rec.at("sea_routing"), "sea_routing", f"link {lid}: sea_routing must be suez_restricted or cape_default")
            bad = True
        bad |= _check_ferry_capacity(rec, lid, chk)
        if not bad:
            bad |= _check_gauge(rec, lid, mode, gauges, chk)
        _check_estimated(rec, chk)
        if bad:
            continue
        rev_id = lid + "R"
        if d["bidirectional"] and rev_id in all_ids:
            chk.add(rec.at("id"), "id", f"link {lid}: its reverse id {rev_id!r} is already used by another link")
            continue
        rng_t = (float(rng[0]), float(rng[1])) if rng else None
        link = Link(
            id=lid, origin=str(d["from"]), destination=str(d["to"]), mode=Mode(mode),
            corridors=frozenset(Corridor(c) for c in corridors), distance_km=float(d["distance_km"]),
            running_hours=float(d["typical_hours"]), dwell_hours=float(d.get("dwell_hours") or 0.0),
            dwell_hours_range=rng_t, frequency_per_week=d.get("frequency_per_week"),
            capacity_teu=int(d.get("capacity_teu") or 0), capacity_wagons=d.get("capacity_wagons"),
            operator=str(d.get("operator") or ""), transfer=d.get("transfer"), status=status,
            suez_restricted=d.get("sea_routing") == "suez_restricted",
            price_usd_per_feu=d.get("price_usd_per_feu"), estimated=tuple(d.get("estimated") or []),
            source=str(d.get("source") or ""))
        out.append((rec, link))
        services[lid] = LinkService(
            link_id=lid, service_code=d.get("service_code"), service_source=d.get("service_source"),
            vessels=tuple(str(v) for v in d.get("vessels") or []),
            fleet=tuple((str(f["operator"]), int(f["count"])) for f in d.get("fleet") or []),
            vessels_source=d.get("vessels_source"))
    return out, services


def _check_ferry_capacity(rec: _Rec, lid: str, chk: _Checker) -> bool:
    """Ferries count wagons: capacity_teu must equal wagons x TEU per wagon x container share."""
    d = rec.data
    parts = [d.get(f) for f in ("capacity_wagons", "teu_per_wagon", "container_slot_share")]
    if parts[0] is None:
        return False
    if not all(_is_num(x) for x in parts):
        chk.add(rec.at("capacity_wagons"), "capacity_wagons",
                f"link {lid}: capacity_wagons needs teu_per_wagon and container_slot_share")
        return True
    expect = round(parts[0] * parts[1] * parts[2])
    if d.get("capacity_teu") != expect:
        chk.add(rec.at("capacity_teu"), "capacity_teu",
                f"link {lid}: capacity_teu {d.get('capacity_teu')} != capacity_wagons x teu_per_wagon x "
                f"container_slot_share = {expect}")
        return True
    return False


def _check_gauge(rec: _Rec, lid: str, mode: str, gauges: dict[Any, set], chk: _Checker) -> bool:
    """A rail link runs on a gauge both ends have, unless it is a stated gauge change."""
    d = rec.data
    a, b = gauges[d["from"]], gauges[d["to"]]
    transfer = d.get("transfer")
    m = _GAUGE_CHANGE.match(transfer or "")
    if transfer and not m and transfer != "border":
        chk.add(rec.at("transfer"), "transfer", f"link {lid}: transfer {transfer!r} must be border or gauge_change_<mm>_<mm>")
        return True
    if m:
        g1, g2 = int(m.group(1)), int(m.group(2))
        if g1 not in KNOWN_GAUGES or g2 not in KNOWN_GAUGES or g1 == g2:
            chk.add(rec.at("transfer"), "transfer", f"link {lid}: {transfer!r} does not name two different known gauges")
            return True
        if (a and g1 not in a) or (b and g2 not in b):
            chk.add(rec.at("transfer"), "transfer",
                    f"link {lid}: {transfer} needs {g1} mm at {d['from']} (has {sorted(a)}) and {g2} mm at {d['to']} (has {sorted(b)})")
            return True
    elif mode == "rail" and a and b and not a & b:
        chk.add(rec.at("transfer"), "transfer",
                f"link {lid}: {d['from']} {sorted(a)} and {d['to']} {sorted(b)} share no gauge; "
                f"state the break of gauge as transfer: gauge_change_<mm>_<mm>")
        return True
    return False


def _check_routes(recs: list[_Rec], link_ids: set, links: list[tuple[_Rec, Link]],
                  chk: _Checker) -> list[ReferenceRoute]:
    by_id = {link.id: (rec, link) for rec, link in links}
    out = []
    for rec in recs:
        d = rec.data
        rid = d.get("id", "(no id)")
        nodes, lids = list(d.get("nodes") or []), list(d.get("links") or [])
        bad = False
        for lid in lids:
            if lid not in link_ids:
                chk.add(rec.at("links"), "links", f"route {rid}: unknown link {lid!r}")
            bad |= lid not in by_id   # a link with its own problem is reported once, at the link
        if not bad and len(nodes) != len(lids) + 1:
            chk.add(rec.at("nodes"), "nodes", f"route {rid}: {len(nodes)} nodes do not fit {len(lids)} links")
            bad = True
        if not bad:
            for i, lid in enumerate(lids):
                lrec, link = by_id[lid]
                fwd = (link.origin, link.destination) == (nodes[i], nodes[i + 1])
                back = lrec.data["bidirectional"] and (link.destination, link.origin) == (nodes[i], nodes[i + 1])
                if not (fwd or back):
                    chk.add(rec.at("links"), "links", f"route {rid}: link {lid} does not join {nodes[i]} -> {nodes[i + 1]}")
                    bad = True
        reported = []
        for r in d.get("reported") or []:
            days = r.get("days") or [None, None]
            fig = ReportedFigure(days=(days[0], days[1]), counted_from=str(r.get("counted_from", "")),
                                 counted_to=str(r.get("counted_to", "")), model_days=r.get("model_days"),
                                 source=str(r.get("source", "")))
            if fig.on_graph and not {fig.counted_from, fig.counted_to} <= set(nodes):
                chk.add(rec.at("reported"), "reported", f"route {rid}: counted_from/counted_to must be nodes of the route")
                bad = True
            reported.append(fig)
        if not bad:
            out.append(ReferenceRoute(id=str(rid), name=str(d.get("name", "")), nodes=tuple(nodes), links=tuple(lids),
                                      model_days=d.get("draft_model_days"), model_km=d.get("draft_model_km"),
                                      reported=tuple(reported), notes=str(d.get("notes") or "")))
    return out


def _check_emissions(block: dict, line: int, chk: _Checker) -> None:
    """Every mode the router needs has a WTW factor that is either sourced or a labelled estimate."""
    by_mode = block.get("by_mode") if isinstance(block, dict) else None
    if not isinstance(by_mode, dict):
        chk.add(line, "emission_factors.by_mode", "emission_factors needs a `by_mode` mapping (one factor per mode)")
        return
    for mode in Mode:
        f = by_mode.get(mode.value)
        where = f"emission_factors.by_mode.{mode.value}"
        if not isinstance(f, dict):
            chk.add(line, where, f"no emission factor for mode {mode.value}")
        elif not _is_num(f.get("value_wtw")) or f["value_wtw"] <= 0 or f.get("unit") not in FACTOR_UNITS:
            chk.add(line, where, f"needs value_wtw > 0 and unit in {sorted(FACTOR_UNITS)}")
        elif not f.get("basis") or "estimated" not in f:
            chk.add(line, where, "needs `estimated: true|false` and a `basis` saying where the value comes from")
