"""VID: the hash against hand-made DER, the otherName bytes, and the relying party's check."""

from __future__ import annotations

import hashlib

import pytest
from asn1crypto import core
from cryptography import x509
from hypothesis import given, settings
from hypothesis import strategies as st

from fincert.errors import InvalidInput
from fincert.formats import vid

IDN = "8001011234567"
RANDOM_NUM = bytes(range(1, 21))
# SEQUENCE { PrintableString "8001011234567", BIT STRING (0 unused bits) RANDOM_NUM }, by hand.
VID_INPUT_DER = b"\x30\x26" + b"\x13\x0d" + IDN.encode() + b"\x03\x15\x00" + RANDOM_NUM
VID_SHA256 = "522fae1af2c9448b7420c40a48738b489ef7873f63dd7a49389f2995aec1d3d8"


def test_vid_is_double_hash_of_hand_encoded_der() -> None:
    expected = hashlib.sha256(hashlib.sha256(VID_INPUT_DER).digest()).digest()
    assert expected.hex() == VID_SHA256
    assert vid.compute_vid(IDN, RANDOM_NUM) == expected


def test_vid_follows_the_named_hash() -> None:
    assert (
        vid.compute_vid(IDN, RANDOM_NUM, "sha1").hex()
        == "db0e33670788bb87156dc58bae392e0b04b4340d"
    )


@pytest.mark.parametrize("idn", ["800101-1234567", "", "８００１０１１２３４５６７", "80010l1234567"])
def test_vid_refuses_non_digit_idn_without_echoing_it(idn: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        vid.compute_vid(idn, RANDOM_NUM)
    assert caught.value.field == "idn"
    assert "800101" not in caught.value.detail


def test_vid_refuses_unknown_hash_and_empty_random_num() -> None:
    with pytest.raises(InvalidInput):
        vid.compute_vid(IDN, RANDOM_NUM, "md5")
    with pytest.raises(InvalidInput):
        vid.compute_vid(IDN, b"")


def _expected_identify_data(real_name: str) -> bytes:
    """IdentifyData DER assembled by hand from domain.md's ASN.1."""

    def tlv(tag: int, body: bytes) -> bytes:
        assert len(body) < 128
        return bytes([tag, len(body)]) + body

    sha256_alg = tlv(0x30, bytes.fromhex("0609608648016503040201"))  # no NULL
    vid_value = tlv(0x30, sha256_alg + tlv(0xA0, tlv(0x04, bytes.fromhex(VID_SHA256))))
    vid_oid = tlv(0x06, bytes.fromhex("2a831a8c9a440a010101"))  # 1.2.410.200004.10.1.1.1
    user_infos = tlv(0x30, tlv(0x30, vid_oid + vid_value))
    return tlv(0x30, tlv(0x0C, real_name.encode()) + user_infos)


def test_other_name_value_matches_hand_encoding() -> None:
    other_name = vid.identify_data_other_name("홍길동", IDN, RANDOM_NUM)
    assert other_name.type_id.dotted_string == "1.2.410.200004.10.1.1"
    assert other_name.value == _expected_identify_data("홍길동")


def test_san_extension_wraps_value_in_explicit_zero() -> None:
    san = x509.SubjectAlternativeName([vid.identify_data_other_name("홍길동", IDN, RANDOM_NUM)])
    inner = _expected_identify_data("홍길동")
    type_id = bytes.fromhex("06092a831a8c9a440a0101")  # 1.2.410.200004.10.1.1
    explicit = bytes([0xA0, len(inner)]) + inner
    other_name = bytes([0xA0, len(type_id) + len(explicit)]) + type_id + explicit
    assert san.public_bytes() == bytes([0x30, len(other_name)]) + other_name


def test_parse_and_match_on_a_certificate(issue_holder_cert) -> None:
    cert = issue_holder_cert(
        san=[
            x509.DNSName("example.kr"),
            vid.identify_data_other_name("홍길동", IDN, RANDOM_NUM),
        ]
    )
    parsed = vid.parse_identify_data(cert)
    assert parsed == vid.IdentifyData(
        real_name="홍길동", hash_algorithm="sha256", vid=bytes.fromhex(VID_SHA256)
    )
    assert vid.vid_matches(cert, IDN, RANDOM_NUM)
    assert not vid.vid_matches(cert, "8001011234568", RANDOM_NUM)
    assert not vid.vid_matches(cert, IDN, bytes(20))


def test_certificate_without_identify_data(issue_holder_cert) -> None:
    plain = issue_holder_cert()
    other = issue_holder_cert(san=[x509.OtherName(x509.ObjectIdentifier("1.2.3.4"), b"\x05\x00")])
    for cert in (plain, other):
        assert vid.parse_identify_data(cert) is None
        assert not vid.vid_matches(cert, IDN, RANDOM_NUM)


def test_malformed_identify_data_is_invalid_input(issue_holder_cert) -> None:
    cert = issue_holder_cert(
        san=[x509.OtherName(x509.ObjectIdentifier(vid.IDENTIFY_DATA_OID), b"\x04\x01\x00")]
    )
    with pytest.raises(InvalidInput):
        vid.parse_identify_data(cert)


class _AsnVidInput(core.Sequence):
    _fields = [("idn", core.PrintableString), ("random_num", core.OctetBitString)]


@settings(max_examples=150, deadline=None)
@given(
    real_name=st.text(min_size=1, max_size=200),
    idn=st.text("0123456789", min_size=1, max_size=13),
    random_num=st.binary(min_size=1, max_size=200),
    hash_name=st.sampled_from(["sha1", "sha224", "sha256", "sha384", "sha512"]),
)
def test_directly_framed_identify_data_equals_asn1crypto_encoding(real_name: str, idn: str, random_num: bytes, hash_name: str) -> None:
    """The fast framing gives the bytes asn1crypto builds, long names and randomNums (multi-octet
    lengths) included, and reads back through the parser."""
    encoded = _AsnVidInput({"idn": idn, "random_num": random_num}).dump()
    expected_vid = hashlib.new(hash_name, hashlib.new(hash_name, encoded).digest()).digest()
    assert vid.compute_vid(idn, random_num, hash_name) == expected_vid
    reference = vid._IdentifyData(
        {
            "real_name": real_name,
            "user_infos": [
                {
                    "type": vid.VID_OID,
                    "value": core.Any.load(vid._Vid({"hash_alg": {"algorithm": hash_name}, "vid": expected_vid}).dump()),
                }
            ],
        }
    ).dump()
    framed = vid.identify_data_der(real_name, idn, random_num, hash_name)
    assert framed == reference
    parsed = vid._parse_identify_data_value(framed)
    assert (parsed.real_name, parsed.hash_algorithm, parsed.vid) == (real_name, hash_name, expected_vid)
