"""PKCS#12 export: round trip with chain, modern algorithms inside, typed failures."""

from __future__ import annotations

import pytest
from asn1crypto import pkcs12 as asn1_pkcs12
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from fincert.errors import InvalidInput, VerificationFailed
from fincert.formats.pkcs12 import read_pkcs12, write_pkcs12

PASSWORD = "Export-pass-2024!"


@pytest.fixture(scope="module")
def p12_file(
    holder_key: rsa.RSAPrivateKey, issue_holder_cert, ca_cert: x509.Certificate
) -> tuple[bytes, x509.Certificate]:
    cert = issue_holder_cert()
    return write_pkcs12(holder_key, cert, [ca_cert], PASSWORD, "홍길동 인증서"), cert


def test_round_trip_with_chain(
    p12_file: tuple[bytes, x509.Certificate],
    holder_key: rsa.RSAPrivateKey,
    ca_cert: x509.Certificate,
) -> None:
    data, cert = p12_file
    key, loaded_cert, chain = read_pkcs12(data, PASSWORD)
    assert key.private_numbers() == holder_key.private_numbers()
    assert loaded_cert == cert
    assert chain == [ca_cert]


def test_uses_hmac_sha256_mac_and_pbes2(p12_file: tuple[bytes, x509.Certificate]) -> None:
    pfx = asn1_pkcs12.Pfx.load(p12_file[0])
    assert pfx["mac_data"]["mac"]["digest_algorithm"]["algorithm"].native == "sha256"
    # The certificate bag is encrypted data; its algorithm is PBES2 with AES-256-CBC.
    algorithms = []
    for content_info in pfx.authenticated_safe:
        if content_info["content_type"].native == "encrypted_data":
            encrypted = content_info["content"]["encrypted_content_info"]
            algorithms.append(encrypted["content_encryption_algorithm"])
    assert algorithms, "expected an encrypted certificate bag"
    for algorithm in algorithms:
        assert algorithm["algorithm"].native == "pbes2"
        assert algorithm.encryption_cipher == "aes"
        assert algorithm.key_length == 32
        assert algorithm["parameters"]["key_derivation_func"]["parameters"]["prf"][
            "algorithm"
        ].native == "sha256"


def test_wrong_password_is_verification_failed(p12_file: tuple[bytes, x509.Certificate]) -> None:
    with pytest.raises(VerificationFailed) as caught:
        read_pkcs12(p12_file[0], "Export-pass-2025!")
    assert "Export" not in caught.value.detail


@pytest.mark.parametrize("data", [b"", b"\x30\x00", b"not a p12 at all"])
def test_garbage_is_invalid_input(data: bytes) -> None:
    with pytest.raises(InvalidInput):
        read_pkcs12(data, PASSWORD)


def test_truncated_is_invalid_input(p12_file: tuple[bytes, x509.Certificate]) -> None:
    with pytest.raises(InvalidInput):
        read_pkcs12(p12_file[0][:-7], PASSWORD)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_typed_errors(data: bytes) -> None:
    with pytest.raises((InvalidInput, VerificationFailed)):
        read_pkcs12(data, PASSWORD)


def test_refuses_empty_password(holder_key: rsa.RSAPrivateKey, issue_holder_cert) -> None:
    with pytest.raises(ValueError):
        write_pkcs12(holder_key, issue_holder_cert(), [], "", "x")
