"""The KISA VID (virtual ID): the holder's resident number, hashed with the key's randomNum.

Owns computing the VID, encoding it as the ``identifyData`` otherName that goes into a
certificate's subjectAltName, reading it back, and the relying party's check that a given
resident number and randomNum match a certificate. The resident number itself never enters
the certificate, and never enters an error detail here.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from asn1crypto import algos, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509

from fincert.errors import InvalidInput
from fincert.formats import der

#: otherName type-id of identifyData.
IDENTIFY_DATA_OID = "1.2.410.200004.10.1.1"
#: userInfo type of a VID.
VID_OID = "1.2.410.200004.10.1.1.1"

_SUPPORTED_HASHES = ("sha1", "sha224", "sha256", "sha384", "sha512")


class _HashAlgorithm(core.Sequence):
    # Not asn1crypto's DigestAlgorithm: that one adds NULL parameters, and real certificates
    # carry sha256 without them.
    _fields = [
        ("algorithm", algos.DigestAlgorithmId),
        ("parameters", core.Any, {"optional": True}),
    ]


class _Vid(core.Sequence):
    _fields = [
        ("hash_alg", _HashAlgorithm),
        ("vid", core.OctetString, {"explicit": 0}),
    ]


class _UserInfo(core.Sequence):
    _fields = [
        ("type", core.ObjectIdentifier),
        ("value", core.Any),
    ]


class _UserInfos(core.SequenceOf):
    _child_spec = _UserInfo


class _IdentifyData(core.Sequence):
    _fields = [
        ("real_name", core.UTF8String),
        ("user_infos", _UserInfos),
    ]


@dataclass(frozen=True)
class IdentifyData:
    """The identifyData otherName of a certificate."""

    real_name: str
    #: hashlib name of the VID hash (``"sha256"``), or a dotted OID when it is not one we know.
    hash_algorithm: str
    vid: bytes


def _check_inputs(idn: str, random_num: bytes, hash_name: str) -> None:
    # Resident (13) and business (10) numbers are digits only; anything else is a caller
    # mistake (a hyphen left in), which would silently give a VID nobody can match.
    if not idn or not (idn.isascii() and idn.isdigit()):
        raise InvalidInput("the identification number must be digits only", field="idn")
    if not random_num:
        raise InvalidInput("randomNum is empty", field="random_num")
    if hash_name not in _SUPPORTED_HASHES:
        raise InvalidInput("unsupported VID hash algorithm", field="hash_name")


# The fixed parts, encoded once by asn1crypto; each certificate's identifyData is then framed
# from them directly (asn1crypto's build-and-dump was ~0.5 ms of every issuance).
_HASH_ALGORITHM_DER = {name: _HashAlgorithm({"algorithm": name}).dump() for name in _SUPPORTED_HASHES}
_VID_TYPE_DER = core.ObjectIdentifier(VID_OID).dump()


def _vid_input_der(idn: str, random_num: bytes) -> bytes:
    """DER of SEQUENCE { PrintableString idn, BIT STRING randomNum } (inputs already checked)."""
    return der.sequence(der.tlv(0x13, idn.encode("ascii")), der.bit_string(random_num))


def compute_vid(idn: str, random_num: bytes, hash_name: str = "sha256") -> bytes:
    """VID = H(H(DER(SEQUENCE { PrintableString idn, BIT STRING randomNum })))."""
    _check_inputs(idn, random_num, hash_name)
    inner = hashlib.new(hash_name, _vid_input_der(idn, random_num)).digest()
    return hashlib.new(hash_name, inner).digest()


def identify_data_der(
    real_name: str, idn: str, random_num: bytes, hash_name: str = "sha256"
) -> bytes:
    """DER of the IdentifyData SEQUENCE (the otherName value without its [0] wrapper):
    ``SEQUENCE { UTF8String realName, SEQUENCE OF { SEQUENCE { OID vid, VID } } }`` with
    ``VID ::= SEQUENCE { hashAlg AlgorithmIdentifier, [0] EXPLICIT OCTET STRING vid }``."""
    vid = compute_vid(idn, random_num, hash_name)
    vid_value = der.sequence(_HASH_ALGORITHM_DER[hash_name], der.tlv(0xA0, der.tlv(0x04, vid)))
    user_infos = der.sequence(der.sequence(_VID_TYPE_DER, vid_value))
    return der.sequence(der.tlv(0x0C, real_name.encode("utf-8")), user_infos)


def identify_data_other_name(
    real_name: str, idn: str, random_num: bytes, hash_name: str = "sha256"
) -> x509.OtherName:
    """The identifyData otherName for a certificate's subjectAltName.

    cryptography wraps ``OtherName.value`` in the ``[0] EXPLICIT`` of the otherName syntax
    itself, so the value is the bare IdentifyData SEQUENCE.
    """
    return x509.OtherName(
        x509.ObjectIdentifier(IDENTIFY_DATA_OID),
        identify_data_der(real_name, idn, random_num, hash_name),
    )


def parse_identify_data(certificate: x509.Certificate) -> IdentifyData | None:
    """The certificate's identifyData, or ``None`` when it has none.

    Raises ``InvalidInput`` when an identifyData otherName is present but malformed.
    """
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return None
    for other_name in san.value.get_values_for_type(x509.OtherName):
        if other_name.type_id.dotted_string != IDENTIFY_DATA_OID:
            continue
        return _parse_identify_data_value(other_name.value)
    return None


def _parse_identify_data_value(value: bytes) -> IdentifyData:
    try:
        parsed = _IdentifyData.load(value, strict=True)
        real_name = parsed["real_name"].native
        for user_info in parsed["user_infos"]:
            if user_info["type"].dotted != VID_OID:
                continue
            vid = _Vid.load(user_info["value"].dump(), strict=True)
            return IdentifyData(
                real_name=real_name,
                hash_algorithm=vid["hash_alg"]["algorithm"].native,
                vid=vid["vid"].native,
            )
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as error:
        raise InvalidInput("the certificate's identifyData is malformed") from error
    raise InvalidInput("the certificate's identifyData holds no VID")


def vid_matches(certificate: x509.Certificate, idn: str, random_num: bytes) -> bool:
    """Whether ``idn`` and ``random_num`` give the VID in the certificate.

    ``False`` also when the certificate has no VID or uses a hash we do not support: in both
    cases the holder's number is not confirmed.
    """
    identify_data = parse_identify_data(certificate)
    if identify_data is None or identify_data.hash_algorithm not in _SUPPORTED_HASHES:
        return False
    expected = compute_vid(idn, random_num, identify_data.hash_algorithm)
    return hmac.compare_digest(expected, identify_data.vid)


# --- identifyData for asn1crypto (and so pyhanko-certvalidator) ------------------------------


class _VidUserInfo(core.Sequence):
    _fields = [("type", core.ObjectIdentifier), ("value", core.Any)]
    _oid_pair = ("type", "value")
    _oid_specs = {VID_OID: _Vid}


class _VidUserInfos(core.SequenceOf):
    _child_spec = _VidUserInfo


class _IdentifyDataValue(core.Sequence):
    _fields = [("real_name", core.UTF8String), ("user_infos", _VidUserInfos)]


def _teach_asn1crypto_identify_data() -> None:
    """Give asn1crypto the structure of the KISA identifyData otherName.

    pyhanko-certvalidator reads every subjectAltName as ``.native`` while checking name
    constraints; asn1crypto's ``AnotherName.value`` is an untyped ``Any``, and its generic
    parse refuses the context-tagged ``[0] EXPLICIT`` VID inside, so every certificate with a
    VID failed path validation. ``_oid_specs`` is asn1crypto's own registry for typed values.
    """
    another_name = asn1_x509.AnotherName
    if getattr(another_name, "_oid_specs", None) and IDENTIFY_DATA_OID in another_name._oid_specs:
        return
    another_name._oid_pair = ("type_id", "value")
    another_name._oid_specs = {**(getattr(another_name, "_oid_specs", None) or {}), IDENTIFY_DATA_OID: _IdentifyDataValue}
    # asn1crypto caches a class's field layout on first use; recompute it with the OID pair.
    another_name()._setup()


_teach_asn1crypto_identify_data()
