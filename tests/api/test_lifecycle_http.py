"""The issuance and reissuance journeys over HTTP, as the web app and other clients use them."""

from __future__ import annotations

import base64
import re
import secrets

import pyotp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient

from fincert.api.app import create_app


@pytest.fixture
def journey(runtime):
    runtime.institutions.ensure_samples()
    with TestClient(create_app(runtime)) as client:
        signup = client.post("/api/v1/institutions/HANBIT/signup", json={
            "name": "홍길동", "rrn": "900101-1234567", "phone": "010-1234-5678", "email": "h@example.com",
            "login_id": "hong90", "password": "s3cret-pass"})
        member_id = signup.json()["member_id"]
        otp = runtime.registrar.enroll(member_id, "otp", actor="op")
        token = client.post("/api/v1/auth/login", json={"institution": "HANBIT", "login_id": "hong90", "password": "s3cret-pass"}).json()["token"]
        headers = {"authorization": f"Bearer {token}"}

        def prove(method="otp"):
            challenge = client.post(f"/api/v1/me/verifications/{method}", headers=headers).json()
            if method == "otp":
                answer = pyotp.TOTP(otp["secret"]).at(runtime.clock.now())
            else:
                answer = re.search(r"\[(\d{6})\]", runtime.registrar.outbox(member_id=member_id)[0]["text"]).group(1)
            r = client.post(f"/api/v1/me/verifications/{method}/{challenge['challenge_id']}", json={"response": answer}, headers=headers)
            assert r.status_code == 200, r.text

        yield client, headers, prove, runtime


def test_issue_to_cloud_sign_and_reissue_over_http(journey):
    client, headers, prove, runtime = journey
    app = client.post("/api/v1/me/applications", json={"kind": "issue", "product": "financial"}, headers=headers)
    assert app.status_code == 201 and app.json()["missing"] == ["otp|security-card|webauthn"]
    early = client.post(f"/api/v1/me/applications/{app.json()['application_id']}/verify", headers=headers)
    assert early.status_code == 401 and "otp" in early.json()["detail"]
    prove()
    verified = client.post(f"/api/v1/me/applications/{app.json()['application_id']}/verify", headers=headers).json()
    assert re.fullmatch(r"\d{12}", verified["reference_number"])
    bad_pin = client.post("/api/v1/certificates/collect", json={**{k: verified[k] for k in ("reference_number", "authorization_code")}, "storage": "cloud", "pin": "111111"})
    assert bad_pin.status_code == 400 and bad_pin.json()["field"] == "pin" and "111111" not in bad_pin.text
    issued = client.post("/api/v1/certificates/collect", json={**{k: verified[k] for k in ("reference_number", "authorization_code")}, "storage": "cloud", "pin": "482916"})
    assert issued.status_code == 200, issued.text
    serial = issued.json()["serial"]
    cert = x509.load_pem_x509_certificate(issued.json()["certificate"].encode())
    assert format(cert.serial_number, "x") == serial

    empty = client.post(f"/api/v1/me/certificates/{serial}/sign", json={"pin": "482916", "data_b64": ""}, headers=headers)
    assert empty.status_code == 400 and empty.json()["field"] == "data_b64"
    signed = client.post(f"/api/v1/me/certificates/{serial}/sign", json={"pin": "482916", "data_b64": base64.b64encode(b"transfer").decode()}, headers=headers)
    assert signed.status_code == 200 and len(bytes.fromhex(signed.json()["random_num"])) == 20
    wrong = client.post(f"/api/v1/me/certificates/{serial}/sign", json={"pin": "999999", "data_b64": base64.b64encode(b"x").decode()}, headers=headers)
    assert wrong.status_code == 401 and "999999" not in wrong.text

    reissue = client.post("/api/v1/me/applications", json={"kind": "reissue", "reason": "forgotten"}, headers=headers).json()
    assert reissue["target_serial"] == serial
    runtime.clock.advance(seconds=31)  # a new OTP time step: the earlier code may not be replayed
    prove("otp")
    prove("sms")
    verified = client.post(f"/api/v1/me/applications/{reissue['application_id']}/verify", headers=headers).json()
    new = client.post("/api/v1/certificates/collect", json={**{k: verified[k] for k in ("reference_number", "authorization_code")}, "storage": "cloud", "pin": "735190"}).json()
    assert new["replaced"] == serial
    mine = {c["serial"]: c["status"] for c in client.get("/api/v1/me/certificates", headers=headers).json()["certificates"]}
    assert mine == {serial: "revoked", new["serial"]: "active"}


def test_file_collection_with_csr_and_garbage(journey):
    client, headers, prove, runtime = journey
    app = client.post("/api/v1/me/applications", json={"kind": "issue", "product": "joint"}, headers=headers).json()
    prove()
    verified = client.post(f"/api/v1/me/applications/{app['application_id']}/verify", headers=headers).json()
    ref = {k: verified[k] for k in ("reference_number", "authorization_code")}
    garbage = client.post("/api/v1/certificates/collect", json={**ref, "storage": "file", "csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----", "random_num": "00" * 20})
    assert garbage.status_code == 400 and garbage.json()["field"] == "csr"
    wrong_type = client.post("/api/v1/certificates/collect", content=b"\x30\x82garbage", headers={"content-type": "application/pkcs10"})
    assert 400 <= wrong_type.status_code < 500
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])).sign(key, hashes.SHA256())
    ok = client.post("/api/v1/certificates/collect", json={**ref, "storage": "file", "csr": csr.public_bytes(serialization.Encoding.PEM).decode(), "random_num": secrets.token_hex(20)})
    assert ok.status_code == 200 and ok.json()["storage"] == "file" and len(ok.json()["chain"]) == 2
    # The answer is the documented CollectedOut, key for key, and its certificate is the CSR's key.
    documented = client.get("/openapi.json").json()
    response_schema = documented["paths"]["/api/v1/certificates/collect"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert response_schema == {"$ref": "#/components/schemas/CollectedOut"}
    assert set(ok.json()) == set(documented["components"]["schemas"]["CollectedOut"]["properties"])
    issued = x509.load_pem_x509_certificate(ok.json()["certificate"].encode())
    assert issued.public_key().public_numbers() == key.public_key().public_numbers()
    assert ok.json()["serial"] == format(issued.serial_number, "x")
    revoked = client.post(f"/api/v1/me/certificates/{ok.json()['serial']}/revoke", json={"reason": "keyCompromise"}, headers=headers)
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"


def test_operator_holds_and_restores_over_http_and_the_console(journey):
    """The institution's operator suspends (certificateHold) and restores over the API; the
    console shows a held certificate with its restore button; a final revocation is not undone."""
    client, headers, prove, runtime = journey
    prove()
    app = client.post("/api/v1/me/applications", json={"kind": "issue", "product": "financial"}, headers=headers).json()
    verified = client.post(f"/api/v1/me/applications/{app['application_id']}/verify", headers=headers).json()
    serial = client.post("/api/v1/certificates/collect", json={
        **{k: verified[k] for k in ("reference_number", "authorization_code")}, "storage": "cloud", "pin": "482916"}).json()["serial"]
    _, operator_token = runtime.registrar.add_operator("HANBIT", "hanbit-op", password="operator-pass-1")
    _, other_token = runtime.registrar.add_operator("NURI", "nuri-op")
    operator = {"authorization": f"Bearer {operator_token}"}
    base = f"/api/v1/institutions/HANBIT/certificates/{serial}"

    held = client.post(f"{base}/revoke", json={"reason": "certificateHold"}, headers=operator)
    assert held.status_code == 200 and held.json()["revocation_reason"] == "certificateHold"
    signing = client.post(f"/api/v1/me/certificates/{serial}/sign", json={"pin": "482916", "data_b64": "eA=="}, headers=headers)
    assert signing.status_code == 409 and "on hold" in signing.json()["detail"]
    other = client.post(f"/api/v1/institutions/NURI/certificates/{serial}/restore", headers={"authorization": f"Bearer {other_token}"})
    assert other.status_code == 404

    # The console: the held certificate has a restore button, which restores it.
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").text).group(1)
    client.post("/console/login", data={"csrf_token": token, "username": "hanbit-op", "password": "operator-pass-1"})
    page = client.get("/console/certificates")
    assert f'action="/console/certificates/{serial}/restore"' in page.text and "효력 정지" in page.text
    console = client.post(f"/console/certificates/{serial}/restore", data={"csrf_token": token}, follow_redirects=False)
    assert console.status_code == 303 and runtime.lifecycle.show(serial).status == "active"
    assert client.post(f"{base}/revoke", json={"reason": "certificateHold"}, headers=operator).status_code == 200

    restored = client.post(f"{base}/restore", headers=operator)
    assert restored.status_code == 200 and (restored.json()["status"], restored.json()["revocation_reason"]) == ("active", None)
    assert client.post(f"/api/v1/me/certificates/{serial}/sign", json={"pin": "482916", "data_b64": "eA=="}, headers=headers).status_code == 200
    again = client.post(f"{base}/restore", headers=operator)
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"
    documented = client.get("/openapi.json").json()["paths"]
    assert "/api/v1/institutions/{code}/certificates/{serial}/restore" in documented
