"""What every command shares: stderr console, one JSON document on stdout, errors and exit codes."""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from enum import IntEnum
from typing import Any, NoReturn

import typer
from rich.console import Console

# Progress bars, tables meant for people and logs go to stderr unless a command prints a table
# as its result; `--json` output is the only thing on stdout then.
err = Console(stderr=True)
out = Console()


class Exit(IntEnum):
    """Exit codes (documented in docs/cli.md)."""

    OK = 0
    FAILED = 1          # the work ran but something failed (e.g. an input neither stored nor quarantined)
    USAGE = 2           # bad command line (Typer's own)
    NOT_FOUND = 3       # no such container, booking, message, key ...
    INVALID = 4         # invalid input: unknown or ambiguous place, bad date, bad file
    CONFLICT = 5        # capacity exhausted, state does not allow it
    UNAVAILABLE = 6     # the store or a broker cannot be reached


def _default(o: Any):
    if isinstance(o, (datetime, date)):
        return o.isoformat()
    if hasattr(o, "as_json"):
        return o.as_json()
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def emit_json(doc: Any) -> None:
    """Print one JSON document on stdout."""
    sys.stdout.write(json.dumps(doc, default=_default, ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()


def fail(reason: str, code: Exit = Exit.FAILED, *, as_json: bool = False, **extra) -> NoReturn:
    """Stop with a one-line reason on stderr (a JSON error object on stdout with --json)."""
    if as_json:
        emit_json({"error": {"code": code.name.lower(), "exit_status": int(code), "message": reason, **extra}})
    err.print(f"[red]error:[/red] {reason}", highlight=False, soft_wrap=True)
    raise typer.Exit(int(code))


JsonOpt = typer.Option(False, "--json", help="Print one JSON document on stdout.")
