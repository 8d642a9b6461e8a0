"""The signature services on SQLite and PostgreSQL: TSA, signing from every custody, verification,
the revocation/time-stamp rule, VID checks and the example bank's evidence records."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path

import pytest
from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from sqlalchemy import select

from fincert.ca.authority import IssuanceRequest, SubjectIdentity
from fincert.config import FINCERT_OID_ARC
from fincert.errors import Conflict, InvalidInput, Locked, NotFound, PolicyViolation, VerificationFailed
from fincert.formats import npki, pkcs12, vid
from fincert.runtime import open_runtime
from fincert.sign.testing import build_test_pki
from fincert.sign.tsa import build_timestamp_request, parse_timestamp_response
from fincert.storage import audit
from fincert.storage.models import AuditRecord
from fincert.storage.models_sign import SignatureEvidence

RRN = "900101-1234568"
OTHER_RRN = "850505-2234567"
PASSWORD = "npki-pass-2024!"
DATA = "계좌이체 1,000,000원 — transfer order".encode()


@pytest.fixture(scope="module")
def holder_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def random_num() -> bytes:
    return npki.generate_random_num()


def issue_joint(runtime, key, random_num):
    request = IssuanceRequest(
        "joint",
        key.public_key(),
        SubjectIdentity("홍길동", "한빛은행"),
        identify_data=vid.identify_data_other_name("홍길동", RRN.replace("-", ""), random_num),
    )
    return runtime.ca.issue(request)


def npki_folder(tmp_path: Path, runtime, key, random_num, scheme: str = "pbes2") -> Path:
    issued = issue_joint(runtime, key, random_num)
    if scheme == "pbes2":
        key_file = npki.write_sign_pri_key(key, PASSWORD, random_num)
    else:
        key_file = npki.write_sign_pri_key_legacy(key, PASSWORD, random_num, scheme)  # type: ignore[arg-type]
    return npki.write_npki_folder(tmp_path / "usb", runtime.settings.ca_name, issued.certificate, key_file)


# --- TSA -----------------------------------------------------------------------------------------


def test_tsa_certificate_is_issued_on_first_use_under_the_root(runtime):
    assert runtime.ca.active_service_certificate("tsa") is None
    certificate = runtime.tsa.certificate
    root = runtime.ca.hierarchy().root
    eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    assert certificate.issuer == root.subject
    certificate.verify_directly_issued_by(root)
    assert runtime.ca.active_service_certificate("tsa")[1] == certificate
    with runtime.db.reader() as session:
        actions = session.execute(select(AuditRecord.action)).scalars().all()
    assert "ca.service-certificate-issued" in actions


def test_tsa_answers_with_policy_nonce_and_increasing_serials(runtime):
    serials = []
    for nonce in (11, 12, 13):
        request = build_timestamp_request(DATA, nonce=nonce)
        result = parse_timestamp_response(runtime.tsa.respond(request), request_der=request)
        assert result.granted and result.nonce == nonce
        assert result.policy == f"{FINCERT_OID_ARC}.2.1"
        serials.append(result.serial)
    assert serials == sorted(serials) and len(set(serials)) == 3


def test_tsa_rejects_garbage_without_raising(runtime):
    result = parse_timestamp_response(runtime.tsa.respond(b"not a request"))
    assert result.status == "rejection" and "bad_data_format" in result.failure_info


def test_tsa_serials_are_unique_and_increasing_across_runtimes_and_threads(runtime, settings, clock):
    other = open_runtime(settings, clock=clock)  # a second process's view of the same database
    try:
        seen: dict[str, list[int]] = {}
        errors: list[BaseException] = []

        def take(name: str, service) -> None:
            try:
                seen[name] = [service.next_serial() for _ in range(20)]
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [
            threading.Thread(target=take, args=(f"{which}-{i}", rt.tsa))
            for i in range(3)
            for which, rt in (("a", runtime), ("b", other))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors
        everything = [s for serials in seen.values() for s in serials]
        assert len(everything) == len(set(everything)) == 120
        for serials in seen.values():
            assert serials == sorted(serials)
        # Each process hands out its own block: every serial of one lies above the other's
        # block, and a later process (a restart) starts above everything handed out before.
        mine = sorted(s for name, serials in seen.items() if name.startswith("a") for s in serials)
        theirs = sorted(s for name, serials in seen.items() if name.startswith("b") for s in serials)
        assert mine == list(range(mine[0], mine[0] + 60)) and theirs == list(range(theirs[0], theirs[0] + 60))
        assert mine[0] > theirs[-1] or theirs[0] > mine[-1]
        restarted = open_runtime(settings, clock=clock)
        try:
            assert restarted.tsa.next_serial() > max(everything)
        finally:
            restarted.close()
    finally:
        other.close()


def test_tsa_serial_blocks_are_reserved_whole_and_never_overlap(runtime, settings):
    from fincert.keys.backend import KeyType
    from fincert.sign.service import TSA_SERIAL_BLOCK, TimeStampService, TimeStampSettings

    small = TimeStampService(
        runtime.db, runtime.ca, runtime.keys, runtime.clock, TimeStampSettings(),
        key_type=KeyType(settings.ca_key_type), organization="t", serial_block=3,
    )
    first = [small.next_serial() for _ in range(3)]
    theirs = runtime.tsa.next_serial()  # another process reserves the next block in between
    later = [small.next_serial() for _ in range(4)]

    assert first == list(range(first[0], first[0] + 3))
    assert theirs == first[-1] + 1
    # The small block ran out: its next block starts after the other process's whole block.
    assert later == [theirs + TSA_SERIAL_BLOCK + i for i in range(4)]


# --- signing and verification ---------------------------------------------------------------------


def test_npki_signatures_from_every_key_form_verify_with_vid(runtime, tmp_path, holder_key, random_num):
    signing = runtime.signatures.signing
    for scheme in ("pbes2", "seed-pbe", "seed-cbc"):
        folder = npki_folder(tmp_path / scheme, runtime, holder_key, random_num, scheme)
        key = signing.npki_key(folder, PASSWORD)
        document = signing.sign(DATA, key, tsa="local")

        assert document.random_num == random_num
        assert document.timestamp is not None
        verification = runtime.signatures.verifier.verify(
            document.signature_der, DATA, rrn=RRN, random_num_hex=random_num.hex()
        )
        report = verification.as_json()
        assert report["valid"] is True, (scheme, report["failure"])
        assert report["vid_match"] is True
        assert report["certificate_status"] == "good"
        assert report["non_repudiation"] is True
        assert len(report["path"]) == 3
        assert report["path"][-1] == runtime.ca.hierarchy().root.subject.rfc4514_string()
        assert report["timestamp_valid"] is True
        assert RRN not in json.dumps(report) and RRN.replace("-", "") not in json.dumps(report)


def test_vid_mismatch_and_half_given_inputs(runtime, tmp_path, holder_key, random_num):
    signing = runtime.signatures.signing
    document = signing.sign(DATA, signing.npki_key(npki_folder(tmp_path, runtime, holder_key, random_num), PASSWORD))
    verifier = runtime.signatures.verifier
    assert verifier.verify(document.signature_der, DATA, rrn=OTHER_RRN, random_num_hex=random_num.hex()).vid_match is False
    assert verifier.verify(document.signature_der, DATA, rrn=RRN, random_num_hex=(b"\0" * 20).hex()).vid_match is False
    assert verifier.verify(document.signature_der, DATA).vid_match is None
    with pytest.raises(InvalidInput) as only_rrn:
        verifier.verify(document.signature_der, DATA, rrn=RRN)
    assert "1234568" not in only_rrn.value.detail
    with pytest.raises(InvalidInput):
        verifier.verify(document.signature_der, DATA, rrn="991399-1234567", random_num_hex=random_num.hex())
    with pytest.raises(InvalidInput):
        verifier.verify(document.signature_der, DATA, rrn=RRN, random_num_hex="abc")


def test_wrong_password_is_refused(runtime, tmp_path, holder_key, random_num):
    folder = npki_folder(tmp_path, runtime, holder_key, random_num)
    with pytest.raises(VerificationFailed):
        runtime.signatures.signing.npki_key(folder, "not the password")
    with pytest.raises(NotFound, match="nowhere"):  # the error names the folder
        runtime.signatures.signing.npki_key(tmp_path / "nowhere", PASSWORD)
    (tmp_path / "a-file").write_bytes(b"x")
    with pytest.raises(InvalidInput, match="a-file is a file, not a folder"):
        runtime.signatures.signing.npki_key(tmp_path / "a-file", PASSWORD)


def test_tampered_content_and_foreign_chain_are_invalid(runtime, tmp_path, holder_key, random_num):
    signing = runtime.signatures.signing
    verifier = runtime.signatures.verifier
    document = signing.sign(DATA, signing.npki_key(npki_folder(tmp_path, runtime, holder_key, random_num), PASSWORD))
    tampered = verifier.verify(document.signature_der, DATA + b"0")
    assert not tampered.valid and not tampered.report.intact

    foreign = build_test_pki(runtime.clock.now() - dt.timedelta(days=1))
    p12 = pkcs12.write_pkcs12(foreign.signer_key, foreign.signer, [foreign.issuing_ca, foreign.root], PASSWORD, "x", kdf_rounds=1000)
    foreign_doc = signing.sign(DATA, signing.pkcs12_key(p12, PASSWORD))
    foreign_report = verifier.verify(foreign_doc.signature_der, DATA)
    assert not foreign_report.valid and not foreign_report.report.trusted
    assert foreign_report.report.failure == "no certificate path to a trust root"


def test_pkcs12_attached_pss_signature_verifies(runtime, holder_key, random_num):
    issued = issue_joint(runtime, holder_key, random_num)
    p12 = pkcs12.write_pkcs12(holder_key, issued.certificate, [runtime.ca.hierarchy().issuing], PASSWORD, "holder", kdf_rounds=1000)
    signing = runtime.signatures.signing
    document = signing.sign(DATA, signing.pkcs12_key(p12, PASSWORD), attached=True, pss=True)
    assert document.random_num is None
    verification = runtime.signatures.verifier.verify(document.signature_der, None)
    assert verification.valid, verification.report.failure


def test_timestamp_before_revocation_stays_valid_and_later_signatures_do_not(runtime, clock, tmp_path, holder_key, random_num):
    signing = runtime.signatures.signing
    verifier = runtime.signatures.verifier
    folder = npki_folder(tmp_path, runtime, holder_key, random_num)
    key = signing.npki_key(folder, PASSWORD)
    stamped_before = signing.sign(DATA, key, tsa="local")
    unstamped_before = signing.sign(DATA, key)

    clock.advance(hours=1)
    runtime.ca.revoke(format(key.certificate.serial_number, "x"), "keyCompromise", actor="test")
    clock.advance(hours=1)
    # A holder's client refuses to sign with a revoked certificate; a thief's software would not.
    with pytest.raises(Conflict, match="is revoked"):
        signing.sign(DATA, key, tsa="local")
    stamped_after = signing.sign(DATA, key, tsa="local", check_usable=False)

    before = verifier.verify(stamped_before.signature_der, DATA).as_json()
    assert before["valid"] is True, before["failure"]
    assert before["certificate_status"] == "revoked" and before["revocation_reason"] == "key_compromise"
    assert before["judged_at"] == before["timestamp"]

    after = verifier.verify(stamped_after.signature_der, DATA).as_json()
    assert after["valid"] is False and after["failure"] == "signer certificate was revoked before the signing time"

    # Without a time-stamp nothing proves when it was signed: judged now, after the revocation.
    unproven = verifier.verify(unstamped_before.signature_der, DATA).as_json()
    assert unproven["valid"] is False and unproven["timestamp"] is None
    assert unproven["failure"] == "signer certificate is revoked, and no time-stamp proves the signature was made before the revocation"


def test_certificate_unknown_to_the_database_is_not_valid(runtime, holder_key, random_num):
    """A certificate signed by our issuing CA but absent from the certificates table (a forged
    or lost row) has status unknown: this CA cannot vouch for it."""
    issued = issue_joint(runtime, holder_key, random_num)
    from fincert.storage.models import Certificate

    with runtime.db.transaction() as session:
        session.execute(Certificate.__table__.delete().where(Certificate.serial == issued.serial))
    p12 = pkcs12.write_pkcs12(holder_key, issued.certificate, [], PASSWORD, "x", kdf_rounds=1000)
    signing = runtime.signatures.signing
    document = signing.sign(DATA, signing.pkcs12_key(p12, PASSWORD))
    report = runtime.signatures.verifier.verify(document.signature_der, DATA).as_json()
    assert report["valid"] is False and report["certificate_status"] == "unknown"


def test_cloud_key_signs_with_pin_and_locks_after_five_failures(runtime):
    vault = runtime.vault
    birth = dt.date(1990, 1, 1)
    handle = vault.create_key(7, "482915", birth)
    issued = runtime.ca.issue(IssuanceRequest("financial", handle.public_key, SubjectIdentity("김민지", "한빛은행")))
    vault.bind_certificate(handle.key_id, issued.serial)
    signing = runtime.signatures.signing

    document = signing.sign(DATA, signing.cloud_key(issued.serial, "482915"), tsa="local")
    assert runtime.signatures.verifier.verify(document.signature_der, DATA).valid

    for attempt in range(4):
        with pytest.raises(VerificationFailed):
            signing.sign(DATA, signing.cloud_key(issued.serial, "000001"))
    with pytest.raises(Locked):
        signing.sign(DATA, signing.cloud_key(issued.serial, "000001"))
    with pytest.raises(Locked):
        signing.sign(DATA, signing.cloud_key(issued.serial, "482915"))


def test_unknown_tsa_url_is_a_clear_error(runtime, holder_key, random_num):
    issued = issue_joint(runtime, holder_key, random_num)
    p12 = pkcs12.write_pkcs12(holder_key, issued.certificate, [], PASSWORD, "x", kdf_rounds=1000)
    signing = runtime.signatures.signing
    key = signing.pkcs12_key(p12, PASSWORD)
    with pytest.raises(InvalidInput) as refused:
        signing.sign(DATA, key, tsa="http://127.0.0.1:9/tsa")
    assert refused.value.field == "tsa"
    with pytest.raises(InvalidInput):
        signing.sign(DATA, key, tsa="ftp://example/tsa")


# --- the example bank ---------------------------------------------------------------------------


def _pkcs12_key(runtime, holder_key, random_num):
    issued = issue_joint(runtime, holder_key, random_num)
    p12 = pkcs12.write_pkcs12(holder_key, issued.certificate, [], PASSWORD, "x", kdf_rounds=1000)
    return runtime.signatures.signing.pkcs12_key(p12, PASSWORD)


def test_login_with_signed_challenge_consumes_it(runtime, clock, holder_key, random_num):
    bank = runtime.signatures.relying_party
    signing = runtime.signatures.signing
    key = _pkcs12_key(runtime, holder_key, random_num)

    challenge = bank.new_challenge()
    with pytest.raises(VerificationFailed):
        bank.login(challenge.id, signing.sign(b"something else", key, attached=True).signature_der)
    signature = signing.sign(challenge.challenge, key).signature_der
    verification = bank.login(challenge.id, signature)
    assert verification.report.signer_subject == key.certificate.subject.rfc4514_string()
    with pytest.raises(NotFound):
        bank.login(challenge.id, signature)

    late = bank.new_challenge()
    clock.advance(minutes=6)
    with pytest.raises(NotFound):
        bank.login(late.id, signing.sign(late.challenge, key).signature_der)


def test_transfer_order_is_kept_as_evidence_with_audit(runtime, holder_key, random_num):
    bank = runtime.signatures.relying_party
    signing = runtime.signatures.signing
    key = _pkcs12_key(runtime, holder_key, random_num)
    order = json.dumps({"from_account": "110-123-456789", "to_account": "220-987-654321", "amount": 50000}).encode()

    with pytest.raises(PolicyViolation):
        bank.accept_transfer(order, signing.sign(order, key).signature_der)
    with pytest.raises(InvalidInput):
        bad = b'{"from_account": "1", "to_account": "2", "amount": -5}'
        bank.accept_transfer(bad, signing.sign(bad, key, tsa="local").signature_der)

    attached = signing.sign(order, key, attached=True, tsa="local")
    record = bank.accept_transfer(None, attached.signature_der)
    assert record.content == order and record.timestamp == attached.timestamp
    again = bank.evidence(record.reference).as_json()
    assert again["order"]["amount"] == 50000 and again["verification"]["valid"] is True
    with runtime.db.reader() as session:
        assert session.get(SignatureEvidence, record.id).signature_der == attached.signature_der
        last = session.execute(select(AuditRecord).order_by(AuditRecord.seq.desc())).scalars().first()
        assert last.action == "rp.transfer-accepted" and last.subject_id == str(record.id)
        assert audit.verify(session).ok
    with pytest.raises(NotFound):
        bank.evidence(str(record.id))  # the sequential id opens nothing
    with pytest.raises(NotFound):
        bank.evidence(record.reference[:-1])


def test_tsa_token_answers_a_request_built_elsewhere(runtime):
    request = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {"hash_algorithm": {"algorithm": "sha512"}, "hashed_message": b"\x01" * 64},
            "cert_req": False,
        }
    ).dump()
    result = parse_timestamp_response(runtime.tsa.respond(request), request_der=request)
    assert result.granted and result.message_imprint.hash_algorithm == "sha512"
