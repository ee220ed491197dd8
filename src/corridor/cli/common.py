"""What every command shares: the consoles, one JSON document on stdout, errors and exit codes."""

from __future__ import annotations

import json
import sys
from datetime import date, datetime, timezone
from enum import IntEnum
from typing import Any, NoReturn

import typer
from rich.console import Console, ConsoleDimensions
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

# Output that is not a terminal (a file, a pipe, a test's capture) is as wide as its content: Rich
# would otherwise lay every table out in 80 columns and cut ids, dates and prices to "CB-261…".
UNBOUNDED = 10_000


def keep_whole(table: Table) -> Table:
    """Let no cell of `table` be cut with an ellipsis: a value too long for its column in a narrow
    terminal is wrapped at its spaces, else folded onto the next line, but always shown whole."""
    for col in table.columns:
        if col.overflow == "ellipsis":   # Rich's default; a column asking for something else keeps it
            col.overflow = "fold"
    return table


class CorridorConsole(Console):
    """Rich's console for the command's output: as wide as the content when not writing to a terminal
    (unless COLUMNS says how wide), and tables printed with every cell whole (see keep_whole)."""

    @property
    def size(self) -> ConsoleDimensions:
        dims = super().size
        if self._width is None and not self.is_terminal and not self._environ.get("COLUMNS", "").isdigit():
            return ConsoleDimensions(UNBOUNDED, dims.height)
        return dims

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)

    def print(self, *objects: Any, **kwargs: Any) -> None:
        for o in objects:
            if isinstance(o, Table):
                keep_whole(o)
        super().print(*objects, **kwargs)


# Progress bars, tables meant for people and logs go to stderr unless a command prints a table
# as its result; `--json` output is the only thing on stdout then. Every console is made here.
err = CorridorConsole(stderr=True)
out = CorridorConsole()


class Exit(IntEnum):
    """Exit codes (documented in docs/cli.md)."""

    OK = 0
    FAILED = 1          # the work ran but something failed (e.g. an input neither stored nor quarantined)
    USAGE = 2           # bad command line: unknown option, missing argument, a value not among the choices
    NOT_FOUND = 3       # no such container, booking, message, key ...
    INVALID = 4         # invalid input: unknown or ambiguous place, bad date, bad file, bad party
    CONFLICT = 5        # capacity exhausted, state does not allow it (e.g. a code already taken)
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


def error_json(reason: str, code: Exit, **extra) -> dict:
    """The JSON error object (docs/cli.md, "Exit codes")."""
    return {"error": {"code": code.name.lower(), "exit_status": int(code), "message": reason, **extra}}


def fail(reason: str, code: Exit = Exit.FAILED, *, as_json: bool = False, **extra) -> NoReturn:
    """Stop with a one-line reason on stderr (a JSON error object on stdout with --json)."""
    if as_json:
        emit_json(error_json(reason, code, **extra))
    err.print(Text.assemble(("error:", "red"), " ", reason), highlight=False, soft_wrap=True)
    raise typer.Exit(int(code))


def choice(value: str | None, choices, option: str, as_json: bool) -> str | None:
    """`value` when it is one of `choices` (or None); else stop with exit status 2 (USAGE)."""
    if value is not None and value not in choices:
        fail(f"{option} {value!r}: use one of {', '.join(choices)}", Exit.USAGE, as_json=as_json)
    return value


def when(text: str | None, option: str, as_json: bool, *, future: bool = False) -> datetime | None:
    """An ISO 8601 date or time given for `option` (a date or a time without offset is UTC); None when
    not given. A value that is not one stops with exit status 4 (INVALID), and so does one that is not
    in the future when `future` is asked for."""
    if not text:
        return None
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{option} {text!r} is not an ISO 8601 date or time (e.g. 2025-01-01 or 2025-01-01T00:00:00+05:00)",
             Exit.INVALID, as_json=as_json)
    t = t if t.tzinfo else t.replace(tzinfo=timezone.utc)
    if future and t <= datetime.now(timezone.utc):
        fail(f"{option} {t.isoformat()} is not in the future", Exit.INVALID, as_json=as_json)
    return t


def wants_json(args: list[str]) -> bool:
    """Whether a command line asks for JSON output (`--json`, `--format json`, `-f json`)."""
    return "--json" in args or any(a in ("--format", "-f") and b.lower() == "json" for a, b in zip(args, args[1:])) \
        or "--format=json" in args


# Typer carries its own copy of click; its UsageError (unknown option, bad or missing value) is the base
# of typer.BadParameter
UsageError = typer.BadParameter.__bases__[0]


class CorridorGroup(TyperGroup):
    """The `corridor` command group: a bad command line (exit status 2, Typer's own errors included)
    also gives the JSON error object on stdout when the command line asks for JSON."""

    _args: list[str] = []

    def main(self, args=None, *rest: Any, **kwargs: Any) -> Any:
        self._args = list(sys.argv[1:] if args is None else args)
        return super().main(self._args, *rest, **kwargs)

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as e:
            if wants_json(self._args):
                emit_json(error_json(e.format_message(), Exit.USAGE))
            raise


JsonOpt = typer.Option(False, "--json", help="Print one JSON document on stdout.")
