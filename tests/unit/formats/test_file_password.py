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
