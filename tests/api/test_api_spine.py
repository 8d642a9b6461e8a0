"""The HTTP edge of the spine: health, CA certificates, problem documents, size limits."""

from __future__ import annotations

import pytest
from cryptography import x509
from fastapi.testclient import TestClient

from fincert.api.app import create_app


@pytest.fixture
def client(runtime):
    with TestClient(create_app(runtime)) as c:
        yield c


def test_healthz(client, runtime):
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["database"] == runtime.db.dialect


def test_ca_issuers_urls_serve_der(client, runtime):
    hierarchy = runtime.ca.hierarchy()
    for authority_id, expected in ((hierarchy.root_id, hierarchy.root), (hierarchy.issuing_id, hierarchy.issuing)):
        response = client.get(f"/ca/{authority_id}.crt")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/pkix-cert"
        assert x509.load_der_x509_certificate(response.content) == expected


def test_unknown_resources_are_problem_documents(client):
    response = client.get("/ca/999999.crt")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 404 and body["type"].endswith("/not-found") and "999999" in body["detail"]
    assert client.get("/ca/abc.crt").status_code == 422


def test_oversized_bodies_are_refused_with_413(client):
    response = client.post("/healthz", content=b"x" * (2 * 1024 * 1024), headers={"content-type": "application/octet-stream"})
    assert response.status_code == 413
    assert response.json()["status"] == 413


def test_oversized_ocsp_requests_get_an_ocsp_answer(client):
    from cryptography.x509 import ocsp

    response = client.post("/ocsp", content=b"\x30" * (2 * 1024 * 1024), headers={"content-type": "application/ocsp-request"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/ocsp-response"
    assert ocsp.load_der_ocsp_response(response.content).response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST
