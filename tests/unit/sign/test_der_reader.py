"""The fast path's DER reader accepts DER of the shapes it reads and refuses everything else."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from asn1crypto import core

from fincert.sign import _der
from fincert.sign.verify import _time


def test_short_and_long_lengths_are_read():
    short = bytes.fromhex("0403616263")  # OCTET STRING "abc"
    assert _der.element(short, 0, len(short)) == (0x04, 0, 2, 5)
    contents = b"x" * 200
    long_form = b"\x04\x81\xc8" + contents
    assert _der.element(long_form, 0, len(long_form)) == (0x04, 0, 3, 203)
    two_octets = b"\x04\x82\x01\x00" + b"y" * 256
    assert _der.element(two_octets, 0, len(two_octets)) == (0x04, 0, 4, 260)


def test_elements_split_a_constructed_value_exactly():
    data = bytes.fromhex("3008" "020101" "0403616263")  # SEQUENCE { INTEGER 1, OCTET STRING "abc" }
    top = _der.element(data, 0, len(data))
    children = _der.elements(data, top[2], top[3])
    assert [(tag, data[start:end]) for tag, _, start, end in children] == [(0x02, b"\x01"), (0x04, b"abc")]


@pytest.mark.parametrize(
    "encoded, why",
    [
        ("0481036162", "long form for a length under 128"),
        ("048200036162 63", "leading zero length octet"),
        ("3080020101 0000", "indefinite length (BER)"),
        ("1f2001 00", "multi-octet tag"),
        ("0405616263", "runs past the data"),
        ("04", "truncated header"),
        ("04850000000001 00", "more than four length octets"),
        ("0481", "length octet missing"),
        ("048201", "length octets missing"),
        ("04830000ff" + "00" * 255, "three length octets with a leading zero"),
    ],
)
def test_non_der_is_refused(encoded, why):
    data = bytes.fromhex(encoded.replace(" ", ""))
    with pytest.raises(_der.DerError):
        _der.element(data, 0, len(data))
    with pytest.raises(_der.DerError):  # the inlined reader of a parent's contents too
        _der.elements(data, 0, len(data))


def test_children_check_the_parent_tag():
    data = bytes.fromhex("3103020101")
    with pytest.raises(_der.DerError):
        _der.children(data, _der.element(data, 0, len(data)), 0x30)
    assert _der.children(data, _der.element(data, 0, len(data)), 0x31) == [(0x02, 2, 4, 5)]


def test_children_must_fill_their_parent():
    # SEQUENCE of length 4 whose only child claims 3 octets of contents (5 with its header).
    data = bytes.fromhex("3004 0403616263".replace(" ", ""))
    with pytest.raises(_der.DerError):
        _der.elements(data, 2, 6)


@pytest.mark.parametrize(
    "value",
    [
        core.UTCTime(datetime(2049, 12, 31, 23, 59, 59, tzinfo=timezone.utc)),
        core.UTCTime(datetime(1950, 1, 1, 0, 0, 0, tzinfo=timezone.utc)),
        core.GeneralizedTime(datetime(2026, 11, 25, 10, 23, 11, tzinfo=timezone.utc)),
        core.GeneralizedTime(datetime(2026, 11, 25, 10, 23, 11, 500000, tzinfo=timezone.utc)),
        core.GeneralizedTime(datetime(2026, 11, 25, 10, 23, 11, 123456, tzinfo=timezone.utc)),
        core.GeneralizedTime(datetime(2050, 1, 1, 0, 0, 0, 10, tzinfo=timezone.utc)),
    ],
)
def test_times_read_as_asn1crypto_reads_them(value):
    data = value.dump()
    assert _time(data, _der.element(data, 0, len(data))) == core.load(data).native


@pytest.mark.parametrize(
    "tag, text",
    [
        (0x17, b"2611251023+1Z"),  # not digits
        (0x17, b"261125102311+0900"),  # an offset instead of Z
        (0x17, b"2611251023Z"),  # no seconds
        (0x18, b"20261125102311.50Z"),  # trailing zero in the fraction (not DER)
        (0x18, b"20261125102311.Z"),  # empty fraction
        (0x18, b"20261125102311.1234567Z"),  # finer than microseconds
        (0x18, b"20261125102311"),  # no Z
        (0x18, b"20261325102311Z"),  # month 13
        (0x04, b"261125102311Z"),  # not a time type
    ],
)
def test_other_time_forms_go_the_full_way(tag, text):
    encoded = _der.tlv(tag, text)
    with pytest.raises(ValueError):
        _time(encoded, _der.element(encoded, 0, len(encoded)))
