"""What-if parameters of the twin: a scenario YAML merged over the packaged default."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import yaml

SCENARIOS = Path(__file__).resolve().parents[1] / "data" / "scenarios"
DEFAULT = SCENARIOS / "default.yaml"


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


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def load_scenario(path: str | Path | None = None, **overrides) -> Scenario:
    """The default scenario, with a YAML file's values (and keyword overrides) merged over it."""
    params = yaml.safe_load(DEFAULT.read_text(encoding="utf-8"))
    name = "default"
    if path is not None:
        p = Path(path)
        if not p.exists() and (SCENARIOS / f"{path}.yaml").exists():
            p = SCENARIOS / f"{path}.yaml"
        over = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        params = _merge(params, over)
        name = over.get("name", p.stem)
    params = _merge(params, overrides)
    params["storm_share"] = {int(k): float(v) for k, v in params["storm_share"].items()}
    return Scenario(name=overrides.get("name", name), params=params)
