"""The wizard when the holder does what browsers let them do: switch the language on a page that
answered a form, reload it or press a button twice, come back after the session expired.

Regressions: the language link of every page drawn in answer to a POST (a form shown again with
its error, the store page with the reference number and authorization code, a console handout)
opened that POST-only path with GET and landed on "page not found"; a second press of "store in the
cloud" (or reloading the done page) said "지금 상태에서는 처리할 수 없습니다" over the PIN form of a
certificate that was issued; reloading the store page (the browser posts "next step" again) left the
holder on the verify page with no way on; a session that expired during identity verification sent
the holder, after logging in again, to "my certificates" instead of the step they were on; the
English pages showed internal numbers ("member 1 has no otp enrolled", "application 3 is issued").
"""

from __future__ import annotations

import re

import pyotp
import pytest
from fastapi.testclient import TestClient
from web_helpers import client, csrf, database_url, errors  # noqa: F401 - the page tests' fixtures and helpers

HOLDER = {"name": "홍길동", "rrn": "851212-1357913", "phone": "010-1234-5678", "email": "h@example.com", "login_id": "hong90", "password": "s3cret-pass"}
PIN = "258013"
BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def switch_link(html: str) -> str:
    return re.search(r'<a href="([^"]+)" lang="(?:en|ko)" hreflang=', html).group(1).replace("&amp;", "&")


def verified(client: TestClient, runtime, token: str, product: str = "financial") -> None:
    """Signed up, applied for a certificate (financial unless asked), identity verified with an OTP."""
    assert client.post("/issue/institutions/HANBIT/signup", data={**HOLDER, "csrf_token": token}, follow_redirects=False).status_code == 303
    assert client.post("/issue/apply", data={"csrf_token": token, "product": product}, follow_redirects=False).status_code == 303
    member_id = runtime.registrar.list_members(runtime.institutions.get("HANBIT").id)[0].id
    secret = runtime.registrar.enroll(member_id, "otp", actor="test")["secret"]
    answer = client.post("/issue/verify/otp", data={"csrf_token": token, "response": pyotp.TOTP(secret).at(runtime.clock.now())}, follow_redirects=False)
    assert answer.status_code == 303


def store_page(client: TestClient, runtime, token: str, product: str = "financial") -> tuple[str, str, str]:
    verified(client, runtime, token, product)
    page = client.post("/issue/verify-complete", data={"csrf_token": token})
    reference = re.search(r'id="reference-number">(\d+)<', page.text).group(1)
    code = re.search(r'id="authorization-code">([^<]+)<', page.text).group(1)
    return page.text, reference, code


# -- the language switch ----------------------------------------------------------------------------


def test_switching_language_on_a_form_shown_again_opens_that_step_not_page_not_found(client, runtime):
    token = csrf(client)
    again = client.post("/issue/institutions/HANBIT/signup", data={**HOLDER, "email": "nope", "csrf_token": token})
    assert again.status_code == 400
    english = client.get(switch_link(again.text), headers=BROWSER)
    assert english.status_code == 200 and '<html lang="en">' in english.text
    assert 'action="/issue/institutions/HANBIT/signup"' in english.text

    verified(client, runtime, token)
    wrong = client.post("/issue/verify/otp", data={"csrf_token": token, "response": "000000"}, headers=BROWSER)
    assert wrong.status_code == 401
    link = switch_link(wrong.text)
    assert link.startswith("/issue/verify?")
    korean = client.get(link, headers=BROWSER)
    assert korean.status_code == 200 and "Page not found" not in korean.text

    # A failed login keeps where it goes next in the other language too.
    failed = client.post("/login", data={"csrf_token": token, "next": "/reissue", "institution": "HANBIT", "login_id": "hong90", "password": "wrong-pass-1"})
    assert failed.status_code == 401 and switch_link(failed.text) == "/login?next=%2Freissue&lang=en"
    assert 'name="next" value="/reissue"' in client.get(switch_link(failed.text), headers=BROWSER).text

    runtime.registrar.add_operator("HANBIT", "hanbit-op", password="operator-pass-1")
    client.post("/console/login", data={"csrf_token": token, "username": "hanbit-op", "password": "operator-pass-1"})
    member_id = runtime.registrar.list_members(runtime.institutions.get("HANBIT").id)[0].id
    handout = client.post(f"/console/members/{member_id}/enroll", data={"csrf_token": token, "method": "security-card"})
    assert handout.status_code == 200
    assert client.get(switch_link(handout.text), headers=BROWSER).status_code == 200


def test_the_store_page_switches_language_with_its_reference_number_and_code(client, runtime):
    token = csrf(client)
    page, reference, code = store_page(client, runtime, token)
    switch = re.search(r'<form method="post" action="([^"]+)" class="switch">(.*?)</form>', page, re.S)
    assert switch is not None and switch.group(1) == "/issue/store?lang=en"
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', switch.group(2)))
    english = client.post(switch.group(1), data=fields)
    assert english.status_code == 200 and '<html lang="en">' in english.text
    assert f'id="reference-number">{reference}<' in english.text and f'id="authorization-code">{code}<' in english.text
    assert "Download and store" in english.text and "인증서 다운로드" not in english.text
    done = client.post("/issue/store", data={"csrf_token": token, "reference_number": reference, "authorization_code": code, "pin": PIN, "pin_confirm": PIN})
    assert 'id="issued-serial"' in done.text


@pytest.mark.parametrize(
    "path, page",
    [
        ("/issue/institutions/HANBIT/signup", "/issue/institutions/HANBIT"),
        ("/issue/verify/otp", "/issue/verify"),
        ("/reissue/verify/sms/start", "/reissue/verify"),
        ("/reissue/verify-complete", "/reissue/verify"),
        ("/certificates/00ff/revoke", "/certificates"),
        ("/console/login", "/console"),
        ("/console/members/7/enroll", "/console/members/7"),
    ],
)
def test_a_forms_address_opened_as_a_page_goes_to_that_step(client, path, page):
    """Enter in the address bar of an error page, or a restored tab, asks for the form's address
    with GET: the holder gets the step's page, not "page not found"."""
    answer = client.get(path, headers=BROWSER, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == page
    assert client.get("/nonsense/store", headers=BROWSER).status_code == 404


# -- pressed twice, reloaded -------------------------------------------------------------------------


def test_storing_twice_or_reloading_the_done_page_shows_the_issued_certificate(client, runtime):
    token = csrf(client)
    _, reference, code = store_page(client, runtime, token)
    entries = {"csrf_token": token, "reference_number": reference, "authorization_code": code, "pin": PIN, "pin_confirm": PIN}
    first = client.post("/issue/store", data=entries)
    serial = re.search(r'id="issued-serial">([0-9a-f]+)<', first.text).group(1)
    again = client.post("/issue/store", data=entries)
    assert again.status_code == 200 and errors(again.text) == []
    assert f'id="issued-serial">{serial}<' in again.text and "인증서가 발급되었습니다" in again.text
    assert PIN not in again.text
    member_id = runtime.registrar.list_members(runtime.institutions.get("HANBIT").id)[0].id
    assert [c.serial for c in runtime.lifecycle.certificates_of(member_id)] == [serial]


def test_reloading_the_store_page_says_to_apply_again_and_links_there(client, runtime):
    token = csrf(client)
    store_page(client, runtime, token)
    again = client.post("/issue/verify-complete", data={"csrf_token": token})
    assert again.status_code == 409
    assert errors(again.text) == ["이미 본인 확인을 마친 신청입니다. 참조번호와 인가코드는 한 번만 표시되므로 처음부터 다시 신청해 주세요."]
    assert '<a class="button secondary" href="/issue/apply">처음부터 다시 신청</a>' in again.text
    english = client.post("/issue/verify-complete?lang=en", data={"csrf_token": token})
    assert errors(english.text) == ["This application is already verified. Its reference number and authorization code are shown only once: please apply again."]
    # Applying again replaces the verified application: the wizard goes on.
    assert client.post("/issue/apply", data={"csrf_token": token, "product": "financial"}, follow_redirects=False).headers["location"] == "/issue/verify"


# -- the session expired mid-step ----------------------------------------------------------------------


def test_an_expired_session_during_verification_comes_back_to_that_step_after_login(client, runtime):
    token = csrf(client)
    verified(client, runtime, token)
    client.cookies.set("fincert_session", "fms_" + "x" * 40)  # the session is over
    answer = client.post("/issue/verify/sms/start", data={"csrf_token": token}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login?next=/issue/verify&expired=1"
    login = client.get(answer.headers["location"])
    assert "로그인 시간이 지났습니다" in login.text and 'name="next" value="/issue/verify"' in login.text
    back = client.post("/login", data={"csrf_token": token, "next": "/issue/verify", "institution": "HANBIT", "login_id": HOLDER["login_id"], "password": HOLDER["password"]}, follow_redirects=False)
    assert back.headers["location"] == "/issue/verify"
    assert client.post("/reissue/verify-complete", data={"csrf_token": token}, cookies={"fincert_session": "fms_gone"}, follow_redirects=False).headers["location"] == "/login?next=/reissue/verify&expired=1"
    # Never logged in: no "expired" notice.
    client.cookies.delete("fincert_session")
    assert client.get("/issue/verify", follow_redirects=False).headers["location"] == "/login?next=/issue/verify"


# -- messages without internal numbers ----------------------------------------------------------------


def test_a_method_not_enrolled_is_said_without_internal_numbers(client, runtime):
    token = csrf(client)
    client.post("/issue/institutions/HANBIT/signup", data={**HOLDER, "csrf_token": token})
    korean = client.post("/issue/verify/security-card/start", data={"csrf_token": token})
    assert korean.status_code == 404 and errors(korean.text) == ["보안카드가 등록되어 있지 않습니다. 금융기관 창구에서 등록해 주세요."]
    english = client.post("/issue/verify/otp?lang=en", data={"csrf_token": token, "response": "123456"})
    assert errors(english.text) == ["You have no OTP enrolled: ask your institution to enroll one."]
    unknown = client.post("/login", data={"csrf_token": token, "institution": "NOPE", "login_id": "hong90", "password": "x"})
    assert errors(unknown.text) == ["No such institution: choose one from the list."]


# -- an error is read with its input ---------------------------------------------------------------


def _input(html: str, input_id: str) -> str:
    return re.search(rf'<input [^>]*\bid="{input_id}"[^>]*>', html).group(0)


def test_a_wrong_pin_or_code_is_tied_to_its_input_for_screen_readers(client, runtime):
    token = csrf(client)
    _, reference, code = store_page(client, runtime, token)
    weak = client.post("/issue/store", data={"csrf_token": token, "reference_number": reference, "authorization_code": code, "pin": "111111", "pin_confirm": "111111"})
    assert weak.status_code == 400 and 'id="e-pin"' in weak.text
    pin = _input(weak.text, "f-pin")
    assert 'aria-invalid="true"' in pin and re.search(r'aria-describedby="[^"]*\be-pin\b', pin)
    assert "aria-invalid" not in _input(weak.text, "f-pin_confirm")
    differ = client.post("/issue/store", data={"csrf_token": token, "reference_number": reference, "authorization_code": code, "pin": PIN, "pin_confirm": "258014"})
    assert 'aria-describedby="e-pin_confirm"' in _input(differ.text, "f-pin_confirm")

    sent = client.post("/issue/verify/sms/start", data={"csrf_token": token})
    challenge_id = re.search(r'name="challenge_id" value="([^"]+)"', sent.text).group(1)
    prompt = re.search(r'name="prompt" value="([^"]+)"', sent.text).group(1).replace("&#34;", '"').replace("&quot;", '"')
    wrong = client.post("/issue/verify/sms", data={"csrf_token": token, "challenge_id": challenge_id, "prompt": prompt, "response": "000000"})
    assert wrong.status_code == 401 and 'id="e-sms"' in wrong.text
    field = _input(wrong.text, "f-sms")
    assert 'aria-invalid="true"' in field and 'aria-describedby="e-sms"' in field


def test_pages_name_the_institution_as_holders_know_it_and_keep_the_logout_on_the_done_page(client, runtime):
    token = csrf(client)
    _, reference, code = store_page(client, runtime, token)
    apply_page = client.get("/issue/apply")
    assert "(한빛은행)" in apply_page.text and "HANBIT" not in re.search(r"<main.*</main>", apply_page.text, re.S).group(0)
    done = client.post("/issue/store", data={"csrf_token": token, "reference_number": reference, "authorization_code": code, "pin": PIN, "pin_confirm": PIN})
    assert 'action="/logout"' in done.text and "홍길동님" in done.text
    mine = client.get("/certificates")
    assert "<caption>한빛은행에서 발급받은 인증서</caption>" in mine.text


def test_the_console_audit_log_reads_in_korean(client, runtime):
    token = csrf(client)
    runtime.registrar.add_operator("HANBIT", "hanbit-op", password="operator-pass-1")
    client.post("/console/login", data={"csrf_token": token, "username": "hanbit-op", "password": "operator-pass-1"})
    client.post("/console/members", data={"csrf_token": token, "name": "이영희", "rrn": "950303-2234567", "phone": "010-5555-4444", "email": "y@example.com"})
    audit = client.get("/console/audit").text
    # The institution's name in the details as written, not as \\uXXXX escapes.
    assert "한빛은행" in re.search(r"<tbody>.*</tbody>", audit, re.S).group(0) and "\\ud55c" not in audit
    assert "<td>회원 1</td>" in audit and "<td>member 1</td>" not in audit
    assert "<td>Member 1</td>" in client.get("/console/audit?lang=en").text


def test_applying_for_a_second_financial_certificate_is_refused_in_plain_english_too(client, runtime):
    token = csrf(client)
    _, reference, code = store_page(client, runtime, token)
    client.post("/issue/store", data={"csrf_token": token, "reference_number": reference, "authorization_code": code, "pin": PIN, "pin_confirm": PIN})
    korean = client.post("/issue/apply", data={"csrf_token": token, "product": "financial"})
    assert korean.status_code == 409 and errors(korean.text) == ["이미 유효한 금융인증서가 있습니다. 재발급하거나 이 금융기관에 타기관 인증서로 등록해 주세요."]
    english = client.post("/issue/apply?lang=en", data={"csrf_token": token, "product": "financial"})
    assert errors(english.text) == ["You already hold an active financial certificate (one per person): reissue it, or register it at this institution."]


def test_asking_for_the_code_twice_shows_the_form_for_the_code_sent(client, runtime):
    """A double click or a reload of "send a code" within the resend interval used to answer 429
    without the code form: the code on the holder's phone could not be typed anywhere."""
    token = csrf(client)
    client.post("/issue/institutions/HANBIT/signup", data={**HOLDER, "csrf_token": token})
    first = client.post("/issue/verify/sms/start", data={"csrf_token": token})
    challenge_id = re.search(r'name="challenge_id" value="([^"]+)"', first.text).group(1)
    again = client.post("/issue/verify/sms/start", data={"csrf_token": token})
    assert again.status_code == 200 and errors(again.text) == []
    assert f'name="challenge_id" value="{challenge_id}"' in again.text and "010-****-5678" in again.text
    member_id = runtime.registrar.list_members(runtime.institutions.get("HANBIT").id)[0].id
    [message] = runtime.registrar.outbox(member_id=member_id)  # one code, not two
    code = re.search(r"\[(\d{6})\]", message["text"]).group(1)
    prompt = re.search(r'name="prompt" value="([^"]+)"', again.text).group(1).replace("&#34;", '"').replace("&quot;", '"')
    typed = client.post("/issue/verify/sms", data={"csrf_token": token, "challenge_id": challenge_id, "prompt": prompt, "response": code}, follow_redirects=False)
    assert typed.status_code == 303 and typed.headers["location"] == "/issue/verify?verified=sms"

    # Another browser (no memory of the code) is told what happened, in Korean.
    client.post("/issue/verify/email/start", data={"csrf_token": token})
    client.cookies.delete("fincert_code")
    elsewhere = client.post("/issue/verify/email/start", data={"csrf_token": token})
    assert elsewhere.status_code == 429 and errors(elsewhere.text) == ["인증번호를 방금 보냈습니다. 새 인증번호는 잠시 뒤에 요청할 수 있습니다."]


def test_a_login_throttle_is_not_called_a_credential_to_register_again(client, runtime):
    token = csrf(client)
    client.post("/issue/institutions/HANBIT/signup", data={**HOLDER, "csrf_token": token})
    client.cookies.delete("fincert_session")
    wrong = {"csrf_token": token, "institution": "HANBIT", "login_id": HOLDER["login_id"], "password": "wrong-pass-1"}
    answers = [client.post("/login", data=wrong) for _ in range(6)]
    assert answers[-1].status_code == 423
    # The English page says "try again later"; the Korean one used to send the holder to the bank.
    assert errors(answers[-1].text) == ["로그인에 여러 번 실패해 잠시 잠겼습니다. 잠시 후 다시 시도해 주세요."]


def test_reissuing_without_a_certificate_says_there_is_none_to_reissue(client, runtime):
    token = csrf(client)
    client.post("/issue/institutions/HANBIT/signup", data={**HOLDER, "csrf_token": token})
    answer = client.post("/reissue", data={"csrf_token": token, "reason": "lost", "product": "joint"})
    assert answer.status_code == 404
    assert errors(answer.text) == ["재발급할 인증서가 없습니다. 인증서 종류를 확인하거나 먼저 인증서를 발급받아 주세요."]
    assert 'value="joint" checked' in answer.text  # the choice is kept


def test_an_application_that_expired_on_the_store_page_links_to_a_new_one(client, runtime, clock):
    token = csrf(client)
    _, reference, code = store_page(client, runtime, token)
    clock.advance(minutes=runtime.settings.application_ttl_minutes + 1)
    late = client.post("/issue/store", data={"csrf_token": token, "reference_number": reference, "authorization_code": code, "pin": PIN, "pin_confirm": PIN})
    assert late.status_code == 409 and errors(late.text) == ["신청 시간이 지났습니다. 처음부터 다시 신청해 주세요."]
    assert '<a class="button secondary" href="/issue/apply">처음부터 다시 신청</a>' in late.text and PIN not in late.text
