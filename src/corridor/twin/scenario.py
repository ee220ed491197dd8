"""What-if parameters of the twin: a scenario YAML merged over the packaged default, checked whole.

Every knob is checked before the model sees it (unknown keys, types, ranges, place ids against the
network, list lengths): a `ScenarioError` lists every problem at once, each with the file, its line
and the key, the way `corridor network validate` names a bad network file.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

SCENARIOS = Path(__file__).resolve().parents[1] / "data" / "scenarios"
DEFAULT = SCENARIOS / "default.yaml"

# A share map given in a scenario is the whole distribution: it replaces the default's map instead of
# being merged key by key (`destinations: {GE_PTI: 1.0}` means every box goes to Poti).
REPLACED = frozenset({"destinations", "storm_share"})
# the Kazakh ports the model's vessels load at (model.Twin.queues)
FERRY_PORTS = ("KZ_AKX", "KZ_KUR")
VESSEL_KINDS = ("feeder", "ferry")
FLEET_KEYS = ("port", "operator", "kind", "count", "capacity_teu")
ORIGIN_KEYS = ("trains_per_month", "border")
SHARE_TOLERANCE = 0.01        # 0.33 + 0.33 + 0.34 is a whole; 0.4 typed for 0.04 is not


@dataclass
class Scenario:
    """One set of twin parameters (see data/scenarios/default.yaml for every knob and its source)."""

    name: str
    params: dict = field(default_factory=dict)

    def __getitem__(self, key: str):
        return self.params[key]

    def get(self, key: str, default=None):
        return self.params.get(key, default)

    @property
    def start(self) -> date:
        return date.fromisoformat(str(self.params["start"]))

    def trains_per_year(self) -> float:
        """Block trains a year from all origins together."""
        return sum(o["trains_per_month"] for o in self.params["origins"].values()) * 12


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in a scenario: the file (or "overrides"), its line when known, the key."""

    source: str
    line: int | None
    key: str | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where} [{self.key}]: {self.reason}" if self.key else f"{where}: {self.reason}"

    def brief(self) -> str:
        """The problem without its file (the error's head names it)."""
        parts = (f"line {self.line}" if self.line else "", f"[{self.key}]" if self.key else "")
        where = " ".join(x for x in parts if x)
        return f"{where}: {self.reason}" if where else self.reason


class ScenarioError(ValueError):
    """A scenario that cannot be run; `problems` holds every problem found, not just the first."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source, self.problems = source, problems
        head = f"{source}: invalid scenario" + (f" ({len(problems)} problems)" if len(problems) > 1 else "")
        super().__init__(f"{head}: " + "; ".join(p.brief() for p in problems))


class _Loader(yaml.SafeLoader):
    """Safe YAML where a date stays the text it was written as: `start: 2025-13-01` is then a bad
    date named by its key, not a ValueError out of the YAML reader."""


_Loader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node))


def _key_lines(node, path=(), out=None, dupes=None) -> tuple[dict, list]:
    """Line (1-based) of every key path in a composed YAML document, and keys given twice."""
    out = {} if out is None else out
    dupes = [] if dupes is None else dupes
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for k, v in node.value:
            p = path + (str(k.value),)
            if p in seen:
                dupes.append((p, k.start_mark.line + 1))
            seen.add(p)
            out[p] = k.start_mark.line + 1
            _key_lines(v, p, out, dupes)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            p = path + (i,)
            out[p] = v.start_mark.line + 1
            _key_lines(v, p, out, dupes)
    return out, dupes


def _dotted(path: tuple) -> str:
    s = ""
    for p in path:
        s += f"[{p}]" if isinstance(p, int) else (f".{p}" if s else str(p))
    return s


def _merge(base: dict, over: dict) -> dict:
    """`over` merged over `base`; nested maps key by key, except the share maps (REPLACED) and
    lists, which a scenario gives whole."""
    out = dict(base)
    for k, v in over.items():
        nested = isinstance(v, dict) and isinstance(base.get(k), dict) and k not in REPLACED
        out[k] = _merge(base[k], v) if nested else v
    return out


class _Checker:
    """Collects problems; `lines` maps key paths of the scenario file to their lines."""

    def __init__(self, source: str, lines: dict, given: set):
        self.source, self.lines, self.given = source, lines, given
        self.problems: list[Problem] = []

    def add(self, path: tuple, reason: str) -> None:
        line = None
        for n in range(len(path), 0, -1):          # the key's own line, else its nearest parent's
            if path[:n] in self.lines:
                line = self.lines[path[:n]]
                break
        if path and path[0] not in self.given:     # a default value made wrong by another knob
            reason += " (the default's value)"
        self.problems.append(Problem(self.source, line, _dotted(path) or None, reason))

    def number(self, path, v, lo=None, hi=None, *, whole=False, above=None) -> float | None:
        """`v` when it is a number inside [lo, hi] (and > above); else a problem and None."""
        kind = "a whole number" if whole else "a number"
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not math.isfinite(v)):
            self.add(path, f"must be {kind}, not {v!r}")
            return None
        if whole and v != int(v):
            self.add(path, f"must be {kind}, not {v!r}")
            return None
        if (lo is not None and v < lo) or (hi is not None and v > hi) or (above is not None and v <= above):
            rng = (f"more than {above:g}" if above is not None else f"at least {lo:g}" if lo is not None else "")
            rng += (" and " if rng and hi is not None else "") + (f"at most {hi:g}" if hi is not None else "")
            self.add(path, f"{v!r} is out of range: must be {rng}")
            return None
        return v

    def mapping(self, path, v, allowed: tuple | None = None, required: tuple = ()) -> dict | None:
        if not isinstance(v, dict):
            self.add(path, f"must be a mapping, not {type(v).__name__} {v!r}")
            return None
        if allowed is not None:
            for k in v:
                if k not in allowed:
                    self.add(path + (str(k),), f"unknown key {k!r}: use {', '.join(allowed)}")
        for k in required:
            if k not in v:
                self.add(path, f"missing {k!r}")
        return v

    def numbers(self, path, v, n: int, names: str, lo=0.0, hi=None, whole=False) -> list | None:
        """A list of exactly `n` numbers in [lo, hi], in ascending order (low <= mode <= high)."""
        if not isinstance(v, list) or len(v) != n:
            got = f"{len(v)} value(s)" if isinstance(v, list) else repr(v)
            self.add(path, f"must be a list of {n} numbers [{names}], not {got}")
            return None
        vals = [self.number(path + (i,), x, lo, hi, whole=whole) for i, x in enumerate(v)]
        if any(x is None for x in vals):
            return None
        if vals != sorted(vals):
            self.add(path, f"{v} is not in order: must be [{names}] with each at most the next")
            return None
        return vals

    def share(self, path, v) -> float | None:
        return self.number(path, v, 0, 1)


def _check(params: dict, given: set, source: str, lines: dict, allowed: set) -> list[Problem]:
    """Every problem of a merged scenario (`given`: the top-level keys the file or overrides set)."""
    from corridor.access.demo import DEMO_PARTIES
    from corridor.domain.parties import Role
    from corridor.network_file import load_network

    from .model import CN_BORDER, PICKED_UP_FROM
    c = _Checker(source, lines, given)
    net = load_network()
    links = {(k.origin, k.destination) for k in net.links}
    for k in params:
        if k not in allowed:
            near = difflib.get_close_matches(str(k), sorted(allowed), n=1)
            c.add((k,), f"unknown key {k!r}: " + (f"did you mean {near[0]!r}?" if near else
                                                   "not a knob of default.yaml"))

    if not isinstance(params.get("name"), str) or not params["name"].strip():
        c.add(("name",), f"must be a non-empty text, not {params.get('name')!r}")
    start = params.get("start")
    if not isinstance(start, date):
        try:
            date.fromisoformat(str(start))
        except ValueError as e:
            c.add(("start",), f"{start!r} is not a date (YYYY-MM-DD): {e}")

    origins = c.mapping(("origins",), params.get("origins"))
    if origins is not None:
        if not origins:
            c.add(("origins",), "no origin: give at least one with trains_per_month and border")
        for o, spec in origins.items():
            p = ("origins", str(o))
            if o not in net.locations:
                c.add(p, f"unknown place {o!r}: not in the network")
            if c.mapping(p, spec, ORIGIN_KEYS, ORIGIN_KEYS) is None:
                continue
            if "trains_per_month" in spec:
                c.number(p + ("trains_per_month",), spec["trains_per_month"], 0, 720)   # 720: one an hour
            b = spec.get("border")
            if "border" in spec and b not in CN_BORDER:
                c.add(p + ("border",), f"{b!r} is not a Kazakh border crossing of the model: use "
                      f"{' or '.join(CN_BORDER)}")
            elif b in CN_BORDER and o in net.locations and (o, CN_BORDER[b]) not in links:
                ok = [x for x, cn in CN_BORDER.items() if (o, cn) in links]
                c.add(p + ("border",), f"no rail link from {o} to {CN_BORDER[b]} (the Chinese side of {b})"
                      + (f": use {' or '.join(ok)}" if ok else ""))

    dests = c.mapping(("destinations",), params.get("destinations"))
    if dests is not None:
        if not dests:
            c.add(("destinations",), "no destination: give shares that add up to 1")
        total, ok = 0.0, True
        for d, s in dests.items():
            p = ("destinations", str(d))
            if d not in PICKED_UP_FROM or d not in net.locations:
                where = "not in the network" if d not in net.locations else "not served by the onward trains"
                c.add(p, f"unknown destination {d!r}: {where}; use {', '.join(PICKED_UP_FROM)}")
            v = c.share(p, s)
            ok = ok and v is not None
            total += v or 0.0
        if dests and ok and abs(total - 1) > SHARE_TOLERANCE:
            c.add(("destinations",), f"shares add up to {total:g}, not 1")

    c.numbers(("wagons_per_train",), params.get("wagons_per_train"), 2, "fewest, most", 5, 120, whole=True)
    for k in ("twin_twenty_share", "kuryk_share", "trackers_share"):
        c.share((k,), params.get(k))
    c.number(("container_pool",), params.get("container_pool"), 0, whole=True)
    c.numbers(("turnaround_days",), params.get("turnaround_days"), 2, "fewest, most")
    c.numbers(("border_hours",), params.get("border_hours"), 3, "low, mode, high")
    c.numbers(("akhalkalaki_hours",), params.get("akhalkalaki_hours"), 3, "low, mode, high")
    c.numbers(("crossing_hours",), params.get("crossing_hours"), 3, "low, mode, high")

    fleet = params.get("fleet")
    vessels = {p: 0 for p in FERRY_PORTS}
    operators = sorted(p.id for p in DEMO_PARTIES if Role.FERRY_OPERATOR in p.roles)
    if not isinstance(fleet, list) or not fleet:
        c.add(("fleet",), f"must be a list of at least one vessel line ({', '.join(FLEET_KEYS)}), not {fleet!r}")
    else:
        before = len(c.problems)
        for i, spec in enumerate(fleet):
            p = ("fleet", i)
            if c.mapping(p, spec, FLEET_KEYS, FLEET_KEYS) is None:
                continue
            port = spec.get("port")
            if "port" in spec and port not in FERRY_PORTS:
                c.add(p + ("port",), f"{port!r} is not a Caspian port the model's vessels load at: "
                      f"use {' or '.join(FERRY_PORTS)}")
            if "operator" in spec and spec["operator"] not in operators:
                c.add(p + ("operator",), f"{spec['operator']!r} is not a Caspian ferry operator: use "
                      f"{' or '.join(operators)}")
            if "kind" in spec and spec["kind"] not in VESSEL_KINDS:
                c.add(p + ("kind",), f"{spec['kind']!r}: use {' or '.join(VESSEL_KINDS)}")
            n = c.number(p + ("count",), spec.get("count"), 0, 50, whole=True) if "count" in spec else None
            # a 40' box is 2 TEU: a vessel of 1 TEU could never load one
            if "capacity_teu" in spec:
                c.number(p + ("capacity_teu",), spec["capacity_teu"], 2, 2000, whole=True)
            if n and port in vessels:
                vessels[port] += int(n)
        kuryk = params.get("kuryk_share")
        if len(c.problems) == before and isinstance(kuryk, (int, float)) and not isinstance(kuryk, bool) \
                and 0 <= kuryk <= 1:
            # trains sent to a port no vessel loads at would leave their boxes on the quay for ever
            for port, sent in (("KZ_KUR", kuryk > 0), ("KZ_AKX", kuryk < 1)):
                if sent and not vessels[port]:
                    c.add(("fleet",), f"no vessel at {port}, but kuryk_share {kuryk:g} sends trains there")

    c.number(("sail_fill",), params.get("sail_fill"), 0, 1, above=0)
    c.number(("max_wait_hours",), params.get("max_wait_hours"), 0)
    c.number(("load_hours_per_100_teu",), params.get("load_hours_per_100_teu"), 0)
    c.number(("alat_berths",), params.get("alat_berths"), 1, 50, whole=True)
    h = c.mapping(("alat_handling_hours",), params.get("alat_handling_hours"), ("low", "mode", "high"),
                  ("low", "mode", "high"))
    if h is not None and all(k in h for k in ("low", "mode", "high")):
        c.numbers(("alat_handling_hours",), [h["low"], h["mode"], h["high"]], 3, "low, mode, high")

    storms = c.mapping(("storm_share",), params.get("storm_share"))
    if storms is not None:
        months = set()
        for m, s in storms.items():
            p = ("storm_share", str(m))
            month = m if isinstance(m, int) and not isinstance(m, bool) else \
                int(m) if isinstance(m, str) and m.strip().isdigit() else None
            if month is None or not 1 <= month <= 12:
                c.add(p, f"{m!r} is not a month: use 1 to 12")
            else:
                months.add(month)
            c.share(p, s)
        # a month map replaces the default's whole: a month left out would have no weather at all
        missing = sorted(set(range(1, 13)) - months)
        if missing:
            c.add(("storm_share",), f"months {', '.join(map(str, missing))} missing: give all 12 months "
                  "(storm_scale scales the default's)")
    c.number(("storm_spell_days",), params.get("storm_spell_days"), 0, 60, above=0)
    c.number(("storm_scale",), params.get("storm_scale"), 0, 20)
    c.number(("onward_departure_hour",), params.get("onward_departure_hour"), 0, 23, whole=True)
    c.number(("onward_capacity_feu",), params.get("onward_capacity_feu"), 1, 500, whole=True)
    delay = c.mapping(("rail_delay",), params.get("rail_delay"), ("probability", "hours"), ("probability", "hours"))
    if delay is not None:
        if "probability" in delay:
            c.share(("rail_delay", "probability"), delay["probability"])
        if "hours" in delay:
            c.numbers(("rail_delay", "hours"), delay["hours"], 2, "fewest, most")
    return sorted(c.problems, key=lambda p: p.line or 0)


def _read(path: Path, source: str) -> tuple[dict, dict]:
    """A scenario file's mapping and the lines of its keys; ScenarioError when it is no mapping."""
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text, Loader=_Loader)
        doc = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise ScenarioError(source, [Problem(source, mark.line + 1 if mark else None, None,
                                             f"not valid YAML: {getattr(e, 'problem', None) or e}")]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ScenarioError(source, [Problem(source, None, None, f"cannot be read: {e}")]) from None
    if doc is None:
        return {}, {}
    if not isinstance(doc, dict):
        raise ScenarioError(source, [Problem(source, 1, None, f"a scenario is a mapping of knobs to values "
                                             f"(see default.yaml), not {type(doc).__name__}")])
    lines, dupes = _key_lines(node)
    if dupes:
        raise ScenarioError(source, [Problem(source, line, _dotted(p), "given twice") for p, line in dupes])
    return doc, lines


def load_scenario(path: str | Path | None = None, **overrides) -> Scenario:
    """The default scenario, with a YAML file's values (and keyword overrides) merged over it.

    Nested maps merge key by key (`origins: {CN_XIA: {trains_per_month: 34}}` keeps Xi'an's border),
    except `destinations` and `storm_share`, which a scenario gives whole. Raises ScenarioError
    listing every problem of the result (unknown keys, types, ranges, places, list lengths).
    """
    params = yaml.load(DEFAULT.read_text(encoding="utf-8"), Loader=_Loader)
    allowed = set(params)
    name, source, lines, given = "default", "overrides", {}, set(overrides)
    if path is not None:
        p = Path(path)
        if not p.exists() and (SCENARIOS / f"{path}.yaml").exists():
            p = SCENARIOS / f"{path}.yaml"
        source = str(path)
        over, lines = _read(p, source)
        params = _merge(params, over)
        given |= set(over)
        name = over.get("name", p.stem)
    params = _merge(params, overrides)
    problems = _check(params, given, source, lines, allowed)
    if problems:
        raise ScenarioError(source, problems)
    params["storm_share"] = {int(k): float(v) for k, v in params["storm_share"].items()}
    params["start"] = str(params["start"])
    return Scenario(name=str(overrides.get("name", name)), params=params)
