"""The RFC 3161 time-stamp authority core and its client-side helpers.

Owns turning a DER ``TimeStampReq`` into a DER ``TimeStampResp`` (``TimeStampAuthority``), the
TSA certificate profile check, building requests and reading responses for clients, and the
pyHanko ``TimeStamper`` that lets CMS signing call the authority in-process. Pure protocol code:
the caller persists serial numbers (``serial_source``) and serves HTTP.

Requests are refused with a ``rejection`` status and an RFC 3161 failInfo, never an exception:
``badDataFormat`` (not DER, or an imprint of the wrong length), ``badRequest`` (unsupported
version), ``badAlg`` (imprint hash not accepted), ``unacceptedPolicy`` (another reqPolicy),
``unacceptedExtension`` (any extension: this TSA understands none).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from pyhanko.sign.general import as_signing_certificate_v2, simple_cms_attribute
from pyhanko.sign.timestamps import TimeStamper

from fincert.clock import Clock
from fincert.errors import ConfigurationError, InvalidInput, PolicyViolation, VerificationFailed
from fincert.formats import der as _der
from fincert.sign.raw_signer import (
    HashName,
    RawSigner,
    RawSignerBridge,
    as_raw_signer,
    hash_algorithm,
    to_asn1_certificate,
)

#: Imprint hashes a request may use. SHA-1 is left out on purpose: a time-stamp over a SHA-1
#: imprint proves nothing about the data once a collision can be made for it.
DEFAULT_ACCEPTED_IMPRINT_HASHES: frozenset[str] = frozenset({"sha256", "sha384", "sha512"})

class _TimeStampResp(tsp.TimeStampResp):
    """TimeStampResp with timeStampToken OPTIONAL, as RFC 3161 §2.4.2 has it.

    asn1crypto 1.5 declares the token mandatory, so it can neither write nor read a rejection.
    """

    _fields = [
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


_IMPRINT_LENGTHS = {"sha1": 20, "sha224": 28, "sha256": 32, "sha384": 48, "sha512": 64}


def tsa_certificate_profile_ok(certificate: x509.Certificate) -> None:
    """Check a certificate may sign time-stamps (RFC 3161 §2.3); raise ``PolicyViolation`` if not.

    The extendedKeyUsage extension must be present, critical and hold exactly id-kp-timeStamping;
    a keyUsage extension, when present, must allow digitalSignature or nonRepudiation.
    """
    try:
        eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        raise PolicyViolation("TSA certificate has no extendedKeyUsage extension") from None
    if not eku.critical:
        raise PolicyViolation("TSA certificate extendedKeyUsage must be critical")
    if list(eku.value) != [ExtendedKeyUsageOID.TIME_STAMPING]:
        raise PolicyViolation("TSA certificate extendedKeyUsage must be exactly id-kp-timeStamping")
    try:
        key_usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not (key_usage.digital_signature or key_usage.content_commitment):
        raise PolicyViolation("TSA certificate keyUsage allows neither signing nor non-repudiation")


class _CallableSigner:
    """A bare ``data -> signature`` callable, trusted to sign with the TSA's hash (and no PSS)."""

    def __init__(self, sign: Callable[[bytes], bytes]) -> None:
        self._sign = sign

    def sign(self, data: bytes, hash_alg: HashName, *, pss: bool = False) -> bytes:
        return self._sign(data)


class _RequestRefused(Exception):
    def __init__(self, fail_info: str, text: str) -> None:
        super().__init__(text)
        self.fail_info = fail_info
        self.text = text


class TimeStampAuthority:
    """Answers RFC 3161 requests with tokens signed by the TSA key.

    ``signer`` is the TSA's private key (RSA or EC), a ``RawSigner``, or a bare callable that
    signs bytes with the mechanism the certificate's key implies over ``hash_alg``.
    ``serial_source`` returns a new, strictly increasing positive serial for every token
    (the caller persists it: RFC 3161 requires serials unique for the TSA's lifetime).

    Raises ``PolicyViolation`` if the certificate is not a TSA certificate and
    ``ConfigurationError`` if the signer's key does not belong to the certificate.
    """

    def __init__(
        self,
        certificate: x509.Certificate,
        chain: list[x509.Certificate],
        signer: RawSigner | rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | Callable[[bytes], bytes],
        policy_oid: str,
        accuracy_seconds: int,
        clock: Clock,
        serial_source: Callable[[], int],
        *,
        hash_alg: HashName = "sha256",
        accepted_imprint_hashes: Iterable[str] = DEFAULT_ACCEPTED_IMPRINT_HASHES,
    ) -> None:
        tsa_certificate_profile_ok(certificate)
        if accuracy_seconds < 1:
            raise ConfigurationError("TSA accuracy must be at least one second")
        try:
            self._policy = core.ObjectIdentifier(policy_oid)
            self._policy.dump()
        except ValueError:
            raise ConfigurationError("TSA policy is not a dotted OID") from None
        hash_algorithm(hash_alg)
        if isinstance(signer, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, RawSigner)):
            raw_signer = as_raw_signer(signer)
        elif callable(signer):
            raw_signer = _CallableSigner(signer)
        else:
            raise TypeError("signer must be a private key, a RawSigner or a callable")
        _check_signer_matches(raw_signer, certificate, hash_alg)

        self._certificate = to_asn1_certificate(certificate)
        self._chain = [to_asn1_certificate(c) for c in chain]
        self._raw_signer = raw_signer
        # pyHanko's Signer supplies the signature mechanism and the SignerInfo layout; the
        # signed attributes are built here because a TSTInfo is not PDF or generic 'data'.
        self._signer_info_builder = RawSignerBridge(raw_signer, certificate, chain, hash_alg=hash_alg)
        self._hash_alg = hash_alg
        self._accuracy_seconds = accuracy_seconds
        self._clock = clock
        self._serial_source = serial_source
        self._accepted = frozenset(accepted_imprint_hashes)
        self._template = _TokenTemplate.build(
            self._certificate, self._chain, self._policy, accuracy_seconds, hash_alg, self._signer_info_builder
        )

    @property
    def policy_oid(self) -> str:
        return self._policy.dotted

    def respond(self, request_der: bytes) -> bytes:
        """Answer one DER TimeStampReq with a DER TimeStampResp (granted or rejection)."""
        try:
            request = self._check_request(request_der)
        except _RequestRefused as refused:
            return _rejection(refused.fail_info, refused.text)
        return _der.sequence(_GRANTED, self._issue_token(request))

    def _check_request(self, request_der: bytes) -> tsp.TimeStampReq:
        try:
            request = tsp.TimeStampReq.load(bytes(request_der), strict=True)
            # asn1crypto parses lazily; .native forces every field so bad inner DER shows now.
            request.native
        except Exception:  # any parse failure of untrusted bytes is the client's bad format
            raise _RequestRefused("bad_data_format", "request is not a DER TimeStampReq") from None
        if request["version"].native != "v1":
            raise _RequestRefused("bad_request", "only TimeStampReq version 1 is supported")
        imprint = request["message_imprint"]
        hash_name = imprint["hash_algorithm"]["algorithm"].native
        if hash_name not in self._accepted:
            raise _RequestRefused("bad_alg", "message imprint hash algorithm is not accepted")
        if len(imprint["hashed_message"].native) != _IMPRINT_LENGTHS[hash_name]:
            raise _RequestRefused("bad_data_format", "message imprint has the wrong length")
        requested_policy = request["req_policy"]
        if requested_policy.native is not None and requested_policy.dotted != self._policy.dotted:
            raise _RequestRefused("unaccepted_policy", "requested policy is not offered")
        if request["extensions"].native:
            raise _RequestRefused("unaccepted_extensions", "request extensions are not supported")
        return request

    def _issue_token(self, request: tsp.TimeStampReq) -> bytes:
        """The DER ContentInfo (SignedData over a TSTInfo) answering ``request``.

        Framed by hand from the pieces ``_TokenTemplate`` encoded once: asn1crypto re-walks the
        TSA certificate and names on every ``dump()``, which cost about 50 ms per token.
        """
        serial = self._serial_source()
        if not isinstance(serial, int) or serial <= 0 or serial.bit_length() > 159:
            raise ConfigurationError("TSA serial source returned an unusable serial number")
        # Whole seconds: the stated accuracy is in seconds, and DER GeneralizedTime then has no
        # fraction whose trailing-zero rules some verifiers get wrong.
        gen_time = _der.generalized_time(self._clock.now().astimezone(timezone.utc).replace(microsecond=0))
        nonce = request["nonce"]
        template = self._template
        # The imprint and nonce are copied as the client encoded them (the echo RFC 3161 asks for).
        tst_info_der = _der.sequence(
            template.tst_info_head,
            request["message_imprint"].dump(),
            _der.integer(serial),
            gen_time,
            template.accuracy,
            b"" if isinstance(nonce, core.Void) else nonce.dump(),
            template.tsa_name,
        )
        signed_attrs = _der.set_of(
            template.content_type_attr,
            _der.sequence(_SIGNING_TIME_OID, _der.tlv(0x31, gen_time)),
            _der.sequence(
                _MESSAGE_DIGEST_OID,
                _der.tlv(0x31, _der.tlv(0x04, hashlib.new(self._hash_alg, tst_info_der).digest())),
            ),
            template.signing_certificate_attr,
            template.algorithm_protection_attr,
        )
        signature = self._raw_signer.sign(signed_attrs, self._hash_alg)
        signer_info = _der.sequence(
            template.signer_info_head,
            _der.tlv(0xA0, signed_attrs[_der.header_length(signed_attrs):]),  # [0] IMPLICIT SET
            template.signature_algorithm,
            _der.tlv(0x04, signature),
        )
        signed_data = _der.sequence(
            # v3 because the encapsulated content is not id-data (RFC 5652 §5.1).
            template.signed_data_head,
            _der.sequence(_TST_INFO_OID, _der.tlv(0xA0, _der.tlv(0x04, tst_info_der))),
            # RFC 3161 §2.4.1: certificates only when certReq is true, and then the TSA's own.
            template.certificates if request["cert_req"].native else b"",
            _der.tlv(0x31, signer_info),
        )
        return _der.sequence(_SIGNED_DATA_OID, _der.tlv(0xA0, signed_data))


_SIGNED_DATA_OID = core.ObjectIdentifier("1.2.840.113549.1.7.2").dump()
_TST_INFO_OID = core.ObjectIdentifier("1.2.840.113549.1.9.16.1.4").dump()
_SIGNING_TIME_OID = core.ObjectIdentifier("1.2.840.113549.1.9.5").dump()
_MESSAGE_DIGEST_OID = core.ObjectIdentifier("1.2.840.113549.1.9.4").dump()
_GRANTED = _der.sequence(_der.integer(0))


@dataclass(frozen=True)
class _TokenTemplate:
    """The parts of every token that depend only on the TSA certificate and settings, in DER."""

    tst_info_head: bytes  # version, policy
    accuracy: bytes
    tsa_name: bytes  # [0] GeneralName directoryName: the TSA certificate's subject
    content_type_attr: bytes
    signing_certificate_attr: bytes
    algorithm_protection_attr: bytes
    signer_info_head: bytes  # version, sid, digestAlgorithm
    signature_algorithm: bytes
    signed_data_head: bytes  # version, digestAlgorithms
    certificates: bytes  # [0] IMPLICIT CertificateSet

    @classmethod
    def build(
        cls,
        certificate: asn1_x509.Certificate,
        chain: list[asn1_x509.Certificate],
        policy: core.ObjectIdentifier,
        accuracy_seconds: int,
        hash_alg: HashName,
        bridge: RawSignerBridge,
    ) -> _TokenTemplate:
        mechanism = bridge.get_signature_mechanism_for_digest(hash_alg)
        digest_algorithm = algos.DigestAlgorithm({"algorithm": hash_alg})
        # pyHanko's SignerInfo layout, encoded once with a placeholder signature and taken apart.
        reference = bridge.signer_info(
            hash_alg, cms.CMSAttributes([simple_cms_attribute("content_type", "tst_info")]), b"\0"
        )
        certificates = cms.CertificateSet([*([certificate] + chain)]).dump(force=True)
        return cls(
            tst_info_head=_der.integer(1) + policy.dump(),
            accuracy=tsp.Accuracy({"seconds": accuracy_seconds}).dump(force=True),
            tsa_name=_der.tlv(0xA0, asn1_x509.GeneralName(name="directory_name", value=certificate.subject).dump(force=True)),
            content_type_attr=simple_cms_attribute("content_type", "tst_info").dump(force=True),
            signing_certificate_attr=simple_cms_attribute(
                "signing_certificate_v2", as_signing_certificate_v2(certificate, "sha256")
            ).dump(force=True),
            algorithm_protection_attr=simple_cms_attribute(
                "cms_algorithm_protection",
                cms.CMSAlgorithmProtection({"digest_algorithm": digest_algorithm, "signature_algorithm": mechanism}),
            ).dump(force=True),
            signer_info_head=reference["version"].dump() + reference["sid"].dump(force=True) + reference["digest_algorithm"].dump(force=True),
            signature_algorithm=reference["signature_algorithm"].dump(force=True),
            signed_data_head=_der.integer(3) + _der.tlv(0x31, digest_algorithm.dump(force=True)),
            certificates=_der.tlv(0xA0, certificates[_der.header_length(certificates):]),
        )


def _check_signer_matches(raw_signer: RawSigner, certificate: x509.Certificate, hash_alg: HashName) -> None:
    probe = b"fincert TSA key check"
    signature = raw_signer.sign(probe, hash_alg)
    public_key = certificate.public_key()
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, probe, padding.PKCS1v15(), hash_algorithm(hash_alg))
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, probe, ec.ECDSA(hash_algorithm(hash_alg)))
        else:
            raise ConfigurationError("TSA key must be RSA or EC")
    except InvalidSignature:
        raise ConfigurationError("TSA signer does not hold the TSA certificate's key") from None


def _rejection(fail_info: str, text: str) -> bytes:
    return _TimeStampResp(
        {
            "status": tsp.PKIStatusInfo(
                {"status": "rejection", "status_string": [text], "fail_info": tsp.PKIFailureInfo({fail_info})}
            )
        }
    ).dump()


@dataclass(frozen=True)
class MessageImprint:
    """The hash a time-stamp is about: algorithm name (``sha256``...) and digest bytes."""

    hash_algorithm: str
    digest: bytes

    @classmethod
    def of(cls, data: bytes, hash_alg: HashName = "sha256") -> MessageImprint:
        return cls(hash_alg, hashlib.new(hash_alg, data).digest())


def build_timestamp_request(
    data_or_digest: bytes | MessageImprint,
    *,
    nonce: bool | int = True,
    cert_req: bool = True,
    policy: str | None = None,
    hash_alg: HashName = "sha256",
) -> bytes:
    """Build a DER TimeStampReq for ``data`` (hashed with ``hash_alg``) or a ready ``MessageImprint``.

    ``nonce``: True draws a random 64-bit nonce, an int uses that nonce, False sends none; pass
    the request to ``parse_timestamp_response(request_der=...)`` to check the echo.
    """
    imprint = (
        data_or_digest
        if isinstance(data_or_digest, MessageImprint)
        else MessageImprint.of(bytes(data_or_digest), hash_alg)
    )
    if _IMPRINT_LENGTHS.get(imprint.hash_algorithm) != len(imprint.digest):
        raise InvalidInput("message imprint does not match its hash algorithm")
    fields: dict[str, object] = {
        "version": "v1",
        "message_imprint": {
            "hash_algorithm": {"algorithm": imprint.hash_algorithm},
            "hashed_message": imprint.digest,
        },
        "cert_req": cert_req,
    }
    if policy is not None:
        fields["req_policy"] = policy
    if nonce is True:
        fields["nonce"] = secrets.randbits(63) | (1 << 62)
    elif nonce is not False:
        fields["nonce"] = int(nonce)
    return tsp.TimeStampReq(fields).dump()


@dataclass(frozen=True)
class TimeStampResult:
    """What a TimeStampResp says, before any signature check.

    ``status`` is the PKIStatus name (``granted``, ``granted_with_mods``, ``rejection``, ...);
    ``failure_info`` the failInfo bit names and ``status_text`` the statusString, on refusal.
    The token fields are ``None`` when no token was returned. The token's signature and the
    TSA's certificate path are *not* checked here; ``fincert.sign.verify`` does that.
    """

    status: str
    token_der: bytes | None
    gen_time: datetime | None
    serial: int | None
    nonce: int | None
    policy: str | None
    message_imprint: MessageImprint | None
    failure_info: tuple[str, ...] = ()
    status_text: str | None = None

    @property
    def granted(self) -> bool:
        return self.status in ("granted", "granted_with_mods")


def parse_timestamp_response(response_der: bytes, *, request_der: bytes | None = None) -> TimeStampResult:
    """Read a DER TimeStampResp; raise ``InvalidInput`` if it is not one.

    With ``request_der``, a granted token must answer that request (same imprint, the echoed
    nonce, the requested policy), or ``VerificationFailed`` is raised.
    """
    try:
        response = _TimeStampResp.load(bytes(response_der), strict=True)
        status_info = response["status"]
        status = status_info["status"].native
        failure_info = tuple(sorted(status_info["fail_info"].native or ()))
        status_text = "; ".join(status_info["status_string"].native or ()) or None
        token = response["time_stamp_token"]
        if isinstance(token, core.Void):
            result = TimeStampResult(status, None, None, None, None, None, None, failure_info, status_text)
        else:
            if token["content_type"].native != "signed_data":
                raise ValueError("token is not SignedData")
            encap = token["content"]["encap_content_info"]
            if encap["content_type"].native != "tst_info":
                raise ValueError("token does not carry a TSTInfo")
            tst_info = encap["content"].parsed
            if not isinstance(tst_info, tsp.TSTInfo):
                raise ValueError("token does not carry a TSTInfo")
            imprint = tst_info["message_imprint"]
            result = TimeStampResult(
                status=status,
                token_der=token.dump(),
                gen_time=tst_info["gen_time"].native,
                serial=tst_info["serial_number"].native,
                nonce=tst_info["nonce"].native,
                policy=tst_info["policy"].dotted,
                message_imprint=MessageImprint(
                    imprint["hash_algorithm"]["algorithm"].native, imprint["hashed_message"].native
                ),
                failure_info=failure_info,
                status_text=status_text,
            )
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidInput("not a DER TimeStampResp") from exc
    if request_der is not None and result.granted:
        _check_answers_request(result, request_der)
    return result


def _check_answers_request(result: TimeStampResult, request_der: bytes) -> None:
    request = tsp.TimeStampReq.load(bytes(request_der))
    imprint = request["message_imprint"]
    asked = MessageImprint(imprint["hash_algorithm"]["algorithm"].native, imprint["hashed_message"].native)
    if result.message_imprint != asked:
        raise VerificationFailed("time-stamp token is for another message imprint")
    if result.nonce != request["nonce"].native:
        raise VerificationFailed("time-stamp token does not echo the request nonce")
    if request["req_policy"].native is not None and result.policy != request["req_policy"].dotted:
        raise VerificationFailed("time-stamp token is under another policy")


class InProcessTimeStamper(TimeStamper):
    """pyHanko ``TimeStamper`` that asks a ``TimeStampAuthority`` in this process, not over HTTP.

    For an HTTP TSA use ``pyhanko.sign.timestamps.HTTPTimeStamper(url)`` instead; both plug
    into ``fincert.sign.cms.sign_cms(timestamper=...)``.
    """

    def __init__(self, authority: TimeStampAuthority, *, include_nonce: bool = True) -> None:
        super().__init__(include_nonce=include_nonce)
        self._authority = authority

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        return _TimeStampResp.load(self._authority.respond(req.dump()))
