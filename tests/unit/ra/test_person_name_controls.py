"""A member's name goes into the certificate subject CN and the VID's realName: control and
format characters are refused, not quietly turned into spaces."""

from __future__ import annotations

import pytest

from fincert.errors import InvalidInput
from fincert.ra.identity import validate_person_name

CONTROLS = [
    "a\nb", "홍\n길동", "홍길\r동", "a\tb", "a\x00b", "a\x1bb", "a\x1cb", "a\x7fb", "a\x85b",
    "a\u200bb",  # zero-width space (Cf)
    "홍길\u202e동",  # right-to-left override (Cf)
    "a\ufeffb",  # byte-order mark (Cf)
    "a\u2028b", "a\u2029b",  # line and paragraph separators
    "a\ue000b",  # private use (Co)
]


@pytest.mark.parametrize("name", CONTROLS, ids=[repr(c) for c in CONTROLS])
def test_control_and_format_characters_are_refused(name):
    with pytest.raises(InvalidInput) as refused:
        validate_person_name(name)
    assert refused.value.field == "name"
    assert "control characters" in refused.value.detail
    assert name not in refused.value.detail


@pytest.mark.parametrize(
    "typed, stored",
    [
        ("홍길동", "홍길동"),
        ("  홍길동\n", "홍길동"),  # surrounding whitespace, a pasted line end included, is trimmed
        ("남궁 민수", "남궁 민수"),
        ("Mary-Jane   O'Neil", "Mary-Jane O'Neil"),
        ("\u3000김민지\u00a0", "김민지"),  # ideographic and no-break spaces are spaces
    ],
)
def test_ordinary_names_still_accepted(typed, stored):
    assert validate_person_name(typed) == stored


def test_length_matches_the_subject_bound():
    # SubjectIdentity (ca/authority.py) refuses holder names over 30 characters.
    assert validate_person_name("가" * 30) == "가" * 30
    for bad in ("", "   ", "\n", "가" * 31):
        with pytest.raises(InvalidInput) as refused:
            validate_person_name(bad)
        assert refused.value.field == "name"
