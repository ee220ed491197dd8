"""CSV events in: Corridor's own header or another's through a mapping profile.

Profiles (src/corridor/data/csv_profiles.yaml) rename columns, give the date format and the
time zone of naive times, and translate code words ("Погрузка" -> LOAD, "IN" -> GTIN). The
profile is detected from the header when not named. A bad row becomes a Rejection naming its
line and column; the rest of the file passes.

Files come out of spreadsheets: BOMs, ';' and decimal commas, headers with units ("Event Date
(UTC)"), blank and repeated header rows, Windows code pages. A naive time takes the zone the
header names, else the profile's, else the location's (`tz_for`); a slash date is read day- or
month-first by the profile or by the file's own evidence, never guessed row by row.

Per-row work is kept light on purpose (C csv reader, precompiled lookups, cached container
checks): files of a million rows are normal.
"""

from __future__ import annotations

import csv
import io
import re
from operator import itemgetter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from functools import cache, lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from corridor.domain.equipment import container_number, size_type, wagon_number
from corridor.domain.errors import InvalidEquipment
from corridor.domain.events import CODES, Classifier, Event, EventKind, TransportCall
from corridor.ingest.construct import slot_constructor
from corridor.ingest.results import ParseResult, Rejection

FORMAT = "csv"
PROFILES_FILE = Path(__file__).resolve().parents[1] / "data" / "csv_profiles.yaml"
DEFAULT_HEADER = ("event_type,event_code,classifier,event_time,location,equipment,size_type,empty,"
                  "mode,voyage,vehicle,booking_ref,bl_ref,wagon,train,lat,lon,facility,reason,event_id")

_KIND_OF_CODE = {code: kind for kind, codes in CODES.items() for code in codes}
# Event(...) at half the cost of the frozen dataclass's __init__ (the same checks): a row is one event
_new_event = slot_constructor(Event)
_MODES = {"RAIL": "RAIL", "TRAIN": "RAIL", "VESSEL": "VESSEL", "SHIP": "VESSEL", "FERRY": "VESSEL",
          "FEEDER": "VESSEL", "DEEP_SEA": "VESSEL", "SEA": "VESSEL", "TRUCK": "TRUCK", "ROAD": "TRUCK",
          "OCEAN": "VESSEL", "RAILWAY": "RAIL", "LORRY": "TRUCK",
          "BARGE": "BARGE", "ЖД": "RAIL", "Ж/Д": "RAIL", "АВТО": "TRUCK", "МОРЕ": "VESSEL"}
_EMPTY = {"EMPTY": True, "E": True, "TRUE": True, "1": True, "YES": True,
          "LADEN": False, "FULL": False, "F": False, "FALSE": False, "0": False, "NO": False}
_CLASSIFIERS = {c.value: c for c in Classifier} | {"ACTUAL": Classifier.ACT, "PLANNED": Classifier.PLN,
                                                  "ESTIMATED": Classifier.EST}


@dataclass(frozen=True)
class Profile:
    """How one kind of CSV file maps onto Corridor's event fields."""

    name: str
    columns: dict[str, str]                 # normalised header -> Corridor field
    required: tuple[str, ...]
    time_format: str = "iso"
    zone: tzinfo | None = None              # for naive times
    codes: dict[str, str] = field(default_factory=dict)      # upper-cased word -> Corridor code
    modes: dict[str, str] = field(default_factory=dict)
    empty_words: dict[str, bool] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)
    references: dict[str, str] = field(default_factory=dict)  # ref field -> reference kind
    description: str = ""
    date_order: str | None = None           # "DMY" or "MDY": how to read 03/04/2026 (auto format)
    implied_modes: dict[str, str] = field(default_factory=dict)  # normalised header -> mode its value implies


def _norm(header: str) -> str:
    """Header as compared: no BOM, '_' as a space, case and spacing folded, no trailing '.' or ':'."""
    return " ".join(header.replace("\ufeff", "").replace("_", " ").split()).casefold().rstrip(".: ")


# "Event Date (UTC)", "Time [local]", "Date (dd/mm/yyyy)": a unit in brackets after the name
_UNIT = re.compile(r"^(.*?)\s*[(\[]([^)\]]*)[)\]]\s*$")
_LOCAL = "local"
_LOCAL_WORDS = {"local", "local time", "lt", "lcl", "loc", "местное", "местное время", "lokal", "lokalzeit"}
_UTC_WORDS = {"utc", "gmt", "z", "zulu", "utc+0", "gmt+0", "utc+00:00", "gmt+00:00"}
_NAMED_ZONES = {"msk": "Europe/Moscow", "moscow time": "Europe/Moscow", "мск": "Europe/Moscow",
                "московское": "Europe/Moscow", "московское время": "Europe/Moscow"}
_UNIT_OFFSET = re.compile(r"(?:utc|gmt)?\s*([+-])(\d{1,2})(?::?(\d{2}))?")


def _split_unit(header: str) -> tuple[str, str]:
    """('Event Date', 'UTC') for 'Event Date (UTC)'; (header, '') when it names no unit."""
    m = _UNIT.match(header.replace("\ufeff", "").strip())
    return (m.group(1), m.group(2).strip()) if m and m.group(1) else (header, "")


def _unit_zone(unit: str) -> tzinfo | str | None:
    """The zone a header's unit names: a tzinfo, _LOCAL (the place's own zone) or None."""
    u = " ".join(unit.split()).casefold()
    if not u:
        return None
    if u in _UTC_WORDS:
        return timezone.utc
    if u in _LOCAL_WORDS:
        return _LOCAL
    if u in _NAMED_ZONES:
        return ZoneInfo(_NAMED_ZONES[u])
    m = _UNIT_OFFSET.fullmatch(u)
    if m and int(m.group(2)) <= 14:
        sign = -1 if m.group(1) == "-" else 1
        return timezone(sign * timedelta(hours=int(m.group(2)), minutes=int(m.group(3) or 0)))
    if "/" in unit and unit[:1].isupper():   # an IANA name such as Asia/Almaty
        try:
            return ZoneInfo(unit.strip())
        except (ValueError, KeyError, OSError):
            return None
    return None


def _unit_order(unit: str) -> str | None:
    """'DMY' or 'MDY' when a header's unit spells the date pattern ('dd/mm/yyyy', 'MM-DD-YYYY')."""
    u = unit.casefold()
    d, m = u.find("dd"), u.find("mm")
    if d < 0 or m < 0 or not ("yy" in u or "гг" in u):
        return None
    return "DMY" if d < m else "MDY"


def _word(text: str) -> str:
    """An event word as looked up: upper case, '-' and '_' as spaces, spacing folded."""
    return " ".join(text.replace("-", " ").replace("_", " ").split()).upper()


def _zone(text: str | None) -> tzinfo | None:
    if not text:
        return None
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", text.strip())
    if m:
        sign = -1 if m.group(1) == "-" else 1
        return timezone(sign * timedelta(hours=int(m.group(2)), minutes=int(m.group(3))))
    return ZoneInfo(text)


def _date_order(profile: str, text: str | None) -> str | None:
    if text is None:
        return None
    if str(text).upper() not in ("DMY", "MDY"):
        raise ValueError(f"profile {profile}: date_order {text!r} is neither DMY nor MDY")
    return str(text).upper()


@cache
def load_profiles(path: Path = PROFILES_FILE) -> dict[str, Profile]:
    """Return the mapping profiles by name, read once from the YAML file."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {name: Profile(
        name=name, columns={_norm(k): v for k, v in spec["columns"].items()},
        required=tuple(spec.get("required", ())), time_format=spec.get("time_format", "iso"),
        zone=_zone(spec.get("timezone")), date_order=_date_order(name, spec.get("date_order")),
        implied_modes={_norm(k): v for k, v in (spec.get("implied_modes") or {}).items()},
        codes={_word(str(k)): v for k, v in (spec.get("codes") or {}).items()},
        modes={str(k).upper(): v for k, v in (spec.get("modes") or {}).items()},
        empty_words={str(k).upper(): bool(v) for k, v in (spec.get("empty_words") or {}).items()},
        defaults=dict(spec.get("defaults") or {}), references=dict(spec.get("references") or {}),
        description=spec.get("description", "")) for name, spec in raw.items()}


def _column_key(columns: dict[str, str], header: str) -> str | None:
    """The profile's (normalised) column name a header matches: its name, else its name without
    its unit."""
    key = _norm(header)
    if key not in columns:
        base, unit = _split_unit(header)
        key = _norm(base) if unit else None
    return key if key in columns else None


def _column_field(columns: dict[str, str], header: str) -> str | None:
    """The Corridor field a header maps to."""
    key = _column_key(columns, header)
    return columns[key] if key else None


_TIME_FIELDS = ("event_time", "event_date", "event_clock")


def _lacks(required: tuple[str, ...], fields) -> list[str]:
    """The required fields not among `fields`; a date column (with or without a time column)
    stands for event_time: exports split it or not as they please."""
    return [f for f in required
            if f not in fields and not (f == "event_time" and any(t in fields for t in _TIME_FIELDS))]


def detect_profile(header: list[str], profiles: dict[str, Profile] | None = None) -> str | None:
    """Return the profile whose columns best fit `header` (all its required fields present)."""
    best, best_score = None, 0
    for profile in (profiles or load_profiles()).values():
        fields = {f for h in header if (f := _column_field(profile.columns, h))}
        if _lacks(profile.required, fields):
            continue
        if len(fields) > best_score:
            best, best_score = profile.name, len(fields)
    return best


_QUOTED = re.compile(r'"[^"]*"?')


def sniff_delimiter(first_line: str) -> str:
    """Return ',', ';' or tab: whichever the header line uses most outside quotes (ties go to ',')."""
    bare = _QUOTED.sub("", first_line) if '"' in first_line else first_line
    counts = {d: bare.count(d) for d in (",", ";", "\t")}
    return max(counts, key=lambda d: (counts[d], d == ","))


_CYRILLIC_WORD = re.compile(r"\b[\u0400-\u04ff]{3,}\b")
_MIXED_WORD = re.compile(r"\b(?=\w*[A-Za-z])(?=\w*[\u0400-\u04ff])\w+\b")


def _decode(raw: bytes | str) -> tuple[str, str]:
    if isinstance(raw, str):
        return raw.lstrip("\ufeff"), "text"
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return raw.decode("utf-16"), "utf-16"   # Excel's "Unicode text": UTF-16 with its BOM, tabs
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    # Russian-speaking railways still export Windows-1251 from older systems; a western Excel
    # saves Windows-1252. Read as 1251, 1252 text shows Latin words with a Cyrillic letter
    # inside ("Kцln" for "Köln"), real 1251 text whole Cyrillic words. A byte 1251 lacks (0x98)
    # leaves the file unreadable, with that byte named.
    text = raw.decode("cp1251")
    head = text[:65536]   # the first lines tell as well as the whole file
    if len(_MIXED_WORD.findall(head)) > len(_CYRILLIC_WORD.findall(head)):
        try:
            return raw.decode("cp1252"), "cp1252"
        except UnicodeDecodeError:   # 0x81 0x8D 0x8F 0x90 0x9D: unassigned in 1252, 1251 keeps it
            pass
    return text, "cp1251"


_ENCODING_NAMES = {"cp1251": "Windows-1251", "cp1252": "Windows-1252", "utf-16": "UTF-16"}


class _Bad(Exception):
    def __init__(self, column: str, reason: str, expected: str | None = None):
        super().__init__(reason)
        self.column, self.reason, self.expected = column, reason, expected


def parse_csv(raw: bytes | str, *, profile: str | None = None, source_party: str = "",
              message_id: str | None = None, tz_for=None) -> ParseResult:
    """Return the Events of a CSV file, one Rejection per bad row naming line and column; never raises.

    `message_id`: the kept raw message's id, stamped on the events (the ingest path then need not
    copy them to link them to it). `tz_for(location)`: the IANA zone of a place (None when
    unknown), for local times without an offset when neither the header nor the profile names one."""
    result = ParseResult(format=FORMAT, meta={"source_party": source_party})
    try:
        text, encoding = _decode(raw)
    except Exception as exc:   # noqa: BLE001 - never raise on input
        result.rejections.append(Rejection(reason=f"unreadable: {exc}", expected="UTF-8 text"))
        return result
    if encoding in ("cp1251", "cp1252"):
        result.warnings.append(f"file is not UTF-8; read as {_ENCODING_NAMES[encoding]}")
    profiles = load_profiles()
    skip, delimiter, why = _header_start(text, profiles, profiles.get(profile) if profile else None)
    if skip:
        result.warnings.append(why)
    buf = io.StringIO(text, newline="")
    for _ in range(skip):
        buf.readline()
    reader = csv.reader(buf, delimiter=delimiter)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        result.rejections.append(Rejection(reason=f"line {skip + 1}: unreadable header ({exc})",
                                           segment=skip + 1, element="header", expected=DEFAULT_HEADER))
        return result
    if not header or not any(h.strip() for h in header):
        result.rejections.append(Rejection(reason="empty file: no header line", segment=skip + 1,
                                           expected=DEFAULT_HEADER))
        return result
    name = profile or detect_profile(header, profiles)
    if name not in profiles:
        result.rejections.append(Rejection(
            reason=(f"unknown profile {profile!r}" if profile else
                    f"header matches no profile: {', '.join(h.strip() for h in header[:8])}"
                    + _closest(header, profiles)),
            segment=skip + 1, element="header",
            expected=f"the default header ({DEFAULT_HEADER}) or a profile: {', '.join(profiles)}"))
        return result
    p = profiles[name]
    # two columns for one field ("Event" and "Status"): the name the profile lists first wins
    rank = {key: n for n, key in enumerate(p.columns)}
    index, ranked = {}, {}
    for i, h in enumerate(header):
        key = _column_key(p.columns, h)
        if key is not None and rank[key] < ranked.get(f := p.columns[key], len(rank)):
            index[f], ranked[f] = (i, h.strip().lstrip("\ufeff")), rank[key]
    missing = _lacks(p.required, index)
    if missing:
        result.rejections.append(Rejection(
            reason=f"profile {name}: header lacks {', '.join(missing)}", segment=skip + 1, element="header",
            expected=", ".join(h for h, f in p.columns.items()
                               if f in missing or (f in _TIME_FIELDS and "event_time" in missing))))
        return result
    result.meta.update(profile=name, delimiter=delimiter, encoding=encoding)
    rows = _RowMapper(p, header, index, source_party, message_id, tz_for=tz_for,
                      rescan=lambda: _data_rows(text, delimiter, skip), warn=result.warnings)
    count, repeats = 0, []
    head = [_norm(h) for h in header]
    h0 = header[0].strip().lstrip("\ufeff")
    line = skip + reader.line_num   # physical lines read so far: a quoted value may span several
    try:
        for row in reader:
            start, line = line + 1, skip + reader.line_num
            if not row:
                continue   # blank line
            first = row[0].strip()
            if not first and not "".join(row).strip():
                continue   # a spreadsheet's row of empty cells
            if first == h0 and [_norm(c) for c in row[:len(head)]] == head:
                repeats.append(start)   # a header pasted again (files joined by hand): not data
                continue
            count += 1
            try:
                result.events.append(rows.event(row, start))
            except _Bad as bad:
                result.rejections.append(Rejection(reason=f"line {start}, column {bad.column}: {bad.reason}",
                                                   segment=start, element=bad.column, expected=bad.expected))
            except Exception as exc:  # noqa: BLE001 - a row the mapper did not foresee is still a reason
                result.rejections.append(Rejection(reason=f"line {start}: {exc}", segment=start))
    except csv.Error as exc:   # e.g. a field beyond the csv module's size limit: the rest is unreadable
        result.rejections.append(Rejection(reason=f"line {line + 1}: unreadable CSV ({exc}); the rest "
                                           "of the file was not read", segment=line + 1))
    if repeats:
        shown = ", ".join(map(str, repeats[:5])) + (f" and {len(repeats) - 5} more" if len(repeats) > 5 else "")
        result.warnings.append(f"line {shown} repeats the header; skipped" if len(repeats) == 1
                               else f"lines {shown} repeat the header; skipped")
    result.meta["rows"] = count
    if rows.order_note:
        result.meta["date_order"] = rows.order_note
    return result


def _data_rows(text: str, delimiter: str, skip: int):
    """(line, row) of every data row, read again from the start (the slash-date evidence scan)."""
    buf = io.StringIO(text, newline="")
    for _ in range(skip):
        buf.readline()
    reader = csv.reader(buf, delimiter=delimiter)
    try:
        next(reader, None)
        line = skip + reader.line_num
        for row in reader:
            start, line = line + 1, skip + reader.line_num
            yield start, row
    except csv.Error:
        return


_SEP_LINE = re.compile(r'"?sep=(.)"?[,;\t]*', re.IGNORECASE)
_PREAMBLE_LINES = 10


def _header_start(text: str, profiles: dict[str, Profile], named: Profile | None) -> tuple[int, str, str]:
    """(lines before the header, delimiter, why they were skipped).

    Excel writes "sep=;" above the header of a file it should reopen with ';'; reports exported
    from terminal and railway systems put a title, a date or a blank line above it."""
    lines, at = [], 0
    while len(lines) < _PREAMBLE_LINES and at <= len(text):   # no split(): the rest may be large
        end = text.find("\n", at)
        lines.append(text[at:] if end < 0 else text[at:end])
        at = len(text) + 1 if end < 0 else end + 1
    first = lines[0].rstrip("\r")
    m = _SEP_LINE.fullmatch(first.strip())
    if m:
        return 1, m.group(1), f"line 1 ({first.strip()}) names the delimiter; the header is line 2"

    def fits(line: str, delimiter: str) -> bool:
        try:
            row = next(csv.reader([line], delimiter=delimiter), [])
        except csv.Error:
            return False
        if named is not None:
            return not _lacks(named.required, {f for h in row if (f := _column_field(named.columns, h))})
        return detect_profile(row, profiles) is not None

    delimiter = sniff_delimiter(first)
    if fits(first, delimiter) or len(lines) < 2:
        return 0, delimiter, ""
    for i, line in enumerate(lines[1:_PREAMBLE_LINES], start=1):
        line = line.rstrip("\r")
        if line.strip() and fits(line, d := sniff_delimiter(line)):
            return i, d, f"line{'s 1-' if i > 1 else ' '}{i} before the header skipped"
    return 0, delimiter, ""


def _closest(header: list[str], profiles: dict[str, Profile]) -> str:
    """'; closest: profile X, which lacks ...' for a header no profile fits, when one comes near."""
    best, lacking, score = None, [], 0
    for p in profiles.values():
        fields = {f for h in header if (f := _column_field(p.columns, h))}
        if len(fields) > score:
            best, lacking, score = p.name, _lacks(p.required, fields), len(fields)
    return f"; closest: profile {best}, which lacks {', '.join(lacking)}" if best and score >= 2 else ""


# 03/04/2026 10:00, 13.03.2026 9:55, 3-4-2026 2:15 PM, 2026/03/04 10:15 (+04:00 or Z allowed)
_CLOCK = (r"(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?(?:\s*([AaPp])\.?[Mm]\.?)?)?"
          r"(?:\s*(Z|UTC|GMT|[+-]\d{2}:?\d{2}))?")
_DAY_FIRST = re.compile(r"(\d{1,2})([./-])(\d{1,2})\2(\d{4})" + _CLOCK)
_YEAR_FIRST = re.compile(r"(\d{4})([./-])(\d{1,2})\2(\d{1,2})" + _CLOCK)
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")
# carriers' portals write the month's name: 04-Mar-2026 10:15, 04 MAR 2026, Mar 4, 2026 2:15 PM
_DAY_NAMED = re.compile(r"(\d{1,2})([ -])([A-Za-z]{3,9})\.?[ -](\d{4})" + _CLOCK)
_NAMED_DAY = re.compile(r"([A-Za-z]{3,9})\.?( )(\d{1,2}),?\s(\d{4})" + _CLOCK)
_MONTH_NAMES = ({n.lower(): i for i, n in enumerate(_MONTHS, 1)}
                | {n[:3].lower(): i for i, n in enumerate(_MONTHS, 1)} | {"sept": 9})


class _RowMapper:
    """Turns one row (a list of strings) into an Event with precompiled positions and lookups."""

    def __init__(self, p: Profile, header: list[str], index: dict[str, tuple[int, str]],
                 source_party: str, message_id: str | None = None, *, tz_for=None, rescan=None,
                 warn: list[str] | None = None):
        self.p, self.header, self.index, self.source_party = p, header, index, source_party
        self.message_id = message_id
        self.tz_for, self.rescan, self.warnings = tz_for, rescan, warn if warn is not None else []
        self.zones: dict[str, tzinfo | None] = {}   # place -> zone, one lookup per place
        self.parties = frozenset({source_party}) if source_party else frozenset()
        self.pos = {f: i for f, (i, _) in index.items()}
        self.col = {f: h for f, (_, h) in index.items()}
        self.width = len(header)
        self.names = tuple(self.pos)
        positions = tuple(self.pos.values())
        self.pick = (itemgetter(*positions) if len(positions) > 1
                     else (lambda row, i=positions[0]: (row[i],)))
        self.defaults = tuple(p.defaults.items())
        self.modes = _MODES | p.modes
        self.empty_words = _EMPTY | p.empty_words
        self.ref_kinds = {"booking_ref": "BKG", "bl_ref": "BOL"} | p.references
        self.ref_fields = tuple((f, self.ref_kinds[f]) for f in ("booking_ref", "bl_ref"))
        self.calls: dict[tuple, TransportCall] = {}   # one object per distinct call: rows repeat them
        # the column's header may say the zone ("Event Date (UTC)") or the date order ("(dd/mm/yyyy)")
        units = [_split_unit(h)[1] for f, (_, h) in index.items() if f in _TIME_FIELDS]
        zones = [z for u in units if (z := _unit_zone(u)) is not None]
        self.unit_zone = zones[0] if zones else None
        orders = [o for u in units if (o := _unit_order(u))]
        self.order = orders[0] if orders else p.date_order
        self.order_note = f"{self.order} ({'header' if orders else 'profile ' + p.name})" if self.order else ""
        self.evidence: tuple | None = None   # (first day-first, first month-first) (line, text), scanned once
        implied = p.implied_modes
        self.implied = tuple((f, m) for f, (_, h) in index.items()
                             if (m := implied.get(_norm(h)) or implied.get(_norm(_split_unit(h)[0]))))
        self.time_fields = (["event_time"] if "event_time" in self.pos
                            else [f for f in ("event_date", "event_clock") if f in self.pos])
        self.time_column = "+".join(self.col[f] for f in self.time_fields)

    def values(self, row: list[str]) -> dict[str, str]:
        """The row's values by Corridor field, stripped, with the profile's defaults filled in."""
        v = dict(zip(self.names, map(str.strip, self.pick(row))))
        for f, default in self.defaults:
            if not v.get(f):
                v[f] = default
        return v

    def event(self, row: list[str], line: int = 0) -> Event:
        p = self.p
        if len(row) > self.width and not "".join(row[self.width:]).strip():
            row = row[:self.width]   # empty cells beyond the header (a trailing ';' per row)
        if len(row) != self.width:   # a stray delimiter inside a value shifts every column after it
            where = self.header[min(len(row), self.width - 1)].strip() or "?"
            raise _Bad(where, f"row has {len(row)} fields, the header {self.width}",
                       "one value per column; quote values that contain the delimiter")
        v = self.values(row)
        get = v.get
        word = get("event_code", "")
        code = (p.codes.get(_word(word)) if p.codes else None) or word.upper()
        if code not in _KIND_OF_CODE:
            raise _Bad(self.col["event_code"],
                       f"unknown event code {word!r}" if word else "event code is empty",
                       _words(p) or "a Corridor event code such as ARRI, DEPA, LOAD, GTIN")
        kind = _KIND_OF_CODE[code]
        declared = get("event_type", "").upper()
        if declared and declared != kind.value:
            raise _Bad(self.col["event_type"], f"{code} is a {kind.value} code, not {declared}",
                       kind.value)
        classifier = _CLASSIFIERS.get(get("classifier", "").upper() or "ACT")
        if classifier is None:
            raise _Bad(self.col["classifier"], f"unknown classifier {get('classifier', '')!r}",
                       "ACT, EST or PLN")
        when = self.time(v, line)
        equipment = get("equipment", "")
        if equipment:
            try:
                equipment = _container(equipment)
            except InvalidEquipment as exc:
                raise _Bad(self.col["equipment"], str(exc), "an ISO 6346 container number") from None
        size = get("size_type", "")
        if size:
            try:
                size = _size(size)
            except InvalidEquipment as exc:
                raise _Bad(self.col["size_type"], str(exc), "an ISO size-type code such as 45G1") from None
        empty = get("empty", "")
        if empty:
            flag = self.empty_words.get(empty.upper())
            if flag is None:
                raise _Bad(self.col["empty"], f"{empty!r} is neither empty nor laden",
                           ", ".join(self.empty_words))
            empty = flag
        wagon = get("wagon", "")
        if wagon:
            try:
                _wagon(wagon)
            except InvalidEquipment as exc:
                why = str(exc)
                if re.fullmatch(r"\d[.,]\d+E\+?\d+", wagon, re.IGNORECASE):
                    why += " (a spreadsheet wrote the number in scientific notation: save the column as text)"
                raise _Bad(self.col["wagon"], why, "an 8-digit OSJD or 12-digit UIC wagon number") from None
        lat, lon = self.position(v)
        location = get("location", "") or None
        refs = tuple([(ref_kind, ref) for f, ref_kind in self.ref_fields if (ref := get(f))])
        return _new_event(kind=kind, code=code, classifier=classifier, event_time=when, location=location,
                          equipment=equipment or None, size_type=size or None,
                          empty=empty if empty != "" else None,
                          transport_call=self.call(v, kind, location), references=refs,
                          lat=lat, lon=lon, source_party=self.source_party, parties=self.parties,
                          message_id=self.message_id, reason=get("reason", "") or None,
                          event_id=get("event_id", "") or None)

    def time(self, v: dict[str, str], line: int = 0) -> datetime:
        get, p = v.get, self.p
        fields = self.time_fields
        text = (get(fields[0], "") if len(fields) == 1
                else " ".join(t for f in fields if (t := get(f, ""))))
        column = self.time_column
        if not text:
            raise _Bad(column, "event time is empty", _time_expected(p))
        if p.time_format == "auto":
            try:
                when = datetime.fromisoformat(text)   # the common case first, at C speed
            except ValueError:
                when = self.auto_time(text, column, line)
            else:
                if len(text) <= 10:   # 2026-03-04: no time of day; midnight would be a guess
                    raise _Bad(column, f"{text!r} has a date but no time of day", _time_expected(p))
        else:
            try:
                when = (datetime.fromisoformat(text) if p.time_format == "iso"
                        else datetime.strptime(text, p.time_format))
            except ValueError:
                raise _Bad(column, f"{text!r} is not a time in the form {_time_expected(p)}",
                           _time_expected(p)) from None
        if when.tzinfo is None:
            when = self.localize(when, v, text, column)
        return when

    def auto_time(self, text: str, column: str, line: int) -> datetime:
        """A day-/month-first (or year-first with '/' or '.') date with its time of day, for text
        that is not ISO 8601."""
        m = _DAY_FIRST.fullmatch(text)
        if m:
            a, sep, b, year = int(m.group(1)), m.group(2), int(m.group(3)), int(m.group(4))
            day, month = (a, b) if sep == "." else self.slash_order(a, b, text, column, line)
        elif (m := _YEAR_FIRST.fullmatch(text)):
            year, month, day = int(m.group(1)), int(m.group(3)), int(m.group(4))
        elif (m := _DAY_NAMED.fullmatch(text)) and m.group(3).lower() in _MONTH_NAMES:
            day, month, year = int(m.group(1)), _MONTH_NAMES[m.group(3).lower()], int(m.group(4))
        elif (m := _NAMED_DAY.fullmatch(text)) and m.group(1).lower() in _MONTH_NAMES:
            month, day, year = _MONTH_NAMES[m.group(1).lower()], int(m.group(3)), int(m.group(4))
        else:
            raise _Bad(column, f"{text!r} is not a time in the form {_time_expected(self.p)}",
                       _time_expected(self.p))
        hour, minute, second, half, offset = m.group(5), m.group(6), m.group(7), m.group(8), m.group(9)
        if hour is None:
            raise _Bad(column, f"{text!r} has a date but no time of day", _time_expected(self.p))
        hour = int(hour)
        if half:
            if not 1 <= hour <= 12:
                raise _Bad(column, f"{text!r}: hour {hour} with AM/PM", "hours 1-12 with AM/PM")
            hour = hour % 12 + (12 if half in "Pp" else 0)
        try:
            when = datetime(year, month, day, hour, int(minute), int(second or 0))
        except ValueError as exc:
            raise _Bad(column, f"{text!r} is not a valid time ({exc})", _time_expected(self.p)) from None
        if offset:
            when = when.replace(tzinfo=timezone.utc if offset in ("Z", "UTC", "GMT") else _zone(offset))
        return when

    def slash_order(self, a: int, b: int, text: str, column: str, line: int) -> tuple[int, int]:
        """(day, month) of a date written a/b/yyyy: by the profile or header when they say, else by
        its own numbers when one is above 12, else by the file's other dates; never a guess."""
        if self.order:
            return (a, b) if self.order == "DMY" else (b, a)
        if a > 12 or b > 12 or a == b:
            return (a, b) if a > 12 or a == b else (b, a)
        if self.evidence is None:
            self.evidence = self.scan()
        dmy, mdy = self.evidence
        if dmy and not mdy:
            return a, b
        if mdy and not dmy:
            return b, a
        both = (f"{text!r} could be {a} {_MONTHS[b - 1]} or {_MONTHS[a - 1]} {b}")
        if dmy and mdy:
            raise _Bad(column, f"{both}, and the file writes dates day-first (line {dmy[0]}: {dmy[1]!r}) "
                       f"and month-first (line {mdy[0]}: {mdy[1]!r})", "one date order in the file")
        raise _Bad(column, f"{both}, and no date in the file has a day above 12 to tell",
                   "the order named by the profile (date_order: DMY or MDY) or the header, "
                   "e.g. 'Date (dd/mm/yyyy)'; or ISO 8601 dates")

    def scan(self) -> tuple:
        """The first date of the file that can only be day-first and the first that can only be
        month-first, as (line, text) or None: the file's own evidence for 03/04/2026."""
        dmy = mdy = None
        if self.rescan is not None:
            positions = ([self.pos[f] for f in self.time_fields if f != "event_clock"]
                         or [self.pos[f] for f in self.time_fields])
            for line, row in self.rescan():
                for i in positions:
                    m = _DAY_FIRST.match(row[i].strip()) if i < len(row) else None
                    if m and m.group(2) != ".":
                        a, b = int(m.group(1)), int(m.group(3))
                        if a > 12 >= b and dmy is None:
                            dmy = (line, m.group(0).split(" ")[0])
                        elif b > 12 >= a and mdy is None:
                            mdy = (line, m.group(0).split(" ")[0])
                if dmy and mdy:
                    break
        if dmy and not mdy:
            self.order_note = f"DMY (line {dmy[0]}: {dmy[1]})"
        elif mdy and not dmy:
            self.order_note = f"MDY (line {mdy[0]}: {mdy[1]})"
        elif dmy and mdy:
            self.warnings.append(f"dates are day-first on line {dmy[0]} ({dmy[1]}) and month-first on "
                                 f"line {mdy[0]} ({mdy[1]}): dates that read both ways are held")
        return dmy, mdy

    def localize(self, naive: datetime, v: dict[str, str], text: str, column: str) -> datetime:
        """A time without an offset in the zone the header names, else the profile's, else its place's."""
        unit, p = self.unit_zone, self.p
        zone = unit if unit is not None and unit is not _LOCAL else None
        if zone is None and unit is None:
            zone = p.zone
        place = v.get("location", "") or v.get("facility", "")
        if zone is None and place:
            zone = self.place_zone(place)
        if zone is None and unit is _LOCAL:
            zone = p.zone
        if zone is None:
            where = ("neither the header nor the profile names a time zone" if self.tz_for is None
                     else f"no time zone is known for {place}" if place
                     else "the row names no place to take the time zone from")
            raise _Bad(column, f"{text!r} has no UTC offset and {where}", _time_expected(p))
        when = naive.replace(tzinfo=zone)
        if isinstance(zone, ZoneInfo):
            other = naive.replace(tzinfo=zone, fold=1)
            if when.utcoffset() != other.utcoffset():   # a clock change: the hour is missing or doubled
                back = when.astimezone(timezone.utc).astimezone(zone).replace(tzinfo=None)
                what = ("does not exist in" if back != naive
                        else "happens twice in")
                raise _Bad(column, f"{text!r} {what} {zone.key} (clocks changed that hour)",
                           "the time with its UTC offset")
        return when

    def place_zone(self, place: str) -> tzinfo | None:
        if self.tz_for is None:
            return None
        if place not in self.zones:
            try:
                self.zones[place] = self.tz_for(place)
            except Exception as exc:  # noqa: BLE001 - a caller's lookup must not sink the file
                self.zones[place] = None
                self.warnings.append(f"time zone lookup for {place} failed ({exc})")
        return self.zones[place]

    def position(self, v: dict[str, str]) -> tuple[float | None, float | None]:
        lat_s, lon_s = v.get("lat", ""), v.get("lon", "")
        if not lat_s and not lon_s:
            return None, None
        values = []
        for f, text, limit in (("lat", lat_s, 90), ("lon", lon_s, 180)):
            try:
                v = float(text.replace(",", "."))   # decimal commas in ';' files
            except ValueError:
                v = _degrees(text, f)
                if v is None:
                    raise _Bad(self.col.get(f, f), f"{text!r} is not a decimal number",
                               f"degrees between -{limit} and {limit}") from None
            if not -limit <= v <= limit:
                raise _Bad(self.col[f], f"{v} is outside -{limit}..{limit}", f"degrees within ±{limit}")
            values.append(v)
        return values[0], values[1]

    def call(self, v: dict[str, str], kind: EventKind, location: str | None) -> TransportCall | None:
        get = v.get
        mode_word = get("mode", "")
        if not mode_word:
            for f, implied in self.implied:   # a vessel column's value is a vessel
                if get(f):
                    mode_word = implied
                    break
        voyage, vehicle, wagon, train = (get("voyage", ""), get("vehicle", ""), get("wagon", ""),
                                         get("train", ""))
        facility = get("facility", "")
        wagon = _wagon(wagon) if wagon else ""   # validated in event(); normalised here
        if not (mode_word or voyage or vehicle or wagon or train):
            if kind == EventKind.TRANSPORT:
                raise _Bad(self.col.get("mode", "mode"), "a TRANSPORT event needs its vehicle: mode, "
                           "voyage, train or vehicle", "RAIL, VESSEL, TRUCK or BARGE")
            return None
        mode = self.modes.get(mode_word.upper()) if mode_word else ("RAIL" if (train or wagon) else None)
        if mode is None:
            raise _Bad(self.col.get("mode", "mode"), f"unknown mode {mode_word!r}" if mode_word
                       else "mode is empty", "RAIL, VESSEL, TRUCK or BARGE")
        key = (mode, location, voyage or train, vehicle, wagon, facility)
        tc = self.calls.get(key)
        if tc is None:
            tc = self.calls[key] = TransportCall(mode=mode, location=location, voyage=voyage or train or None,
                                                 vehicle=vehicle or None, wagon=wagon or None,
                                                 facility_code=facility or None)
        return tc


def _words(p: Profile) -> str:
    """The profile's event words for a rejection: a dozen, and how many more there are."""
    words = list(p.codes)
    more = f", … ({len(words) - 12} more in profile {p.name})" if len(words) > 12 else ""
    return ", ".join(words[:12]) + more


_DEGREES = re.compile(r"([+-]?\d{1,3}(?:[.,]\d+)?)\s*°?\s*([NSEWnsew])?")


def _degrees(text: str, axis: str) -> float | None:
    """41.2034° N, 50,112 E: decimal degrees with a sign or hemisphere letter; None otherwise."""
    m = _DEGREES.fullmatch(text.strip())
    if not m or (m.group(2) and m.group(2).upper() not in ("NS" if axis == "lat" else "EW")):
        return None
    value = float(m.group(1).replace(",", "."))
    return -value if m.group(2) and m.group(2).upper() in "SW" else value


def _time_expected(p: Profile) -> str:
    if p.time_format == "auto":
        order = {"DMY": "dd/mm/yyyy HH:MM", "MDY": "mm/dd/yyyy HH:MM"}.get(p.date_order or "",
                                                                        "dd/mm/yyyy or mm/dd/yyyy HH:MM")
        return ("ISO 8601, e.g. 2025-03-02T08:00:00+05:00, or dd.mm.yyyy HH:MM or " + order
                + (f" (local time {p.zone})" if p.zone else "; without an offset, local time at the place"))
    return ("ISO 8601 with offset, e.g. 2025-03-02T08:00:00+05:00" if p.time_format == "iso"
            else f"{p.time_format} (local time {p.zone})")


# bounded caches: a file repeats the same containers, sizes and wagons over many rows
@lru_cache(maxsize=65536)
def _container(raw: str) -> str:
    return container_number(raw)


@lru_cache(maxsize=256)
def _size(raw: str) -> str:
    return size_type(raw).code


@lru_cache(maxsize=65536)
def _wagon(raw: str) -> str:
    return wagon_number(raw)
