"""What a holder ran into walking the pages in a browser.

Regressions: sign-up asked for the password once, so a typo became a password the holder could not
log in with; "my certificates" chose the revocation reason 개인키 유출 for the holder, so one click
on 폐지 revoked for good with a reason never picked; the verify page listed one method twice
("보안카드 보안카드") after two proofs; English pages said "identity not yet verified: still needed
otp|security-card|webauthn", named the institution by its code ("already a member of BORAM"),
showed Korean inside English sentences (on hold, expired) and "A issuance application".
"""

from __future__ import annotations

import re

import pyotp
from web_helpers import client, csrf, database_url, errors  # noqa: F401 - the page tests' fixtures and helpers

from fincert.errors import Conflict, VerificationFailed
from fincert.web.i18n import error_text

HOLDER = {"name": "홍길동", "rrn": "851212-1357913", "phone": "010-1234-5678", "email": "h@example.com", "login_id": "hong90", "password": "s3cret-pass"}
SIGNUP = "/issue/institutions/HANBIT/signup"
HANGUL = re.compile(r"[가-힣]")


def member_id(runtime) -> int:
    return runtime.registrar.list_members(runtime.institutions.get("HANBIT").id)[0].id


def test_sign_up_asks_for_the_password_twice_and_refuses_two_different_ones(client, runtime):
    page = client.get("/issue/institutions/HANBIT").text
    assert re.search(r'<label for="f-password_confirm">비밀번호 확인</label>\s*<input id="f-password_confirm" name="password_confirm" type="password"', page)

    token = csrf(client)
    refused = client.post(SIGNUP, data={**HOLDER, "password_confirm": "s3cret-pasz", "csrf_token": token})
    assert refused.status_code == 400 and errors(refused.text) == ["두 비밀번호가 다릅니다."]
    assert 'id="f-password_confirm" name="password_confirm" type="password" autocomplete="new-password" required aria-invalid="true"' in refused.text
    # What was typed stays, secrets excepted; nobody was registered.
    assert 'value="hong90"' in refused.text and 'value="h@example.com"' in refused.text
    for secret in ("s3cret-pass", "s3cret-pasz", HOLDER["rrn"]):
        assert secret not in refused.text
    assert runtime.registrar.list_members(runtime.institutions.get("HANBIT").id) == []

    english = client.post(SIGNUP + "?lang=en", data={**HOLDER, "password_confirm": "", "csrf_token": token})
    assert english.status_code == 400 and errors(english.text) == ["the two passwords differ"]

    same = client.post(SIGNUP, data={**HOLDER, "password_confirm": HOLDER["password"], "csrf_token": token}, follow_redirects=False)
    assert same.status_code == 303 and same.headers["location"] == "/issue/apply"


def test_revoking_needs_a_reason_the_holder_chose(client, runtime):
    token = csrf(client)
    client.post(SIGNUP, data={**HOLDER, "csrf_token": token})
    client.post("/issue/apply", data={"csrf_token": token, "product": "financial"})
    secret = runtime.registrar.enroll(member_id(runtime), "otp", actor="test")["secret"]
    client.post("/issue/verify/otp", data={"csrf_token": token, "response": pyotp.TOTP(secret).at(runtime.clock.now())})
    store = client.post("/issue/verify-complete", data={"csrf_token": token}).text
    reference = re.search(r'id="reference-number">(\d+)<', store).group(1)
    code = re.search(r'id="authorization-code">([^<]+)<', store).group(1)
    client.post("/issue/store", data={"csrf_token": token, "reference_number": reference, "authorization_code": code, "pin": "258013", "pin_confirm": "258013"})
    serial = runtime.lifecycle.certificates_of(member_id(runtime))[0].serial

    page = client.get("/certificates").text
    select = re.search(r'<select id="r-1" name="reason" required>(.*?)</select>', page).group(1)
    assert select.startswith('<option value="">폐지 사유 선택</option>') and " selected" not in select

    # The identity proof of this session is fresh: only the reason holds the revocation back.
    refused = client.post(f"/certificates/{serial}/revoke", data={"csrf_token": token, "reason": ""})
    assert refused.status_code == 400 and errors(refused.text) == ["사유를 선택해 주세요."]
    assert runtime.lifecycle.show(serial).status == "active"
    done = client.post(f"/certificates/{serial}/revoke", data={"csrf_token": token, "reason": "cessationOfOperation"}, follow_redirects=False)
    assert done.headers["location"] == "/certificates?revoked=1" and runtime.lifecycle.show(serial).status == "revoked"


def test_a_method_proved_twice_is_listed_once(client, runtime):
    token = csrf(client)
    client.post(SIGNUP, data={**HOLDER, "csrf_token": token})
    client.post("/issue/apply", data={"csrf_token": token, "product": "financial"})
    cells = runtime.registrar.enroll(member_id(runtime), "security-card", actor="test")["cells"]
    for _ in range(2):
        start = client.post("/issue/verify/security-card/start", data={"csrf_token": token}).text
        first = re.search(r'id="f-card1"[^>]*data-cell="(\d+)"', start).group(1)
        second = re.search(r'id="f-card2"[^>]*data-cell="(\d+)"', start).group(1)
        challenge = re.search(r'name="challenge_id" value="([^"]+)"', start).group(1)
        answered = client.post(
            "/issue/verify/security-card",
            data={"csrf_token": token, "challenge_id": challenge, "first": cells[first][:2], "second": cells[second][2:]},
            follow_redirects=False,
        )
        assert answered.status_code == 303
    page = client.get("/issue/verify").text
    assert page.count('<span class="badge ok">보안카드</span>') == 1


def test_english_messages_are_sentences_for_a_holder(client, runtime):
    token = csrf(client)
    client.post(SIGNUP, data={**HOLDER, "csrf_token": token})
    client.post("/issue/apply", data={"csrf_token": token, "product": "financial"})
    unverified = client.post("/issue/verify-complete?lang=en", data={"csrf_token": token})
    assert errors(unverified.text) == ["Your identity is not verified yet: complete the checks still needed, listed above."]
    assert errors(client.post("/issue/verify-complete?lang=ko", data={"csrf_token": token}).text) == ["본인 확인이 아직 끝나지 않았습니다."]

    # The same person signing up again, in another browser: the institution by name, not its code.
    other = client.__class__(client.app)
    other_token = csrf(other)
    again = other.post(SIGNUP + "?lang=en", data={**HOLDER, "login_id": "hong91", "csrf_token": other_token})
    assert again.status_code == 409 and errors(again.text) == ["You are already a member of this institution: log in on the right."]

    for error in (
        Conflict("certificate 00ff is on hold (효력 정지): the institution can restore it"),
        Conflict("certificate 00ff has expired while on hold: reissue it (재발급, reason expired)"),
        Conflict("certificate 00ff is not active: it has expired, so reissue it (재발급, reason expired)"),
        VerificationFailed("identity not yet verified: still needed otp|security-card|webauthn"),
    ):
        english = error_text(error, "en")
        assert not HANGUL.search(english) and "|" not in english and english[0].isupper(), english
        assert HANGUL.search(error_text(error, "ko"))


def test_an_application_open_elsewhere_reads_as_english(client, runtime):
    token = csrf(client)
    client.post(SIGNUP, data={**HOLDER, "csrf_token": token})
    runtime.lifecycle.open_application(member_id(runtime), "issue", product="joint", actor="test")
    page = client.get("/issue/apply?lang=en").text
    assert "An application for issuance, started in another browser or device, is open" in page
    assert "A issuance" not in page


def test_an_application_cookie_of_another_member_is_no_application_here(client, runtime):
    # Another member's application, left in this browser's cookie (a shared PC, a session that
    # ran out): the page says none is open here and links to a new one, and nothing is verified.
    token = csrf(client)
    client.post(SIGNUP, data={**HOLDER, "csrf_token": token})
    elsewhere = runtime.lifecycle.open_application(member_id(runtime), "issue", product="joint", actor="test")
    client.post("/logout", data={"csrf_token": token})
    token = csrf(client)
    client.post(SIGNUP, data={**HOLDER, "rrn": "900101-1234567", "login_id": "kim90", "phone": "010-9999-5678", "csrf_token": token})
    secret = runtime.registrar.enroll(runtime.registrar.list_members(runtime.institutions.get("HANBIT").id)[1].id, "otp", actor="test")["secret"]
    client.post("/issue/verify/otp", data={"csrf_token": token, "response": pyotp.TOTP(secret).at(runtime.clock.now())})
    for value in (str(elsewhere.id), "0"):
        client.cookies.set("fincert_application", value)
        answer = client.post("/issue/verify-complete", data={"csrf_token": token})
        assert answer.status_code == 409 and errors(answer.text) == ["진행 중인 신청이 없습니다. 먼저 인증서를 신청해 주세요."]
        assert '<a class="button secondary" href="/issue/apply">처음부터 다시 신청</a>' in answer.text
    assert runtime.lifecycle.application(elsewhere.id, member_id=member_id(runtime)).status == "created"
