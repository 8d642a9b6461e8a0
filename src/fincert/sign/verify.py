"""Verifying a CMS signature the way a relying party must before it gives it legal weight.

Owns ``verify_cms``: integrity (message digest), the signature value, the signature time-stamp,
the certificate path to the caller's trust roots (pyHanko's generic CMS validation and
pyhanko-certvalidator) and certificate status from a pluggable ``RevocationSource``, folded into
one ``SignatureReport``.

The time rule: the moment that counts is the signature time-stamp's genTime when a valid one is
present, otherwise the check time (``at``, default now). The path (validity periods included)
is validated at that moment, and a certificate revoked at or before it makes the signature
invalid, so a signature time-stamped before a later revocation or expiry stays valid, while one
time-stamped, or checked without a time-stamp, after the revocation does not. The TSA's own
certificate's path is checked at the check time and its status at the token's genTime (a later
TSA key compromise voids the token, RFC 3161 §4). Revocation is never fetched over the network: the
caller's ``RevocationSource`` (the service's pre-signed OCSP store, or anything else) is asked.

Speed: with a ``PathCache`` a signature whose signer (and TSA) path was validated before takes a
fast path with the same result. It reads the signature's DER bytes directly (``formats.der``; no
asn1crypto objects, whose construction cost milliseconds) and repeats, on every call, pyHanko's
integrity checks (``validate_sig_integrity``: content type, message digest, ESS signing
certificate, algorithm protection, the signature value, verified with ``cryptography``) for
the signer and for the time-stamp token (its imprint over the signature value, the TSA's
signature), then takes the remembered paths, keyed by the exact certificate bytes, with every
certificate's validity window checked at this call's moment, and asks the ``RevocationSource``
about every certificate on them. Anything the fast path does not positively accept (a failed
check, an unremembered path, PSS, another algorithm, unknown attributes, or DER of another
shape) goes through the full pyHanko validation, which decides; the two give equal reports
(``tests/unit/sign/test_verify_fast_path.py``, including mutated signatures).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal, Protocol

from asn1crypto import cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pyhanko.sign.ades.report import AdESIndeterminate
from pyhanko.sign.general import extract_signer_info
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.generic_cms import (
    async_validate_cms_signature,
    extract_self_reported_ts,
    validate_tst_signed_data,
)
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import SignatureStatus, TimestampSignatureStatus
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.path import ValidationPath

import fincert.formats.vid  # noqa: F401 - teaches asn1crypto the identifyData otherName (VID)
from fincert.errors import InvalidInput
from fincert.formats import der as _der
from fincert.sign._sync import run_coroutine
from fincert.sign.raw_signer import to_asn1_certificate

StatusName = Literal["good", "revoked", "unknown"]


@dataclass(frozen=True)
class CertificateStatus:
    """One certificate's status as the CA publishes it (an OCSP answer, a CRL entry)."""

    status: StatusName
    revoked_at: datetime | None = None
    #: CRLReason name (``key_compromise``, ``superseded``...) when revoked and known.
    reason: str | None = None


class RevocationSource(Protocol):
    """Where the verifier learns whether a certificate is revoked.

    ``status`` answers for ``cert`` issued by ``issuer`` as of now; it is asked for every
    certificate on the path below the trust root. It raises only for its own failures
    (storage down), never to say "revoked".
    """

    def status(self, cert: x509.Certificate, issuer: x509.Certificate) -> CertificateStatus: ...


@dataclass(frozen=True)
class TimestampReport:
    """The signature time-stamp (id-aa-signatureTimeStampToken) found on the signer."""

    #: genTime of the token (UTC).
    gen_time: datetime
    #: Subject of the TSA certificate that signed the token (RFC 4514 string).
    tsa_subject: str
    #: Token intact, its imprint covers this signature value, signature verifies, and the TSA
    #: certificate chains to a trust root with id-kp-timeStamping and is not revoked.
    valid: bool


CertificateStatusName = Literal["good", "revoked", "unknown", "not-checked"]


@dataclass(frozen=True)
class SignatureReport:
    """Everything ``verify_cms`` found out about one signature."""

    #: The single verdict: intact, signature_ok, trusted, any time-stamp valid, and the signer
    #: (and its CAs) not revoked at the signing moment or status not checked.
    valid: bool
    #: The content's digest equals the signed messageDigest (and equals the encapsulated
    #: content when both an attached signature and ``content`` were given).
    intact: bool
    #: The signature value verifies under the signer certificate's public key.
    signature_ok: bool
    signer_subject: str
    signer_serial_hex: str
    #: The signer's certificate, DER.
    signer_certificate: bytes = field(repr=False)
    #: Subjects from the signer up to the trust root (just the signer when no path was found).
    path: list[str]
    #: A valid path to one of ``trust_roots`` exists at the signing moment, key usage allowing.
    trusted: bool
    #: The signer's keyUsage asserts nonRepudiation (contentCommitment).
    non_repudiation: bool
    #: The signingTime signed attribute: the signer's own claim, not proof.
    signed_at: datetime | None
    timestamp: TimestampReport | None
    #: The signer certificate's status; ``not-checked`` without a revocation source or a path.
    certificate_status: CertificateStatusName
    revocation_time: datetime | None
    revocation_reason: str | None
    #: The moment the path and status were judged at: the valid time-stamp's genTime, else the
    #: check time.
    judged_at: datetime
    #: Why the signature is not valid, in a few words; ``None`` when valid.
    failure: str | None


class PathCache:
    """Certificate paths pyhanko-certvalidator accepted, remembered for the fast path.

    Keyed by what the validation depended on: the purpose (signer or TSA key usage), the leaf's
    SHA-256, the trust roots and the other certificates the path could be built from. Only
    successful validations are stored, with each certificate's validity window, which the fast
    path checks again at every call's moment. Revocation is never cached. It also remembers what
    the fast path reads from a certificate (issuer, serial, key...), keyed by the certificate's
    exact DER, so a certificate seen before is not parsed again. Thread-safe; when either map
    holds ``max_entries`` it starts over.
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        self._max_entries = max_entries
        self._paths: dict[tuple[object, ...], _KnownPath] = {}
        self._certificates: dict[bytes, _KnownCertificate | None] = {}
        self._roots: dict[tuple[int, ...], tuple[tuple[x509.Certificate, ...], frozenset[bytes]]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[object, ...]) -> _KnownPath | None:
        return self._paths.get(key)

    def put(self, key: tuple[object, ...], path: ValidationPath) -> None:
        try:
            known = _KnownPath.of(path)
        except _UNDECODABLE:  # a certificate cryptography cannot read never takes the fast path
            return
        with self._lock:
            if len(self._paths) >= self._max_entries:
                self._paths.clear()
            self._paths[key] = known

    def certificate(self, der: bytes) -> _KnownCertificate | None:
        """What the fast path needs from the certificate ``der``; ``None`` if it cannot read it."""
        try:
            return self._certificates[der]
        except KeyError:
            pass
        known = _KnownCertificate.read(der)
        with self._lock:
            if len(self._certificates) >= self._max_entries:
                self._certificates.clear()
            self._certificates[der] = known
        return known

    def roots_key(self, roots: list[x509.Certificate]) -> frozenset[bytes]:
        """``_roots_key(roots)``, remembered for the same certificate objects (callers pass the
        same root objects every time; fingerprinting them costs more than a signature check)."""
        ids = tuple(map(id, roots))
        found = self._roots.get(ids)
        # The entry holds the objects, so their ids cannot be reused while it exists.
        if found is not None and all(a is b for a, b in zip(found[0], roots)):
            return found[1]
        key = _roots_key(roots)
        with self._lock:
            if len(self._roots) >= 64:
                self._roots.clear()
            self._roots[ids] = (tuple(roots), key)
        return key

    def __len__(self) -> int:
        return len(self._paths)


@dataclass(frozen=True, slots=True)
class _KnownCertificate:
    """One certificate as the fast path uses it, read once from its exact DER."""

    der: bytes
    sha256: bytes
    #: The issuer Name's DER and the serialNumber INTEGER's contents, as a SignerIdentifier has them.
    issuer: bytes
    serial: bytes
    serial_hex: str
    public_key: object
    non_repudiation: bool

    @classmethod
    def read(cls, der: bytes) -> _KnownCertificate | None:
        try:
            crypto = x509.load_der_x509_certificate(der)
            top = _der.element(der, 0, len(der))
            if top[3] != len(der):
                return None
            tbs = _der.children(der, _der.children(der, top, 0x30)[0], 0x30)
            at = 1 if tbs[0][0] == 0xA0 else 0  # [0] EXPLICIT version, absent for v1
            serial, issuer = tbs[at], tbs[at + 2]
            if serial[0] != 0x02 or issuer[0] != 0x30:
                return None
            return cls(
                der=der,
                sha256=hashlib.sha256(der).digest(),
                issuer=der[issuer[1] : issuer[3]],
                serial=der[serial[2] : serial[3]],
                serial_hex=format(crypto.serial_number, "x"),
                public_key=crypto.public_key(),
                non_repudiation=_non_repudiation(crypto),
            )
        except Exception:  # noqa: BLE001 - untrusted bytes: a certificate we cannot read goes the full way
            return None


@dataclass(frozen=True)
class _KnownPath:
    """A validated path, leaf to root, with what the report and the status checks need."""

    crypto: tuple[x509.Certificate, ...]
    subjects: tuple[str, ...]
    #: (notBefore, notAfter) of every certificate but the trust anchor, which certvalidator
    #: does not hold to a validity period either.
    windows: tuple[tuple[datetime, datetime], ...]

    @classmethod
    def of(cls, path: ValidationPath) -> _KnownPath:
        crypto = tuple(_to_crypto(c) for c in _leaf_to_root(path))
        return cls(
            crypto=crypto,
            subjects=tuple(c.subject.rfc4514_string() for c in crypto),
            windows=tuple((c.not_valid_before_utc, c.not_valid_after_utc) for c in crypto[:-1]),
        )

    def valid_at(self, moment: datetime) -> bool:
        return all(start <= moment <= end for start, end in self.windows)


def _path_key(purpose: str, leaf_der: bytes, roots: frozenset[bytes], others: Iterable[bytes]) -> tuple[object, ...]:
    return _path_key_of(purpose, hashlib.sha256(leaf_der).digest(), roots, [hashlib.sha256(der).digest() for der in others])


def _path_key_of(purpose: str, leaf_sha256: bytes, roots: frozenset[bytes], others_sha256: Iterable[bytes]) -> tuple[object, ...]:
    return (purpose, leaf_sha256, roots, frozenset(others_sha256))


def verify_cms(
    signature_der: bytes,
    content: bytes | None,
    *,
    trust_roots: list[x509.Certificate],
    revocation: RevocationSource | None,
    at: datetime | None,
    tsa_trust_roots: list[x509.Certificate] | None = None,
    path_cache: PathCache | None = None,
    intermediates: list[x509.Certificate] | None = None,
) -> SignatureReport:
    """Verify a DER CMS ContentInfo (SignedData, one signer) over ``content``.

    ``content`` is required for a detached signature and optional for an attached one.
    ``tsa_trust_roots`` default to ``trust_roots``. ``path_cache`` enables the fast path for
    signers (and TSAs) seen before. ``intermediates`` are CA certificates the verifier already
    holds (its own issuing CA): a path may use them when the signature does not embed them, as
    openssl's ``cms -sign`` and many signing clients embed the signer's certificate alone. Raises ``InvalidInput`` when the bytes are not such a
    signature or a detached signature comes without content; every other problem is reported
    in the ``SignatureReport`` with ``valid`` false.
    """
    outcome = _fast_or_full(signature_der, content, trust_roots, revocation, at, tsa_trust_roots, path_cache, intermediates)
    # The fast path's report needs no event loop; only the full validation runs on one.
    return outcome if isinstance(outcome, SignatureReport) else run_coroutine(outcome)


async def async_verify_cms(
    signature_der: bytes,
    content: bytes | None,
    *,
    trust_roots: list[x509.Certificate],
    revocation: RevocationSource | None,
    at: datetime | None,
    tsa_trust_roots: list[x509.Certificate] | None = None,
    path_cache: PathCache | None = None,
    intermediates: list[x509.Certificate] | None = None,
) -> SignatureReport:
    """The coroutine behind ``verify_cms``, for callers already in an event loop."""
    outcome = _fast_or_full(signature_der, content, trust_roots, revocation, at, tsa_trust_roots, path_cache, intermediates)
    return outcome if isinstance(outcome, SignatureReport) else await outcome


def _fast_or_full(
    signature_der: bytes,
    content: bytes | None,
    trust_roots: list[x509.Certificate],
    revocation: RevocationSource | None,
    at: datetime | None,
    tsa_trust_roots: list[x509.Certificate] | None,
    path_cache: PathCache | None,
    intermediates: list[x509.Certificate] | None = None,
) -> SignatureReport | Coroutine[Any, Any, SignatureReport]:
    """What ``verify_cms`` and ``async_verify_cms`` share: the fast path's report when it
    decides, else (the bytes parsed, ``InvalidInput`` raised here) the not-yet-started
    coroutine of the full validation, for the caller to run or await."""
    check_time = (at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    if path_cache is not None:
        fast = _fast_verify(
            signature_der, content, trust_roots, tsa_trust_roots or trust_roots, revocation, check_time, path_cache,
            intermediates or [],
        )
        if fast is not None:
            return fast
    signed_data, signer_info = _parse(signature_der)
    return _full_verify(
        signed_data,
        signer_info,
        content,
        trust_roots=trust_roots,
        revocation=revocation,
        check_time=check_time,
        tsa_trust_roots=tsa_trust_roots,
        path_cache=path_cache,
        intermediates=intermediates or [],
    )


async def _full_verify(
    signed_data: cms.SignedData,
    signer_info: cms.SignerInfo,
    content: bytes | None,
    *,
    trust_roots: list[x509.Certificate],
    revocation: RevocationSource | None,
    check_time: datetime,
    tsa_trust_roots: list[x509.Certificate] | None,
    path_cache: PathCache | None,
    intermediates: list[x509.Certificate] = [],  # noqa: B006 - never mutated
) -> SignatureReport:
    """pyHanko's generic CMS validation and certvalidator, remembering accepted paths."""
    roots = [to_asn1_certificate(c) for c in trust_roots]
    tsa_roots = [to_asn1_certificate(c) for c in (tsa_trust_roots or trust_roots)]
    embedded = [c.chosen for c in signed_data["certificates"] if c.name == "certificate"]
    # The signer's path may also go through CA certificates the verifier holds (the cache key
    # names them too, as the fast path looks them up).
    path_others = [*embedded, *(to_asn1_certificate(c) for c in intermediates)]

    encapsulated = signed_data["encap_content_info"]["content"]
    content_mismatch = False
    if isinstance(encapsulated, core.Void) or encapsulated.native is None:
        if content is None:
            raise InvalidInput("a detached signature needs the signed content")
        digest_alg = signer_info["digest_algorithm"]["algorithm"].native
        try:
            hasher = hashes.Hash(_cms_hash(digest_alg))
        except ValueError:
            raise InvalidInput("signature uses an unsupported digest algorithm") from None
        hasher.update(bytes(content))
        raw_digest: bytes | None = hasher.finalize()
    else:
        # pyHanko hashes the encapsulated content itself when raw_digest is None.
        raw_digest = None
        content_mismatch = content is not None and bytes(content) != bytes(encapsulated)

    try:
        timestamp, timestamp_path, token_certs = await _check_timestamp(signer_info, tsa_roots, embedded, check_time)
    except _UNDECODABLE:
        return _structural_failure(signer_info, signed_data, None, check_time, "undecodable signature time-stamp token")
    if timestamp is not None and timestamp.valid and timestamp_path is not None and path_cache is not None:
        tsa_leaf = timestamp_path.leaf
        path_cache.put(
            _path_key("tsa", tsa_leaf.dump(), _roots_key(tsa_trust_roots or trust_roots), [c.dump() for c in [*embedded, *token_certs]]),
            timestamp_path,
        )
    if timestamp is not None and timestamp.valid and revocation is not None and timestamp_path:
        try:
            tsa_certs = [_to_crypto(c) for c in _leaf_to_root(timestamp_path)]
        except _UNDECODABLE:  # pyHanko read a certificate cryptography refuses: its status is unknowable
            tsa_problem: str | None = "undecodable TSA certificate"
        else:
            tsa_problem = _path_revocation(tsa_certs, revocation, timestamp.gen_time, leaf_is_tsa=True)
        if tsa_problem is not None:
            timestamp = TimestampReport(timestamp.gen_time, timestamp.tsa_subject, valid=False)
    judged_at = timestamp.gen_time if timestamp is not None and timestamp.valid else check_time

    try:
        # Inside the try: building the context parses the embedded certificates' names.
        context = _offline_context(roots, path_others, judged_at)
        status: SignatureStatus = await async_validate_cms_signature(
            signed_data,
            raw_digest=raw_digest,
            validation_context=context,
            key_usage_settings=_SIGNER_KEY_USAGE,
        )
    except SignatureValidationError as exc:
        return _structural_failure(signer_info, signed_data, timestamp, judged_at, exc.failure_message)
    except _UNDECODABLE:
        # asn1crypto reports DER it cannot decode deep inside the structure as ValueError;
        # pyHanko an algorithm it does not know (an OID it cannot name) as AttributeError.
        return _structural_failure(signer_info, signed_data, timestamp, judged_at, "undecodable DER")

    signer_cert = status.signing_cert
    path = status.validation_path
    trusted = status.trust_problem_indic is None and path is not None
    intact = bool(status.intact) and not content_mismatch
    signature_ok = bool(status.valid)
    if trusted and path_cache is not None:
        assert path is not None
        path_cache.put(_path_key("signer", signer_cert.dump(), _roots_key(trust_roots), [c.dump() for c in path_others]), path)

    certificate_status: CertificateStatusName = "not-checked"
    revocation_time = revocation_reason = None
    status_problem: str | None = None
    failure: str | None = None
    try:
        certs = [_to_crypto(c) for c in _leaf_to_root(path)] if path is not None else []
        signer_subject = _subject(signer_cert)
    except _UNDECODABLE:  # pyHanko read a certificate that cryptography refuses
        return _structural_failure(signer_info, signed_data, timestamp, judged_at, "undecodable certificate")
    # A signer certificate that is itself a trust root has no issuer to ask about it.
    if revocation is not None and trusted and len(certs) >= 2:
        signer_status = revocation.status(certs[0], certs[1])
        certificate_status = signer_status.status
        revocation_time = signer_status.revoked_at
        revocation_reason = signer_status.reason
        status_problem = _path_revocation(
            certs, revocation, judged_at, leaf_status=signer_status, time_proven=timestamp is not None and timestamp.valid
        )

    if content_mismatch:
        failure = "content differs from the encapsulated content"
    elif not status.intact:
        failure = "content does not match the signed message digest"
    elif not signature_ok:
        failure = "signature value does not verify"
    elif timestamp is not None and not timestamp.valid:
        failure = "signature time-stamp is not valid"
    elif not trusted:
        failure = _trust_failure(status.trust_problem_indic)
    elif status_problem is not None:
        failure = status_problem

    return SignatureReport(
        valid=failure is None,
        intact=intact,
        signature_ok=signature_ok,
        signer_subject=signer_subject,
        signer_serial_hex=format(signer_cert.serial_number, "x"),
        signer_certificate=signer_cert.dump(),
        path=[c.subject.rfc4514_string() for c in certs] if path is not None else [signer_subject],
        trusted=trusted,
        non_repudiation=_has_non_repudiation(signer_cert),
        signed_at=extract_self_reported_ts(signer_info),
        timestamp=timestamp,
        certificate_status=certificate_status,
        revocation_time=revocation_time,
        revocation_reason=revocation_reason,
        judged_at=judged_at,
        failure=failure,
    )


#: What asn1crypto and pyHanko raise for untrusted bytes they cannot make sense of.
_UNDECODABLE = (ValueError, AttributeError, KeyError, IndexError, TypeError, x509.InvalidVersion)

_SIGNER_KEY_USAGE = KeyUsageConstraints(key_usage={"digital_signature", "non_repudiation"}, match_all_key_usages=False)


def _offline_context(roots: Any, others: Any, moment: datetime) -> ValidationContext:
    """A certvalidator context that never fetches: status comes from our own revocation source
    (the VA's pre-signed responses), not from certvalidator's fetchers."""
    return ValidationContext(
        trust_roots=roots, other_certs=others, moment=moment, allow_fetching=False, revocation_mode="soft-fail"
    )


def _roots_key(roots: list[x509.Certificate]) -> frozenset[bytes]:
    return frozenset(c.fingerprint(hashes.SHA256()) for c in roots)


# --- the fast path ------------------------------------------------------------------------------
#
# The signature is taken apart on its DER bytes (``_der.element``), never through asn1crypto
# objects: building those cost ~2 ms per signature, twenty times the two signature checks.
# Every reader below accepts one shape and raises ``DerError`` for anything else, which sends
# the signature to the full path; no reader decides a signature is invalid.


def _oid(dotted: str) -> bytes:
    """The contents octets of an OBJECT IDENTIFIER, as compared byte for byte below."""
    return core.ObjectIdentifier(dotted).contents


_ID_DATA = _oid("1.2.840.113549.1.7.1")
_ID_SIGNED_DATA = _oid("1.2.840.113549.1.7.2")
_ID_CT_TST_INFO = _oid("1.2.840.113549.1.9.16.1.4")
_CONTENT_TYPE = _oid("1.2.840.113549.1.9.3")
_MESSAGE_DIGEST = _oid("1.2.840.113549.1.9.4")
_SIGNING_TIME = _oid("1.2.840.113549.1.9.5")
_SIGNING_CERTIFICATE_V2 = _oid("1.2.840.113549.1.9.16.2.47")
_ALGORITHM_PROTECTION = _oid("1.2.840.113549.1.9.52")
_SIGNATURE_TIME_STAMP_TOKEN = _oid("1.2.840.113549.1.9.16.2.14")
_KNOWN_SIGNED_ATTRIBUTES = frozenset(
    {_CONTENT_TYPE, _MESSAGE_DIGEST, _SIGNING_TIME, _SIGNING_CERTIFICATE_V2, _ALGORITHM_PROTECTION}
)
_NULL = b"\x05\x00"

_HASH_NAMES = {
    _oid("1.3.14.3.2.26"): "sha1",
    _oid("2.16.840.1.101.3.4.2.4"): "sha224",
    _oid("2.16.840.1.101.3.4.2.1"): "sha256",
    _oid("2.16.840.1.101.3.4.2.2"): "sha384",
    _oid("2.16.840.1.101.3.4.2.3"): "sha512",
}
#: Hashes an ESSCertIDv2 may name on the fast path.
_ATTRIBUTE_HASHES = frozenset({"sha256", "sha384", "sha512"})

#: Signature algorithm -> (key kind, digest algorithms it may be paired with): the pairs
#: pyHanko's default algorithm policy allows at any time. PSS and everything else take the
#: full path.
_FAST_MECHANISMS: dict[bytes, tuple[str, frozenset[str]]] = {
    _oid("1.2.840.113549.1.1.1"): ("rsa", frozenset({"sha256", "sha384", "sha512"})),  # rsaEncryption
    _oid("1.2.840.113549.1.1.11"): ("rsa", frozenset({"sha256"})),
    _oid("1.2.840.113549.1.1.12"): ("rsa", frozenset({"sha384"})),
    _oid("1.2.840.113549.1.1.13"): ("rsa", frozenset({"sha512"})),
    _oid("1.2.840.10045.4.3.2"): ("ecdsa", frozenset({"sha256"})),
    _oid("1.2.840.10045.4.3.3"): ("ecdsa", frozenset({"sha384"})),
    _oid("1.2.840.10045.4.3.4"): ("ecdsa", frozenset({"sha512"})),
}
_FAST_CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})

#: An AlgorithmIdentifier as compared here: (OID contents, parameters DER with NULL as absent).
_AlgorithmId = tuple[bytes, bytes]


@dataclass(frozen=True, slots=True)
class _SignedParts:
    """What the fast path reads from a SignedData with one SignerInfo, as offsets into the DER."""

    content_type: bytes
    #: The encapsulated content's octets; ``None`` for a detached signature.
    content: bytes | None
    #: Each embedded certificate's DER, in order.
    certificates: tuple[bytes, ...]
    sid_issuer: bytes
    sid_serial: bytes
    digest_algorithm: str
    digest_algorithm_id: _AlgorithmId
    signature_algorithm_id: _AlgorithmId
    #: The signed attributes as the signature covers them: the received contents under a
    #: SET OF tag instead of [0] (RFC 5652 §5.4).
    signed_message: bytes
    #: Signed attribute type -> its single value (an element of the signature's DER).
    attributes: dict[bytes, _der.Element]
    signature: bytes
    #: (type, values) of each unsigned attribute; ``None`` when there are none.
    unsigned: tuple[tuple[bytes, tuple[_der.Element, ...]], ...] | None



def _algorithm_id(data: bytes, item: _der.Element, tag: int = 0x30) -> _AlgorithmId:
    parts = _der.children(data, item, tag)
    if not 1 <= len(parts) <= 2 or parts[0][0] != 0x06:
        raise _der.DerError("not an AlgorithmIdentifier")
    parameters = data[parts[1][1] : parts[1][3]] if len(parts) == 2 else b""
    return data[parts[0][2] : parts[0][3]], b"" if parameters == _NULL else parameters


def _attribute(data: bytes, item: _der.Element) -> tuple[bytes, tuple[_der.Element, ...]]:
    parts = _der.children(data, item, 0x30)
    if len(parts) != 2 or parts[0][0] != 0x06:
        raise _der.DerError("not an Attribute")
    return data[parts[0][2] : parts[0][3]], tuple(_der.children(data, parts[1], 0x31))


def _signed_parts(data: bytes, content_info: _der.Element) -> _SignedParts:
    """A ContentInfo holding SignedData (RFC 5652 §5.1) with one SignerInfo and signed attributes."""
    outer = _der.children(data, content_info, 0x30)
    if len(outer) != 2 or outer[0][0] != 0x06 or data[outer[0][2] : outer[0][3]] != _ID_SIGNED_DATA:
        raise _der.DerError("not SignedData")
    wrapped = _der.children(data, outer[1], 0xA0)
    if len(wrapped) != 1:
        raise _der.DerError("not SignedData")
    # version, digestAlgorithms, encapContentInfo, [0] certificates, signerInfos (no [1] crls)
    fields = _der.children(data, wrapped[0], 0x30)
    if len(fields) not in (4, 5) or fields[0][0] != 0x02:
        raise _der.DerError("unexpected SignedData shape")
    version = data[fields[0][2] : fields[0][3]]
    for algorithm in _der.children(data, fields[1], 0x31):
        _algorithm_id(data, algorithm)
    certificates: tuple[bytes, ...] = ()
    if len(fields) == 5:
        choices = _der.children(data, fields[3], 0xA0)
        if any(c[0] != 0x30 for c in choices):  # attribute certificates and other choices
            raise _der.DerError("not a plain certificate")
        certificates = tuple(data[c[1] : c[3]] for c in choices)
    encapsulated = _der.children(data, fields[2], 0x30)
    if not 1 <= len(encapsulated) <= 2 or encapsulated[0][0] != 0x06:
        raise _der.DerError("not an EncapsulatedContentInfo")
    content_type = data[encapsulated[0][2] : encapsulated[0][3]]
    # asn1crypto reads eContent as PKCS#7 content when the version is 1 (which only id-data
    # may use, RFC 5652 §5.1) and as CMS otherwise; anything else might read differently there.
    if version not in ((b"\x01", b"\x03") if content_type == _ID_DATA else (b"\x03",)):
        raise _der.DerError("unexpected SignedData version")
    content = None
    if len(encapsulated) == 2:
        octets = _der.children(data, encapsulated[1], 0xA0)
        if len(octets) != 1 or octets[0][0] != 0x04:
            raise _der.DerError("eContent is not one OCTET STRING")
        content = data[octets[0][2] : octets[0][3]]
    signers = _der.children(data, fields[-1], 0x31)
    if len(signers) != 1:
        raise _der.DerError("not exactly one SignerInfo")
    # version, sid, digestAlgorithm, [0] signedAttrs, signatureAlgorithm, signature, [1] unsignedAttrs
    info = _der.children(data, signers[0], 0x30)
    if len(info) not in (6, 7) or data[info[0][1] : info[0][3]] != b"\x02\x01\x01" or info[5][0] != 0x04:
        raise _der.DerError("unexpected SignerInfo shape")  # version 1: issuerAndSerialNumber
    sid = _der.children(data, info[1], 0x30)  # issuerAndSerialNumber; subjectKeyIdentifier is [0]
    if len(sid) != 2 or sid[0][0] != 0x30 or sid[1][0] != 0x02:
        raise _der.DerError("not an IssuerAndSerialNumber")
    digest_algorithm_id = _algorithm_id(data, info[2])
    digest_algorithm = _HASH_NAMES.get(digest_algorithm_id[0])
    if digest_algorithm is None or digest_algorithm_id[1]:
        raise _der.DerError("unknown digest algorithm")
    signed_attrs = info[3]
    attributes: dict[bytes, _der.Element] = {}
    for item in _der.children(data, signed_attrs, 0xA0):
        kind, values = _attribute(data, item)
        if kind in attributes or len(values) != 1:
            raise _der.DerError("repeated or multi-valued signed attribute")
        attributes[kind] = values[0]
    unsigned = None
    if len(info) == 7:
        unsigned = tuple(_attribute(data, item) for item in _der.children(data, info[6], 0xA1))
    return _SignedParts(
        content_type=content_type,
        content=content,
        certificates=certificates,
        sid_issuer=data[sid[0][1] : sid[0][3]],
        sid_serial=data[sid[1][2] : sid[1][3]],
        digest_algorithm=digest_algorithm,
        digest_algorithm_id=digest_algorithm_id,
        signature_algorithm_id=_algorithm_id(data, info[4]),
        # Same length, so the header differs only in its tag octet.
        signed_message=b"\x31" + data[signed_attrs[1] + 1 : signed_attrs[3]],
        attributes=attributes,
        signature=data[info[5][2] : info[5][3]],
        unsigned=unsigned,
    )


def _fast_integrity(
    data: bytes, signed: _SignedParts, digest: bytes, cache: PathCache
) -> tuple[_KnownCertificate, list[_KnownCertificate]] | None:
    """(signer's certificate, all embedded ones) when a signature passes every integrity check, else ``None``.

    The checks are pyHanko's ``validate_sig_integrity`` and signer selection, on the DER bytes
    (pyHanko compares names through asn1crypto normalisation, which costs milliseconds): the
    signer identifier equals an embedded certificate's issuer and serial byte for byte, every
    signed attribute is known and single-valued, contentType equals the encapsulated type,
    messageDigest equals ``digest``, signingCertificateV2 names this certificate,
    CMSAlgorithmProtection repeats the SignerInfo's algorithms, and the signature verifies.
    Anything else (including names that match only after normalisation) returns ``None``.
    """
    kind, digests = _FAST_MECHANISMS.get(signed.signature_algorithm_id[0], ("", frozenset()))
    if signed.digest_algorithm not in digests or signed.signature_algorithm_id[1]:
        return None
    signer = None
    embedded = []
    for der in signed.certificates:
        known = cache.certificate(der)
        if known is None:
            return None
        embedded.append(known)
        if signer is None and known.serial == signed.sid_serial and known.issuer == signed.sid_issuer:
            signer = known
    if signer is None:
        return None
    attributes = signed.attributes
    if not attributes.keys() <= _KNOWN_SIGNED_ATTRIBUTES:
        return None
    content_type, message_digest = attributes.get(_CONTENT_TYPE), attributes.get(_MESSAGE_DIGEST)
    if content_type is None or message_digest is None:
        return None
    if content_type[0] != 0x06 or data[content_type[2] : content_type[3]] != signed.content_type:
        return None
    if message_digest[0] != 0x04 or data[message_digest[2] : message_digest[3]] != digest:
        return None
    if _SIGNING_TIME in attributes:
        _time(data, attributes[_SIGNING_TIME])  # pyHanko reads it; a value it cannot read goes the full way
    certificate_id = attributes.get(_SIGNING_CERTIFICATE_V2)
    if certificate_id is not None and not _names_certificate(data, certificate_id, signer):
        return None
    protection = attributes.get(_ALGORITHM_PROTECTION)
    if protection is not None and not _protects_algorithms(data, protection, signed):
        return None
    key = signer.public_key
    hash_algorithm = _cms_hash(signed.digest_algorithm)
    try:
        if kind == "rsa" and isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048:
            key.verify(signed.signature, signed.signed_message, padding.PKCS1v15(), hash_algorithm)
        elif kind == "ecdsa" and isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in _FAST_CURVES:
            key.verify(signed.signature, signed.signed_message, ec.ECDSA(hash_algorithm))
        else:
            return None
    except InvalidSignature:
        return None
    return signer, embedded


def _names_certificate(data: bytes, value: _der.Element, cert: _KnownCertificate) -> bool:
    """RFC 5035 signingCertificateV2: its first ESSCertIDv2 is this certificate (hash, issuer/serial)."""
    parts = _der.children(data, value, 0x30)  # certs, policies (pyHanko does not read them either)
    if not 1 <= len(parts) <= 2:
        raise _der.DerError("not a SigningCertificateV2")
    first = _der.children(data, _der.children(data, parts[0], 0x30)[0], 0x30)
    hash_name = "sha256"  # hashAlgorithm DEFAULT id-sha256
    if first and first[0][0] == 0x30:
        algorithm = _algorithm_id(data, first[0])
        hash_name = _HASH_NAMES.get(algorithm[0], "")
        if algorithm[1]:
            raise _der.DerError("hash parameters")
        first = first[1:]
    if not 1 <= len(first) <= 2 or first[0][0] != 0x04 or hash_name not in _ATTRIBUTE_HASHES:
        raise _der.DerError("not an ESSCertIDv2")
    expected = cert.sha256 if hash_name == "sha256" else _digest(hash_name, cert.der)
    if data[first[0][2] : first[0][3]] != expected:
        return False
    if len(first) == 1:
        return True
    issuer_serial = _der.children(data, first[1], 0x30)
    if len(issuer_serial) != 2 or issuer_serial[1][0] != 0x02:
        raise _der.DerError("not an IssuerSerial")
    names = _der.children(data, issuer_serial[0], 0x30)
    if len(names) != 1 or names[0][0] != 0xA4:  # one directoryName, [4] EXPLICIT Name
        return False
    name = _der.children(data, names[0], 0xA4)
    return (
        len(name) == 1
        and data[name[0][1] : name[0][3]] == cert.issuer
        and data[issuer_serial[1][2] : issuer_serial[1][3]] == cert.serial
    )


def _protects_algorithms(data: bytes, value: _der.Element, signed: _SignedParts) -> bool:
    """RFC 6211 CMSAlgorithmProtection repeats the SignerInfo's digest and signature algorithms."""
    parts = _der.children(data, value, 0x30)
    # digestAlgorithm, signatureAlgorithm [1] IMPLICIT; a macAlgorithm [2] has no place here.
    if len(parts) != 2 or parts[1][0] != 0xA1:
        raise _der.DerError("unexpected CMSAlgorithmProtection shape")
    return (
        _algorithm_id(data, parts[0]) == signed.digest_algorithm_id
        and _algorithm_id(data, parts[1], 0xA1) == signed.signature_algorithm_id
    )


def _time(data: bytes, item: _der.Element) -> datetime:
    """A DER UTCTime or GeneralizedTime (Zulu, as DER requires), read as asn1crypto reads it."""
    tag, _, start, end = item
    text = data[start:end]
    if tag == 0x17 and len(text) == 13 and text[:12].isdigit() and text[12:] == b"Z":
        year = int(text[:2])
        year += 1900 if year >= 50 else 2000
        rest = text[2:12]
        fraction = b""
    elif tag == 0x18 and len(text) >= 15 and text[:14].isdigit() and text[-1:] == b"Z":
        year = int(text[:4])
        rest = text[4:14]
        fraction = text[14:-1]
        # DER: a fraction has digits and no trailing zero; more than microseconds goes the full way.
        if fraction and (
            fraction[:1] != b"." or not 2 <= len(fraction) <= 7 or not fraction[1:].isdigit() or fraction[-1:] == b"0"
        ):
            raise _der.DerError("unsupported fractional seconds")
    else:
        raise _der.DerError("not a DER time")
    microsecond = int(fraction[1:].ljust(6, b"0")) if fraction else 0
    return datetime(
        year, int(rest[0:2]), int(rest[2:4]), int(rest[4:6]), int(rest[6:8]), int(rest[8:10]), microsecond,
        tzinfo=timezone.utc,
    )


def _tst_info(encoded: bytes) -> tuple[str, bytes, datetime]:
    """(imprint hash, hashed message, genTime) of a DER TSTInfo (RFC 3161 §2.4.2)."""
    top = _der.element(encoded, 0, len(encoded))
    if top[3] != len(encoded):
        raise _der.DerError("trailing bytes after TSTInfo")
    fields = _der.children(encoded, top, 0x30)
    # version, policy, messageImprint, serialNumber, genTime, then in this order and each at
    # most once: accuracy, ordering, nonce, tsa [0], extensions [1].
    if [f[0] for f in fields[:5]] != [0x02, 0x06, 0x30, 0x02, 0x18]:
        raise _der.DerError("unexpected TSTInfo shape")
    optional = [f[0] for f in fields[5:]]
    if optional != [tag for tag in (0x30, 0x01, 0x02, 0xA0, 0xA1) if tag in optional]:
        raise _der.DerError("unexpected TSTInfo shape")
    imprint = _der.children(encoded, fields[2], 0x30)
    if len(imprint) != 2 or imprint[1][0] != 0x04:
        raise _der.DerError("not a MessageImprint")
    algorithm = _algorithm_id(encoded, imprint[0])
    hash_name = _HASH_NAMES.get(algorithm[0])
    if hash_name is None or algorithm[1]:
        raise _der.DerError("unknown imprint hash")
    return hash_name, encoded[imprint[1][2] : imprint[1][3]], _time(encoded, fields[4])


def _fast_timestamp(
    data: bytes,
    signed: _SignedParts,
    embedded: list[_KnownCertificate],
    tsa_roots: frozenset[bytes],
    revocation: RevocationSource | None,
    check_time: datetime,
    cache: PathCache,
) -> TimestampReport | None | bool:
    """The valid signature time-stamp's report, ``None`` without one, ``False`` to go the full way."""
    if signed.unsigned is None:
        return None
    try:
        if any(kind != _SIGNATURE_TIME_STAMP_TOKEN for kind, _ in signed.unsigned):
            return False
        tokens = [value for _, values in signed.unsigned for value in values]
        if len(tokens) != 1:
            return False
        token = _signed_parts(data, tokens[0])
        if token.content_type != _ID_CT_TST_INFO or token.content is None:
            return False
        imprint_hash, imprint, gen_time = _tst_info(token.content)
        if _digest(imprint_hash, signed.signature) != imprint:
            return False
        checked = _fast_integrity(data, token, _digest(token.digest_algorithm, token.content), cache)
        if checked is None:
            return False
        tsa, token_certificates = checked
        others = [c.sha256 for c in (*embedded, *token_certificates)]
        path = cache.get(_path_key_of("tsa", tsa.sha256, tsa_roots, others))
    except (ValueError, KeyError, IndexError):
        return False
    # The TSA's path is judged at the check time (see the module docstring).
    if path is None or not path.valid_at(check_time):
        return False
    if revocation is not None and _path_revocation(list(path.crypto), revocation, gen_time, leaf_is_tsa=True) is not None:
        return False
    return TimestampReport(gen_time=gen_time, tsa_subject=path.subjects[0], valid=True)


def _fast_verify(
    signature_der: bytes,
    content: bytes | None,
    trust_roots: list[x509.Certificate],
    tsa_trust_roots: list[x509.Certificate],
    revocation: RevocationSource | None,
    check_time: datetime,
    cache: PathCache,
    intermediates: list[x509.Certificate] = [],  # noqa: B006 - never mutated
) -> SignatureReport | None:
    """The report for a signature the fast path fully accepts as intact and trusted, else ``None``.

    Status outcomes (revoked before or after the signing moment, unknown) are reported here as
    the full path reports them; every other failure is left to the full path to describe.
    """
    data = bytes(signature_der)
    try:
        top = _der.element(data, 0, len(data))
        if top[3] != len(data):
            return None
        signed = _signed_parts(data, top)
        if signed.content_type != _ID_DATA:
            return None
        if signed.content is None:
            if content is None:
                return None  # the full path raises the InvalidInput
            digest = _digest(signed.digest_algorithm, bytes(content))
        else:
            if content is not None and bytes(content) != signed.content:
                return None
            digest = _digest(signed.digest_algorithm, signed.content)
        checked = _fast_integrity(data, signed, digest, cache)
        if checked is None:
            return None
        signer, embedded = checked
        signing_time = signed.attributes.get(_SIGNING_TIME)
        signed_at = _time(data, signing_time) if signing_time is not None else None
    except (ValueError, KeyError, IndexError):
        return None
    timestamp = _fast_timestamp(data, signed, embedded, cache.roots_key(tsa_trust_roots), revocation, check_time, cache)
    if timestamp is False:
        return None
    assert timestamp is None or isinstance(timestamp, TimestampReport)
    judged_at = timestamp.gen_time if timestamp is not None else check_time
    others = [c.sha256 for c in embedded]
    if intermediates:
        others.extend(cache.roots_key(intermediates))
    known = cache.get(_path_key_of("signer", signer.sha256, cache.roots_key(trust_roots), others))
    if known is None or not known.valid_at(judged_at):
        return None

    certificate_status: CertificateStatusName = "not-checked"
    revocation_time = revocation_reason = None
    failure: str | None = None
    certs = list(known.crypto)
    if revocation is not None and len(certs) >= 2:
        signer_status = revocation.status(certs[0], certs[1])
        certificate_status = signer_status.status
        revocation_time = signer_status.revoked_at
        revocation_reason = signer_status.reason
        failure = _path_revocation(certs, revocation, judged_at, leaf_status=signer_status, time_proven=timestamp is not None)
    return SignatureReport(
        valid=failure is None,
        intact=True,
        signature_ok=True,
        signer_subject=known.subjects[0],
        signer_serial_hex=signer.serial_hex,
        signer_certificate=signer.der,
        path=list(known.subjects),
        trusted=True,
        non_repudiation=signer.non_repudiation,
        signed_at=signed_at,
        timestamp=timestamp,
        certificate_status=certificate_status,
        revocation_time=revocation_time,
        revocation_reason=revocation_reason,
        judged_at=judged_at,
        failure=failure,
    )


def _non_repudiation(certificate: x509.Certificate) -> bool:
    """Whether the certificate's keyUsage asserts nonRepudiation (contentCommitment)."""
    try:
        return certificate.extensions.get_extension_for_class(x509.KeyUsage).value.content_commitment
    except x509.ExtensionNotFound:
        return False


def _parse(signature_der: bytes) -> tuple[cms.SignedData, cms.SignerInfo]:
    try:
        content_info = cms.ContentInfo.load(bytes(signature_der), strict=True)
        if content_info["content_type"].native != "signed_data":
            raise ValueError("not SignedData")
        signed_data = content_info["content"]
        signer_info = extract_signer_info(signed_data)
        # asn1crypto parses lazily: touch the parts read below so bad inner DER fails here.
        # (Not .native on the whole SignedData: with a nested time-stamp token that re-encodes
        # the structure over and over and takes seconds.)
        for cert in signed_data["certificates"]:
            cert.chosen.dump()
        # A copy, so the signed attributes the signature covers keep their received bytes.
        _parse_all(signer_info["signed_attrs"].copy())
        _parse_all(signer_info["sid"])
        _parse_all(signer_info["digest_algorithm"])
        encapsulated = signed_data["encap_content_info"]["content"]
        if not isinstance(encapsulated, core.Void):
            encapsulated.native
    except InvalidInput:
        raise
    except Exception as exc:  # untrusted bytes: any parse failure means "not a signature"
        raise InvalidInput("not a DER CMS SignedData with exactly one signer") from exc
    return signed_data, signer_info


def _parse_all(value: core.Asn1Value) -> None:
    """Decode every nested value (``.native`` does too, but converting names costs ~2 ms)."""
    if isinstance(value, core.Void):
        return
    if isinstance(value, core.Choice):
        _parse_all(value.chosen)
    elif isinstance(value, core.Sequence):
        for name, *_ in value._fields:
            _parse_all(value[name])
    elif isinstance(value, core.SequenceOf):
        for child in value:
            _parse_all(child)
    elif isinstance(value, core.Any):
        _parse_all(value.parsed)
    elif not isinstance(value, core.ParsableOctetString):
        value.native


async def _check_timestamp(
    signer_info: cms.SignerInfo,
    tsa_roots: list[asn1_x509.Certificate],
    embedded: list[asn1_x509.Certificate],
    check_time: datetime,
) -> tuple[TimestampReport | None, ValidationPath | None, list[asn1_x509.Certificate]]:
    unsigned = signer_info["unsigned_attrs"]
    tokens = (
        [a["values"][0]["content"] for a in unsigned if a["type"].native == "signature_time_stamp_token"]
        if not isinstance(unsigned, core.Void)
        else []
    )
    if not tokens:
        return None, None, []
    signature_value = signer_info["signature"].native
    report: TimestampReport | None = None
    for token in tokens:
        try:
            context = _offline_context(tsa_roots, embedded, check_time)
            kwargs = await validate_tst_signed_data(
                token, context, lambda alg: _digest(alg, signature_value)
            )
        except (SignatureValidationError, *_UNDECODABLE):
            continue
        ts_status = TimestampSignatureStatus(**kwargs)
        report = TimestampReport(
            gen_time=ts_status.timestamp.astimezone(timezone.utc),
            tsa_subject=_subject(ts_status.signing_cert),
            valid=ts_status.trusted,
        )
        if report.valid:
            token_certs = [c.chosen for c in token["certificates"] if c.name == "certificate"]
            return report, ts_status.validation_path, token_certs
    if report is None:
        tst_info = tokens[0]["encap_content_info"]["content"].parsed
        report = TimestampReport(tst_info["gen_time"].native, "", valid=False)
    return report, None, []


def _path_revocation(
    certs: list[x509.Certificate],
    revocation: RevocationSource,
    moment: datetime,
    *,
    leaf_status: CertificateStatus | None = None,
    leaf_is_tsa: bool = False,
    time_proven: bool = True,
) -> str | None:
    """Ask the revocation source about every non-root certificate; the first problem wins.

    A certificate revoked at or before ``moment`` fails the path. ``time_proven`` says whether
    ``moment`` is a trusted time-stamp's time; otherwise it is the time of the check, and the
    failure says that nothing proves the signature came before the revocation. For a TSA
    certificate (RFC 3161 §4) a later revocation also voids its tokens when the reason is a key
    or CA compromise, since then nobody knows who else signed with that key.
    """
    for index, (cert, issuer) in enumerate(zip(certs, certs[1:])):
        is_leaf = index == 0
        status = leaf_status if is_leaf and leaf_status is not None else revocation.status(cert, issuer)
        whose = "signer certificate" if is_leaf else "CA certificate"
        if status.status == "unknown":
            return f"{whose} status is unknown"
        if status.status == "revoked":
            if status.revoked_at is None or status.revoked_at <= moment:
                if not time_proven:
                    return f"{whose} is revoked, and no time-stamp proves the signature was made before the revocation"
                return f"{whose} was revoked before the signing time"
            if is_leaf and leaf_is_tsa and status.reason in _COMPROMISE_REASONS:
                return "TSA key was compromised"
    return None


_COMPROMISE_REASONS = frozenset({"key_compromise", "ca_compromise"})


def _leaf_to_root(path: ValidationPath) -> list[asn1_x509.Certificate]:
    return list(reversed(list(path.iter_certs(include_root=True))))


def _trust_failure(indication: AdESIndeterminate | None) -> str:
    reasons = {
        AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND: "no certificate path to a trust root",
        AdESIndeterminate.OUT_OF_BOUNDS_NO_POE: "signer certificate was not within its validity period at the signing time",
        AdESIndeterminate.CHAIN_CONSTRAINTS_FAILURE: "a certificate on the path does not allow this use",
    }
    if indication is None:
        return "no certificate path to a trust root"
    return reasons.get(indication, f"certificate path is not valid ({indication.name.lower()})")


def _structural_failure(
    signer_info: cms.SignerInfo,
    signed_data: cms.SignedData,
    timestamp: TimestampReport | None,
    judged_at: datetime,
    message: str,
) -> SignatureReport:
    sid = signer_info["sid"]
    try:
        signer_cert = next(
            (
                c.chosen
                for c in signed_data["certificates"]
                if c.name == "certificate"
                and sid.name == "issuer_and_serial_number"
                and c.chosen.issuer == sid.chosen["issuer"]
                and c.chosen.serial_number == sid.chosen["serial_number"].native
            ),
            None,
        )
        subject = _subject(signer_cert) if signer_cert is not None else ""
        non_repudiation = _has_non_repudiation(signer_cert) if signer_cert is not None else False
    except _UNDECODABLE:  # the names, or the certificate itself, do not decode
        signer_cert, subject, non_repudiation = None, "", False
    try:
        signed_at = extract_self_reported_ts(signer_info)
    except ValueError:
        signed_at = None
    return SignatureReport(
        valid=False,
        intact=False,
        signature_ok=False,
        signer_subject=subject,
        signer_serial_hex=format(signer_cert.serial_number, "x") if signer_cert is not None else "",
        signer_certificate=signer_cert.dump() if signer_cert is not None else b"",
        path=[subject] if signer_cert is not None else [],
        trusted=False,
        non_repudiation=non_repudiation,
        signed_at=signed_at,
        timestamp=timestamp,
        certificate_status="not-checked",
        revocation_time=None,
        revocation_reason=None,
        judged_at=judged_at,
        failure=f"malformed signature: {message}",
    )


_CMS_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def _cms_hash(name: str) -> hashes.HashAlgorithm:
    try:
        return _CMS_HASHES[name]()
    except KeyError:
        raise ValueError(f"unsupported digest algorithm {name!r}") from None


def _digest(name: str, data: bytes) -> bytes:
    hasher = hashes.Hash(_cms_hash(name))
    hasher.update(data)
    return hasher.finalize()


def _to_crypto(cert: asn1_x509.Certificate) -> x509.Certificate:
    return x509.load_der_x509_certificate(cert.dump())


def _subject(cert: asn1_x509.Certificate) -> str:
    return _to_crypto(cert).subject.rfc4514_string()


def _has_non_repudiation(cert: asn1_x509.Certificate) -> bool:
    usage = cert.key_usage_value
    return usage is not None and "non_repudiation" in usage.native


__all__ = [
    "CertificateStatus",
    "PathCache",
    "RevocationSource",
    "SignatureReport",
    "TimestampReport",
    "async_verify_cms",
    "verify_cms",
]
