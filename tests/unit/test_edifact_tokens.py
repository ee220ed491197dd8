"""The envelope puts pydifact's tokens into segments itself: exactly as pydifact's own Parser does.

The reference below is the reading through pydifact's Parser.convert_tokens_to_raw_segments
(with the same resumption after a syntax error); both must give the same segments, elements,
positions and syntax errors for any text.
"""

import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydifact.control import Characters
from pydifact.exceptions import EDISyntaxError
from pydifact.parser import Parser
from pydifact.tokenizer import Tokenizer

from corridor.ingest.edifact.interchange import Envelope, _segments, _terminated, service_characters

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "edifact"


def by_pydifact_parser(body: str, chars: Characters, first_pos: int) -> list[tuple]:
    out, pos, start = [], first_pos, 0
    parser = Parser(characters=chars)
    while start < len(body):
        tokenizer = Tokenizer()
        try:
            for raw in parser.convert_tokens_to_raw_segments(tokenizer.get_tokens(body[start:], chars)):
                tag = raw[0] if isinstance(raw[0], str) else chars.component_separator.join(raw[0])
                out.append((tag, raw[1:], pos))
                pos += 1
            break
        except EDISyntaxError as exc:
            at = start + tokenizer._message_index
            out.append(("\x00ERR", [f"{exc} at character {at}"], pos))
            term = chars.segment_terminator
            nxt = re.compile(rf"{re.escape(term)}\s*(UNH{re.escape(chars.data_separator)})").search(body, at)
            skipped_to = nxt.start(1) if nxt else len(body)
            pos += max(1, body.count(term, at, skipped_to))
            start = skipped_to
    return out


def ours(body: str, chars: Characters, first_pos: int) -> list[tuple]:
    return [(s.tag, s.els, s.pos) for s in _segments(body, chars, Envelope({}, [], [], []), first_pos)]


def same(text: str) -> None:
    chars, body, una, bad = service_characters(text)
    if bad:
        return
    env = Envelope({}, [], [], [])
    for b in (body, _terminated(body, chars, env)):
        assert ours(b, chars, 2 if una else 1) == by_pydifact_parser(b, chars, 2 if una else 1)


def test_fixtures_read_as_pydifacts_parser_reads_them():
    files = sorted(FIXTURES.glob("*.edi"))
    assert files
    for p in files:
        same(p.read_bytes().decode("latin-1"))


def test_odd_shapes_read_as_pydifacts_parser_reads_them():
    for text in ["UNH+1+CODECO:D:95B:UN''BGM+34'UNT+3+1'", "A:B+x:y:+:z'", "BGM+34+::a:+b::'", "'''", "+:+:'",
                 ":::'", "UNA:+.? 'BGM+34?'x+?+y+??'", "UNA:+.? 'X+a?", "X+a\n'Y+b'\r\n", "X+?\nY'UNH+1+A'",
                 "UNA*~.\\ !X~a*b~c\\!d!Y~~*!", "no terminator at all"]:
        same(text)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet="UNHBTZ+:'?0123456789ABC \n\r*~!\\.", max_size=200))
def test_any_text_reads_as_pydifacts_parser_reads_it(text):
    same(text)
    same("UNA:+.? '" + text)
    same("UNA*~.\\ !" + text)
