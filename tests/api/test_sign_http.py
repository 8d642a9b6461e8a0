"""The signature API over HTTP: TSA, /api/v1/verify (JSON and multipart) and the example bank."""

from __future__ import annotations

import base64
import json

import pytest
from api_helpers import client, holder_key  # noqa: F401 - the shared fixtures

from fincert.ca.authority import IssuanceRequest, SubjectIdentity
from fincert.formats import npki, vid
from fincert.sign.tsa import build_timestamp_request, parse_timestamp_response

RRN = "900101-1234568"
DATA = "계좌이체 승인".encode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def signer(runtime, holder_key, tmp_path):
    random_num = npki.generate_random_num()
    issued = runtime.ca.issue(
        IssuanceRequest(
            "joint",
            holder_key.public_key(),
            SubjectIdentity("홍길동", "한빛은행"),
            identify_data=vid.identify_data_other_name("홍길동", RRN.replace("-", ""), random_num),
        )
    )
    folder = npki.write_npki_folder(
        tmp_path, "fincert", issued.certificate, npki.write_sign_pri_key(holder_key, "pw-1234567890!", random_num)
    )
    return runtime.signatures.signing.npki_key(folder, "pw-1234567890!")


def test_tsa_endpoint(client):
    request = build_timestamp_request(DATA, nonce=99)
    answer = client.post("/tsa", content=request, headers={"Content-Type": "application/timestamp-query"})
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/timestamp-reply"
    assert parse_timestamp_response(answer.content, request_der=request).granted

    wrong = client.post("/tsa", content=request, headers={"Content-Type": "application/octet-stream"})
    assert wrong.status_code == 415 and wrong.json()["type"].endswith("unsupported-media-type")
    garbage = client.post("/tsa", content=b"\xff" * 40, headers={"Content-Type": "application/timestamp-query"})
    assert garbage.status_code == 200 and parse_timestamp_response(garbage.content).status == "rejection"


def test_verify_json_and_multipart_agree(client, runtime, signer):
    document = runtime.signatures.signing.sign(DATA, signer, tsa="local")
    body = {"signature": b64(document.signature_der), "content": b64(DATA), "rrn": RRN, "random_num": document.random_num.hex()}
    as_json = client.post("/api/v1/verify", json=body)
    assert as_json.status_code == 200, as_json.text
    report = as_json.json()
    assert report["valid"] is True and report["vid_match"] is True and report["timestamp_valid"] is True
    assert RRN not in as_json.text

    multipart = client.post(
        "/api/v1/verify",
        files={"signature": ("s.p7s", document.signature_der), "content": ("d.txt", DATA)},
        data={"rrn": RRN, "random_num": document.random_num.hex()},
    )
    assert multipart.status_code == 200, multipart.text
    assert multipart.json() == report

    tampered = client.post("/api/v1/verify", json={**body, "content": b64(DATA + b"!")})
    assert tampered.status_code == 200 and tampered.json()["valid"] is False


@pytest.mark.parametrize(
    "body, field",
    [
        ({"signature": "!!!not base64"}, "signature"),
        ({"signature": b64(b"\x30\x80junk")}, None),
        ({"content": b64(DATA)}, "signature"),
    ],
)
def test_verify_bad_input_is_4xx(client, body, field):
    answer = client.post("/api/v1/verify", json=body)
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    if field:
        assert answer.json().get("field") == field


def test_verify_refuses_other_content_types_and_broken_json(client):
    assert client.post("/api/v1/verify", content=b"x", headers={"Content-Type": "text/plain"}).status_code == 415
    broken = client.post("/api/v1/verify", content=b"{not json", headers={"Content-Type": "application/json"})
    assert broken.status_code == 400
    leaked = client.post("/api/v1/verify", json={"signature": b64(b"\x30\x00"), "rrn": RRN, "random_num": "00" * 20})
    assert 400 <= leaked.status_code < 500 and "1234568" not in leaked.text


def test_openapi_documents_both_verify_bodies(client):
    spec = client.get("/openapi.json").json()
    content = spec["paths"]["/api/v1/verify"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(content)
    assert "application/timestamp-query" in spec["paths"]["/tsa"]["post"]["requestBody"]["content"]


def test_bank_login_and_transfer_flow(client, runtime, signer):
    signing = runtime.signatures.signing
    challenge = client.post("/api/v1/rp/challenge").json()
    signed_challenge = signing.sign(base64.b64decode(challenge["challenge"]), signer).signature_der
    login = client.post("/api/v1/rp/login", json={"challenge_id": challenge["challenge_id"], "signature": b64(signed_challenge)})
    assert login.status_code == 200, login.text
    assert login.json()["signer"] == signer.certificate.subject.rfc4514_string()
    replay = client.post("/api/v1/rp/login", json={"challenge_id": challenge["challenge_id"], "signature": b64(signed_challenge)})
    assert replay.status_code == 404

    order = json.dumps({"from_account": "110-1", "to_account": "220-2", "amount": 1000000}, ensure_ascii=False).encode()
    unstamped = client.post("/api/v1/rp/transfer", json={"order": b64(order), "signature": b64(signing.sign(order, signer).signature_der)})
    assert unstamped.status_code == 422
    stamped = signing.sign(order, signer, tsa="local")
    accepted = client.post("/api/v1/rp/transfer", json={"order": b64(order), "signature": b64(stamped.signature_der)})
    assert accepted.status_code == 201, accepted.text
    record = accepted.json()
    assert record["order"]["amount"] == 1000000 and record["timestamp"] is not None

    fetched = client.get(f"/api/v1/rp/evidence/{record['reference']}")
    assert fetched.status_code == 200 and fetched.json() == record
    assert base64.b64decode(fetched.json()["signature"]) == stamped.signature_der
    # Only the random reference opens a record: the sequential id does not, so one receipt
    # does not let anyone walk the other customers' orders.
    assert len(record["reference"]) >= 22
    assert client.get(f"/api/v1/rp/evidence/{record['id']}").status_code == 404
    assert client.get("/api/v1/rp/evidence/999999").status_code == 404
    assert client.get("/api/v1/rp/evidence/" + "x" * 65).status_code == 422
    assert client.post("/api/v1/rp/login", json={"challenge_id": "x"}).status_code == 422
