"""`corridor init`, `corridor db upgrade`, `corridor serve`, `corridor demo`."""

from __future__ import annotations

import logging
import os

import typer

from .common import Exit, JsonOpt, emit_json, err, fail

db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)


def _store():
    from ..settings import get_settings
    from ..store import open_store
    return open_store(get_settings().database_url)


def run_init(as_json: bool = False, quiet: bool = False):
    """Run init and report it; returns the InitReport."""
    from ..bootstrap import init_corridor
    from ..settings import get_settings
    store = _store()
    if not store.is_reachable():
        fail(f"database not reachable: {store.engine.url.render_as_string(hide_password=True)}",
             Exit.UNAVAILABLE, as_json=as_json)
    s = get_settings()
    with err.status("Initialising Corridor (migrations, network, timetable)…"):
        report = init_corridor(store, s.admin_key, days=s.timetable_days)
    if as_json:
        emit_json(report.as_json())
    elif not quiet or report.changed:
        if report.changed:
            for a in report.actions:
                err.print(f"[green]✓[/green] {a}")
        else:
            err.print("Nothing to do: database migrated, network loaded, administrator key present.")
        if report.admin_key:
            err.print("[bold yellow]Administrator key (shown once, keep it safe):[/bold yellow]")
            typer.echo(report.admin_key)
    store.dispose()
    return report


def init(as_json: bool = JsonOpt) -> None:
    """Migrate the database, load the default network and timetable, create the administrator key."""
    run_init(as_json)


def upgrade(revision: str = typer.Argument("head"), as_json: bool = JsonOpt) -> None:
    """Apply database migrations up to REVISION (default: head)."""
    store = _store()
    before = store.current_revision()
    store.upgrade(revision)
    after = store.current_revision()
    if as_json:
        emit_json({"revision_before": before, "revision": after, "changed": before != after})
    else:
        err.print(f"database at revision {after}" + ("" if before != after else " (unchanged)"))


def serve(host: str = typer.Option(None, help="Interface to bind (default CORRIDOR_HOST or 127.0.0.1)."),
          port: int = typer.Option(None, help="Port (default CORRIDOR_PORT or 8000)."),
          role: str = typer.Option("all", help="api | ingest | deliver | all")) -> None:
    """Initialise if needed, then serve the API and web pages (and workers for --role)."""
    import uvicorn

    from ..settings import get_settings
    s = get_settings()
    run_init(quiet=True)
    from ..api.app import create_app
    os.environ.setdefault("CORRIDOR_ROLE", role)
    logging.basicConfig(level=s.log_level)
    uvicorn.run(create_app(role=role), host=host or s.host, port=port or s.port, log_level=s.log_level.lower())


def register(app: typer.Typer) -> None:
    app.command()(init)
    db_app.command("upgrade")(upgrade)
    app.add_typer(db_app, name="db")
    app.command()(serve)
