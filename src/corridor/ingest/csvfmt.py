"""CSV events in: Corridor's own header or another's through a mapping profile.

Profiles (src/corridor/data/csv_profiles.yaml) rename columns, give the date format and the
time zone of naive times, and translate code words ("Погрузка" -> LOAD, "IN" -> GTIN). The
profile is detected from the header when not named. A bad row becomes a Rejection naming its
line and column; the rest of the file passes. Per-row work is kept light on purpose (C csv
reader, precompiled lookups, cached container checks): files of a million rows are normal.
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


def _norm(header: str) -> str:
    return " ".join(header.replace("\ufeff", "").split()).casefold()


def _zone(text: str | None) -> tzinfo | None:
    if not text:
        return None
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", text.strip())
    if m:
        sign = -1 if m.group(1) == "-" else 1
        return timezone(sign * timedelta(hours=int(m.group(2)), minutes=int(m.group(3))))
    return ZoneInfo(text)


@cache
def load_profiles(path: Path = PROFILES_FILE) -> dict[str, Profile]:
    """Return the mapping profiles by name, read once from the YAML file."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {name: Profile(
        name=name, columns={_norm(k): v for k, v in spec["columns"].items()},
        required=tuple(spec.get("required", ())), time_format=spec.get("time_format", "iso"),
        zone=_zone(spec.get("timezone")),
        codes={str(k).upper(): v for k, v in (spec.get("codes") or {}).items()},
        modes={str(k).upper(): v for k, v in (spec.get("modes") or {}).items()},
        empty_words={str(k).upper(): bool(v) for k, v in (spec.get("empty_words") or {}).items()},
        defaults=dict(spec.get("defaults") or {}), references=dict(spec.get("references") or {}),
        description=spec.get("description", "")) for name, spec in raw.items()}


def detect_profile(header: list[str], profiles: dict[str, Profile] | None = None) -> str | None:
    """Return the profile whose columns best fit `header` (all its required fields present)."""
    names = {_norm(h) for h in header}
    best, best_score = None, 0
    for profile in (profiles or load_profiles()).values():
        fields = {f for h, f in profile.columns.items() if h in names}
        if not set(profile.required) <= fields:
            continue
        if len(fields) > best_score:
            best, best_score = profile.name, len(fields)
    return best


def sniff_delimiter(first_line: str) -> str:
    """Return ',', ';' or tab: whichever the header line uses most (ties go to ',')."""
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    return max(counts, key=lambda d: (counts[d], d == ","))


def _decode(raw: bytes | str) -> tuple[str, str]:
    if isinstance(raw, str):
        return raw.lstrip("\ufeff"), "text"
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        # Russian-speaking railways still export Windows-1251 from older systems
        return raw.decode("cp1251"), "cp1251"


class _Bad(Exception):
    def __init__(self, column: str, reason: str, expected: str | None = None):
        super().__init__(reason)
        self.column, self.reason, self.expected = column, reason, expected


def parse_csv(raw: bytes | str, *, profile: str | None = None, source_party: str = "",
              message_id: str | None = None) -> ParseResult:
    """Return the Events of a CSV file, one Rejection per bad row naming line and column; never raises.

    `message_id`: the kept raw message's id, stamped on the events (the ingest path then need not
    copy them to link them to it)."""
    result = ParseResult(format=FORMAT, meta={"source_party": source_party})
    try:
        text, encoding = _decode(raw)
    except Exception as exc:   # noqa: BLE001 - never raise on input
        result.rejections.append(Rejection(reason=f"unreadable: {exc}", expected="UTF-8 text"))
        return result
    if encoding == "cp1251":
        result.warnings.append("file is not UTF-8; read as Windows-1251")
    first = text.split("\n", 1)[0]
    delimiter = sniff_delimiter(first)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = next(reader, None)
    if not header or not any(h.strip() for h in header):
        result.rejections.append(Rejection(reason="empty file: no header line", segment=1,
                                           expected=DEFAULT_HEADER))
        return result
    profiles = load_profiles()
    name = profile or detect_profile(header, profiles)
    if name not in profiles:
        result.rejections.append(Rejection(
            reason=(f"unknown profile {profile!r}" if profile else
                    f"header matches no profile: {', '.join(h.strip() for h in header[:8])}"),
            segment=1, element="header",
            expected=f"the default header ({DEFAULT_HEADER}) or a profile: {', '.join(profiles)}"))
        return result
    p = profiles[name]
    index = {}
    for i, h in enumerate(header):
        f = p.columns.get(_norm(h))
        if f and f not in index:
            index[f] = (i, h.strip().lstrip("\ufeff"))
    missing = [f for f in p.required if f not in index]
    if missing:
        result.rejections.append(Rejection(
            reason=f"profile {name}: header lacks {', '.join(missing)}", segment=1, element="header",
            expected=", ".join(h for h, f in p.columns.items() if f in missing)))
        return result
    result.meta.update(profile=name, delimiter=delimiter, encoding=encoding)
    rows = _RowMapper(p, header, index, source_party, message_id)
    count = 0
    for line, row in enumerate(reader, start=2):
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        count += 1
        try:
            result.events.append(rows.event(row))
        except _Bad as bad:
            result.rejections.append(Rejection(reason=f"line {line}, column {bad.column}: {bad.reason}",
                                               segment=line, element=bad.column, expected=bad.expected))
        except Exception as exc:  # noqa: BLE001 - a row the mapper did not foresee is still a reason
            result.rejections.append(Rejection(reason=f"line {line}: {exc}", segment=line))
    result.meta["rows"] = count
    return result


class _RowMapper:
    """Turns one row (a list of strings) into an Event with precompiled positions and lookups."""

    def __init__(self, p: Profile, header: list[str], index: dict[str, tuple[int, str]],
                 source_party: str, message_id: str | None = None):
        self.p, self.header, self.index, self.source_party = p, header, index, source_party
        self.message_id = message_id
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

    def values(self, row: list[str]) -> dict[str, str]:
        """The row's values by Corridor field, stripped, with the profile's defaults filled in."""
        v = dict(zip(self.names, map(str.strip, self.pick(row))))
        for f, default in self.defaults:
            if not v.get(f):
                v[f] = default
        return v

    def event(self, row: list[str]) -> Event:
        p = self.p
        if len(row) != self.width:   # a stray delimiter inside a value shifts every column after it
            where = self.header[min(len(row), self.width - 1)].strip() or "?"
            raise _Bad(where, f"row has {len(row)} fields, the header {self.width}",
                       "one value per column; quote values that contain the delimiter")
        v = self.values(row)
        get = v.get
        word = get("event_code", "")
        code = p.codes.get(word.upper()) or word.upper()
        if code not in _KIND_OF_CODE:
            raise _Bad(self.col["event_code"], f"unknown event code {word!r}",
                       ", ".join(p.codes) or "a Corridor event code such as ARRI, DEPA, LOAD, GTIN")
        kind = _KIND_OF_CODE[code]
        declared = get("event_type", "").upper()
        if declared and declared != kind.value:
            raise _Bad(self.col["event_type"], f"{code} is a {kind.value} code, not {declared}",
                       kind.value)
        classifier = _CLASSIFIERS.get(get("classifier", "").upper() or "ACT")
        if classifier is None:
            raise _Bad(self.col["classifier"], f"unknown classifier {get('classifier', '')!r}",
                       "ACT, EST or PLN")
        when = self.time(v)
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
                raise _Bad(self.col["wagon"], str(exc), "an 8-digit OSJD or 12-digit UIC wagon number") from None
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

    def time(self, v: dict[str, str]) -> datetime:
        get, p = v.get, self.p
        if "event_time" in self.pos:
            text, column = get("event_time", ""), self.col["event_time"]
        else:
            text = f"{get('event_date', '')} {get('event_clock', '')}".strip()
            column = f"{self.col['event_date']}+{self.col['event_clock']}"
        if not text:
            raise _Bad(column, "event time is empty", _time_expected(p))
        try:
            when = (datetime.fromisoformat(text) if p.time_format == "iso"
                    else datetime.strptime(text, p.time_format))
        except ValueError:
            raise _Bad(column, f"{text!r} is not a time in the form {_time_expected(p)}",
                       _time_expected(p)) from None
        if when.tzinfo is None:
            if p.zone is None:
                raise _Bad(column, f"{text!r} has no UTC offset", _time_expected(p))
            when = when.replace(tzinfo=p.zone)
        return when

    def position(self, v: dict[str, str]) -> tuple[float | None, float | None]:
        lat_s, lon_s = v.get("lat", ""), v.get("lon", "")
        if not lat_s and not lon_s:
            return None, None
        values = []
        for f, text, limit in (("lat", lat_s, 90), ("lon", lon_s, 180)):
            try:
                v = float(text.replace(",", "."))   # decimal commas in ';' files
            except ValueError:
                raise _Bad(self.col.get(f, f), f"{text!r} is not a decimal number",
                           f"degrees between -{limit} and {limit}") from None
            if not -limit <= v <= limit:
                raise _Bad(self.col[f], f"{v} is outside -{limit}..{limit}", f"degrees within ±{limit}")
            values.append(v)
        return values[0], values[1]

    def call(self, v: dict[str, str], kind: EventKind, location: str | None) -> TransportCall | None:
        get = v.get
        mode_word = get("mode", "")
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


def _time_expected(p: Profile) -> str:
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
