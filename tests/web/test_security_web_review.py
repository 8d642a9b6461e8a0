"""Security review of the web pages (holder and console), attacked as an outsider, a holder and
another institution's operator would. Each test is a regression of a defect the review found.

- Cookies were ``Secure`` only when the request itself came over HTTPS (or said so with
  ``X-Forwarded-Proto``): behind a TLS-terminating proxy that forwards plain HTTP without that
  header, a service whose public URL is ``https://`` set its session, console, CSRF and
  application cookies without ``Secure``, so a browser would send them over a plain
  ``http://`` request; the application and code cookies were never ``Secure``.
- Logging in again in the same browser (the same member, or another one on a shared PC) left
  the session the browser's cookie held before alive on the server for the rest of its term;
  the console's login did the same with the console session.
- A resident number typed into a form field that the service quotes (the serial of
  "타기관 인증서 등록") came back in the English page's error message.
"""

from __future__ import annotations

import re

import pytest
from web_helpers import client, csrf, database_url, errors  # noqa: F401 - the page tests' fixtures and helpers

from fincert.errors import Unauthorized
from fincert.web.sessions import CONSOLE_COOKIE, MEMBER_COOKIE

PASSWORD = "s3cret-pass"
OPERATOR_PASSWORD = "operator-pass-1"
RRN = "900101-1234567"


def _members(runtime) -> None:
    reg = runtime.registrar
    reg.register_member(
        "HANBIT", name="홍길동", rrn=RRN, phone="010-1234-5678", email="h@example.com",
        login_id="hong90", password=PASSWORD, actor="t", online=True,
    )
    reg.register_member(
        "NURI", name="김철수", rrn="850505-1234560", phone="010-2222-3333", email="k@example.com",
        login_id="kim85", password=PASSWORD, actor="t", online=True,
    )
    reg.add_operator("HANBIT", "hanbit-op", password=OPERATOR_PASSWORD)
    reg.add_operator("NURI", "nuri-op", password=OPERATOR_PASSWORD)


def _set_cookie(answer, name: str) -> str:
    found = [c for c in answer.headers.get_list("set-cookie") if c.startswith(name + "=")]
    assert found, (name, answer.headers.get_list("set-cookie"))
    return found[0]


def _value(set_cookie: str) -> str:
    return set_cookie.split(";", 1)[0].split("=", 1)[1]


def test_cookies_are_secure_when_the_public_url_is_https(runtime, client):
    """The request arrives as plain HTTP (a proxy terminated TLS and forwarded no
    ``X-Forwarded-Proto``); the service's public URL is https: every cookie it sets is Secure."""
    _members(runtime)
    runtime.settings.public_url = "https://certs.example.kr"
    home = client.get("/")
    assert "; Secure" in _set_cookie(home, "fincert_csrf")
    token = re.search(r'name="csrf-token" content="([^"]+)"', home.text).group(1)
    # A Secure cookie does not go back over plain HTTP on its own: the test sends it as a browser
    # on the https public URL would.
    jar = f"fincert_csrf={token}"
    login = client.post(
        "/login", data={"csrf_token": token, "institution": "HANBIT", "login_id": "hong90", "password": PASSWORD, "next": "/issue/apply"},
        headers={"cookie": jar}, follow_redirects=False,
    )
    assert login.status_code == 303, login.text
    session = _set_cookie(login, MEMBER_COOKIE)
    assert "; Secure" in session and "HttpOnly" in session
    applied = client.post(
        "/issue/apply", data={"csrf_token": token, "product": "financial"},
        headers={"cookie": f"{jar}; {MEMBER_COOKIE}={_value(session)}"}, follow_redirects=False,
    )
    assert applied.status_code == 303, applied.text
    assert "; Secure" in _set_cookie(applied, "fincert_application")
    console = client.post(
        "/console/login", data={"csrf_token": token, "username": "hanbit-op", "password": OPERATOR_PASSWORD},
        headers={"cookie": jar}, follow_redirects=False,
    )
    assert console.status_code == 303, console.text
    assert "; Secure" in _set_cookie(console, CONSOLE_COOKIE)


def test_cookies_stay_usable_over_plain_http_when_the_public_url_is(runtime, client):
    """The default local setup (http://127.0.0.1:8000) still logs in over plain HTTP."""
    _members(runtime)
    token = csrf(client)
    login = client.post(
        "/login", data={"csrf_token": token, "institution": "HANBIT", "login_id": "hong90", "password": PASSWORD},
        follow_redirects=False,
    )
    assert login.status_code == 303
    assert "Secure" not in _set_cookie(login, MEMBER_COOKIE)
    assert client.get("/certificates").status_code == 200


def test_logging_in_again_in_the_same_browser_ends_the_earlier_member_session(runtime, client):
    _members(runtime)
    token = csrf(client)
    for institution, login_id in (("HANBIT", "hong90"), ("NURI", "kim85")):
        answer = client.post(
            "/login", data={"csrf_token": token, "institution": institution, "login_id": login_id, "password": PASSWORD},
            follow_redirects=False,
        )
        assert answer.status_code == 303
        if login_id == "hong90":
            first = client.cookies[MEMBER_COOKIE]
    second = client.cookies[MEMBER_COOKIE]
    assert first != second
    with pytest.raises(Unauthorized):
        runtime.registrar.authenticate_member(first)
    # A copy of the first cookie (a shared PC, a proxy log) opens nothing any more.
    assert client.get("/api/v1/me", headers={"authorization": f"Bearer {first}"}).status_code == 401
    assert client.get("/api/v1/me", headers={"authorization": f"Bearer {second}"}).json()["login_id"] == "kim85"


def test_logging_in_to_the_console_again_ends_the_earlier_console_session(runtime, client):
    _members(runtime)
    token = csrf(client)
    cookies = []
    for username in ("hanbit-op", "nuri-op"):
        answer = client.post(
            "/console/login", data={"csrf_token": token, "username": username, "password": OPERATOR_PASSWORD}, follow_redirects=False,
        )
        assert answer.status_code == 303
        cookies.append(client.cookies[CONSOLE_COOKIE])
    with pytest.raises(Unauthorized):
        runtime.registrar.authenticate_console_session(cookies[0])
    assert runtime.registrar.authenticate_console_session(cookies[1]).username == "nuri-op"


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_a_resident_number_typed_as_a_serial_is_not_quoted_in_the_error(runtime, client, lang):
    _members(runtime)
    token = csrf(client)
    client.post("/login", data={"csrf_token": token, "institution": "HANBIT", "login_id": "hong90", "password": PASSWORD})
    answer = client.post(f"/certificates/register?lang={lang}", data={"csrf_token": token, "serial": RRN.replace("-", "")})
    assert 400 <= answer.status_code < 500
    shown = errors(answer.text)
    assert shown, answer.text
    for message in shown:
        assert RRN.replace("-", "") not in message and "900101" not in message, message
