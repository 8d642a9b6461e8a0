"""The registration journey over HTTP: sign-up, login, identity proofs, operator actions."""

from __future__ import annotations

import pyotp
import pytest
from fastapi.testclient import TestClient

from fincert.api.app import create_app


@pytest.fixture
def client(runtime):
    runtime.institutions.ensure_samples()
    with TestClient(create_app(runtime)) as c:
        yield c


def auth(token):
    return {"authorization": f"Bearer {token}"}


def test_signup_login_verify_with_otp(client, runtime):
    signup = client.post(
        "/api/v1/institutions/HANBIT/signup",
        json={"name": "홍길동", "rrn": "900101-1234567", "phone": "010-1234-5678", "email": "h@example.com", "login_id": "hong90", "password": "s3cret-pass"},
    )
    assert signup.status_code == 201, signup.text
    assert signup.json()["rrn"] == "900101-1******"
    _, op_token = runtime.registrar.add_operator("HANBIT", "op1")
    member_id = signup.json()["member_id"]
    otp = client.post(f"/api/v1/institutions/HANBIT/members/{member_id}/enrollments", json={"method": "otp"}, headers=auth(op_token))
    assert otp.status_code == 200 and otp.json()["uri"].startswith("otpauth://")

    token = client.post("/api/v1/auth/login", json={"institution": "HANBIT", "login_id": "hong90", "password": "s3cret-pass"}).json()["token"]
    # A password alone does not let anyone add a biometric authenticator.
    assert client.post("/api/v1/me/webauthn/registration", headers=auth(token)).status_code == 403
    me = client.get("/api/v1/me", headers=auth(token)).json()
    assert me["missing"]["issue"] == ["otp|security-card|webauthn"]
    challenge = client.post("/api/v1/me/verifications/otp", headers=auth(token)).json()
    code = pyotp.TOTP(otp.json()["secret"]).at(runtime.clock.now())
    wrong = client.post(f"/api/v1/me/verifications/otp/{challenge['challenge_id']}", json={"response": "000000" if code != "000000" else "111111"}, headers=auth(token))
    assert wrong.status_code == 401 and "attempts left" in wrong.json()["detail"]
    ok = client.post(f"/api/v1/me/verifications/otp/{challenge['challenge_id']}", json={"response": code}, headers=auth(token))
    assert ok.status_code == 200 and ok.json()["evidence"] == ["login", "otp"]
    assert client.get("/api/v1/me", headers=auth(token)).json()["missing"]["issue"] == []
    options = client.post("/api/v1/me/webauthn/registration", headers=auth(token))
    assert options.status_code == 200 and options.json()["options"]["authenticatorSelection"]["userVerification"] == "required"

    audit = client.get("/api/v1/institutions/HANBIT/audit", headers=auth(op_token)).json()["records"]
    assert {"verification.succeeded", "verification.failed", "member.signed-up"} <= {r["action"] for r in audit}


def test_invalid_fields_are_named_without_echoing_values(client):
    response = client.post(
        "/api/v1/institutions/HANBIT/signup",
        json={"name": "홍길동", "rrn": "901301-1234567", "phone": "010-1234-5678", "email": "h@example.com", "login_id": "hong90", "password": "s3cret-pass"},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "rrn" and "901301" not in response.text and "1234567" not in response.text
    missing = client.post("/api/v1/institutions/HANBIT/signup", json={"name": "x"})
    assert missing.status_code == 422 and "1234567" not in missing.text
    garbage = client.post("/api/v1/institutions/HANBIT/signup", content=b"\xff\x00garbage", headers={"content-type": "application/json"})
    assert garbage.status_code in (400, 422)
