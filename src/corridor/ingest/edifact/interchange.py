"""The envelope around pydifact's tokenizer: charset, UNA, UNB/UNG/UNH/UNT/UNE/UNZ and their counts.

pydifact tokenizes (release characters, separators); this module decides what the bytes are,
cuts the segment stream into messages and checks the control counts and references, turning each
problem into a warning or a per-message rejection (policy in the package docstring).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

from pydifact.control import Characters
from pydifact.exceptions import EDISyntaxError
from pydifact.token import Token
from pydifact.tokenizer import Tokenizer

from corridor.ingest.results import Rejection

# UNB syntax identifier -> Python codec (ISO 9735 character repertoires)
CHARSETS = {
    "UNOA": "ascii", "UNOB": "ascii", "UNOC": "latin-1", "UNOD": "iso8859-2", "UNOE": "iso8859-5",
    "UNOF": "iso8859-7", "UNOG": "iso8859-3", "UNOH": "iso8859-4", "UNOI": "iso8859-6",
    "UNOJ": "iso8859-8", "UNOK": "iso8859-9", "UNOW": "utf-8", "UNOY": "utf-8",
}
_MAX_LISTED = 5   # repeated findings of one kind are listed this often, then counted


@dataclass(slots=True)
class Seg:
    """One segment: its tag, its data elements (str or list of components) and its position."""

    tag: str
    els: list
    pos: int   # 1-based position in the file as received; UNA counts as segment 1

    def el(self, i: int, c: int = 0) -> str:
        """Component `c` of element `i` (0-based, after the tag), '' when absent."""
        if i >= len(self.els):
            return ""
        e = self.els[i]
        if isinstance(e, str):
            return e if c == 0 else ""
        return e[c] if c < len(e) else ""


@dataclass(slots=True)
class RawMessage:
    """The segments between one UNH and its UNT, with the message identifier."""

    ref: str
    type: str
    version: str
    release: str
    agency: str
    assoc: str
    unh: Seg
    body: list[Seg] = field(default_factory=list)

    @property
    def directory(self) -> str:
        """'D:95B' style directory of the message."""
        return f"{self.version}:{self.release}"


@dataclass(slots=True)
class Envelope:
    """A whole received file: meta, the complete messages, and what went wrong around them."""

    meta: dict
    messages: list[RawMessage]
    rejections: list[Rejection]
    warnings: list[str]


def decode(raw: bytes | str) -> tuple[str, str, list[str]]:
    """Return (text, codec, warnings): bytes decoded by the charset UNB names, with fallbacks."""
    if isinstance(raw, str):
        return raw.lstrip("\ufeff"), "str", []
    notes: list[str] = []
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    elif raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return raw.decode("utf-16", errors="replace"), "utf-16", ["input is UTF-16 (byte-order mark); decoded as UTF-16"]
    syntax = _syntax_identifier(raw[:1024].decode("latin-1"))
    codec = CHARSETS.get(syntax[:4])
    if codec is None:
        text, used = _utf8_or_latin1(raw)
        if syntax:
            notes.append(f"UNB syntax identifier {syntax!r} is not a UN/EDIFACT character set "
                         f"(UNOA-UNOK, UNOW, UNOY); decoded as {used}")
        elif used != "ascii":
            notes.append(f"no UNB names the character set; decoded as {used}")
        return text, used, notes
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError as exc:
        text, used = _utf8_or_latin1(raw)
        notes.append(f"UNB declares {syntax[:4]} ({codec}) but byte {exc.start} is {raw[exc.start]:#04x}, "
                     f"outside it; decoded as {used}")
        return text, used, notes
    if codec != "utf-8" and not raw.isascii():
        # real Latin-n text almost never forms valid UTF-8 sequences; mislabelled UTF-8 does
        try:
            utf8 = raw.decode("utf-8")
        except UnicodeDecodeError:
            return text, codec, notes
        notes.append(f"UNB declares {syntax[:4]} ({codec}) but the bytes are UTF-8; decoded as UTF-8")
        return utf8, "utf-8", notes
    return text, codec, notes


def _utf8_or_latin1(raw: bytes) -> tuple[str, str]:
    if raw.isascii():
        return raw.decode("ascii"), "ascii"
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "latin-1"


def _syntax_identifier(head: str) -> str:
    """The syntax identifier of UNB (e.g. 'UNOC') read from the first bytes, '' when absent."""
    head = head.lstrip("\ufeff\r\n\t ")
    data_sep, comp_sep = "+", ":"
    if head.startswith("UNA") and len(head) >= 9:
        comp_sep, data_sep = head[3], head[4]
    i = head.find("UNB" + data_sep)
    if i < 0:
        return ""
    rest = head[i + 4:i + 40]
    end = min((j for j in (rest.find(comp_sep), rest.find(data_sep)) if j >= 0), default=len(rest))
    return rest[:end]


def service_characters(text: str) -> tuple[Characters, str, bool, Rejection | None]:
    """Return (characters, text after UNA, una present, rejection when the UNA is unusable)."""
    if not text.startswith("UNA"):
        return Characters(), text, False, None
    if len(text) < 9:
        return Characters(), text, True, Rejection("UNA is cut short: expected 6 service characters after 'UNA'",
                                                   segment=1, element="UNA", expected="UNA:+.? '")
    s = text[3:9]
    comp, data, _dec, rel, _res, term = s
    if len({comp, data, term}) < 3 or rel in (comp, data, term) or term.isalnum() or data.isalnum():
        return Characters(), text, True, Rejection(
            f"UNA service characters {s!r} are unusable: separators, release character and "
            f"terminator must all differ and not be letters or digits",
            segment=1, element="UNA", expected="six distinct service characters, e.g. UNA:+.? '")
    chars = Characters.from_str("UNA" + s)
    if rel == " ":
        chars.escape_character = "\x00"   # a space here means 'no release character' (ISO 9735)
    return chars, text[9:].lstrip("\r\n"), True, None


def read_interchange(raw: bytes | str) -> Envelope:
    """Return the envelope of a received file: meta, complete messages, rejections, warnings."""
    text, codec, notes = decode(raw)
    text = text.lstrip("\r\n\t ")
    meta: dict = {"charset": codec, "sender": None, "recipient": None, "interchange_ref": None,
                  "syntax": None, "prepared": None, "una": False, "message_types": [], "messages": 0}
    env = Envelope(meta, [], [], notes)
    if not text.strip():
        env.rejections.append(Rejection("the file is empty", expected="an EDIFACT interchange (UNB...UNZ) or message (UNH...UNT)"))
        return env
    chars, body, una, bad = service_characters(text)
    meta["una"] = una
    if bad:
        env.rejections.append(bad)
        return env
    body = _terminated(body, chars, env)
    body = _without_empty_segments(body, chars, env, offset=1 if una else 0)
    _line_breaks(body, chars, env, offset=1 if una else 0)
    _Walker(env).walk(_segments(body, chars, env, first_pos=2 if una else 1))
    return env


def _terminated(body: str, chars: Characters, env: Envelope) -> str:
    """The text with a final segment terminator (many exports drop the last one)."""
    term, rel = chars.segment_terminator, chars.escape_character
    stripped = body.rstrip("".join(c for c in "\r\n\t " if c != term))
    if not stripped.strip():
        return ""
    if stripped.endswith(term):
        # count release characters right before the terminator: an odd count escapes it
        before = stripped[:-1]
        tail = len(before) - len(before.rstrip(rel))
        if tail % 2 == 0:
            return stripped
    env.warnings.append("the last segment has no segment terminator; one was assumed")
    return stripped + term


def _without_empty_segments(body: str, chars: Characters, env: Envelope, offset: int) -> str:
    """The text without empty segments: a terminator doubled ("''", also across a line break).

    Generators that end each line with "'" and also write "'" after a value leave them (DB Cargo's
    CIM/SMGS IFTMIN after each EQA). pydifact reads the second terminator as text of the next
    segment ("':RFF"), which would lose that segment without a word; the void is dropped (warned)."""
    t, r = chars.segment_terminator, chars.escape_character
    if t + t not in body and not re.search(rf"{re.escape(t)}\s+{re.escape(t)}", body):
        return body
    cut, voids = [], []
    for m in re.finditer(rf"{re.escape(t)}(?=(\s*){re.escape(t)})", body):
        i = m.start() - 1
        while i >= 0 and body[i] == r:
            i -= 1
        if (m.start() - 1 - i) % 2:
            continue          # a released terminator is text
        cut.append((m.end(), m.end() + len(m.group(1)) + 1))
        if not voids:
            voids.append(_segment_at(body, m.start(), t, r) + offset + 1)
    if not cut:
        return body
    parts, at = [], 0
    for a, b in cut:
        parts.append(body[at:a])
        at = b
    parts.append(body[at:])
    env.warnings.append(f"segment {voids[0]}: {len(cut)} empty segment(s) (a segment terminator doubled) "
                        f"ignored")
    return "".join(parts)


def _line_breaks(body: str, chars: Characters, env: Envelope, offset: int) -> None:
    """Warn about line breaks that sit inside a data element rather than between segments."""
    if "\n" not in body:   # a file on one line has none to find
        return
    t, r = chars.segment_terminator, chars.escape_character
    found = []
    for m in re.finditer(rf"(?:[^{re.escape(t)}\s]|{re.escape(r)}+{re.escape(t)})\r?\n", body):
        text = m.group()
        if text.rstrip("\r\n").endswith(t):
            # after 'release+ terminator': an odd run of release characters escapes the terminator
            run = len(text.rstrip("\r\n")[:-1])
            if run % 2 == 0:
                continue
        found.append(m.start())
    for start in found[:_MAX_LISTED]:
        seg = _segment_at(body, start, t, r) + offset
        env.warnings.append(f"segment {seg}: line break inside a data element (kept as part of the text)")
    if len(found) > _MAX_LISTED:
        env.warnings.append(f"{len(found) - _MAX_LISTED} more line breaks inside data elements")


def _segment_at(body: str, index: int, term: str, rel: str) -> int:
    """1-based number of the segment holding `index` (escaped terminators discounted)."""
    head = body[:index]
    return head.count(term) - head.count(rel + term) + head.count(rel + rel + term) + 1


_TERMINATOR = Token.Type.TERMINATOR
_DATA_SEPARATOR = Token.Type.DATA_SEPARATOR
_COMPONENT_SEPARATOR = Token.Type.COMPONENT_SEPARATOR


class _TokenizerCharacters:
    """The service characters as pydifact's tokenizer reads them.

    pydifact's Characters defines `__len__`, and its tokenizer tests `if self.characters` for
    every character it reads: a Python call per character, a tenth of the tokenizer's time. This
    object holds the same characters as plain attributes and is true without a call; anything
    else a tokenizer asks of it comes from the Characters it was made from."""

    __slots__ = ("component_separator", "data_separator", "decimal_point", "escape_character",
                 "reserved_character", "segment_terminator", "line_terminators", "_characters")

    def __init__(self, characters: Characters):
        self._characters = characters
        for name in self.__slots__[:-1]:
            setattr(self, name, getattr(characters, name))

    def __getattr__(self, name: str):
        return getattr(self._characters, name)


def _segments(body: str, chars: Characters, env: Envelope, first_pos: int):
    """Yield Seg objects from pydifact's tokenizer, resuming at the next UNH after a syntax error.

    pydifact's tokenizer reads the text (release characters, separators, line ends); its tokens
    are put together here element for element as pydifact's Parser.convert_tokens_to_raw_segments
    does (tests/unit/test_edifact_tokens.py holds the two side by side), straight into Segs:
    one loop over the tokens instead of the parser's generator inside this one."""
    pos, start = first_pos, 0
    tokenizer_chars = _TokenizerCharacters(chars)
    comp = chars.component_separator
    while start < len(body):
        tokenizer = Tokenizer()
        try:
            in_segment = False
            seg: list = []
            element: list = []
            empty = 0   # component separators since the last content (':::' leaves empty components)
            for token in tokenizer.get_tokens(body[start:], tokenizer_chars):
                kind = token.type
                if in_segment:
                    if kind is _TERMINATOR:
                        in_segment = False
                        n = len(element)
                        seg.append("" if n == 0 else element[0] if n == 1 else element)
                        element = []
                        tag = seg[0]
                        yield Seg(tag if isinstance(tag, str) else comp.join(tag), seg[1:], pos)
                        pos += 1
                        continue
                else:
                    seg, element, empty, in_segment = [], [], 0, True
                if kind is _DATA_SEPARATOR:
                    n = len(element)
                    seg.append("" if n == 0 else element[0] if n == 1 else element)
                    element, empty = [], 0
                    continue
                if kind is _COMPONENT_SEPARATOR:
                    empty += 1
                    continue
                if empty:
                    element.extend([""] * (empty - 1 if element else empty))
                    empty = 0
                element.append(token.value)
            return
        except EDISyntaxError as exc:
            at = start + tokenizer._message_index
            yield Seg("\x00ERR", [f"{exc} at character {at}"], pos)
            term = chars.segment_terminator
            nxt = re.compile(rf"{re.escape(term)}\s*(UNH{re.escape(chars.data_separator)})").search(body, at)
            skipped_to = nxt.start(1) if nxt else len(body)
            pos += max(1, body.count(term, at, skipped_to))
            start = skipped_to


# segments whose first element (its first component) is a code list qualifier the mappers compare:
# 'eqd+cn', 'DTM+ 334' and 'rff+bn:x' read as 'EQD+CN', 'DTM+334', 'RFF+BN:x' (values are left alone)
_QUALIFIED = frozenset({"BGM", "CNI", "CNT", "DTM", "EQD", "FTX", "GID", "LOC", "MEA", "NAD", "RFF", "STS",
                        "TDT", "TMP", "DIM", "HAN", "EQA", "TSR", "DGS", "SGP", "GDS"})


_TAG = re.compile(r"^[A-Z0-9]{3}$")


def _clean_tag(seg: Seg) -> None:
    """A tag with whitespace around it or in lower case (UNOB allows it) as the three capitals it is."""
    if seg.tag != "\x00ERR":
        seg.tag = seg.tag.strip().upper()


def _clean_qualifier(seg: Seg) -> None:
    """The qualifier (first element, first component) of `seg` stripped and in capitals."""
    els = seg.els
    if not els:
        return
    first = els[0]
    if isinstance(first, str):
        clean = first.strip().upper()
        if clean != first:
            els[0] = clean
    elif first and isinstance(first[0], str):
        clean = first[0].strip().upper()
        if clean != first[0]:
            els[0] = [clean, *first[1:]]


class _Walker:
    """Cuts the segment stream into messages and checks the control counts of the envelope."""

    def __init__(self, env: Envelope):
        self.env, self.meta = env, env.meta
        self.msg: RawMessage | None = None
        self.unb: Seg | None = None
        self.group: Seg | None = None
        self.in_group = self.in_interchange = 0
        self.refs: set[str] = set()
        self.saw_unb = self.bare_warned = False
        self.stray: dict[str, list[int]] = {}

    def warn(self, text: str) -> None:
        self.env.warnings.append(text)

    def reject(self, reason: str, seg: Seg | None, element: str | None = None,
               expected: str | None = None, ref: str | None = None) -> None:
        self.env.rejections.append(Rejection(reason, seg.pos if seg else None, element, expected, ref))

    def walk(self, segments) -> None:
        handlers = {"UNB": self.on_unb, "UNG": self.on_ung, "UNH": self.on_unh, "UNT": self.on_unt,
                    "UNE": self.on_une, "UNZ": self.on_unz, "\x00ERR": self.on_error}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # pydifact warns per segment; we report our own
            for seg in segments:
                if len(seg.tag) != 3 or not seg.tag.isupper():   # ' BGM', 'bgm' (CRLF + indent, UNOB)
                    _clean_tag(seg)
                    if not _TAG.match(seg.tag) and seg.tag != "\x00ERR":
                        # a stray character glued to the tag ("5't\nRFF+BN'" from a typo in a generator)
                        self.warn(f"segment {seg.pos}: {seg.tag!r} is not a segment tag (three letters or "
                                  f"digits); the segment is not read")
                if seg.tag in _QUALIFIED:
                    _clean_qualifier(seg)
                h = handlers.get(seg.tag)
                if h:
                    h(seg)
                elif self.msg is not None:
                    self.msg.body.append(seg)
                else:
                    self.stray.setdefault(seg.tag, []).append(seg.pos)
        self.finish()

    # ---- interchange
    def on_unb(self, seg: Seg) -> None:
        if self.unb is not None:
            self.close_interchange(None)
            self.warn(f"segment {seg.pos}: a second UNB starts another interchange in the same file")
        self.unb, self.in_interchange, self.saw_unb = seg, 0, True
        if self.meta["sender"] is None:
            self.meta.update(sender=seg.el(1) or None, sender_qualifier=seg.el(1, 1) or None,
                             recipient=seg.el(2) or None, interchange_ref=seg.el(4) or None,
                             syntax=":".join(filter(None, (seg.el(0), seg.el(0, 1)))) or None,
                             test=seg.el(10) == "1")
            self.meta["prepared"] = _unb_date(seg, self.warn)

    def on_unz(self, seg: Seg) -> None:
        if self.unb is None:
            self.warn(f"segment {seg.pos}: UNZ without UNB")
        self.close_interchange(seg)

    def close_interchange(self, unz: Seg | None) -> None:
        self.close_open("the interchange ends (UNZ)" if unz else "a new UNB starts", unz)
        unb = self.unb
        if unb is None:
            return
        if unz is None:
            self.warn(f"interchange {unb.el(4)!r}: no UNZ trailer")
        else:
            if unz.el(1) != unb.el(4):
                self.warn(f"segment {unz.pos}: UNZ reference {unz.el(1)!r} does not match UNB reference "
                          f"{unb.el(4)!r}; messages kept")
            count = unz.el(0).strip()
            if not count.isdigit() or int(count) != self.in_interchange:
                self.warn(f"segment {unz.pos}: UNZ counts {count!r} messages/groups, the interchange has "
                          f"{self.in_interchange}; messages kept")
        self.unb = None

    # ---- functional groups (pydifact has none)
    def on_ung(self, seg: Seg) -> None:
        self.close_open("a UNG group header follows", seg)
        self.group, self.in_group = seg, 0
        self.in_interchange += 1

    def on_une(self, seg: Seg) -> None:
        self.close_open("the group ends (UNE)", seg)
        if self.group is None:
            self.warn(f"segment {seg.pos}: UNE without UNG")
            return
        if seg.el(1) != self.group.el(4):
            self.warn(f"segment {seg.pos}: UNE reference {seg.el(1)!r} does not match UNG reference "
                      f"{self.group.el(4)!r}")
        if not (seg.el(0).strip().isdigit() and int(seg.el(0)) == self.in_group):
            self.warn(f"segment {seg.pos}: UNE counts {seg.el(0)!r} messages, the group has {self.in_group}")
        self.group = None

    # ---- messages
    def on_unh(self, seg: Seg) -> None:
        self.close_open(f"a new UNH starts at segment {seg.pos}", seg)
        ref, mtype = seg.el(0), seg.el(1)
        if not ref or not mtype:
            self.reject("UNH without a message reference or message identifier", seg, "UNH",
                        "UNH+<reference>+<TYPE>:D:<release>:UN")
            self.msg = RawMessage(ref or "?", "", "", "", "", "", seg)
            self.msg.type = "\x00BAD"   # collect its segments, map nothing
            return
        self.msg = RawMessage(ref, mtype.upper(), seg.el(1, 1), seg.el(1, 2), seg.el(1, 3), seg.el(1, 4), seg)
        if self.unb is None and not self.saw_unb and not self.bare_warned:
            self.bare_warned = True
            self.warn(f"segment {seg.pos}: message {ref!r} has no UNB interchange header "
                      f"(bare message): sender and character set are not declared")
        if ref in self.refs:
            self.warn(f"segment {seg.pos}: message reference {ref!r} is used twice in this file")
        self.refs.add(ref)

    def on_unt(self, seg: Seg) -> None:
        msg = self.msg
        if msg is None:
            self.warn(f"segment {seg.pos}: UNT without UNH; ignored")
            return
        self.msg = None
        self.count_message()
        if msg.type == "\x00BAD":
            return
        if seg.el(1) != msg.ref:
            self.reject(f"UNT reference {seg.el(1)!r} does not match UNH reference {msg.ref!r}: "
                        f"the message boundaries cannot be trusted", seg, "UNT/0062", msg.ref, msg.ref)
            return
        count, actual = seg.el(0), len(msg.body) + 2
        if not (count.strip().isdigit() and int(count) == actual):   # '000047' is 47
            self.warn(f"segment {seg.pos}: UNT of message {msg.ref!r} counts {count!r} segments, the message "
                      f"has {actual} (UNH to UNT); message kept")
        self.env.messages.append(msg)
        if msg.type not in self.meta["message_types"]:
            self.meta["message_types"].append(msg.type)

    def on_error(self, seg: Seg) -> None:
        ref = self.msg.ref if self.msg else None
        self.reject(f"syntax error: {seg.els[0]}; skipped to the next UNH", seg, None,
                    "a segment terminator after every segment, no line break right after a release character", ref)
        if self.msg is not None:
            self.count_message()
        self.msg = None

    def count_message(self) -> None:
        """Count a finished message in its group, or in the interchange when there is no group."""
        self.meta["messages"] += 1
        if self.group is not None:
            self.in_group += 1
        else:
            self.in_interchange += 1

    def close_open(self, why: str, seg: Seg | None) -> None:
        """Reject a message that is still open when something else begins."""
        msg = self.msg
        if msg is None:
            return
        self.msg = None
        self.count_message()
        if msg.type != "\x00BAD":
            self.reject(f"message {msg.ref!r} (UNH at segment {msg.unh.pos}) is not closed by UNT before {why}",
                        seg or msg.unh, "UNT", "UNT+<segment count>+<reference>", msg.ref)

    def finish(self) -> None:
        if self.msg is not None:
            msg, self.msg = self.msg, None
            self.meta["messages"] += 1
            if msg.type != "\x00BAD":
                self.reject(f"message {msg.ref!r} (UNH at segment {msg.unh.pos}) ends without UNT: "
                            f"the file is cut short", msg.unh, "UNT", "UNT+<segment count>+<reference>", msg.ref)
        if self.unb is not None:
            self.close_interchange(None)
        for tag, where in self.stray.items():
            listed = ", ".join(map(str, where[:_MAX_LISTED])) + (" ..." if len(where) > _MAX_LISTED else "")
            self.warn(f"segment {tag!r} outside any message (at {listed}); ignored")
        if not self.meta["messages"] and not self.env.rejections:
            self.env.rejections.append(Rejection("no EDIFACT message found (no UNH ... UNT)", segment=None,
                                                 element="UNH", expected="UNH+<reference>+<TYPE>:D:<release>:UN"))


def _unb_date(unb: Seg, warn) -> str | None:
    """The UNB preparation date/time as 'YYYY-MM-DDTHH:MM' (sender's local time), None if invalid."""
    date, time = unb.el(3), unb.el(3, 1)
    if len(date) == 6:
        date = ("19" if date[:2] > "69" else "20") + date
    ok = len(date) == 8 and date.isdigit() and len(time) == 4 and time.isdigit()
    if ok:
        y, mo, d, h, mi = int(date[:4]), int(date[4:6]), int(date[6:]), int(time[:2]), int(time[2:])
        ok = y >= 1970 and 1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60
    if not ok:
        warn(f"UNB date/time {unb.el(3)}:{unb.el(3, 1)} is not a valid date (expected YYMMDD:HHMM); ignored")
        return None
    return f"{date[:4]}-{date[4:6]}-{date[6:]}T{time[:2]}:{time[2:]}"
