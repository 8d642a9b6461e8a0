"""The OpenSSL CLI against fincert's NPKI key files and identifyData otherName.

SEED lives in OpenSSL 3's legacy provider, which these tests load explicitly.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from fincert.formats import npki, vid

pytestmark = pytest.mark.interop

PASSWORD = "qwer1234!@#$"
RANDOM_NUM = bytes(range(1, 21))
PROVIDERS = ["-provider", "legacy", "-provider", "default"]


def openssl(*args: str, stdin: bytes | None = None) -> bytes:
    return subprocess.run(
        ["openssl", *args], input=stdin, capture_output=True, check=True
    ).stdout


@pytest.fixture(scope="module")
def holder_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_openssl_decrypts_fincert_pbes2_key_file(
    tmp_path: Path, holder_key: rsa.RSAPrivateKey
) -> None:
    key_file = tmp_path / "signPri.key"
    key_file.write_bytes(npki.write_sign_pri_key(holder_key, PASSWORD, RANDOM_NUM))
    plain = openssl(
        "pkcs8", "-inform", "DER", "-in", str(key_file), "-passin", f"pass:{PASSWORD}",
        "-outform", "DER", *PROVIDERS,
    )  # fmt: skip
    decrypted = serialization.load_der_private_key(plain, password=None)
    assert decrypted.private_numbers() == holder_key.private_numbers()
    structure = openssl("asn1parse", "-inform", "DER", "-in", str(key_file)).decode()
    assert ":PBES2" in structure and ":PBKDF2" in structure and ":seed-cbc" in structure
    assert "hmacWith" not in structure  # SHA-1 PRF, left at its DEFAULT


@pytest.mark.parametrize("prf", ["hmacWithSHA1", "hmacWithSHA256"])
def test_fincert_reads_openssl_pbes2_seed_files(
    tmp_path: Path, holder_key: rsa.RSAPrivateKey, prf: str
) -> None:
    (tmp_path / "key.pem").write_bytes(
        holder_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    openssl(
        "pkcs8", "-topk8", "-in", str(tmp_path / "key.pem"), "-outform", "DER",
        "-out", str(tmp_path / "signPri.key"), "-v2", "seed-cbc", "-v2prf", prf,
        "-passout", f"pass:{PASSWORD}", *PROVIDERS,
    )  # fmt: skip
    loaded = npki.read_sign_pri_key((tmp_path / "signPri.key").read_bytes(), PASSWORD)
    assert loaded.private_key.private_numbers() == holder_key.private_numbers()
    assert loaded.random_num is None  # OpenSSL has no way to write the attribute


def test_pbkdf1_first_block_matches_openssl_bytes_to_key() -> None:
    # EVP_BytesToKey with one SHA-1 round is PBKDF1-SHA1 with one iteration.
    report = openssl(
        "enc", "-aes-128-cbc", "-md", "sha1", "-S", "0102030405060708",
        "-pass", f"pass:{PASSWORD}", "-P",
    ).decode()  # fmt: skip
    openssl_key = re.search(r"key=([0-9A-F]+)", report).group(1).lower()
    assert npki.pbkdf1_sha1(PASSWORD.encode(), bytes(range(1, 9)), 1)[:16].hex() == openssl_key


def test_openssl_parses_identify_data_other_name(
    tmp_path: Path, holder_key: rsa.RSAPrivateKey
) -> None:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "holder")])
    now = dt.datetime.now(dt.timezone.utc)
    san = x509.SubjectAlternativeName(
        [vid.identify_data_other_name("홍길동", "8001011234567", RANDOM_NUM)]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(holder_key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(san, critical=False)
        .sign(holder_key, hashes.SHA256())
    )
    ext = tmp_path / "san.der"
    ext.write_bytes(san.public_bytes())
    lines = [
        re.sub(r"^\s*\d+:d=(\d+)\s+hl=\d+ l=\s*\d+ (?:prim|cons):\s*", r"\1 ", line).rstrip()
        for line in openssl("asn1parse", "-inform", "DER", "-in", str(ext)).decode().splitlines()
    ]
    vid_hex = vid.compute_vid("8001011234567", RANDOM_NUM).hex().upper()
    assert lines == [
        "0 SEQUENCE",
        "1 cont [ 0 ]",  # otherName
        "2 OBJECT            :1.2.410.200004.10.1.1",
        "2 cont [ 0 ]",  # [0] EXPLICIT
        "3 SEQUENCE",  # IdentifyData
        "4 UTF8STRING        :홍길동",
        "4 SEQUENCE",  # userInfos
        "5 SEQUENCE",
        "6 OBJECT            :1.2.410.200004.10.1.1.1",
        "6 SEQUENCE",  # VID
        "7 SEQUENCE",  # hashAlg, without NULL parameters
        "8 OBJECT            :sha256",
        "7 cont [ 0 ]",
        f"8 OCTET STRING      [HEX DUMP]:{vid_hex}",
    ]
    # And OpenSSL reads the certificate carrying it.
    text = openssl("x509", "-inform", "DER", "-noout", "-text",
                   stdin=cert.public_bytes(serialization.Encoding.DER)).decode(errors="replace")
    assert "X509v3 Subject Alternative Name" in text
