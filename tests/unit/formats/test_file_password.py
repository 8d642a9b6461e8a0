"""The key-file password rule: 10+ characters mixing letters, digits and symbols."""

from __future__ import annotations

import pytest

from fincert.errors import InvalidInput
from fincert.formats.passwords import check_file_password


@pytest.mark.parametrize("password", ["abcd1234!@", "Hong-Gildong 2024", "1!a" * 4, "~~~~~~~~9Z"])
def test_accepts(password: str) -> None:
    check_file_password(password)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("abc123!@#", "at least 10"),  # 9 characters
        ("", "at least 10"),
        ("abcdefgh12", "mix"),  # no symbol
        ("abcdefgh!@", "mix"),  # no digit
        ("12345678!@", "mix"),  # no letter
        ("          ", "mix"),
        ("비밀번호abc123!@", "only English"),  # Hangul is encoded differently by clients
        ("abcd1234!\u00e9", "only English"),
    ],
)
def test_refuses_with_field_and_no_echo(password: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        check_file_password(password)
    assert caught.value.field == "password"
    if password:
        assert password not in caught.value.detail


# The holder's own numbers -------------------------------------------------------------------

import datetime as dt  # noqa: E402

from fincert.formats.passwords import check_file_password_personal, personal_numbers  # noqa: E402

HOLDER = personal_numbers(birth_date=dt.date(1990, 1, 2), resident_number="900102-1234567", phone="010-9876-5432")


@pytest.mark.parametrize(
    ("password", "kind"),
    [
        ("Hong19900102!", "date of birth"),
        ("hong!900102x", "date of birth"),
        ("x!010290abcd", "date of birth"),  # MMDDYY
        ("x!020190abcd", "date of birth"),  # DDMMYY
        ("Hong1990-01-02!", "date of birth"),  # separators do not hide it
        ("Hong 1990.01.02!", "date of birth"),
        ("Pass1234567!x", "resident registration number"),
        ("call010-9876-5432!", "phone number"),
        ("z!98765432zz", "phone number"),
    ],
)
def test_refuses_the_holders_numbers_naming_only_the_kind(password: str, kind: str) -> None:
    check_file_password(password)  # passes the general rule: only the holder's data refuses it
    with pytest.raises(InvalidInput, match=kind) as caught:
        check_file_password_personal(password, HOLDER)
    assert caught.value.field == "password"
    for secret in (password, "900102", "1234567", "98765432", "19900102"):
        assert secret not in caught.value.detail


@pytest.mark.parametrize("password", ["Hong1990!abc", "x!5432abcdefg", "Year2026!abc", "abcd1234!@", "x!0102abcdefg"])
def test_accepts_short_pieces_that_appear_by_chance(password: str) -> None:
    check_file_password_personal(password, HOLDER)


def test_several_kinds_are_named_together() -> None:
    with pytest.raises(InvalidInput, match="date of birth or phone number"):
        check_file_password_personal("a!900102b98765432", HOLDER)


def test_numbers_are_not_shown_by_repr() -> None:
    assert "900102" not in repr(HOLDER) and "1234567" not in repr(HOLDER)
    assert repr(HOLDER) == "PersonalNumbers(date of birth, resident registration number, phone number)"


def test_no_numbers_refuse_nothing() -> None:
    check_file_password_personal("Hong19900102!", personal_numbers())
