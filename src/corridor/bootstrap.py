"""`corridor init`: migrate, load the default network and timetable, create the administrator key.

Idempotent: a second run changes nothing and says so. `serve` and `demo` call it first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import select

from .access import keys
from .domain.parties import ADMIN_PARTY, Party, Role
from .store import Store
from .store import network as netstore
from .store import parties as partystore
from .store.tables import api_keys


@dataclass
class InitReport:
    """What `init` did; `changed` is False when the database was already set up."""

    database: str
    revision_before: str | None
    revision_after: str | None
    network_loaded: bool = False
    locations: int = 0
    links: int = 0
    departures: int = 0
    admin_key_created: bool = False
    admin_key: str | None = None          # only when newly generated here: shown once
    actions: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.actions)

    def as_json(self) -> dict:
        return {"database": self.database, "changed": self.changed, "actions": self.actions,
                "revision": self.revision_after, "network_loaded": self.network_loaded,
                "locations": self.locations, "links": self.links, "departures": self.departures,
                "admin_key_created": self.admin_key_created, "admin_key": self.admin_key}


def timetable_window(today: date | None = None, days: int = 400) -> tuple[date, int]:
    """The default timetable starts a month back (history for the twin) and runs a year ahead."""
    today = today or datetime.now(timezone.utc).date()
    return today - timedelta(days=30), days


def load_default_network(store: Store, *, days: int = 400, start: date | None = None) -> tuple[int, int, int]:
    """Store the packaged network, its aliases and a generated timetable; returns counts."""
    from .network_file import load_network
    from .schedule import generate_timetable
    network = load_network()
    begin, days = (start, days) if start else timetable_window(days=days)
    deps = generate_timetable(network, begin, days=days)
    with store.tx() as conn:
        netstore.save_network(conn, network)
        for loc in network.locations.values():
            for alias in {loc.id, loc.code, loc.name, *loc.aliases} - {None, ""}:
                partystore.set_alias(conn, "location", alias, loc.id, note="default network")
        n = netstore.save_departures(conn, deps)
    return len(network.locations), len(network.links), n


def ensure_admin(store: Store, admin_key: str | None) -> tuple[bool, str | None]:
    """Make sure the administrator party and a key exist; returns (created, key shown once)."""
    with store.tx() as conn:
        if partystore.get_party(conn, ADMIN_PARTY) is None:
            partystore.upsert_party(conn, Party(ADMIN_PARTY, "Corridor administration", frozenset({Role.ADMIN})))
        if admin_key:
            key_id, _ = keys.split(admin_key)
            if conn.execute(select(api_keys.c.id).where(api_keys.c.id == key_id)).first():
                return False, None
            keys.create_key(conn, ADMIN_PARTY, scopes=("read", "write", "admin"), label="bootstrap (CORRIDOR_ADMIN_KEY)",
                            key=admin_key)
            return True, None
        has_admin = conn.execute(select(api_keys.c.id).where(api_keys.c.party_id == ADMIN_PARTY,
                                                            api_keys.c.revoked_at.is_(None))).first()
        if has_admin:
            return False, None
        return True, keys.create_key(conn, ADMIN_PARTY, scopes=("read", "write", "admin"), label="bootstrap")


def init_corridor(store: Store, admin_key: str | None = None, *, days: int = 400) -> InitReport:
    """Bring a database to a working state; safe to run again."""
    report = InitReport(database=store.engine.url.render_as_string(hide_password=True),
                        revision_before=store.current_revision(), revision_after=None)
    store.upgrade()
    report.revision_after = store.current_revision()
    if report.revision_after != report.revision_before:
        report.actions.append(f"migrated {report.revision_before or 'empty'} -> {report.revision_after}")
    with store.read() as conn:
        has_network = netstore.load_network(conn) is not None
    if not has_network:
        report.locations, report.links, report.departures = load_default_network(store, days=days)
        report.network_loaded = True
        report.actions.append(f"loaded default network ({report.locations} locations, {report.links} links, "
                              f"{report.departures} departures)")
    created, shown = ensure_admin(store, admin_key)
    if created:
        report.admin_key_created, report.admin_key = True, shown
        report.actions.append("created administrator key" + (" from CORRIDOR_ADMIN_KEY" if admin_key else ""))
    return report
