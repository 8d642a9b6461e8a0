"""The password rule for key files a holder keeps (signPri.key, PKCS#12 exports), and how such
a password becomes the bytes the key derivation takes.

공동인증서 passwords must be at least 10 characters and mix letters, digits and symbols, and
must not carry the holder's own numbers (birth date, resident number, phone number): they are
the first guesses of anyone who finds a lost USB stick and knows whose it is.
"""

from __future__ import annotations

import datetime as dt
import re
import string
from collections.abc import Iterable
from dataclasses import dataclass

from fincert.errors import InvalidInput

MIN_FILE_PASSWORD_LENGTH = 10

_LETTERS = frozenset(string.ascii_letters)
_DIGITS = frozenset(string.digits)
_SYMBOLS = frozenset(string.punctuation)
_PRINTABLE_ASCII = frozenset(string.ascii_letters + string.digits + string.punctuation + " ")


def check_file_password(password: str) -> None:
    """Raise ``InvalidInput(field="password")`` unless the password follows the rule.

    The detail says which part of the rule failed, never the password.
    """
    if len(password) < MIN_FILE_PASSWORD_LENGTH:
        raise InvalidInput(
            f"the password must be at least {MIN_FILE_PASSWORD_LENGTH} characters",
            field="password",
        )
    # Banking clients turn the password into bytes with their platform's code page (CP949 on
    # Windows); only ASCII gives the same key in every client.
    if not set(password) <= _PRINTABLE_ASCII:
        raise InvalidInput(
            "the password may use only English letters, digits, symbols and spaces",
            field="password",
        )
    characters = set(password)
    if not (characters & _LETTERS and characters & _DIGITS and characters & _SYMBOLS):
        raise InvalidInput(
            "the password must mix letters, digits and symbols", field="password"
        )


#: Separators people type inside dates and phone numbers (1990-01-01, 1990.01.01, 010 1234 5678).
_SEPARATORS = re.compile(r"[-./ ]")


@dataclass(frozen=True)
class PersonalNumbers:
    """The holder's numbers a key file password may not contain, each kind as the digit strings
    that count as it. Build with :func:`personal_numbers`; its ``repr`` shows no digits."""

    kinds: tuple[tuple[str, frozenset[str]], ...]

    def __repr__(self) -> str:
        return f"PersonalNumbers({', '.join(kind for kind, _ in self.kinds)})"


def personal_numbers(
    *, birth_date: dt.date | None = None, resident_number: str | None = None, phone: str | None = None
) -> PersonalNumbers:
    """The spellings of a holder's numbers that a file password must not contain.

    * birth date: ``YYYYMMDD`` and the six-digit ``YYMMDD``, ``MMDDYY``, ``DDMMYY``;
    * resident number (13 digits): its second half (the first is the birth date);
    * phone: all its digits and the eight after the carrier prefix (``010-1234-5678`` gives
      ``01012345678`` and ``12345678``).

    Shorter pieces (a four-digit year, the last four digits of a phone) are left alone: they
    appear in good passwords by chance too often to refuse.
    """
    kinds: list[tuple[str, frozenset[str]]] = []
    if birth_date is not None:
        yy, mm, dd = f"{birth_date.year % 100:02d}", f"{birth_date.month:02d}", f"{birth_date.day:02d}"
        kinds.append(("date of birth", frozenset({f"{birth_date.year:04d}{mm}{dd}", yy + mm + dd, mm + dd + yy, dd + mm + yy})))
    if resident_number is not None:
        digits = "".join(c for c in resident_number if c.isascii() and c.isdigit())
        if len(digits) == 13:
            kinds.append(("resident registration number", frozenset({digits[6:]})))
    if phone is not None:
        digits = "".join(c for c in phone if c.isascii() and c.isdigit())
        forms = {digits} | ({digits[-8:]} if len(digits) >= 10 else set())
        forms = {f for f in forms if len(f) >= 8}
        if forms:
            kinds.append(("phone number", frozenset(forms)))
    return PersonalNumbers(tuple(kinds))


def check_file_password_personal(password: str, numbers: PersonalNumbers) -> None:
    """Raise ``InvalidInput(field="password")`` if the password contains one of the holder's
    numbers (separators such as ``-`` or ``.`` inside it do not hide them). The detail names
    which kind of number, never the number or the password."""
    plain = _SEPARATORS.sub("", password)
    found = [kind for kind, forms in numbers.kinds if any(form in plain for form in forms)]
    if found:
        raise InvalidInput(
            f"the password must not contain your {_joined(found)}: choose one nobody could guess from your details",
            field="password",
        )


def _joined(kinds: Iterable[str]) -> str:
    names = list(kinds)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def encode_file_password(password: str) -> bytes:
    """The UTF-8 bytes of a key file password, for reading and writing alike.

    A ``str`` need not be text: Python keeps bytes that were not UTF-8 (a terminal in another
    encoding, a JSON ``\\udcff`` escape) as lone surrogates, which have no UTF-8 form. Such a
    password is ``InvalidInput(field="password")``, never a ``UnicodeEncodeError`` (whose
    ``object`` would carry the password into a traceback or log).
    """
    try:
        return password.encode("utf-8")
    except UnicodeEncodeError:
        pass  # raised below, outside the handler, so that the error is not even its context
    raise InvalidInput(
        "the password contains characters that are not valid text "
        "(check the keyboard or terminal's character encoding)",
        field="password",
    )
