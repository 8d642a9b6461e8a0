"""Verification reads certificate status from the VA's pre-signed OCSP responses, on SQLite and
PostgreSQL: from memory when held, through the responder on a miss, from the certificates table
when there is no responder; revocations are seen at once in-process and within MEMORY_TTL
from another process."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from sqlalchemy import event, func, select

from fincert.ca.authority import IssuanceRequest, SubjectIdentity
from fincert.formats import pkcs12
from fincert.runtime import open_runtime
from fincert.sign.service import PresignedOcspStatus, StoredCertificateStatus, _read_signed_status
from fincert.storage.models import Authority, Certificate
from fincert.va import responder as responder_module

PASSWORD = "ocsp-status-pass-1!"
DATA = "계좌이체 500,000원".encode()


@pytest.fixture(scope="module")
def holder_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _signed(runtime, key, *, stamped: bool = True):
    """(certificate serial hex, time-stamped signature, plain signature) by a fresh joint certificate."""
    issued = runtime.ca.issue(IssuanceRequest("joint", key.public_key(), SubjectIdentity("홍길동", "한빛은행")))
    p12 = pkcs12.write_pkcs12(key, issued.certificate, [], PASSWORD, "x", kdf_rounds=1000)
    signing = runtime.signatures.signing
    signing_key = signing.pkcs12_key(p12, PASSWORD)
    stamped_signature = signing.sign(DATA, signing_key, tsa="local").signature_der
    plain = signing.sign(DATA, signing_key).signature_der
    return format(issued.certificate.serial_number, "x"), stamped_signature, plain


@contextlib.contextmanager
def statements(runtime):
    """Count the SQL statements the database receives inside the block."""
    seen: list[str] = []

    def record(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(runtime.db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", record)


def test_status_is_read_from_the_held_response_without_a_query(runtime, holder_key):
    runtime.va.ocsp.refresh()  # the responder certificate and the pre-signed store, as the upkeep makes them
    serial, stamped, plain = _signed(runtime, holder_key)
    verifier = runtime.signatures.verifier
    assert isinstance(runtime.signatures.status, PresignedOcspStatus)
    assert verifier.verify(stamped, DATA).valid  # first call: paths validated, response loaded and held

    with statements(runtime) as seen:
        report = verifier.verify(plain, DATA).report
    assert report.valid and report.certificate_status == "good"
    assert seen == []


def test_a_revocation_in_this_process_is_seen_through_the_store_at_once(runtime, clock, holder_key):
    runtime.va.ocsp.refresh()
    serial, stamped, plain = _signed(runtime, holder_key)
    verifier = runtime.signatures.verifier
    assert verifier.verify(plain, DATA).report.certificate_status == "good"

    clock.advance(hours=1)
    revoked_at = runtime.ca.revoke(serial, "keyCompromise", actor="test")
    with statements(runtime) as seen:
        after = verifier.verify(plain, DATA).report
    # The VA's revocation listener re-signed the held response: no database read was needed.
    assert seen == []
    assert after.certificate_status == "revoked" and after.revocation_reason == "key_compromise"
    assert after.revocation_time == revoked_at.replace(microsecond=0)  # OCSP times are whole seconds
    assert not after.valid and after.failure == (
        "signer certificate is revoked, and no time-stamp proves the signature was made before the revocation"
    )

    # Time-stamped an hour before the revocation: still valid, with the revocation reported.
    before = verifier.verify(stamped, DATA).report
    assert before.valid and before.certificate_status == "revoked"


def test_a_certificate_the_ca_does_not_know_is_never_good(runtime, holder_key):
    runtime.va.ocsp.refresh()
    serial, _, plain = _signed(runtime, holder_key)
    with runtime.db.transaction() as session:
        session.execute(Certificate.__table__.delete().where(Certificate.serial == serial))
    # Not held (never asked about): the responder is asked, finds no such certificate, says unknown.
    report = runtime.signatures.verifier.verify(plain, DATA).report
    assert report.certificate_status == "unknown" and not report.valid


def test_without_a_responder_the_database_decides_and_verification_issues_none(runtime, clock, holder_key):
    serial, _, plain = _signed(runtime, holder_key)
    verifier = runtime.signatures.verifier
    assert verifier.verify(plain, DATA).report.certificate_status == "good"
    clock.advance(minutes=5)
    runtime.ca.revoke(serial, "superseded", actor="test")
    report = verifier.verify(plain, DATA).report
    assert report.certificate_status == "revoked" and report.revocation_reason == "superseded"
    with runtime.db.reader() as session:
        responders = session.execute(select(func.count()).select_from(Authority).where(Authority.role == "ocsp-responder")).scalar_one()
    assert responders == 0


def test_a_revocation_in_another_process_is_seen_once_the_held_copy_ages_out(runtime, settings, clock, holder_key, monkeypatch):
    runtime.va.ocsp.refresh()
    serial, _, plain = _signed(runtime, holder_key)
    verifier = runtime.signatures.verifier
    assert verifier.verify(plain, DATA).report.certificate_status == "good"

    other = open_runtime(settings, clock=clock)  # another worker on the same database and keys
    try:
        other.va  # noqa: B018 - its VA re-signs the stored response when it revokes
        other.ca.revoke(serial, "keyCompromise", actor="test")
    finally:
        other.close()

    # Within MEMORY_TTL this process still serves the response it holds (the documented bound)...
    assert verifier.verify(plain, DATA).report.certificate_status == "good"
    # ...and once the held copy is older than that, it reads the re-signed one.
    monkeypatch.setattr(responder_module, "MEMORY_TTL", 0.0)
    report = verifier.verify(plain, DATA).report
    assert report.certificate_status == "revoked" and not report.valid


# --- reading a response ---------------------------------------------------------------------


def _issue(subject: str, key, issuer: x509.Certificate | None, issuer_key, *, ocsp_signing: bool = False) -> x509.Certificate:
    now = dt.datetime.now(dt.timezone.utc)
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer is not None else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if ocsp_signing:
        builder = builder.add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        builder = builder.add_extension(x509.OCSPNoCheck(), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def small_pki():
    ca_key, other_key, responder_key, holder = (ec.generate_private_key(ec.SECP256R1()) for _ in range(4))
    ca = _issue("CA", ca_key, None, ca_key)
    other_ca = _issue("CA", other_key, None, other_key)  # same name, another key
    responder = _issue("OCSP", responder_key, ca, ca_key, ocsp_signing=True)
    plain = _issue("not a responder", responder_key, ca, ca_key)
    certificate = _issue("holder", holder, ca, ca_key)
    return ca, ca_key, other_ca, responder, responder_key, plain, certificate


def _response(certificate, issuer, signer_cert, signer_key, status=ocsp.OCSPCertStatus.GOOD, **revocation):
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response(certificate, issuer, hashes.SHA1(), status, now, now + dt.timedelta(hours=1),
                      revocation.get("at"), revocation.get("reason"))
        .responder_id(ocsp.OCSPResponderEncoding.HASH, signer_cert)
        .certificates([signer_cert])
    )
    return builder.sign(signer_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def test_a_delegated_response_is_read_with_its_status(small_pki):
    ca, _, _, responder, responder_key, _, certificate = small_pki
    good = _read_signed_status(_response(certificate, ca, responder, responder_key), ca)
    assert good is not None and good.status.status == "good" and good.serial == certificate.serial_number
    at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(hours=1)
    revoked = _read_signed_status(
        _response(certificate, ca, responder, responder_key, ocsp.OCSPCertStatus.REVOKED, at=at, reason=x509.ReasonFlags.key_compromise), ca
    )
    assert revoked is not None and revoked.status.revoked_at == at and revoked.status.reason == "key_compromise"
    unspecified = _read_signed_status(
        _response(certificate, ca, responder, responder_key, ocsp.OCSPCertStatus.REVOKED, at=at), ca
    )
    assert unspecified is not None and unspecified.status.reason == "unspecified"


def test_responses_that_do_not_hold_are_not_read(small_pki):
    ca, _, other_ca, responder, responder_key, plain, certificate = small_pki
    valid = _response(certificate, ca, responder, responder_key)
    assert _read_signed_status(valid, ca) is not None
    assert _read_signed_status(valid, other_ca) is None  # names a certificate of another issuer
    assert _read_signed_status(_response(certificate, ca, plain, responder_key), ca) is None  # no OCSP delegation
    signature = ocsp.load_der_ocsp_response(valid).signature
    at = valid.index(signature) + len(signature) // 2
    assert _read_signed_status(valid[:at] + bytes([valid[at] ^ 1]) + valid[at + 1 :], ca) is None  # bad signature
    assert _read_signed_status(b"\x30\x03\x0a\x01\x01", ca) is None  # malformedRequest: unsigned, no status


def test_authorities_are_good_and_remembered_and_strangers_unknown(runtime):
    stored = StoredCertificateStatus(runtime.db)
    hierarchy = runtime.ca.hierarchy()
    assert not stored.is_authority(hierarchy.issuing)  # nothing loaded yet
    assert stored.status(hierarchy.issuing, hierarchy.root).status == "good"
    assert stored.is_authority(hierarchy.issuing)
    tsa = runtime.tsa.certificate  # issued after the authorities were loaded
    assert stored.status(tsa, hierarchy.root).status == "good" and stored.is_authority(tsa)
    key = ec.generate_private_key(ec.SECP256R1())
    stranger = _issue("stranger", key, None, key)
    assert stored.status(stranger, hierarchy.issuing).status == "unknown"
