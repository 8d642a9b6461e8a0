"""What the HTTP API tests share: a member and an operator to call the API as, and the check that
an answer is a problem document."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from fincert.api.app import create_app

PROBLEM = "application/problem+json"
RRN = "900101-1234567"
PASSWORD = "s3cret-pass"


def member_and_operator(runtime) -> dict:
    """The sample institutions, a member of HANBIT (login ID ``hong90``, ``RRN``, ``PASSWORD``)
    logged in and an operator of HANBIT: the member's and the operator's bearer tokens and the
    member's id (keys ``member``, ``operator``, ``member_id``)."""
    runtime.institutions.ensure_samples()
    reg = runtime.registrar
    member = reg.register_member(
        "HANBIT", name="홍길동", rrn=RRN, phone="010-1234-5678", email="h@example.com",
        login_id="hong90", password=PASSWORD, actor="t", online=True,
    )
    _, operator = reg.add_operator("HANBIT", "hanbit-op")
    member_token = reg.login("HANBIT", "hong90", PASSWORD, address="127.0.0.1").token
    return {"member": member_token, "operator": operator, "member_id": member.id}


def assert_problem(response, status: int) -> dict:
    """The answer has ``status`` and is a problem document saying so: its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    return body


@pytest.fixture(scope="module")
def holder_key() -> rsa.RSAPrivateKey:
    """A holder's RSA-2048 key, one per test module (key generation is slow)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def client(runtime):
    """The app behind a test client; a 500 shows as a status, as a client would get it."""
    with TestClient(create_app(runtime), raise_server_exceptions=False) as test_client:
        yield test_client
