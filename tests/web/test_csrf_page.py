"""A browser's form post without this browser's CSRF token (a stale page: the cookie went with the
browser session, a page restored from history) gets a 403 page in the page's language asking to
reload, with a link back to the form's page on this site; scripts and API clients still get the
403 problem document. Nothing is changed either way."""

from __future__ import annotations

import re

import pytest
from web_helpers import client, csrf, database_url  # noqa: F401 - the page tests' fixtures and helper

HOLDER = {"name": "홍길동", "rrn": "900101-1234567", "phone": "010-1234-5678", "email": "h@example.com", "login_id": "hong90", "password": "s3cret-pass"}
#: What a browser sends when it submits a form (a page navigation).
BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
SIGNUP = "/issue/institutions/HANBIT/signup"


def link_back(html: str) -> str:
    return re.search(r'<p><a href="([^"]*)">', html).group(1)


def members(runtime) -> list:
    return runtime.registrar.list_members(runtime.institutions.get("HANBIT").id)


@pytest.mark.parametrize("token", [None, "x" * 43, ""], ids=["missing", "wrong", "empty"])
def test_a_form_without_the_token_gets_a_korean_page_with_a_link_back(client, runtime, token):
    csrf(client)
    form = HOLDER if token is None else {**HOLDER, "csrf_token": token}
    answer = client.post(SIGNUP, data=form, headers=BROWSER)
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("text/html")
    assert '<html lang="ko">' in answer.text and "페이지를 새로 고친 뒤 다시 시도해 주세요" in answer.text
    assert link_back(answer.text) == "/issue/institutions/HANBIT"  # the page the sign-up form is on
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["x-content-type-options"] == "nosniff" and answer.headers["cache-control"] == "no-store"
    assert HOLDER["rrn"] not in answer.text and HOLDER["password"] not in answer.text
    assert members(runtime) == [] and "fincert_session" not in client.cookies


def test_the_page_is_in_english_when_the_pages_are(client, runtime):
    token = csrf(client)
    client.get("/?lang=en")
    answer = client.post("/console/login", data={"username": "a", "password": "b", "csrf_token": token[:-1]}, headers=BROWSER)
    assert answer.status_code == 403 and '<html lang="en">' in answer.text
    assert "Reload the page and try again" in answer.text and "페이지를" not in answer.text
    assert link_back(answer.text) == "/console"
    # The form's own ``?lang=`` (the language switch of a page drawn from a post) counts too.
    switched = client.post("/issue/store?lang=ko", data={"csrf_token": "stale"}, headers=BROWSER)
    assert "페이지를 새로 고친 뒤 다시 시도해 주세요" in switched.text and link_back(switched.text) == "/certificates"


@pytest.mark.parametrize(
    "referer",
    ["https://evil.example/phish", "http://evil.example/issue/apply", "http://testserver/\\evil.example/issue/verify",
     "http://testserver//evil.example/", "http://testserver/api/v1/me", "javascript:alert(1)"],
)
def test_the_link_back_stays_on_this_site_whatever_the_referer(client, runtime, referer):
    csrf(client)
    answer = client.post(SIGNUP, data=HOLDER, headers={**BROWSER, "referer": referer})
    assert answer.status_code == 403 and link_back(answer.text) == "/issue/institutions/HANBIT"
    assert "evil" not in answer.text and "javascript:" not in answer.text
    assert members(runtime) == []


def test_a_referer_naming_a_page_of_this_site_is_followed_and_an_unknown_path_falls_back_home(client):
    csrf(client)
    own = client.post("/sign", data={"csrf_token": "old"}, headers={**BROWSER, "referer": "http://testserver/login?next=/sign"})
    assert link_back(own.text) == "/login?next=/sign"
    nowhere = client.post("/no-such-form", data={"csrf_token": "old"}, headers=BROWSER)
    assert nowhere.status_code == 403 and link_back(nowhere.text) == "/"


def test_after_a_lost_cookie_the_page_carries_a_new_one_and_the_step_goes_on(client, runtime):
    stale = csrf(client)
    client.cookies.clear()  # the browser session ended; the restored page still holds ``stale``
    answer = client.post(SIGNUP, data={**HOLDER, "csrf_token": stale}, headers=BROWSER)
    assert answer.status_code == 403 and members(runtime) == []
    fresh = client.cookies.get("fincert_csrf")
    assert fresh and fresh != stale and f'name="csrf-token" content="{fresh}"' in answer.text
    page = client.get(link_back(answer.text), headers=BROWSER)
    assert page.status_code == 200 and f'value="{fresh}"' in page.text
    again = client.post(SIGNUP, data={**HOLDER, "csrf_token": fresh}, headers=BROWSER, follow_redirects=False)
    assert again.status_code == 303 and len(members(runtime)) == 1


@pytest.mark.parametrize(
    ("path", "accept"),
    [("/api/v1/me/verifications/sms", "application/json"), ("/api/v1/me/verifications/sms", BROWSER["accept"]), (SIGNUP, "*/*")],
    ids=["api-json", "api-path-asking-for-html", "form-from-a-script"],
)
def test_api_clients_and_scripts_still_get_the_problem_document(client, path, accept):
    csrf(client)
    client.cookies.set("fincert_session", "fms_not-checked-before-the-csrf-token")
    answer = client.post(path, data=HOLDER if path == SIGNUP else None, headers={"accept": accept})
    assert answer.status_code == 403
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json() == {
        "type": "https://fincert.dev/problems/csrf",
        "title": "Forbidden",
        "status": 403,
        "detail": "the request lacks the CSRF token of this browser session; reload the page and try again",
    }
    assert "set-cookie" not in answer.headers


@pytest.mark.parametrize("authorization", ["Bearer ", "Bearer    ", "bearer"])
def test_an_empty_bearer_header_neither_skips_the_check_nor_uses_the_cookie(client, runtime, authorization):
    """Requests carrying their own Bearer token are exempt from the CSRF check; an empty one was
    exempt too and then fell back to the session cookie, so the cookie authorised a request that
    was never checked. Now it is checked, and an empty Bearer is no credential at all."""
    token = csrf(client)
    signed_up = client.post(SIGNUP, data={**HOLDER, "csrf_token": token}, follow_redirects=False)
    assert signed_up.status_code in (302, 303) and "fincert_session" in client.cookies
    assert client.get("/api/v1/me").status_code == 200  # the cookie is this browser's session
    assert client.get("/api/v1/me", headers={"authorization": authorization}).status_code == 401
    refused = client.post("/api/v1/me/applications", json={"kind": "issue", "product": "joint"}, headers={"authorization": authorization})
    assert refused.status_code == 403 and "csrf" in refused.text.lower()
    assert client.post("/api/v1/me/applications", json={"kind": "issue", "product": "joint"},
                       headers={"x-csrf-token": token}).status_code == 201  # nothing was opened before
