"""The subscriber number: the 20 digits after ``()`` in a holder certificate's CN."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from fincert.ca.authority import SubjectIdentity, subscriber_number_of
from fincert.errors import InvalidInput


@pytest.mark.parametrize("number", ["", "1" * 19, "1" * 21, "１" * 20, "a" * 20, "-" + "1" * 19])
def test_a_subscriber_number_is_twenty_ascii_digits(number: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        SubjectIdentity("홍길동", "한빛은행", number)
    assert caught.value.field == "subscriber_number"
    assert SubjectIdentity("홍길동", "한빛은행", "0" * 20).subscriber_number == "0" * 20


class _Named:
    def __init__(self, common_name: str) -> None:
        self.subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@pytest.mark.parametrize(
    ("common_name", "number"),
    [
        ("홍길동()00110492008021511100", "00110492008021511100"),
        ("a()b()12345678901234567890", "12345678901234567890"),  # the last marker counts
        ("홍길동()0011", None),
        ("홍길동0011049200802151110", None),
        ("홍길동()0011049200802151110x", None),
    ],
)
def test_the_number_is_read_back_from_a_certificate(common_name: str, number: str | None) -> None:
    assert subscriber_number_of(_Named(common_name)) == number  # type: ignore[arg-type]
