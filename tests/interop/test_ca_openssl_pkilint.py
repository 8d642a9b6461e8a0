"""The CA's output as other people's tools see it: openssl verify/x509 and pkilint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fincert.ca.authority import IssuanceRequest, SubjectIdentity
from fincert.clock import FakeClock
from fincert.config import Settings
from fincert.keys.backend import KeyType
from fincert.runtime import open_runtime

LINT = Path(sys.executable).parent / "lint_pkix_cert"


@pytest.fixture(scope="module", params=["rsa2048", "p256"])
def issued(request, tmp_path_factory):
    home = tmp_path_factory.mktemp(f"ca-{request.param}")
    rt = open_runtime(Settings(home=home, ca_passphrase="interop-passphrase"), clock=FakeClock())
    rt.initialize(KeyType(request.param))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    files = {"root": home / "ca" / "root.pem", "issuing": home / "ca" / "issuing.pem"}
    for product in ("financial", "joint"):
        cert = rt.ca.issue(IssuanceRequest(product, key.public_key(), SubjectIdentity("김민수", "누리증권"))).certificate
        files[product] = home / f"{product}.pem"
        files[product].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    rt.close()
    return files


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=60)


@pytest.mark.interop
@pytest.mark.parametrize("product", ["financial", "joint"])
def test_openssl_verifies_the_chain(issued, product):
    result = run("openssl", "verify", "-x509_strict", "-CAfile", str(issued["root"]), "-untrusted", str(issued["issuing"]), str(issued[product]))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(": OK")


@pytest.mark.interop
def test_openssl_shows_the_profile(issued):
    text = run("openssl", "x509", "-in", str(issued["financial"]), "-noout", "-text", "-nameopt", "utf8").stdout
    assert "Digital Signature, Non Repudiation" in text
    assert "X509v3 Key Usage: critical" in text
    assert "Policy: 1.3.6.1.4.1.32473.410.1.1" in text
    assert "CPS: http://127.0.0.1:8000/cps" in text
    assert "금융인증서" in text
    assert "OCSP - URI:http://127.0.0.1:8000/ocsp" in text
    assert "CA Issuers - URI:http://127.0.0.1:8000/ca/" in text
    assert "URI:http://127.0.0.1:8000/crl/" in text
    assert "C=KR, O=fincert, OU=누리증권, CN=김민수()" in text
    issuing = run("openssl", "x509", "-in", str(issued["issuing"]), "-noout", "-text").stdout
    assert "CA:TRUE, pathlen:0" in issuing


@pytest.mark.interop
@pytest.mark.parametrize("which", ["root", "issuing", "financial", "joint"])
def test_pkilint_reports_no_errors_or_warnings(issued, which):
    result = run(str(LINT), "lint", "-s", "WARNING", str(issued[which]))
    assert result.returncode == 0 and result.stdout.strip() == "", result.stdout
