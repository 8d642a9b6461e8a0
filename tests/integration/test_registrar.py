"""The registration authority on both backends: members, protected personal data, identity proofs."""

from __future__ import annotations

import json
import logging
import re

import pyotp
import pytest
from sqlalchemy import func, select

from fincert.errors import Conflict, InvalidInput, Locked, NotFound, Unauthorized, VerificationFailed
from fincert.storage.models import AuditRecord
from fincert.storage.models_ra import Member, MemberCredential

RRN = "900101-1234567"


@pytest.fixture
def registrar(runtime):
    runtime.institutions.ensure_samples()
    return runtime.registrar


def register(registrar, institution="HANBIT", rrn=RRN, **kw):
    fields = dict(name="홍길동", rrn=rrn, phone="010-1234-5678", email="hong@example.com", actor="test")
    fields.update(kw)
    return registrar.register_member(institution, **fields)


def audit_actions(runtime):
    with runtime.db.reader() as s:
        return [r.action for r in s.execute(select(AuditRecord).order_by(AuditRecord.seq)).scalars()]


def test_register_stores_only_protected_resident_number(runtime, registrar):
    view = register(registrar)
    assert view.rrn_masked == "900101-1******"
    with runtime.db.reader() as s:
        row = s.get(Member, view.id)
        assert b"9001011234567" not in row.rrn_ciphertext and "1234567" not in row.rrn_index
        assert row.rrn_masked == "900101-1******"
    assert registrar.resident_number(view.id).digits == "9001011234567"
    assert audit_actions(runtime)[-1] == "member.registered"


def test_one_person_one_member_per_institution_recognised_across(runtime, registrar):
    first = register(registrar)
    with pytest.raises(Conflict):
        register(registrar, rrn="9001011234567")  # the same person, written without hyphen
    other = register(registrar, institution="NURI")
    assert registrar.person_index(first.id) == registrar.person_index(other.id)
    third = register(registrar, institution="NURI", rrn="850505-2345678")
    assert registrar.person_index(third.id) != registrar.person_index(first.id)


@pytest.mark.parametrize(
    "field, value",
    [("rrn", "901301-1234567"), ("rrn", "900101-5"), ("phone", "02-123"), ("email", "not-an-email"), ("name", "")],
)
def test_each_invalid_field_is_named_and_nothing_is_stored(runtime, registrar, field, value):
    before = audit_actions(runtime)
    with pytest.raises(InvalidInput) as excinfo:
        register(registrar, **{field: value})
    assert excinfo.value.field == field
    assert value not in excinfo.value.detail or value == ""
    with runtime.db.reader() as s:
        assert s.execute(select(func.count()).select_from(Member)).scalar_one() == 0
    assert audit_actions(runtime) == before


def test_online_signup_needs_login_and_password(registrar):
    with pytest.raises(InvalidInput):
        register(registrar, online=True)
    view = register(registrar, online=True, login_id="hong90", password="s3cret-pass")
    assert view.login_id == "hong90"


def test_login_throttled_per_account(runtime, registrar, clock):
    register(registrar, login_id="hong90", password="s3cret-pass", online=True)
    for _ in range(5):
        with pytest.raises(Unauthorized):
            registrar.login("HANBIT", "hong90", "wrong-pass1", address="10.0.0.1")
    with pytest.raises(Locked):
        registrar.login("HANBIT", "hong90", "s3cret-pass", address="10.0.0.1")
    clock.advance(minutes=16)
    login = registrar.login("HANBIT", "hong90", "s3cret-pass", address="10.0.0.1")
    principal = registrar.authenticate_member(login.token)
    assert principal.member_id == registrar.list_members(principal.institution_id)[0].id
    assert [e["method"] for e in registrar.session_evidence(principal)] == ["login"]
    clock.advance(minutes=31)
    with pytest.raises(Unauthorized):
        registrar.authenticate_member(login.token)


def test_otp_verification_replay_and_audit(runtime, registrar, clock):
    member = register(registrar)
    handout = registrar.enroll(member.id, "otp", actor="op")
    assert handout["uri"].startswith("otpauth://totp/")
    totp = pyotp.TOTP(handout["secret"])
    challenge = registrar.start_verification(member.id, "otp", actor="m")
    code = totp.at(clock.now())
    evidence = registrar.complete_verification(member.id, "otp", challenge.challenge_id, code, actor="m")
    assert evidence["method"] == "otp" and code not in json.dumps(evidence)
    with pytest.raises(VerificationFailed):
        registrar.complete_verification(member.id, "otp", challenge.challenge_id, code, actor="m")
    actions = audit_actions(runtime)
    assert actions[-2:] == ["verification.succeeded", "verification.failed"]


def test_security_card_locks_after_five_failures_and_reenroll_unlocks(runtime, registrar):
    member = register(registrar)
    card = registrar.enroll(member.id, "security-card", actor="op")
    assert len(card["cells"]) == 35 and all(len(v) == 4 and v.isdigit() for v in card["cells"].values())
    for attempt in range(5):
        challenge = registrar.start_verification(member.id, "security-card", actor="m")
        first, second = challenge.prompt["first_cell"], challenge.prompt["second_cell"]
        right = card["cells"][first][:2] + card["cells"][second][2:]
        wrong = f"{(int(right) + 1) % 10000:04d}"
        with pytest.raises(Locked if attempt == 4 else VerificationFailed):
            registrar.complete_verification(member.id, "security-card", challenge.challenge_id, wrong, actor="m")
    with pytest.raises(Locked):
        registrar.start_verification(member.id, "security-card", actor="m")
    assert "verification.locked" in audit_actions(runtime)
    assert registrar.show_member(member.id).methods["security-card"] == "locked"
    card = registrar.enroll(member.id, "security-card", actor="op")
    challenge = registrar.start_verification(member.id, "security-card", actor="m")
    right = card["cells"][challenge.prompt["first_cell"]][:2] + card["cells"][challenge.prompt["second_cell"]][2:]
    assert registrar.complete_verification(member.id, "security-card", challenge.challenge_id, right, actor="m")["method"] == "security-card"


def test_credential_state_is_encrypted(runtime, registrar):
    member = register(registrar)
    card = registrar.enroll(member.id, "security-card", actor="op")
    otp = registrar.enroll(member.id, "otp", actor="op")
    with runtime.db.reader() as s:
        blobs = b"".join(c.state_ciphertext for c in s.execute(select(MemberCredential)).scalars())
    assert otp["secret"].encode() not in blobs
    assert "".join(card["cells"].values()).encode()[:40] not in blobs
    assert b"hong@example.com" not in blobs


def test_sms_code_goes_to_outbox_and_verifies(runtime, registrar):
    member = register(registrar)
    challenge = registrar.start_verification(member.id, "sms", actor="m")
    messages = registrar.outbox(member_id=member.id)
    assert len(messages) == 1 and messages[0]["to"] == "010-1234-5678"
    code = re.search(r"\[(\d{6})\]", messages[0]["text"]).group(1)
    assert registrar.complete_verification(member.id, "sms", challenge.challenge_id, code, actor="m")["method"] == "sms"


def test_a_code_sent_earlier_is_answered_without_its_challenge_id(runtime, registrar):
    """The counter's CLI path (``cert reissue --sms-code``): the pending code is found by reading
    the credential, which on PostgreSQL happens in a READ ONLY transaction (FOR UPDATE there
    was an internal error on every call)."""
    member = register(registrar)
    with pytest.raises(NotFound, match="no sms code was sent"):
        registrar.complete_pending(member.id, "sms", "123456", actor="counter")
    registrar.start_verification(member.id, "sms", actor="counter")
    code = re.search(r"\[(\d{6})\]", registrar.outbox(member_id=member.id)[0]["text"]).group(1)
    with pytest.raises(VerificationFailed):
        registrar.complete_pending(member.id, "sms", "000000" if code != "000000" else "111111", actor="counter")
    evidence = registrar.complete_pending(member.id, "sms", code, actor="counter")
    assert evidence["method"] == "sms"


def test_operator_scope(registrar):
    member = register(registrar)
    _, token = registrar.add_operator("NURI", "nuri-op")
    principal = registrar.authenticate_operator(token)
    with pytest.raises(NotFound):
        registrar.show_member(member.id, institution_id=principal.institution_id)
    with pytest.raises(Unauthorized):
        registrar.authenticate_operator("fop_forged")


def test_resident_number_never_logged(runtime, registrar, caplog):
    caplog.set_level(logging.DEBUG)
    member = register(registrar)
    registrar.enroll(member.id, "otp", actor="op")
    with pytest.raises(Conflict):
        register(registrar)
    text = caplog.text
    assert "1234567" not in text and "9001011234567" not in text


@pytest.mark.parametrize(
    ("method", "hint"),
    [("sms", "registered phone"), ("email", "registered address"), ("webauthn", "enrolled by the holder"), ("fax", "security-card and otp$")],
)
def test_enrolling_a_method_an_operator_does_not_enroll_says_why(registrar, method, hint):
    member = register(registrar)
    with pytest.raises(InvalidInput, match=hint) as refused:
        registrar.enroll(member.id, method, actor="op")
    assert refused.value.field == "method"
