"""fincert.formats.der: the writer frames canonical DER, the reader accepts DER of the shapes it
reads and refuses everything else (so the caller falls back to the full parser)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from asn1crypto import algos, core

from fincert.formats import der

# --- writing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n",
    [0, 1, 127, 128, 255, 256, 32767, 32768, 2**159 - 1, 2**159, -1, -127, -128, -129, -255, -256, -32768, -32769, -(2**159)],
)
def test_integer_is_minimal_twos_complement(n):
    # The OCSP responder echoes a request's serial, which may be negative: -128 is 02 01 80.
    assert der.integer(n) == core.Integer(n).dump()


@pytest.mark.parametrize("size", [0, 1, 127, 128, 255, 256, 65535, 65536, 2**24])
def test_tlv_lengths_are_shortest_form(size):
    content = b"\x00" * size
    encoded = der.tlv(0x04, content)
    assert encoded == core.OctetString(content).dump()
    assert der.header_length(encoded) == len(encoded) - size
    assert der.element(encoded, 0, len(encoded)) == (0x04, 0, len(encoded) - size, len(encoded))


def test_constructed_values_match_asn1crypto():
    assert der.sequence(der.integer(1), der.tlv(0x04, b"abc")) == bytes.fromhex("3008020101" "0403616263")
    assert der.bit_string(b"\xa5\x5a") == core.OctetBitString(b"\xa5\x5a").dump() == bytes.fromhex("030300a55a")
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert der.generalized_time(when) == core.GeneralizedTime(when).dump() == b"\x18\x0f20260102030405Z"


def test_set_of_orders_its_elements_by_encoding():
    long_one, short_one = der.sequence(der.integer(2), der.integer(3)), der.sequence(der.integer(9))
    assert der.set_of(long_one, short_one) == der.tlv(0x31, short_one + long_one)
    assert der.set_of(short_one, long_one) == der.set_of(long_one, short_one)


def test_algorithm_identifiers():
    rsa = algos.SignedDigestAlgorithm.load(der.SHA256_WITH_RSA)
    assert rsa["algorithm"].native == "sha256_rsa" and isinstance(rsa["parameters"], core.Null)
    ecdsa = algos.SignedDigestAlgorithm.load(der.ECDSA_WITH_SHA256)
    assert ecdsa["algorithm"].native == "sha256_ecdsa" and isinstance(ecdsa["parameters"], core.Void)


# --- reading ----------------------------------------------------------------------------------


def test_short_and_long_lengths_are_read():
    short = bytes.fromhex("0403616263")  # OCTET STRING "abc"
    assert der.element(short, 0, len(short)) == (0x04, 0, 2, 5)
    contents = b"x" * 200
    long_form = b"\x04\x81\xc8" + contents
    assert der.element(long_form, 0, len(long_form)) == (0x04, 0, 3, 203)
    two_octets = b"\x04\x82\x01\x00" + b"y" * 256
    assert der.element(two_octets, 0, len(two_octets)) == (0x04, 0, 4, 260)
    three_octets = b"\x04\x83\x01\x00\x00" + b"z" * 65536
    assert der.element(three_octets, 0, len(three_octets)) == (0x04, 0, 5, 65541)
    assert der.elements(three_octets, 0, len(three_octets)) == [(0x04, 0, 5, 65541)]


def test_elements_split_a_constructed_value_exactly():
    data = bytes.fromhex("3008" "020101" "0403616263")  # SEQUENCE { INTEGER 1, OCTET STRING "abc" }
    top = der.element(data, 0, len(data))
    children = der.elements(data, top[2], top[3])
    assert [(tag, data[start:end]) for tag, _, start, end in children] == [(0x02, b"\x01"), (0x04, b"abc")]


def test_a_nested_structure_written_here_reads_back():
    inner = der.sequence(der.integer(300), der.tlv(0x04, b"q" * 130))
    data = der.sequence(der.tlv(0xA0, inner), der.set_of(der.sequence(der.integer(-5))), der.bit_string(b"\x01"))
    top = der.element(data, 0, len(data))
    assert top[3] == len(data)
    tagged, a_set, bits = der.children(data, top, 0x30)
    assert (tagged[0], a_set[0], bits[0]) == (0xA0, 0x31, 0x03)
    number, octets = der.children(data, der.children(data, tagged, 0xA0)[0], 0x30)
    assert core.Integer.load(data[number[1] : number[3]]).native == 300
    assert data[octets[2] : octets[3]] == b"q" * 130
    (member,) = der.children(data, a_set, 0x31)
    assert der.children(data, member, 0x30) == [(0x02, member[2], member[2] + 2, member[3])]


@pytest.mark.parametrize(
    "encoded, why",
    [
        ("048103616263", "long form for a length under 128"),
        ("0481036162", "long form for a length under 128, short of its contents"),
        ("048200036162 63", "leading zero length octet"),
        ("04820080" + "00" * 128, "two length octets for a length under 256"),
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
    with pytest.raises(der.DerError):
        der.element(data, 0, len(data))
    with pytest.raises(der.DerError):  # the inlined reader of a parent's contents too
        der.elements(data, 0, len(data))


@pytest.mark.parametrize("trailing", ["00", "04", "0401"])
def test_trailing_bytes_are_refused(trailing):
    # Octets after the last whole element, inside a parent (SEQUENCE { INTEGER 1 } + extra) ...
    data = der.tlv(0x30, bytes.fromhex("020101" + trailing))
    with pytest.raises(der.DerError):
        der.children(data, der.element(data, 0, len(data)), 0x30)
    # ... and after a top-level element read as a run of elements.
    flat = bytes.fromhex("020101" + trailing)
    with pytest.raises(der.DerError):
        der.elements(flat, 0, len(flat))


@pytest.mark.parametrize(
    "encoded",
    ["3006 048103616263", "3007 04820003616263", "3005 3080 0000 00", "3005 020101 3080"],
)
def test_non_der_inside_a_parent_is_refused(encoded):
    # The parent is well framed; a child has a long-form, zero-led or indefinite length.
    data = bytes.fromhex(encoded.replace(" ", ""))
    top = der.element(data, 0, len(data))
    assert top[3] == len(data)
    with pytest.raises(der.DerError):
        der.children(data, top, 0x30)


def test_children_check_the_parent_tag():
    data = bytes.fromhex("3103020101")
    with pytest.raises(der.DerError):
        der.children(data, der.element(data, 0, len(data)), 0x30)
    assert der.children(data, der.element(data, 0, len(data)), 0x31) == [(0x02, 2, 4, 5)]


def test_children_must_fill_their_parent():
    # SEQUENCE of length 4 whose only child claims 3 octets of contents (5 with its header).
    data = bytes.fromhex("3004 0403616263".replace(" ", ""))
    with pytest.raises(der.DerError):
        der.elements(data, 2, 6)


def test_der_error_is_a_value_error():
    # Callers of the fast path catch ValueError to fall back to asn1crypto/pyHanko.
    assert issubclass(der.DerError, ValueError)
