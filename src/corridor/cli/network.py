"""`corridor network show | validate`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from .common import Exit, JsonOpt, emit_json, err, fail, out

network_app = typer.Typer(help="The corridor network: locations, links, timetable.", no_args_is_help=True)


def network_json(network) -> dict:
    """The stable JSON shape of a network (same as GET /api/v1/network)."""
    return {
        "locations": [{"code": l.ref, "id": l.id, "name": l.name, "country": l.country, "timezone": l.timezone,
                       "kind": l.kind, "facility_type": l.facility_type.value, "lat": l.lat, "lon": l.lon,
                       "gauges": list(l.gauges)} for l in network.locations.values()],
        "links": [{"id": k.id, "from": network.locations[k.origin].ref, "to": network.locations[k.destination].ref,
                   "mode": k.mode.value, "corridors": sorted(c.value for c in k.corridors),
                   "distance_km": k.distance_km, "running_hours": k.running_hours, "dwell_hours": k.dwell_hours,
                   "capacity_teu": k.capacity_teu, "operator": k.operator, "status": k.status,
                   "estimated": list(k.estimated)} for k in network.links],
    }


def show(file: Path = typer.Option(None, "--file", help="A network file instead of the packaged default."),
         as_json: bool = JsonOpt) -> None:
    """Print the network: locations by country, and its links."""
    from ..domain.errors import NetworkFileError
    from ..network_file import load_network
    try:
        network = load_network(file)
    except NetworkFileError as e:
        fail(str(e), Exit.INVALID, as_json=as_json)
    if as_json:
        emit_json(network_json(network))
        return
    t = Table(title=f"Locations ({len(network.locations)})")
    for col in ("code", "name", "country", "time zone", "kind"):
        t.add_column(col)
    for l in sorted(network.locations.values(), key=lambda l: (l.country, l.name)):
        t.add_row(l.ref, l.name, l.country, l.timezone, l.kind)
    out.print(t)
    t = Table(title=f"Links ({len(network.links)})")
    for col in ("id", "from", "to", "mode", "km", "hours", "dwell h", "TEU", "corridors"):
        t.add_column(col)
    for k in network.links:
        t.add_row(k.id, network.locations[k.origin].ref, network.locations[k.destination].ref, k.mode.value,
                  f"{k.distance_km:.0f}", f"{k.running_hours:g}", f"{k.dwell_hours:g}", str(k.capacity_teu),
                  ",".join(sorted(c.value for c in k.corridors)))
    out.print(t)


def validate(file: Path = typer.Argument(..., help="The network file to check."), as_json: bool = JsonOpt) -> None:
    """Check a network file; every problem names the file, the line and the field."""
    from ..network_file import validate_network_file
    if not file.exists():
        fail(f"{file}: no such file", Exit.NOT_FOUND, as_json=as_json)
    problems = validate_network_file(file)
    if as_json:
        emit_json({"file": str(file), "valid": not problems, "problems": [str(p) for p in problems]})
    else:
        for p in problems:
            err.print(f"[red]✗[/red] {p}", highlight=False)
        if not problems:
            err.print(f"[green]✓[/green] {file} is a valid network file")
    if problems:
        raise typer.Exit(int(Exit.INVALID))


def register(app: typer.Typer) -> None:
    network_app.command()(show)
    network_app.command()(validate)
    app.add_typer(network_app, name="network")
