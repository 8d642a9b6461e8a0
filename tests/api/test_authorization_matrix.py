"""Every /api/v1 route refuses callers it is not for: an authorization matrix over the app.

Routes are discovered from the application's OpenAPI document, so a new route that nobody classified fails
this test until it is listed as public or falls under the operator or member prefixes.
"""

from __future__ import annotations

import re

import pytest
from api_helpers import member_and_operator
from fastapi.testclient import TestClient

from fincert.api.app import create_app

#: Routes anyone may call (the holder before login, relying parties, demo helpers).
PUBLIC = {
    ("GET", "/api/v1/institutions"),
    ("POST", "/api/v1/institutions/{code}/signup"),
    ("POST", "/api/v1/auth/login"),
    ("GET", "/api/v1/demo/outbox"),
    ("POST", "/api/v1/verify"),
    ("POST", "/api/v1/certificates/collect"),  # authorised by the reference number and authorization code
    # The example relying party (a bank) authenticates holders by their signatures.
    ("POST", "/api/v1/rp/challenge"),
    ("POST", "/api/v1/rp/login"),
    ("POST", "/api/v1/rp/transfer"),
    ("GET", "/api/v1/rp/evidence/{reference}"),  # a random reference, handed out with the order
}


def classify(method: str, path: str) -> str:
    if (method, path) in PUBLIC:
        return "public"
    if path.startswith("/api/v1/institutions/{code}/"):
        return "operator"
    if path.startswith("/api/v1/me") or path == "/api/v1/auth/logout":
        return "member"
    return "unclassified"


@pytest.fixture
def world(runtime):
    tokens = member_and_operator(runtime)
    _, other = runtime.registrar.add_operator("NURI", "nuri-op")
    app = create_app(runtime)
    with TestClient(app) as client:
        client.fincert_app = app
        yield client, {"member": tokens["member"], "own": tokens["operator"], "other": other, "member_id": tokens["member_id"]}


def concrete(path: str, member_id: int) -> str:
    values = {"code": "HANBIT", "member_id": str(member_id)}
    return re.sub(r"\{(\w+)(:[^}]*)?\}", lambda m: values.get(m.group(1), "1"), path)


def call(client, method, path, token=None):
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return client.request(method, path, headers=headers, json={})


def test_every_route_is_classified_and_refuses_the_wrong_callers(world):
    client, tokens = world
    # The OpenAPI document lists every route with its methods (and so proves they are documented).
    routes = [
        (method.upper(), path)
        for path, operations in client.fincert_app.openapi()["paths"].items()
        if path.startswith("/api/v1")
        for method in operations
    ]
    assert len(routes) >= 15
    unclassified = [r for r in routes if classify(*r) == "unclassified"]
    assert not unclassified, f"classify these routes in the matrix: {unclassified}"
    checked = 0
    for method, path in routes:
        kind = classify(method, path)
        url = concrete(path, tokens["member_id"])
        if kind == "operator":
            assert call(client, method, url).status_code == 401, (method, path)
            assert call(client, method, url, tokens["member"]).status_code == 403, (method, path)
            assert call(client, method, url, tokens["other"]).status_code == 403, (method, path)
            assert call(client, method, url, tokens["own"]).status_code not in (401, 403), (method, path)
            checked += 1
        elif kind == "member":
            assert call(client, method, url).status_code == 401, (method, path)
            assert call(client, method, url, tokens["own"]).status_code == 403, (method, path)
            checked += 1
    assert checked >= 10


def test_refusals_are_problem_documents(world):
    client, tokens = world
    response = call(client, "GET", "/api/v1/institutions/HANBIT/members", tokens["other"])
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 403


@pytest.mark.parametrize("token", ["garbage", "fop", "FMS_x", "Basic x", "\x7f"])
def test_a_token_that_is_no_token_of_the_service_is_401_not_403(world, token):
    """A credential the service does not know is no caller at all: 401 (it was a 403 "this
    operation is for members/operators", as if a known caller of the other kind had called)."""
    client, tokens = world
    for method, url in (("GET", "/api/v1/me"), ("GET", "/api/v1/institutions/HANBIT/members")):
        response = call(client, method, url, token)
        assert response.status_code == 401, (url, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"] == 'Bearer realm="fincert"'  # RFC 9110 §11.6.1
    # A known caller of the other kind is still refused with 403.
    assert call(client, "GET", "/api/v1/me", tokens["own"]).status_code == 403
    assert call(client, "GET", "/api/v1/institutions/HANBIT/members", tokens["member"]).status_code == 403


def test_the_openapi_document_names_who_may_call_each_operation(world):
    """Each operator or member operation lists its bearer scheme, so generated clients send it."""
    client, _ = world
    document = client.fincert_app.openapi()
    schemes = document["components"]["securitySchemes"]
    assert schemes["operatorToken"]["scheme"] == "bearer" and schemes["memberSession"]["scheme"] == "bearer"
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            kind = classify(method.upper(), path)
            if kind in ("operator", "member"):
                expected = "operatorToken" if kind == "operator" else "memberSession"
                assert {name for entry in operation.get("security", []) for name in entry} == {expected}, (method, path)
