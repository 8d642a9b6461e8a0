"""PKCS#12 (.p12/.pfx) export and import of a holder's key and certificate chain.

Owns the encryption choices of exported files: PBES2 with AES-256-CBC and PBKDF2-SHA256 for
keys and certificates, and an HMAC-SHA256 MAC, so no legacy RC2/3DES/SHA-1 is written.
"""

from __future__ import annotations

from asn1crypto import pkcs12 as asn1_pkcs12
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import PrivateFormat, pkcs12

from fincert.errors import InvalidInput, VerificationFailed
from fincert.formats.passwords import encode_file_password

#: PBKDF2 iterations for exported files (OpenSSL 3's default for PKCS#12 is 2048; NIST-style
#: guidance asks for far more, and a file is opened rarely).
PKCS12_KDF_ROUNDS = 100_000


def write_pkcs12(
    private_key: PrivateKeyTypes,
    certificate: x509.Certificate,
    chain: list[x509.Certificate],
    password: str,
    friendly_name: str,
    *,
    kdf_rounds: int = PKCS12_KDF_ROUNDS,
) -> bytes:
    """A PKCS#12 file holding the key, its certificate and the CA chain.

    A password with no byte form (a lone surrogate) is ``InvalidInput(field="password")``.
    """
    if not password:
        raise ValueError("a PKCS#12 export needs a password")
    password_bytes = encode_file_password(password)
    encryption = (
        PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(kdf_rounds)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password_bytes)
    )
    return pkcs12.serialize_key_and_certificates(
        friendly_name.encode("utf-8"), private_key, certificate, chain or None, encryption
    )


def read_pkcs12(
    data: bytes, password: str
) -> tuple[PrivateKeyTypes, x509.Certificate, list[x509.Certificate]]:
    """Open a PKCS#12 file: (key, its certificate, the other certificates).

    ``VerificationFailed`` for a wrong password, ``InvalidInput`` for anything that is not a
    PKCS#12 file holding one key and its certificate, or for a password with no byte form
    (``field="password"``). The details do not name the file (only bytes are given): a caller
    that read them from a path puts it in front.
    """
    # cryptography reports a bad password and bad data with the same ValueError; telling them
    # apart needs the outer structure, which needs no password.
    try:
        asn1_pkcs12.Pfx.load(bytes(data), strict=True)["auth_safe"]["content_type"].native
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as error:
        raise InvalidInput("the file is not a PKCS#12 file") from error
    password_bytes = encode_file_password(password)
    try:
        private_key, certificate, chain = pkcs12.load_key_and_certificates(
            bytes(data), password_bytes
        )
    except ValueError as error:
        raise VerificationFailed("wrong password for the PKCS#12 file") from error
    except UnsupportedAlgorithm as error:
        raise InvalidInput("the PKCS#12 file cannot be read") from error
    if private_key is None or certificate is None:
        raise InvalidInput("the PKCS#12 file lacks a private key or its certificate")
    return private_key, certificate, list(chain)
