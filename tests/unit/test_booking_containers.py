"""Container requests as typed: counts, shorthands, ISO size types, and clear refusals."""

from __future__ import annotations

import pytest

from corridor.booking.containers import describe, parse_containers
from corridor.domain.errors import DomainError


def test_shorthands_and_iso_codes():
    reqs = parse_containers("1x20,3x40HC")
    assert {(c.count, c.size_type) for c in reqs} == {(1, "22G1"), (3, "45G1")}
    assert sum(c.teu for c in reqs) == 7
    assert sum(c.teu for c in parse_containers("2x40")) == 4
    assert parse_containers("2x45G1, 1x45G1")[0].count == 3     # same size merged
    assert parse_containers("40hc")[0].size_type == "45G1"       # one box when no count
    assert describe(parse_containers("2×40")) == "2x42G1"


@pytest.mark.parametrize("spec,why", [
    ("", "no containers"), ("0x40", "at least 1"), ("2x41", "not known"), ("twox40", "not known"), ("2 x", "COUNTxSIZE"),
    ("2x40,,1x20", "COUNTxSIZE"),
])
def test_refusals_name_the_problem(spec, why):
    with pytest.raises(DomainError, match=why):
        parse_containers(spec)


def test_a_large_lot_is_read_as_typed():
    # how many TEU one booking takes depends on the route's departures: the planner and the
    # booking refuse a lot too large with that figure, the parser does not guess a limit
    assert sum(c.teu for c in parse_containers("10000x40")) == 20000
