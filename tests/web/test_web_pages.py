"""The web layer without a browser: security headers, CSRF, metrics, JSON logs, the console's
institution scoping, errors in the page's language with the typed values kept, and a complete
Korean/English catalogue."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pyotp
import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from web_helpers import csrf, database_url, demo_client, errors  # noqa: F401 - the page tests' fixture and helpers

from fincert.errors import Locked, VerificationFailed
from fincert.logs import JsonFormatter
from fincert.web.i18n import MESSAGES, error_text
from fincert.web.rendering import ISSUE_STEPS, REISSUE_STEPS

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "fincert" / "web" / "templates"
HOLDER = {"name": "홍길동", "rrn": "900101-1234567", "phone": "010-1234-5678", "email": "h@example.com", "login_id": "hong90", "password": "s3cret-pass"}


@pytest.fixture
def client(runtime):
    # Unlike the other page tests, a server error here raises in the test.
    yield from demo_client(runtime, raise_server_exceptions=True)


def test_security_headers_everywhere_and_hsts_only_over_https(client):
    for path in ("/", "/api/v1/institutions", "/no-such-page"):
        response = client.get(path)
        policy = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "strict-transport-security" not in response.headers
    assert "max-age=" in client.get("/", headers={"x-forwarded-proto": "https"}).headers["strict-transport-security"]


def test_csrf_required_for_cookie_sessions_and_forms_but_not_bearer_calls(client, runtime):
    token = csrf(client)
    form = {**HOLDER}
    refused = client.post("/issue/institutions/HANBIT/signup", data=form)
    assert refused.status_code == 403 and refused.json()["type"].endswith("/csrf")
    assert client.post("/issue/institutions/HANBIT/signup", data={**form, "csrf_token": "x" * 43}).status_code == 403
    assert runtime.registrar.list_members(runtime.institutions.get("HANBIT").id) == []  # nothing stored
    signed_up = client.post("/issue/institutions/HANBIT/signup", data={**form, "csrf_token": token}, follow_redirects=False)
    assert signed_up.status_code == 303 and client.cookies.get("fincert_session", "").startswith("fms_")

    # The session cookie also authenticates the API: a cookie call needs the header token...
    assert client.post("/api/v1/me/verifications/sms").status_code == 403
    sent = client.post("/api/v1/me/verifications/sms", headers={"x-csrf-token": token})
    assert sent.status_code == 200, sent.text
    # ...while a bearer-token call carries no ambient authority and is exempt.
    login = runtime.registrar.login("HANBIT", "hong90", "s3cret-pass", address="test")
    bare = TestClient(client.app)
    assert bare.get("/api/v1/me", headers={"authorization": f"Bearer {login.token}"}).status_code == 200
    assert bare.post("/api/v1/auth/logout", headers={"authorization": f"Bearer {login.token}"}).status_code == 204


def test_signup_errors_in_place_in_korean_and_english_keeping_all_but_the_password_and_resident_number(client):
    token = csrf(client)
    bad = {**HOLDER, "rrn": "901301-1234567", "csrf_token": token}
    korean = client.post("/issue/institutions/HANBIT/signup", data=bad)
    assert korean.status_code == 400
    assert errors(korean.text) == ["주민등록번호를 확인해 주세요 (YYMMDD-GNNNNNN 형식, 올바른 날짜와 성별 자리)."]
    # The resident number is not written back, like the password (tests/web/test_web_bad_input.py).
    assert "901301-1234567" not in korean.text and 'value="hong90"' in korean.text and "s3cret-pass" not in korean.text
    english = client.post("/issue/institutions/HANBIT/signup?lang=en", data=bad)
    assert errors(english.text) and "resident" in errors(english.text)[0].lower() and '<html lang="en">' in english.text


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_wrong_otp_and_wrong_pin_are_shown_with_attempts_left(client, runtime):
    # Metrics are process-wide: compare with what earlier tests left.
    rejected_before = _sample("fincert_verification_total", method="otp", outcome="rejected")
    issued_before = _sample("fincert_issuance_total", outcome="success", product="financial", storage="cloud")
    token = csrf(client)
    client.post("/issue/institutions/HANBIT/signup", data={**HOLDER, "csrf_token": token})
    assert client.post("/issue/apply", data={"csrf_token": token, "product": "financial"}, follow_redirects=False).status_code == 303
    member_id = runtime.registrar.list_members(runtime.institutions.get("HANBIT").id)[0].id
    secret = runtime.registrar.enroll(member_id, "otp", actor="test")["secret"]
    wrong = client.post("/issue/verify/otp", data={"csrf_token": token, "response": "000000" if pyotp.TOTP(secret).at(runtime.clock.now()) != "000000" else "111111"})
    assert wrong.status_code == 401 and errors(wrong.text) == ["OTP 번호가 틀렸습니다. 9번 더 틀리면 잠깁니다."]
    ok = client.post("/issue/verify/otp", data={"csrf_token": token, "response": pyotp.TOTP(secret).at(runtime.clock.now())}, follow_redirects=False)
    assert ok.status_code == 303
    store = client.post("/issue/verify-complete", data={"csrf_token": token})
    reference = re.search(r'id="reference-number">(\d+)<', store.text).group(1)
    code = re.search(r'id="authorization-code">([^<]+)<', store.text).group(1)
    mismatch = client.post("/issue/store", data={"csrf_token": token, "reference_number": reference, "authorization_code": code, "pin": "258013", "pin_confirm": "258014"})
    assert errors(mismatch.text) == ["두 PIN이 다릅니다."]
    done = client.post("/issue/store", data={"csrf_token": token, "reference_number": reference, "authorization_code": code, "pin": "258013", "pin_confirm": "258013"})
    serial = re.search(r'id="issued-serial">([0-9a-f]+)<', done.text).group(1)
    signed = client.post("/sign", data={"csrf_token": token, "serial": serial, "kind": "document", "document": "계약서", "pin": "369258"})
    assert signed.status_code == 401 and errors(signed.text) == ["PIN이 틀렸습니다. 4번 더 틀리면 인증서가 잠깁니다."]
    assert "계약서" in signed.text and "369258" not in signed.text
    # Four more wrong PINs lock it: "my certificates" says so and links to reissuance.
    for _ in range(4):
        client.post("/sign", data={"csrf_token": token, "serial": serial, "kind": "document", "document": "계약서", "pin": "369258"})
    mine = client.get("/certificates")
    row = re.search(rf'<tr data-serial="{serial}".*?</tr>', mine.text, re.S).group(0)
    assert "data-locked" in row and "PIN을 5번 틀려 잠겼습니다." in row and 'href="/reissue"' in row
    # Put on hold by the institution: the page says whom to ask.
    runtime.lifecycle.revoke(serial, "certificateHold", actor="op")
    row = re.search(rf'<tr data-serial="{serial}".*?</tr>', client.get("/certificates").text, re.S).group(0)
    assert "효력 정지" in row and "data-held" in row and "금융기관에 효력 회복을 요청하거나 재발급해 주세요." in row

    metrics = client.get("/metrics").text
    assert "fincert_verification_total" in metrics and "fincert_issuance_seconds_bucket" in metrics
    assert _sample("fincert_verification_total", method="otp", outcome="rejected") == rejected_before + 1
    assert _sample("fincert_issuance_total", outcome="success", product="financial", storage="cloud") == issued_before + 1
    assert 'route="/{flow}/verify/{method}"' in metrics and serial not in metrics


def test_console_is_scoped_to_the_operators_institution(client, runtime):
    token = csrf(client)
    member = runtime.registrar.register_member("NURI", name="김철수", rrn="850505-1234567", phone="010-9999-8888", email="k@example.com", actor="test")
    runtime.registrar.add_operator("HANBIT", "hanbit-op", password="operator-pass-1")
    assert client.get("/console/members", follow_redirects=False).headers["location"] == "/console"
    wrong = client.post("/console/login", data={"csrf_token": token, "username": "hanbit-op", "password": "nope-nope-1"})
    assert wrong.status_code == 401 and errors(wrong.text) == ["운영자 아이디 또는 비밀번호가 틀렸습니다."] and 'value="hanbit-op"' in wrong.text
    client.post("/console/login", data={"csrf_token": token, "username": "hanbit-op", "password": "operator-pass-1"})
    assert "김철수" not in client.get("/console/members").text
    assert client.get(f"/console/members/{member.id}").status_code == 404
    assert client.post(f"/console/members/{member.id}/enroll", data={"csrf_token": token, "method": "otp"}).status_code == 404
    assert runtime.registrar.show_member(member.id).methods.get("otp") is None

    own = client.post("/console/members", data={"csrf_token": token, "name": "이영희", "rrn": "950303-2234567", "phone": "010-5555-4444", "email": "y@example.com"}, follow_redirects=False)
    assert own.status_code == 303
    enrolled = client.post(own.headers["location"] + "/enroll", data={"csrf_token": token, "method": "otp"})
    assert "<svg" in enrolled.text and "otpauth://totp/" in enrolled.text
    audit = client.get("/console/audit").text
    assert "credential.enrolled" in audit and "member.registered" in audit


def test_demo_pages_only_in_demo_mode(client, runtime):
    assert client.get("/outbox").status_code == 200
    runtime.settings.demo = False
    assert client.get("/outbox").status_code == 404
    assert client.post("/console/demo-operator", data={"csrf_token": csrf(client), "institution": "HANBIT"}).status_code == 404


def test_every_catalogue_key_used_by_the_pages_exists_in_both_languages():
    used = set()
    for template in TEMPLATES.rglob("*.html"):
        used |= set(re.findall(r"(?<![\w.])t\('([a-zA-Z_.\-]+)'[,)]", template.read_text()))
    used |= set(ISSUE_STEPS) | set(REISSUE_STEPS)
    dynamic = {
        "method.": ("login", "otp", "security-card", "webauthn", "sms", "email"),
        "product.": ("financial", "joint"),
        "status.": ("active", "revoked", "expired", "locked"),
        "storage.": ("cloud", "file"),
        "type.": ("bank", "securities", "card", "insurance"),
        "verify.lead.": ("issue", "reissue", "manage"),
        "reason.": ("lost", "forgotten", "locked", "expired", "keyCompromise", "superseded", "affiliationChanged", "cessationOfOperation", "certificateHold", "unspecified"),
    }
    used |= {prefix + value for prefix, values in dynamic.items() for value in values}
    assert sorted(k for k in used if k not in MESSAGES) == []
    assert all(ko and en for ko, en in MESSAGES.values())


def test_error_texts_in_korean_never_fall_back_to_english():
    assert error_text(VerificationFailed("security card answer is wrong (2 attempts left before lock)"), "ko", "security-card") == "보안카드 번호가 틀렸습니다. 2번 더 틀리면 잠깁니다."
    assert error_text(Locked("too many failed attempts; this credential is locked"), "ko").startswith("여러 번 틀려 잠겼습니다")
    assert error_text(VerificationFailed("the code is wrong (3 tries left)"), "ko", "sms") == "인증번호가 틀렸습니다. 3번 더 입력할 수 있습니다."
    # English pages show the detail as a sentence (the API's detail is lowercase, without a full stop).
    assert error_text(VerificationFailed("the code is wrong (3 tries left)"), "en") == "The code is wrong (3 tries left)."
    assert error_text(VerificationFailed("wrong login ID or password"), "en") == "Wrong login ID or password."


def test_json_logs_carry_no_personal_data():
    record = logging.LogRecord("fincert.test", logging.INFO, __file__, 1, "member %s phone %s mail %s token %s code %s", ("900101-1234567", "010-1234-5678", "hong@example.com", "fms_abcdefghijklmnop", "123456"), None)
    record.route = "/api/v1/me"
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert entry["route"] == "/api/v1/me" and entry["level"] == "info"
    for secret in ("900101", "1234567", "010-1234", "hong@", "fms_abc", "123456"):
        assert secret not in line


def test_an_application_open_elsewhere_is_offered_for_resume_or_cancel_never_an_open_redirect(client, runtime):
    token = csrf(client)
    client.post("/issue/institutions/HANBIT/signup", data={**HOLDER, "csrf_token": token})
    member_id = runtime.registrar.list_members(runtime.institutions.get("HANBIT").id)[-1].id
    # Opened "in another browser": through the service, so this browser has no cookie for it.
    elsewhere = runtime.lifecycle.open_application(member_id, "issue", product="joint", actor="test")
    page = client.get("/issue/apply")
    assert f'data-open-application="{elsewhere.id}"' in page.text and "/applications/open/resume" in page.text
    refused = client.post("/issue/apply", data={"csrf_token": token, "product": "financial"})
    assert refused.status_code == 409 and "진행 중인 신청이 있습니다" in refused.text
    assert runtime.lifecycle.open_application_of(member_id).id == elsewhere.id

    resumed = client.post("/applications/open/resume", data={"csrf_token": token, "next": "/issue/apply"}, follow_redirects=False)
    assert resumed.headers["location"] == "/issue/verify" and resumed.cookies.get("fincert_application") == str(elsewhere.id)
    # Now it is this browser's application: no offer, and applying again replaces it.
    assert "data-open-application" not in client.get("/issue/apply").text
    client.cookies.delete("fincert_application")

    cancelled = client.post("/applications/open/cancel", data={"csrf_token": token, "next": "https://evil.example/"}, follow_redirects=False)
    assert cancelled.headers["location"] == "/issue/apply?cancelled=1"
    assert runtime.lifecycle.open_application_of(member_id) is None
    assert runtime.lifecycle.application(elsewhere.id, member_id=member_id).status == "cancelled"
    assert client.post("/issue/apply", data={"csrf_token": token, "product": "joint"}, follow_redirects=False).status_code == 303
