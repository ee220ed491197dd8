"""`corridor party add|list` and `corridor key create|list|revoke`."""

from __future__ import annotations

from typing import List

import typer
from rich.table import Table

from .common import Exit, JsonOpt, emit_json, err, fail, out, when

party_app = typer.Typer(help="Parties (organisations) and their roles.", no_args_is_help=True)
key_app = typer.Typer(help="API keys: stored hashed, shown once, scoped, revocable, expiring.", no_args_is_help=True)


def _store():
    from ..settings import get_settings
    from ..store import open_store
    return open_store(get_settings().database_url)


def party_add(party_id: str = typer.Argument(..., help="Short stable id, e.g. KTZ"),
              name: str = typer.Option(..., help="Organisation name"),
              role: List[str] = typer.Option(..., "--role", help="shipper, forwarder, railway, terminal, "
                                             "ferry_operator, authority, admin (repeatable)"),
              country: str = typer.Option(None, help="ISO country (authorities: whose movements they see)"),
              facility: List[str] = typer.Option([], "--facility", help="Location operated (code or id; repeatable)"),
              service: List[str] = typer.Option([], "--service", help="Service or link operated (repeatable)"),
              edi_id: List[str] = typer.Option([], "--edi-id", help="EDIFACT interchange id (repeatable)"),
              as_json: bool = JsonOpt) -> None:
    """Create or replace a party."""
    from ..domain.parties import Party, Role
    from ..store import parties as ps
    from ..store.network import load_network
    try:
        roles = frozenset(Role(r) for r in role)
    except ValueError as e:
        fail(f"{e}; roles are: {', '.join(r.value for r in Role)}", Exit.INVALID, as_json=as_json)
    try:   # the same rules as the API's: well-formed id, a name, an ISO country
        ps.check_party(Party(party_id, name, roles, country, edi_ids=tuple(edi_id)))
    except ps.InvalidParty as e:
        fail(str(e), Exit.INVALID, as_json=as_json)
    store = _store()
    with store.tx() as conn:
        net = load_network(conn)
        facs = set()
        for f in facility:
            try:
                facs.add(net.resolve(f).id if net else f)
            except ValueError as e:
                fail(str(e), Exit.INVALID, as_json=as_json)
        p = Party(party_id, name, roles, country, frozenset(facs), frozenset(service), tuple(edi_id))
        try:
            ps.upsert_party(conn, p)
        except ps.AliasConflict as e:   # an EDIFACT id another party holds: its messages would come here
            fail(str(e), Exit.CONFLICT, as_json=as_json, existing=e.existing)
    doc = {"id": p.id, "name": p.name, "roles": sorted(r.value for r in p.roles), "country": p.country,
           "facilities": sorted(p.facilities), "services": sorted(p.services), "edi_ids": list(p.edi_ids)}
    emit_json(doc) if as_json else err.print(f"[green]✓[/green] party {p.id} saved")


def party_list(as_json: bool = JsonOpt) -> None:
    """List the parties."""
    from ..store import parties as ps
    with _store().read() as conn:
        items = ps.list_parties(conn)
    docs = [{"id": p.id, "name": p.name, "roles": sorted(r.value for r in p.roles), "country": p.country,
             "facilities": sorted(p.facilities)} for p in items]
    if as_json:
        emit_json({"parties": docs})
        return
    t = Table(title="Parties")
    for c in ("id", "name", "roles", "country", "facilities"):
        t.add_column(c)
    for d in docs:
        t.add_row(d["id"], d["name"], ", ".join(d["roles"]), d["country"] or "", ", ".join(d["facilities"]))
    out.print(t)


def key_create(party: str = typer.Option(..., help="The party the key acts for"),
               label: str = typer.Option("", help="What the key is for"),
               scope: List[str] = typer.Option(["read", "write"], "--scope", help="read, post (send data only), write (post, subscribe, book), admin"),
               expires: str = typer.Option(None, help="Expiry in the future (ISO date or date-time; UTC if no offset)"),
               as_json: bool = JsonOpt) -> None:
    """Create an API key; it is printed once and never stored in clear."""
    from ..access import keys
    from ..store import parties as ps
    try:
        scope = list(keys.check_scopes(scope))   # as the API checks them: known, at least one, once each
    except ValueError as e:
        fail(str(e), Exit.INVALID, as_json=as_json)
    expires_at = when(expires, "--expires", as_json, future=True)
    store = _store()
    with store.tx() as conn:
        if ps.get_party(conn, party) is None:
            fail(f"no party {party!r}; create it with `corridor party add`", Exit.NOT_FOUND, as_json=as_json)
        key = keys.create_key(conn, party, scopes=tuple(scope), label=label, expires_at=expires_at)
    if as_json:
        emit_json({"key": key, "id": keys.split(key)[0], "party_id": party, "scopes": scope,
                   "expires_at": expires_at})
    else:
        err.print("[bold yellow]API key (shown once):[/bold yellow]")
        typer.echo(key)


def key_list(party: str = typer.Option(None, help="Only this party's keys"), as_json: bool = JsonOpt) -> None:
    """List keys (ids, never secrets)."""
    from ..access import keys
    with _store().read() as conn:
        items = keys.list_keys(conn, party)
    docs = [{"id": k.key_id, "party_id": k.party_id, "label": k.label, "scopes": list(k.scopes),
             "created_at": k.created_at, "expires_at": k.expires_at, "revoked_at": k.revoked_at} for k in items]
    if as_json:
        emit_json({"keys": docs})
        return
    t = Table(title="API keys")
    for c in ("id", "party", "label", "scopes", "expires", "revoked"):
        t.add_column(c)
    for d in docs:
        t.add_row(d["id"], d["party_id"], d["label"], ",".join(d["scopes"]),
                  d["expires_at"].isoformat() if d["expires_at"] else "",
                  d["revoked_at"].isoformat() if d["revoked_at"] else "")
    out.print(t)


def key_revoke(key_id: str = typer.Argument(..., help="The key id (the part after cor_)"),
               as_json: bool = JsonOpt) -> None:
    """Revoke a key at once."""
    from ..access import keys
    store = _store()
    with store.tx() as conn:
        ok = keys.revoke(conn, key_id)
    if not ok:
        fail(f"no active key {key_id!r}", Exit.NOT_FOUND, as_json=as_json)
    emit_json({"id": key_id, "revoked": True}) if as_json else err.print(f"[green]✓[/green] key {key_id} revoked")


def register(app: typer.Typer) -> None:
    party_app.command("add")(party_add)
    party_app.command("list")(party_list)
    key_app.command("create")(key_create)
    key_app.command("list")(key_list)
    key_app.command("revoke")(key_revoke)
    app.add_typer(party_app, name="party")
    app.add_typer(key_app, name="key")
