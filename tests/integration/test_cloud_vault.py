"""The cloud-key vault on SQLite and PostgreSQL: wrapping, PIN unlock per signature, lockout,
PIN change, destruction in the caller's transaction, and parallel guesses on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import threading
from collections import Counter
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from sqlalchemy import select

from fincert.ca.authority import IssuanceRequest, SubjectIdentity
from fincert.clock import FakeClock
from fincert.errors import ConfigurationError, Conflict, Forbidden, InvalidInput, Locked, NotFound, VerificationFailed
from fincert.keys.vault import CloudKeyVault, KdfParameters
from fincert.sign.cms import sign_cms_with
from fincert.sign.raw_signer import RawSigner
from fincert.storage import audit
from fincert.storage.db import Database
from fincert.storage.models import AuditRecord
from fincert.storage.models_vault import CloudKey

BIRTH = dt.date(1985, 3, 7)
PIN = "480613"
OTHER_PIN = "250814"
MASTER = bytes(range(32))
DATA = "계좌이체 1,000,000원 승인".encode()


@pytest.fixture
def db(database_url: str):
    database = Database(database_url)
    database.migrate()
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def vault(db: Database, clock: FakeClock) -> CloudKeyVault:
    return CloudKeyVault(db, MASTER, clock)


def key_row(db: Database, key_id: str) -> CloudKey:
    with db.reader() as s:
        return s.execute(select(CloudKey).where(CloudKey.key_id == key_id)).scalar_one()


def key_audit(db: Database, key_id: str) -> list[AuditRecord]:
    with db.reader() as s:
        return list(
            s.execute(
                select(AuditRecord).where(AuditRecord.subject_id == key_id).order_by(AuditRecord.seq)
            ).scalars()
        )


def verify_pkcs1(public_key, signature: bytes, data: bytes = DATA) -> None:
    public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())


def test_created_key_signs_and_the_database_holds_no_plaintext(vault, db):
    handle = vault.create_key(7, PIN, BIRTH)

    verify_pkcs1(handle.public_key, vault.sign(handle.key_id, PIN, DATA))
    pss = vault.sign(handle.key_id, PIN, DATA, "sha384", pss=True)
    handle.public_key.verify(pss, DATA, padding.PSS(padding.MGF1(hashes.SHA384()), 48), hashes.SHA384())

    row = key_row(db, handle.key_id)
    assert row.member_id == 7 and row.failures == 0 and row.locked_at is None
    assert (row.kdf_memory_kib, row.kdf_time_cost, row.kdf_parallelism) == (8192, 1, 1)
    modulus = handle.public_key.public_numbers().n.to_bytes(256, "big")
    rsa_oid = bytes.fromhex("06092a864886f70d010101")
    assert modulus in row.public_key_der
    for blob in (row.wrapped_key, row.kdf_salt):
        assert modulus not in blob and rsa_oid not in blob
    assert PIN.encode() not in row.wrapped_key

    records = key_audit(db, handle.key_id)
    assert [r.action for r in records] == ["cloud-key.created", "cloud-key.unlocked", "cloud-key.unlocked"]
    assert all(PIN not in r.details_json for r in records)
    with db.reader() as s:
        assert audit.verify(s).ok


def test_wrong_pin_counts_commits_and_success_resets(vault, db):
    handle = vault.create_key(1, PIN, BIRTH)

    with pytest.raises(VerificationFailed) as wrong:
        vault.sign(handle.key_id, OTHER_PIN, DATA)
    assert "4 tries left" in wrong.value.detail and OTHER_PIN not in wrong.value.detail
    with pytest.raises(VerificationFailed, match="3 tries left"):
        vault.verify_pin(handle.key_id, OTHER_PIN)
    # The counter change was committed although the calls raised.
    assert vault.status(handle.key_id).failures == 2
    assert vault.status(handle.key_id).remaining_tries == 3

    vault.verify_pin(handle.key_id, PIN)
    status = vault.status(handle.key_id)
    assert status.failures == 0 and status.remaining_tries == 5 and status.last_used_at is not None

    failed = [r for r in key_audit(db, handle.key_id) if r.action == "cloud-key.unlock-failed"]
    assert [json.loads(r.details_json)["remaining_tries"] for r in failed] == [4, 3]
    assert all(OTHER_PIN not in r.details_json for r in failed)


def test_fifth_consecutive_failure_locks_and_the_right_pin_is_then_refused(vault, db):
    handle = vault.create_key(1, PIN, BIRTH)
    for left in (4, 3, 2, 1):
        with pytest.raises(VerificationFailed, match=f"{left} tr"):
            vault.sign(handle.key_id, OTHER_PIN, DATA)

    with pytest.raises(Locked, match="must be reissued"):
        vault.sign(handle.key_id, OTHER_PIN, DATA)
    with pytest.raises(Locked, match="must be reissued"):
        vault.sign(handle.key_id, PIN, DATA)
    with pytest.raises(Locked):
        vault.change_pin(handle.key_id, PIN, "250815", BIRTH)

    status = vault.status(handle.key_id)
    assert status.state == "locked" and status.failures == 5 and status.remaining_tries == 0
    actions = Counter(r.action for r in key_audit(db, handle.key_id))
    assert actions["cloud-key.unlock-failed"] == 5
    assert actions["cloud-key.locked"] == 1
    assert actions["cloud-key.unlock-refused"] == 2
    assert actions["cloud-key.unlocked"] == 0


def test_malformed_input_is_refused_without_counting(vault):
    handle = vault.create_key(1, PIN, BIRTH)
    for bad in ("12345", "abcdef", "１２３４５６", 480613):
        with pytest.raises(InvalidInput) as caught:
            vault.sign(handle.key_id, bad, DATA)  # type: ignore[arg-type]
        assert caught.value.field == "pin"
    with pytest.raises(InvalidInput, match="hash"):
        vault.sign(handle.key_id, PIN, DATA, "md5")  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        vault.sign("0" * 32, PIN, DATA)
    assert vault.status(handle.key_id).failures == 0


def test_create_key_enforces_the_pin_rules(vault, db):
    for bad, rule in (("123456", "consecutive"), ("999999", "repeated"), ("850307", "date of birth")):
        with pytest.raises(InvalidInput, match=rule):
            vault.create_key(1, bad, BIRTH)
    assert vault.keys_of_member(1) == []


def test_database_and_pin_without_the_server_key_do_not_unwrap(vault, db, clock):
    handle = vault.create_key(1, PIN, BIRTH)
    other_master = bytes(range(100, 132))

    # Configured with the wrong master key, the vault says so and counts nothing.
    stranger = CloudKeyVault(db, other_master, clock)
    with pytest.raises(ConfigurationError, match="master key"):
        stranger.sign(handle.key_id, PIN, DATA)
    assert vault.status(handle.key_id).failures == 0

    # Someone holding the whole database and the right PIN, but not the server key, still
    # cannot unwrap: the key-encryption key depends on the server key too.
    stranger._master_key_id = key_row(db, handle.key_id).server_key_id
    with pytest.raises(VerificationFailed):
        stranger.sign(handle.key_id, PIN, DATA)
    verify_pkcs1(handle.public_key, vault.sign(handle.key_id, PIN, DATA))


def test_tampered_kdf_parameters_break_the_wrapping(vault, db):
    handle = vault.create_key(1, PIN, BIRTH)
    with db.transaction() as s:  # an attacker lowering the stored cost to speed up guessing
        s.execute(CloudKey.__table__.update().where(CloudKey.key_id == handle.key_id).values(kdf_memory_kib=4096))
    with pytest.raises(VerificationFailed):
        vault.sign(handle.key_id, PIN, DATA)


def test_change_pin(vault, db):
    handle = vault.create_key(1, PIN, BIRTH)
    generation = key_row(db, handle.key_id).generation

    with pytest.raises(InvalidInput) as rule:
        vault.change_pin(handle.key_id, PIN, "654321", BIRTH)
    assert rule.value.field == "new_pin"
    with pytest.raises(InvalidInput, match="differ"):
        vault.change_pin(handle.key_id, PIN, PIN, BIRTH)
    assert key_row(db, handle.key_id).generation == generation
    assert vault.status(handle.key_id).failures == 0

    with pytest.raises(VerificationFailed, match="4 tries left"):
        vault.change_pin(handle.key_id, "111112", OTHER_PIN, BIRTH)
    vault.change_pin(handle.key_id, PIN, OTHER_PIN, BIRTH)

    row = key_row(db, handle.key_id)
    assert row.generation == generation + 1 and row.failures == 0
    with pytest.raises(VerificationFailed):
        vault.sign(handle.key_id, PIN, DATA)
    verify_pkcs1(handle.public_key, vault.sign(handle.key_id, OTHER_PIN, DATA))
    assert "cloud-key.pin-changed" in [r.action for r in key_audit(db, handle.key_id)]


def test_an_unlock_decided_on_a_rewrapped_key_is_redone(vault, monkeypatch):
    handle = vault.create_key(1, PIN, BIRTH)
    decide = vault._decide
    raced: list[bool] = []

    def pin_changes_meanwhile(snapshot, key, **kw):
        if not raced:
            raced.append(True)
            vault.change_pin(handle.key_id, PIN, OTHER_PIN, BIRTH)
        return decide(snapshot, key, **kw)

    monkeypatch.setattr(vault, "_decide", pin_changes_meanwhile)
    # The old PIN did unwrap the snapshot, but the PIN changed before the decision.
    with pytest.raises(VerificationFailed):
        vault.sign(handle.key_id, PIN, DATA)
    assert vault.status(handle.key_id).failures == 1


def test_destroy_joins_the_callers_transaction(vault, db):
    handle = vault.create_key(1, PIN, BIRTH)

    with pytest.raises(RuntimeError), db.transaction() as s:
        vault.destroy(handle.key_id, session=s, actor="operator")
        raise RuntimeError("the revocation beside it failed")
    assert vault.status(handle.key_id).state == "active"
    verify_pkcs1(handle.public_key, vault.sign(handle.key_id, PIN, DATA))

    with db.transaction() as s:
        status = vault.destroy(handle.key_id, session=s, actor="operator")
    assert status.state == "destroyed"
    row = key_row(db, handle.key_id)
    assert row.wrapped_key == b"" and row.kdf_salt == b""
    with pytest.raises(Forbidden, match="destroyed"):
        vault.sign(handle.key_id, PIN, DATA)
    assert vault.destroy(handle.key_id, actor="operator").state == "destroyed"  # idempotent
    actions = Counter(r.action for r in key_audit(db, handle.key_id))
    assert actions["cloud-key.destroyed"] == 1 and actions["cloud-key.unlock-refused"] == 1


def test_bind_certificate(vault):
    first = vault.create_key(1, PIN, BIRTH)
    second = vault.create_key(2, PIN, BIRTH)
    vault.bind_certificate(first.key_id, "0A1B")
    assert vault.key_for_certificate("0a1b").key_id == first.key_id
    with pytest.raises(Conflict):
        vault.bind_certificate(second.key_id, "0a1b")
    with pytest.raises(InvalidInput):
        vault.bind_certificate(second.key_id, "not-hex")
    vault.bind_certificate(first.key_id, "0a1c")  # renewal re-binds
    assert vault.status(first.key_id).certificate_serial == "0a1c"
    with pytest.raises(NotFound):
        vault.key_for_certificate("0a1b")


def test_cms_signed_by_a_cloud_key_verifies_with_openssl(runtime, tmp_path: Path):
    vault = runtime.vault
    handle = vault.create_key(42, PIN, BIRTH)
    issued = runtime.ca.issue(
        IssuanceRequest("financial", handle.public_key, SubjectIdentity("홍길동", "한빛은행"), member_id=42)
    )
    vault.bind_certificate(handle.key_id, issued.serial)
    hierarchy = runtime.ca.hierarchy()

    signer = vault.signer(handle.key_id, PIN)
    assert isinstance(signer, RawSigner) and PIN not in repr(signer)
    signature = sign_cms_with(DATA, raw_signer=signer, certificate=issued.certificate, chain=[hierarchy.issuing])

    pem = serialization.Encoding.PEM
    (tmp_path / "sig.der").write_bytes(signature)
    (tmp_path / "data").write_bytes(DATA)
    (tmp_path / "chain.pem").write_bytes(hierarchy.root.public_bytes(pem) + hierarchy.issuing.public_bytes(pem))
    result = subprocess.run(
        ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", tmp_path / "sig.der",
         "-content", tmp_path / "data", "-CAfile", tmp_path / "chain.pem", "-purpose", "any",
         "-out", tmp_path / "out"],
        capture_output=True,
    )
    assert result.returncode == 0, result.stderr.decode()

    with pytest.raises(VerificationFailed):
        sign_cms_with(DATA, raw_signer=vault.signer(handle.key_id, OTHER_PIN),
                      certificate=issued.certificate, chain=[hierarchy.issuing])


# -- parallel guesses on PostgreSQL ------------------------------------------------------------


def replay(records: list[AuditRecord], max_failures: int = 5) -> int:
    """Check the key's audit trail is a serial history of the counter rules; return the count."""
    failures, locked = 0, False
    for record in records:
        details = json.loads(record.details_json)
        if record.action == "cloud-key.unlocked":
            assert not locked, "a success was recorded after the lock"
            failures = 0
        elif record.action == "cloud-key.unlock-failed":
            assert not locked, "a failure was counted after the lock"
            failures += 1
            assert details["failures"] == failures
        elif record.action == "cloud-key.locked":
            assert failures == max_failures
            locked = True
        elif record.action == "cloud-key.unlock-refused":
            assert locked
    return failures


def fire(vault: CloudKeyVault, key_id: str, pins: list[str]) -> Counter[str]:
    barrier = threading.Barrier(len(pins))
    outcomes: Counter[str] = Counter()
    guard = threading.Lock()

    def attempt(pin: str) -> None:
        barrier.wait()
        try:
            vault.sign(key_id, pin, DATA)
            result = "signed"
        except (VerificationFailed, Locked) as error:
            result = type(error).__name__
        with guard:
            outcomes[result] += 1

    threads = [threading.Thread(target=attempt, args=(pin,)) for pin in pins]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_parallel_wrong_pins_lock_at_exactly_five_on_postgresql(postgres_url):
    database = Database(postgres_url)
    database.migrate()
    try:
        vault = CloudKeyVault(database, MASTER, FakeClock())
        handle = vault.create_key(1, PIN, BIRTH)

        outcomes = fire(vault, handle.key_id, [OTHER_PIN] * 12)

        assert outcomes == Counter(VerificationFailed=4, Locked=8)
        status = vault.status(handle.key_id)
        assert status.state == "locked" and status.failures == 5
        records = key_audit(database, handle.key_id)
        actions = Counter(r.action for r in records)
        assert actions["cloud-key.unlock-failed"] == 5 and actions["cloud-key.locked"] == 1
        assert actions["cloud-key.unlock-refused"] == 7
        replay(records)
        # Once locked, the right PIN fired in parallel gets nothing either.
        assert fire(vault, handle.key_id, [PIN] * 6) == Counter(Locked=6)
    finally:
        database.dispose()


def test_parallel_right_and_wrong_pins_form_one_serial_history_on_postgresql(postgres_url):
    database = Database(postgres_url)
    database.migrate()
    try:
        vault = CloudKeyVault(database, MASTER, FakeClock())
        handle = vault.create_key(1, PIN, BIRTH)
        for _ in range(4):
            with pytest.raises(VerificationFailed):
                vault.sign(handle.key_id, OTHER_PIN, DATA)

        outcomes = fire(vault, handle.key_id, [OTHER_PIN] * 4 + [PIN] * 6)

        records = key_audit(database, handle.key_id)
        final_failures = replay(records)
        actions = Counter(r.action for r in records)
        # Every signature handed out has its "unlocked" record, and none came after the lock.
        assert outcomes["signed"] == actions["cloud-key.unlocked"]
        assert sum(outcomes.values()) == 10
        status = vault.status(handle.key_id)
        assert status.failures == final_failures
        assert (status.state == "locked") == (actions["cloud-key.locked"] == 1)
        if status.state == "locked":
            assert outcomes["signed"] == 0  # the first decision was the 5th failure
        with database.reader() as s:
            assert audit.verify(s).ok
    finally:
        database.dispose()


def test_kdf_parameters_are_validated():
    with pytest.raises(ConfigurationError):
        KdfParameters(memory_kib=4, time_cost=1)
    with pytest.raises(ConfigurationError):
        KdfParameters(time_cost=0)


def test_signature_does_not_verify_under_another_key(vault):
    first = vault.create_key(1, PIN, BIRTH)
    second = vault.create_key(1, OTHER_PIN, BIRTH)
    with pytest.raises(InvalidSignature):
        verify_pkcs1(second.public_key, vault.sign(first.key_id, PIN, DATA))
