"""The VA against a LIVE server: uvicorn serving ``create_app``, asked by ``openssl ocsp -url``,
``openssl verify -crl_check`` with the CRL fetched from the certificate's CDP URL, and pkilint
on what the server hands out (CRLs, OCSP responses, the responder certificate)."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from fincert.api.app import create_app
from fincert.ca.authority import IssuanceRequest, SubjectIdentity
from fincert.config import Settings
from fincert.runtime import Runtime, open_runtime
from fincert.storage.models_va import OcspResponseRecord

pytestmark = pytest.mark.interop

VENV_BIN = Path(sys.executable).parent
PEM = serialization.Encoding.PEM


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Live:
    runtime: Runtime
    base: str
    dir: Path
    files: dict[str, Path]
    certs: dict[str, x509.Certificate]


def pem(path: Path, *certs: x509.Certificate) -> Path:
    path.write_bytes(b"".join(c.public_bytes(PEM) for c in certs))
    return path


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    directory = tmp_path_factory.mktemp("va-live")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # The certificates' AIA and CDP point at this server; openssl checks times against the
    # real clock, so the runtime keeps the system clock.
    rt = open_runtime(Settings(home=directory / "home", public_url=base, ca_passphrase="live-va-passphrase", log_level="WARNING"))
    hierarchy = rt.initialize()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certs = {
        name: rt.ca.issue(IssuanceRequest("financial", key.public_key(), SubjectIdentity("김민수", "누리증권"))).certificate
        for name in ("good", "revoked", "other")
    }
    files = {
        "root": pem(directory / "root.pem", hierarchy.root),
        "issuing": pem(directory / "issuing.pem", hierarchy.issuing),
        "chain": pem(directory / "chain.pem", hierarchy.root, hierarchy.issuing),
        **{name: pem(directory / f"{name}.pem", cert) for name, cert in certs.items()},
    }
    server = uvicorn.Server(uvicorn.Config(create_app(rt), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield Live(rt, base, directory, files, certs)
    finally:
        server.should_exit = True
        thread.join(15)
        rt.close()


def openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, timeout=60)


def ocsp_url(cert: x509.Certificate) -> str:
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    return next(d.access_location.value for d in aia if d.access_method == x509.oid.AuthorityInformationAccessOID.OCSP)


def cdp_url(cert: x509.Certificate) -> str:
    cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    return cdp[0].full_name[0].value


def ask(live: Live, *targets: str, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """``openssl ocsp -url`` (the certificate's AIA URL) for certificates or ``0x`` serials."""
    args: list[str | Path] = ["ocsp", "-url", ocsp_url(live.certs["good"]), "-issuer", live.files["issuing"], "-CAfile", live.files["chain"]]
    for target in targets:
        args += ["-serial", target] if target.startswith("0x") else ["-cert", live.files[target]]
    return openssl(*args, *extra)


def lint(tool: str, *paths: Path, extra: tuple[str, ...] = ()) -> str:
    result = subprocess.run(
        [VENV_BIN / tool, "lint", *extra, "-s", "WARNING", *map(str, paths)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


def test_openssl_gets_good_with_a_verified_nonce(live: Live) -> None:
    result = ask(live, "good", extra=("-resp_text",))
    assert result.returncode == 0, result.stderr
    assert f"{live.files['good']}: good" in result.stdout
    assert "Response verify OK" in result.stderr
    # openssl sends a nonce by default and warns when the response does not echo it.
    assert "WARNING" not in result.stderr and "Nonce" not in result.stderr
    assert "OCSP Nonce" in result.stdout  # echoed in the response text
    responder = live.runtime.va.ocsp.responder()
    assert responder is not None
    assert "Responder Id: " in result.stdout


def test_openssl_gets_revoked_with_time_and_reason_right_after_revocation(live: Live) -> None:
    serial = format(live.certs["revoked"].serial_number, "x")
    before = ask(live, "revoked", extra=("-no_nonce",))
    assert f"{live.files['revoked']}: good" in before.stdout  # served pre-signed before the revocation
    revoked_at = live.runtime.ca.revoke(serial, "keyCompromise", actor="operator:interop")
    for extra in (("-no_nonce",), ()):  # the pre-signed store, then a live nonce response
        result = ask(live, "revoked", extra=extra)
        assert result.returncode == 0, result.stderr
        assert "Response verify OK" in result.stderr
        assert f"{live.files['revoked']}: revoked" in result.stdout
        assert "Reason: keyCompromise" in result.stdout
        assert f"Revocation Time: {revoked_at:%b %e %H:%M:%S %Y} GMT" in result.stdout


def test_openssl_gets_unknown_for_a_serial_never_issued(live: Live) -> None:
    result = ask(live, "0x1234567890abcdef")
    assert result.returncode == 0, result.stderr
    assert "0x1234567890abcdef: unknown" in result.stdout
    assert "Response verify OK" in result.stderr and "WARNING" not in result.stderr


def test_a_multi_certificate_request_is_answered_for_all(live: Live) -> None:
    result = ask(live, "good", "other", "0xdeadbeef")
    assert result.returncode == 0, result.stderr
    assert "Response verify OK" in result.stderr and "WARNING" not in result.stderr
    assert f"{live.files['good']}: good" in result.stdout
    assert f"{live.files['other']}: good" in result.stdout
    assert "0xdeadbeef: unknown" in result.stdout


def test_nonce_less_answers_come_from_the_presigned_store(live: Live) -> None:
    live.runtime.va.ocsp.refresh()
    out = live.dir / "presigned.der"
    result = ask(live, "other", extra=("-no_nonce", "-respout", str(out)))
    assert "Response verify OK" in result.stderr
    with live.runtime.db.reader() as session:
        stored = session.execute(
            select(OcspResponseRecord.der).where(OcspResponseRecord.serial == format(live.certs["other"].serial_number, "x"))
        ).scalar_one()
    assert out.read_bytes() == stored
    assert lint("lint_ocsp_response", out) == ""


def test_get_requests_verify_and_carry_cache_headers(live: Live) -> None:
    request = live.dir / "get-req.der"
    assert openssl("ocsp", "-issuer", live.files["issuing"], "-cert", live.files["good"], "-no_nonce", "-reqout", request).returncode == 0
    encoded = base64.b64encode(request.read_bytes()).decode()
    response = httpx.get(f"{live.base}/ocsp/{httpx.URL(encoded).raw_path.decode()}")
    assert response.status_code == 200 and response.headers["content-type"] == "application/ocsp-response"
    assert "max-age=" in response.headers["cache-control"] and response.headers["etag"]
    assert response.headers["last-modified"] and response.headers["expires"]
    out = live.dir / "get-resp.der"
    out.write_bytes(response.content)
    checked = openssl("ocsp", "-respin", out, "-reqin", request, "-CAfile", live.files["chain"], "-issuer", live.files["issuing"],
                      "-cert", live.files["good"], "-no_nonce")
    assert "Response verify OK" in checked.stderr and f"{live.files['good']}: good" in checked.stdout


def test_malformed_requests_get_an_ocsp_error_openssl_reads(live: Live) -> None:
    response = httpx.post(f"{live.base}/ocsp", content=b"\x30\x03garbage", headers={"content-type": "application/ocsp-request"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/ocsp-response"
    out = live.dir / "malformed.der"
    out.write_bytes(response.content)
    assert "Responder Error: malformedrequest (1)" in openssl("ocsp", "-respin", out, "-resp_text", "-noverify").stdout
    assert lint("lint_ocsp_response", out) == ""


def test_openssl_verify_rejects_the_revoked_certificate_with_the_crl_from_its_cdp(live: Live) -> None:
    serial = format(live.certs["revoked"].serial_number, "x")
    if live.runtime.va.ocsp.status(live.certs["revoked"].serial_number).status != "revoked":
        live.runtime.ca.revoke(serial, "keyCompromise", actor="operator:interop")
    for name in ("revoked", "good"):
        url = cdp_url(live.certs[name])
        assert url.startswith(live.base + "/crl/")
        fetched = httpx.get(url)
        assert fetched.status_code == 200 and fetched.headers["content-type"] == "application/pkix-crl"
        crl_pem = live.dir / f"crl-{name}.pem"
        crl_pem.write_bytes(x509.load_der_x509_crl(fetched.content).public_bytes(PEM))
        result = openssl("verify", "-crl_check", "-CAfile", live.files["chain"], "-CRLfile", crl_pem, live.files[name])
        if name == "revoked":
            assert result.returncode != 0 and "certificate revoked" in result.stdout + result.stderr
        else:
            assert result.returncode == 0 and result.stdout.strip().endswith(": OK"), result.stdout + result.stderr
    # And openssl fetching the CRL itself from the CDP URL.
    downloaded = openssl("verify", "-crl_check", "-crl_download", "-CAfile", live.files["chain"], live.files["revoked"])
    assert downloaded.returncode != 0 and "certificate revoked" in downloaded.stdout + downloaded.stderr


def test_pkilint_finds_nothing_in_the_served_crls(live: Live) -> None:
    issuing_id = live.runtime.ca.hierarchy().issuing_id
    root_id = live.runtime.ca.hierarchy().root_id
    for name, url in (
        ("partition", cdp_url(live.certs["good"])),
        ("full", f"{live.base}/crl/{issuing_id}/full.crl"),
        ("root", f"{live.base}/crl/{root_id}/full.crl"),
    ):
        fetched = httpx.get(url)
        assert fetched.status_code == 200, url
        path = live.dir / f"{name}.crl"
        path.write_bytes(fetched.content)
        assert lint("lint_crl", path, extra=("-t", "CRL", "-p", "PKIX")) == "", name


def test_pkilint_finds_nothing_in_served_responses_or_the_responder_certificate(live: Live) -> None:
    for name, targets in (("good", ("good",)), ("unknown", ("0x99",)), ("multi", ("good", "other"))):
        out = live.dir / f"lint-{name}.der"
        result = ask(live, *targets, extra=("-respout", str(out)))
        assert "Response verify OK" in result.stderr
        assert lint("lint_ocsp_response", out) == "", name
    responder = live.runtime.va.ocsp.responder()
    assert responder is not None
    responder_pem = pem(live.dir / "responder.pem", responder.certificate)
    assert lint("lint_pkix_cert", responder_pem) == ""
    assert lint("lint_pkix_signer_signee_cert_chain", live.files["issuing"], responder_pem) == ""
    text = openssl("x509", "-in", responder_pem, "-noout", "-text").stdout
    assert "OCSP Signing" in text and "OCSP No Check" in text and "ASN1 OID: prime256v1" in text


def test_json_findings_format_is_empty_too(live: Live) -> None:
    # The TEXT output above is empty; the JSON form confirms pkilint ran its validations.
    out = live.dir / "json-good.der"
    ask(live, "good", extra=("-respout", str(out)))
    result = subprocess.run(
        [VENV_BIN / "lint_ocsp_response", "lint", "-s", "WARNING", "-f", "JSON", out], capture_output=True, text=True, timeout=60
    )
    assert json.loads(result.stdout)["results"] == []
