"""PIN rules of the cloud certificate: six digits, no repeats, no runs, not the birth date."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from fincert.errors import InvalidInput
from fincert.keys.pin import birth_date_forms, check_pin, is_digit_run

BIRTH = dt.date(1985, 3, 7)


@pytest.mark.parametrize("pin", ["480613", "024913", "111112", "135790", "123457", "250814"])
def test_acceptable_pins_pass(pin):
    assert check_pin(pin, BIRTH) == pin


@pytest.mark.parametrize(
    ("pin", "rule"),
    [
        ("12345", "exactly 6 digits"),
        ("1234567", "exactly 6 digits"),
        ("12a456", "exactly 6 digits"),
        ("１２３４５７", "exactly 6 digits"),  # full-width digits are str.isdigit() but not ASCII
        (" 48061", "exactly 6 digits"),
        (480613, "exactly 6 digits"),
        (None, "exactly 6 digits"),
        ("000000", "one digit repeated"),
        ("777777", "one digit repeated"),
        ("123456", "consecutive digits"),
        ("012345", "consecutive digits"),
        ("456789", "consecutive digits"),
        ("987654", "consecutive digits"),
        ("543210", "consecutive digits"),
        ("890123", "consecutive digits"),  # wrap-around runs count (documented in keys/pin.py)
        ("901234", "consecutive digits"),
        ("210987", "consecutive digits"),
        ("850307", "date of birth"),  # YYMMDD, the resident number's first half
        ("030785", "date of birth"),  # MMDDYY
        ("070385", "date of birth"),  # DDMMYY
    ],
)
def test_refused_pins_name_the_rule_without_echoing_the_pin(pin, rule):
    with pytest.raises(InvalidInput) as caught:
        check_pin(pin, BIRTH)
    assert caught.value.field == "pin"
    assert rule in caught.value.detail
    if isinstance(pin, str) and pin.strip():
        assert pin not in caught.value.detail


def test_field_name_is_the_callers():
    with pytest.raises(InvalidInput) as caught:
        check_pin("111111", BIRTH, field="new_pin")
    assert caught.value.field == "new_pin"


def test_birth_date_rule_follows_the_holder():
    # Someone else's birth date is an ordinary PIN.
    assert check_pin("850307", dt.date(1990, 1, 1)) == "850307"
    assert birth_date_forms(dt.date(2001, 12, 31)) == {"011231", "123101", "311201"}


def test_exactly_twenty_runs_are_refused_out_of_a_million():
    runs = [
        "".join(d) for d in itertools.product("0123456789", repeat=6) if is_digit_run("".join(d))
    ]
    assert len(runs) == 20
    assert "123456" in runs and "654321" in runs and "789012" in runs


def test_birth_date_must_be_a_date():
    with pytest.raises(TypeError):
        check_pin("480613", "850307")  # type: ignore[arg-type]
