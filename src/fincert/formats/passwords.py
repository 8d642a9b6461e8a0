"""The password rule for key files a holder keeps (signPri.key, PKCS#12 exports), and how such
a password becomes the bytes the key derivation takes.

공동인증서 passwords must be at least 10 characters and mix letters, digits and symbols.
"""

from __future__ import annotations

import string

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
