"""`corridor kpi`: the corridor's KPIs as tables, CSV, JSON or Parquet; `corridor export iftsta`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from .common import Exit, emit_json, err, fail, out, when

export_app = typer.Typer(help="Export data for other systems (EDIFACT IFTSTA).", no_args_is_help=True)


def _admin_viewer(conn):
    from ..access.visibility import viewer_for
    from ..domain.parties import ADMIN_PARTY, Party, Role
    return viewer_for(conn, Party(ADMIN_PARTY, "local operator", frozenset({Role.ADMIN})))


def kpi(start: Optional[str] = typer.Option(None, "--from", help="Start (ISO 8601; default: first actual event)."),
        end: Optional[str] = typer.Option(None, "--to", help="End, exclusive (ISO 8601; default: last event)."),
        fmt: str = typer.Option("table", "--format", "-f", help="table | csv | json | parquet"),
        out_file: Optional[Path] = typer.Option(None, "--out", "-o", help="Write to FILE (required for parquet)."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout (= --format json)."),
        ) -> None:
    """Volumes and growth, transit, on-time, dwell, utilisation, CO2e and data quality."""
    from ..analytics import export
    from ..analytics.kpi import EmptyPeriod, corridor_kpis, resolve_period
    from ..store import open_store
    if as_json and fmt not in ("table", "json"):
        fail(f"--json and --format {fmt} ask for two formats: give one", Exit.USAGE, as_json=True)
    as_json = as_json or fmt == "json"
    fmt = "json" if as_json else fmt
    if fmt not in export.FORMATS:
        fail(f"unknown format {fmt!r}: use one of {', '.join(export.FORMATS)}", Exit.USAGE, as_json=False)
    if fmt == "parquet":
        if out_file is None:
            fail("Parquet is binary: give --out FILE", Exit.USAGE)
        try:
            export.pyarrow()
        except export.ExportUnavailable as e:
            fail(str(e), Exit.FAILED)
    t0, t1 = when(start, "--from", as_json), when(end, "--to", as_json)
    if t0 and t1 and t1 <= t0:
        fail(f"--to {t1.isoformat()} is not after --from {t0.isoformat()}", Exit.INVALID, as_json=as_json)
    try:
        store = open_store()
        with store.read() as conn:
            try:
                # one end given: the other is the event log's, and the period must still run forwards
                t0, t1 = resolve_period(conn, t0, t1)
            except EmptyPeriod as e:
                given = f"--from {e.start.isoformat()}" if e.given == "from" else f"--to {e.end.isoformat()}"
                other = (f"after the period's default end {e.end.isoformat()} (the last event, or now)"
                         if e.given == "from" else
                         f"before the period's default start {e.start.isoformat()} (the first event's month)")
                fail(f"{given} leaves no period: it is {other}; give {'--to' if e.given == 'from' else '--from'} too",
                     Exit.INVALID, as_json=as_json)
            doc = corridor_kpis(conn, _admin_viewer(conn), t0, t1)
    except typer.Exit:
        raise
    except Exception as e:  # noqa: BLE001 - the store may be unreachable or not migrated
        fail(f"cannot read the store: {e}", Exit.UNAVAILABLE, as_json=as_json)
    if fmt == "table":
        _print(doc)
        return
    if fmt == "json" and out_file is None:
        emit_json(doc)
        return
    text = export.write(doc, fmt, out_file)
    if text is not None:
        out.file.write(text)
    else:
        err.print(f"wrote {out_file}")


def _table(title: str, cols: list[str], rows: list[list]) -> None:
    t = Table(title=title)
    for c in cols:
        t.add_column(c, justify="left" if c in cols[:2] else "right")
    for r in rows:
        t.add_row(*["-" if v is None else str(v) for v in r])
    out.print(t)


def _print(doc: dict) -> None:
    """The KPI document as tables for people."""
    p, v = doc["period"], doc["volumes"]
    tot = v["total"]
    out.print(f"[bold]Corridor KPIs[/bold] {p['from']} .. {p['to']}  ({p['trips']} container trips)")
    out.print(f"TEU {tot['teu']}  containers {tot['containers']}  tonnes {tot['tonnes']:.0f} "
              f"({v['tonnes_per_teu']:g} t/TEU)  trains {tot['trains']}  growth "
              f"{'-' if tot['teu_growth_pct'] is None else str(tot['teu_growth_pct']) + ' %'}")
    _table("Volumes by month", ["month", "TEU", "containers", "trains", "TEU year before", "growth %"],
           [[r["month"], r["teu"], r["containers"], r["trains"], r["teu_year_before"], r["teu_growth_pct"]]
            for r in v["by_month"]])
    _table("Volumes by origin-destination", ["origin", "destination", "TEU", "containers", "under way"],
           [[r["origin"], r["destination"], r["teu"], r["containers"], r["under_way"]] for r in v["by_od"][:15]])
    lo = v["od_left_out"]
    out.print(f"Booked trips under way count under their booked destination; {lo['containers']} containers "
              f"({lo['teu']} TEU) under way without a booking have no known destination and are left out.")
    _table("Ports (vessel load/discharge)", ["port", "TEU", "containers", "westbound TEU", "eastbound TEU"],
           [[r["port"], r["teu"], r["containers"], r["westbound_teu"], r["eastbound_teu"]] for r in v["by_port"]])
    _table("Transit end to end (days)", ["origin", "destination", "n", "p50", "p90"],
           [[r["origin"], r["destination"], r["days"]["n"], r["days"]["p50"], r["days"]["p90"]]
            for r in doc["transit"]["end_to_end"][:15]])
    out.print(f"Trips that reached their destination only; {doc['transit']['end_to_end_left_out']['containers']} "
              f"under way are left out.")
    ot = doc["on_time"]
    out.print(f"On time (grace {ot['grace_hours']:g} h): containers {ot['containers']['on_time']}/"
              f"{ot['containers']['n']} rate {ot['containers']['rate']}; legs {ot['legs']['on_time']}/"
              f"{ot['legs']['n']} rate {ot['legs']['rate']}")
    _table("Dwell (hours)", ["location", "kinds", "n", "p50", "p90"],
           [[r["location"], ",".join(r["kinds"]), r["hours"]["n"], r["hours"]["p50"], r["hours"]["p90"]]
            for r in doc["dwell"]["by_location"]])
    u = doc.get("utilisation") or {}
    _table("Departures that ran: capacity reserved (booked) and carried (reported aboard)",
           ["mode", "departures", "cancelled", "capacity TEU", "reserved TEU", "utilisation (reserved/capacity)",
            "carried TEU", "carried/capacity"],
           [[r["mode"], r["departures"], r["cancelled"], r["capacity_teu"], r["reserved_teu"], r["utilisation"],
             r["carried_teu"], r["carried_utilisation"]] for r in u.get("reserved", [])])
    if u.get("basis"):
        out.print(f"Utilisation: {u['basis']}.")
    _table("Observed loads per train or sailing", ["mode", "vehicles", "TEU loaded", "TEU per vehicle p50",
                                                   "TEU per vehicle p90"],
           [[r["mode"], r["vehicles"], r["teu"], r["teu_per_vehicle"]["p50"], r["teu_per_vehicle"]["p90"]]
            for r in u.get("observed_loads", [])])
    c = doc["co2e"]
    _table("CO2e WTW per TEU-km", ["route", "corridor", "TEU", "kg/TEU", "kg/TEU-km"],
           [[f"{r['origin']}→{r['destination']}", r["corridor"], r["teu"], r["kg_per_teu"], r["kg_per_teu_km"]]
            for r in c["by_route"][:10]]
           + [[r["route"], r["corridor"], "", r["kg_per_teu"], r["kg_per_teu_km"]] for r in c["reference_routes"]])
    if "by_route_left_out" in c:
        out.print(f"Observed routes: trips that reached their destination only; "
                  f"{c['by_route_left_out']['containers']} under way are left out.")
    q = doc["data_quality"]
    _table(f"Data quality (network health {q['network_health']})",
           ["party", "messages", "completeness", "latency p50 h", "latency p90 h", "dup rate", "quarantine", "health"],
           [[r["party"], r["messages"], r["completeness"], r["latency_hours"]["p50"], r["latency_hours"]["p90"],
             r["duplicate_rate"], r["quarantine_rate"], r["health"]] for r in q["parties"]])


@export_app.command("iftsta")
def export_iftsta(party: str = typer.Option(..., "--party", "-p", help="Party whose containers to report."),
                  since: Optional[str] = typer.Option(None, "--since", help="Events from (ISO 8601)."),
                  out_file: Optional[Path] = typer.Option(None, "--out", "-o", help="Write to FILE."),
                  as_json: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout (the EDIFACT "
                                               "text as its `edifact` when there is no --out).")) -> None:
    """IFTSTA D00B status messages of the containers PARTY may see (for EDIFACT systems)."""
    from ..access.visibility import viewer_for
    from ..analytics.iftsta_out import iftsta_for_party
    from ..store import open_store
    from ..store.parties import get_party
    t0 = when(since, "--since", as_json)
    try:
        store = open_store()
        with store.read() as conn:
            p = get_party(conn, party)
            if p is None:
                fail(f"no party {party!r}", Exit.NOT_FOUND, as_json=as_json)
            text, messages, groups = iftsta_for_party(conn, viewer_for(conn, p), t0)
    except typer.Exit:
        raise
    except Exception as e:  # noqa: BLE001
        fail(f"cannot read the store: {e}", Exit.UNAVAILABLE, as_json=as_json)
    if out_file:
        out_file.write_text(text, encoding="utf-8")
    elif not as_json:
        out.file.write(text)
    if as_json:
        doc = {"party": party, "since": t0, "messages": messages, "statuses": groups,
               "out": str(out_file) if out_file else None}
        if out_file is None:
            doc["edifact"] = text   # the messages themselves: written nowhere else
        emit_json(doc)
    else:
        err.print(f"{messages} IFTSTA messages, {groups} statuses for {party}")


def register(app: typer.Typer) -> None:
    app.command("kpi")(kpi)
    app.add_typer(export_app, name="export")
