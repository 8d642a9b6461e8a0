"""Regressions from a relying-party audit of the status and signature surfaces.

- A CMS signature that embeds the signer's certificate alone (``openssl cms -sign``'s default,
  and many signing clients') is verified through the issuing CA the service holds, with its
  certificate status, instead of failing "no certificate path to a trust root".
- A CRL entry whose reason changes in another process (a hold made final) reaches the next
  CRL at the next scheduled pass, although the number of entries did not change.
- CRLs and CA certificates answer HEAD as well as GET (RFC 9110 §9.1).

SQLite only (these are about the HTTP edge and the VA's logic, not the database).
"""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import pytest
from api_helpers import client, holder_key  # noqa: F401 - the shared fixtures
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from fincert.ca.authority import IssuanceRequest, SubjectIdentity, serial_hex
from fincert.runtime import open_runtime

DATA = "이체 1,000,000원".encode()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'fincert.db'}"


def issue(runtime, key) -> x509.Certificate:
    return runtime.ca.issue(IssuanceRequest("joint", key.public_key(), SubjectIdentity("김하늘", "한빛은행"))).certificate


def leaf_only_signature(cert: x509.Certificate, key: rsa.RSAPrivateKey) -> bytes:
    """A detached CMS signature carrying the signer's certificate and no CA certificate."""
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(DATA)
        .add_signer(cert, key, hashes.SHA256())
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary])
    )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# -- CMS: the verifier's own issuing CA completes the path ----------------------------------------


def test_a_signature_with_only_the_signer_certificate_verifies_with_its_status(client, runtime, holder_key):
    cert = issue(runtime, holder_key)
    signature = leaf_only_signature(cert, holder_key)
    embedded = pkcs7.load_der_pkcs7_certificates(signature)
    assert embedded == [cert]  # the shape openssl cms -sign writes by default

    answer = client.post("/api/v1/verify", json={"signature": b64(signature), "content": b64(DATA)})
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["valid"] is True, report["failure"]
    assert report["trusted"] is True and report["certificate_status"] == "good"
    assert len(report["path"]) == 3

    # A second time goes through the fast path (the accepted path is cached): same verdict.
    again = client.post("/api/v1/verify", json={"signature": b64(signature), "content": b64(DATA)}).json()
    assert again["valid"] is True and again["certificate_status"] == "good"

    runtime.ca.revoke(serial_hex(cert.serial_number), "keyCompromise", actor="operator:test")
    revoked = client.post("/api/v1/verify", json={"signature": b64(signature), "content": b64(DATA)}).json()
    assert revoked["valid"] is False and revoked["certificate_status"] == "revoked"


def test_a_leaf_only_signature_from_another_ca_is_still_untrusted(client, runtime, holder_key):
    # Knowing our own issuing CA must not make a stranger's certificate trusted.
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "stranger")])
    now = dt.datetime.now(dt.timezone.utc)
    stranger = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(runtime.ca.hierarchy().issuing.subject)  # claims our issuer's name
        .public_key(holder_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
        .sign(holder_key, hashes.SHA256())
    )
    report = client.post(
        "/api/v1/verify", json={"signature": b64(leaf_only_signature(stranger, holder_key)), "content": b64(DATA)}
    ).json()
    assert report["valid"] is False and report["trusted"] is False


# -- CRLs: a reason changed by another process -----------------------------------------------------


def crl_reason(runtime, cert: x509.Certificate) -> x509.ReasonFlags | None:
    issuing_id = runtime.ca.hierarchy().issuing_id
    document = runtime.va.crl.crl(issuing_id, "full")
    entry = x509.load_der_x509_crl(document.der).get_revoked_certificate_by_serial_number(cert.serial_number)
    assert entry is not None
    try:
        return entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    except x509.ExtensionNotFound:
        return None


def test_a_hold_made_final_in_another_process_reaches_the_next_crl(runtime, settings, clock, holder_key):
    cert = issue(runtime, holder_key)
    serial = serial_hex(cert.serial_number)
    other = open_runtime(settings, clock=clock)  # another process on the same database and keys
    try:
        other.ca.revoke(serial, "certificateHold", actor="operator:test")
        clock.advance(seconds=30)
        runtime.va.crl.publish_if_due()
        assert crl_reason(runtime, cert) == x509.ReasonFlags.certificate_hold

        clock.advance(seconds=30)
        other.ca.revoke(serial, "keyCompromise", actor="operator:test")  # same entry count
        clock.advance(seconds=30)
        assert runtime.va.crl.publish_if_due(), "the changed reason was not republished"
        assert crl_reason(runtime, cert) == x509.ReasonFlags.key_compromise
        # And nothing more to do on the pass after.
        clock.advance(seconds=30)
        assert runtime.va.crl.publish_if_due() == []
    finally:
        other.close()


def test_a_process_started_after_the_change_republishes_too(runtime, settings, clock, holder_key):
    cert = issue(runtime, holder_key)
    serial = serial_hex(cert.serial_number)
    runtime.ca.revoke(serial, "certificateHold", actor="operator:test")
    runtime.va.crl.publish()
    clock.advance(seconds=30)
    other = open_runtime(settings, clock=clock)
    try:
        other.ca.revoke(serial, "keyCompromise", actor="operator:test")
    finally:
        other.close()
    clock.advance(seconds=30)
    fresh = open_runtime(settings, clock=clock)  # a process that never saw the hold published
    try:
        assert fresh.va.crl.publish_if_due(), "the changed reason was not republished"
        assert crl_reason(fresh, cert) == x509.ReasonFlags.key_compromise
    finally:
        fresh.close()


# -- HTTP: HEAD on CRLs and CA certificates ------------------------------------------------------------


def test_crl_and_ca_certificate_answer_head_like_get(client, runtime, holder_key):
    issue(runtime, holder_key)
    issuing_id = runtime.ca.hierarchy().issuing_id
    for path, media_type in (
        (f"/crl/{issuing_id}/0.crl", "application/pkix-crl"),
        (f"/crl/{issuing_id}/full.crl", "application/pkix-crl"),
        (f"/ca/{issuing_id}.crt", "application/pkix-cert"),
    ):
        got = client.get(path)
        head = client.head(path)
        assert got.status_code == 200 and head.status_code == 200, (path, head.status_code)
        assert head.headers["content-type"] == media_type and head.content == b""
        for name in ("etag", "last-modified", "expires", "cache-control"):
            assert head.headers.get(name) == got.headers.get(name), (path, name)
    assert client.head(f"/crl/{issuing_id}/999.crl").status_code == 404


# -- HTTP: protocol answers carry no cookie; Allow on 405; only CA certificates under /ca/ ----------


def test_protocol_answers_set_no_cookie_and_take_no_csrf_check(client, runtime, holder_key):
    """An answer meant for shared caches (RFC 5019) must set no cookie: caches refuse such answers
    or hand the one CSRF token to every browser. A form-typed body there is the protocol's
    malformed request, not a CSRF refusal."""
    issue(runtime, holder_key)
    issuing_id = runtime.ca.hierarchy().issuing_id
    for path in (f"/crl/{issuing_id}/0.crl", f"/ca/{issuing_id}.crt", "/healthz"):
        answer = client.get(path)
        assert answer.status_code == 200 and "set-cookie" not in answer.headers, path
    form = {"content-type": "application/x-www-form-urlencoded"}
    ocsp = client.post("/ocsp", content=b"a=b", headers=form)
    # OCSPResponse { responseStatus malformedRequest (1) }
    assert ocsp.status_code == 200 and ocsp.content == bytes.fromhex("30030a0101") and "set-cookie" not in ocsp.headers
    assert client.post("/tsa", content=b"a=b", headers=form).status_code == 415
    assert "set-cookie" in client.get("/").headers  # the web app's pages still carry it


def test_a_405_names_the_methods_allowed(client, runtime):
    for method, path in (("PUT", "/ocsp"), ("GET", "/tsa")):
        answer = client.request(method, path)
        assert answer.status_code == 405 and "POST" in answer.headers.get("allow", ""), (method, path)


def test_only_ca_certificates_are_served_under_ca(client, runtime, holder_key):
    from cryptography.x509 import ocsp as x509_ocsp
    from sqlalchemy import select

    from fincert.storage.models import Authority

    # An OCSP answer brings the responder's certificate (an authority row, no CA) into being.
    cert, issuing = issue(runtime, holder_key), runtime.ca.hierarchy().issuing
    request = x509_ocsp.OCSPRequestBuilder().add_certificate(cert, issuing, hashes.SHA256()).build()
    answered = client.post("/ocsp", content=request.public_bytes(serialization.Encoding.DER), headers={"content-type": "application/ocsp-request"})
    assert x509_ocsp.load_der_ocsp_response(answered.content).response_status == x509_ocsp.OCSPResponseStatus.SUCCESSFUL
    with runtime.db.reader() as session:
        roles = dict(session.execute(select(Authority.id, Authority.role)).all())
    assert {"root", "issuing"} <= set(roles.values()) and set(roles.values()) - {"root", "issuing"}, roles
    for authority_id, role in roles.items():
        expected = 200 if role in ("root", "issuing") else 404
        assert client.get(f"/ca/{authority_id}.crt").status_code == expected, role
