"""`corridor track REF`: where a container or booking is, what happened, when it will arrive."""

from __future__ import annotations

from datetime import datetime

import typer
from rich.table import Table

from .common import Exit, JsonOpt, emit_json, err, fail, out


def track(ref: str = typer.Argument(..., help="Container number, trip id, booking, B/L, wagon, train or sailing."),
          as_json: bool = JsonOpt) -> None:
    """Show the timeline, position, ETA with its range, and alerts."""
    from ..domain.parties import ADMIN_PARTY, Party, Role
    from ..access.visibility import viewer_for
    from ..store import open_store
    from ..tracking import hooks, timeline  # noqa: F401 - registers the ingest steps for this process
    try:
        store = open_store()
        with store.read() as conn:
            v = viewer_for(conn, Party(ADMIN_PARTY, "local operator", frozenset({Role.ADMIN})))
            ref = _as_container(ref)
            trip_id = timeline.latest_trip(conn, ref, v)
            doc = timeline.trip_timeline(conn, trip_id, v) if trip_id else timeline.booking_timeline(conn, ref, v)
            if doc is None:
                hits = timeline.search(conn, ref, v)
                trip_ids = sorted({h["trip_id"] for h in hits if h.get("trip_id")})
                if len(trip_ids) == 1:
                    doc = timeline.trip_timeline(conn, trip_ids[0], v)
                elif trip_ids:
                    doc = {"ref": ref, "matches": hits}
    except Exception as e:  # noqa: BLE001 - the store may be unreachable
        if isinstance(e, typer.Exit):
            raise
        fail(f"cannot read the store: {e}", Exit.UNAVAILABLE, as_json=as_json)
    if doc is None:
        fail(f"nothing tracked under {ref!r}{_container_hint(ref)}", Exit.NOT_FOUND, as_json=as_json)
    if as_json:
        emit_json(doc)
        return
    if doc.get("plan") is not None:
        _print_plan(doc)
    for tl in doc.get("containers") or ([doc] if "milestones" in doc else []):
        _print_trip(tl)
    for h in doc.get("matches", []):
        out.print(f"{h['type']}: {h.get('equipment') or h['ref']} trip {h.get('trip_id')}")


def _as_container(ref: str) -> str:
    """A container number as typed ('msku 123456-5') in its normal form; any other reference as is."""
    from ..domain.equipment import InvalidEquipment, container_number
    try:
        return container_number(ref)
    except InvalidEquipment:
        return ref


def _container_hint(ref: str) -> str:
    """What is wrong with a reference that looks like a container number but is not one."""
    import re
    from ..domain.equipment import InvalidEquipment, container_number
    squeezed = re.sub(r"[\s\-/.]", "", ref).upper()
    if not re.fullmatch(r"[A-Z]{4}\d{6,7}", squeezed):
        return ""
    try:
        container_number(ref)
    except InvalidEquipment as e:
        return f" ({e})"
    return ""


def _short(iso: str | None) -> str:
    """'2026-11-06 14:30 +08' of an ISO time with its offset (seconds and zero offset minutes dropped)."""
    if not iso:
        return ""
    dt = datetime.fromisoformat(iso)
    off = dt.strftime("%z") or "+0000"
    return f"{dt:%Y-%m-%d %H:%M} {off[:3]}{'' if off[3:] == '00' else ':' + off[3:]}"


def _print_plan(doc: dict) -> None:
    """A booking's head and its booked departures (shown before any of its containers is reported too)."""
    b = doc.get("booking") or {}
    err.print(f"[bold]booking {doc['booking_ref']}[/bold] {b.get('origin', '?')} -> {b.get('destination', '?')}, "
              f"{b.get('status', '?')}, promised {_short(b.get('promised_arrival')) or '-'}, "
              f"{len(doc.get('containers') or [])} container(s) reported")
    t = Table(title="plan")
    for col in ("departure", "from", "departs", "to", "arrives"):
        t.add_column(col)
    for leg in doc["plan"]:
        t.add_row(leg["departure_id"], leg["from"], _short(leg["departs_at"]), leg["to"], _short(leg["arrives_at"]))
    out.print(t)


def _print_trip(tl: dict) -> None:
    st, eta = tl.get("status") or {}, tl.get("eta")
    err.print(f"[bold]{tl['equipment']}[/bold] trip {tl['trip_id']} booking {tl.get('booking_ref') or '-'}")
    err.print(f"  now: {st.get('state', '?')} at {st.get('location') or '?'} "
              f"{('on ' + st['vehicle']) if st.get('vehicle') else ''} since {st.get('since') or '?'}")
    if eta:
        err.print(f"  ETA {eta['eta']} (range {eta['low']} .. {eta['high']})")
    if tl.get("position"):
        pos = tl["position"]
        err.print(f"  position {pos['lat']:.4f},{pos['lon']:.4f} at {pos['at']} on {pos.get('leg') or '-'}")
    # the times the trip has, readable in a terminal's width: a column nobody reported is left out,
    # and a time breaks between its date and clock instead of being cut
    times = [k for k in ("planned", "estimated", "actual") if any(m[k] for m in tl["milestones"])]
    t = Table(title="milestones")
    for col in ("milestone", "where", "vehicle", *times):
        t.add_column(col)
    for m in tl["milestones"]:
        t.add_row(m["milestone"] + (" (border)" if m.get("border_crossing") else ""), m["location"] or "",
                  m["vehicle"] or "", *(_short(m[k]) for k in times))
    out.print(t)
    for a in tl["alerts"]:
        err.print(f"  [red]{a['code']}[/red] {a['at']}: {a['reason']}")


def register(app: typer.Typer) -> None:
    app.command("track")(track)
