"""`corridor simulate`: run the corridor twin fast through the ingest path, or compare two scenarios."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import Exit, JsonOpt, emit_json, err, fail, out


def _store(no_ingest: bool):
    """The store named by CORRIDOR_DATABASE_URL, migrated and with the default network; None without ingest."""
    if no_ingest:
        return None
    from ..bootstrap import load_default_network
    from ..store import network as netstore
    from ..store import open_store
    store = open_store(migrate=True)
    with store.read() as conn:
        has_network = netstore.load_network(conn) is not None
    if not has_network:
        load_default_network(store)
    return store


def simulate(
    scenarios: list[Path] = typer.Argument(None, help="Scenario YAML file(s), or a packaged scenario's name "
                                                     "(xian-10-more); two with --compare."),
    days: float = typer.Option(365, "--days", min=1, help="Simulated days."),
    seed: int = typer.Option(1, "--seed", help="Random seed: the same seed gives the same run."),
    report: Path = typer.Option(None, "--report", help="Write report.md, summary.json and SVG plots here."),
    compare: bool = typer.Option(False, "--compare", help="Run two scenarios (model only) side by side."),
    no_ingest: bool = typer.Option(False, "--no-ingest", help="Run the model alone, without the store."),
    parse_workers: int = typer.Option(None, "--parse-workers", min=0, show_default=False,
                                      help="Processes that parse EDIFACT while the store step runs "
                                           "(default: 1 with two cores or more, else 0: in-process)."),
    as_json: bool = JsonOpt,
) -> None:
    """Run the corridor twin: trains, Caspian sailings, storms, Alat, onward rail, through real ingest."""
    from ..twin.report import compare as compare_runs
    from ..twin.report import compare_markdown, markdown, report_data, write_report
    from ..twin.run import simulate as run
    from ..twin.scenario import SCENARIOS, ScenarioError, load_scenario
    scenarios = scenarios or []
    if compare and len(scenarios) != 2:
        fail("--compare takes exactly two scenario files: corridor simulate --compare A.yaml B.yaml",
             Exit.USAGE, as_json=as_json)
    if not compare and len(scenarios) > 1:
        fail("one scenario file, or two with --compare", Exit.USAGE, as_json=as_json)
    for p in scenarios:
        if not p.exists() and not (SCENARIOS / f"{p}.yaml").exists():   # a file, or a packaged scenario's name
            fail(f"{p}: no such scenario file", Exit.NOT_FOUND, as_json=as_json)
    # every file is checked before anything runs, and every problem of each is said at once
    loaded, problems = [], []
    for p in scenarios:
        try:
            loaded.append(load_scenario(p))
        except ScenarioError as e:
            problems.append(e)
    if problems:
        fail(" | ".join(str(e) for e in problems), Exit.INVALID, as_json=as_json,
             files=[e.source for e in problems], problems=[str(x) for e in problems for x in e.problems])
    loaded = loaded or [load_scenario()]
    if compare:
        runs = [run(None, sc, days=days, seed=seed) for sc in loaded]
        doc = compare_runs(*runs)
        if as_json:
            emit_json(doc)
            return
        out.print(compare_markdown(doc), highlight=False, markup=False, soft_wrap=True)
        return
    try:
        store = _store(no_ingest)
    except Exception as e:  # noqa: BLE001
        fail(f"store not reachable: {e}", Exit.UNAVAILABLE, as_json=as_json)
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    with Progress(TextColumn("simulating"), BarColumn(), TextColumn("{task.completed:.0f}/{task.total:.0f} days"),
                  TimeElapsedColumn(), console=err, transient=as_json) as bar:
        task = bar.add_task("twin", total=days)
        if parse_workers is None:
            from corridor.twin.run import default_parse_workers
            parse_workers = default_parse_workers()
        result = run(store, loaded[0], days=days, seed=seed, parse_workers=parse_workers if store else 0,
                     progress=lambda done, total: bar.update(task, completed=done))
    if report:
        for p in write_report(result, report):
            err.print(f"wrote {p}")
    if as_json:
        emit_json({**result.summary(), **report_data(result.twin.stats, result.twin.t0)})
        return
    out.print(markdown({"summary": result.summary(), **report_data(result.twin.stats, result.twin.t0)}))


def register(app: typer.Typer) -> None:
    app.command(name="simulate")(simulate)
