"""verify_cms: integrity, trust, revocation and the time-stamp rule for revocation and expiry."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from fincert.clock import FakeClock
from fincert.errors import InvalidInput
from fincert.sign.cms import sign_cms
from fincert.sign.testing import TestPki, build_test_pki, issue_certificate, new_rsa_key
from fincert.sign.tsa import InProcessTimeStamper, TimeStampAuthority
from fincert.sign.verify import CertificateStatus, verify_cms

START = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=30)
SIGNED_AT = START + timedelta(days=1)
DATA = b"loan agreement #2024-0001"


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return build_test_pki(START)


@pytest.fixture(scope="module")
def other_root():
    key = new_rsa_key()
    return issue_certificate(
        subject="some other root",
        public_key=key.public_key(),
        issuer_cert=None,
        issuer_key=key,
        not_before=START,
        not_after=START + timedelta(days=3650),
        kind="ca",
    )


@pytest.fixture(scope="module")
def timestamper(pki: TestPki) -> InProcessTimeStamper:
    serials = itertools.count(1)
    tsa = TimeStampAuthority(pki.tsa, [], pki.tsa_key, "2.25.7", 1, FakeClock(SIGNED_AT), lambda: next(serials))
    return InProcessTimeStamper(tsa)


class StatusTable:
    """A RevocationSource from a dict of serial -> status; everything else is good."""

    def __init__(self, entries: dict[int, CertificateStatus] | None = None) -> None:
        self.entries = entries or {}
        self.asked: list[int] = []

    def status(self, cert: x509.Certificate, issuer: x509.Certificate) -> CertificateStatus:
        self.asked.append(cert.serial_number)
        return self.entries.get(cert.serial_number, CertificateStatus("good"))


def _revoked(at: datetime, reason: str = "key_compromise") -> CertificateStatus:
    return CertificateStatus("revoked", revoked_at=at, reason=reason)


def _sign(pki: TestPki, *, detached: bool = True, timestamper=None, key=None, cert=None, pss=False) -> bytes:
    return sign_cms(
        DATA,
        private_key=key or pki.signer_key,
        certificate=cert or pki.signer,
        chain=[pki.issuing_ca],
        detached=detached,
        timestamper=timestamper,
        pss=pss,
        signing_time=SIGNED_AT,
    )


@pytest.mark.parametrize("detached", [True, False], ids=["detached", "attached"])
@pytest.mark.parametrize("pss", [False, True], ids=["pkcs1", "pss"])
def test_good_signature_is_valid(pki, detached, pss):
    revocation = StatusTable()
    report = verify_cms(
        _sign(pki, detached=detached, pss=pss),
        DATA,
        trust_roots=[pki.root],
        revocation=revocation,
        at=SIGNED_AT + timedelta(minutes=1),
    )

    assert report.valid, report.failure
    assert report.failure is None
    assert report.intact and report.signature_ok and report.trusted
    assert report.non_repudiation
    assert report.signer_subject == pki.signer.subject.rfc4514_string()
    assert report.signer_serial_hex == format(pki.signer.serial_number, "x")
    assert report.signer_certificate == pki.signer.public_bytes(serialization.Encoding.DER)
    assert report.path == [c.subject.rfc4514_string() for c in (pki.signer, pki.issuing_ca, pki.root)]
    assert report.signed_at == SIGNED_AT
    assert report.timestamp is None
    assert report.certificate_status == "good"
    assert report.judged_at == SIGNED_AT + timedelta(minutes=1)
    # the signer and the issuing CA were both asked about
    assert revocation.asked == [pki.signer.serial_number, pki.issuing_ca.serial_number]


def test_attached_signature_verifies_without_content_given(pki):
    report = verify_cms(_sign(pki, detached=False), None, trust_roots=[pki.root], revocation=None, at=SIGNED_AT)
    assert report.valid and report.certificate_status == "not-checked"


def test_tampered_content_is_invalid(pki):
    report = verify_cms(_sign(pki), DATA + b"0", trust_roots=[pki.root], revocation=None, at=SIGNED_AT)

    assert not report.valid
    assert not report.intact and report.signature_ok
    assert report.failure == "content does not match the signed message digest"


def test_attached_signature_with_other_content_is_invalid(pki):
    report = verify_cms(
        _sign(pki, detached=False), b"something else", trust_roots=[pki.root], revocation=None, at=SIGNED_AT
    )
    assert not report.valid and not report.intact


def test_tampered_signature_value_is_invalid(pki):
    content_info = cms.ContentInfo.load(_sign(pki))
    signer_info = content_info["content"]["signer_infos"][0]
    signature = bytearray(signer_info["signature"].native)
    signature[10] ^= 0x01
    signer_info["signature"] = bytes(signature)

    report = verify_cms(content_info.dump(force=True), DATA, trust_roots=[pki.root], revocation=None, at=SIGNED_AT)

    assert not report.valid and not report.signature_ok
    assert report.failure == "signature value does not verify"


def test_wrong_trust_root_is_untrusted(pki, other_root):
    report = verify_cms(_sign(pki), DATA, trust_roots=[other_root], revocation=None, at=SIGNED_AT)

    assert not report.valid and not report.trusted
    assert report.intact and report.signature_ok
    assert report.failure == "no certificate path to a trust root"
    assert report.path == [pki.signer.subject.rfc4514_string()]


def test_certificate_revoked_before_signing_is_invalid(pki):
    revocation = StatusTable({pki.signer.serial_number: _revoked(SIGNED_AT - timedelta(hours=1))})

    report = verify_cms(_sign(pki), DATA, trust_roots=[pki.root], revocation=revocation, at=SIGNED_AT)

    assert not report.valid
    assert report.certificate_status == "revoked"
    assert report.revocation_time == SIGNED_AT - timedelta(hours=1)
    assert report.revocation_reason == "key_compromise"
    # Unstamped: judged at the check, so the words must not claim a signing time was proven.
    assert report.failure == (
        "signer certificate is revoked, and no time-stamp proves the signature was made before the revocation"
    )


def test_timestamped_before_a_later_revocation_stays_valid(pki, timestamper):
    revoked_at = SIGNED_AT + timedelta(days=2)
    revocation = StatusTable({pki.signer.serial_number: _revoked(revoked_at)})
    check_time = SIGNED_AT + timedelta(days=5)
    signature = _sign(pki, timestamper=timestamper)

    report = verify_cms(signature, DATA, trust_roots=[pki.root], revocation=revocation, at=check_time)

    assert report.valid, report.failure
    assert report.timestamp is not None and report.timestamp.valid
    assert report.timestamp.gen_time == SIGNED_AT
    assert report.timestamp.tsa_subject == pki.tsa.subject.rfc4514_string()
    assert report.judged_at == SIGNED_AT
    assert report.certificate_status == "revoked" and report.revocation_time == revoked_at


def test_without_timestamp_checked_after_revocation_is_invalid(pki):
    revocation = StatusTable({pki.signer.serial_number: _revoked(SIGNED_AT + timedelta(days=2))})

    report = verify_cms(
        _sign(pki), DATA, trust_roots=[pki.root], revocation=revocation, at=SIGNED_AT + timedelta(days=5)
    )

    assert not report.valid and report.certificate_status == "revoked"
    assert report.failure.startswith("signer certificate is revoked, and no time-stamp proves")


def test_timestamped_after_revocation_is_invalid(pki):
    serials = itertools.count(100)
    late_tsa = TimeStampAuthority(
        pki.tsa, [], pki.tsa_key, "2.25.7", 1, FakeClock(SIGNED_AT + timedelta(days=3)), lambda: next(serials)
    )
    revocation = StatusTable({pki.signer.serial_number: _revoked(SIGNED_AT + timedelta(days=2))})

    report = verify_cms(
        _sign(pki, timestamper=InProcessTimeStamper(late_tsa)),
        DATA,
        trust_roots=[pki.root],
        revocation=revocation,
        at=SIGNED_AT + timedelta(days=5),
    )

    assert report.timestamp is not None and report.timestamp.valid
    assert not report.valid
    assert report.failure == "signer certificate was revoked before the signing time"


def test_expired_certificate_valid_only_with_an_earlier_timestamp(pki, timestamper):
    key = new_rsa_key()
    short_lived = pki.issue_signer(key.public_key(), not_before=START, not_after=SIGNED_AT + timedelta(days=2))
    after_expiry = SIGNED_AT + timedelta(days=10)

    stamped = verify_cms(
        _sign(pki, key=key, cert=short_lived, timestamper=timestamper),
        DATA,
        trust_roots=[pki.root],
        revocation=StatusTable(),
        at=after_expiry,
    )
    unstamped = verify_cms(
        _sign(pki, key=key, cert=short_lived), DATA, trust_roots=[pki.root], revocation=None, at=after_expiry
    )

    assert stamped.valid, stamped.failure
    assert not unstamped.valid and not unstamped.trusted
    assert unstamped.failure == "signer certificate was not within its validity period at the signing time"


def test_unknown_status_is_invalid(pki):
    revocation = StatusTable({pki.signer.serial_number: CertificateStatus("unknown")})
    report = verify_cms(_sign(pki), DATA, trust_roots=[pki.root], revocation=revocation, at=SIGNED_AT)
    assert not report.valid and report.certificate_status == "unknown"


def test_revoked_issuing_ca_is_invalid(pki):
    revocation = StatusTable({pki.issuing_ca.serial_number: _revoked(START)})
    report = verify_cms(_sign(pki), DATA, trust_roots=[pki.root], revocation=revocation, at=SIGNED_AT)

    assert not report.valid and report.certificate_status == "good"
    assert report.failure == "CA certificate is revoked, and no time-stamp proves the signature was made before the revocation"


def test_timestamp_from_an_untrusted_tsa_invalidates(pki, timestamper, other_root):
    report = verify_cms(
        _sign(pki, timestamper=timestamper),
        DATA,
        trust_roots=[pki.root],
        tsa_trust_roots=[other_root],
        revocation=None,
        at=SIGNED_AT,
    )
    assert report.timestamp is not None and not report.timestamp.valid
    assert not report.valid and report.failure == "signature time-stamp is not valid"


@pytest.mark.parametrize(
    ("reason", "timestamp_valid"),
    [("superseded", True), ("cessation_of_operation", True), ("key_compromise", False)],
)
def test_tsa_revoked_after_the_token_voids_it_only_on_compromise(pki, timestamper, reason, timestamp_valid):
    revocation = StatusTable({pki.tsa.serial_number: _revoked(SIGNED_AT + timedelta(days=1), reason)})

    report = verify_cms(
        _sign(pki, timestamper=timestamper),
        DATA,
        trust_roots=[pki.root],
        revocation=revocation,
        at=SIGNED_AT + timedelta(days=3),
    )

    assert report.timestamp is not None and report.timestamp.valid is timestamp_valid
    assert report.valid is timestamp_valid


def test_tsa_revoked_before_the_token_voids_it(pki, timestamper):
    revocation = StatusTable({pki.tsa.serial_number: _revoked(SIGNED_AT - timedelta(hours=1), "superseded")})

    report = verify_cms(
        _sign(pki, timestamper=timestamper), DATA, trust_roots=[pki.root], revocation=revocation, at=SIGNED_AT
    )

    assert report.timestamp is not None and not report.timestamp.valid
    assert not report.valid and report.failure == "signature time-stamp is not valid"


def test_signer_without_non_repudiation_is_reported(pki):
    key = new_rsa_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name.from_rfc4514_string("CN=login only,O=fincert test,C=KR"))
        .issuer_name(pki.issuing_ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(START)
        .not_valid_after(START + timedelta(days=90))
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    )
    cert = builder.sign(pki.issuing_ca_key, hashes.SHA256())
    report = verify_cms(_sign(pki, key=key, cert=cert), DATA, trust_roots=[pki.root], revocation=None, at=SIGNED_AT)

    assert report.valid and not report.non_repudiation


def test_detached_signature_without_content_is_invalid_input(pki):
    with pytest.raises(InvalidInput):
        verify_cms(_sign(pki), None, trust_roots=[pki.root], revocation=None, at=SIGNED_AT)


@pytest.mark.parametrize("garbage", [b"", b"\x30\x80", b"hello", b"\x30\x03\x02\x01\x01"])
def test_garbage_is_invalid_input(pki, garbage):
    with pytest.raises(InvalidInput):
        verify_cms(garbage, DATA, trust_roots=[pki.root], revocation=None, at=SIGNED_AT)
