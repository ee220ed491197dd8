"""The append path writes an event's references as JSON text itself: the very text the column's
JSON encoding gives, for any references a parser may hand over."""

import json

import pytest

from corridor.store.events import _refs_json

ENCODED = json.JSONEncoder(separators=(",", ":"), default=str).encode   # JSONText's encoding


@pytest.mark.parametrize("refs", [
    (("BKG", "BK1"),),
    (("WGN", "12345678"), ("BKG", "B2")),
    (("BOL", "Ж-1/\"quoted\"\\back\tslash"),),
    (("BKG", "lone \ud800 surrogate"), ("BOL", "€ and \x00")),
    (("BKG", 123),),                 # not strings: as the encoder writes them
    (("BKG", None), ("BOL", "x")),
    (("BKG", "a", "extra"),),        # not pairs
    (("BKG",),),
    [["BKG", "list"]],
])
def test_references_are_written_as_the_encoder_writes_them(refs):
    assert _refs_json(refs) == ENCODED([list(r) for r in refs])
