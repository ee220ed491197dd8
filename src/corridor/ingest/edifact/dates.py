"""DTM values (formats 101-304) into aware datetimes, resolving local times with the place's zone."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo

# format code -> (digits, strptime pattern, carries a zone suffix)
FORMATS = {
    "101": (6, "%y%m%d", False), "102": (8, "%Y%m%d", False),
    "201": (10, "%y%m%d%H%M", False), "202": (12, "%y%m%d%H%M%S", False),
    "203": (12, "%Y%m%d%H%M", False), "204": (14, "%Y%m%d%H%M%S", False),
    "205": (12, "%Y%m%d%H%M", True), "301": (10, "%y%m%d%H%M", True),
    "303": (12, "%Y%m%d%H%M", True), "304": (14, "%Y%m%d%H%M%S", True),
}
_BY_DIGITS = {8: "102", 12: "203", 14: "204", 10: "201", 6: "101"}
# four-digit-year patterns read by slicing: where the plain split is a valid time strptime gives the
# same, and anything else still goes to strptime (its reading and its error text)
_SLICES = {
    "%Y%m%d": (8, lambda d: datetime(int(d[:4]), int(d[4:6]), int(d[6:8]))),
    "%Y%m%d%H%M": (12, lambda d: datetime(int(d[:4]), int(d[4:6]), int(d[6:8]), int(d[8:10]), int(d[10:12]))),
    "%Y%m%d%H%M%S": (14, lambda d: datetime(int(d[:4]), int(d[4:6]), int(d[6:8]), int(d[8:10]), int(d[10:12]),
                                            int(d[12:14]))),
}
_ZONE = re.compile(r"^(?:(?P<utc>Z|UTC|GMT|UT)|(?P<sign>[+-])(?P<h>\d{2}):?(?P<m>\d{2})?)$")
# zone abbreviations senders put where 303/304 expect an offset (fixed offsets only: no DST guessing)
_NAMED_ZONES = {"WET": 0, "WEST": 60, "CET": 60, "CEST": 120, "EET": 120, "EEST": 180, "MSK": 180,
                "TRT": 180, "GET": 240, "AZT": 240, "AQTT": 300, "ALMT": 360}
# time-of-day formats (401 HHMM, 402 HHMMSS) -> digits: a time without its date, read only beside a DTM
# of the same qualifier that holds the date (common.Context.dated)
TIME_OF_DAY = {"401": 4, "402": 6}
# period formats (start-end): the start is the event time, read in the format of one half
_RANGES = {"713": "201", "717": "101", "718": "102", "719": "203", "720": "303"}
# a date outside these years is a misread value (e.g. MMDDHHMM taken as CCYYMMDD), never an event
_YEARS = (1950, 2100)


# a date/time written with separators ('2026-03-02 10:30', '20260302 10:30', '2026-03-02T10:30:15+04:00'),
# sent released ('10?:30') or rebuilt from components a bare ':' split (common.dtm_parts): one reading only
_SEPARATED = re.compile(r"^(?P<y>\d{4})(?P<dash>-?)(?P<mo>\d{2})(?P=dash)(?P<d>\d{2})"
                        r"(?:[ T:]?(?P<h>\d{2}):?(?P<mi>\d{2})(?::?(?P<s>\d{2}))?)?"
                        r"(?P<zone>\s*(?:Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?))?$")
_TIME_ONLY = re.compile(r"^\d{1,2}:\d{2}(?::\d{2})?$")


class DateError(ValueError):
    """A DTM value that is not a date in its declared format; the message says why."""


def _unseparated(value: str) -> tuple[str, str | None]:
    """(digits[+zone], note) of a value written with date/time separators; unchanged when it has none.

    Only a whole date (CCYY-MM-DD or CCYYMMDD), optionally followed by HH:MM[:SS] and an offset, is
    read; anything else with a ':' in it is refused, since a part of it may have been cut off at
    an unreleased component separator."""
    if ":" not in value and " " not in value and "T" not in value.upper() and not (
            len(value) >= 10 and value[4] == "-" and value[7:8] == "-"):
        return value, None
    if _TIME_ONLY.match(value):
        raise DateError(f"{value!r} is a time of day without its date (a ':' in a DTM value is the component "
                        f"separator unless released as '?:')")
    m = _SEPARATED.match(value.upper())
    if m is None:
        if ":" in value:
            raise DateError(f"{value!r} holds ':' (the component separator) and is not a date and time that "
                            f"can be read unambiguously: send CCYYMMDDHHMM with format 203, or release it as '?:'")
        return value, None   # e.g. '202403141230 CET': left to the zone rules
    digits = m["y"] + m["mo"] + m["d"] + (m["h"] or "") + (m["mi"] or "") + (m["s"] or "")
    read = digits + (m["zone"] or "").strip()
    return read, (None if read == value else f"{value!r} is written with separators; read as {read!r}")


def parse_dtm(value: str, fmt: str, _separated: bool = True) -> tuple[datetime, bool, str | None]:
    """Return (datetime, has offset, note) for a DTM value; naive when the value has no offset.

    A value whose length does not fit its format is read by its length (8 digits as 102, 12 as
    203...) and the note says so; anything else raises DateError with the reason.
    """
    value = (value or "").strip()
    if not value:
        raise DateError("the date/time value is empty")
    fmt = (fmt or "").strip()
    if fmt in TIME_OF_DAY:
        raise DateError(f"{value!r} is a time of day (format {fmt}) without its date: send the date in a DTM of the "
                        f"same qualifier (format 102) or the whole time as CCYYMMDDHHMM (203)")
    if fmt in _RANGES or _looks_like_range(value):
        return _range_start(value, fmt)
    if _separated and not value.isdigit():
        value, separated = _unseparated(value)
        if separated:
            dt, has_offset, note = parse_dtm(value, fmt, False)
            return dt, has_offset, separated + (f"; {note}" if note else "")
    digits = len(value) - len(value.lstrip("0123456789"))
    head, zone = value[:digits], value[digits:]
    note = None
    read_as = fmt
    spec = FORMATS.get(fmt)
    if spec is None or spec[0] != digits:
        guessed = read_as = _BY_DIGITS.get(digits)
        if guessed is None:
            raise DateError(f"{value!r} does not fit format {fmt or '(none)'}: expected digits as "
                            f"CCYYMMDD (102), CCYYMMDDHHMM (203), CCYYMMDDHHMMSS (204) or with an offset (303)")
        if fmt:
            note = (f"value {value!r} does not match format {fmt}; read as {guessed}" if spec
                    else f"format {fmt!r} is not supported; {value!r} read as {guessed}")
        has_zone = bool(zone)
        spec = (FORMATS[guessed][0], FORMATS[guessed][1], has_zone)
    if zone and not spec[2]:
        raise DateError(f"{value!r}: format {fmt} carries no time zone, but {zone!r} follows the digits")
    try:
        dt = _sliced(head, spec[1]) or datetime.strptime(head, spec[1])
    except ValueError as exc:
        raise DateError(f"{value!r} is not a valid date ({exc})") from None
    if spec[1].startswith("%y"):   # two-digit years: 70-99 are the 1900s, like the UNB rule
        dt = dt.replace(year=dt.year - 100) if dt.year > 2069 else dt
    if not _YEARS[0] <= dt.year <= _YEARS[1]:
        raise DateError(f"{value!r} read as format {read_as} gives the year {dt.year}, which cannot be an event's"
                        + ("" if read_as == fmt
                           else f" (format {fmt or '(none)'} is not one Corridor reads for this value)"))
    if not zone:
        return dt, False, note
    m = _ZONE.match(zone.upper().strip())
    if m is None:
        minutes = _NAMED_ZONES.get(zone.upper().strip())
        if minutes is None:
            raise DateError(f"{value!r}: time zone {zone!r} is not understood (expected +HH, +HHMM, -HH:MM or UTC)")
        return dt.replace(tzinfo=timezone(timedelta(minutes=minutes))), True, note
    if m["utc"]:
        return dt.replace(tzinfo=timezone.utc), True, note
    offset = timedelta(hours=int(m["h"]), minutes=int(m["m"] or 0))
    if offset > timedelta(hours=14):
        raise DateError(f"{value!r}: offset {zone} is beyond ±14:00")
    return dt.replace(tzinfo=timezone(offset if m["sign"] == "+" else -offset)), True, note


def _looks_like_range(value: str) -> bool:
    """Two runs of 8+ digits joined by '-' (a period sent without its format code)."""
    head, sep, tail = value.partition("-")
    return bool(sep) and len(head) >= 8 and head.isdigit() and len(tail) >= 8 and tail[:8].isdigit()


def _range_start(value: str, fmt: str) -> tuple[datetime, bool, str | None]:
    """The start of a period value (713/717/718/719/720: start-end), with a note saying so."""
    single = _RANGES.get(fmt)
    digits = len(value) - len(value.lstrip("0123456789"))
    if single is None:
        single = _BY_DIGITS.get(digits, "203")
    width = FORMATS[single][0]
    start = value[:digits]
    rest = value[digits:]
    # 720 (with a zone): the start's zone runs up to the '-' that begins the end date
    if FORMATS[single][2] and rest:
        cut = rest.find("-", 1) if rest[0] in "+-" else rest.find("-")
        zone = rest if cut < 0 else rest[:cut]
        start += zone
        rest = "" if cut < 0 else rest[cut:]
    if digits != width or (rest and not rest.startswith("-")):
        raise DateError(f"{value!r} is not a period in format {fmt or '(none)'}: expected start-end, "
                        f"each {width} digits")
    dt, has_offset, note = parse_dtm(start, single)
    end = f" (to {rest[1:]})" if rest[1:] else ""
    how = f"format {fmt}" if fmt in _RANGES else f"format {fmt or '(none)'}, read as a period"
    return dt, has_offset, note or f"{value!r} is a period ({how}); its start is used{end}"


def _sliced(digits: str, pattern: str) -> datetime | None:
    """The datetime of all-digit text in a four-digit-year pattern, None when the plain split fails."""
    spec = _SLICES.get(pattern)
    if spec is None or len(digits) != spec[0]:
        return None
    try:
        return spec[1](digits)
    except ValueError:
        return None


def localize(dt: datetime, zone: tzinfo | None) -> datetime:
    """The naive `dt` in `zone` (UTC when None); `fold=0` picks the first of a repeated hour."""
    return dt.replace(tzinfo=zone or timezone.utc)
