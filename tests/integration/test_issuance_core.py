"""Issuance on both backends: Boulder's order, profile checks, audit in the same transaction."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import func, select

from fincert.ca.authority import IssuanceRequest, SubjectIdentity, normalize_serial
from fincert.errors import Conflict, InvalidInput, PolicyViolation
from fincert.keys.backend import KeyType
from fincert.storage import audit
from fincert.storage.models import AuditRecord, Certificate


@pytest.fixture(scope="module")
def subscriber_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def request_for(key, product="financial", **kw) -> IssuanceRequest:
    return IssuanceRequest(product, key.public_key(), SubjectIdentity("홍길동", "한빛은행"), **kw)


def audit_count(rt) -> int:
    with rt.db.reader() as s:
        return s.execute(select(func.count()).select_from(AuditRecord)).scalar_one()


def test_initialize_is_idempotent(runtime):
    first = runtime.ca.hierarchy()
    again = runtime.initialize()
    assert again.root.serial_number == first.root.serial_number
    assert again.created is False
    assert runtime.initialize(KeyType.RSA2048).root.serial_number == first.root.serial_number
    # Asking for another key type is refused, not silently answered with the existing RSA CA.
    with pytest.raises(Conflict, match="already exists with rsa2048 keys"):
        runtime.initialize(KeyType.P256)
    assert runtime.ca.hierarchy().root.serial_number == first.root.serial_number


def test_issue_persists_certificate_and_audit(runtime, subscriber_key, clock):
    before = audit_count(runtime)
    issued = runtime.ca.issue(request_for(subscriber_key))
    assert issued.not_after - issued.not_before <= dt.timedelta(days=3 * 365, minutes=5)
    assert issued.certificate.serial_number.bit_length() >= 64
    with runtime.db.reader() as s:
        row = s.execute(select(Certificate).where(Certificate.serial == issued.serial)).scalar_one()
        assert row.status == "issued" and row.der == issued.der
        assert json.loads(row.request_json)["product"] == "financial"
        last = s.execute(select(AuditRecord).order_by(AuditRecord.seq.desc())).scalars().first()
        assert last.action == "certificate.issued" and last.subject_id == issued.serial
        assert audit.verify(s).ok
    assert audit_count(runtime) == before + 1


def test_joint_profile_is_one_year(runtime, subscriber_key):
    issued = runtime.ca.issue(request_for(subscriber_key, "joint"))
    assert dt.timedelta(days=364) < issued.not_after - issued.not_before <= dt.timedelta(days=365, minutes=5)


def test_serial_is_reserved_before_signing(runtime, subscriber_key, monkeypatch):
    """During signing, the reserved row is already committed and visible to others."""
    seen = {}
    original = runtime.keys.sign

    def spying_sign(label, data):
        with runtime.db.reader() as s:
            rows = s.execute(select(Certificate).where(Certificate.status == "reserved")).scalars().all()
            seen["reserved"] = [(r.serial, json.loads(r.request_json)) for r in rows]
        return original(label, data)

    monkeypatch.setattr(runtime.keys, "sign", spying_sign)
    issued = runtime.ca.issue(request_for(subscriber_key))
    assert [serial for serial, _ in seen["reserved"]] == [issued.serial]
    assert seen["reserved"][0][1]["subject"].startswith("CN=홍길동()")


def test_crash_while_signing_leaves_a_record(runtime, subscriber_key, monkeypatch):
    def broken_sign(label, data):
        raise RuntimeError("HSM went away")

    monkeypatch.setattr(runtime.keys, "sign", broken_sign)
    with pytest.raises(RuntimeError):
        runtime.ca.issue(request_for(subscriber_key))
    with runtime.db.reader() as s:
        rows = s.execute(select(Certificate)).scalars().all()
        assert len(rows) == 1 and rows[0].status == "failed" and rows[0].der is None
        actions = [r.action for r in s.execute(select(AuditRecord).order_by(AuditRecord.seq)).scalars()]
        assert actions[-1] == "certificate.issuance-failed"


def test_finalize_failure_rolls_back_the_store_step(runtime, subscriber_key):
    before = audit_count(runtime)

    def conflicting(session, issued):
        raise Conflict("another reissue won")

    with pytest.raises(Conflict):
        runtime.ca.issue(request_for(subscriber_key), finalize=conflicting)
    with runtime.db.reader() as s:
        row = s.execute(select(Certificate)).scalars().one()
        assert row.status == "failed" and row.der is None
        actions = [r.action for r in s.execute(select(AuditRecord).where(AuditRecord.seq > before)).scalars()]
        assert actions == ["certificate.issuance-failed"]


def test_profile_refuses_wrong_keys(runtime):
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(PolicyViolation):
        runtime.ca.issue(request_for(small))
    with pytest.raises(PolicyViolation):
        runtime.ca.issue(request_for(ec.generate_private_key(ec.SECP256R1())))
    with pytest.raises(InvalidInput):
        runtime.ca.issue(request_for(small, product="gold"))


def test_no_certificate_outlives_its_issuer(runtime, subscriber_key, clock):
    issuing = runtime.ca.hierarchy().issuing
    clock.set(issuing.not_valid_after_utc - dt.timedelta(days=100))
    issued = runtime.ca.issue(request_for(subscriber_key))
    assert issued.not_after == issuing.not_valid_after_utc


def test_serial_normalisation():
    assert normalize_serial("0x00AB:CD") == "abcd"
    # Each way a serial can be wrong is named as such (not all as a length problem).
    with pytest.raises(InvalidInput, match="hexadecimal digits \\(0-9, a-f\\)"):
        normalize_serial("xyz")
    with pytest.raises(InvalidInput, match="is needed"):
        normalize_serial("  ")
    with pytest.raises(InvalidInput, match="at most 40"):
        normalize_serial("a" * 41)


def test_revoke_records_reason_and_audit_and_notifies(runtime, subscriber_key):
    seen = []
    runtime.ca.add_revocation_listener(seen.append)
    issued = runtime.ca.issue(request_for(subscriber_key))
    runtime.ca.revoke(issued.serial, "keyCompromise", actor="operator:test")
    assert seen == [issued.serial]
    with runtime.db.reader() as s:
        row = s.execute(select(Certificate).where(Certificate.serial == issued.serial)).scalar_one()
        assert row.revocation_reason == "keyCompromise" and row.revoked_at is not None
        last = s.execute(select(AuditRecord).order_by(AuditRecord.seq.desc())).scalars().first()
        assert last.action == "certificate.revoked" and json.loads(last.details_json) == {"reason": "keyCompromise"}
    with pytest.raises(Conflict):
        runtime.ca.revoke(issued.serial, "superseded", actor="operator:test")
    with pytest.raises(InvalidInput):
        runtime.ca.revoke(issued.serial, "becauseISaidSo", actor="operator:test")


def test_revoke_inside_a_failed_transaction_changes_nothing(runtime, subscriber_key):
    seen = []
    runtime.ca.add_revocation_listener(seen.append)
    issued = runtime.ca.issue(request_for(subscriber_key))
    with pytest.raises(RuntimeError):
        with runtime.db.transaction() as session:
            runtime.ca.revoke(issued.serial, "superseded", actor="t", session=session)
            raise RuntimeError("later step failed")
    assert seen == []
    with runtime.db.reader() as s:
        assert s.execute(select(Certificate.revoked_at).where(Certificate.serial == issued.serial)).scalar_one() is None


def test_service_certificates(runtime):
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    _, ocsp, _ = runtime.ca.issue_service_certificate("ocsp-responder", key_type=KeyType.P256, validity=dt.timedelta(days=30), common_name="fincert OCSP Responder")
    eku = ocsp.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert list(eku.value) == [ExtendedKeyUsageOID.OCSP_SIGNING]
    ocsp.extensions.get_extension_for_class(x509.OCSPNoCheck)
    assert ocsp.issuer == runtime.ca.hierarchy().issuing.subject
    _, tsa, _ = runtime.ca.issue_service_certificate("tsa", key_type=KeyType.RSA2048, validity=dt.timedelta(days=365), common_name="fincert TSA")
    eku = tsa.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    assert tsa.issuer == runtime.ca.hierarchy().root.subject
    from fincert.sign.tsa import tsa_certificate_profile_ok
    tsa_certificate_profile_ok(tsa)
    assert runtime.ca.active_service_certificate("tsa")[1] == tsa
