"""COPRAR (container discharge/loading order): PLN LOAD or PLN DISC per container.

Direction as in COARRI (header LOC+9 = load order, LOC+11 = discharge order; BGM 45 = loading
order as fallback). The planned time is the vessel call's: DTM+133 (estimated departure) for a
load order, DTM+132 (estimated arrival) for a discharge order, each falling back to the other.
"""

from __future__ import annotations

from corridor.domain.events import Classifier, Event

from .coarri import vessel_operations
from .common import Context

BGM_DIRECTION = {"45": "LOAD"}


def map_message(ctx: Context) -> list[Event]:
    """Return the planned LOAD/DISC events of one COPRAR message."""
    return vessel_operations(ctx, BGM_DIRECTION, Classifier.PLN, None, "COPRAR")
