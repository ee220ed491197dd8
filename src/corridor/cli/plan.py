"""`corridor plan | book | bookings | departures`: quotes, bookings and how full departures are."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timezone

import typer
from rich.table import Table

from .common import Exit, JsonOpt, emit_json, err, fail, out

FromOpt = typer.Option(..., "--from", help="Origin: UN/LOCODE (CNXIA) or name (Xi'an).")
ToOpt = typer.Option(..., "--to", help="Destination: UN/LOCODE or name.")
ContainersOpt = typer.Option("1x40", "--containers", "-c", help="e.g. 2x40, 1x20,3x40HC or 2x45G1.")
ReadyOpt = typer.Option(None, "--ready", help="Cargo-ready date YYYY-MM-DD or ISO 8601 time (default: now); "
                        "today means from now, a past date is refused.")
SuezOpt = typer.Option(True, "--suez/--no-suez", help="Show the sea route through the Suez Canal, marked "
                       "restricted, beside the one round the Cape (default), or leave it out.")


@contextmanager
def _service(as_json: bool):
    """A BookingService on CORRIDOR_DATABASE_URL; domain errors become exit codes with the reason."""
    from ..booking.service import BookingNotFound, BookingService, NoRoute, SpaceUnavailable
    from ..domain.errors import AmbiguousPlace, CapacityExceeded, DomainError, InvalidTransition, UnknownPlace
    from ..settings import get_settings
    from ..store import open_store
    store = open_store(get_settings().database_url)
    if not store.is_reachable():
        fail(f"database not reachable: {store.engine.url.render_as_string(hide_password=True)}",
             Exit.UNAVAILABLE, as_json=as_json)
    try:
        svc = BookingService(store, clock=lambda: datetime.now(timezone.utc))
        yield svc
    except UnknownPlace as e:   # AmbiguousPlace included: answered with the candidates, not a guess
        kind = "ambiguous place" if isinstance(e, AmbiguousPlace) else "unknown place"
        fail(str(e), Exit.INVALID, as_json=as_json, kind=kind, candidates=e.candidates)
    except SpaceUnavailable as e:
        alts = [o.as_json(svc.network) for o in e.alternatives]
        if alts and not as_json:
            err.print("Alternatives with room: " + "; ".join(
                f"{a['route']} departing {a['departure']}" for a in alts[:3]), soft_wrap=True)
        fail(str(e), Exit.CONFLICT, as_json=as_json, departure_id=e.departure_id, free_teu=e.free_teu,
             alternatives=alts)
    except (CapacityExceeded, InvalidTransition) as e:
        fail(str(e), Exit.CONFLICT, as_json=as_json)
    except (BookingNotFound, NoRoute) as e:
        fail(str(e), Exit.NOT_FOUND, as_json=as_json)
    except DomainError as e:
        fail(str(e), Exit.INVALID, as_json=as_json)
    finally:
        store.dispose()


def _quote(svc, origin: str, destination: str, containers: str, ready: str | None, suez: bool = True):
    from ..booking.containers import parse_containers
    from ..booking.service import ready_time
    at = ready_time(svc.network, origin, ready) if ready else svc.clock().astimezone(svc.network.resolve(origin).tz)
    return svc.quote(origin, destination, at, parse_containers(containers), suez=suez)


def _local(t: str) -> str:
    """'2026-12-02 02:30 +08:00' from an ISO time: readable with its offset."""
    dt = datetime.fromisoformat(t)
    off = dt.strftime("%z")
    return f"{dt:%Y-%m-%d %H:%M} {off[:3]}:{off[3:]}"


def _options_table(q, svc) -> Table:
    from ..booking.containers import describe
    net = svc.network
    t = Table(title=f"{net.locations[q.origin].name} → {net.locations[q.destination].name}: "
                    f"{describe(q.containers)} ({q.teu} TEU), ready {q.ready_at:%Y-%m-%d}")
    for col, just in (("#", "right"), ("corridor", "left"), ("route", "left"), ("departs", "left"),
                      ("arrives", "left"), ("days", "right"), ("price", "right"), ("t CO2e", "right"),
                      ("legs", "right")):
        t.add_column(col, justify=just)
    for o in q.options:
        doc = o.as_json(net)
        # the stops that make the variant: ports and borders between origin and destination
        via = [net.locations[s].ref for s in o.stops[1:-1]
               if net.locations[s].facility_type.value in ("POTE", "BOCR", "WAYP")]
        t.add_row(str(o.number), doc["route"].split(":")[0], "via " + ", ".join(via) if via else "direct",
                  _local(doc["departure"]), _local(doc["arrival"]), f"{doc['transit_days']:.1f}",
                  str(o.price), f"{o.co2e_kg / 1000:.2f}", str(len(o.legs)))
    return t


def plan(origin: str = FromOpt, destination: str = ToOpt, containers: str = ContainersOpt,
         ready: str = ReadyOpt, suez: bool = SuezOpt, as_json: bool = JsonOpt) -> None:
    """Route options (Middle Corridor and its Northern/Sea alternatives) with price and CO2e."""
    with _service(as_json) as svc:
        q = _quote(svc, origin, destination, containers, ready, suez)
        if as_json:
            emit_json(q.as_json(svc.network))
            return
        out.print(_options_table(q, svc))
        from ..booking.quotes import FAMILY_NAMES
        for o in q.options:
            if o.restriction:
                out.print(f"Option {o.number} is restricted: {o.restriction}.")
        for fam, why in q.not_offered:
            out.print(f"No {FAMILY_NAMES[fam]} option: {why}.")
        err.print("Book one with: corridor book --from … --to … --containers … --ready … --option N --shipper PARTY")


def book(origin: str = FromOpt, destination: str = ToOpt, containers: str = ContainersOpt,
         ready: str = ReadyOpt, option: int = typer.Option(1, "--option", "-o", help="Option number from `plan`."),
         suez: bool = SuezOpt,
         shipper: str = typer.Option(..., "--shipper", help="Party id of the shipper."),
         forwarder: str = typer.Option(None, "--forwarder", help="Party id of the forwarder."),
         nominate: list[str] = typer.Option([], "--nominate", help="Another party that may see it (repeatable)."),
         hold: bool = typer.Option(False, "--hold", help="Hold the space as requested, confirm later."),
         as_json: bool = JsonOpt) -> None:
    """Book option N of a plan: space on every leg is reserved in one transaction, or none is."""
    from ..booking.service import booking_json
    with _service(as_json) as svc:
        q = _quote(svc, origin, destination, containers, ready, suez)
        rec = svc.book_option(shipper, q, option, forwarder=forwarder, nominated=nominate, created_by=shipper,
                              confirm=not hold)
        doc = booking_json(rec, svc.network)
        if as_json:
            emit_json(doc)
            return
        out.print(f"[bold]{doc['ref']}[/bold] {doc['status']}: {doc['route']}", highlight=False)
        out.print(f"departs {_local(doc['departure'])}, arrives {_local(doc['arrival'])}, "
                  f"USD {doc['price']['amount']:,.2f}, {doc['co2e_kg'] / 1000:.2f} t CO2e", highlight=False)


def bookings(status: str = typer.Option(None, "--status", help="requested, confirmed, in_transit, delivered, cancelled."),
             party: str = typer.Option(None, "--party", help="Show only what this party may see."),
             limit: int = typer.Option(100, "--limit", min=1), as_json: bool = JsonOpt) -> None:
    """Bookings, newest first."""
    from ..access.visibility import viewer_for
    from ..booking.service import BookingNotFound, booking_json
    from ..store.parties import get_party
    with _service(as_json) as svc:
        viewer = None
        if party:
            with svc.store.read() as conn:
                p = get_party(conn, party)
                if p is None:
                    raise BookingNotFound(f"no party {party!r}")
                viewer = viewer_for(conn, p)
        docs = [booking_json(r, svc.network) for r in svc.list(viewer, status=status, limit=limit)]
        if as_json:
            emit_json({"bookings": docs})
            return
        t = Table(title=f"Bookings ({len(docs)})")
        for col in ("ref", "status", "shipper", "from", "to", "TEU", "departs", "arrives", "USD"):
            t.add_column(col)
        for d in docs:
            t.add_row(d["ref"], d["status"], d["shipper"], d["origin"], d["destination"], str(d["teu"]),
                      _local(d["departure"]) if d["departure"] else "", _local(d["arrival"]) if d["arrival"] else "",
                      f"{d['price']['amount']:,.0f}")
        out.print(t)


def departures(origin: str = typer.Option(None, "--from", help="Departing from (UN/LOCODE or name)."),
               destination: str = typer.Option(None, "--to", help="Going to (UN/LOCODE or name)."),
               start: str = typer.Option(None, "--start", help="From this date/time (default now)."),
               days: int = typer.Option(14, "--days", min=1, help="How many days ahead."),
               limit: int = typer.Option(50, "--limit", min=1), as_json: bool = JsonOpt) -> None:
    """Departures with how full each is (reserved and free TEU)."""
    from datetime import timedelta
    from ..booking.service import departure_json, ready_time
    with _service(as_json) as svc:
        t0 = ready_time(svc.network, origin or "CNXIA", start, "--start") if start else datetime.now(timezone.utc)
        rows = svc.departures(origin, destination, t0, t0 + timedelta(days=days), limit=limit)
        docs = [departure_json(d, n, svc.network) for d, n in rows]
        if as_json:
            emit_json({"departures": docs})
            return
        t = Table(title=f"Departures{' from ' + origin if origin else ''}{' to ' + destination if destination else ''}")
        for col in ("id", "service", "from", "to", "departs", "arrives", "TEU", "reserved", "free", "full", "status"):
            t.add_column(col)
        for d in docs:
            full = f"{d['load_factor'] * 100:.0f} %" if d["load_factor"] is not None else ""
            t.add_row(d["id"], d["service"], d["from"], d["to"], _local(d["departure"]), _local(d["arrival"]),
                      str(d["capacity_teu"]), str(d["reserved_teu"]), str(d["free_teu"]), full, d["status"])
        out.print(t)


def register(app: typer.Typer) -> None:
    app.command()(plan)
    app.command()(book)
    app.command()(bookings)
    app.command()(departures)
