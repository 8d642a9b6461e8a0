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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Literal, Protocol

from asn1crypto import cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
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


def verify_cms(
    signature_der: bytes,
    content: bytes | None,
    *,
    trust_roots: list[x509.Certificate],
    revocation: RevocationSource | None,
    at: datetime | None,
    tsa_trust_roots: list[x509.Certificate] | None = None,
) -> SignatureReport:
    """Verify a DER CMS ContentInfo (SignedData, one signer) over ``content``.

    ``content`` is required for a detached signature and optional for an attached one.
    ``tsa_trust_roots`` default to ``trust_roots``. Raises ``InvalidInput`` when the bytes are
    not such a signature or a detached signature comes without content; every other problem
    is reported in the ``SignatureReport`` with ``valid`` false.
    """
    return run_coroutine(
        async_verify_cms(
            signature_der,
            content,
            trust_roots=trust_roots,
            revocation=revocation,
            at=at,
            tsa_trust_roots=tsa_trust_roots,
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
) -> SignatureReport:
    """The coroutine behind ``verify_cms``, for callers already in an event loop."""
    signed_data, signer_info = _parse(signature_der)
    check_time = (at or datetime.now(timezone.utc)).astimezone(timezone.utc)
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

    timestamp, timestamp_path = await _check_timestamp(signer_info, tsa_roots, embedded, check_time)
    if timestamp is not None and timestamp.valid and revocation is not None and timestamp_path:
        tsa_problem = _path_revocation(timestamp_path, revocation, timestamp.gen_time, leaf_is_tsa=True)
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
            key_usage_settings=KeyUsageConstraints(
                key_usage={"digital_signature", "non_repudiation"}, match_all_key_usages=False
            ),
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

    certificate_status: CertificateStatusName = "not-checked"
    revocation_time = revocation_reason = None
    status_problem: str | None = None
    failure: str | None = None
    certs = _leaf_to_root(path) if path is not None else []
    # A signer certificate that is itself a trust root has no issuer to ask about it.
    if revocation is not None and trusted and len(certs) >= 2:
        signer_status = revocation.status(_to_crypto(certs[0]), _to_crypto(certs[1]))
        certificate_status = signer_status.status
        revocation_time = signer_status.revoked_at
        revocation_reason = signer_status.reason
        status_problem = _path_revocation(path, revocation, judged_at, leaf_status=signer_status)

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
        signer_info["signed_attrs"].native
        signer_info["sid"].native
        signer_info["digest_algorithm"].native
    except InvalidInput:
        raise
    except Exception as exc:  # untrusted bytes: any parse failure means "not a signature"
        raise InvalidInput("not a DER CMS SignedData with exactly one signer") from exc
    return signed_data, signer_info


async def _check_timestamp(
    signer_info: cms.SignerInfo,
    tsa_roots: list[asn1_x509.Certificate],
    embedded: list[asn1_x509.Certificate],
    check_time: datetime,
) -> tuple[TimestampReport | None, ValidationPath | None]:
    unsigned = signer_info["unsigned_attrs"]
    tokens = (
        [a["values"][0]["content"] for a in unsigned if a["type"].native == "signature_time_stamp_token"]
        if not isinstance(unsigned, core.Void)
        else []
    )
    if not tokens:
        return None, None
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
            return report, ts_status.validation_path
    if report is None:
        tst_info = tokens[0]["encap_content_info"]["content"].parsed
        report = TimestampReport(tst_info["gen_time"].native, "", valid=False)
    return report, None


def _path_revocation(
    path: ValidationPath,
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
    certs = _leaf_to_root(path)
    for index, (cert, issuer) in enumerate(zip(certs, certs[1:])):
        is_leaf = index == 0
        status = (
            leaf_status
            if is_leaf and leaf_status is not None
            else revocation.status(_to_crypto(cert), _to_crypto(issuer))
        )
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
    "RevocationSource",
    "SignatureReport",
    "TimestampReport",
    "async_verify_cms",
    "verify_cms",
]
