"""Malformed input over HTTP gets a 4xx problem document and changes nothing, never a 500.

Regressions found by fuzzing the OpenAPI schema (schemathesis, ``not_a_server_error``) and by hand:
ids past the 64-bit range that the database driver cannot even bind, and JSON nested deeper than
the parser's recursion limit (``RecursionError`` is not a ``ValueError``).
"""

from __future__ import annotations

import base64

import pyotp
import pytest
from api_helpers import PROBLEM, RRN, assert_problem, member_and_operator
from fastapi.testclient import TestClient

from fincert.api.app import create_app
from fincert.web.sessions import CONSOLE_COOKIE

TOO_BIG = str(2**63)  # one past the largest BIGINT
HUGE = "9" * 30
# Deeper than json's recursion limit, well under the 1 MiB body limit.
DEEP = "[" * 50_000 + "]" * 50_000


@pytest.fixture
def world(runtime):
    tokens = member_and_operator(runtime)
    with TestClient(create_app(runtime)) as client:
        yield client, tokens


ID_ROUTES = [
    ("GET", "/ca/{id}.crt", None),
    ("GET", "/api/v1/me/applications/{id}", "member"),
    ("POST", "/api/v1/me/applications/{id}/verify", "member"),
    ("POST", "/api/v1/me/applications/{id}/cancel", "member"),
    ("GET", "/api/v1/institutions/HANBIT/members/{id}", "operator"),
    ("POST", "/api/v1/institutions/HANBIT/members/{id}/enrollments", "operator"),
    ("POST", "/api/v1/institutions/HANBIT/applications/{id}/cancel", "operator"),
    ("GET", "/api/v1/demo/outbox?member_id={id}", None),
]


@pytest.mark.parametrize("value", [TOO_BIG, HUGE, "-" + HUGE, "0"])
@pytest.mark.parametrize("method, path, caller", ID_ROUTES)
def test_ids_the_database_cannot_hold_are_422_not_500(world, method, path, caller, value):
    client, tokens = world
    headers = {"authorization": f"Bearer {tokens[caller]}"} if caller else {}
    response = client.request(method, path.format(id=value), headers=headers, json={"method": "otp"})
    assert_problem(response, 422)
    assert response.json()["type"].endswith("/invalid-input")


def test_the_largest_id_is_still_a_lookup(world):
    client, tokens = world
    response = client.get(f"/api/v1/institutions/HANBIT/members/{2**63 - 1}", headers={"authorization": f"Bearer {tokens['operator']}"})
    assert_problem(response, 404)


def test_console_member_ids_past_the_range_are_refused(world):
    client, _ = world
    assert_problem(client.get(f"/console/members/{HUGE}"), 422)


def test_verify_json_nested_too_deeply_is_400(world):
    client, _ = world
    response = client.post("/api/v1/verify", content=DEEP.encode(), headers={"content-type": "application/json"})
    assert_problem(response, 400)


def test_transfer_order_nested_too_deeply_is_400(world):
    client, _ = world
    order = base64.b64encode(DEEP.encode()).decode()
    response = client.post("/api/v1/rp/transfer", json={"order": order, "signature": base64.b64encode(b"\x30\x03\x02\x01\x01").decode()})
    assert_problem(response, 400)
    assert response.json()["field"] == "order"


def test_forged_console_cookie_of_nested_brackets_is_no_session(world):
    client, _ = world
    payload = base64.urlsafe_b64encode(b"[" * 5_000).decode().rstrip("=")
    client.cookies.set(CONSOLE_COOKIE, f"{payload}.forged")
    response = client.get("/console")
    # The console's login page: the cookie names no operator.
    assert response.status_code == 200 and "text/html" in response.headers["content-type"]


def test_logout_with_an_application_cookie_past_the_range_still_logs_out(world):
    client, tokens = world
    client.get("/")
    client.cookies.set("fincert_session", tokens["member"])
    client.cookies.set("fincert_application", TOO_BIG)
    response = client.post("/logout", headers={"x-csrf-token": client.cookies["fincert_csrf"]}, follow_redirects=False)
    assert response.status_code == 303, response.text
    assert client.get("/api/v1/me", headers={"authorization": f"Bearer {tokens['member']}"}).status_code == 401


def test_webauthn_registration_of_nested_brackets_fails_verification(world, runtime):
    client, tokens = world
    otp = runtime.registrar.enroll(tokens["member_id"], "otp", actor="op")
    headers = {"authorization": f"Bearer {tokens['member']}"}
    challenge = client.post("/api/v1/me/verifications/otp", headers=headers).json()
    code = pyotp.TOTP(otp["secret"]).at(runtime.clock.now())
    assert client.post(f"/api/v1/me/verifications/otp/{challenge['challenge_id']}", json={"response": code}, headers=headers).status_code == 200
    begun = client.post("/api/v1/me/webauthn/registration", headers=headers).json()
    before = client.get("/api/v1/me", headers=headers).json()
    response = client.post(f"/api/v1/me/webauthn/registration/{begun['challenge_id']}", json={"response": DEEP}, headers=headers)
    assert_problem(response, 401)
    assert response.json()["type"].endswith("/verification-failed")
    assert client.get("/api/v1/me", headers=headers).json() == before


@pytest.mark.parametrize(
    "path",
    ["/api/v1/auth/login", "/api/v1/institutions/HANBIT/signup", "/api/v1/certificates/collect", "/api/v1/rp/login"],
)
@pytest.mark.parametrize("body", [b"[]", b'"x"', b"null", b"\xff\xfe{", DEEP.encode()])
def test_json_that_is_not_an_object_is_a_problem_without_echo(world, path, body):
    client, _ = world
    response = client.post(path, content=body, headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == PROBLEM


def test_collect_under_another_content_type_is_a_problem(world):
    client, _ = world
    body = f'{{"reference_number": "1", "authorization_code": "2", "storage": "cloud", "pin": "654321", "rrn": "{RRN}"}}'
    response = client.post("/api/v1/certificates/collect", content=body.encode(), headers={"content-type": "text/plain"})
    assert 400 <= response.status_code < 500 and response.headers["content-type"] == PROBLEM
    assert "654321" not in response.text and RRN not in response.text


@pytest.mark.parametrize("answer", [{"a": [1]}, [1, 2], 123456, None])
def test_an_otp_answer_that_is_not_text_is_refused_without_counting_an_attempt(world, runtime, answer):
    client, tokens = world
    otp = runtime.registrar.enroll(tokens["member_id"], "otp", actor="op")
    headers = {"authorization": f"Bearer {tokens['member']}"}
    challenge = client.post("/api/v1/me/verifications/otp", headers=headers).json()
    url = f"/api/v1/me/verifications/otp/{challenge['challenge_id']}"
    response = client.post(url, json={"response": answer}, headers=headers)
    assert_problem(response, 400)
    assert response.json()["type"].endswith("/invalid-input")
    # The next wrong code is the first failure: the malformed answer was not counted.
    code = pyotp.TOTP(otp["secret"]).at(runtime.clock.now())
    wrong = client.post(url, json={"response": "000000" if code != "000000" else "111111"}, headers=headers)
    assert_problem(wrong, 401)
    assert "(9 attempts left before lock)" in wrong.json()["detail"], wrong.json()
