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
        emit_json(init_json(store, report))
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


def init_json(store, report) -> dict:
    """The JSON of an init run: what it did, and what the store holds now (`locations`, `links` and
    `departures` are counted when the network was already there, not left at 0)."""
    from ..store import network as netstore
    doc = report.as_json()
    if not report.network_loaded:
        with store.read() as conn:
            net = netstore.load_network(conn)
            doc.update(locations=len(net.locations) if net else 0, links=len(net.links) if net else 0,
                       departures=netstore.count_departures(conn))
    return doc


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
          role: str = typer.Option("all", help="api | ingest | deliver | all (see docs/deployment.md)")) -> None:
    """Serve one node: the API and web pages (api, all) and the background workers of --role.

    `all` (the single machine) initialises the database first; `api`, `ingest` and `deliver` nodes
    expect `corridor init` to have run once and refuse a database that is not migrated. Worker
    nodes (ingest, deliver) answer only /health on the port.
    """
    import uvicorn

    from ..runtime import check_role, node_app, schema_problem
    from ..settings import get_settings
    s = get_settings()
    why = check_role(role, s)
    if why:
        fail(why, Exit.USAGE)
    logging.basicConfig(level=s.log_level)
    if role == "all":
        run_init(quiet=True)
        store = _store()
    else:
        store = _store()
        why = schema_problem(store)
        if why:
            fail(why, Exit.UNAVAILABLE)
    os.environ.setdefault("CORRIDOR_ROLE", role)
    uvicorn.run(node_app(role, s, store), host=host or s.host, port=port or s.port, log_level=s.log_level.lower())


def register(app: typer.Typer) -> None:
    app.command()(init)
    db_app.command("upgrade")(upgrade)
    app.add_typer(db_app, name="db")
    app.command()(serve)
    app.command()(demo)


def demo_keys(store) -> dict[str, str]:
    """Save the sample parties and give each a fresh demo key (older demo keys are revoked)."""
    from ..access import keys
    from ..access.demo import DEMO_PARTIES
    from ..store import parties as ps
    out = {}
    with store.tx() as conn:
        for p in DEMO_PARTIES:
            ps.upsert_party(conn, p)
            for k in keys.list_keys(conn, p.id):
                if k.label == "demo" and k.revoked_at is None:
                    keys.revoke(conn, k.key_id)
            out[p.id] = keys.create_key(conn, p.id, label="demo")
    return out


def demo(host: str = typer.Option("127.0.0.1", help="Interface to bind."),
         port: int = typer.Option(8000, help="Port."),
         speed: float = typer.Option(3600.0, help="Simulated seconds per real second for the live twin."),
         twin: bool = typer.Option(True, help="Feed live events from the corridor twin.")) -> None:
    """The main job on the embedded default: init, sample parties (keys printed), live twin, web + API."""
    import threading

    import uvicorn
    from rich.table import Table

    from ..settings import get_settings
    s = get_settings()
    report = run_init(quiet=True)
    store = _store()
    issued = demo_keys(store)
    t = Table(title="Demo parties and their API keys (this run only)")
    t.add_column("party")
    t.add_column("key")
    if report.admin_key:
        t.add_row("CORRIDOR (admin)", report.admin_key)
    for pid, key in issued.items():
        t.add_row(pid, key)
    err.print(t)
    stop = threading.Event()
    if twin:
        from ..twin.run import run_live
        threading.Thread(target=run_live, args=(store,), kwargs={"speed": speed, "stop_event": stop},
                         name="corridor-twin", daemon=True).start()
        err.print(f"[green]✓[/green] twin running live at {speed:g}× real time")
    err.print(f"Corridor on http://{host}:{port}  (API docs: /docs, DCSA: /v2/events)")
    logging.basicConfig(level=s.log_level)
    try:
        from ..runtime import node_app
        uvicorn.run(node_app("all", s, store), host=host, port=port, log_level="warning")
    finally:
        stop.set()
