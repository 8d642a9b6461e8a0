"""Personal identifiers the RA accepts: resident registration number, mobile phone, e-mail, name.

Owns parsing and normalisation only. Every failure raises ``InvalidInput`` whose ``detail``
names the field but never echoes the value, and whose text holds no digits at all, so a
resident number cannot leak through an error message or a log line (개인정보보호법 §24-2).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

from fincert.errors import InvalidInput

__all__ = [
    "ResidentNumber",
    "parse_rrn",
    "validate_email",
    "validate_mobile_phone",
    "validate_person_name",
]

# ASCII digits only: ``\d`` would also match Arabic-Indic and full-width digits, which
# ``int()`` accepts but no Korean system does.
_RRN_FORMAT = re.compile(r"([0-9]{6})-?([0-9]{7})")

# The seventh digit (G) encodes century and sex; 5–8 are foreign residents.
_CENTURY_BY_G = {
    "1": 1900, "2": 1900, "5": 1900, "6": 1900,
    "3": 2000, "4": 2000, "7": 2000, "8": 2000,
    "9": 1800, "0": 1800,
}


@dataclass(frozen=True, repr=False)
class ResidentNumber:
    """A syntactically valid 주민등록번호.

    ``repr``/``str``/``format`` show only the masked form, so passing one to a logger or an
    f-string by accident does not disclose it; code that really needs the number (the VID,
    encryption before storage) reads ``.digits`` explicitly.
    """

    digits: str
    birth_date: dt.date

    @property
    def masked(self) -> str:
        """``YYMMDD-G******``: the form Korean services show on screen."""
        return f"{self.digits[:6]}-{self.digits[6]}******"

    @property
    def gender_digit(self) -> str:
        return self.digits[6]

    @property
    def is_foreign_resident(self) -> bool:
        return self.digits[6] in "5678"

    def __repr__(self) -> str:
        return f"ResidentNumber({self.masked})"

    def __str__(self) -> str:
        return self.masked

    def __format__(self, spec: str) -> str:
        return format(self.masked, spec)


def parse_rrn(text: str, *, today: dt.date | None = None) -> ResidentNumber:
    """Parse ``YYMMDD-GNNNNNN`` or 13 digits; check the date and G digit.

    The old check digit is deliberately not enforced: numbers assigned since 2020-10-05 have
    random last digits and would be rejected. With ``today`` given, a birth date in the future
    is refused too.
    """
    if not isinstance(text, str):
        raise InvalidInput("resident registration number must be text", field="rrn")
    match = _RRN_FORMAT.fullmatch(text.strip())
    if match is None:
        raise InvalidInput(
            "resident registration number must be six digits, an optional hyphen and seven digits",
            field="rrn",
        )
    front, back = match.groups()
    century = _CENTURY_BY_G[back[0]]  # every ASCII digit is a known G
    try:
        birth = dt.date(century + int(front[:2]), int(front[2:4]), int(front[4:6]))
    except ValueError:
        # ``from None``: the ValueError's own text may quote the numbers.
        raise InvalidInput(
            "resident registration number does not start with a real birth date", field="rrn"
        ) from None
    if today is not None and birth > today:
        raise InvalidInput(
            "resident registration number has a birth date in the future", field="rrn"
        )
    return ResidentNumber(digits=front + back, birth_date=birth)


# 010 is the only prefix issued today; 011/016/017/018/019 numbers still exist (with a
# three- or four-digit middle part) for people who kept them.
_MOBILE = re.compile(r"(01[016789])[-. ]?([0-9]{3,4})[-. ]?([0-9]{4})")


def validate_mobile_phone(text: str) -> str:
    """A Korean mobile number, returned as ``010-1234-5678``; ``+82 10 ...`` is accepted."""
    if not isinstance(text, str):
        raise InvalidInput("mobile phone number must be text", field="phone")
    cleaned = text.strip()
    international = re.fullmatch(r"\+?82[-. ]?(1[016789].*)", cleaned)
    if international:
        cleaned = "0" + international.group(1)
    match = _MOBILE.fullmatch(cleaned)
    if match is None:
        raise InvalidInput("mobile phone number is not a Korean mobile number", field="phone")
    prefix, middle, last = match.groups()
    if prefix == "010" and len(middle) != 4:
        raise InvalidInput("mobile phone number is not a Korean mobile number", field="phone")
    return f"{prefix}-{middle}-{last}"


_EMAIL_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_DOMAIN_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def validate_email(text: str) -> str:
    """An ASCII e-mail address (dot-atom local part); the domain is lower-cased.

    Quoted local parts and IP-literal domains are refused: no mail provider a bank customer
    uses needs them, and they complicate every later consumer of the address.
    """
    if not isinstance(text, str):
        raise InvalidInput("e-mail address must be text", field="email")
    cleaned = text.strip()
    if len(cleaned) > 254 or cleaned.count("@") != 1:
        raise InvalidInput("e-mail address is not valid", field="email")
    local, domain = cleaned.split("@")
    labels = domain.split(".")
    if (
        not 1 <= len(local) <= 64
        or not _EMAIL_LOCAL.fullmatch(local)
        or len(labels) < 2
        or not all(_DOMAIN_LABEL.fullmatch(label) for label in labels)
        or not re.fullmatch(r"[A-Za-z]{2,63}", labels[-1])
    ):
        raise InvalidInput("e-mail address is not valid", field="email")
    return f"{local}@{domain.lower()}"


def _is_name_letter(ch: str) -> bool:
    if "\uac00" <= ch <= "\ud7a3":  # precomposed Hangul syllables
        return True
    return unicodedata.category(ch).startswith("L") and unicodedata.name(ch, "").startswith("LATIN")


def _is_control(ch: str) -> bool:
    # C*: control, format (zero-width, bidi overrides), surrogate, private use, unassigned;
    # Zl/Zp: U+2028/U+2029, line and paragraph separators that render as line breaks.
    category = unicodedata.category(ch)
    return category.startswith("C") or category in ("Zl", "Zp")


def _is_undecodable(ch: str) -> bool:
    # A lone surrogate: what Python makes of bytes that were not UTF-8 (a command-line argument
    # from a terminal in another encoding, ``surrogateescape``). No text holds one.
    return "\ud800" <= ch <= "\udfff"


def clean_text(text: object, *, field: str, what: str) -> str:
    """``text`` stripped, with inner runs of spaces collapsed and NFC-normalised, after refusing
    what no name may hold: bytes that were not UTF-8, and control or format characters (line
    breaks, tabs, zero-width and bidi marks). Raises ``InvalidInput`` naming ``what``."""
    if not isinstance(text, str):
        raise InvalidInput(f"{what} must be text", field=field)
    if any(_is_undecodable(ch) for ch in text):
        raise InvalidInput(f"{what} is not UTF-8 text; check the encoding of the terminal or file it came from", field=field)
    # Checked before inner whitespace is collapsed: ``str.split`` treats line breaks, tabs and
    # the C0 separators as spaces, so "a\nb" used to be quietly accepted as "a b". A control
    # character inside a name is a mistake (or an attempt to forge a line in a subject,
    # identifyData or a log), not a spelling to repair; a pasted trailing newline is harmless.
    if any(_is_control(ch) for ch in text.strip()):
        raise InvalidInput(f"{what} must not contain line breaks, tabs or other control characters", field=field)
    return " ".join(unicodedata.normalize("NFC", text).split())


def validate_person_name(text: str) -> str:
    """A person's name: 1–30 characters of Hangul syllables or Latin letters.

    Single spaces, hyphens and apostrophes are allowed between letters for foreign names
    ("Mary-Jane O'Neil"); runs of spaces are collapsed and the result is NFC-normalised so the
    same name always compares equal (it is also written into the certificate subject).
    Control and format characters (line breaks, tabs, zero-width and bidi marks) are refused.
    """
    name = clean_text(text, field="name", what="name")
    if not 1 <= len(name) <= 30:
        raise InvalidInput("name must be between one and thirty characters", field="name")
    previous_was_letter = False
    for ch in name:
        if _is_name_letter(ch):
            previous_was_letter = True
        elif ch in " -'" and previous_was_letter:
            previous_was_letter = False
        else:
            raise InvalidInput("name may contain only Hangul or Latin letters", field="name")
    if not previous_was_letter:
        raise InvalidInput("name may contain only Hangul or Latin letters", field="name")
    return name
