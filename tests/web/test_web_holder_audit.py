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
    assert english.status_code == 400 and errors(english.text) == ["The two passwords differ."]

    same = client.post(SIGNUP, data={**HOLDER, "password_confirm": HOLDER["password"], "csrf_token": token}, follow_redirects=False)
    assert same.status_code == 303 and same.headers["location"] == "/issue/apply"


def test_revoking_needs_a_reason_the_holder_chose(client, runtime):
    token, _, serial = _cloud_certificate(client, runtime)

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


# -- renewal, reissuance and locked certificates as the holder reads them ---------------------------
#
# Regressions: the cloud renewal page said "choose where to keep your certificate", showed the new
# PIN's rules and asked for the PIN twice (the server refused a renewal without the repeat) though
# the holder types the current PIN once; the done page said "issued" after a renewal and a
# reissue; a certificate locked after 5 wrong PINs still had "갱신" and was offered for signing;
# the language switch of the reissue process page (재발급 절차 진행) jumped to the store step.

PIN = "258013"


def _store_codes(page: str) -> tuple[str, str]:
    """The reference number and authorization code a store or reissue-process page shows."""
    reference = re.search(r'<dt>(?:참조번호|Reference number)</dt><dd><code[^>]*>(\d+)<', page).group(1)
    code = re.search(r'<dt>(?:인가코드|Authorization code)</dt><dd><code[^>]*>([^<]+)<', page).group(1)
    return reference, code


def _verified_store_page(client, runtime) -> tuple[str, str, str]:
    """Sign up, apply for a financial certificate and verify with an OTP: the CSRF token, the OTP
    secret and the store page (step 5) that shows the reference number and authorization code."""
    token = csrf(client)
    client.post(SIGNUP, data={**HOLDER, "csrf_token": token})
    client.post("/issue/apply", data={"csrf_token": token, "product": "financial"})
    secret = runtime.registrar.enroll(member_id(runtime), "otp", actor="test")["secret"]
    client.post("/issue/verify/otp", data={"csrf_token": token, "response": pyotp.TOTP(secret).at(runtime.clock.now())})
    return token, secret, client.post("/issue/verify-complete", data={"csrf_token": token}).text


def _cloud_certificate(client, runtime) -> tuple[str, str, str]:
    """Sign up, verify with an OTP and store a financial certificate in the cloud: the CSRF
    token, the OTP secret and the certificate's serial."""
    token, secret, page = _verified_store_page(client, runtime)
    reference, code = _store_codes(page)
    done = client.post("/issue/store", data={"csrf_token": token, "reference_number": reference, "authorization_code": code, "pin": PIN, "pin_confirm": PIN})
    assert "인증서가 발급되었습니다" in done.text
    return token, secret, runtime.lifecycle.certificates_of(member_id(runtime))[0].serial


def _into_renewal_window(client, runtime) -> str:
    """Ten days before the certificate expires (the session has run out meanwhile): log in again."""
    runtime.clock.advance(days=3 * 365 - 10)
    token = csrf(client)
    client.post("/login", data={"csrf_token": token, "institution": "HANBIT", "login_id": HOLDER["login_id"], "password": HOLDER["password"], "next": "/certificates"})
    return token


def test_a_cloud_renewal_asks_for_the_current_pin_once_and_says_renewed(client, runtime):
    _, _, serial = _cloud_certificate(client, runtime)
    token = _into_renewal_window(client, runtime)
    assert f'action="/certificates/{serial}/renew"' in client.get("/certificates").text

    english = client.post(f"/certificates/{serial}/renew?lang=en", data={"csrf_token": token})
    assert english.status_code == 200 and "Enter the PIN of the certificate you are renewing." in english.text
    page = client.post(f"/certificates/{serial}/renew?lang=ko", data={"csrf_token": token}).text
    assert "<h1>인증서 갱신</h1>" in page and "갱신할 인증서의 PIN을 입력하세요." in page
    for shown in (english.text, page):
        # Neither the storage choice, nor the new PIN's rules, nor a second PIN box.
        assert 'name="pin"' in shown and "pin_confirm" not in shown
        for text in ("인증서를 보관할 곳을 선택하세요", "Choose where to keep your certificate", "PIN 다시 입력", "PIN again",
                     "같은 숫자 반복", "Not all the same digit", "클라우드에 저장", "Store in the cloud"):
            assert text not in shown, text
    reference, code = _store_codes(page)

    # The current PIN, once: a wrong one is refused in place (still the renewal), the right one renews.
    wrong = client.post("/issue/store", data={"csrf_token": token, "reference_number": reference, "authorization_code": code, "pin": "369258"})
    assert wrong.status_code == 401 and errors(wrong.text) == ["PIN이 틀렸습니다. 4번 더 틀리면 인증서가 잠깁니다."]
    assert "<h1>인증서 갱신</h1>" in wrong.text and "pin_confirm" not in wrong.text
    done = client.post("/issue/store", data={"csrf_token": token, "reference_number": reference, "authorization_code": code, "pin": PIN})
    assert done.status_code == 200 and "<h1>인증서가 갱신되었습니다</h1>" in done.text
    new_serial = re.search(r'id="issued-serial">([0-9a-f]+)<', done.text).group(1)
    assert new_serial != serial and runtime.lifecycle.show(serial).revocation_reason == "superseded"
    # Pressed twice (or reloaded): the same page, in English too.
    again = client.post("/issue/store?lang=en", data={"csrf_token": token, "reference_number": reference, "authorization_code": code, "pin": PIN})
    assert "<h1>Your certificate is renewed</h1>" in again.text and f'id="issued-serial">{new_serial}<' in again.text


def test_a_new_pin_is_still_typed_twice(client, runtime):
    token, _, page = _verified_store_page(client, runtime)
    assert "인증서를 보관할 곳을 선택하세요." in page and 'name="pin_confirm"' in page and "같은 숫자 반복" in page
    reference, code = _store_codes(page)
    once = client.post("/issue/store", data={"csrf_token": token, "reference_number": reference, "authorization_code": code, "pin": PIN})
    assert once.status_code == 400 and errors(once.text) == ["두 PIN이 다릅니다."]


def _reissue_to_process_page(client, runtime, token: str, secret: str) -> str:
    client.post("/reissue", data={"csrf_token": token, "reason": "lost", "product": "financial"})
    runtime.clock.advance(seconds=31)  # the next OTP code
    client.post("/reissue/verify/otp", data={"csrf_token": token, "response": pyotp.TOTP(secret).at(runtime.clock.now())})
    sent = client.post("/reissue/verify/sms/start", data={"csrf_token": token}).text
    challenge_id = re.search(r'name="challenge_id" value="([^"]+)"', sent).group(1)
    code = re.search(r"\[(\d{6})\]", runtime.registrar.outbox(member_id=member_id(runtime))[0]["text"]).group(1)
    client.post("/reissue/verify/sms", data={"csrf_token": token, "challenge_id": challenge_id, "response": code})
    page = client.post("/reissue/verify-complete", data={"csrf_token": token})
    assert page.status_code == 200 and '<li class="current" aria-current="step"><span class="num">3</span> 재발급 절차 진행</li>' in page.text
    return page.text


def test_the_reissue_process_page_switches_language_in_place(client, runtime):
    token, secret, old = _cloud_certificate(client, runtime)
    page = _reissue_to_process_page(client, runtime, token, secret)
    reference, code = _store_codes(page)

    switch = re.search(r'<form method="post" action="([^"]+)" class="switch">(.*?)</form>', page, re.S)
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', switch.group(2)))
    assert switch.group(1) == "/reissue/store?lang=en" and fields["reference_number"] == reference
    english = client.post(switch.group(1), data=fields)
    # The same step (3 of 4) in English, with the same codes and the certificate it replaces.
    assert english.status_code == 200 and "<h1>Reissuance in progress</h1>" in english.text
    assert '<li class="current" aria-current="step"><span class="num">3</span> Reissuance in progress</li>' in english.text
    assert reference in english.text and code in english.text and old in english.text
    assert 'name="pin"' not in english.text
    # ...and back to Korean from there.
    switch = re.search(r'<form method="post" action="([^"]+)" class="switch">(.*?)</form>', english.text, re.S)
    korean = client.post(switch.group(1), data=dict(re.findall(r'name="([^"]+)" value="([^"]*)"', switch.group(2))))
    assert switch.group(1) == "/reissue/store?lang=ko" and "<h1>재발급 절차 진행</h1>" in korean.text

    # The page's own button still leads on to the store step.
    store = client.post("/reissue/store", data={"csrf_token": token, "action": "show", "reference_number": reference, "authorization_code": code})
    assert '<span class="num">4</span> 인증서 다운로드 및 저장' in store.text and 'name="pin_confirm"' in store.text
    # A key file made in the browser is announced as reissued too.
    assert 'data-msg-done="인증서가 재발급되었습니다. 파일을 내려받아 안전한 곳에 보관하세요."' in store.text


def test_the_done_page_says_renewed_or_reissued(client, runtime):
    _, secret, first = _cloud_certificate(client, runtime)
    token = _into_renewal_window(client, runtime)
    reference, code = _store_codes(client.post(f"/certificates/{first}/renew", data={"csrf_token": token}).text)
    renewed = client.post("/issue/store", data={"csrf_token": token, "reference_number": reference, "authorization_code": code, "pin": PIN, "pin_confirm": PIN})
    assert "<title>인증서가 갱신되었습니다 · " in renewed.text and "<h1>인증서가 갱신되었습니다</h1>" in renewed.text
    assert "발급되었습니다" not in renewed.text and "기존 인증서는 폐지되었습니다" in renewed.text
    second = re.search(r'id="issued-serial">([0-9a-f]+)<', renewed.text).group(1)

    reference, code = _store_codes(_reissue_to_process_page(client, runtime, token, secret))
    entries = {"csrf_token": token, "reference_number": reference, "authorization_code": code, "pin": "147036", "pin_confirm": "147036"}
    reissued = client.post("/reissue/store", data=entries)
    assert "<h1>인증서가 재발급되었습니다</h1>" in reissued.text and "기존 인증서는 폐지되었습니다" in reissued.text
    assert f"<code>{second}</code>" in reissued.text and runtime.lifecycle.show(second).status == "revoked"
    assert "<h1>Your certificate is reissued</h1>" in client.post("/reissue/store?lang=en", data=entries).text


def test_a_locked_certificate_is_neither_renewed_nor_offered_for_signing(client, runtime):
    _, _, serial = _cloud_certificate(client, runtime)
    token = _into_renewal_window(client, runtime)
    for _ in range(5):
        client.post("/sign", data={"csrf_token": token, "serial": serial, "kind": "transfer", "to_account": "123-456", "amount": "1000", "pin": "369258"})
    assert runtime.lifecycle.show(serial).locked is True

    page = client.get("/certificates").text
    row = re.search(rf'<tr data-serial="{serial}".*?</tr>', page, re.S).group(0)
    assert f"/certificates/{serial}/renew" not in row and ">갱신<" not in row
    assert 'data-locked' in row and '<a href="/reissue">재발급하기</a>' in row
    # A renewal posted anyway is refused before any application is opened.
    refused = client.post(f"/certificates/{serial}/renew", data={"csrf_token": token})
    assert refused.status_code == 423 and errors(refused.text) == ["PIN을 5번 틀려 인증서가 잠겼습니다. 인증서를 재발급해 주세요."]
    assert runtime.lifecycle.open_application_of(member_id(runtime)) is None
    english = client.post(f"/certificates/{serial}/renew?lang=en", data={"csrf_token": token})
    assert errors(english.text) == ["This certificate is locked after too many wrong PINs: reissue it."]

    sign = client.get("/sign?lang=ko").text
    assert f'<option value="{serial}"' not in sign and 'action="/sign"' not in sign
    assert "잠긴 인증서는 서명에 쓸 수 없습니다" in sign and '<a href="/reissue">재발급하기</a>' in sign
    assert "클라우드에 보관된 유효한 인증서가 없습니다" not in sign


def test_pages_ask_for_no_favicon(client):
    for path in ("/", "/issue", "/login", "/console"):
        assert '<link rel="icon" href="data:,">' in client.get(path).text
