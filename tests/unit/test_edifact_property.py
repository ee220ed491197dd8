"""parse_edifact never raises: random bytes and mutated valid messages yield events or reasons."""

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corridor.ingest.edifact import parse_edifact

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "edifact"
VALID = [p.read_bytes() for p in sorted(FIXTURES.glob("*.edi"))]
SPECIAL = b"'+:?\n\r UNHTBZ0123456789\xe9\xff"


def check(raw):
    r = parse_edifact(raw)
    assert r.events or r.rejections or r.schedule or r.stowage
    assert all(x.reason for x in r.rejections)
    assert all(e.event_time.tzinfo is not None for e in r.events)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_random_bytes_never_raise(raw):
    check(raw)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(VALID), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 8),
                                                  st.binary(max_size=6) | st.sampled_from([bytes([c]) for c in SPECIAL])),
                                        min_size=1, max_size=6))
def test_mutated_messages_never_raise(base, edits):
    raw = bytearray(base)
    for at, cut, insert in edits:
        at %= len(raw) + 1
        raw[at:at + cut] = insert
    check(bytes(raw))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="UNHBTZ+:'?0123456789ABCDEQLSTM \n", max_size=300))
def test_edifact_shaped_text_never_raises(text):
    check(text)
