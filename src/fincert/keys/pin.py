"""The rules a cloud-certificate PIN (금융인증서 비밀번호) must satisfy.

Pure functions, no storage. A PIN is exactly six ASCII digits and must not be one of the
guesses an attacker tries first:

* one digit repeated (``000000``, ``777777``);
* a straight run of consecutive digits, ascending (``123456``) or descending (``987654``).
  Runs that wrap around past 9/0 (``890123``, ``901234``, ``210987``) count as runs too: on a
  keypad they are the same "slide along the row" gesture and appear in leaked-PIN lists next to
  the plain runs, and refusing them costs only 20 of the 1,000,000 PINs;
* the holder's birth date written as six digits: ``YYMMDD`` (the first half of the resident
  number, the one every form asks for), and also ``MMDDYY`` and ``DDMMYY``, the other orders in
  which people write their birthday.

Errors are ``InvalidInput`` naming the broken rule; they never repeat the PIN.
"""

from __future__ import annotations

import datetime as dt

from fincert.errors import InvalidInput

__all__ = ["PIN_LENGTH", "birth_date_forms", "check_pin", "check_pin_form", "is_digit_run"]

PIN_LENGTH = 6


def is_digit_run(digits: str) -> bool:
    """True when each digit is one more (or each one less) than the previous, modulo 10."""
    steps = {(int(b) - int(a)) % 10 for a, b in zip(digits, digits[1:])}
    return steps == {1} or steps == {9}


def birth_date_forms(birth_date: dt.date) -> frozenset[str]:
    """The six-digit spellings of a birth date that a PIN may not be."""
    yy, mm, dd = f"{birth_date.year % 100:02d}", f"{birth_date.month:02d}", f"{birth_date.day:02d}"
    return frozenset({yy + mm + dd, mm + dd + yy, dd + mm + yy})


def check_pin_form(pin: object, *, field: str = "pin") -> str:
    """The rules that need no holder: six ASCII digits, not repeated, not a run.

    Clients check these before they start anything that has a cost (an application, a
    one-time code spent on identity verification); ``check_pin`` adds the birth date."""
    # isascii() first: str.isdigit() also accepts full-width and other Unicode digits.
    if not isinstance(pin, str) or len(pin) != PIN_LENGTH or not (pin.isascii() and pin.isdigit()):
        raise InvalidInput(f"the PIN must be exactly {PIN_LENGTH} digits", field=field)
    if len(set(pin)) == 1:
        raise InvalidInput("the PIN must not be one digit repeated", field=field)
    if is_digit_run(pin):
        raise InvalidInput(
            "the PIN must not be a run of consecutive digits, ascending or descending", field=field
        )
    return pin


def check_pin(pin: object, birth_date: dt.date, *, field: str = "pin") -> str:
    """Return ``pin`` if it satisfies every rule; otherwise raise ``InvalidInput(field=field)``."""
    if not isinstance(birth_date, dt.date):
        raise TypeError("birth_date must be a datetime.date")
    pin = check_pin_form(pin, field=field)
    if pin in birth_date_forms(birth_date):
        raise InvalidInput("the PIN must not be the holder's date of birth", field=field)
    return pin
