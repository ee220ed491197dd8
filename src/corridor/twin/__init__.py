"""The corridor twin: a SimPy model of the Middle Corridor that speaks through the real ingest path."""

from .scenario import Scenario, load_scenario

__all__ = ["Scenario", "load_scenario"]
