"""parse_edifact: a received EDIFACT file into Corridor events, schedules, stowage and rejections."""

from __future__ import annotations

from datetime import datetime
from typing import Callable

from corridor.ingest.results import ParseResult, Rejection

from . import baplie, coarri, codeco, coprar, iftmin, iftsai, iftsta
from .common import Context, Reject
from .interchange import read_interchange

FORMAT = "edifact"
MAPPERS = {"IFTSTA": iftsta.map_message, "CODECO": codeco.map_message, "COARRI": coarri.map_message,
           "COPRAR": coprar.map_message, "BAPLIE": baplie.map_message, "IFTSAI": iftsai.map_message,
           "IFTMIN": iftmin.map_message}


def parse_edifact(raw: bytes | str, *, source_party: str = "", received_at: datetime | None = None,
                  tz_for: Callable | None = None) -> ParseResult:
    """Return the events, schedule updates, stowage, rejections and warnings of one file; never raises."""
    result = ParseResult(format=FORMAT)
    try:
        _parse(raw, result, source_party, received_at, tz_for)
    except Exception as exc:   # a bug must cost one file a rejection, never the caller a crash
        result.rejections.append(Rejection(f"internal error while reading the file: {type(exc).__name__}: {exc}"))
    return result


def _parse(raw, result: ParseResult, source_party: str, received_at, tz_for) -> None:
    if not isinstance(raw, (bytes, bytearray, memoryview, str)):
        result.rejections.append(Rejection(f"input of type {type(raw).__name__} is not EDIFACT text or bytes"))
        return
    env = read_interchange(bytes(raw) if not isinstance(raw, str) else raw)
    result.meta.update(env.meta)
    result.warnings.extend(env.warnings)
    result.rejections.extend(env.rejections)
    party = source_party or env.meta.get("sender") or ""
    result.meta["source_party"] = party
    if tz_for is None and env.messages:
        result.warnings.append("no time-zone lookup given: local times without an offset are read as UTC")
    seen: dict[str, int] = {}
    icref = env.meta.get("interchange_ref")
    for msg in env.messages:
        ctx = Context(msg, result, party, tz_for, received_at,
                      f"{icref}/{msg.ref}" if icref else msg.ref, seen)
        mapper = MAPPERS.get(msg.type)
        if mapper is None:
            result.rejections.append(Rejection(
                f"message type {msg.type} is not mapped by Corridor", msg.unh.pos, "UNH/0065",
                ", ".join(sorted(MAPPERS)), msg.ref))
            continue
        try:
            out = mapper(ctx)
        except Reject as r:
            ctx.reject(r)
            continue
        except Exception as exc:   # keep the siblings: one message's surprise rejects that message
            result.rejections.append(Rejection(
                f"{msg.type} message could not be mapped: {type(exc).__name__}: {exc}", msg.unh.pos, None,
                None, msg.ref))
            continue
        if msg.type == "BAPLIE":
            result.stowage.extend(out)
        elif msg.type == "IFTSAI":
            result.events.extend(out[0])
            result.schedule.extend(out[1])
        else:
            result.events.extend(out)
    result.warnings.extend(f"{text} (x{n})" if n > 1 else text for text, n in seen.items())
