"""DTM values read by slicing give exactly what strptime gives, and strptime still has the last word."""

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corridor.ingest.edifact.dates import _SLICES, DateError, _sliced, parse_dtm


def _strptime(digits: str, pattern: str):
    try:
        return datetime.strptime(digits, pattern)
    except ValueError as exc:
        return type(exc)


# near-valid numbers too: month 0/13, day 0/31/32, hour 24, minute and second 60, year 0
_FIELDS = st.tuples(st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32), st.integers(0, 25),
                    st.integers(0, 61), st.integers(0, 62))


@settings(max_examples=3000, deadline=None)
@given(st.sampled_from(sorted(_SLICES)), _FIELDS | st.text("0123456789", min_size=8, max_size=14).map(lambda s: (s,)))
def test_slicing_agrees_with_strptime_wherever_it_answers(pattern, fields):
    width = _SLICES[pattern][0]
    digits = (fields[0] if len(fields) == 1 else "%04d%02d%02d%02d%02d%02d" % fields)[:width]
    got = _sliced(digits, pattern)
    assert got is None or got == _strptime(digits, pattern)   # None: strptime reads or refuses it


@pytest.mark.parametrize("value, fmt, expected", [
    ("202603020810", "203", datetime(2026, 3, 2, 8, 10)),
    ("20260302", "102", datetime(2026, 3, 2)),
    ("20260302081059", "204", datetime(2026, 3, 2, 8, 10, 59)),
    ("2603020810", "201", datetime(2026, 3, 2, 8, 10)),          # two-digit years stay with strptime
])
def test_common_formats(value, fmt, expected):
    assert parse_dtm(value, fmt)[0] == expected


@pytest.mark.parametrize("value", ["202602300810", "202613020810", "202603022410"])
def test_impossible_dates_keep_strptimes_reason(value):
    with pytest.raises(DateError) as exc:
        parse_dtm(value, "203")
    try:
        datetime.strptime(value, "%Y%m%d%H%M")
    except ValueError as reason:
        assert str(reason) in str(exc.value)
