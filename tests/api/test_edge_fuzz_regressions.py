"""Regressions found by walking every route of the OpenAPI document with malformed input.

Each was a 500 or an answer other than a 4xx problem document for bad input, or an OpenAPI
document that did not say what the service answers:

- a chunked body (no Content-Length) past the size limit: FastAPI turned the limit's error into
  its generic 400 "There was an error parsing the body"; where a route read the body itself the
  client got the 413 but the access log and the metrics recorded a 500;
- a JSON integer longer than Python's 4300-digit conversion limit in ``/api/v1/verify``: a plain
  ``ValueError`` from ``json.loads``, a 500;
- a NUL character in a string the service looks rows up by (reference number, authorization
  code, relying-party challenge id, evidence reference): PostgreSQL refuses to bind it, a 500;
- a static file path with a NUL byte or a name too long for the file system: a 500; and a
  missing static file was an empty 404, not a problem document;
- ``limit`` of the institution audit: any integer was accepted and silently clamped;
- the OCSP routes (plain Starlette routes) were logged and counted as ``unmatched``, so the OCSP
  metrics never counted a request;
- OpenAPI: every 422 documented as FastAPI's ``{"detail": [...]}`` JSON (the service answers a
  problem document), no other error documented, the DER downloads documented as JSON, and the
  OCSP routes missing.
"""

from __future__ import annotations

import base64
import json
import re

import pytest
from api_helpers import PASSWORD, PROBLEM, RRN, assert_problem, member_and_operator
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from fincert.api.app import create_app
from fincert.api.limits import DEFAULT_MAX_BODY
from fincert.storage.models_ra import Member


@pytest.fixture
def world(runtime):
    tokens = member_and_operator(runtime)
    app = create_app(runtime)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, app, tokens


def _chunks(total: int, size: int = 64 * 1024):
    """A body sent chunked: no Content-Length for the size limit to refuse up front."""
    sent = 0
    while sent < total:
        yield b" " * min(size, total - sent)
        sent += size


def _requests_counted(route: str, status: int) -> float:
    value = REGISTRY.get_sample_value("fincert_http_requests_total", {"method": "POST", "route": route, "status": str(status)})
    return value or 0.0


# -- bodies past the size limit, sent without a Content-Length -----------------------------------


@pytest.mark.parametrize(
    "path, content_type",
    [
        ("/api/v1/auth/login", "application/json"),  # a body FastAPI parses
        ("/api/v1/institutions/HANBIT/signup", "application/json"),
        ("/api/v1/verify", "application/json"),  # a route that reads the body itself
        ("/api/v1/verify", "multipart/form-data; boundary=x"),
        ("/tsa", "application/timestamp-query"),
    ],
)
def test_a_chunked_body_past_the_limit_is_413_and_counted_as_413(world, runtime, path, content_type):
    client, app, _ = world
    route = path.replace("HANBIT", "{code}")
    errors_before = _requests_counted(route, 500)
    refused_before = _requests_counted(route, 413)
    members_before = _members(runtime)
    response = client.post(path, content=_chunks(DEFAULT_MAX_BODY + 1), headers={"content-type": content_type})
    body = assert_problem(response, 413)
    assert body["type"].endswith("/too-large")
    assert str(DEFAULT_MAX_BODY) in body["detail"]
    # What the operator sees agrees with what the client got.
    assert _requests_counted(route, 500) == errors_before
    assert _requests_counted(route, 413) == refused_before + 1
    assert _members(runtime) == members_before


def _ocsp_counted(method: str) -> float:
    return REGISTRY.get_sample_value("fincert_ocsp_requests_total", {"method": method, "outcome": "success"}) or 0.0


def test_a_chunked_ocsp_request_past_the_limit_is_an_ocsp_answer_counted_as_200(world):
    from cryptography.x509 import ocsp

    client, _, _ = world
    answered_before, ocsp_before = _requests_counted("/ocsp", 200), _ocsp_counted("POST")
    unmatched_errors_before = _requests_counted("unmatched", 500)
    response = client.post("/ocsp", content=_chunks(DEFAULT_MAX_BODY + 1), headers={"content-type": "application/ocsp-request"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/ocsp-response"
    assert ocsp.load_der_ocsp_response(response.content).response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    assert _requests_counted("unmatched", 500) == unmatched_errors_before
    assert _requests_counted("/ocsp", 200) == answered_before + 1
    assert _ocsp_counted("POST") == ocsp_before + 1


def test_ocsp_requests_are_counted_under_their_routes(world):
    """The OCSP routes are plain Starlette routes: they were all counted as ``unmatched``, and the
    OCSP metrics (``fincert_ocsp_requests_total``) never counted one."""
    client, _, _ = world
    get_before = REGISTRY.get_sample_value("fincert_http_requests_total", {"method": "GET", "route": "/ocsp/{encoded}", "status": "200"}) or 0.0
    ocsp_get_before, ocsp_post_before = _ocsp_counted("GET"), _ocsp_counted("POST")
    assert client.get("/ocsp/MAMCAQE=").status_code == 200
    assert client.post("/ocsp", content=b"\x30\x00", headers={"content-type": "application/ocsp-request"}).status_code == 200
    assert REGISTRY.get_sample_value("fincert_http_requests_total", {"method": "GET", "route": "/ocsp/{encoded}", "status": "200"}) == get_before + 1
    assert (_ocsp_counted("GET"), _ocsp_counted("POST")) == (ocsp_get_before + 1, ocsp_post_before + 1)


def test_a_chunked_body_within_the_limit_is_read(world):
    client, _, _ = world
    body = json.dumps({"institution": "HANBIT", "login_id": "hong90", "password": PASSWORD}).encode()
    response = client.post("/api/v1/auth/login", content=iter([body[:10], body[10:]]), headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text
    assert response.json()["token"].startswith("fms_")


def _members(runtime) -> int:
    with runtime.db.reader() as s:
        return s.execute(select(func.count()).select_from(Member)).scalar_one()


# -- JSON the parser refuses with a plain ValueError --------------------------------------------


@pytest.mark.parametrize("number", ["9" * 5000, "-" + "9" * 4301])
def test_verify_json_with_a_number_past_the_digit_limit_is_400(world, number):
    client, _, _ = world
    body = b'{"signature": "MAMCAQE=", "x": ' + number.encode() + b"}"
    response = client.post("/api/v1/verify", content=body, headers={"content-type": "application/json"})
    problem = assert_problem(response, 400)
    assert problem["type"].endswith("/invalid-input")


# -- NUL characters in the strings rows are looked up by -----------------------------------------


@pytest.mark.parametrize("value", ["\x00", "12345\x006789"])
def test_nul_in_lookup_keys_is_refused_not_a_server_error(world, runtime, value):
    client, _, _ = world
    members_before = _members(runtime)
    collect = {"reference_number": "123456789012", "authorization_code": "abc", "storage": "cloud", "pin": "482916"}
    for field in ("reference_number", "authorization_code"):
        response = client.post("/api/v1/certificates/collect", json={**collect, field: value})
        body = assert_problem(response, 422)
        assert [e["field"] for e in body["errors"]] == [field]
        assert "482916" not in response.text
    response = client.post("/api/v1/rp/login", json={"challenge_id": value, "signature": "MAMCAQE="})
    assert_problem(response, 422)
    encoded = value.replace("\x00", "%00")
    assert_problem(client.get(f"/api/v1/rp/evidence/{encoded}"), 422)
    assert _members(runtime) == members_before


# -- static files ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["%00", "app.css%00.png", "a" * 5000, "no-such-file.js", "..%2f..%2fpyproject.toml", "js"])
def test_static_paths_that_name_no_file_are_404_problems(world, path):
    client, _, _ = world
    body = assert_problem(client.get(f"/static/{path}"), 404)
    assert body["type"].endswith("/http-404")
    page = client.get(f"/static/{path}", headers={"accept": "text/html"})
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")


def test_static_files_are_still_served(world):
    client, _, _ = world
    response = client.get("/static/app.css")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/css")


# -- query parameters --------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", ["-1", "0", "1001", str(2**63), "9" * 40, "x"])
def test_audit_limit_outside_its_range_is_422(world, limit):
    client, _, tokens = world
    response = client.get(f"/api/v1/institutions/HANBIT/audit?limit={limit}", headers={"authorization": f"Bearer {tokens['operator']}"})
    body = assert_problem(response, 422)
    assert body["errors"][0]["field"] == "query.limit"


def test_audit_limit_within_its_range_limits(world):
    client, _, tokens = world
    headers = {"authorization": f"Bearer {tokens['operator']}"}
    assert len(client.get("/api/v1/institutions/HANBIT/audit?limit=1", headers=headers).json()["records"]) == 1
    assert client.get("/api/v1/institutions/HANBIT/audit?limit=1000", headers=headers).status_code == 200


# -- the OpenAPI document ----------------------------------------------------------------------------


def test_openapi_documents_errors_as_the_problem_documents_sent(world):
    client, _, _ = world
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    problem = schemas["Problem"]
    operations = [(path, method, op) for path, ops in spec["paths"].items() for method, op in ops.items()]
    assert len(operations) >= 30
    for path, method, op in operations:
        errors = {status: r for status, r in op["responses"].items() if status.startswith("4")}
        # OCSP answers its errors as OCSP responses: only a wrong method is a problem document.
        assert ("405" if path.startswith("/ocsp") else "4XX") in errors, (method, path)
        for status, response in errors.items():
            assert list(response["content"]) == [PROBLEM], (method, path, status)
            assert response["content"][PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}
    # The 422 a validation failure really gets has the documented shape.
    answer = client.get("/api/v1/demo/outbox?member_id=0")
    assert answer.headers["content-type"] == PROBLEM
    body = answer.json()
    assert set(problem["required"]) <= set(body) <= set(problem["properties"])
    assert set(body["errors"][0]) == set(problem["properties"]["errors"]["items"]["properties"])


def test_openapi_documents_the_der_downloads_and_ocsp(world, runtime):
    client, _, _ = world
    paths = client.get("/openapi.json").json()["paths"]
    documented = {
        "/ca/{authority_id}.crt": "application/pkix-cert",
        "/crl/{authority_id}/{scope}.crl": "application/pkix-crl",
    }
    hierarchy = runtime.ca.hierarchy()
    for template, media_type in documented.items():
        assert list(paths[template]["get"]["responses"]["200"]["content"]) == [media_type]
        url = template.replace("{authority_id}", str(hierarchy.issuing_id)).replace("{scope}", "full")
        assert client.get(url).headers["content-type"] == media_type
    assert paths["/crl/{authority_id}/{scope}.crl"]["get"]["parameters"][0]["schema"]["maximum"] == 2**63 - 1
    assert list(paths["/ocsp"]) == ["post"]
    assert list(paths["/ocsp"]["post"]["requestBody"]["content"]) == ["application/ocsp-request"]
    assert list(paths["/ocsp/{encoded}"]) == ["get"]
    for operation in (paths["/ocsp"]["post"], paths["/ocsp/{encoded}"]["get"]):
        assert list(operation["responses"]["200"]["content"]) == ["application/ocsp-response"]
    audit = next(p for p in paths["/api/v1/institutions/{code}/audit"]["get"]["parameters"] if p["name"] == "limit")
    assert (audit["schema"]["minimum"], audit["schema"]["maximum"]) == (1, 1000)


def test_every_documented_path_is_served(world):
    """No documented operation is a 404 or 405 for lack of a route (the OCSP paths included)."""
    client, app, tokens = world
    spec = client.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        url = re.sub(r"\{(\w+)\}", lambda m: {"code": "HANBIT", "scope": "full"}.get(m.group(1), "1"), path)
        for method in operations:
            response = client.request(method, url, headers={"authorization": f"Bearer {tokens['operator']}"})
            assert response.status_code != 405, (method, path)
            if response.status_code == 404:
                assert response.headers["content-type"] == PROBLEM and not response.json()["type"].endswith("/http-404"), (method, path)


# -- every JSON body, fuzzed ------------------------------------------------------------------------

_ODD_TEXT = st.sampled_from(["", "\x00", "a\x00b", "\ud800", "\u202e", "9" * 70, "-1", RRN, "x" * 3000, "\r\n", "%00"])
_ODD_VALUE = st.one_of(
    _ODD_TEXT,
    st.text(max_size=40),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _json_operations(spec: dict) -> list[tuple[str, str, list[str]]]:
    found = []
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if schema is None:
                continue
            if "$ref" in schema:
                schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
            found.append((method.upper(), path, sorted(schema.get("properties", {}))))
    return found


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_any_json_body_on_any_route_is_never_a_server_error(world, data):
    client, app, tokens = world
    operations = _json_operations(app.openapi())
    assert len(operations) >= 12
    method, path, fields = data.draw(st.sampled_from(operations))
    body = data.draw(st.dictionaries(st.sampled_from([*fields, "extra"]), _ODD_VALUE, max_size=len(fields) + 1))
    if path.startswith("/api/v1/institutions/{code}/") and not path.endswith("/signup"):
        token = tokens["operator"]
    elif path.startswith("/api/v1/me"):
        token = tokens["member"]
    else:
        token = None
    url = re.sub(r"\{(\w+)\}", lambda m: {"code": "HANBIT", "member_id": str(tokens["member_id"])}.get(m.group(1), "1"), path)
    headers = {"content-type": "application/json", **({"authorization": f"Bearer {token}"} if token else {})}
    response = client.request(method, url, content=json.dumps(body).encode(), headers=headers)
    assert response.status_code < 500, (method, path, body, response.text)
    if response.status_code >= 400:
        assert response.headers["content-type"] == PROBLEM, (method, path, response.text)
    assert RRN not in response.text and PASSWORD not in response.text


def test_the_fuzzed_bodies_reach_the_routes(world):
    """The fuzz above is not vacuous: a well-formed body through the same helper is served."""
    client, app, _ = world
    operations = _json_operations(app.openapi())
    assert ("POST", "/api/v1/verify", ["content", "random_num", "rrn", "signature"]) in operations
    assert ("POST", "/api/v1/certificates/collect", sorted(["reference_number", "authorization_code", "storage", "csr", "random_num", "pin", "renewal_proof"])) in operations
    signature = base64.b64encode(b"\x30\x03\x02\x01\x01").decode()
    response = client.post("/api/v1/verify", json={"signature": signature})
    assert response.status_code == 400 and "CMS" in response.json()["detail"]
