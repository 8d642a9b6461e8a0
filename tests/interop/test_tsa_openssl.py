"""Our RFC 3161 TSA against the openssl ts CLI: its requests, its parser, its verifier."""

from __future__ import annotations

import itertools
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from fincert.clock import SystemClock
from fincert.sign.testing import TestPki, build_test_pki, issue_certificate, pem
from fincert.sign.tsa import TimeStampAuthority, build_timestamp_request, parse_timestamp_response

pytestmark = pytest.mark.interop

POLICY = "2.25.129041807263390498183187290406040151185"
START = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=1)
DATA = "전자서명 원문 — signed statement\n".encode()


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return build_test_pki(START)


@pytest.fixture(scope="module")
def tsa(pki: TestPki) -> TimeStampAuthority:
    serials = itertools.count(1)
    return TimeStampAuthority(pki.tsa, [], pki.tsa_key, POLICY, 1, SystemClock(), lambda: next(serials))


@pytest.fixture()
def files(tmp_path: Path, pki: TestPki) -> Path:
    (tmp_path / "data").write_bytes(DATA)
    (tmp_path / "root.pem").write_bytes(pem(pki.root))
    (tmp_path / "tsa.pem").write_bytes(pem(pki.tsa))
    return tmp_path


def openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, check=False)


def _verify_with_data(files: Path, response: Path, untrusted: str = "tsa.pem") -> subprocess.CompletedProcess[str]:
    return openssl(
        "ts", "-verify", "-data", files / "data", "-in", response,
        "-CAfile", files / "root.pem", "-untrusted", files / untrusted,
    )


def test_openssl_parses_the_reply(tsa, files):
    response = files / "resp.der"
    response.write_bytes(tsa.respond(build_timestamp_request(DATA, nonce=0xC0FFEE)))

    result = openssl("ts", "-reply", "-in", response, "-text")

    assert result.returncode == 0, result.stderr
    assert "Status: Granted." in result.stdout
    assert f"Policy OID: {POLICY}" in result.stdout
    assert "Nonce: 0xC0FFEE" in result.stdout
    assert "Accuracy: 0x01 seconds" in result.stdout
    assert "TSA: DirName:/C=KR/O=fincert test/CN=fincert test TSA" in result.stdout


def test_openssl_verifies_token_against_data(tsa, files):
    response = files / "resp.der"
    response.write_bytes(tsa.respond(build_timestamp_request(DATA)))

    result = _verify_with_data(files, response)

    assert result.returncode == 0, result.stderr
    assert "Verification: OK" in result.stdout


def test_openssl_rejects_token_for_other_data(tsa, files):
    response = files / "resp.der"
    response.write_bytes(tsa.respond(build_timestamp_request(b"other data")))

    result = _verify_with_data(files, response)

    assert result.returncode != 0
    assert "Verification: FAILED" in result.stdout


def test_openssl_checks_the_nonce_against_the_request(tsa, files):
    request = build_timestamp_request(DATA, nonce=424242)
    (files / "req.der").write_bytes(request)
    (files / "other-req.der").write_bytes(build_timestamp_request(DATA, nonce=777))
    response = files / "resp.der"
    response.write_bytes(tsa.respond(request))

    def verify(query: str) -> subprocess.CompletedProcess[str]:
        return openssl(
            "ts", "-verify", "-queryfile", files / query, "-in", response,
            "-CAfile", files / "root.pem", "-untrusted", files / "tsa.pem",
        )

    matching = verify("req.der")
    other = verify("other-req.der")
    assert matching.returncode == 0 and "Verification: OK" in matching.stdout, matching.stderr
    assert other.returncode != 0 and "nonce mismatch" in other.stderr


@pytest.mark.parametrize("nonce_flag", [[], ["-no_nonce"]], ids=["nonce", "no-nonce"])
def test_answers_requests_made_by_openssl(tsa, files, nonce_flag):
    query = files / "openssl-req.der"
    made = openssl("ts", "-query", "-data", files / "data", "-sha256", "-cert", *nonce_flag, "-out", query)
    assert made.returncode == 0, made.stderr
    response = files / "resp.der"
    response.write_bytes(tsa.respond(query.read_bytes()))

    result = openssl(
        "ts", "-verify", "-queryfile", query, "-in", response,
        "-CAfile", files / "root.pem", "-untrusted", files / "tsa.pem",
    )

    assert result.returncode == 0, result.stderr
    assert "Verification: OK" in result.stdout
    assert parse_timestamp_response(response.read_bytes(), request_der=query.read_bytes()).granted


def test_sha1_request_from_openssl_is_rejected_with_bad_alg(tsa, files):
    query = files / "sha1-req.der"
    assert openssl("ts", "-query", "-data", files / "data", "-sha1", "-out", query).returncode == 0
    response = files / "rejection.der"
    response.write_bytes(tsa.respond(query.read_bytes()))

    result = openssl("ts", "-reply", "-in", response, "-text")

    assert result.returncode == 0, result.stderr
    assert "Status: Rejected." in result.stdout
    assert "Failure info: unrecognized or unsupported algorithm identifier" in result.stdout


def test_garbage_gets_a_rejection_openssl_can_read(tsa, files):
    response = files / "rejection.der"
    response.write_bytes(tsa.respond(b"\x00\x01 definitely not DER"))

    result = openssl("ts", "-reply", "-in", response, "-text")

    assert result.returncode == 0, result.stderr
    assert "Status: Rejected." in result.stdout
    assert "request is not a DER TimeStampReq" in result.stdout


def test_openssl_verifies_an_ec_tsa(pki, files):
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_cert = issue_certificate(
        subject="fincert test EC TSA",
        public_key=ec_key.public_key(),
        issuer_cert=pki.root,
        issuer_key=pki.root_key,
        not_before=START,
        not_after=START + timedelta(days=30),
        kind="tsa",
    )
    (files / "ec-tsa.pem").write_bytes(pem(ec_cert))
    ec_tsa = TimeStampAuthority(ec_cert, [], ec_key, POLICY, 1, SystemClock(), lambda: 1)
    response = files / "resp.der"
    response.write_bytes(ec_tsa.respond(build_timestamp_request(DATA)))

    result = _verify_with_data(files, response, untrusted="ec-tsa.pem")

    assert result.returncode == 0, result.stderr
    assert "Verification: OK" in result.stdout
