"""CRL interop: CRLs from ``va.crl.build_crl`` read by ``openssl crl``, used by
``openssl verify -crl_check`` and linted by pkilint (RFC 5280 profile)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "va"))
from va_pki import PARTITION_URL, Pki, build_pki  # noqa: E402

from fincert.va.crl import CrlPartition, RevokedEntry, build_crl  # noqa: E402

pytestmark = pytest.mark.interop

VENV_BIN = Path(sys.executable).parent
# openssl verify checks the CRL's thisUpdate/nextUpdate against the real clock.
NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
REVOKED_AT = dt.datetime(2026, 1, 15, 3, 4, 5, tzinfo=dt.timezone.utc)
ENTRIES = [
    RevokedEntry(1002, REVOKED_AT, "keyCompromise"),  # ee1
    RevokedEntry(777, REVOKED_AT, "superseded"),
    RevokedEntry(2**150 + 3, REVOKED_AT, "unspecified"),
]


@pytest.fixture(scope="module")
def pki() -> Pki:
    return build_pki(NOW)


@pytest.fixture(scope="module")
def files(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return pki.write(tmp_path_factory.mktemp("crl-pki"))


def write_crl(pki: Pki, tmp_path: Path, entries: list[RevokedEntry], partition: CrlPartition | None = None) -> tuple[Path, Path]:
    der = build_crl(
        pki.ca, pki.ca_key, entries, crl_number=42, this_update=NOW - dt.timedelta(minutes=1),
        next_update=NOW + dt.timedelta(days=1), partition=partition,
    )
    der_path, pem_path = tmp_path / "crl.der", tmp_path / "crl.pem"
    der_path.write_bytes(der)
    pem_path.write_bytes(x509.load_der_x509_crl(der).public_bytes(serialization.Encoding.PEM))
    return der_path, pem_path


def openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, timeout=30)


def verify(files: dict[str, Path], crl_pem: Path, cert: str) -> subprocess.CompletedProcess[str]:
    return openssl("verify", "-crl_check", "-CAfile", files["chain"], "-CRLfile", crl_pem, files[cert])


def pkilint_findings(der: Path) -> list[dict]:
    result = subprocess.run(
        [VENV_BIN / "lint_crl", "lint", "-t", "CRL", "-p", "PKIX", "-s", "WARNING", "-f", "JSON", der],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["results"]


def test_openssl_reads_number_reasons_and_dates(pki: Pki, files: dict[str, Path], tmp_path: Path) -> None:
    der, _ = write_crl(pki, tmp_path, ENTRIES)
    out = openssl("crl", "-inform", "DER", "-in", der, "-text", "-noout")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "Version 2 (0x1)" in text
    assert "X509v3 CRL Number: \n                42" in text
    assert "X509v3 Authority Key Identifier" in text
    assert "Serial Number: 03EA" in text and "Key Compromise" in text and "Superseded" in text
    assert text.count("Revocation Date: Jan 15 03:04:05 2026 GMT") == 3
    assert text.count("X509v3 CRL Reason Code") == 2  # the unspecified entry carries none
    assert "Issuing Distribution Point" not in text
    verified = openssl("crl", "-inform", "DER", "-in", der, "-noout", "-CAfile", files["chain"])
    assert "verify OK" in verified.stderr + verified.stdout


def test_verify_rejects_revoked_and_accepts_good(pki: Pki, files: dict[str, Path], tmp_path: Path) -> None:
    _, pem = write_crl(pki, tmp_path, ENTRIES)
    revoked = verify(files, pem, "ee1")
    assert revoked.returncode != 0
    assert "certificate revoked" in revoked.stdout + revoked.stderr
    good = verify(files, pem, "ee0")
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout.strip().endswith(": OK")


def test_partitioned_crl_is_in_scope_for_its_certificates(pki: Pki, files: dict[str, Path], tmp_path: Path) -> None:
    der, pem = write_crl(pki, tmp_path, ENTRIES, CrlPartition(3, PARTITION_URL))
    text = openssl("crl", "-inform", "DER", "-in", der, "-text", "-noout").stdout
    assert "X509v3 Issuing Distribution Point: critical" in text
    assert f"URI:{PARTITION_URL}" in text and "Only User Certificates" in text
    revoked = verify(files, pem, "ee1")
    assert "certificate revoked" in revoked.stdout + revoked.stderr
    assert verify(files, pem, "ee0").returncode == 0
    assert pkilint_findings(der) == []


def test_partition_for_another_url_does_not_clear_a_certificate(pki: Pki, files: dict[str, Path], tmp_path: Path) -> None:
    # The critical IDP scopes the CRL: a partition that is not the certificate's must not pass it.
    _, pem = write_crl(pki, tmp_path, [], CrlPartition(4, "http://crl.fincert.test/ca1/4.crl"))
    result = verify(files, pem, "ee0")
    assert result.returncode != 0
    assert "different CRL scope" in result.stdout + result.stderr


def test_pkilint_full_and_empty_crls(pki: Pki, tmp_path: Path) -> None:
    der, _ = write_crl(pki, tmp_path, ENTRIES)
    assert pkilint_findings(der) == []
    empty, _ = write_crl(pki, tmp_path, [])
    assert pkilint_findings(empty) == []
