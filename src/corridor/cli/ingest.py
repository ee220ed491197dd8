"""`corridor ingest`, `corridor messages list | show`, `corridor quarantine list | show | replay`,
`corridor alias add | list`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .common import Exit, JsonOpt, choice, emit_json, err, fail, out, when

quarantine_app = typer.Typer(help="What could not be parsed, mapped or attributed, with the reason.",
                             no_args_is_help=True)
messages_app = typer.Typer(help="The raw messages received: who sent what, when, and what became of it.",
                           no_args_is_help=True)
alias_app = typer.Typer(help="The registry of outside codes: EDI ids, LOCODEs, ESR codes, spellings.",
                        no_args_is_help=True)

# Input format names on the command line -> the ingest path's format ids
INPUT_FORMATS = {"edifact": "edifact", "edi": "edifact", "dcsa": "dcsa-json", "dcsa-json": "dcsa-json",
                 "csv": "csv", "positions": "position-json", "position-json": "position-json"}
ALIAS_KINDS = ("party", "location", "operator")
QUARANTINE_STATUSES = ("open", "resolved", "replayed", "all")
MESSAGE_STATUSES = ("processed", "partial", "quarantined", "pending")
RAW_PREVIEW = 64 * 1024


def _store(as_json: bool):
    from ..settings import get_settings
    from ..store import open_store
    store = open_store(get_settings().database_url)
    if not store.is_reachable():
        fail(f"database not reachable: {store.engine.url.render_as_string(hide_password=True)}",
             Exit.UNAVAILABLE, as_json=as_json)
    if store.current_revision() is None:
        fail("the database is empty: run `corridor init` first", Exit.UNAVAILABLE, as_json=as_json)
    return store


def input_files(paths: list[Path]) -> list[Path]:
    """The files named, with folders walked recursively (hidden files skipped), in a stable order."""
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file()
                            and not any(part.startswith(".") for part in f.relative_to(p).parts))
        else:
            files.append(p)
    return files


def ingest_json(outcomes: list[dict]) -> dict:
    """The stable JSON of an ingest run (issue 11): totals and one entry per input."""
    return {"inputs": len(outcomes), "stored": sum(o["stored"] for o in outcomes),
            "duplicates": sum(o["duplicates"] for o in outcomes),
            "quarantined": sum(o["quarantined"] for o in outcomes),
            "stowage": sum(o.get("stowage", 0) for o in outcomes),
            "schedule_changes": sum(o.get("schedule_changes", 0) for o in outcomes),
            "retracted": sum(o.get("retracted", 0) for o in outcomes), "files": outcomes}


def ingest(paths: list[Path] = typer.Argument(..., help="Files or folders (walked recursively)."),
           party: str = typer.Option(None, "--party", help="The sending party (default: from the message, "
                                                           "e.g. the EDIFACT sender id)."),
           fmt: str = typer.Option(None, "--format", help="edifact | dcsa | csv | positions (default: detected); "
                                                          "`--format json` prints JSON like --json."),
           dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be stored; store nothing."),
           as_json: bool = JsonOpt) -> None:
    """Take in files: format detected, events stored once, the rest quarantined with the reason."""
    from ..ingest.service import Ingestor
    from ..store.parties import get_party
    if fmt and fmt.lower() == "json":
        as_json, fmt = True, None
    if fmt and fmt.lower() not in INPUT_FORMATS:
        fail(f"unknown format {fmt!r}: use one of edifact, dcsa, csv, positions", Exit.USAGE, as_json=as_json)
    fmt = INPUT_FORMATS[fmt.lower()] if fmt else None
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        fail(f"no such file or folder: {', '.join(missing)}", Exit.NOT_FOUND, as_json=as_json)
    store = _store(as_json)
    if party:
        with store.read() as conn:
            if get_party(conn, party) is None:
                fail(f"unknown party {party!r}: create it first (see `corridor party`)", Exit.INVALID,
                     as_json=as_json)
    files = input_files(paths)
    ingestor = Ingestor(store)
    outcomes: list[dict] = []
    failed = 0
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as progress:
        task = progress.add_task("ingesting", total=len(files))
        for f in files:
            progress.update(task, description=f"ingesting {f.name}")
            try:
                o = ingestor.ingest(f.read_bytes(), source_party=party, filename=str(f), fmt=fmt, dry_run=dry_run)
                entry = o.as_json()
                entry["path"] = str(f)
            except Exception as e:  # noqa: BLE001 - one bad input must not stop the others; it is reported
                failed += 1
                entry = {"path": str(f), "format": fmt, "stored": 0, "duplicates": 0, "quarantined": 0,
                         "reasons": [], "error": f"{e.__class__.__name__}: {e}"}
            outcomes.append(entry)
            progress.advance(task)
    store.dispose()
    doc = ingest_json(outcomes)
    if dry_run:
        doc["dry_run"] = True
    if as_json:
        emit_json(doc)
    else:
        _print_summary(doc, dry_run)
    if failed:
        raise typer.Exit(int(Exit.FAILED))


def _print_summary(doc: dict, dry_run: bool) -> None:
    t = Table(title="Would be stored (dry run)" if dry_run else "Ingest")
    for col in ("file", "format", "stored", "duplicates", "quarantined"):
        t.add_column(col, justify="right" if col not in ("file", "format") else "left")
    for f in doc["files"]:
        t.add_row(f["path"], f.get("format") or "?", str(f["stored"]), str(f["duplicates"]), str(f["quarantined"]))
    t.add_row("[bold]total[/bold]", f"{doc['inputs']} inputs", str(doc["stored"]), str(doc["duplicates"]),
              str(doc["quarantined"]))
    out.print(t)
    if doc["stowage"] or doc["schedule_changes"]:   # bay plans and schedules store no events of their own
        out.print(f"{doc['stowage']} bay-plan positions {'would be ' if dry_run else ''}recorded, "
                  f"{doc['schedule_changes']} schedule changes applied", highlight=False)
    if doc["retracted"]:   # a sender's DCSA 3.0 retractions withdraw its events; they store none
        out.print(f"{doc['retracted']} event(s) {'would be ' if dry_run else ''}retracted by their senders",
                  highlight=False)
    for f in doc["files"]:
        if f.get("error"):
            err.print(f"[red]✗ {f['path']}[/red]: {f['error']}", highlight=False, soft_wrap=True)
        for r in f["reasons"][:5]:
            err.print(f"[yellow]quarantined[/yellow] {f['path']}: {r}", highlight=False, soft_wrap=True)
        if len(f["reasons"]) > 5:
            err.print(f"  … {len(f['reasons']) - 5} more (see `corridor quarantine list`)")
        if dry_run:
            for e in f.get("events", []):
                out.print(f"  {e['classifier']} {e['code']} {e['event_time']} {e['location'] or '-'} "
                          f"{e['equipment'] or ''}", highlight=False)


# --- raw messages ---------------------------------------------------------------------------

def receipt_json(raw, entries=None, total: int | None = None, href=None) -> dict:
    """The stable JSON of a raw message's receipt (same shape over the API): without its content;
    with `entries`, its open quarantine entries (`total` of them open; `href(id)` links each)."""
    d = {"message_id": raw.id, "status": raw.status, "format": raw.format, "filename": raw.filename,
         "received_at": raw.received_at.isoformat(), "source_party": raw.source_party, "size": raw.size,
         "stored": raw.stored, "duplicates": None if raw.status == "pending" else raw.duplicates,
         "rejected": raw.rejected}
    if entries is not None:
        d["quarantined"] = total if total is not None else len(entries)
        d["quarantine"] = [{"id": e.id, "kind": e.kind, "reason": e.reason, "attempts": e.attempts,
                            "created_at": e.created_at.isoformat(), **({"href": href(e.id)} if href else {})}
                           for e in entries]
    return d


def m_list(party: str = typer.Option(None, "--party", help="Only messages this party sent."),
           status: str = typer.Option(None, "--status", help="processed | partial | quarantined | pending"),
           fmt: str = typer.Option(None, "--format", help="edifact | dcsa | csv | positions"),
           since: str = typer.Option(None, "--since", help="Received at or after this ISO 8601 date or time."),
           limit: int = typer.Option(50, help="At most this many (newest first)."),
           as_json: bool = JsonOpt) -> None:
    """List received messages, newest first: sender, format, status, events stored, duplicates, held."""
    from ..store.receipts import receipt_counts, receipts
    choice(status, MESSAGE_STATUSES, "--status", as_json)
    choice(fmt, tuple(INPUT_FORMATS), "--format", as_json)
    t0 = when(since, "--since", as_json)
    if limit < 1:
        fail(f"--limit {limit}: give 1 or more", Exit.USAGE, as_json=as_json)
    store = _store(as_json)
    with store.read() as conn:
        rows = receipts(conn, sender=party, status=status, fmt=INPUT_FORMATS.get(fmt) if fmt else None,
                        since=t0, limit=limit)
        counts = receipt_counts(conn, party)
    if as_json:
        emit_json({"counts": counts, "messages": [receipt_json(r) for r in rows]})
        return
    t = Table(title=f"Messages{f' from {party}' if party else ''}: {len(rows)} shown; "
                    + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none received"))
    for col in ("message", "received", "party", "format", "file", "status", "stored", "dup", "held"):
        t.add_column(col, justify="right" if col in ("stored", "dup", "held") else "left")
    for r in rows:
        t.add_row(r.id[:12], r.received_at.isoformat(timespec="seconds"), r.source_party or "?", r.format,
                  r.filename or "", r.status, str(r.stored), "" if r.status == "pending" else str(r.duplicates),
                  str(r.rejected))
    out.print(t)


def m_show(message_id: str = typer.Argument(..., help="A message id, or its first 8 or more characters."),
           content: bool = typer.Option(False, "--content", help="Print the message itself too (up to 64 KiB)."),
           events: int = typer.Option(50, "--events", min=0, max=1000,
                                      help="List at most this many of the events it stored (0: none)."),
           as_json: bool = JsonOpt) -> None:
    """Show one message: its sender, receipt, outcome, the events it stored and its open quarantine entries."""
    from ..store import ingest as repo
    from ..store.receipts import message_events, open_entries, receipts_by_prefix
    from ..tracking.timeline import event_json
    mid = message_id.strip().lower()
    if len(mid) < 8 or any(c not in "0123456789abcdef" for c in mid):
        fail(f"{message_id!r}: give a message id (hex) or at least its first 8 characters", Exit.USAGE,
             as_json=as_json)
    store = _store(as_json)
    with store.read() as conn:
        found = receipts_by_prefix(conn, mid)
        if not found:
            fail(f"no message {message_id}", Exit.NOT_FOUND, as_json=as_json)
        if len(found) > 1:
            fail(f"{message_id} names more than one message: give more of its id", Exit.USAGE, as_json=as_json)
        raw = found[0]
        entries, total = open_entries(conn, raw.id, limit=100)
        doc = receipt_json(raw, entries, total)
        doc["events"] = [event_json(seq, e, at) for seq, e, at in (message_events(conn, raw, events) if events else [])]
        if content:
            body = repo.get_raw(conn, raw.id).content
            doc["content"] = bytes(body[:RAW_PREVIEW]).decode("utf-8", "replace")
            doc["truncated"] = raw.size > RAW_PREVIEW
    if as_json:
        emit_json(doc)
        return
    out.print(f"[bold]{doc['message_id']}[/bold] {doc['status']}", highlight=False)
    out.print(f"from {doc['source_party'] or '?'}, {doc['format']}, {doc['size']:,} bytes"
              f"{', file ' + doc['filename'] if doc['filename'] else ''}; received {doc['received_at']}",
              highlight=False)
    dup = "-" if doc["duplicates"] is None else doc["duplicates"]
    out.print(f"events stored {doc['stored']}, duplicates {dup}, held back {doc['rejected']}; "
              f"open quarantine entries {doc['quarantined']}", highlight=False)
    for e in doc["quarantine"]:
        out.print(f"  #{e['id']} {e['kind']}: {e['reason']}", highlight=False, soft_wrap=True)
    if doc["events"]:
        table = Table("seq", "event", "time", "place", "container / vehicle", "trip", title=(
            f"events stored ({len(doc['events'])} of {doc['stored']})" if len(doc["events"]) < doc["stored"]
            else "events stored"), title_justify="left")
        for e in doc["events"]:
            table.add_row(str(e["seq"]), f"{e['code']} {e['classifier']}", e["event_time"], e["location"] or "-",
                          e["equipment"] or e["voyage"] or e["vehicle"] or "-", e["trip_id"] or "-")
        out.print(table)
    if content:
        out.print(doc["content"], highlight=False, markup=False)


# --- quarantine -------------------------------------------------------------------------------

def quarantine_json(r, raw=None, with_content: bool = False) -> dict:
    """The stable JSON of one quarantine entry (same shape over the API)."""
    d = {"id": r.id, "message_id": r.message_id, "kind": r.kind, "format": r.format,
         "source_party": r.source_party, "reason": r.reason, "detail": r.detail, "status": r.status,
         "attempts": r.attempts, "created_at": r.created_at.isoformat(),
         "resolved_at": r.resolved_at.isoformat() if r.resolved_at else None}
    if raw is not None:
        d["message"] = {"id": raw.id, "filename": raw.filename, "format": raw.format,
                        "source_party": raw.source_party, "received_at": raw.received_at.isoformat(),
                        "size": raw.size, "status": raw.status}
        if with_content:
            d["message"]["content"] = bytes(raw.content[:RAW_PREVIEW]).decode("utf-8", "replace")
            d["message"]["truncated"] = raw.size > RAW_PREVIEW
    return d


def q_list(status: str = typer.Option("open", help="open | resolved | replayed | all"),
           party: str = typer.Option(None, "--party", help="Only entries sent by this party."),
           limit: int = typer.Option(100, help="At most this many (newest first)."),
           as_json: bool = JsonOpt) -> None:
    """List quarantined entries with their reasons (newest first)."""
    from ..store import ingest as repo
    choice(status, QUARANTINE_STATUSES, "--status", as_json)
    if limit < 1:
        fail(f"--limit {limit}: give 1 or more", Exit.USAGE, as_json=as_json)
    store = _store(as_json)
    with store.read() as conn:
        rows = repo.quarantine_list(conn, status=None if status == "all" else status, party=party, limit=limit)
        counts = repo.quarantine_counts(conn)
    if as_json:
        emit_json({"counts": counts, "entries": [quarantine_json(r) for r in rows]})
        return
    t = Table(title=f"Quarantine ({status}): {len(rows)} shown; " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    for col in ("id", "message", "format", "party", "kind", "reason"):
        t.add_column(col)
    for r in rows:
        t.add_row(str(r.id), r.message_id[:12], r.format, r.source_party, r.kind, r.reason)
    out.print(t)


def q_show(entry_id: int = typer.Argument(..., help="The quarantine entry id."), as_json: bool = JsonOpt) -> None:
    """Show one entry: the reason, its detail and the raw message it came from."""
    from ..store import ingest as repo
    store = _store(as_json)
    with store.read() as conn:
        r = repo.quarantine_get(conn, entry_id)
        if r is None:
            fail(f"no quarantine entry {entry_id}", Exit.NOT_FOUND, as_json=as_json)
        doc = quarantine_json(r, repo.get_raw(conn, r.message_id), with_content=True)
    if as_json:
        emit_json(doc)
        return
    out.print(f"[bold]#{doc['id']}[/bold] {doc['status']} ({doc['kind']}, {doc['attempts']} replays)")
    out.print(f"reason:  {doc['reason']}", highlight=False)
    out.print(f"message: {doc['message_id']} {doc['format']} from {doc['source_party'] or '?'} "
              f"({doc['message']['filename'] or 'no file name'}, received {doc['message']['received_at']})",
              highlight=False)
    if doc["detail"]:
        out.print_json(data=doc["detail"])
    out.print(doc["message"]["content"], highlight=False, markup=False)


def replay_messages(store, message_ids: list[str]) -> list[dict]:
    """Replay kept messages; returns one outcome JSON each.

    Each is judged as its post was (`Ingestor.replay`): a message its sender posted under its
    own posting rights is held to them again, though the command line itself may post anything;
    each sender's rights are read once per run."""
    from ..ingest.service import Ingestor
    ingestor = Ingestor(store)
    kept: dict = {}
    return [ingestor.replay(mid, kept_rights=kept).as_json() for mid in message_ids]


def q_replay(ids: list[str] = typer.Argument(None, help="Quarantine entry ids or raw message ids."),
             all_open: bool = typer.Option(False, "--all", help="Replay every message with open entries."),
             as_json: bool = JsonOpt) -> None:
    """Process messages again after an alias or mapping fix; nothing is ever stored twice."""
    from ..store import ingest as repo
    if not ids and not all_open:
        fail("name quarantine entry ids or message ids, or use --all", Exit.USAGE, as_json=as_json)
    store = _store(as_json)
    mids: list[str] = []
    with store.read() as conn:
        if all_open:
            mids += repo.quarantine_messages(conn, "open")
        for i in ids or []:
            if i.isdigit() and len(i) < 64:
                r = repo.quarantine_get(conn, int(i))
                if r is None:
                    fail(f"no quarantine entry {i}", Exit.NOT_FOUND, as_json=as_json)
                mids.append(r.message_id)
            elif repo.get_raw(conn, i) is not None:
                mids.append(i)
            else:
                fail(f"no quarantine entry or message {i}", Exit.NOT_FOUND, as_json=as_json)
    mids = list(dict.fromkeys(mids))
    outcomes = replay_messages(store, mids)
    doc = {"replayed": len(outcomes), "stored": sum(o["stored"] for o in outcomes),
           "duplicates": sum(o["duplicates"] for o in outcomes),
           "quarantined": sum(o["quarantined"] for o in outcomes), "messages": outcomes}
    if as_json:
        emit_json(doc)
        return
    err.print(f"replayed {doc['replayed']} message(s): {doc['stored']} stored, {doc['duplicates']} duplicates, "
              f"{doc['quarantined']} still quarantined")
    for o in outcomes:
        for r in o["reasons"][:5]:
            err.print(f"[yellow]still held[/yellow] {o['message_id'][:12]}: {r}", highlight=False, soft_wrap=True)


# --- aliases ----------------------------------------------------------------------------------

def resolve_alias_target(conn, kind: str, target: str) -> str:
    """The Corridor id an alias should point at; raises LookupError with the reason."""
    from ..store.parties import get_party, resolve_alias
    if kind == "location":
        loc = resolve_alias(conn, "location", target)
        if loc is None:
            raise LookupError(f"unknown location {target!r}: give a location id, UN/LOCODE or name")
        return loc
    if get_party(conn, target) is None:
        raise LookupError(f"unknown party {target!r}")
    return target


def alias_add(kind: str = typer.Argument(..., help="party | location | operator"),
              value: str = typer.Argument(..., help="The outside code or spelling (e.g. 708507, AZALY)."),
              target: str = typer.Argument(..., help="What it means: a party id, or a location id/LOCODE/name."),
              note: str = typer.Option("", help="Where the code comes from."),
              replay: bool = typer.Option(False, "--replay", help="Then replay every open quarantine entry."),
              replace: bool = typer.Option(False, "--replace", help="Re-point an alias that stands for something "
                                                                    "else (never a network code or name)."),
              as_json: bool = JsonOpt) -> None:
    """Map an outside code to a party or facility; replay quarantine to apply it.

    A code that already means something else is refused (exit status 5): a location's own code, id
    or name, another party's id or EDIFACT id always, an alias pointing elsewhere unless --replace.
    """
    from ..store.parties import AliasConflict, add_alias
    choice(kind, ALIAS_KINDS, "alias kind", as_json)
    if not value.strip():
        fail("the alias value is empty", Exit.INVALID, as_json=as_json)
    store = _store(as_json)
    with store.tx() as conn:
        try:
            resolved = resolve_alias_target(conn, kind, target)
        except LookupError as e:   # an unknown place is invalid input, as for `plan`; an unknown party is not found
            fail(str(e), Exit.INVALID if kind == "location" else Exit.NOT_FOUND, as_json=as_json)
        try:
            add_alias(conn, kind, value, resolved, note=note, replace=replace)
        except AliasConflict as e:
            hint = " (--replace re-points it)" if e.replaceable else ""
            fail(f"{e}{hint}", Exit.CONFLICT, as_json=as_json, existing=e.existing, replaceable=e.replaceable)
    doc: dict = {"kind": kind, "value": value, "target": resolved, "note": note}
    if replay:
        from ..store import ingest as repo
        with store.read() as conn:
            mids = repo.quarantine_messages(conn, "open")
        outcomes = replay_messages(store, mids)
        doc["replay"] = {"replayed": len(outcomes), "stored": sum(o["stored"] for o in outcomes),
                         "quarantined": sum(o["quarantined"] for o in outcomes)}
    if as_json:
        emit_json(doc)
        return
    err.print(f"[green]✓[/green] {kind} alias {value!r} → {resolved}", highlight=False)
    if replay:
        r = doc["replay"]
        err.print(f"replayed {r['replayed']} message(s): {r['stored']} stored, {r['quarantined']} still quarantined")
    else:
        err.print("replay what it explains with `corridor quarantine replay --all`")


def alias_list(kind: str = typer.Option(None, "--kind", help="party | location | operator"),
               as_json: bool = JsonOpt) -> None:
    """List the registry of outside codes."""
    from ..store.parties import all_aliases
    choice(kind, ALIAS_KINDS, "--kind", as_json)
    store = _store(as_json)
    with store.read() as conn:
        rows = all_aliases(conn, kind)
    if as_json:
        emit_json({"aliases": [{"kind": k, "value": v, "target": t, "note": n} for k, v, t, n in rows]})
        return
    t = Table(title=f"Aliases ({len(rows)})")
    for col in ("kind", "value", "target", "note"):
        t.add_column(col)
    for row in rows:
        t.add_row(*row)
    out.print(t)


def register(app: typer.Typer) -> None:
    app.command()(ingest)
    messages_app.command("list")(m_list)
    messages_app.command("show")(m_show)
    app.add_typer(messages_app, name="messages")
    quarantine_app.command("list")(q_list)
    quarantine_app.command("show")(q_show)
    quarantine_app.command("replay")(q_replay)
    app.add_typer(quarantine_app, name="quarantine")
    alias_app.command("add")(alias_add)
    alias_app.command("list")(alias_list)
    app.add_typer(alias_app, name="alias")
