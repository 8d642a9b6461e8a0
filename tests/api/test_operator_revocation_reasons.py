"""An institution's operator revokes through the API with the reasons the console offers.

Regression: ``POST /api/v1/institutions/{code}/certificates/{serial}/revoke`` took every RFC 5280
reason, so a bank's operator could revoke a member's certificate as ``cACompromise`` (the CA's own
key compromised), ``aACompromise`` or ``privilegeWithdrawn`` — declarations only the CA can make,
and which the console never offers. They are refused with a 400 problem naming ``reason``, before
the serial is looked up (so the answer says nothing about another institution's certificates).
"""

from __future__ import annotations

import pytest
from api_helpers import assert_problem
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from holders import issue_joint

from fincert.api.app import create_app


@pytest.fixture(scope="module")
def holder_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def world(runtime, holder_key):
    runtime.institutions.ensure_samples()
    member = runtime.registrar.register_member("HANBIT", name="홍길동", rrn="900101-1234567", phone="010-1234-5678", email="h@example.com", actor="t")
    _, token = runtime.registrar.add_operator("HANBIT", "hanbit-op")
    serial = issue_joint(runtime, member.id, holder_key)
    with TestClient(create_app(runtime)) as client:
        yield client, {"authorization": f"Bearer {token}"}, serial


@pytest.mark.parametrize("reason", ["cACompromise", "aACompromise", "privilegeWithdrawn", "removeFromCRL", "bogus"])
def test_an_operator_cannot_revoke_with_a_reason_of_the_ca(world, runtime, reason):
    client, headers, serial = world
    answer = client.post(f"/api/v1/institutions/HANBIT/certificates/{serial}/revoke", json={"reason": reason}, headers=headers)
    body = assert_problem(answer, 400)
    assert body["field"] == "reason" and "cACompromise" not in body["detail"]
    assert runtime.lifecycle.show(serial).status == "active"
    # Refused before the lookup: a serial of no certificate of this institution gets the same answer.
    elsewhere = client.post(f"/api/v1/institutions/HANBIT/certificates/{'ab' * 16}/revoke", json={"reason": reason}, headers=headers)
    assert assert_problem(elsewhere, 400) == body


def test_an_operator_holds_restores_and_revokes_with_the_consoles_reasons(world, runtime):
    client, headers, serial = world
    held = client.post(f"/api/v1/institutions/HANBIT/certificates/{serial}/revoke", json={"reason": "certificateHold"}, headers=headers)
    assert held.status_code == 200 and held.json()["revocation_reason"] == "certificateHold"
    restored = client.post(f"/api/v1/institutions/HANBIT/certificates/{serial}/restore", headers=headers)
    assert restored.status_code == 200 and restored.json()["status"] == "active"
    revoked = client.post(f"/api/v1/institutions/HANBIT/certificates/{serial}/revoke", json={"reason": "keyCompromise"}, headers=headers)
    assert revoked.status_code == 200 and revoked.json()["revocation_reason"] == "keyCompromise"


def test_the_openapi_document_names_the_reasons(world):
    client, _, _ = world
    schema = client.get("/openapi.json").json()["components"]["schemas"]["RevokeIn"]["properties"]["reason"]
    assert "certificateHold" in schema["description"] and "cACompromise" not in schema["description"]
