"""What every message mapper shares: dates, equipment, transport, references, and how to reject."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Callable, Iterable

from corridor.domain.equipment import container_number
from corridor.domain.errors import InvalidEquipment
from corridor.domain.events import Event, TransportCall
from corridor.ingest.construct import slot_constructor
from corridor.ingest.results import ParseResult, Rejection

from .dates import _RANGES, _SEPARATED, FORMATS, TIME_OF_DAY, DateError, localize, parse_dtm
from .interchange import RawMessage, Seg

# 8067 mode of transport -> DCSA modeOfTransport
MODES = {"1": "VESSEL", "2": "RAIL", "3": "TRUCK", "8": "BARGE"}
# 8179 type of means of transport, when 8067 is absent (UN Rec. 28, the common ones)
MEANS = {"8": "VESSEL", "11": "VESSEL", "12": "VESSEL", "13": "VESSEL", "14": "TRUCK", "16": "BARGE", "19": "TRUCK",
         "21": "RAIL", "22": "RAIL", "23": "RAIL", "24": "RAIL", "25": "RAIL",
         "31": "TRUCK", "32": "TRUCK", "33": "TRUCK", "35": "TRUCK", "150": "BARGE"}
# Rec 19 modes Corridor does not carry, named in the reason when a sender gives one
_OTHER_MODES = {"0": "not specified", "4": "air", "5": "mail", "6": "multimodal", "7": "fixed installation",
                "9": "not applicable"}
# RFF qualifiers -> Corridor reference kinds
REFERENCES = {"BN": "BKG", "BM": "BOL", "MB": "BOL", "BH": "BOL", "CN": "CN", "AAS": "BOL",
              "SMG": "SMGS", "CIM": "CIM", "AJE": "TRN", "AAN": "TRN"}
# shape of an attempt at an ISO 6346 number: 4 letters then 6-7 digits (spaces and dashes allowed)
_ISO_SHAPED = re.compile(r"^[A-Z]{3}[A-Z0-9]\s?-?\s?\d{6}\s?-?\s?\d?$")
# a terminal reports the same containers over and over; a wrong number raises each time (not cached)
_container = lru_cache(maxsize=65536)(container_number)
_UTC = timezone.utc


new_event = slot_constructor(Event)
new_call = slot_constructor(TransportCall)


class Reject(Exception):
    """Raised inside a mapper to reject one message or one group, carrying the Rejection fields."""

    def __init__(self, reason: str, seg: Seg | None = None, element: str | None = None,
                 expected: str | None = None):
        super().__init__(reason)
        self.reason, self.seg, self.element, self.expected = reason, seg, element, expected


@dataclass
class Context:
    """One message being mapped: its segments, the caller's options, and where findings go."""

    msg: RawMessage
    result: ParseResult
    source_party: str
    tz_for: Callable | None
    received_at: datetime | None
    message_id: str
    seen: dict = field(default_factory=dict)   # warning text -> count, shared across the file

    def warn(self, text: str) -> None:
        """Record a warning once; repeats are counted and shown as '(xN)' at the end."""
        self.seen[text] = self.seen.get(text, 0) + 1

    def reject(self, r: Reject) -> None:
        self.result.rejections.append(Rejection(r.reason, r.seg.pos if r.seg else None, r.element,
                                                r.expected, self.msg.ref))

    # ---- dates
    def zone(self, locode: str | None):
        """The IANA zone of a location from tz_for, None when unknown (warned once per place)."""
        if not locode or self.tz_for is None:
            return None
        try:
            return self.tz_for(locode)
        except Exception as exc:  # a caller's lookup must not sink the file
            self.warn(f"time zone lookup for {locode} failed ({exc}); local times read as UTC")
            return None

    def when(self, seg: Seg, locode: str | None) -> datetime:
        """The aware datetime of a DTM segment; local times take the zone of `locode`."""
        qual, value, fmt, cut = dtm_parts(seg)
        try:
            dt, has_offset, note = parse_dtm(value, fmt)
        except DateError as exc:
            raise Reject(f"DTM+{qual}: {cut + '; ' if cut else ''}{exc}", seg, f"DTM+{qual}/2380",
                         "CCYYMMDDHHMM with format 203, or 303 with an offset") from None
        if cut:
            self.warn(f"DTM+{qual}: {cut}")
        if note:
            self.warn(f"DTM+{qual}: {note}")
        if has_offset:
            return dt
        zone = self.zone(locode)
        if zone is None:
            where = locode or "an unknown place"
            self.warn(f"local times at {where} have no UTC offset and no known time zone; read as UTC")
        return localize(dt, zone)

    def first_time(self, segs: Iterable[Seg], quals: tuple[str, ...], locode: str | None) -> tuple[datetime, str] | None:
        """The first DTM among `segs` whose qualifier is in `quals` (in that preference order).

        A date sent in one DTM and its time of day in another of the same qualifier ('DTM+334:
        20260918:102' then 'DTM+334:133342:402', as some forwarders write it) is read as one time."""
        found: dict[str, list[Seg]] = {}
        for s in segs:
            if s.tag == "DTM" and s.el(0) in quals:
                found.setdefault(s.el(0), []).append(s)
        for q in quals:
            if q in found:
                seg = found[q][0] if len(found[q]) == 1 else self.dated(found[q])
                if not seg.el(0, 1):
                    self.warn(f"segment {seg.pos}: DTM+{q} has an empty date; ignored")
                    continue
                return self.when(seg, locode), q
        return None

    def dated(self, dtms: list[Seg]) -> Seg:
        """The DTM of one qualifier to read: its first date, with the time of day of a sibling DTM
        in format 401/402 (HHMM/HHMMSS) when the date has none (warned); else the first DTM."""
        dates = [s for s in dtms if s.el(0, 2).strip() not in TIME_OF_DAY]
        seg = dates[0] if dates else dtms[0]
        value, fmt = seg.el(0, 1).strip(), seg.el(0, 2).strip()
        if not dates or not (value.isdigit() and len(value) == 8 and fmt in ("102", "")):
            return seg
        for t in dtms:
            width = TIME_OF_DAY.get(t.el(0, 2).strip())
            clock = t.el(0, 1).strip()
            if width and clock.isdigit() and len(clock) == width:
                joined = value + clock
                self.warn(f"DTM+{seg.el(0)}: date {value} (102) and time {clock} ({t.el(0, 2).strip()}) are sent "
                          f"in two segments; read together as {joined}")
                return Seg("DTM", [[seg.el(0), joined, "203" if width == 4 else "204"]], seg.pos)
        return seg

    # ---- equipment
    def equipment(self, eqd: Seg) -> tuple[str, str | None, bool | None]:
        """(equipment id, size type, empty) of an EQD; ISO-shaped ids must pass ISO 6346."""
        qual, raw = eqd.el(0), eqd.el(1).strip()
        size = eqd.el(2) or eqd.el(2, 3) or None
        empty = {"4": True, "5": False}.get(eqd.el(5))
        if not raw:
            raise Reject("EQD without an equipment identification", eqd, "EQD/C237", "a container number")
        if qual and qual != "CN":
            self.warn(f"equipment {raw!r} is of type {qual!r}, not a container (CN); kept without ISO 6346 check")
            return raw, size, empty
        try:
            return _container(raw), size, empty
        except InvalidEquipment as exc:
            if _ISO_SHAPED.match(raw.upper()):
                raise Reject(str(exc), eqd, "EQD/C237", "an ISO 6346 container number") from None
            self.warn(f"equipment {raw!r} is not an ISO 6346 number ({exc}); kept as sent")
            return raw, size, empty

    # ---- transport
    def transport(self, tdt: Seg | None, default_mode: str, location: str | None = None,
                  facility: str | None = None) -> TransportCall:
        """The TransportCall of a TDT segment (voyage, vehicle, mode) at a location."""
        if tdt is None:
            return new_call(mode=default_mode, location=location, facility_code=facility)
        mode = self.mode(tdt) or default_mode
        vehicle = tdt.el(7, 3) or tdt.el(7) or None
        return new_call(mode=mode, location=location, facility_code=facility,
                        voyage=tdt.el(1) or None, service=None, vehicle=vehicle)

    def mode(self, tdt: Seg) -> str | None:
        """The mode of a TDT from 8067 (C220) and 8179 (C228), None when it names neither.

        8067 is one digit (UN/ECE Rec 19). Two digits there are either the old Rec 19 subdivisions
        ('10' maritime, '20' rail, '30' road: the first digit is the mode) or a Rec 28 type of means
        put in the wrong element ('31' truck, '25' rail express); both readings must agree, and with
        the TDT's own 8179 when it has one. A mode Corridor does not carry (air, mail...), a code
        no table knows or readings that disagree reject the group: a wrong mode would put the box
        on the wrong leg."""
        code, means = tdt.el(2).strip(), tdt.el(3).strip()
        if len(code) <= 1:
            return MODES.get(code) or MEANS.get(means)
        expected = "a one-digit UN/ECE Rec 19 mode: 1 sea, 2 rail, 3 road, 8 inland water"
        where = f"TDT+{tdt.el(0)} mode of transport {code!r}"
        by_mode = MODES.get(code[0]) if code.isdigit() and len(code) == 2 else None
        by_means = MEANS.get(code)
        if code.isdigit() and len(code) == 2 and code[0] in _OTHER_MODES and by_means is None:
            raise Reject(f"{where} is Rec 19 mode {code[0]} ({_OTHER_MODES[code[0]]}), not a mode Corridor tracks "
                         f"(sea, rail, road, inland water)", tdt, "TDT/C220/8067", expected)
        if code.endswith("0") and by_mode:
            readings = [by_mode]                      # '10', '20', '30', '80': Rec 19 'not specified' subdivisions
        else:   # a Rec 28 code must be one the table knows: '15' taxi or '17' 'customer determined' say no mode
            readings = [m for m in (by_mode, by_means) if m] if by_means else []
        if means and MEANS.get(means):
            readings.append(MEANS[means])
        if not readings:
            raise Reject(f"{where} is neither a Rec 19 mode nor a known Rec 28 type of means of transport",
                         tdt, "TDT/C220/8067", expected)
        if len(set(readings)) > 1:
            raise Reject(f"{where} reads as {' or '.join(sorted(set(readings)))} (Rec 19 mode {code[0]}, Rec 28 "
                         f"means {code}{f', C228 means {means}' if means else ''}): the mode is not clear",
                         tdt, "TDT/C220/8067", expected)
        self.warn(f"{where} has {len(code)} characters (Rec 19 modes have one); read as {readings[0]}")
        return readings[0]

    def references(self, segs: Iterable[Seg]) -> list[tuple[str, str]]:
        """(kind, value) pairs from RFF segments that Corridor tracks by."""
        out = []
        for s in segs:
            if s.tag == "RFF" and s.el(0) in REFERENCES and s.el(0, 1):
                value = s.el(0, 1).strip()
                if not value.strip("0-./ "):   # 'RFF+BM:0' on empties: no B/L, and '0' would tie them all together
                    self.warn(f"RFF+{s.el(0)} value {s.el(0, 1)!r} is a placeholder, not a reference; ignored")
                    continue
                pair = (REFERENCES[s.el(0)], value)
                if pair not in out:
                    out.append(pair)
        return out

    def created(self) -> datetime | None:
        """When the sender made the message: DTM+137 of the header, else the time it was received."""
        head = [s for s in self.msg.body[:8] if s.tag == "DTM" and s.el(0) == "137" and s.el(0, 1)]
        if head:
            s = self.dated(head)
            if s.el(0, 1):
                try:   # the sender's own clock: no place to take a zone from, so UTC, silently
                    dt, has_offset, _ = parse_dtm(*dtm_parts(s)[1:3])
                except DateError:
                    return self.received_at
                return dt if has_offset else localize(dt, None)
        return self.received_at


def dtm_parts(seg: Seg) -> tuple[str, str, str, str | None]:
    """(qualifier, value, format, note) of a DTM whose value a bare ':' or '+' may have cut.

    C507 has three components and DTM one element, so more of either can only be a value that
    held the separators unreleased ('DTM+7:20260302 10:30:203', 'DTM+7:202603021030+05:00:303').
    The pieces are put back together, the last one being the format when it is one Corridor
    reads; a third component that is no format but completes a time ('20260302 10' + '30') is
    the minutes. The note says so; what the pieces do not make a readable date stays refused."""
    els = seg.els
    first = els[0] if els else ""
    if isinstance(first, str) or (len(els) == 1 and len(first) <= 3):
        qual, value, fmt = seg.el(0), seg.el(0, 1), seg.el(0, 2)
        if not fmt or fmt in FORMATS or fmt in _RANGES or ":" in value:
            return qual, value, fmt, None
        joined = f"{value}:{fmt}"
        m = _SEPARATED.match(joined)
        if m is None or m["h"] is None:
            return qual, value, fmt, None    # an unknown format code: parse_dtm says so
        return qual, joined, "", (f"{value!r}:{fmt!r} is one date and time cut by an unreleased ':'; "
                                  f"read as {joined!r}")
    pieces = [":".join(e) if isinstance(e, list) else e for e in els]
    text = "+".join(pieces)
    qual, _, rest = text.partition(":")
    head, sep, last = rest.rpartition(":")
    value, fmt = (head, last) if sep and (last in FORMATS or last in _RANGES) else (rest, "")
    bare = " and ".join(f"'{c}'" for c, n in ((":", text.count(":") - 1 - bool(fmt)), ("+", len(els) - 1)) if n > 0)
    return qual, value, fmt, (f"{rest!r} has a bare {bare or 'separator'} inside its value (a separator unless "
                              f"released with '?'); read as the value {value!r}" + (f" in format {fmt}" if fmt else ""))


def loc(seg: Seg | None) -> tuple[str | None, str | None]:
    """(UN/LOCODE or place id, terminal/facility code) of a LOC segment; country codes are no facility."""
    if seg is None:
        return None, None
    facility = seg.el(2) if seg.el(2, 1) != "162" else ""
    # a place without a UN/LOCODE is sent by its name (C517 3224, as Corridor's IFTSTA writes it);
    # the name resolves through the location aliases
    place = seg.el(1).strip() or seg.el(1, 3).strip()
    if len(place) == 5 and place.isalnum() and not place.isupper():
        place = place.upper()   # a UN/LOCODE sent in lower case ('kzaau')
    return place or None, facility.strip() or None


def split(body: list[Seg], tag: str) -> tuple[list[Seg], list[list[Seg]]]:
    """(segments before the first `tag`, one list per group starting with `tag`)."""
    head: list[Seg] = []
    groups: list[list[Seg]] = []
    for s in body:
        if s.tag == tag:
            groups.append([s])
        elif groups:
            groups[-1].append(s)
        else:
            head.append(s)
    return head, groups


def find(segs: Iterable[Seg], tag: str, qual: str | tuple[str, ...] | None = None) -> Seg | None:
    """The first segment with that tag (and first element among `qual`), or None."""
    quals = (qual,) if isinstance(qual, str) else qual
    for s in segs:
        if s.tag == tag and (quals is None or s.el(0) in quals):
            return s
    return None


def cancellation(bgm: Seg | None) -> None:
    """Reject a message whose BGM message function is 1 (cancellation): it undoes earlier reports."""
    if bgm is not None and bgm.el(2) == "1":
        raise Reject("BGM message function 1 (cancellation): withdrawing earlier reports is not applied "
                     "automatically; review it by hand", bgm, "BGM/1225", "9 (original) or 5 (replace)")


def direction(ctx: Context, head: list[Seg], bgm: Seg | None, by_bgm: dict, name: str) -> tuple[str, Seg | None]:
    """(LOAD|DISC, the vessel-call LOC) of a COARRI/COPRAR: LOC+9/LOC+11 first, else the BGM code."""
    call = find(head, "LOC", ("9", "11"))
    from_bgm = by_bgm.get(bgm.el(0)) if bgm is not None else None
    load, disc = find(head, "LOC", "9"), find(head, "LOC", "11")
    if load is not None and disc is not None and loc(load)[0] != loc(disc)[0]:
        call = _call_of_both(ctx, head, load, disc, from_bgm, name)
    from_loc = {"9": "LOAD", "11": "DISC"}.get(call.el(0)) if call is not None else None
    if from_loc and from_bgm and from_loc != from_bgm:
        ctx.warn(f"{name} BGM {bgm.el(0)} says {from_bgm} but the vessel call is LOC+{call.el(0)} "
                 f"({from_loc}); {from_loc} kept")
    code = from_loc or from_bgm
    if code is None:
        raise Reject(f"{name}: cannot tell loading from discharge: no LOC+9/LOC+11 after the TDT and "
                     f"BGM {bgm.el(0) if bgm else None!r} is not known", bgm or ctx.msg.unh, "LOC+9",
                     "LOC+9 (port of loading) or LOC+11 (port of discharge) for the vessel call")
    return code, call


def _call_of_both(ctx: Context, head: list[Seg], load: Seg, disc: Seg, from_bgm: str | None, name: str) -> Seg:
    """The vessel call of a header naming both a port of loading (LOC+9) and of discharge (LOC+11).

    One of them is this call, the other the port at the far end of the leg. The BGM code decides
    when it is known; else the port that is also the previous (LOC+94) or next (LOC+61/LOC+92)
    port of call is the far end; else there is no telling and the message is rejected."""
    if from_bgm is not None:
        return load if from_bgm == "LOAD" else disc
    others = {loc(s)[0] for s in head if s.tag == "LOC" and s.el(0) in ("94", "61", "92", "60")}
    pol, pod = loc(load)[0], loc(disc)[0]
    if pol in others and pod not in others:
        ctx.warn(f"{name}: the header names both LOC+9 {pol} and LOC+11 {pod}; {pol} is the previous/next "
                 f"port of call, so this call is the discharge at {pod}")
        return disc
    if pod in others and pol not in others:
        ctx.warn(f"{name}: the header names both LOC+9 {pol} and LOC+11 {pod}; {pod} is the previous/next "
                 f"port of call, so this call is the loading at {pol}")
        return load
    raise Reject(f"{name}: the header names both LOC+9 {pol} (loading) and LOC+11 {pod} (discharge) and neither "
                 f"the BGM code nor the previous/next port of call (LOC+94/LOC+61) tells which is this call",
                 load, "BGM/1001", "one vessel-call LOC (LOC+9 or LOC+11) in the header, or a known BGM code")


def dedupe(ctx: Context, events: list) -> list:
    """The events without exact repeats (same dedup key) inside one message, warning about them.

    Two events with one dedup key have one UTC event time to the second (the key's time part, see
    event_keys), so only events that share a second are keyed here: the ingest path keys every
    event once the place is resolved. Whole seconds at whole-second offsets (EDIFACT's always
    are) need no conversion: the aware times, equal when their instants are, tell them apart."""
    if len(events) < 2:
        return list(events)
    seconds = [e.event_time for e in events]
    if any(t.microsecond or t.utcoffset().microseconds for t in seconds):
        seconds = [t.astimezone(_UTC).replace(microsecond=0) for t in seconds]
    if len(set(seconds)) == len(seconds):
        return list(events)
    shared = {s for s, n in Counter(seconds).items() if n > 1}
    seen, out = set(), []
    for e, second in zip(events, seconds):
        if second in shared:
            key = e.dedup_key
            if key in seen:
                ctx.warn(f"message {ctx.msg.ref!r}: {e.code} of {e.subject or 'the same subject'} is repeated; "
                         f"kept once")
                continue
            seen.add(key)
        out.append(e)
    return out
