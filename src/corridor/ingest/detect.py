"""Which format a received file is, from its content (the file name only breaks ties)."""

from __future__ import annotations

import csv
import io
import json

from corridor.ingest.csvfmt import detect_profile, sniff_delimiter
from corridor.ingest.positions import looks_like_position

FORMATS = ("edifact", "dcsa-json", "position-json", "csv", "unknown")
_SNIFF_BYTES = 64 * 1024


def detect_format(raw: bytes, filename: str | None = None) -> str:
    """Return "edifact", "dcsa-json", "position-json", "csv" or "unknown" for a received file."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    head = bytes(raw[:_SNIFF_BYTES]).lstrip(b"\xef\xbb\xbf").lstrip()
    if not head:
        return "unknown"
    if head[:3] in (b"UNA", b"UNB", b"UNH"):
        return "edifact"
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):   # UTF-16/32 with its BOM: JSON, or Excel's "Unicode text"
        text = _utf16_head(raw)
        if text.lstrip()[:1] in ("[", "{"):
            return _json_kind(raw)
        return "csv" if _tabular(text.encode("utf-8")) else "unknown"
    if head[:1] in (b"[", b"{"):
        return _json_kind(raw)
    name = (filename or "").lower()
    if _tabular(head) or (name.endswith((".csv", ".tsv")) and b"\n" in head):
        return "csv"
    return "unknown"


def _utf16_head(raw: bytes) -> str:
    """The start of a file that opens with a UTF-16 or UTF-32 byte order mark, as text."""
    codec = "utf-32" if raw[:4] in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff") else "utf-16"
    return bytes(raw[:_SNIFF_BYTES]).decode(codec, errors="ignore")


def _json_kind(raw: bytes) -> str:
    try:
        doc = json.loads(bytes(raw))   # finds UTF-8, -16 or -32 and a BOM itself
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, ValueError):
        return "unknown"
    if isinstance(doc, dict) and ("events" in doc or "feedbackElements" in doc
                                  or (isinstance(doc.get("metadata"), dict) and "eventType" in doc["metadata"])):
        return "dcsa-json"   # a page (its reader says what is wrong with it), or a 3.0.0-Beta-1 event
    if isinstance(doc, dict) and any(_wraps_dcsa(doc.get(key)) for key in _WRAPPER_KEYS):
        return "dcsa-json"   # a webhook notification that wraps DCSA events (the reader unwraps it)
    first = (doc[0] if doc else None) if isinstance(doc, list) else doc
    if isinstance(doc, list) and not doc:
        return "dcsa-json"   # an empty GET /v2/events page
    if not isinstance(first, dict):
        return "unknown"
    if {"lat", "lon"} <= first.keys() and ("time" in first or "device" in first):
        return "position-json"
    if "eventType" in first or "eventClassification" in first or (first.get("isRetracted") is True
                                                                   and "eventID" in first):
        return "dcsa-json"   # (a DCSA 3.0 retraction may carry its eventID alone)
    if looks_like_position(doc):
        return "position-json"   # a tracker's own shape (OwnTracks, Traccar, TTN, GeoJSON...)
    # an array of other objects is most likely a malformed DCSA page: its reader says what is wrong
    return "dcsa-json" if isinstance(doc, list) else "unknown"


_WRAPPER_KEYS = ("data", "payload", "notification", "body", "content")   # as dcsa._WRAPPER_KEYS


def _wraps_dcsa(value) -> bool:
    """True for what a notification wraps DCSA events in: a list of events, {"events": [...]}, one event."""
    def event(v) -> bool:
        return isinstance(v, dict) and ("eventClassification" in v or isinstance(v.get("eventType"), str))
    if isinstance(value, list):
        return any(event(v) for v in value)
    return isinstance(value, dict) and (isinstance(value.get("events"), list) or event(value))


def _tabular(head: bytes) -> bool:
    """`_looks_tabular`, never raising: detection decides where bytes go, whatever they are."""
    try:
        return _looks_tabular(head)
    except (csv.Error, ValueError):   # e.g. a NUL byte in binary data
        return False


def _looks_tabular(head: bytes) -> bool:
    """True when the first lines read as a header (a known profile, or ≥2 columns) plus rows."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        # the CSV reader accepts Windows-1251 too; bytes neither maps (0x98, a cut-off UTF-8
        # sequence, binary) must not stop detection: the reader names them in the quarantine
        text = head.decode("cp1251", errors="replace")
    lines = text.splitlines()[:5]
    if not lines:
        return False
    delimiter = sniff_delimiter(lines[0])
    rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter))
    if not rows or len(rows[0]) < 2:
        return False
    if detect_profile(rows[0]):
        return True
    # an unknown header still goes to the CSV reader, which says which columns it lacks
    return len(rows) > 1 and all(len(r) == len(rows[0]) for r in rows[1:] if r)
