"""The OpenSSL CLI opens fincert's PKCS#12 exports and reports the modern algorithms in them."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from fincert.errors import VerificationFailed
from fincert.formats.pkcs12 import read_pkcs12, write_pkcs12

pytestmark = pytest.mark.interop

PASSWORD = "Export-pass-2024!"


@pytest.fixture(scope="module")
def key_and_cert() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "홍길동()0011")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, cert


def test_openssl_opens_export_with_pbes2_aes256_sha256(
    tmp_path: Path, key_and_cert: tuple[rsa.RSAPrivateKey, x509.Certificate]
) -> None:
    key, cert = key_and_cert
    p12 = tmp_path / "f.p12"
    p12.write_bytes(write_pkcs12(key, cert, [], PASSWORD, "fincert"))
    result = subprocess.run(
        ["openssl", "pkcs12", "-in", str(p12), "-passin", f"pass:{PASSWORD}", "-nodes", "-info"],
        capture_output=True,
        check=True,
    )
    report = result.stderr.decode(errors="replace") + result.stdout.decode(errors="replace")
    assert "MAC: sha256" in report
    assert "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC" in report
    assert "PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC" in report
    assert report.count("PRF hmacWithSHA256") == 2
    assert "friendlyName: fincert" in report
    # The key OpenSSL got out is ours.
    pem = result.stdout[result.stdout.index(b"-----BEGIN PRIVATE KEY-----") :]
    exported = serialization.load_pem_private_key(pem, password=None)
    assert exported.private_numbers() == key.private_numbers()


def test_openssl_refuses_the_wrong_password(
    tmp_path: Path, key_and_cert: tuple[rsa.RSAPrivateKey, x509.Certificate]
) -> None:
    key, cert = key_and_cert
    p12 = tmp_path / "f.p12"
    p12.write_bytes(write_pkcs12(key, cert, [], PASSWORD, "fincert"))
    result = subprocess.run(
        ["openssl", "pkcs12", "-in", str(p12), "-passin", "pass:wrong", "-nodes"],
        capture_output=True,
    )
    assert result.returncode != 0


def test_fincert_reads_an_openssl_export(
    tmp_path: Path, key_and_cert: tuple[rsa.RSAPrivateKey, x509.Certificate]
) -> None:
    key, cert = key_and_cert
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    subprocess.run(
        [
            "openssl", "pkcs12", "-export",
            "-inkey", str(tmp_path / "key.pem"), "-in", str(tmp_path / "cert.pem"),
            "-passout", f"pass:{PASSWORD}", "-out", str(tmp_path / "o.p12"),
        ],
        capture_output=True,
        check=True,
    )  # fmt: skip
    data = (tmp_path / "o.p12").read_bytes()
    loaded_key, loaded_cert, chain = read_pkcs12(data, PASSWORD)
    assert loaded_key.private_numbers() == key.private_numbers()
    assert loaded_cert == cert and chain == []
    with pytest.raises(VerificationFailed):
        read_pkcs12(data, PASSWORD + "x")
