"""Bad input on the page forms (not in the OpenAPI schema, so the API fuzzing never reached them):
a page shown again with a message in its language and the other entries kept, never a 500, never
a secret (resident number, password, PIN) written back into the page, never a row written.

Regressions found by sweeping every POST route of ``web/pages.py`` and ``web/console.py``:
a garbled challenge prompt and over-long or non-ASCII amounts were 500s; an impossible login ID or
operator name (over-long, NUL) was a 500 on PostgreSQL and wrote a throttle row on SQLite; the
resident number was written back into the sign-up and console forms; an error about a field
the page does not show (no application open, a certificate not on the page) gave a bare 4xx page
without any message.
"""

from __future__ import annotations

import re

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from web_helpers import client, csrf, database_url, errors  # noqa: F401 - the page tests' fixtures and helpers

from fincert.storage.models_ra import LoginFailureWindow, Member

RRN = "851212-1357913"  # not the sign-up page's example number, which the hint shows
PASSWORD = "s3cret-pass"
PIN = "258013"
HOLDER = {"name": "홍길동", "rrn": RRN, "phone": "010-1234-5678", "email": "h@example.com", "login_id": "hong90", "password": PASSWORD}


def count(runtime, model) -> int:
    with runtime.db.reader() as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def signed_up(client: TestClient, token: str) -> None:
    assert client.post("/issue/institutions/HANBIT/signup", data={**HOLDER, "csrf_token": token}, follow_redirects=False).status_code == 303


def cloud_certificate(client: TestClient, runtime, token: str) -> str:
    """Sign up, apply, verify with an OTP and store in the cloud: the serial."""
    signed_up(client, token)
    client.post("/issue/apply", data={"csrf_token": token, "product": "financial"})
    member_id = runtime.registrar.list_members(runtime.institutions.get("HANBIT").id)[0].id
    secret = runtime.registrar.enroll(member_id, "otp", actor="test")["secret"]
    client.post("/issue/verify/otp", data={"csrf_token": token, "response": pyotp.TOTP(secret).at(runtime.clock.now())})
    store = client.post("/issue/verify-complete", data={"csrf_token": token})
    reference = re.search(r'id="reference-number">(\d+)<', store.text).group(1)
    code = re.search(r'id="authorization-code">([^<]+)<', store.text).group(1)
    done = client.post("/issue/store", data={"csrf_token": token, "reference_number": reference, "authorization_code": code, "pin": PIN, "pin_confirm": PIN})
    return re.search(r'id="issued-serial">([0-9a-f]+)<', done.text).group(1)


# -- secrets never written back --------------------------------------------------------------------


def test_signup_keeps_the_entries_but_not_the_resident_number_or_password(client, runtime):
    token = csrf(client)
    bad = {**HOLDER, "email": "not-an-address", "csrf_token": token}
    korean = client.post("/issue/institutions/HANBIT/signup", data=bad)
    assert korean.status_code == 400 and errors(korean.text) == ["이메일 주소를 확인해 주세요."]
    assert 'value="hong90"' in korean.text and 'value="홍길동"' in korean.text and 'value="010-1234-5678"' in korean.text
    assert RRN not in korean.text and RRN.replace("-", "") not in korean.text and PASSWORD not in korean.text
    english = client.post("/issue/institutions/HANBIT/signup?lang=en", data={**bad, "rrn": RRN.replace("-", "")})
    assert english.status_code == 400 and errors(english.text) and "mail" in errors(english.text)[0].lower()
    assert RRN.replace("-", "") not in english.text and 'value="hong90"' in english.text
    assert count(runtime, Member) == 0


def test_signup_names_every_wrong_field_at_once(client, runtime):
    """Sign-up used to stop at the first wrong field, so the holder retyped the resident number
    and password once per mistake. Every wrong field is named in one answer, each beside its field."""
    token = csrf(client)
    bad = {**HOLDER, "rrn": "901301-1234567", "phone": "02-123", "email": "not-an-address", "password": "short",
           "password_confirm": "other", "csrf_token": token}
    korean = client.post("/issue/institutions/HANBIT/signup", data=bad)
    assert korean.status_code == 400
    shown = re.findall(r'id="fe-([a-z_]+)"', korean.text)
    assert set(shown) >= {"rrn", "phone", "email", "password", "password_confirm"}, shown
    assert "이메일 주소를 확인해 주세요." in errors(korean.text) and "두 비밀번호가 다릅니다." in errors(korean.text)
    assert "901301" not in korean.text and 'value="hong90"' in korean.text
    assert count(runtime, Member) == 0
    # Over the API, each field in the problem document's errors.
    answer = client.post("/api/v1/institutions/HANBIT/signup", json={k: v for k, v in bad.items() if k not in ("csrf_token", "password_confirm")},
                         headers={"x-csrf-token": token})
    assert answer.status_code == 400
    problem = answer.json()
    assert {e["field"] for e in problem["errors"]} == {"rrn", "phone", "email", "password"} and problem["field"] == "rrn"
    assert "901301" not in answer.text and count(runtime, Member) == 0


def test_console_registration_keeps_the_entries_but_not_the_resident_number(client, runtime):
    token = csrf(client)
    runtime.registrar.add_operator("HANBIT", "hanbit-op", password="operator-pass-1")
    client.post("/console/login", data={"csrf_token": token, "username": "hanbit-op", "password": "operator-pass-1"})
    again = client.post("/console/members", data={"csrf_token": token, "name": "이영희", "rrn": RRN, "phone": "010-5555-4444", "email": "y@"})
    assert again.status_code == 400 and errors(again.text) == ["이메일 주소를 확인해 주세요."]
    assert 'value="이영희"' in again.text and 'value="010-5555-4444"' in again.text and RRN not in again.text
    assert count(runtime, Member) == 0


def test_console_says_an_existing_member_is_in_the_member_list(client, runtime):
    """The holder's sign-up says "log in on the right"; an operator is told where to look."""
    token = csrf(client)
    runtime.registrar.add_operator("HANBIT", "hanbit-op", password="operator-pass-1")
    client.post("/console/login", data={"csrf_token": token, "username": "hanbit-op", "password": "operator-pass-1"})
    entries = {"csrf_token": token, "name": "이영희", "rrn": RRN, "phone": "010-5555-4444", "email": "y@example.com"}
    assert client.post("/console/members", data=entries).status_code in (200, 303)
    again = client.post("/console/members", data=entries)
    assert again.status_code == 409
    assert errors(again.text) == ["이미 이 금융기관의 회원입니다. 회원 목록에서 찾아 주세요."]
    assert count(runtime, Member) == 1


# -- impossible IDs are a wrong login, written nowhere ----------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
@pytest.mark.parametrize("login_id", ["L" * 200, "a\x00bcd", "x" * 100_000])
def test_logins_with_ids_no_account_can_have_are_a_wrong_login(client, runtime, login_id):
    token = csrf(client)
    signed_up(client, token)
    client.cookies.delete("fincert_session")
    rows = count(runtime, LoginFailureWindow)
    for path in ("/login", "/issue/institutions/HANBIT/login"):
        answer = client.post(path, data={"csrf_token": token, "institution": "HANBIT", "login_id": login_id, "password": PASSWORD})
        assert answer.status_code == 401 and errors(answer.text) == ["아이디 또는 비밀번호가 틀렸습니다."]
        assert PASSWORD not in answer.text
    console = client.post("/console/login", data={"csrf_token": token, "username": login_id, "password": PASSWORD})
    assert console.status_code == 401 and errors(console.text) == ["운영자 아이디 또는 비밀번호가 틀렸습니다."]
    assert count(runtime, LoginFailureWindow) == rows  # no throttle row under a key that cannot log in


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_an_institution_code_with_a_nul_is_no_institution(client):
    token = csrf(client)
    answer = client.post("/login", data={"csrf_token": token, "institution": "HAN\x00BIT", "login_id": "hong90", "password": PASSWORD})
    assert answer.status_code == 404 and errors(answer.text) == ["금융기관을 찾을 수 없습니다. 목록에서 선택해 주세요."] and 'value="hong90"' in answer.text
    assert client.post("/issue/institutions/HAN%00BIT/signup", data={**HOLDER, "csrf_token": token}).status_code == 404


# -- what the client posts back ---------------------------------------------------------------------


@pytest.mark.parametrize("prompt", ["{not json", "{" + "[" * 50_000 + "]" * 50_000 + "}", '{"a": ' + "[" * 50_000 + "]" * 50_000 + "}"])
def test_a_garbled_challenge_prompt_is_no_prompt(client, prompt):
    token = csrf(client)
    signed_up(client, token)
    answer = client.post("/issue/verify/sms", data={"csrf_token": token, "challenge_id": "1", "response": "123456", "prompt": prompt})
    assert answer.status_code == 401 and errors(answer.text) == ["요청한 인증이 없습니다. 다시 요청해 주세요."]
    assert "123456" not in answer.text


@pytest.mark.parametrize(
    "entries, field_message",
    [
        ({"amount": "9" * 5000, "to_account": "110-234-567890"}, "금액은 원 단위 숫자로 입력해 주세요."),
        ({"amount": "²", "to_account": "110-234-567890"}, "금액은 원 단위 숫자로 입력해 주세요."),
        ({"amount": "1,000", "to_account": "١١٠-٢٣٤"}, "계좌번호는 숫자와 &#39;-&#39;로 입력해 주세요."),
    ],
)
def test_transfer_orders_int_cannot_read_are_shown_again_with_the_entries(client, runtime, entries, field_message):
    token = csrf(client)
    serial = cloud_certificate(client, runtime, token)
    answer = client.post("/sign", data={"csrf_token": token, "serial": serial, "kind": "transfer", "memo": "월세", "pin": "369258", **entries})
    assert answer.status_code == 400 and errors(answer.text) == [field_message]
    assert 'value="월세"' in answer.text and "369258" not in answer.text


# -- a message for every error, even about a field the page does not show -----------------------------


def test_errors_about_fields_the_page_does_not_show_are_shown_at_the_top(client, runtime):
    token = csrf(client)
    signed_up(client, token)
    # Step 4 before step 3: no application open in this browser.
    early = client.post("/issue/verify-complete", data={"csrf_token": token})
    assert early.status_code == 409 and errors(early.text) == ["진행 중인 신청이 없습니다. 먼저 인증서를 신청해 주세요."]
    # A certificate that is not on the page (no row to put the message next to).
    revoked = client.post("/certificates/00ff/revoke", data={"csrf_token": token, "reason": "keyCompromise"})
    assert revoked.status_code == 401 and errors(revoked.text) == ["본인 확인을 먼저 해 주세요."]
    unknown_method = client.post("/issue/verify/fingerprint", data={"csrf_token": token, "response": "1"})
    assert unknown_method.status_code == 400 and errors(unknown_method.text) == ["입력값을 확인해 주세요."]

    runtime.registrar.add_operator("HANBIT", "hanbit-op", password="operator-pass-1")
    client.post("/console/login", data={"csrf_token": token, "username": "hanbit-op", "password": "operator-pass-1"})
    console = client.post("/console/certificates/not-a-serial/revoke", data={"csrf_token": token, "reason": "keyCompromise"})
    assert console.status_code == 400 and errors(console.text) == ["인증서 일련번호를 확인해 주세요."]


# -- probes that already behaved (no other test covers them) ----------------------------------------


@pytest.mark.parametrize(
    "send",
    [
        pytest.param(lambda c, t: c.post("/issue/institutions/HANBIT/signup", data=HOLDER, files={"f": ("a", b"x")}), id="multipart-no-token"),
        pytest.param(lambda c, t: c.post("/issue/institutions/HANBIT/signup", content=b"--x\r\nbroken", headers={"content-type": "multipart/form-data; boundary=x"}), id="broken-multipart"),
        pytest.param(lambda c, t: c.post("/console/login", data={"username": "a", "password": "b", "csrf_token": t[:-1]}), id="console-wrong-token"),
        pytest.param(lambda c, t: c.post("/issue/institutions/HANBIT/signup", data=HOLDER, headers={"x-csrf-token": b"\xe9"}), id="non-ascii-header"),
    ],
)
def test_forms_without_this_browsers_csrf_token_are_403_and_store_nothing(client, runtime, send):
    answer = send(client, csrf(client))
    assert answer.status_code == 403 and answer.json()["type"].endswith("/csrf")
    assert count(runtime, Member) == 0


@pytest.mark.parametrize("cookie", ["abc", "-1", "99999999999999999999", "0"])
def test_a_forged_application_cookie_is_no_application(client, runtime, cookie):
    token = csrf(client)
    signed_up(client, token)
    client.cookies.set("fincert_application", cookie)
    answer = client.post("/issue/verify-complete", data={"csrf_token": token})
    assert answer.status_code in (404, 409) and errors(answer.text)
    stored = client.post("/issue/store", data={"csrf_token": token, "pin": PIN, "pin_confirm": PIN})
    assert stored.status_code == 401 and errors(stored.text) == ["참조번호 또는 인가코드가 맞지 않습니다."] and PIN not in stored.text


def test_non_utf8_duplicated_fields_and_json_bodies_are_input_errors(client, runtime):
    token = csrf(client)
    # JSON is no form: without a session cookie it carries no ambient authority (no CSRF check)
    # and reads as an empty form.
    as_json = client.post("/issue/institutions/HANBIT/signup", json={**HOLDER, "csrf_token": token})
    # Every field is missing, and each one is named (the name first, as the form lists them).
    assert as_json.status_code == 400 and errors(as_json.text)[0] == "이름을 확인해 주세요 (한글 또는 영문)." and RRN not in as_json.text
    assert len(errors(as_json.text)) == 6
    body = f"csrf_token={token}&name=%ff%fe&rrn={RRN}&phone=010-1234-5678&email=h@example.com&login_id=hong90&login_id=x&password={PASSWORD}"
    answer = client.post("/issue/institutions/HANBIT/signup", content=body.encode(), headers={"content-type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 400 and errors(answer.text)[0] == "이름을 확인해 주세요 (한글 또는 영문)."
    assert RRN not in answer.text and PASSWORD not in answer.text and count(runtime, Member) == 0


BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.mark.parametrize("path", ["/no-such-page", "/nonsense/verify", "/console/members/not-a-number", "/console/members/99999999999999999999"])
def test_a_browser_asking_for_no_page_gets_the_not_found_page(client, path):
    page = client.get(path, headers=BROWSER)
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "페이지를 찾을 수 없습니다" in page.text


def test_clients_that_ask_for_no_html_still_get_problem_documents(client):
    for path, headers in (("/no-such-page", {"accept": "application/json"}), ("/api/v1/no-such-thing", BROWSER)):
        answer = client.get(path, headers=headers)
        assert answer.status_code == 404
        assert answer.headers["content-type"].startswith("application/problem+json")
