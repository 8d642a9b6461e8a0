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
fast path with the same result: pyHanko's own integrity checks (``validate_sig_integrity``:
content type, message digest, ESS signing certificate, algorithm protection, the signature
value) on the parsed CMS, the remembered path with every certificate's validity window checked
at this call's moment, and status asked of the ``RevocationSource`` on every call. Anything the
fast path does not positively accept (a failed check, an unremembered path, PSS, another
algorithm or unknown attributes) goes through the full pyHanko validation, which decides.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Literal, Protocol

from asn1crypto import cms, core, tsp
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
    path checks again at every call's moment. Revocation is never cached. Thread-safe; when it
    holds ``max_entries`` paths it starts over.
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        self._max_entries = max_entries
        self._paths: dict[tuple[object, ...], _KnownPath] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[object, ...]) -> _KnownPath | None:
        return self._paths.get(key)

    def put(self, key: tuple[object, ...], path: ValidationPath) -> None:
        known = _KnownPath.of(path)
        with self._lock:
            if len(self._paths) >= self._max_entries:
                self._paths.clear()
            self._paths[key] = known

    def __len__(self) -> int:
        return len(self._paths)


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


def _fingerprints(certs: Iterable[bytes]) -> frozenset[bytes]:
    return frozenset(hashlib.sha256(der).digest() for der in certs)


def _path_key(purpose: str, leaf_der: bytes, roots: frozenset[bytes], others: Iterable[bytes]) -> tuple[object, ...]:
    return (purpose, hashlib.sha256(leaf_der).digest(), roots, _fingerprints(others))


def verify_cms(
    signature_der: bytes,
    content: bytes | None,
    *,
    trust_roots: list[x509.Certificate],
    revocation: RevocationSource | None,
    at: datetime | None,
    tsa_trust_roots: list[x509.Certificate] | None = None,
    path_cache: PathCache | None = None,
) -> SignatureReport:
    """Verify a DER CMS ContentInfo (SignedData, one signer) over ``content``.

    ``content`` is required for a detached signature and optional for an attached one.
    ``tsa_trust_roots`` default to ``trust_roots``. ``path_cache`` enables the fast path for
    signers (and TSAs) seen before. Raises ``InvalidInput`` when the bytes are not such a
    signature or a detached signature comes without content; every other problem is reported
    in the ``SignatureReport`` with ``valid`` false.
    """
    signed_data, signer_info = _parse(signature_der)
    check_time = (at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    if path_cache is not None:
        fast = _fast_verify(
            signed_data, signer_info, content, trust_roots, tsa_trust_roots or trust_roots, revocation, check_time, path_cache
        )
        if fast is not None:
            return fast
    return run_coroutine(
        _full_verify(
            signed_data,
            signer_info,
            content,
            trust_roots=trust_roots,
            revocation=revocation,
            check_time=check_time,
            tsa_trust_roots=tsa_trust_roots,
            path_cache=path_cache,
        )
    )


async def async_verify_cms(
    signature_der: bytes,
    content: bytes | None,
    *,
    trust_roots: list[x509.Certificate],
    revocation: RevocationSource | None,
    at: datetime | None,
    tsa_trust_roots: list[x509.Certificate] | None = None,
    path_cache: PathCache | None = None,
) -> SignatureReport:
    """The coroutine behind ``verify_cms``, for callers already in an event loop."""
    signed_data, signer_info = _parse(signature_der)
    check_time = (at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    if path_cache is not None:
        fast = _fast_verify(
            signed_data, signer_info, content, trust_roots, tsa_trust_roots or trust_roots, revocation, check_time, path_cache
        )
        if fast is not None:
            return fast
    return await _full_verify(
        signed_data,
        signer_info,
        content,
        trust_roots=trust_roots,
        revocation=revocation,
        check_time=check_time,
        tsa_trust_roots=tsa_trust_roots,
        path_cache=path_cache,
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
) -> SignatureReport:
    """pyHanko's generic CMS validation and certvalidator, remembering accepted paths."""
    roots = [to_asn1_certificate(c) for c in trust_roots]
    tsa_roots = [to_asn1_certificate(c) for c in (tsa_trust_roots or trust_roots)]
    embedded = [c.chosen for c in signed_data["certificates"] if c.name == "certificate"]

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

    timestamp, timestamp_path, token_certs = await _check_timestamp(signer_info, tsa_roots, embedded, check_time)
    if timestamp is not None and timestamp.valid and timestamp_path is not None and path_cache is not None:
        tsa_leaf = timestamp_path.leaf
        path_cache.put(
            _path_key("tsa", tsa_leaf.dump(), _roots_key(tsa_trust_roots or trust_roots), [c.dump() for c in [*embedded, *token_certs]]),
            timestamp_path,
        )
    if timestamp is not None and timestamp.valid and revocation is not None and timestamp_path:
        tsa_problem = _path_revocation(
            [_to_crypto(c) for c in _leaf_to_root(timestamp_path)], revocation, timestamp.gen_time, leaf_is_tsa=True
        )
        if tsa_problem is not None:
            timestamp = TimestampReport(timestamp.gen_time, timestamp.tsa_subject, valid=False)
    judged_at = timestamp.gen_time if timestamp is not None and timestamp.valid else check_time

    context = ValidationContext(
        trust_roots=roots,
        other_certs=embedded,
        moment=judged_at,
        allow_fetching=False,
        # Status comes from our RevocationSource below, not from certvalidator's fetchers.
        revocation_mode="soft-fail",
    )
    try:
        status: SignatureStatus = await async_validate_cms_signature(
            signed_data,
            raw_digest=raw_digest,
            validation_context=context,
            key_usage_settings=_SIGNER_KEY_USAGE,
        )
    except SignatureValidationError as exc:
        return _structural_failure(signer_info, signed_data, timestamp, judged_at, exc.failure_message)
    except ValueError:
        # asn1crypto reports DER it cannot decode deep inside the structure as ValueError.
        return _structural_failure(signer_info, signed_data, timestamp, judged_at, "undecodable DER")

    signer_cert = status.signing_cert
    path = status.validation_path
    trusted = status.trust_problem_indic is None and path is not None
    intact = bool(status.intact) and not content_mismatch
    signature_ok = bool(status.valid)
    if trusted and path_cache is not None:
        assert path is not None
        path_cache.put(_path_key("signer", signer_cert.dump(), _roots_key(trust_roots), [c.dump() for c in embedded]), path)

    certificate_status: CertificateStatusName = "not-checked"
    revocation_time = revocation_reason = None
    status_problem: str | None = None
    failure: str | None = None
    certs = [_to_crypto(c) for c in _leaf_to_root(path)] if path is not None else []
    # A signer certificate that is itself a trust root has no issuer to ask about it.
    if revocation is not None and trusted and len(certs) >= 2:
        signer_status = revocation.status(certs[0], certs[1])
        certificate_status = signer_status.status
        revocation_time = signer_status.revoked_at
        revocation_reason = signer_status.reason
        status_problem = _path_revocation(certs, revocation, judged_at, leaf_status=signer_status)

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
        signer_subject=_subject(signer_cert),
        signer_serial_hex=format(signer_cert.serial_number, "x"),
        signer_certificate=signer_cert.dump(),
        path=[_subject(c) for c in _leaf_to_root(path)] if path is not None else [_subject(signer_cert)],
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


_SIGNER_KEY_USAGE = KeyUsageConstraints(key_usage={"digital_signature", "non_repudiation"}, match_all_key_usages=False)


def _roots_key(roots: list[x509.Certificate]) -> frozenset[bytes]:
    return frozenset(c.fingerprint(hashes.SHA256()) for c in roots)


# --- the fast path ------------------------------------------------------------------------------

#: (signature algorithm, digest algorithm) pairs pyHanko's default algorithm policy allows at any
#: time; PSS and everything else takes the full path.
_FAST_MECHANISMS = {
    ("sha256_rsa", "sha256"), ("sha384_rsa", "sha384"), ("sha512_rsa", "sha512"),
    ("rsassa_pkcs1v15", "sha256"), ("rsassa_pkcs1v15", "sha384"), ("rsassa_pkcs1v15", "sha512"),
    ("sha256_ecdsa", "sha256"), ("sha384_ecdsa", "sha384"), ("sha512_ecdsa", "sha512"),
}


_CONTENT_TYPE, _MESSAGE_DIGEST, _SIGNING_TIME = "1.2.840.113549.1.9.3", "1.2.840.113549.1.9.4", "1.2.840.113549.1.9.5"
_SIGNING_CERTIFICATE_V2, _ALGORITHM_PROTECTION = "1.2.840.113549.1.9.16.2.47", "1.2.840.113549.1.9.52"
_ATTRIBUTE_HASHES = {"sha256", "sha384", "sha512"}


def _fast_integrity(
    signed_data: cms.SignedData, signer_info: cms.SignerInfo, digest: bytes | None
) -> tuple[asn1_x509.Certificate, x509.Certificate] | None:
    """The signer certificate when a plain signature passes every integrity check, else ``None``.

    The checks are pyHanko's ``validate_sig_integrity`` and signer selection, on the DER bytes
    (pyHanko compares names through asn1crypto normalisation, which cost milliseconds): the
    signer identifier equals an embedded certificate's issuer and serial byte for byte, every
    signed attribute is known and single-valued, contentType equals the encapsulated type,
    messageDigest the content digest, signingCertificateV2 names this certificate,
    CMSAlgorithmProtection repeats the SignerInfo's algorithms, and the signature verifies.
    Anything else (including names that match only after normalisation) returns ``None``.
    """
    try:
        md_algorithm = signer_info["digest_algorithm"]["algorithm"].native
        signature_algorithm = signer_info["signature_algorithm"]
        if (signature_algorithm["algorithm"].native, md_algorithm) not in _FAST_MECHANISMS:
            return None
        sid = signer_info["sid"]
        if sid.name != "issuer_and_serial_number":
            return None
        sid_issuer = sid.chosen["issuer"].dump()
        sid_serial = sid.chosen["serial_number"].native
        cert = next(
            (
                c.chosen
                for c in signed_data["certificates"]
                if c.name == "certificate"
                and c.chosen.serial_number == sid_serial
                and c.chosen["tbs_certificate"]["issuer"].dump() == sid_issuer
            ),
            None,
        )
        if cert is None:
            return None
        cert_der = cert.dump()
        signed_attrs = signer_info["signed_attrs"]
        if isinstance(signed_attrs, core.Void):
            return None
        # RFC 5652 §5.4: the signature covers the attributes with a SET OF tag, not [0]. Taken
        # before any attribute is read: asn1crypto marks a structure mutated when an absent
        # DEFAULT field is read, and would then re-encode it (slowly) instead of the bytes signed.
        message = b"\x31" + _der_length(len(signed_attrs.contents)) + signed_attrs.contents
        attrs: dict[str, core.Asn1Value] = {}
        for attribute in signed_attrs:
            kind = attribute["type"].dotted
            values = attribute["values"]
            if kind in attrs or len(values) != 1:
                return None
            attrs[kind] = values[0]
        if not attrs.keys() <= _KNOWN_SIGNED_ATTR_OIDS or not {_CONTENT_TYPE, _MESSAGE_DIGEST} <= attrs.keys():
            return None
        if attrs[_CONTENT_TYPE].dump() != signed_data["encap_content_info"]["content_type"].dump():
            return None
        if digest is None:
            digest = _digest(md_algorithm, bytes(signed_data["encap_content_info"]["content"]))
        if attrs[_MESSAGE_DIGEST].native != digest:
            return None
        if _SIGNING_CERTIFICATE_V2 in attrs and not _names_certificate(attrs[_SIGNING_CERTIFICATE_V2], cert, cert_der):
            return None
        if _ALGORITHM_PROTECTION in attrs:
            protection = attrs[_ALGORITHM_PROTECTION]
            if (
                not _same_algorithm(protection["digest_algorithm"], signer_info["digest_algorithm"])
                or not _same_algorithm(protection["signature_algorithm"], signature_algorithm)
                or not isinstance(protection["mac_algorithm"], core.Void)
            ):
                return None
        crypto_cert = x509.load_der_x509_certificate(cert_der)
        key = crypto_cert.public_key()
        signature = signer_info["signature"].native
        if isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048 and "rsa" in signature_algorithm["algorithm"].native:
            key.verify(signature, message, padding.PKCS1v15(), _cms_hash(md_algorithm))
        elif (
            isinstance(key, ec.EllipticCurvePublicKey)
            and key.curve.name in ("secp256r1", "secp384r1", "secp521r1")
            and "ecdsa" in signature_algorithm["algorithm"].native
        ):
            key.verify(signature, message, ec.ECDSA(_cms_hash(md_algorithm)))
        else:
            return None
    except (InvalidSignature, ValueError, KeyError, TypeError):
        return None
    return cert, crypto_cert


_KNOWN_SIGNED_ATTR_OIDS = frozenset(
    {_CONTENT_TYPE, _MESSAGE_DIGEST, _SIGNING_TIME, _SIGNING_CERTIFICATE_V2, _ALGORITHM_PROTECTION}
)


def _names_certificate(signing_certificate: core.Asn1Value, cert: asn1_x509.Certificate, cert_der: bytes) -> bool:
    """RFC 5035 signingCertificateV2: its first ESSCertIDv2 is this certificate (hash, issuer/serial)."""
    first = signing_certificate["certs"][0]
    hash_name = first["hash_algorithm"]["algorithm"].native
    if hash_name not in _ATTRIBUTE_HASHES or first["cert_hash"].native != _digest(hash_name, cert_der):
        return False
    issuer_serial = first["issuer_serial"]
    if isinstance(issuer_serial, core.Void):
        return True
    names = issuer_serial["issuer"]
    return (
        issuer_serial["serial_number"].native == cert.serial_number
        and len(names) == 1
        and names[0].name == "directory_name"
        # directoryName is [4] EXPLICIT: its contents are the Name's, tag and length aside.
        and names[0].chosen.contents == cert["tbs_certificate"]["issuer"].contents
    )


def _same_algorithm(one: core.Asn1Value, other: core.Asn1Value) -> bool:
    """Equal AlgorithmIdentifiers, absent and NULL parameters alike (as pyHanko compares them)."""

    def parameters(algorithm: core.Asn1Value) -> bytes:
        value = algorithm["parameters"]
        return b"" if isinstance(value, (core.Void, core.Null)) else value.dump()

    return one["algorithm"].dotted == other["algorithm"].dotted and parameters(one) == parameters(other)


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    octets = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(octets),)) + octets


def _fast_timestamp(
    signer_info: cms.SignerInfo,
    embedded: list[asn1_x509.Certificate],
    tsa_roots: frozenset[bytes],
    revocation: RevocationSource | None,
    check_time: datetime,
    cache: PathCache,
) -> TimestampReport | None | bool:
    """The valid signature time-stamp's report, ``None`` without one, ``False`` to go the full way."""
    try:
        unsigned = signer_info["unsigned_attrs"]
        if isinstance(unsigned, core.Void):
            return None
        if any(a["type"].native != "signature_time_stamp_token" for a in unsigned):
            return False
        tokens = [value for a in unsigned for value in a["values"]]
        if len(tokens) != 1 or tokens[0]["content_type"].native != "signed_data":
            return False
        token_data = tokens[0]["content"]
        token_signers = token_data["signer_infos"]
        if len(token_signers) != 1:
            return False
        tst_info = token_data["encap_content_info"]["content"].parsed
        if not isinstance(tst_info, tsp.TSTInfo):
            return False
        imprint = tst_info["message_imprint"]
        expected = _digest(imprint["hash_algorithm"]["algorithm"].native, signer_info["signature"].native)
        if expected != imprint["hashed_message"].native:
            return False
        signer = _fast_integrity(token_data, token_signers[0], None)
        if signer is None:
            return False
        tsa_cert, _ = signer
        token_certs = [c.chosen.dump() for c in token_data["certificates"] if c.name == "certificate"]
        known = cache.get(_path_key("tsa", tsa_cert.dump(), tsa_roots, [*(c.dump() for c in embedded), *token_certs]))
        # The TSA's path is judged at the check time (see the module docstring).
        if known is None or not known.valid_at(check_time):
            return False
        gen_time = tst_info["gen_time"].native.astimezone(timezone.utc)
    except (ValueError, KeyError, TypeError):
        return False
    if revocation is not None and _path_revocation(list(known.crypto), revocation, gen_time, leaf_is_tsa=True) is not None:
        return False
    return TimestampReport(gen_time=gen_time, tsa_subject=known.subjects[0], valid=True)


def _fast_verify(
    signed_data: cms.SignedData,
    signer_info: cms.SignerInfo,
    content: bytes | None,
    trust_roots: list[x509.Certificate],
    tsa_trust_roots: list[x509.Certificate],
    revocation: RevocationSource | None,
    check_time: datetime,
    cache: PathCache,
) -> SignatureReport | None:
    """The report for a signature the fast path fully accepts as intact and trusted, else ``None``.

    Status outcomes (revoked before or after the signing moment, unknown) are reported here as
    the full path reports them; every other failure is left to the full path to describe.
    """
    encapsulated = signed_data["encap_content_info"]["content"]
    if isinstance(encapsulated, core.Void):
        if content is None:
            return None  # the full path raises the InvalidInput
        md_algorithm = signer_info["digest_algorithm"]["algorithm"].native
        if md_algorithm not in _CMS_HASHES:
            return None
        digest: bytes | None = _digest(md_algorithm, bytes(content))
    else:
        if content is not None and bytes(content) != bytes(encapsulated):
            return None
        digest = None
    signer = _fast_integrity(signed_data, signer_info, digest)
    if signer is None:
        return None
    signer_cert, signer_crypto = signer
    embedded = [c.chosen for c in signed_data["certificates"] if c.name == "certificate"]
    timestamp = _fast_timestamp(
        signer_info, embedded, _roots_key(tsa_trust_roots), revocation, check_time, cache
    )
    if timestamp is False:
        return None
    assert timestamp is None or isinstance(timestamp, TimestampReport)
    judged_at = timestamp.gen_time if timestamp is not None else check_time
    known = cache.get(_path_key("signer", signer_cert.dump(), _roots_key(trust_roots), [c.dump() for c in embedded]))
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
        failure = _path_revocation(certs, revocation, judged_at, leaf_status=signer_status)
    return SignatureReport(
        valid=failure is None,
        intact=True,
        signature_ok=True,
        signer_subject=known.subjects[0],
        signer_serial_hex=format(signer_crypto.serial_number, "x"),
        signer_certificate=signer_cert.dump(),
        path=list(known.subjects),
        trusted=True,
        non_repudiation=_non_repudiation(signer_crypto),
        signed_at=extract_self_reported_ts(signer_info),
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
        context = ValidationContext(
            trust_roots=tsa_roots,
            other_certs=embedded,
            moment=check_time,
            allow_fetching=False,
            revocation_mode="soft-fail",
        )
        try:
            kwargs = await validate_tst_signed_data(
                token, context, lambda alg: _digest(alg, signature_value)
            )
        except (SignatureValidationError, ValueError):
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
) -> str | None:
    """Ask the revocation source about every non-root certificate; the first problem wins.

    A certificate revoked at or before ``moment`` fails the path. For a TSA certificate
    (RFC 3161 §4) a later revocation also voids its tokens when the reason is a key or CA
    compromise, since then nobody knows who else signed with that key.
    """
    for index, (cert, issuer) in enumerate(zip(certs, certs[1:])):
        is_leaf = index == 0
        status = leaf_status if is_leaf and leaf_status is not None else revocation.status(cert, issuer)
        whose = "signer certificate" if is_leaf else "CA certificate"
        if status.status == "unknown":
            return f"{whose} status is unknown"
        if status.status == "revoked":
            if status.revoked_at is None or status.revoked_at <= moment:
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
    return SignatureReport(
        valid=False,
        intact=False,
        signature_ok=False,
        signer_subject=_subject(signer_cert) if signer_cert is not None else "",
        signer_serial_hex=format(signer_cert.serial_number, "x") if signer_cert is not None else "",
        signer_certificate=signer_cert.dump() if signer_cert is not None else b"",
        path=[_subject(signer_cert)] if signer_cert is not None else [],
        trusted=False,
        non_repudiation=_has_non_repudiation(signer_cert) if signer_cert is not None else False,
        signed_at=extract_self_reported_ts(signer_info),
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
