"""The VA's HTTP edge: OCSP over POST and GET (encodings, errors, caching headers) and CRL URLs."""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import urllib.parse

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509 import ocsp
from fastapi.testclient import TestClient

from fincert.api.app import create_app
from fincert.api.routes.va import decode_get_request
from fincert.ca.authority import IssuanceRequest, SubjectIdentity
from fincert.va.ocsp import parse_response_statuses

OCSP_REQUEST = {"content-type": "application/ocsp-request"}


@pytest.fixture(scope="module")
def subscriber_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def client(runtime):
    with TestClient(create_app(runtime)) as c:
        yield c


@pytest.fixture
def holder(runtime, subscriber_key) -> x509.Certificate:
    return runtime.ca.issue(IssuanceRequest("joint", subscriber_key.public_key(), SubjectIdentity("이서연", "한빛은행"))).certificate


def request_der(runtime, cert, *, nonce: bytes | None = None) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, runtime.ca.hierarchy().issuing, hashes.SHA1())
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def response_status(content: bytes) -> str:
    return parse_response_statuses(content)[0]


@pytest.mark.parametrize(
    "body, headers",
    [
        (b"\x30\x03abc", OCSP_REQUEST),
        (b"", OCSP_REQUEST),
        (b"\x30\x82" + b"\x00" * 20_000, OCSP_REQUEST),  # larger than any request we answer
        (None, {"content-type": "application/json"}),  # a valid request under the wrong type
    ],
)
def test_bad_posts_get_malformed_request_never_a_5xx(client, runtime, holder, body, headers):
    content = request_der(runtime, holder) if body is None else body
    response = client.post("/ocsp", content=content, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/ocsp-response"
    assert response.headers["cache-control"] == "no-store"
    assert response_status(response.content) == "malformed_request"


def test_bad_get_paths_get_malformed_request(client):
    for path in ("/ocsp/!!!notbase64", "/ocsp/", "/ocsp/" + "A" * 30_000, "/ocsp/MAMCAQ=="):
        response = client.get(path)
        assert response.status_code == 200 and response_status(response.content) == "malformed_request", path


def test_post_with_nonce_is_echoed_and_not_cached(client, runtime, holder):
    response = client.post("/ocsp", content=request_der(runtime, holder, nonce=b"0123456789abcdef"), headers=OCSP_REQUEST)
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    parsed = ocsp.load_der_ocsp_response(response.content)
    assert parsed.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert parsed.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"0123456789abcdef"


def test_get_accepts_every_base64_spelling_and_sets_cache_headers(client, runtime, holder):
    der = request_der(runtime, holder)
    standard = base64.b64encode(der).decode()
    spellings = {
        standard,
        urllib.parse.quote(standard, safe=""),
        base64.urlsafe_b64encode(der).decode().rstrip("="),
    }
    bodies = set()
    for spelling in spellings:
        response = client.get(f"/ocsp/{spelling}")
        assert response.status_code == 200 and response.headers["content-type"] == "application/ocsp-response"
        bodies.add(response.content)
    assert len(bodies) == 1  # the same pre-signed response
    parsed = ocsp.load_der_ocsp_response(bodies.pop())
    assert parsed.certificate_status == ocsp.OCSPCertStatus.GOOD and parsed.serial_number == holder.serial_number

    headers = response.headers
    max_age = int(headers["cache-control"].split("max-age=")[1].split(",")[0])
    now = runtime.clock.now()
    assert 0 < max_age <= (parsed.next_update_utc - now).total_seconds()
    assert "public" in headers["cache-control"]
    assert email.utils.parsedate_to_datetime(headers["expires"]) == parsed.next_update_utc
    assert email.utils.parsedate_to_datetime(headers["last-modified"]) == parsed.this_update_utc
    again = client.get(f"/ocsp/{standard}", headers={"if-none-match": headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_revocation_changes_the_served_response_and_its_etag(client, runtime, holder):
    path = "/ocsp/" + base64.b64encode(request_der(runtime, holder)).decode()
    before = client.get(path)
    runtime.ca.revoke(format(holder.serial_number, "x"), "keyCompromise", actor="operator:test")
    after = client.get(path, headers={"if-none-match": before.headers["etag"]})
    assert after.status_code == 200 and after.headers["etag"] != before.headers["etag"]
    assert ocsp.load_der_ocsp_response(after.content).certificate_status == ocsp.OCSPCertStatus.REVOKED


def test_multi_certificate_posts_are_answered_for_all(client, runtime, holder, subscriber_key):
    # cryptography builds single-certificate requests only, so splice two into one request.
    from asn1crypto import ocsp as asn1_ocsp

    second = runtime.ca.issue(IssuanceRequest("joint", subscriber_key.public_key(), SubjectIdentity("박지훈", "한빛은행"))).certificate
    one = asn1_ocsp.OCSPRequest.load(request_der(runtime, holder))
    two = asn1_ocsp.OCSPRequest.load(request_der(runtime, second))
    one["tbs_request"]["request_list"].append(two["tbs_request"]["request_list"][0])
    response = client.post("/ocsp", content=one.dump(force=True), headers=OCSP_REQUEST)
    status, items = parse_response_statuses(response.content)
    assert status == "successful"
    assert [(cert_id.serial, s.status) for cert_id, s in items] == [(holder.serial_number, "good"), (second.serial_number, "good")]


def test_crl_urls_serve_der_with_cache_headers(client, runtime, holder):
    hierarchy = runtime.ca.hierarchy()
    cdp = holder.extensions.get_extension_for_class(x509.CRLDistributionPoints).value[0].full_name[0].value
    path = urllib.parse.urlparse(cdp).path
    for url in (path, f"/crl/{hierarchy.issuing_id}/full.crl", f"/crl/{hierarchy.root_id}/full.crl"):
        response = client.get(url)
        assert response.status_code == 200 and response.headers["content-type"] == "application/pkix-crl", url
        crl = x509.load_der_x509_crl(response.content)
        assert "max-age=" in response.headers["cache-control"] and response.headers["etag"]
        assert email.utils.parsedate_to_datetime(response.headers["expires"]) == crl.next_update_utc
        assert client.get(url, headers={"if-none-match": response.headers["etag"]}).status_code == 304


def test_unknown_crls_are_problem_documents(client, runtime):
    hierarchy = runtime.ca.hierarchy()
    for url in (f"/crl/{hierarchy.issuing_id}/7.crl", f"/crl/{hierarchy.issuing_id}/x.crl", f"/crl/{hierarchy.root_id}/0.crl", "/crl/424242/full.crl"):
        response = client.get(url)
        assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json", url


def test_decode_get_request_is_strict_about_the_alphabet():
    assert decode_get_request("MAMCAQE") == b"\x30\x03\x02\x01\x01"
    assert decode_get_request("MAMC AQE=") == base64.b64decode("MAMC+AQE=")  # a raw '+' turned into a space
    assert decode_get_request("M*AMCAQE") is None
    assert decode_get_request("") is None
