"""Calibration: model transit times on the default data against public figures (corridor-facts.md §1.3).

Public ranges (day counts and where they start are in §1.3's table):
- Xi'an → Baku (Alat port or Absheron station): 11–17 days (MENAFN, Agenzia Nova/KTZ, Trend).
- China–Kazakhstan border → Georgian port (Poti): 10–12 days (ADY via Today.az: transit trains 10
  days from the border; ADY via News.az: 12 days to the Georgian ports).
Transit is counted as the trains are: first departure to last arrival, median over weekly ready
dates through a quarter (one week's storm or full ferry must not decide the calibration).
"""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta, timezone

from pathlib import Path

import pytest

from corridor.booking.containers import parse_containers
from corridor.booking.service import BookingService, NoRoute

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
FACTS = ("reference", "corridor-facts.md")

CASES = [
    # (label, origins, destinations, public low, high, public source)
    ("Xi'an → Baku (Alat/Absheron)", ["CNXIA"], ["AZALA", "Absheron"], 11.0, 17.0,
     "11–17 days Xi'an–Baku (MENAFN 2024-01, Agenzia Nova 2024-03, Trend 2024-07/2026-01)"),
    ("China border → Poti", ["KZDOS", "KZHOR"], ["GEPTI"], 10.0, 12.0,
     "10 days border → Georgian ports for transit trains, 12 days (ADY 2024)"),
]


def _fastest_middle(svc: BookingService, origins, destinations, ready: datetime) -> float | None:
    best = None
    for o in origins:
        for d in destinations:
            try:
                q = svc.quote(o, d, ready, parse_containers("1x40"))
            except NoRoute:
                continue
            days = [opt.transit_hours / 24 for opt in q.options if opt.corridor == "middle"]
            if days and (best is None or min(days) < best):
                best = min(days)
    return best


@pytest.mark.parametrize("label,origins,destinations,low,high,source", CASES, ids=[c[0] for c in CASES])
def test_model_transit_inside_public_range(sqlite_loaded_store, label, origins, destinations, low, high, source):
    facts = SHARED.joinpath(*FACTS)
    if not facts.exists():   # the figures come from this file; never copied into the project
        pytest.skip(f"shared reference not found at {facts}")
    svc = BookingService(sqlite_loaded_store)
    start = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=7)
    samples = [d for d in (_fastest_middle(svc, origins, destinations, start + timedelta(weeks=w))
                           for w in range(13)) if d is not None]
    assert len(samples) >= 10, f"{label}: too few dates with a Middle Corridor option ({len(samples)})"
    median = statistics.median(samples)
    print(f"\n{label}: model median {median:.1f} d (range {min(samples):.1f}–{max(samples):.1f} d over "
          f"{len(samples)} weekly ready dates) vs public {low:g}–{high:g} d [{source}]")
    assert low <= median <= high, f"{label}: model {median:.1f} d outside the public {low:g}–{high:g} d"
