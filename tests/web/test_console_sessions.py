"""Console sessions live on the server: logging out ends them for every copy of the cookie.

Regression: the console cookie was a signed, stateless token valid for 30 minutes, and logging out
only asked the browser to forget it, so a copied cookie (a shared counter PC, a proxy log) kept
working until it expired. A session is now a row (only the token's SHA-256 stored) that logout
deletes, checked on every console request with its operator.
"""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select, update
from web_helpers import client, csrf, database_url  # noqa: F401 - the page tests' fixtures and helpers

from fincert.storage.models_ra import Operator, OperatorSession
from fincert.web.sessions import CONSOLE_COOKIE

PASSWORD = "operator-pass-1"
BOTH = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


def log_in(client) -> str:
    """Log in as ``hanbit-op``; the console cookie's value."""
    token = csrf(client)
    answer = client.post("/console/login", data={"csrf_token": token, "username": "hanbit-op", "password": PASSWORD}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/console/members"
    return client.cookies[CONSOLE_COOKIE]


def logged_in(client, cookie: str) -> bool:
    """Whether the console takes ``cookie`` (as a browser that copied it would send it)."""
    client.cookies.delete(CONSOLE_COOKIE)
    client.cookies.set(CONSOLE_COOKIE, cookie, domain="testserver.local", path="/console")
    members = client.get("/console/members", follow_redirects=False)
    if members.status_code == 200:
        return True
    assert members.status_code == 303 and members.headers["location"] == "/console"
    # The console's start page answers as to someone not logged in: the login form.
    assert 'action="/console/login"' in client.get("/console").text
    return False


@pytest.fixture
def operator(runtime):
    runtime.registrar.add_operator("HANBIT", "hanbit-op", password=PASSWORD)


@BOTH
def test_a_cookie_copied_before_logout_is_refused_after_it(client, runtime, operator):
    cookie = log_in(client)
    assert logged_in(client, cookie)
    logout = client.post("/console/logout", data={"csrf_token": csrf(client)}, follow_redirects=False)
    assert logout.status_code == 303 and logout.headers["location"] == "/console"
    assert CONSOLE_COOKIE not in client.cookies
    assert not logged_in(client, cookie)
    with runtime.db.reader() as session:
        assert session.execute(select(OperatorSession)).first() is None


@BOTH
def test_an_expired_session_is_refused(client, runtime, clock, operator):
    cookie = log_in(client)
    clock.advance(minutes=29)
    assert logged_in(client, cookie)
    clock.advance(minutes=1)
    assert not logged_in(client, cookie)
    # Logging in again opens a new session and clears the operator's expired one.
    fresh = log_in(client)
    assert fresh != cookie and logged_in(client, fresh)
    with runtime.db.reader() as session:
        assert session.execute(select(OperatorSession.token_hash)).scalars().all() == [hashlib.sha256(fresh.encode()).hexdigest()]


@BOTH
def test_disabling_the_operator_ends_the_session(client, runtime, operator):
    cookie = log_in(client)
    with runtime.db.transaction() as session:
        session.execute(update(Operator).where(Operator.username == "hanbit-op").values(disabled=True))
    assert not logged_in(client, cookie)


def test_logging_out_one_browser_leaves_the_other_logged_in(client, runtime, operator):
    first = log_in(client)
    client.cookies.delete(CONSOLE_COOKIE)
    second = log_in(client)
    assert first != second
    client.post("/console/logout", data={"csrf_token": csrf(client)})
    assert not logged_in(client, second)
    assert logged_in(client, first)


def test_only_the_tokens_hash_is_stored(client, runtime, operator):
    cookie = log_in(client)
    assert cookie.startswith("fos_")
    with runtime.db.reader() as session:
        row = session.execute(select(OperatorSession)).scalar_one()
    assert row.token_hash == hashlib.sha256(cookie.encode()).hexdigest() and cookie not in row.token_hash


@BOTH
@pytest.mark.parametrize("cookie", ["", "fos_", "fos_" + "A" * 5000, "fop_not-a-console-session", "eyJvcCI6MSwiZXhwIjo5OTk5OTk5OTk5fQ.c2lnbmF0dXJl"])
def test_cookies_that_name_no_session_are_no_session(client, runtime, operator, cookie):
    log_in(client)  # a session exists; none of these names it
    assert not logged_in(client, cookie)


def test_logout_without_a_session_still_answers_with_the_login_page(client, operator):
    answer = client.post("/console/logout", data={"csrf_token": csrf(client)}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/console"


def test_a_failed_login_opens_no_session(client, runtime, operator):
    answer = client.post("/console/login", data={"csrf_token": csrf(client), "username": "hanbit-op", "password": "wrong-password-1"})
    assert answer.status_code == 401 and CONSOLE_COOKIE not in client.cookies
    with runtime.db.reader() as session:
        assert session.execute(select(OperatorSession)).first() is None


def test_a_new_password_ends_the_sessions_of_the_old_one(client, runtime, operator):
    cookie = log_in(client)
    assert logged_in(client, cookie)
    runtime.registrar.set_operator_password("hanbit-op", "another-pass-2026", actor="t")
    assert not logged_in(client, cookie)
