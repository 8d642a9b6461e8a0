"""parse_rrn and the personal-field validators: accept real shapes, refuse without echoing."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fincert.errors import InvalidInput
from fincert.ra.identity import (
    ResidentNumber,
    parse_rrn,
    validate_email,
    validate_mobile_phone,
    validate_person_name,
)


@pytest.mark.parametrize(
    ("text", "digits", "birth"),
    [
        ("900101-1234567", "9001011234567", dt.date(1990, 1, 1)),
        ("9001012234567", "9001012234567", dt.date(1990, 1, 1)),
        ("050229-3000000", None, None),  # 2005 is not a leap year -> refused below
        ("040229-4123456", "0402294123456", dt.date(2004, 2, 29)),
        ("991231-5111111", "9912315111111", dt.date(1999, 12, 31)),
        ("010315-8111111", "0103158111111", dt.date(2001, 3, 15)),
        ("850704-9111111", "8507049111111", dt.date(1885, 7, 4)),
        ("850704-0111111", "8507040111111", dt.date(1885, 7, 4)),
        ("  900101-1234567 ", "9001011234567", dt.date(1990, 1, 1)),
    ],
)
def test_parse_accepts_valid_numbers_and_derives_century(text: str, digits: str | None, birth: dt.date | None) -> None:
    if digits is None:
        with pytest.raises(InvalidInput):
            parse_rrn(text)
        return
    rrn = parse_rrn(text)
    assert rrn.digits == digits
    assert rrn.birth_date == birth


def test_check_digit_is_not_enforced() -> None:
    # 900101-123456X: the old checksum gives one correct last digit; every other one must
    # still parse, because post-2020 numbers have random tails.
    accepted = {parse_rrn(f"900101-123456{d}").digits[-1] for d in "0123456789"}
    assert accepted == set("0123456789")


@pytest.mark.parametrize(
    "text",
    [
        "900101-123456",  # short
        "900101-12345678",  # long
        "900101--1234567",
        "900101 1234567",
        "901301-1234567",  # month 13
        "900132-1234567",  # day 32
        "900230-1234567",  # Feb 30
        "000000-3000000",
        "９００１０１-１２３４５６７",  # full-width digits
        "",
        "abcdef-ghijklm",
    ],
)
def test_parse_refuses_malformed(text: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_rrn(text)
    assert info.value.field == "rrn"
    assert not any(ch.isdigit() for ch in info.value.detail)


def test_future_birth_date_refused_when_today_given() -> None:
    with pytest.raises(InvalidInput):
        parse_rrn("300101-3123456", today=dt.date(2025, 1, 1))
    assert parse_rrn("300101-1123456", today=dt.date(2025, 1, 1)).birth_date == dt.date(1930, 1, 1)


def test_masked_everywhere_it_could_leak(caplog: pytest.LogCaptureFixture) -> None:
    rrn = parse_rrn("900101-1234567")
    assert rrn.masked == "900101-1******"
    assert str(rrn) == "900101-1******"
    assert "1234567" not in repr(rrn)
    assert f"{rrn}" == "900101-1******"
    assert "234567" not in repr([rrn]) and "234567" not in repr({"k": rrn})
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("member %s / %r", rrn, rrn)
    assert "234567" not in caplog.text
    assert rrn.gender_digit == "1" and not rrn.is_foreign_resident
    assert parse_rrn("900101-5234567").is_foreign_resident
    assert isinstance(rrn, ResidentNumber) and rrn == parse_rrn("9001011234567")


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.from_regex(r"[0-9]{6}-?[0-9]{7}", fullmatch=True), st.text(alphabet="0123456789-", max_size=16)))
def test_parse_raises_only_invalid_input_and_never_echoes_digits(text: str) -> None:
    try:
        parse_rrn(text)
    except InvalidInput as error:
        assert error.field == "rrn"
        # The messages hold no digits at all, so none of the input's can appear.
        assert not any(ch.isdigit() for ch in error.detail)
        assert not any(ch.isdigit() for ch in str(error))
        digits = "".join(ch for ch in text if ch.isdigit())
        if digits:
            assert digits not in error.detail


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("010-1234-5678", "010-1234-5678"),
        ("01012345678", "010-1234-5678"),
        ("010 1234 5678", "010-1234-5678"),
        ("+82 10-1234-5678", "010-1234-5678"),
        ("+821012345678", "010-1234-5678"),
        ("011-123-4567", "011-123-4567"),
    ],
)
def test_mobile_phone_normalised(text: str, normalised: str) -> None:
    assert validate_mobile_phone(text) == normalised


@pytest.mark.parametrize("text", ["010-123-4567", "02-123-4567", "012-1234-5678", "010-1234-56789", "phone", ""])
def test_mobile_phone_refused_without_echo(text: str) -> None:
    with pytest.raises(InvalidInput) as info:
        validate_mobile_phone(text)
    assert info.value.field == "phone"
    assert not any(ch.isdigit() for ch in info.value.detail)


def test_email() -> None:
    assert validate_email(" Hong.Gildong+bank@Example.CO.KR ") == "Hong.Gildong+bank@example.co.kr"
    for bad in ["hong", "hong@", "@example.com", "a@b", "a..b@example.com", "a@exa_mple.com", "a@b@c.com", "x" * 65 + "@example.com", "홍@example.com"]:
        with pytest.raises(InvalidInput) as info:
            validate_email(bad)
        assert info.value.field == "email"
        assert bad.strip() not in info.value.detail


def test_person_name() -> None:
    assert validate_person_name("홍길동") == "홍길동"
    assert validate_person_name("  Mary-Jane   O'Neil ") == "Mary-Jane O'Neil"
    assert validate_person_name("José") == "José"
    # Decomposed jamo are composed (NFC) so the same name always compares equal.
    assert validate_person_name("\u1112\u1169\u11bc") == "홍"
    for bad in ["", "   ", "홍길동1", "a" * 31, "Robert'); DROP", "-Anna", "Anna-", "李小龍", "Иван"]:
        with pytest.raises(InvalidInput) as info:
            validate_person_name(bad)
        assert info.value.field == "name"
