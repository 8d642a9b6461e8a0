"""OCSP interop: requests written by ``openssl ocsp``, answered by ``va.ocsp.answer``, checked by
``openssl ocsp`` (signature, responder delegation, nonce, statuses) and pkilint (RFC 6960)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "va"))
from va_pki import Pki, build_pki  # noqa: E402

from fincert.va.ocsp import (  # noqa: E402
    GOOD,
    CertificateStatus,
    MalformedOcspRequest,
    OcspSigner,
    answer,
    error_response,
    parse_ocsp_request,
    presign_single,
)

pytestmark = pytest.mark.interop

VENV_BIN = Path(sys.executable).parent
# openssl checks thisUpdate/nextUpdate and certificate validity against the real clock.
NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
VALIDITY = dt.timedelta(hours=4)
REVOKED_AT = dt.datetime(2026, 1, 15, 3, 4, 5, tzinfo=dt.timezone.utc)
STATUSES = {
    1001: GOOD,  # ee0
    1002: CertificateStatus("revoked", revoked_at=REVOKED_AT, reason="keyCompromise"),  # ee1
    # ee2 (1003) was never issued as far as the status store knows: unknown
}


@pytest.fixture(scope="module")
def pki() -> Pki:
    return build_pki(NOW)


@pytest.fixture(scope="module")
def files(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return pki.write(tmp_path_factory.mktemp("ocsp-pki"))


@pytest.fixture(scope="module", params=["rsa", "ec"])
def signer(request: pytest.FixtureRequest, pki: Pki) -> OcspSigner:
    if request.param == "rsa":
        return OcspSigner(pki.responder, pki.responder_key, pki.ca)
    return OcspSigner(pki.ec_responder, pki.ec_responder_key, pki.ca)


def openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, timeout=30)


def write_request(files: dict[str, Path], tmp_path: Path, *certs: str, nonce: bool = True, digest: str = "sha1") -> Path:
    req = tmp_path / "req.der"
    args: list[str | Path] = ["ocsp", "-issuer", files["ca"], f"-{digest}"]
    for cert in certs:
        args += ["-cert", files[cert]]
    args += ["-reqout", req]
    if not nonce:
        args.append("-no_nonce")
    result = openssl(*args)
    assert result.returncode == 0, result.stderr
    return req


def respond(
    signer: OcspSigner, req: Path, tmp_path: Path, presigned: Callable[[int], bytes | None] = lambda _: None
) -> Path:
    der = answer(parse_ocsp_request(req.read_bytes()), STATUSES.get, signer, presigned, now=NOW, validity=VALIDITY)
    resp = tmp_path / "resp.der"
    resp.write_bytes(der)
    return resp


def statuses(files: dict[str, Path], resp: Path, *certs: str, digest: str = "sha1") -> str:
    """openssl's verdict per certificate; -no_nonce because -cert makes openssl build a new request."""
    args: list[str | Path] = ["ocsp", "-respin", resp, "-CAfile", files["chain"], "-issuer", files["ca"], f"-{digest}"]
    for cert in certs:
        args += ["-cert", files[cert]]
    result = openssl(*args, "-no_nonce")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Response verify OK" in result.stderr
    return result.stdout


def verify_against_request(files: dict[str, Path], resp: Path, req: Path) -> subprocess.CompletedProcess[str]:
    """openssl's check of signature, delegated responder and the nonce of the original request."""
    return openssl("ocsp", "-respin", resp, "-reqin", req, "-CAfile", files["chain"])


def pkilint_findings(resp: Path) -> list[dict]:
    result = subprocess.run(
        [VENV_BIN / "lint_ocsp_response", "lint", "-s", "WARNING", "-f", "JSON", resp],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["results"]


def test_good_with_nonce(signer: OcspSigner, files: dict[str, Path], tmp_path: Path) -> None:
    req = write_request(files, tmp_path, "ee0")
    assert parse_ocsp_request(req.read_bytes()).nonce is not None
    resp = respond(signer, req, tmp_path)
    checked = verify_against_request(files, resp, req)
    assert checked.returncode == 0 and "Response verify OK" in checked.stderr
    assert "Nonce" not in checked.stderr and "WARNING" not in checked.stderr
    assert f"{files['ee0']}: good" in statuses(files, resp, "ee0")
    assert pkilint_findings(resp) == []


def test_openssl_notices_a_wrong_nonce(signer: OcspSigner, files: dict[str, Path], tmp_path: Path) -> None:
    # The check above means something only if openssl does compare nonces.
    first = write_request(files, tmp_path, "ee0")
    resp = respond(signer, first, tmp_path)
    second = tmp_path / "second.der"
    second.write_bytes(write_request(files, tmp_path, "ee0").read_bytes())
    assert "Nonce Verify error" in verify_against_request(files, resp, second).stderr


def test_revoked_reports_reason_and_time(signer: OcspSigner, files: dict[str, Path], tmp_path: Path) -> None:
    resp = respond(signer, write_request(files, tmp_path, "ee1", digest="sha256"), tmp_path)
    out = statuses(files, resp, "ee1", digest="sha256")
    assert f"{files['ee1']}: revoked" in out
    assert "Reason: keyCompromise" in out
    assert "Revocation Time: Jan 15 03:04:05 2026 GMT" in out
    assert pkilint_findings(resp) == []


def test_unknown_serial(signer: OcspSigner, files: dict[str, Path], tmp_path: Path) -> None:
    resp = respond(signer, write_request(files, tmp_path, "ee2", nonce=False), tmp_path)
    assert f"{files['ee2']}: unknown" in statuses(files, resp, "ee2")


def test_multi_certificate_request_gets_every_status(signer: OcspSigner, files: dict[str, Path], tmp_path: Path) -> None:
    req = write_request(files, tmp_path, "ee0", "ee1", "ee2")
    assert len(parse_ocsp_request(req.read_bytes()).cert_ids) == 3
    resp = respond(signer, req, tmp_path)
    checked = verify_against_request(files, resp, req)
    assert checked.returncode == 0 and "Nonce" not in checked.stderr
    out = statuses(files, resp, "ee0", "ee1", "ee2")
    assert f"{files['ee0']}: good" in out
    assert f"{files['ee1']}: revoked" in out and "Reason: keyCompromise" in out
    assert f"{files['ee2']}: unknown" in out
    assert pkilint_findings(resp) == []


def test_presigned_response_is_served_and_verifies(signer: OcspSigner, files: dict[str, Path], tmp_path: Path) -> None:
    cached = presign_single(signer, 1002, STATUSES[1002], NOW - dt.timedelta(minutes=5), NOW + VALIDITY)
    req = write_request(files, tmp_path, "ee1", nonce=False)
    resp = respond(signer, req, tmp_path, presigned={1002: cached}.get)
    assert resp.read_bytes() == cached
    assert f"{files['ee1']}: revoked" in statuses(files, resp, "ee1")
    assert pkilint_findings(resp) == []


def test_request_for_another_issuer_is_unauthorized(signer: OcspSigner, files: dict[str, Path], tmp_path: Path) -> None:
    req = tmp_path / "req.der"
    # The CA certificate itself, asked about under the root: not this responder's issuer.
    result = openssl("ocsp", "-issuer", files["root"], "-cert", files["ca"], "-reqout", req)
    assert result.returncode == 0, result.stderr
    resp = respond(signer, req, tmp_path)
    out = openssl("ocsp", "-respin", resp, "-CAfile", files["chain"])
    assert "Responder Error: unauthorized (6)" in out.stdout + out.stderr


def test_garbage_gets_malformed_request_that_openssl_parses(files: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(MalformedOcspRequest):
        parse_ocsp_request(b"\x30\x80garbage")
    resp = tmp_path / "resp.der"
    resp.write_bytes(error_response("malformedRequest"))
    out = openssl("ocsp", "-respin", resp, "-resp_text", "-noverify")
    assert "Responder Error: malformedrequest (1)" in out.stdout
    assert pkilint_findings(resp) == []
