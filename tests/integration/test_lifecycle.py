"""The certificate lifecycle on both backends: applications, issue, reissue, renew, revoke, register."""

from __future__ import annotations

import datetime as dt
import secrets
import threading

import pyotp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from fincert.errors import Conflict, FincertError, InvalidInput, Locked, NotFound, PolicyViolation, VerificationFailed
from fincert.formats.vid import vid_matches
from fincert.ra.verifiers.base import make_evidence
from fincert.storage.models import AuditRecord

RRN = "900101-1234567"
PIN = "482916"


@pytest.fixture(scope="module")
def holder_keys():
    return [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(3)]


def csr_for(key) -> bytes:
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "holder")]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )


@pytest.fixture
def world(runtime):
    runtime.institutions.ensure_samples()
    reg = runtime.registrar
    members = {}
    for code in ("HANBIT", "NURI"):
        view = reg.register_member(code, name="홍길동", rrn=RRN, phone="010-1234-5678", email="h@example.com", actor="t")
        members[code] = view.id
    return runtime, members


def evidence_for(runtime, member_id, *, phone=False):
    """Prove identity as the policy asks: login, OTP, and for reissue the SMS code."""
    reg = runtime.registrar
    otp = reg.enroll(member_id, "otp", actor="op")
    challenge = reg.start_verification(member_id, "otp", actor="m")
    items = [make_evidence("login", runtime.clock.now(), credential_id=str(member_id))]
    items.append(reg.complete_verification(member_id, "otp", challenge.challenge_id, pyotp.TOTP(otp["secret"]).at(runtime.clock.now()), actor="m"))
    if phone:
        challenge = reg.start_verification(member_id, "sms", actor="m")
        text = reg.outbox(member_id=member_id)[0]["text"]
        code = text.split("[")[2].split("]")[0]
        items.append(reg.complete_verification(member_id, "sms", challenge.challenge_id, code, actor="m"))
    return items


def issue(runtime, member_id, kind="issue", *, key=None, pin=None, product="financial", **kw):
    lc = runtime.lifecycle
    app = lc.open_application(member_id, kind, product=product, actor="m", **kw)
    collection = lc.verify(app.id, evidence_for(runtime, member_id, phone=kind == "reissue"), actor="m")
    if key is not None:
        return lc.collect(collection.reference_number, collection.authorization_code, csr_pem=csr_for(key), random_num=secrets.token_bytes(20), actor="m")
    return lc.collect(collection.reference_number, collection.authorization_code, pin=pin or PIN, actor="m")


def test_file_issuance_carries_vid_and_the_holder(world, holder_keys):
    runtime, members = world
    result = issue(runtime, members["HANBIT"], key=holder_keys[0])
    cert = result.issued.certificate
    assert cert.public_key().public_numbers() == holder_keys[0].public_key().public_numbers()
    view = runtime.lifecycle.show(result.issued.serial)
    assert view.status == "active" and view.storage == "file" and view.institution == "HANBIT"
    assert not vid_matches(cert, "9001011234568", secrets.token_bytes(20))


def test_cloud_issuance_signs_with_pin_and_vid_matches(world):
    runtime, members = world
    result = issue(runtime, members["HANBIT"])
    assert result.storage == "cloud" and result.random_num is not None
    assert vid_matches(result.issued.certificate, "9001011234567", result.random_num)
    key_id = runtime.lifecycle.cloud_key_of(result.issued.serial)
    signature = runtime.vault.sign(key_id, PIN, b"transfer 10000 KRW")
    result.issued.certificate.public_key().verify(signature, b"transfer 10000 KRW", padding.PKCS1v15(), hashes.SHA256())
    assert runtime.lifecycle.cloud_random_num(result.issued.serial) == result.random_num


def test_one_financial_certificate_per_person_across_institutions(world, holder_keys):
    runtime, members = world
    first = issue(runtime, members["HANBIT"], key=holder_keys[0])
    with pytest.raises(Conflict, match="reissue|register"):
        runtime.lifecycle.open_application(members["NURI"], "issue", actor="m")
    # Registering the existing certificate at NURI passes NURI's identity check and links it.
    app = runtime.lifecycle.open_application(members["NURI"], "register", target_serial=first.issued.serial, actor="m")
    done = runtime.lifecycle.verify(app.id, evidence_for(runtime, members["NURI"]), actor="m")
    assert done.status == "completed"
    assert runtime.lifecycle.show(first.issued.serial).registered_at == ["NURI"]
    assert [c.serial for c in runtime.lifecycle.certificates_of(members["NURI"])] == [first.issued.serial]
    # A joint certificate is another product: allowed.
    assert issue(runtime, members["NURI"], key=holder_keys[1], product="joint").issued.product == "joint"
    # The registration follows the certificate that replaces the registered one.
    reissued = issue(runtime, members["HANBIT"], "reissue", key=holder_keys[2], reason="forgotten", target_serial=first.issued.serial)
    assert reissued.replaced == first.issued.serial
    assert runtime.lifecycle.show(reissued.issued.serial).registered_at == ["NURI"]
    assert reissued.issued.serial in [c.serial for c in runtime.lifecycle.certificates_of(members["NURI"])]


def test_one_open_application_and_policy(world):
    runtime, members = world
    lc = runtime.lifecycle
    app = lc.open_application(members["HANBIT"], "issue", actor="m")
    assert app.missing == ["login", "otp|security-card|webauthn"]
    with pytest.raises(Conflict):
        lc.open_application(members["HANBIT"], "issue", actor="m")
    with pytest.raises(VerificationFailed):
        lc.verify(app.id, [make_evidence("login", runtime.clock.now(), credential_id=str(members["HANBIT"]))], actor="m")
    runtime.clock.advance(minutes=11)
    again = lc.open_application(members["HANBIT"], "issue", actor="m")  # the stale one expired
    assert again.id != app.id and lc.application(app.id).status == "expired"


def test_reissue_revokes_the_old_and_destroys_its_cloud_key(world):
    runtime, members = world
    old = issue(runtime, members["HANBIT"])
    old_key = runtime.lifecycle.cloud_key_of(old.issued.serial)
    new = issue(runtime, members["HANBIT"], "reissue", reason="lost", pin="735190")
    assert new.replaced == old.issued.serial
    view = runtime.lifecycle.show(old.issued.serial)
    assert view.status == "revoked" and view.revocation_reason == "keyCompromise"
    assert runtime.vault.status(old_key).state == "destroyed"
    assert runtime.lifecycle.show(new.issued.serial).status == "active"
    with runtime.db.reader() as s:
        actions = [r.action for r in s.execute(select(AuditRecord).order_by(AuditRecord.seq)).scalars()]
    assert "application.reissued" in actions and "certificate.revoked" in actions


def test_reissue_needs_the_phone_code(world):
    runtime, members = world
    issue(runtime, members["HANBIT"])
    app = runtime.lifecycle.open_application(members["HANBIT"], "reissue", reason="forgotten", actor="m")
    assert "email|sms" in app.missing
    with pytest.raises(VerificationFailed, match="sms"):
        runtime.lifecycle.verify(app.id, evidence_for(runtime, members["HANBIT"]), actor="m")


def test_renewal_window_and_proof_of_possession(world, holder_keys):
    runtime, members = world
    lc = runtime.lifecycle
    old = issue(runtime, members["HANBIT"], key=holder_keys[0], product="joint")
    with pytest.raises(PolicyViolation, match="renewal opens"):
        lc.open_application(members["HANBIT"], "renew", target_serial=old.issued.serial, actor="m")
    runtime.clock.set(old.issued.not_after - dt.timedelta(days=10))
    app = lc.open_application(members["HANBIT"], "renew", target_serial=old.issued.serial, actor="m")
    collection = lc.verify(app.id, [], actor="m")  # renewal proves possession instead
    csr = csr_for(holder_keys[2])
    der = x509.load_pem_x509_csr(csr).public_bytes(serialization.Encoding.DER)
    with pytest.raises(VerificationFailed):
        lc.collect(collection.reference_number, collection.authorization_code, csr_pem=csr, random_num=secrets.token_bytes(20),
                   renewal_proof=holder_keys[1].sign(der, padding.PKCS1v15(), hashes.SHA256()), actor="m")
    proof = holder_keys[0].sign(der, padding.PKCS1v15(), hashes.SHA256())
    renewed = lc.collect(collection.reference_number, collection.authorization_code, csr_pem=csr, random_num=secrets.token_bytes(20), renewal_proof=proof, actor="m")
    assert renewed.replaced == old.issued.serial
    assert lc.show(old.issued.serial).revocation_reason == "superseded"


def test_collect_refuses_bad_input_and_changes_nothing(world):
    runtime, members = world
    lc = runtime.lifecycle
    app = lc.open_application(members["HANBIT"], "issue", actor="m")
    collection = lc.verify(app.id, evidence_for(runtime, members["HANBIT"]), actor="m")
    with pytest.raises(VerificationFailed):
        lc.collect(collection.reference_number, "WRONG-CODE", pin=PIN, actor="m")
    with pytest.raises(InvalidInput, match="CSR"):
        lc.collect(collection.reference_number, collection.authorization_code, csr_pem=b"garbage", random_num=b"x" * 20, actor="m")
    with pytest.raises(InvalidInput, match="pin|PIN|digits"):
        lc.collect(collection.reference_number, collection.authorization_code, pin="111111", actor="m")
    assert lc.application(app.id).status == "verified"
    assert lc.certificates_of(members["HANBIT"]) == []
    result = lc.collect(collection.reference_number, collection.authorization_code, pin=PIN, actor="m")
    with pytest.raises(Conflict):
        lc.collect(collection.reference_number, collection.authorization_code, pin=PIN, actor="m")
    assert lc.application(app.id).status == "issued" and lc.application(app.id).result_serial == result.issued.serial


def test_revoke_by_holder_and_operator_scope(world, holder_keys):
    runtime, members = world
    lc = runtime.lifecycle
    cert = issue(runtime, members["HANBIT"], key=holder_keys[0])
    nuri = runtime.institutions.get("NURI")
    with pytest.raises(Exception):
        lc.revoke(cert.issued.serial, "keyCompromise", actor="op", institution_id=nuri.id)
    view = lc.revoke(cert.issued.serial, "keyCompromise", actor="m", member_id=members["HANBIT"])
    assert view.status == "revoked"
    # After revocation the person may be issued a new financial certificate.
    assert issue(runtime, members["NURI"], key=holder_keys[1]).issued.product == "financial"


def test_expiry_notices_once_per_threshold(world, holder_keys):
    runtime, members = world
    cert = issue(runtime, members["HANBIT"], key=holder_keys[0], product="joint")
    runtime.clock.set(cert.issued.not_after - dt.timedelta(days=29))
    assert [n["threshold_days"] for n in runtime.lifecycle.notify_expiring()] == [30]
    assert runtime.lifecycle.notify_expiring() == []
    runtime.clock.set(cert.issued.not_after - dt.timedelta(days=6))
    assert [n["threshold_days"] for n in runtime.lifecycle.notify_expiring()] == [7]
    notices = [m for m in runtime.registrar.outbox(member_id=members["HANBIT"]) if "만료" in m["text"]]
    # Each notice goes to the registered phone and e-mail (member register --email promises it).
    assert sorted((m["channel"], m["to"]) for m in notices) == [("email", "h@example.com")] * 2 + [("sms", "010-1234-5678")] * 2
    assert any("6일 뒤 만료됩니다" in m["text"] for m in notices)
    runtime.clock.set(cert.issued.not_after - dt.timedelta(hours=11))
    assert [n["threshold_days"] for n in runtime.lifecycle.notify_expiring()] == [1]
    last = runtime.registrar.outbox(member_id=members["HANBIT"], limit=1)[0]["text"]
    assert "24시간 안에 만료됩니다" in last and "0일" not in last


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_reissues_at_once_end_with_one_new_certificate(world):
    """The same person reissues through two institutions at the same moment (PostgreSQL)."""
    runtime, members = world
    first = issue(runtime, members["HANBIT"])
    app = runtime.lifecycle.open_application(members["NURI"], "register", target_serial=first.issued.serial, actor="m")
    runtime.lifecycle.verify(app.id, evidence_for(runtime, members["NURI"]), actor="m")
    collections = []
    for code in ("HANBIT", "NURI"):
        application = runtime.lifecycle.open_application(members[code], "reissue", reason="forgotten", target_serial=first.issued.serial, actor="m")
        collections.append(runtime.lifecycle.verify(application.id, evidence_for(runtime, members[code], phone=True), actor="m"))
    results, errors = [], []
    barrier = threading.Barrier(2)

    def collect(collection, pin):
        barrier.wait()
        try:
            results.append(runtime.lifecycle.collect(collection.reference_number, collection.authorization_code, pin=pin, actor="m"))
        except Conflict as exc:
            errors.append(exc)

    threads = [threading.Thread(target=collect, args=(c, p)) for c, p in zip(collections, ("735190", "284615"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 1 and len(errors) == 1, (results, errors)
    active = [c for m in members.values() for c in runtime.lifecycle.certificates_of(m) if c.status == "active" and c.product == "financial"]
    assert {c.serial for c in active} == {results[0].issued.serial}
    # The replacement is registered where the old one was, except at its own issuer.
    issuer = runtime.lifecycle.show(results[0].issued.serial)
    assert issuer.registered_at == ([] if issuer.institution == "NURI" else ["NURI"])


def test_cloud_signing_renews_automatically_in_the_last_month(world):
    runtime, members = world
    lc = runtime.lifecycle
    cert = issue(runtime, members["HANBIT"])
    early = lc.sign_with_cloud(cert.issued.serial, PIN, b"order 1", actor="m")
    assert early.renewed_serial is None and early.signature_der[:1] == b"\x30"
    runtime.clock.set(cert.issued.not_after - dt.timedelta(days=20))
    late = lc.sign_with_cloud(cert.issued.serial, PIN, b"order 2", actor="m")
    assert late.renewed_serial is not None
    assert lc.show(cert.issued.serial).revocation_reason == "superseded"
    renewed = lc.show(late.renewed_serial)
    assert renewed.status == "active" and renewed.storage == "cloud"
    # Same vault key, now bound to the new certificate; the PIN still unlocks it.
    assert lc.cloud_key_of(late.renewed_serial) == lc.cloud_key_of(cert.issued.serial)
    assert lc.sign_with_cloud(late.renewed_serial, PIN, b"order 3", actor="m").renewed_serial is None
    with pytest.raises(VerificationFailed):
        lc.sign_with_cloud(late.renewed_serial, "999999", b"order 4", actor="m")


def test_a_service_that_keeps_financial_keys_in_the_cloud_refuses_a_key_file(settings, clock, holder_keys):
    from fincert.runtime import open_runtime

    runtime = open_runtime(settings.model_copy(update={"financial_storage": "cloud"}), clock=clock)
    try:
        runtime.initialize()
        runtime.institutions.ensure_samples()
        member_id = runtime.registrar.register_member(
            "HANBIT", name="홍길동", rrn=RRN, phone="010-1234-5678", email="h@example.com", actor="t"
        ).id
        lc = runtime.lifecycle
        app = lc.open_application(member_id, "issue", product="financial", actor="m")
        collection = lc.verify(app.id, evidence_for(runtime, member_id), actor="m")
        with pytest.raises(PolicyViolation, match="cloud") as refused:
            lc.collect(
                collection.reference_number, collection.authorization_code,
                csr_pem=csr_for(holder_keys[0]), random_num=secrets.token_bytes(20), actor="m",
            )
        assert refused.value.field == "storage"
        # The holder's page says it in their language.
        from fincert.web.i18n import error_text

        assert error_text(refused.value, "ko").startswith("이 서비스는 금융인증서를 클라우드에 보관합니다.")
        assert "cloud storage and a 6-digit PIN" in error_text(refused.value, "en")
        # Nothing was issued and the application waits for the holder's second choice.
        assert lc.application(app.id).status == "verified" and lc.certificates_of(member_id) == []
        cloud = lc.collect(collection.reference_number, collection.authorization_code, pin=PIN, actor="m")
        assert cloud.storage == "cloud"
        # A joint certificate is still the holder's to keep in a folder.
        joint = issue(runtime, member_id, key=holder_keys[1], product="joint")
        assert joint.storage == "file" and joint.issued.product == "joint"
    finally:
        runtime.close()


def test_messages_point_to_what_the_caller_can_do(world, holder_keys):
    runtime, members = world
    lc = runtime.lifecycle
    # An operator's or script's revocation of a serial that names nothing: not "of yours".
    with pytest.raises(NotFound, match="no issued certificate with serial deadbeef"):
        lc.revoke("deadbeef", "keyCompromise", actor="cli")
    with pytest.raises(NotFound, match="no certificate deadbeef of yours"):
        lc.revoke("deadbeef", "keyCompromise", actor="m", member_id=members["HANBIT"])
    # An expired certificate cannot be renewed: the error says to reissue it.
    cert = issue(runtime, members["HANBIT"], key=holder_keys[0], product="joint")
    runtime.clock.set(cert.issued.not_after + dt.timedelta(days=1))
    with pytest.raises(Conflict, match="has expired, so reissue it") as refused:
        lc.open_application(members["HANBIT"], "renew", product="joint", target_serial=cert.issued.serial, actor="m")
    from fincert.web.i18n import error_text

    assert error_text(refused.value, "ko") == "만료된 인증서는 갱신할 수 없습니다. 재발급해 주세요."


def test_an_expired_financial_certificate_leaves_room_for_a_new_one(world, holder_keys):
    """One active financial certificate per person: an expired one no longer counts, and a
    new issuance at any institution goes through (it once failed on the stale UNIQUE slot)."""
    runtime, members = world
    first = issue(runtime, members["HANBIT"], key=holder_keys[0])
    runtime.clock.set(first.issued.not_after + dt.timedelta(days=1))
    assert runtime.lifecycle.show(first.issued.serial).status == "expired"
    second = issue(runtime, members["NURI"], key=holder_keys[1])
    assert runtime.lifecycle.show(second.issued.serial).status == "active"
    assert runtime.lifecycle.show(first.issued.serial).status == "expired"
    # The new one holds the person's place again.
    with pytest.raises(Conflict, match="reissue|register"):
        runtime.lifecycle.open_application(members["HANBIT"], "issue", actor="m")


def test_a_certificate_on_hold_is_restored_or_revoked_for_good(world, holder_keys):
    """certificateHold (효력 정지) is the one revocation that can be undone: the certificate keeps
    its cloud key and its holder's place, OCSP and the CRL say revoked until it is restored."""
    runtime, members = world
    lc, va = runtime.lifecycle, runtime.va
    issued = issue(runtime, members["HANBIT"])  # financial, in the cloud
    serial = issued.issued.serial
    hanbit = runtime.institutions.get("HANBIT").id

    held = lc.revoke(serial, "certificateHold", actor="op", institution_id=hanbit)
    assert (held.status, held.revocation_reason) == ("revoked", "certificateHold")
    assert va.ocsp.status(int(serial, 16)).status == "revoked"
    with pytest.raises(Conflict, match="on hold"):
        lc.sign_with_cloud(serial, PIN, b"transfer", actor="m", member_id=members["HANBIT"])
    # Another member learns nothing of it, not even that it is on hold.
    with pytest.raises(NotFound, match="of yours"):
        lc.sign_with_cloud(serial, PIN, b"transfer", actor="m", member_id=members["NURI"])
    # Still the person's one financial certificate: a new one is refused, pointing to restore.
    with pytest.raises(Conflict, match="on hold"):
        lc.open_application(members["NURI"], "issue", actor="m")
    with pytest.raises(Conflict, match="already on hold"):
        lc.revoke(serial, "certificateHold", actor="op")
    # An operator of another institution cannot restore it.
    with pytest.raises(NotFound):
        lc.restore(serial, actor="op", institution_id=runtime.institutions.get("NURI").id)

    restored = lc.restore(serial, actor="op", institution_id=hanbit)
    assert (restored.status, restored.revocation_reason) == ("active", None)
    assert va.ocsp.status(int(serial, 16)).status == "good"
    assert lc.sign_with_cloud(serial, PIN, b"transfer", actor="m").serial == serial  # the same key, kept
    with pytest.raises(Conflict, match="not on hold"):
        lc.restore(serial, actor="op")
    with runtime.db.reader() as session:
        actions = session.execute(select(AuditRecord.action).where(AuditRecord.subject_id == serial)).scalars().all()
    assert actions.count("certificate.revoked") == 1 and actions.count("certificate.hold-released") == 1

    # Held again, then revoked for good: the final reason, the key destroyed, no way back.
    lc.revoke(serial, "certificateHold", actor="op")
    final = lc.revoke(serial, "keyCompromise", actor="op")
    assert (final.status, final.revocation_reason) == ("revoked", "keyCompromise")
    with pytest.raises(Conflict, match="not on hold.*final"):
        lc.restore(serial, actor="op")
    assert issue(runtime, members["NURI"], key=holder_keys[0]).issued.product == "financial"  # the place is free


def test_reissuing_a_certificate_on_hold_revokes_it_for_good(world, holder_keys):
    runtime, members = world
    lc = runtime.lifecycle
    first = issue(runtime, members["HANBIT"], key=holder_keys[0])
    lc.revoke(first.issued.serial, "certificateHold", actor="op")
    reissued = issue(runtime, members["HANBIT"], "reissue", key=holder_keys[1], reason="lost", target_serial=first.issued.serial)
    assert reissued.replaced == first.issued.serial
    old = lc.show(first.issued.serial)
    assert (old.status, old.revocation_reason) == ("revoked", "keyCompromise")
    with pytest.raises(Conflict, match="not on hold"):
        lc.restore(first.issued.serial, actor="op")


def test_show_says_when_a_cloud_certificate_is_locked(world, holder_keys):
    """Five wrong PINs lock a cloud certificate: its status shows it (it is still "active" for
    relying parties, but its holder cannot sign until it is reissued)."""
    runtime, members = world
    lc = runtime.lifecycle
    cloud = issue(runtime, members["HANBIT"]).issued.serial
    assert lc.show(cloud).locked is False and lc.show(cloud).as_json()["locked"] is False
    for _ in range(5):
        with pytest.raises(FincertError):
            lc.sign_with_cloud(cloud, "135790", b"x", actor="m")
    view = lc.show(cloud)
    assert view.status == "active" and view.locked is True
    # Its renewal (proved with the PIN) is refused before an application is opened: reissue it.
    runtime.clock.set(view.not_after - dt.timedelta(days=3))
    with pytest.raises(Locked, match="reissue it"):
        lc.open_application(members["HANBIT"], "renew", target_serial=cloud, actor="m")
    assert lc.open_application_of(members["HANBIT"]) is None
    assert issue(runtime, members["NURI"], key=holder_keys[0], product="joint").issued.serial
    files = [c for c in lc.certificates_of(members["NURI"]) if c.storage == "file"]
    assert files and all(c.locked is None for c in files)


def test_a_certificate_that_expired_on_hold_is_not_restored(world, holder_keys):
    runtime, members = world
    lc = runtime.lifecycle
    cert = issue(runtime, members["HANBIT"], key=holder_keys[0], product="joint")
    lc.revoke(cert.issued.serial, "certificateHold", actor="op")
    runtime.clock.set(cert.issued.not_after + dt.timedelta(days=1))
    with pytest.raises(Conflict, match="expired while on hold: reissue it"):
        lc.restore(cert.issued.serial, actor="op")
    assert lc.show(cert.issued.serial).revocation_reason == "certificateHold"
