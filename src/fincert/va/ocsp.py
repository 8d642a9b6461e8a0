"""OCSP (RFC 6960) as pure protocol code: request parsing, response signing, answering.

This module owns the bytes of the OCSP exchange and nothing else. It parses requests with
``asn1crypto`` (``cryptography`` raises ``NotImplementedError`` on a request for more than one
certificate). ``cryptography``'s ``OCSPResponseBuilder`` answers only one certificate, so every
BasicOCSPResponse, with one or many SingleResponses, is encoded here from fixed-shape DER parts
(``formats.der``) and signed with a ``cryptography`` key: one code path, byte-identical to the
library's output for one certificate (tested), and as fast (asn1crypto's encoder was 3-7x
slower). Certificate status and cached responses reach :func:`answer` as callables, so storage
and HTTP stay with the caller.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from typing import Literal

from asn1crypto import algos as asn1_algos
from asn1crypto import core as asn1_core
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

from fincert.errors import InvalidInput, PolicyViolation
from fincert.formats import der as _der
from fincert.keys.backend import LabelledKey
from fincert.va.reasons import REVOCATION_REASONS

#: Largest request accepted. One CertID is about 75 bytes; 16 KiB leaves room for a signed
#: request with a certificate chain while refusing to parse arbitrary blobs.
MAX_REQUEST_BYTES = 16 * 1024
#: Most certificates answered in one response: each costs a SingleResponse in a live signature.
MAX_CERTS_PER_REQUEST = 64
#: RFC 8954 §2.1: clients MUST NOT send nonces over 32 octets; a responder MAY answer without
#: echoing them, which is what we do (and keeps a client from making us sign large echoes).
MAX_NONCE_BYTES = 32

CertStatusName = Literal["good", "revoked", "unknown"]
ErrorStatusName = Literal["malformedRequest", "internalError", "tryLater", "unauthorized"]
ResponderPrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
#: A responder key: in memory, or a backend's key by label (an encrypted file, an HSM token).
ResponderKey = ResponderPrivateKey | LabelledKey

_REASON_TO_ASN1CRYPTO = {
    "unspecified": "unspecified",
    "keyCompromise": "key_compromise",
    "cACompromise": "ca_compromise",
    "affiliationChanged": "affiliation_changed",
    "superseded": "superseded",
    "cessationOfOperation": "cessation_of_operation",
    "certificateHold": "certificate_hold",
    "privilegeWithdrawn": "privilege_withdrawn",
    "aACompromise": "aa_compromise",
}
_REASON_FROM_ASN1CRYPTO = {v: k for k, v in _REASON_TO_ASN1CRYPTO.items()}
_ERROR_TO_ASN1CRYPTO = {
    "malformedRequest": "malformed_request",
    "internalError": "internal_error",
    "tryLater": "try_later",
    "unauthorized": "unauthorized",
}
#: CertID hash algorithms we can match; asn1crypto names equal hashlib names for these.
SUPPORTED_CERT_ID_HASHES = ("sha1", "sha256", "sha384", "sha512")

#: CertID hashAlgorithm identifiers, with NULL parameters as openssl writes them.
_CERT_ID_HASHES = {
    "sha1": bytes.fromhex("300906052b0e03021a0500"),
    "sha256": bytes.fromhex("300d06096086480165030402010500"),
    "sha384": bytes.fromhex("300d06096086480165030402020500"),
    "sha512": bytes.fromhex("300d06096086480165030402030500"),
}
_GOOD = b"\x80\x00"  # [0] IMPLICIT NULL
_UNKNOWN = b"\x82\x00"  # [2] IMPLICIT NULL
_ID_PKIX_OCSP_NONCE = bytes.fromhex("06092b0601050507300102")  # 1.3.6.1.5.5.7.48.1.2
_SUCCESSFUL = b"\x0a\x01\x00"  # OCSPResponseStatus successful (ENUMERATED 0)
_ID_PKIX_OCSP_BASIC = bytes.fromhex("06092b0601050507300101")  # 1.3.6.1.5.5.7.48.1.1


class MalformedOcspRequest(InvalidInput):
    """The bytes are not an OCSP request we will answer; the edge replies malformedRequest."""

    kind = "ocsp-malformed-request"


class InvalidResponderCertificate(PolicyViolation):
    """The certificate cannot sign OCSP responses for the issuer it was paired with."""

    kind = "ocsp-invalid-responder"


@dataclasses.dataclass(frozen=True, slots=True)
class CertId:
    """RFC 6960 CertID: which certificate a client asks about, named through its issuer."""

    issuer_name_hash: bytes
    issuer_key_hash: bytes
    serial: int
    hash_algorithm: str = "sha1"


@dataclasses.dataclass(frozen=True, slots=True)
class OcspRequestInfo:
    cert_ids: tuple[CertId, ...]
    #: The nonce value (the inner OCTET STRING), or None when absent or longer than 32 octets.
    nonce: bytes | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class CertificateStatus:
    status: CertStatusName
    revoked_at: dt.datetime | None = None
    #: RFC 5280 reason name (``keyCompromise``...); None or ``unspecified`` omit the reason.
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.status not in ("good", "revoked", "unknown"):
            raise ValueError(f"unknown certificate status {self.status!r}")
        if self.status == "revoked":
            if self.revoked_at is None or self.revoked_at.tzinfo is None:
                raise ValueError("a revoked status needs a timezone-aware revoked_at")
            # removeFromCRL only means something in a delta CRL (RFC 5280 §5.3.1).
            if self.reason is not None and self.reason not in _REASON_TO_ASN1CRYPTO:
                raise ValueError(f"unknown revocation reason {self.reason!r}")
        elif self.revoked_at is not None or self.reason is not None:
            raise ValueError(f"a {self.status} status has no revocation time or reason")


GOOD = CertificateStatus("good")
UNKNOWN = CertificateStatus("unknown")


# ---------------------------------------------------------------------------------------------
# Requests


def parse_ocsp_request(der: bytes, *, max_certs: int = MAX_CERTS_PER_REQUEST) -> OcspRequestInfo:
    """Parse a DER OCSPRequest into its CertIDs and nonce.

    Raises :class:`MalformedOcspRequest` for empty, oversized, trailing-garbage or otherwise
    unparseable input, for a request without CertIDs or with more than ``max_certs``, and for
    unrecognised critical extensions (RFC 6960 §4.4). A request signature is not checked: this
    responder answers anyone.
    """
    if not der:
        raise MalformedOcspRequest("empty OCSP request")
    if len(der) > MAX_REQUEST_BYTES:
        raise MalformedOcspRequest(f"OCSP request larger than {MAX_REQUEST_BYTES} bytes")
    try:
        request = asn1_ocsp.OCSPRequest.load(der, strict=True)
        tbs = request["tbs_request"]
        if tbs["version"].native != "v1":
            raise MalformedOcspRequest("unsupported OCSP request version")
        single_requests = list(tbs["request_list"])
        if not single_requests:
            raise MalformedOcspRequest("OCSP request names no certificate")
        if len(single_requests) > max_certs:
            raise MalformedOcspRequest(f"OCSP request names more than {max_certs} certificates")
        cert_ids = []
        for single in single_requests:
            _refuse_critical(single["single_request_extensions"], known=())
            cert_id = single["req_cert"]
            cert_ids.append(
                CertId(
                    issuer_name_hash=bytes(cert_id["issuer_name_hash"].native),
                    issuer_key_hash=bytes(cert_id["issuer_key_hash"].native),
                    serial=int(cert_id["serial_number"].native),
                    hash_algorithm=cert_id["hash_algorithm"]["algorithm"].native,
                )
            )
        extensions = tbs["request_extensions"]
        _refuse_critical(extensions, known=("nonce",))
        nonce = None
        for extension in extensions if extensions.native is not None else ():
            if extension["extn_id"].native == "nonce":
                value = extension["extn_value"].parsed.native
                if not isinstance(value, bytes) or not value:
                    raise MalformedOcspRequest("empty OCSP nonce")
                nonce = value if len(value) <= MAX_NONCE_BYTES else None
        # Touch the optional signature so a broken one fails here rather than never.
        request["optional_signature"].native  # noqa: B018
    except MalformedOcspRequest:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError) as exc:
        # asn1crypto parses lazily and reports damage with several exception types.
        raise MalformedOcspRequest("not a DER OCSP request") from exc
    return OcspRequestInfo(cert_ids=tuple(cert_ids), nonce=nonce)


def _refuse_critical(extensions: asn1_core.SequenceOf, *, known: Sequence[str]) -> None:
    if extensions.native is None:
        return
    for extension in extensions:
        if extension["critical"].native and extension["extn_id"].native not in known:
            raise MalformedOcspRequest("OCSP request has an unsupported critical extension")


# ---------------------------------------------------------------------------------------------
# Responder certificate and signer


def issuer_hashes(issuer_cert: x509.Certificate, hash_algorithm: str = "sha1") -> tuple[bytes, bytes]:
    """(issuerNameHash, issuerKeyHash) a CertID carries for certificates of ``issuer_cert``.

    The name hash covers the DER of the issuer's subject; the key hash covers the bits of its
    subjectPublicKey BIT STRING (RFC 6960 §4.1.1). Clients use SHA-1 (openssl's default) or
    SHA-256, so the signer keeps both.
    """
    if hash_algorithm not in SUPPORTED_CERT_ID_HASHES:
        raise ValueError(f"unsupported CertID hash {hash_algorithm!r}")
    name_der = issuer_cert.subject.public_bytes()
    spki = asn1_x509.Certificate.load(issuer_cert.public_bytes(serialization.Encoding.DER))
    key_bits = bytes(spki["tbs_certificate"]["subject_public_key_info"]["public_key"])
    return (
        hashlib.new(hash_algorithm, name_der).digest(),
        hashlib.new(hash_algorithm, key_bits).digest(),
    )


def check_responder_certificate(cert: x509.Certificate, issuer: x509.Certificate) -> None:
    """Check ``cert`` may sign OCSP responses about certificates of ``issuer`` (RFC 6960 §4.2.2.2).

    A delegated responder must be issued directly by the CA, carry EKU id-kp-OCSPSigning and
    (as our policy, so relying parties do not loop checking the responder itself) the
    id-pkix-ocsp-nocheck extension. Raises :class:`InvalidResponderCertificate`.
    """
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise InvalidResponderCertificate("responder certificate is not issued by this CA") from exc
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound as exc:
        raise InvalidResponderCertificate("responder certificate has no extendedKeyUsage") from exc
    if ExtendedKeyUsageOID.OCSP_SIGNING not in eku:
        raise InvalidResponderCertificate("responder certificate lacks id-kp-OCSPSigning")
    try:
        cert.extensions.get_extension_for_oid(ExtensionOID.OCSP_NO_CHECK)
    except x509.ExtensionNotFound as exc:
        raise InvalidResponderCertificate("responder certificate lacks id-pkix-ocsp-nocheck") from exc
    try:
        key_usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        key_usage = None
    if key_usage is not None and not key_usage.digital_signature:
        raise InvalidResponderCertificate("responder certificate keyUsage lacks digitalSignature")


class OcspSigner:
    """Signs BasicOCSPResponses for one issuing CA with a responder key.

    The responder is either a delegated responder certificate (checked with
    :func:`check_responder_certificate`) or the issuing CA itself.
    """

    def __init__(
        self,
        responder_cert: x509.Certificate,
        responder_key: ResponderKey,
        issuer_cert: x509.Certificate,
    ) -> None:
        if not isinstance(responder_key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, LabelledKey)):
            raise TypeError("responder key must be an RSA or EC private key, or a backend's key")
        public_key = responder_key.public_key()
        if isinstance(public_key, rsa.RSAPublicKey):
            self._signature_algorithm = _der.SHA256_WITH_RSA
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            self._signature_algorithm = _der.ECDSA_WITH_SHA256
        else:
            raise TypeError("responder key must be RSA or EC")
        if public_key != responder_cert.public_key():
            raise InvalidResponderCertificate("responder key does not match its certificate")
        if responder_cert != issuer_cert:
            check_responder_certificate(responder_cert, issuer_cert)
        self.responder_cert = responder_cert
        self.issuer_cert = issuer_cert
        self._key = responder_key
        self._issuer_hashes = {alg: issuer_hashes(issuer_cert, alg) for alg in SUPPORTED_CERT_ID_HASHES}
        responder_der = responder_cert.public_bytes(serialization.Encoding.DER)
        responder_asn1 = asn1_x509.Certificate.load(responder_der)
        #: certs [0] EXPLICIT SEQUENCE OF Certificate, so clients can check the delegation.
        self._certs_field = _der.tlv(0xA0, _der.sequence(responder_der))
        # responderID byKey: SHA-1 of the responder's subjectPublicKey bits (RFC 6960 §4.2.1).
        self._responder_id = _der.tlv(0xA2, _der.tlv(0x04, responder_asn1.public_key.sha1))

    def serves(self, cert_id: CertId) -> bool:
        """Whether ``cert_id`` names a certificate of this signer's issuer."""
        hashes_ = self._issuer_hashes.get(cert_id.hash_algorithm)
        return hashes_ is not None and hashes_ == (cert_id.issuer_name_hash, cert_id.issuer_key_hash)

    def cert_id(self, serial: int, hash_algorithm: str = "sha1") -> CertId:
        """The CertID a client computes for certificate ``serial`` of this issuer."""
        name_hash, key_hash = self._issuer_hashes[hash_algorithm]
        return CertId(name_hash, key_hash, serial, hash_algorithm)

    def sign_response(
        self,
        items: Sequence[tuple[CertId, CertificateStatus]],
        *,
        produced_at: dt.datetime,
        this_update: dt.datetime,
        next_update: dt.datetime,
        nonce: bytes | None = None,
    ) -> bytes:
        """A DER OCSPResponse (successful) with one SingleResponse per item, in order."""
        if not items:
            raise ValueError("an OCSP response needs at least one SingleResponse")
        this_update, next_update = _utc_seconds(this_update), _utc_seconds(next_update)
        if next_update <= this_update:
            raise ValueError("next_update must be after this_update")
        this_update_der, next_update_der = _der.generalized_time(this_update), _der.generalized_time(next_update)
        responses = b"".join(
            _single_response(cert_id, status, this_update_der, next_update_der) for cert_id, status in items
        )
        parts = [self._responder_id, _der.generalized_time(_utc_seconds(produced_at)), _der.tlv(0x30, responses)]
        if nonce is not None:
            nonce_extension = _der.sequence(_ID_PKIX_OCSP_NONCE, _der.tlv(0x04, _der.tlv(0x04, nonce)))
            parts.append(_der.tlv(0xA1, _der.sequence(nonce_extension)))
        tbs_der = _der.sequence(*parts)
        basic = _der.sequence(
            tbs_der,
            self._signature_algorithm,
            _der.bit_string(self._sign(tbs_der)),
            self._certs_field,
        )
        return _der.sequence(
            _SUCCESSFUL,
            _der.tlv(0xA0, _der.sequence(_ID_PKIX_OCSP_BASIC, _der.tlv(0x04, basic))),
        )

    def _sign(self, data: bytes) -> bytes:
        if isinstance(self._key, LabelledKey):
            return self._key.sign(data)
        if isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        return self._key.sign(data, ec.ECDSA(hashes.SHA256()))


def _utc_seconds(when: dt.datetime) -> dt.datetime:
    # GeneralizedTime in OCSP must be Zulu without fractional seconds (RFC 5280 §4.1.2.5.2).
    if when.tzinfo is None:
        raise ValueError("OCSP times must be timezone-aware")
    return when.astimezone(dt.timezone.utc).replace(microsecond=0)


def _single_response(
    cert_id: CertId, status: CertificateStatus, this_update_der: bytes, next_update_der: bytes
) -> bytes:
    if status.status == "revoked":
        assert status.revoked_at is not None  # checked by CertificateStatus
        revoked = _der.generalized_time(_utc_seconds(status.revoked_at))
        # Like the CRL, an unspecified reason is left out rather than encoded (RFC 5280 §5.3.1).
        if status.reason not in (None, "unspecified"):
            revoked += _der.tlv(0xA0, bytes((0x0A, 0x01, REVOCATION_REASONS[status.reason])))
        cert_status = _der.tlv(0xA1, revoked)  # [1] IMPLICIT RevokedInfo
    else:
        cert_status = _GOOD if status.status == "good" else _UNKNOWN
    return _der.sequence(
        _der.sequence(
            _cert_id_hash(cert_id.hash_algorithm),
            _der.tlv(0x04, cert_id.issuer_name_hash),
            _der.tlv(0x04, cert_id.issuer_key_hash),
            _der.integer(cert_id.serial),
        ),
        cert_status,
        this_update_der,
        _der.tlv(0xA0, next_update_der),
    )


def _cert_id_hash(name: str) -> bytes:
    known = _CERT_ID_HASHES.get(name)
    if known is not None:
        return known
    # A foreign CertID (another issuer, another hash) is echoed as asked, to be answered unknown.
    return asn1_algos.DigestAlgorithm({"algorithm": name}).dump()


def error_response(status: ErrorStatusName) -> bytes:
    """An unsigned OCSPResponse carrying only an error status (RFC 6960 §4.2.1)."""
    if status not in _ERROR_TO_ASN1CRYPTO:
        raise ValueError(f"not an OCSP error status: {status!r}")
    return asn1_ocsp.OCSPResponse({"response_status": _ERROR_TO_ASN1CRYPTO[status]}).dump()


# ---------------------------------------------------------------------------------------------
# Answering


def presign_single(
    signer: OcspSigner,
    serial: int,
    status: CertificateStatus,
    this_update: dt.datetime,
    next_update: dt.datetime,
    *,
    hash_algorithm: str = "sha1",
) -> bytes:
    """A nonce-less response for one certificate, to be cached and served until it goes stale.

    It is keyed on a SHA-1 CertID by default because that is what openssl and most clients send;
    :func:`answer` only serves it to requests with exactly that CertID.
    """
    return signer.sign_response(
        [(signer.cert_id(serial, hash_algorithm), status)],
        produced_at=this_update,
        this_update=this_update,
        next_update=next_update,
        nonce=None,
    )


def answer(
    request: OcspRequestInfo,
    lookup: Callable[[int], CertificateStatus | None],
    signer: OcspSigner,
    presigned: Callable[[int], bytes | None],
    *,
    now: dt.datetime,
    validity: dt.timedelta,
) -> bytes:
    """Answer a parsed request with DER OCSPResponse bytes.

    - ``lookup(serial)`` gives the status of a certificate of ``signer``'s issuer, or None if
      the CA never issued that serial (answered ``unknown``).
    - If no CertID names our issuer the answer is ``unauthorized`` (RFC 5019 §2.2.3) and nothing
      is signed; in a mixed request the foreign CertIDs are answered ``unknown`` (RFC 6960 §2.2).
    - One certificate and no nonce: ``presigned(serial)`` is served when it is for the same
      CertID, covers ``now`` and still states what ``lookup`` says (so a revocation is never
      hidden behind a stale cache entry); otherwise a response is signed live.
    - A nonce or several certificates: all are signed live into one response, valid for
      ``validity`` from ``now``.
    """
    if not any(signer.serves(cert_id) for cert_id in request.cert_ids):
        return error_response("unauthorized")
    items: list[tuple[CertId, CertificateStatus]] = []
    for cert_id in request.cert_ids:
        status = lookup(cert_id.serial) if signer.serves(cert_id) else None
        items.append((cert_id, status if status is not None else UNKNOWN))

    if len(items) == 1 and request.nonce is None:
        cached = presigned(items[0][0].serial)
        if cached is not None and _cached_still_true(cached, items[0], now):
            return cached
    return signer.sign_response(
        items, produced_at=now, this_update=now, next_update=now + validity, nonce=request.nonce
    )


def _cached_still_true(cached: bytes, item: tuple[CertId, CertificateStatus], now: dt.datetime) -> bool:
    """Whether a cached single response matches the CertID, covers ``now`` and the live status."""
    try:
        response = asn1_ocsp.OCSPResponse.load(cached)
        if response["response_status"].native != "successful":
            return False
        singles = response.basic_ocsp_response["tbs_response_data"]["responses"]
        if len(singles) != 1:
            return False
        single = singles[0]
        if _cert_id_of(single["cert_id"]) != item[0]:
            return False
        if not single["this_update"].native <= now < single["next_update"].native:
            return False
        return _status_of(single["cert_status"]) == _as_encoded(item[1])
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return False  # a damaged cache entry is not an error for the client: sign live


def _as_encoded(status: CertificateStatus) -> CertificateStatus:
    """``status`` as it reads back from a response: whole seconds, no 'unspecified' reason."""
    if status.status != "revoked":
        return status
    assert status.revoked_at is not None
    return CertificateStatus(
        "revoked",
        revoked_at=_utc_seconds(status.revoked_at),
        reason=None if status.reason == "unspecified" else status.reason,
    )


def _cert_id_of(cert_id: asn1_ocsp.CertId) -> CertId:
    return CertId(
        issuer_name_hash=cert_id["issuer_name_hash"].native,
        issuer_key_hash=cert_id["issuer_key_hash"].native,
        serial=cert_id["serial_number"].native,
        hash_algorithm=cert_id["hash_algorithm"]["algorithm"].native,
    )


def _status_of(cert_status: asn1_ocsp.CertStatus) -> CertificateStatus:
    if cert_status.name != "revoked":
        return CertificateStatus(cert_status.name)
    info = cert_status.chosen
    reason = info["revocation_reason"].native
    return CertificateStatus(
        "revoked",
        revoked_at=info["revocation_time"].native,
        reason=_REASON_FROM_ASN1CRYPTO[reason] if reason is not None else None,
    )


def parse_response_statuses(der: bytes) -> tuple[str, list[tuple[CertId, CertificateStatus]]]:
    """(responseStatus, [(CertID, status), ...]) of a DER OCSPResponse; for tests and tooling.

    The signature is not verified.
    """
    response = asn1_ocsp.OCSPResponse.load(der)
    status = response["response_status"].native
    if status != "successful":
        return status, []
    singles = response.basic_ocsp_response["tbs_response_data"]["responses"]
    return status, [(_cert_id_of(s["cert_id"]), _status_of(s["cert_status"])) for s in singles]
