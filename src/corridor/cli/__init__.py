"""The `corridor` command. Each command group lives in its own module and registers itself here."""

from __future__ import annotations

import importlib

import typer

from .common import CorridorGroup

app = typer.Typer(
    name="corridor", cls=CorridorGroup, no_args_is_help=True, add_completion=False,
    help="Corridor: the shared digital platform of the Trans-Caspian (Middle) Corridor.")

# Command modules, each with `register(app)`. Order = order in --help.
MODULES = ["setup", "network", "access", "ingest", "plan", "track", "simulate", "kpi"]


def _register() -> None:
    for name in MODULES:
        importlib.import_module(f"{__name__}.{name}").register(app)


_register()


def main() -> None:
    """Console entry point."""
    from ..wiring import ensure_wired
    ensure_wired()
    app()
