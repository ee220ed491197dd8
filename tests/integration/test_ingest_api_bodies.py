"""What a sender's HTTP client may do to a body (both stores): chunked transfer past the size cap
(413), gzip/deflate content coding (decoded, within the cap: a gzip bomb is refused, not inflated),
codings we do not read (415), and bytes that are no text at all (kept and quarantined with the
reason, never a 500)."""

from __future__ import annotations

import gzip
import os
import random
import time
import zlib

import pytest

from corridor.domain.parties import Party, Role
from corridor.ingest.detect import detect_format
from corridor.store import ingest as repo

from test_ingest_api import ingest_client

CAP = 64 * 1024
HEADER = "event_type,event_code,classifier,event_time,location,equipment,size_type,mode\n"
BOXES = ("MSKU1234565", "TGHU7700030", "CSQU3054383")


def gate_csv(minute: int = 10) -> bytes:
    rows = [f"EQUIPMENT,GTIN,ACT,2026-03-02T08:{minute:02d}:00+05:00,KZAAU,{b},45G1,TRUCK\n" for b in BOXES]
    return (HEADER + "".join(rows)).encode()


@pytest.fixture
def api(loaded_store):
    client = ingest_client(loaded_store, [Party("PORTAKTAU", "Aktau Sea Port", frozenset({Role.TERMINAL}), "KZ",
                                                facilities=frozenset({"KZ_AKX"}))],
                           raise_server_exceptions=False, max_body_bytes=CAP)
    client.key = client.keys["PORTAKTAU"]
    return client


def _chunks(body: bytes, size: int = 1000):
    for i in range(0, len(body), size):
        yield body[i:i + size]


def test_a_chunked_body_past_the_cap_is_refused_while_read(api):
    body = gate_csv() + b"EQUIPMENT,GTIN,ACT,2026-03-02T08:10:00+05:00,KZAAU,MSKU1234565,45G1,TRUCK\n" * 2000
    assert len(body) > CAP
    r = api.post("/api/v1/messages", content=_chunks(body), headers=api.key)   # no Content-Length: chunked
    assert r.status_code == 413, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == 413 and str(CAP) in r.json()["detail"]
    with api.store.read() as conn:
        assert repo.pending_raw(conn) == [] and not repo.quarantine_list(conn, status=None)


def test_a_chunked_body_under_the_cap_goes_in_whole(api):
    r = api.post("/api/v1/messages", content=_chunks(gate_csv(), 7), headers=api.key)
    assert r.status_code == 200, r.text
    assert (r.json()["format"], r.json()["stored"], r.json()["quarantined"]) == ("csv", 3, 0)


@pytest.mark.parametrize("coding, pack", [
    ("gzip", gzip.compress),
    ("deflate", zlib.compress),                                                   # zlib-wrapped, as RFC 9110 says
    ("deflate", lambda b: (lambda c: c.compress(b) + c.flush())(zlib.compressobj(wbits=-15))),   # bare deflate
    ("deflate, gzip", lambda b: gzip.compress(zlib.compress(b))),                 # applied in that order
])
def test_compressed_bodies_are_decoded(api, coding, pack):
    r = api.post("/api/v1/messages", content=pack(gate_csv()), headers={**api.key, "Content-Encoding": coding})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert (doc["format"], doc["stored"], doc["quarantined"]) == ("csv", 3, 0)
    with api.store.read() as conn:
        assert bytes(repo.get_raw(conn, doc["message_id"]).content) == gate_csv()   # kept as sent, decoded


def test_a_gzip_bomb_is_refused_without_inflating_it(api):
    bomb = gzip.compress(b"0" * (64 * 1024 * 1024), 9)    # 64 MiB of zeros in 64 KiB: under the cap as sent
    assert len(bomb) < CAP
    t0 = time.monotonic()
    r = api.post("/api/v1/messages", content=bomb, headers={**api.key, "Content-Encoding": "gzip"})
    assert r.status_code == 413, r.text
    assert "decoded" in r.json()["detail"] and time.monotonic() - t0 < 5


def test_an_unknown_coding_is_415_and_broken_gzip_400(api):
    r = api.post("/api/v1/messages", content=gate_csv(), headers={**api.key, "Content-Encoding": "br"})
    assert r.status_code == 415 and r.headers["accept-encoding"] == "gzip, deflate", r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    for body in (gate_csv(), gzip.compress(gate_csv())[:-12]):      # not gzip; cut short
        r = api.post("/api/v1/messages", content=body, headers={**api.key, "Content-Encoding": "gzip"})
        assert r.status_code == 400 and "gzip" in r.json()["detail"], r.text


def _kept_and_held(api, r) -> dict:
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["quarantined"] >= 1 and doc["reasons"], doc
    with api.store.read() as conn:
        raw = repo.get_raw(conn, doc["message_id"])
        held = repo.quarantine_open_for(conn, doc["message_id"])
    assert raw is not None and raw.status == "quarantined" and held
    return doc


def test_a_csv_with_a_stray_byte_is_kept_and_quarantined_with_the_reason(api):
    body = gate_csv() + b"\x98"     # neither UTF-8 nor Windows-1251 (0x98 is unassigned there)
    assert detect_format(body) == "csv"
    doc = _kept_and_held(api, api.post("/api/v1/messages", content=body, headers=api.key))
    assert doc["format"] == "csv" and "0x98" in " ".join(doc["reasons"])


@pytest.mark.parametrize("path", ["/api/v1/messages", "/api/v1/events", "/api/v1/positions"])
def test_random_bytes_are_kept_and_quarantined_never_a_500(api, path):
    rnd = random.Random(path)
    for n in (1, 17, 4096):
        body = bytes(rnd.randrange(256) for _ in range(n)).replace(b" ", b"\x98") + b"\x98\xff"
        _kept_and_held(api, api.post(path, content=body, headers=api.key))


def test_detection_never_raises_on_bytes():
    rnd = random.Random(6346)
    for _ in range(2000):
        body = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 400)))
        assert detect_format(body) in ("edifact", "dcsa-json", "position-json", "csv", "unknown")
    assert detect_format(os.urandom(64 * 1024) + b"\x98") in ("csv", "unknown")
    assert detect_format(gate_csv().replace(b"KZAAU", b"\x98\x98")) == "csv"
