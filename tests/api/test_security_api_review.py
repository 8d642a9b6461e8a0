"""Security review of the HTTP API, attacked as an outsider, a holder and another institution's
operator would. Each test is a regression of a defect the review found.

- Concurrent first logins on PostgreSQL: the login throttle locked its failure windows with
  ``SELECT … FOR UPDATE``, which locks nothing while the row does not exist. The first burst of
  logins on an account (or from an address) ran side by side: every one checked its password,
  and all but one then failed on the primary key of the new window row, a 500. A guesser got a
  burst of uncounted guesses per account.
- A cookie the CSRF check could not parse (``a="x``, ``a=b c``) hid the member's session cookie
  from it, while the app's own parser still logged the request in: a cross-site JSON or text
  request carrying the member's session went through without the CSRF token.
- API answers with personal data and secrets (a session token, a member's details, an OTP seed
  and security card handed out once) carried no ``Cache-Control``: any cache could keep them.
- A path segment or identifier shaped like a resident number came back in the problem detail
  (``unknown identity method '9001011234567'``, ``no certificate 9001011234567 of this person``).
- SMS/e-mail codes allowed 5 tries per code but a new code every 30 seconds without end: about
  10 guesses a minute for as long as a guesser with the holder's session liked.
- Login IDs differing only in case ("Hong90" beside "hong90") could belong to two members of
  one institution.
"""

from __future__ import annotations

import collections
import re
import threading

import pytest
from api_helpers import PASSWORD, RRN, assert_problem, client, member_and_operator  # noqa: F401 - fixtures

from fincert.errors import FincertError

RRN_DIGITS = RRN.replace("-", "")


def test_concurrent_first_logins_are_each_counted_and_none_is_a_500(runtime):
    """Twelve wrong passwords at once on an account no login has touched: the throttle counts them
    one after another (five refused as wrong, the rest as locked), none fails on the database."""
    tokens = member_and_operator(runtime)  # hong90 has logged in once: a fresh member for this
    runtime.registrar.register_member(
        "HANBIT", name="김철수", rrn="850505-1234560", phone="010-2222-3333", email="k@example.com",
        login_id="kim85", password=PASSWORD, actor="t", online=True,
    )
    assert tokens["member"]
    start = threading.Barrier(12)
    outcomes: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()

    def guess(i: int) -> None:
        start.wait()
        try:
            runtime.registrar.login("HANBIT", "kim85", f"guess-{i}-pass1", address=f"10.0.0.{i}")
            outcome = "logged-in"
        except FincertError as error:
            outcome = error.kind
        except Exception as error:  # noqa: BLE001 - the defect: a driver error, a 500 at the edge
            outcome = type(error).__name__
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == {"unauthorized": 5, "locked": 7}, outcomes
    # The right password is refused too now: the account is locked, the guesses were counted.
    with pytest.raises(FincertError) as locked:
        runtime.registrar.login("HANBIT", "kim85", PASSWORD, address="10.0.1.1")
    assert locked.value.kind == "locked"


def test_a_malformed_cookie_does_not_hide_the_session_from_the_csrf_check(runtime, client):
    tokens = member_and_operator(runtime)
    for junk in ('x="a\\"', "a=b c", 'a="', "a=[x]"):
        answer = client.post(
            "/api/v1/me/applications", content=b'{"kind": "issue"}',
            headers={"content-type": "text/plain", "cookie": f"{junk}; fincert_session={tokens['member']}"},
        )
        body = assert_problem(answer, 403)
        assert body["type"].endswith("/csrf"), junk
    # Nothing was opened on the member's behalf.
    assert runtime.lifecycle.open_application_of(tokens["member_id"]) is None


def test_api_answers_with_personal_data_or_secrets_are_not_cacheable(runtime, client):
    tokens = member_and_operator(runtime)
    member = {"authorization": f"Bearer {tokens['member']}"}
    operator = {"authorization": f"Bearer {tokens['operator']}"}
    login = client.post("/api/v1/auth/login", json={"institution": "HANBIT", "login_id": "hong90", "password": PASSWORD})
    me = client.get("/api/v1/me", headers=member)
    handout = client.post(f"/api/v1/institutions/HANBIT/members/{tokens['member_id']}/enrollments", json={"method": "otp"}, headers=operator)
    members = client.get("/api/v1/institutions/HANBIT/members", headers=operator)
    refused = client.get("/api/v1/me")
    for answer in (login, me, handout, members, refused):
        assert answer.status_code < 500
        assert answer.headers.get("cache-control") == "no-store", answer.request.url
    # What is meant for caches keeps its own policy.
    ca = client.get("/ca/1.crt")
    assert ca.status_code == 200 and "public" in ca.headers["cache-control"]


def test_a_resident_number_sent_as_an_identifier_is_not_echoed_in_the_problem(runtime, client):
    tokens = member_and_operator(runtime)
    member = {"authorization": f"Bearer {tokens['member']}"}
    operator = {"authorization": f"Bearer {tokens['operator']}"}
    answers = [
        client.post(f"/api/v1/me/verifications/{RRN_DIGITS}", headers=member),
        client.post(f"/api/v1/me/verifications/{RRN}/x", json={"response": "123456"}, headers=member),
        client.post(f"/api/v1/me/certificates/{RRN_DIGITS}/sign", json={"pin": "135790", "data_b64": "eA=="}, headers=member),
        client.post("/api/v1/me/applications", json={"kind": "register", "serial": RRN_DIGITS}, headers=member),
        client.post(f"/api/v1/institutions/HANBIT/certificates/{RRN_DIGITS}/restore", headers=operator),
    ]
    for answer in answers:
        assert 400 <= answer.status_code < 500, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert RRN_DIGITS not in answer.text and RRN not in answer.text, answer.text
        assert "900101" not in answer.text, answer.text


def _code(runtime, member_id: int) -> str:
    return re.search(r"\[(\d{6})\]", runtime.registrar.outbox(member_id=member_id)[0]["text"]).group(1)


def test_sms_codes_cannot_be_guessed_without_end_by_asking_for_new_ones(runtime, client):
    tokens = member_and_operator(runtime)
    member = {"authorization": f"Bearer {tokens['member']}"}
    wrong = 0
    for _ in range(2):  # two codes, five wrong guesses each
        challenge = client.post("/api/v1/me/verifications/sms", headers=member)
        assert challenge.status_code == 200, challenge.text
        right = _code(runtime, tokens["member_id"])
        guess = "000000" if right != "000000" else "111111"
        for _ in range(5):
            answer = client.post(f"/api/v1/me/verifications/sms/{challenge.json()['challenge_id']}", json={"response": guess}, headers=member)
            assert_problem(answer, 401)
            wrong += 1
        runtime.clock.advance(seconds=31)
    assert wrong == 10
    # The limit across codes is reached: no new code is sent, and none is checked.
    sent = len(runtime.registrar.outbox(member_id=tokens["member_id"]))
    refused = client.post("/api/v1/me/verifications/sms", headers=member)
    assert_problem(refused, 429)
    assert len(runtime.registrar.outbox(member_id=tokens["member_id"])) == sent
    # An hour after the first wrong code, codes flow again and the right one is accepted (in a
    # new session: the first one has expired meanwhile).
    runtime.clock.advance(minutes=60)
    member = {"authorization": "Bearer " + runtime.registrar.login("HANBIT", "hong90", PASSWORD, address="127.0.0.1").token}
    challenge = client.post("/api/v1/me/verifications/sms", headers=member)
    assert challenge.status_code == 200, challenge.text
    answer = client.post(
        f"/api/v1/me/verifications/sms/{challenge.json()['challenge_id']}",
        json={"response": _code(runtime, tokens["member_id"])}, headers=member,
    )
    assert answer.status_code == 200, answer.text


def test_login_ids_that_differ_only_in_case_are_one_id(runtime, client):
    member_and_operator(runtime)  # hong90 at HANBIT
    answer = client.post("/api/v1/institutions/HANBIT/signup", json={
        "name": "홍길순", "rrn": "920202-2234567", "phone": "010-3333-4444", "email": "s@example.com",
        "login_id": "Hong90", "password": PASSWORD,
    })
    body = assert_problem(answer, 409)
    assert body["field"] == "login_id"
    # Another institution's member may still choose it.
    other = client.post("/api/v1/institutions/NURI/signup", json={
        "name": "홍길순", "rrn": "920202-2234567", "phone": "010-3333-4444", "email": "s@example.com",
        "login_id": "Hong90", "password": PASSWORD,
    })
    assert other.status_code == 201, other.text


def test_an_unexpected_error_is_answered_and_not_raised_to_the_server(runtime, caplog):
    """Starlette answered an unexpected exception with the 500 problem document and then raised it
    again for the server, which logged the whole traceback and message outside the scrubbed JSON
    log (uvicorn's "Exception in ASGI application"): a driver message quoting a statement's
    parameters put a resident number in the log. The test client raises what the server would
    have been handed."""
    from fastapi.testclient import TestClient

    from fincert.api.app import create_app

    app = create_app(runtime)

    @app.get("/api/v1/boom-for-test")
    def boom() -> None:
        raise ValueError(f"statement parameters: {RRN}")

    with caplog.at_level("DEBUG"), TestClient(app) as strict:  # raise_server_exceptions=True
        answer = strict.get("/api/v1/boom-for-test")
    body = assert_problem(answer, 500)
    assert RRN not in answer.text and body["type"].endswith("/internal")
    logged = [r for r in caplog.records if r.name == "fincert.api"]
    assert logged and all(RRN not in r.getMessage() for r in logged)
    assert "ValueError" in logged[-1].getMessage() and "boom" in logged[-1].getMessage()
