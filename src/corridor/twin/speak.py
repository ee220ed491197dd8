"""How the twin's parties speak: the messages real senders send, batched per sender and window.

Railways send CSV wagon reports (KTZ in its Russian export with ESR codes and local times), ports
EDIFACT (COARRI load/discharge, CODECO gate moves), ferry lines DCSA 2.2 JSON transport events,
port authorities storm notices. A window's container-level messages (loads, discharges, gate
moves: they build the consists) go out before its vehicle-level ones (train, wagon and sailing
moves), so the ingest path can expand every move to the containers on board.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable

from corridor.ingest.csvfmt import DEFAULT_HEADER

UTC = timezone.utc
KTZ_HEADER = ("Номер вагона,Номер контейнера,Код станции операции,Операция,Дата и время операции,"
              "Номер поезда,Номер накладной,Типоразмер,Гружёный/порожний")
KTZ_WORDS = {"LOAD": "Погрузка на вагон", "DISC": "Выгрузка из вагона", "ARRI": "Прибытие поезда",
             "DEPA": "Отправление поезда"}
PHASE_CONSIST, PHASE_MOVE = 0, 1
KTZ_CLOCK = timezone(timedelta(hours=5))


@dataclass(frozen=True, slots=True)
class Message:
    """One raw message as a sender would post it."""

    party: str                 # the sender's party id (None-equivalent for EDIFACT: the UNB says it)
    fmt: str                   # edifact | dcsa-json | csv | position-json
    content: bytes
    first_time: datetime
    records: int


@dataclass
class Outbox:
    """Records waiting for their window, grouped by (phase, sender, format, kind)."""

    pending: dict = field(default_factory=lambda: defaultdict(list))
    interchange: int = 0
    sent: int = 0

    def add(self, phase: int, party: str, fmt: str, kind: str, record: tuple) -> None:
        self.pending[(phase, party, fmt, kind)].append(record)

    def drain(self, edi_ids: dict[str, str]) -> list[Message]:
        """Every pending record as messages: consist-building ones first, then vehicle moves."""
        out: list[Message] = []
        for key in sorted(self.pending, key=lambda k: (k[0], min(r[0] for r in self.pending[k]))):
            phase, party, fmt, kind = key
            recs = sorted(self.pending[key], key=lambda r: r[0])
            self.interchange += 1
            content = _WRITERS[kind](recs, party, edi_ids.get(party, party), self.interchange)
            out.append(Message(party, fmt, content, recs[0][0], len(recs)))
        self.pending.clear()
        self.sent += len(out)
        return out


# ---- CSV --------------------------------------------------------------------------------------
def _csv_default(recs, party, edi, n) -> bytes:
    """Corridor's own CSV header: railways other than KTZ, and notices."""
    lines = [DEFAULT_HEADER]
    for (t, kind, code, loc, box, size, wagon, train, bkg, reason) in recs:
        lines.append(",".join((kind, code, "ACT", t.isoformat(timespec="minutes"), loc, box or "", size or "",
                               "LADEN" if box else "", "RAIL" if (wagon or train) else "", "", "", bkg or "", "",
                               wagon or "", train or "", "", "", "", (reason or "").replace(",", ";"), "")))
    return ("\n".join(lines) + "\n").encode()


def _csv_ktz(recs, party, edi, n) -> bytes:
    """KTZ's dislocation export: Russian headers, ESR/station codes, dd.mm.yyyy hh:mm at UTC+5."""
    lines = [KTZ_HEADER]
    for (t, kind, code, loc, box, size, wagon, train, bkg, reason) in recs:
        # the export's clock is Kazakhstan's (UTC+5) wherever the row is, Khorgos or Alashankou too
        t = t.astimezone(KTZ_CLOCK)
        lines.append(",".join((wagon or "", box or "", loc, KTZ_WORDS[code], t.strftime("%d.%m.%Y %H:%M"),
                               train or "", "", size or "", "гружёный" if box else "")))
    return ("\n".join(lines) + "\n").encode()


# ---- EDIFACT ----------------------------------------------------------------------------------
def _esc(v: str) -> str:
    return "".join("?" + c if c in "?+:'" else c for c in str(v))


def _dtm(q: str, t: datetime) -> str:
    off = int(t.utcoffset().total_seconds() // 60)
    sign = "+" if off >= 0 else "-"
    return f"DTM+{q}:{t:%Y%m%d%H%M}{sign}{abs(off) // 60:02d}{abs(off) % 60:02d}:303"


def _interchange(edi: str, n: int, t: datetime, messages: list[list[str]]) -> bytes:
    ref = f"TW{n:08d}"
    segs = ["UNA:+.? '", f"UNB+UNOC:3+{_esc(edi)}:ZZZ+CORRIDOR:ZZZ+{t:%y%m%d}:{t:%H%M}+{ref}"]
    for i, body in enumerate(messages, 1):
        segs.append(f"UNH+{i}+{body[0]}")
        segs.extend(body[1:])
        segs.append(f"UNT+{len(body) + 1}+{i}")
    segs.append(f"UNZ+{len(messages)}+{ref}")
    return (segs[0] + "'\n".join(segs[1:]) + "'\n").encode()


def _coarri(recs, party, edi, n) -> bytes:
    """COARRI D95B: one message per vessel call and direction; one EQD group per container."""
    calls = defaultdict(list)
    for r in recs:
        calls[(r[2], r[3], r[6], r[7])].append(r)   # code, locode, voyage, vessel
    msgs = []
    for j, ((code, loc, voyage, vessel), rs) in enumerate(calls.items()):
        body = ["COARRI:D:95B:UN:ITG13", f"BGM+{'46' if code == 'LOAD' else '44'}+{n}-{j}+9",
                _dtm("137", rs[0][0]),
                f"TDT+20+{_esc(voyage)}+1++{_esc(rs[0][9])}:172:20+++:103::{_esc(vessel)}",
                f"LOC+{'9' if code == 'LOAD' else '11'}+{loc}:139:6"]
        for (t, _k, _c, _l, box, size, _v, _ve, bkg, _op) in rs:
            body += [f"EQD+CN+{box}+{size}:102:5++5", f"RFF+BN:{_esc(bkg)}", _dtm("203", t)]
        msgs.append(body)
    return _interchange(edi, n, recs[0][0], msgs)


def _codeco(recs, party, edi, n) -> bytes:
    """CODECO D95B gate report: BGM 34 gate-in / 36 gate-out, LOC+165 terminal, DTM+7 per box."""
    by_code = defaultdict(list)
    for r in recs:
        by_code[(r[2], r[3])].append(r)
    msgs = []
    for j, ((code, loc), rs) in enumerate(by_code.items()):
        body = ["CODECO:D:95B:UN:ITG14", f"BGM+{'34' if code == 'GTIN' else '36'}+{n}-{j}+9",
                _dtm("137", rs[0][0])]
        for (t, _k, _c, _l, box, size, mode, _x, bkg, _y) in rs:
            body += [f"EQD+CN+{box}+{size}:102:5++5", f"RFF+BN:{_esc(bkg)}",
                     f"TDT+1++{'2' if mode == 'RAIL' else '3'}", f"LOC+165+{loc}:139:6", _dtm("7", t)]
        msgs.append(body)
    return _interchange(edi, n, recs[0][0], msgs)


# ---- DCSA JSON --------------------------------------------------------------------------------
def _dcsa(recs, party, edi, n) -> bytes:
    """DCSA Track & Trace 2.2 transport events (ARRI/DEPA of a sailing), as a carrier pushes them.

    The transportCallID is the Corridor timetable departure the sailing runs as, when known.
    """
    events = []
    for (t, _k, code, loc, voyage, vessel, imo, dep_id, _b, _c) in recs:
        events.append({
            "eventCreatedDateTime": t.isoformat(), "eventType": "TRANSPORT", "eventClassifierCode": "ACT",
            "eventDateTime": t.isoformat(), "transportEventTypeCode": code,
            "transportCall": {"transportCallID": dep_id or f"{voyage}-{loc}", "carrierVoyageNumber": voyage,
                              "UNLocationCode": loc, "facilityTypeCode": "POTE", "modeOfTransport": "VESSEL",
                              "vessel": {"vesselIMONumber": imo, "vesselName": vessel,
                                         "vesselOperatorCarrierCode": party}}})
    return json.dumps(events, ensure_ascii=False, separators=(",", ":")).encode()


def _positions(recs, party, edi, n) -> bytes:
    """Tracker fixes as a JSON array (device, container, time, lat, lon)."""
    return json.dumps([{"device": dev, "equipment": box, "time": t.isoformat(), "lat": round(lat, 5),
                        "lon": round(lon, 5)} for (t, _k, dev, box, lat, lon, *_r) in recs],
                      separators=(",", ":")).encode()


_WRITERS: dict[str, Callable] = {"csv": _csv_default, "csv-ktz": _csv_ktz, "coarri": _coarri,
                                 "codeco": _codeco, "dcsa": _dcsa, "positions": _positions}
