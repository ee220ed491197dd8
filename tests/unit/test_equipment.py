"""ISO 6346 container numbers, size types and wagon numbers."""

import pytest

from corridor.domain.equipment import (container_number, is_container_number, size_type, teu_of, wagon_number,
                                       with_check_digit)
from corridor.domain.errors import InvalidEquipment


def test_valid_container_numbers_are_normalised():
    assert container_number("msku 123456-5") == "MSKU1234565"
    assert container_number("CSQU3054383") == "CSQU3054383"   # the ISO 6346 worked example


@pytest.mark.parametrize("raw, reason", [
    ("MSKU123456", "wrong length"),
    ("M1KU1234565", "owner code"),
    ("MSKX1234565", "category"),
    ("MSKU1234566", "check digit 6 is wrong, expected 5"),
])
def test_invalid_container_numbers_say_why(raw, reason):
    with pytest.raises(InvalidEquipment, match=reason):
        container_number(raw)
    assert not is_container_number(raw)


def test_size_types_and_teu():
    assert size_type("22G1").teu == 1 and size_type("45G1").teu == 2 and size_type("45G1").high_cube
    assert size_type("L5G1").length_ft == 45 and teu_of("L5G1") == 2
    assert teu_of(None) == 2 and teu_of("bad!") == 2
    with pytest.raises(InvalidEquipment, match="unknown length code"):
        size_type("Z2G1")


def test_wagon_numbers_carry_a_luhn_check_digit():
    osjd = with_check_digit("5123456")
    uic = with_check_digit("31805556789")
    assert wagon_number(osjd) == osjd and len(osjd) == 8
    assert wagon_number(uic) == uic and len(uic) == 12
    wrong = osjd[:-1] + str((int(osjd[-1]) + 1) % 10)
    with pytest.raises(InvalidEquipment, match="check digit"):
        wagon_number(wrong)
    with pytest.raises(InvalidEquipment, match="wrong length"):
        wagon_number("123")
