"""The whole ingest path against bare peers, in the same run.

    python bench/ingest.py [--events 20000] [--per-file 1000] [--edifact-files 200] [--no-pg]

- DCSA JSON and CSV events/s into SQLite through `Ingestor.ingest` (parse, registry, trips,
  de-duplication, raw kept, quarantine) vs a bare sqlite3 `executemany` of the very rows Corridor
  stored, into the same table with the same indexes (goal >= 0.3x).
- EDIFACT files/s through the ingest path vs pydifact's bare `Interchange.from_str` of the same
  files (goal >= 0.7x).
- PostgreSQL: DCSA JSON through the ingest path vs COPY of the same rows (goal >= 0.5x), and beside
  them the floor (FloorPeer): the least the issue asks of each file (raw kept, events validated,
  keyed, probed against the log, COPY), in bare psycopg and pydantic-core.
- Last, DCSA JSON -> SQLite again with the tracking hook wired (corridor.wiring.ensure_wired(): trip
  status, ETA, alerts and outbox in the ingest transaction), as `corridor ingest` and the API run it.

Both sides go file by file in turn (a file through Corridor, then its stored rows or its text
through the peer), so a change of load on a shared machine meets both alike; and both first take a
warm-up of other files (other containers) the same way, untimed, so lazy imports and first-use
caches fall outside the timed part on both sides.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from corridor.bootstrap import load_default_network  # noqa: E402
from corridor.domain.equipment import with_check_digit  # noqa: E402
from corridor.ingest.service import Ingestor  # noqa: E402
from corridor.store import Store  # noqa: E402
from corridor.store.tables import events as events_table  # noqa: E402

PLACES = ["CNXIA", "KZDOS", "KZAAU", "AZALA", "GEPTI", "TRIST"]
CODES = ["GTIN", "LOAD", "DISC", "GTOT"]
COLS = [c.name for c in events_table.columns if c.name != "seq"]


def _events(n: int, owner: str = "TGH"):
    """(container, code, time, place, booking) of n distinct equipment events over n/8 containers
    of one owner code (the warm-up uses another: its events never meet the timed ones)."""
    t0 = datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=5)))
    boxes = [with_check_digit(f"{owner}U{i:06d}") for i in range(max(1, n // 8))]
    return [(boxes[i % len(boxes)], CODES[(i // len(boxes)) % 4], t0 + timedelta(minutes=i), PLACES[i % 6],
             f"BK{owner}{i % len(boxes):06d}") for i in range(n)]


def dcsa_files(n: int, per: int, owner: str = "TGH") -> list[bytes]:
    items = [{"eventID": str(uuid.uuid4()), "eventType": "EQUIPMENT", "eventClassifierCode": "ACT",
              "eventDateTime": t.isoformat(), "eventCreatedDateTime": t.isoformat(), "equipmentEventTypeCode": c,
              "equipmentReference": box, "emptyIndicatorCode": "LADEN", "eventLocation": {"UNLocationCode": p},
              "documentReferences": [{"documentReferenceType": "BKG", "documentReferenceValue": b}]}
             for box, c, t, p, b in _events(n, owner)]
    return [json.dumps(items[i:i + per]).encode() for i in range(0, n, per)]


def csv_files(n: int, per: int, owner: str = "TGH") -> list[bytes]:
    head = "event_type,event_code,classifier,event_time,location,equipment,booking_ref\n"
    rows = [f"EQUIPMENT,{c},ACT,{t.isoformat()},{p},{box},{b}\n" for box, c, t, p, b in _events(n, owner)]
    return [(head + "".join(rows[i:i + per])).encode() for i in range(0, n, per)]


FILES = {"dcsa-json": dcsa_files, "csv": csv_files}


def edifact_files(n: int, groups: int = 20, owner: str = "TGH") -> list[bytes]:
    out = []
    ev = _events(n * groups, owner)
    for f in range(n):
        segs = [f"UNB+UNOC:3+BENCHPORT:ZZZ+CORRIDOR:ZZZ+260302:0810+{f}", f"UNH+1+CODECO:D:95B:UN:ITG14",
                "BGM+34+GI0001+9"]
        for box, _c, t, p, _b in ev[f * groups:(f + 1) * groups]:
            segs += [f"EQD+CN+{box}+45G1:102:5++2+5", f"DTM+7:{t:%Y%m%d%H%M}:203", f"LOC+165+{p}:139:6"]
        segs += [f"CNT+16:{groups}", f"UNT+{len(segs) - 1 + 1}+1", f"UNZ+1+{f}"]
        out.append(("UNA:+.? '" + "'".join(segs) + "'").encode())
    return out


def fresh_store(url: str) -> Store:
    s = Store(url)
    s.upgrade()
    load_default_network(s, days=2)
    from corridor.domain.parties import Party, Role
    from corridor.store.parties import upsert_party
    with s.tx() as conn:
        upsert_party(conn, Party("BENCH", "Bench port", frozenset({Role.TERMINAL}), edi_ids=("BENCHPORT",)))
    return s


def run_ingest(store: Store, files: list[bytes], fmt: str, party: str | None = "BENCH") -> tuple[float, int]:
    ing = Ingestor(store)
    t = time.perf_counter()
    stored = 0
    for content in files:
        o = ing.ingest(content, source_party=party, fmt=fmt)
        assert o.quarantined == 0, o.reasons[:3]
        stored += o.stored
    return time.perf_counter() - t, stored


def last_seq(store: Store) -> int:
    with store.read() as conn:
        return conn.exec_driver_sql("SELECT COALESCE(MAX(seq), 0) FROM events").scalar()


def stored_rows(store: Store, after: int = 0) -> list[tuple]:
    """The event rows Corridor stored after seq `after`, in append order."""
    with store.read() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(
            f"SELECT {','.join(COLS)} FROM events WHERE seq > {int(after)} ORDER BY seq")]


class SqlitePeer:
    """Bare sqlite3 on a copy of the migrated empty file: the same table and indexes, WAL."""

    def __init__(self, template: str, path: str):
        shutil.copyfile(template, path)
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.sql = f"INSERT INTO events ({','.join(COLS)}) VALUES ({','.join('?' * len(COLS))})"

    def insert(self, rows: list[tuple]) -> float:
        """Seconds to insert `rows` in one transaction."""
        t = time.perf_counter()
        self.db.execute("BEGIN IMMEDIATE")
        self.db.executemany(self.sql, rows)
        self.db.execute("COMMIT")
        return time.perf_counter() - t

    def close(self) -> None:
        self.db.close()


class CopyPeer:
    """psycopg COPY into the events table of a migrated empty PostgreSQL database."""

    def __init__(self, url: str):
        import psycopg
        s = Store(url)
        s.upgrade()
        s.dispose()
        self.db = psycopg.connect(url)
        self.sql = f"COPY events ({','.join(COLS)}) FROM STDIN"

    def insert(self, rows: list[tuple]) -> float:
        """Seconds to COPY `rows` in one transaction."""
        t = time.perf_counter()
        with self.db.cursor() as cur:
            with cur.copy(self.sql) as cp:
                for r in rows:
                    cp.write_row(r)
        self.db.commit()
        return time.perf_counter() - t

    def close(self) -> None:
        self.db.close()


class FloorPeer:
    """The least the issue asks of a DCSA file on PostgreSQL, in bare psycopg and pydantic-core:
    keep the raw message (sent in pipeline mode, so PostgreSQL stores it while Python goes on),
    validate every event against the 2.2 equipment-event shape (Rust, the JSON parsed with it),
    a content key per event (SHA-256), probe the log for known keys, COPY the new rows, mark the
    message done, commit. No trips, parties or attribution: a floor for
    any ingest path that keeps "nothing lost, nothing twice", measured beside Corridor's."""

    def __init__(self, url: str):
        import psycopg
        from typing import Annotated, Literal

        from pydantic import AwareDatetime, StringConstraints, TypeAdapter
        from typing_extensions import NotRequired, TypedDict
        s = Store(url)
        s.upgrade()
        s.dispose()
        self.db = psycopg.connect(url)
        uuid_text = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")]
        loc = TypedDict("Loc", {"UNLocationCode": Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}[A-Z2-9]{3}$")]})
        doc = TypedDict("Doc", {"documentReferenceType": Literal["BKG", "TRD"],
                                "documentReferenceValue": Annotated[str, StringConstraints(max_length=100)]})
        event = TypedDict("Event", {
            "eventID": uuid_text, "eventType": Literal["EQUIPMENT"], "eventClassifierCode": Literal["ACT", "EST", "PLN"],
            "eventDateTime": AwareDatetime, "eventCreatedDateTime": AwareDatetime,
            "equipmentEventTypeCode": Literal["LOAD", "DISC", "GTIN", "GTOT", "STUF", "STRP", "PICK", "DROP", "INSP",
                                              "RSEA", "RMVD"],
            "equipmentReference": Annotated[str, StringConstraints(max_length=15)],
            "emptyIndicatorCode": Literal["EMPTY", "LADEN"], "eventLocation": NotRequired[loc],
            "documentReferences": NotRequired[list[doc]]})
        self.events = TypeAdapter(list[event])
        self.copy_sql = f"COPY events ({','.join(COLS)}) FROM STDIN"
        self.at = {c: i for i, c in enumerate(COLS)}

    @staticmethod
    def _key(parts) -> str:
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]

    def ingest(self, content: bytes, received: datetime) -> tuple[float, int]:
        """(seconds, rows stored) for one file."""
        t = time.perf_counter()
        mid = hashlib.sha256(content).hexdigest()
        db, at, key = self.db, self.at, self._key
        # pipeline mode: PostgreSQL stores the raw message while Python validates and keys the events
        pipeline = db.pipeline()
        pipeline.__enter__()
        db.execute("INSERT INTO raw_messages (id, format, source_party, received_at, size, content, status, stored, "
                   "duplicates, rejected, checked) VALUES (%s, 'dcsa-json', 'BENCH', %s, %s, %b, 'pending', 0, 0, 0, "
                   "false) ON CONFLICT (id) DO NOTHING", (mid, received, len(content), content))
        base = [None] * len(COLS)
        base[at["kind"]], base[at["source_party"]], base[at["parties"]] = "EQUIPMENT", "BENCH", '["BENCH"]'
        base[at["message_id"]], base[at["received_at"]], base[at["extra"]] = mid, received, '{"dcsa_version":"2.2"}'
        (i_dedup, i_mile, i_code, i_cls, i_time, i_off, i_loc, i_box, i_empty, i_bkg, i_refs, i_made,
         i_id) = (at[c] for c in ("dedup_key", "milestone_key", "code", "classifier", "event_time", "event_offset",
                                  "location", "equipment", "empty", "booking_ref", "refs", "created_at", "event_id"))
        rows, keys = [], []
        for e in self.events.validate_json(content):
            place = e["eventLocation"]["UNLocationCode"] if "eventLocation" in e else None
            bkg = next((d["documentReferenceValue"] for d in e.get("documentReferences", ())
                        if d["documentReferenceType"] == "BKG"), None)
            when = e["eventDateTime"]
            milestone = key(("EQUIPMENT", e["equipmentEventTypeCode"], e["eventClassifierCode"],
                             e["equipmentReference"], place or "", ""))
            dedup = key((milestone, when.astimezone(timezone.utc).isoformat(), "", ""))
            r = base.copy()
            r[i_dedup], r[i_mile], r[i_code], r[i_cls] = dedup, milestone, e["equipmentEventTypeCode"], e["eventClassifierCode"]
            r[i_time], r[i_off], r[i_loc], r[i_box] = when, int(when.utcoffset().total_seconds() // 60), place, e["equipmentReference"]
            r[i_empty], r[i_bkg], r[i_made], r[i_id] = e["emptyIndicatorCode"] == "EMPTY", bkg, e["eventCreatedDateTime"], e["eventID"]
            r[i_refs] = json.dumps([["BKG", bkg]]) if bkg else "[]"
            rows.append(r)
            keys.append(dedup)
        probe = db.execute("SELECT e.dedup_key FROM unnest(%s::text[]) AS k(v), "
                           "LATERAL (SELECT dedup_key FROM events WHERE dedup_key = k.v LIMIT 1) AS e",
                           ("{" + ",".join(keys) + "}",), prepare=False)
        pipeline.__exit__(None, None, None)   # (COPY cannot run in pipeline mode)
        known = {k for (k,) in probe.fetchall()}
        stored = 0
        with db.cursor() as cur, cur.copy(self.copy_sql) as cp:
            for k, r in zip(keys, rows):
                if k not in known:
                    cp.write_row(r)
                    stored += 1
        db.execute("UPDATE raw_messages SET status = 'processed', stored = %s WHERE id = %s", (stored, mid))
        db.commit()
        return time.perf_counter() - t, stored

    def close(self) -> None:
        self.db.close()


def sqlite_peer(template: str, path: str, rows: list[tuple], chunk: int) -> float:
    """Seconds for bare sqlite3 to insert `rows` in transactions of `chunk` (bench/event_store.py)."""
    peer = SqlitePeer(template, path)
    try:
        return sum(peer.insert(rows[i:i + chunk]) for i in range(0, len(rows), chunk))
    finally:
        peer.close()


def pg_db(admin_url: str, name: str) -> str:
    import psycopg
    with psycopg.connect(admin_url, autocommit=True) as a:
        a.execute(f'DROP DATABASE IF EXISTS "{name}"')
        a.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + "/" + name


def side_by_side(store: Store, fmt: str, files: list[bytes], warm: list[bytes], peer,
                 party: str | None = "BENCH") -> tuple[float, float, int, int]:
    """(our seconds, the peer's seconds, events stored, rows the peer inserted).

    File by file in turn: the file through the ingest path, then the rows it stored (read untimed)
    through the peer in one transaction, so a change of load on a shared machine meets both sides
    alike. The warm-up files go first the same way, untimed.
    """
    ing = Ingestor(store)
    seq = last_seq(store)
    ours = theirs = 0.0
    stored = rows_in = 0
    for i, content in enumerate(warm + files):
        t = time.perf_counter()
        o = ing.ingest(content, source_party=party, fmt=fmt)
        dt = time.perf_counter() - t
        assert o.quarantined == 0, o.reasons[:3]
        rows = stored_rows(store, seq)
        seq = last_seq(store)
        pt = peer.insert(rows)
        if i >= len(warm):
            ours, theirs, stored, rows_in = ours + dt, theirs + pt, stored + o.stored, rows_in + len(rows)
    peer.close()
    return ours, theirs, stored, rows_in


def pg_side_by_side(store: Store, files: list[bytes], warm: list[bytes], copy: CopyPeer,
                    floor: FloorPeer) -> tuple[float, float, float, int]:
    """(our seconds, COPY's, the floor's, events stored): as side_by_side, each file through the
    ingest path, then through the floor (its own database), then Corridor's rows through COPY."""
    ing = Ingestor(store)
    seq = last_seq(store)
    ours = theirs = least = 0.0
    stored = 0
    for i, content in enumerate(warm + files):
        received = datetime.now(timezone.utc)
        t = time.perf_counter()
        o = ing.ingest(content, source_party="BENCH", fmt="dcsa-json", received_at=received)
        dt = time.perf_counter() - t
        assert o.quarantined == 0, o.reasons[:3]
        ft, fstored = floor.ingest(content, received)
        assert fstored == o.stored, (fstored, o.stored)
        rows = stored_rows(store, seq)
        seq = last_seq(store)
        pt = copy.insert(rows)
        if i >= len(warm):
            ours, theirs, least, stored = ours + dt, theirs + pt, least + ft, stored + o.stored
    copy.close()
    floor.close()
    return ours, theirs, least, stored


def line(label: str, n: int, dt: float, unit: str = "events") -> None:
    print(f"  {label:<52}: {n / dt:>10,.0f} {unit}/s  ({dt:.2f} s)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--per-file", type=int, default=1_000)
    ap.add_argument("--edifact-files", type=int, default=200)
    ap.add_argument("--pg", default=os.environ.get("CORRIDOR_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--no-pg", action="store_true")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="corridor-bench-ingest-")
    template = os.path.join(tmp, "template.db")
    Store(f"sqlite:///{template}").upgrade()
    n, per = a.events, a.per_file
    warm_n = 2 * per   # two files of other containers, the same size as the timed ones
    print(f"ingest path, {n:,} events in files of {per:,} (SQLite WAL; peers: same table and indexes; "
          f"file by file in turn, after a warm-up of {warm_n:,} other events on both sides)")
    for fmt, make in FILES.items():
        s = fresh_store(f"sqlite:///{tmp}/{fmt}.db")
        ours, peer, stored, _ = side_by_side(s, fmt, make(n, per), make(warm_n, per, owner="WRM"),
                                             SqlitePeer(template, f"{tmp}/{fmt}-peer.db"))
        s.dispose()
        assert stored == n, (stored, n)
        line(f"corridor ingest {fmt}", n, ours)
        line("peer: bare sqlite3 executemany of the same rows", n, peer)
        print(f"  ratio {fmt}: {peer / ours:.2f}x (goal >= 0.3x)")

    from pydifact.segmentcollection import Interchange
    files = edifact_files(a.edifact_files)
    warm = edifact_files(max(2, a.edifact_files // 10), owner="WRM")
    s = fresh_store(f"sqlite:///{tmp}/edifact.db")
    ing = Ingestor(s)
    ours = peer = 0.0
    stored = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # pydifact warns per segment that it has no XML schema to check
        for i, content in enumerate(warm + files):   # file by file in turn, as side_by_side
            t = time.perf_counter()
            list(Interchange.from_str(content.decode("latin-1")).segments)
            pt = time.perf_counter() - t
            t = time.perf_counter()
            o = ing.ingest(content, fmt="edifact")
            dt = time.perf_counter() - t
            assert o.quarantined == 0, o.reasons[:3]
            if i >= len(warm):
                ours, peer, stored = ours + dt, peer + pt, stored + o.stored
    s.dispose()
    print(f"EDIFACT CODECO, {len(files)} files of 20 containers ({stored:,} events stored; "
          f"file by file in turn, after {len(warm)} other files on both sides)")
    line("corridor ingest edifact (parse + store)", len(files), ours, "files")
    line("peer: pydifact Interchange.from_str", len(files), peer, "files")
    print(f"  ratio edifact: {peer / ours:.2f}x (goal >= 0.7x)")

    if not a.no_pg:
        try:
            url = pg_db(a.pg, "corridor_bench_ingest")
            peer_url = pg_db(a.pg, "corridor_bench_copy")
        except Exception as e:  # noqa: BLE001
            print(f"PostgreSQL skipped: {e}")
        else:
            floor_url = pg_db(a.pg, "corridor_bench_floor")
            s = fresh_store(url)
            ours, peer, floor, stored = pg_side_by_side(s, dcsa_files(n, per), dcsa_files(warm_n, per, owner="WRM"),
                                                        CopyPeer(peer_url), FloorPeer(floor_url))
            s.dispose()
            assert stored == n, (stored, n)
            print(f"PostgreSQL, {n:,} DCSA events")
            line("corridor ingest dcsa-json", n, ours)
            line("peer: COPY of the same rows", n, peer)
            line("floor: raw kept, validated, keyed, probed, COPY", n, floor)
            print(f"  ratio postgresql: {peer / ours:.2f}x (goal >= 0.5x); the floor's own: {peer / floor:.2f}x; "
                  f"corridor at {floor / ours:.2f}x of the floor")

    # production runs the ingest path with the tracking hook wired; it stays wired from here on
    from corridor.wiring import ensure_wired
    ensure_wired()
    s = fresh_store(f"sqlite:///{tmp}/dcsa-wired.db")
    ours, peer, stored, rows = side_by_side(s, "dcsa-json", dcsa_files(n, per), dcsa_files(warm_n, per, owner="WRM"),
                                            SqlitePeer(template, f"{tmp}/dcsa-wired-peer.db"))
    s.dispose()
    assert stored == n, (stored, n)
    print(f"DCSA JSON -> SQLite with the tracking hook wired (as `corridor ingest` and the API run; "
          f"{rows - n:,} derived EST/alert events among the rows)")
    line("corridor ingest dcsa-json + tracking", n, ours)
    line("peer: bare sqlite3 executemany of the same rows", n, peer)
    print(f"  ratio dcsa-json wired: {peer / ours:.2f}x (the goal is set on the unwired line above)")


if __name__ == "__main__":
    main()
