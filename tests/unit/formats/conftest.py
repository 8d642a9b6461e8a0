"""Keys and certificates shared by the format tests: a small self-signed CA and a holder."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

HOLDER_SUBJECT = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "kr"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "yessign"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "personal4IB"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "KMB"),
        x509.NameAttribute(NameOID.COMMON_NAME, "홍길동()0011049200802151110000035"),
    ]
)

CertFactory = Callable[..., x509.Certificate]


@pytest.fixture(scope="session")
def ca_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def holder_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def ca_cert(ca_key: rsa.RSAPrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fincert test CA")])
    now = dt.datetime.now(dt.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )


@pytest.fixture(scope="session")
def issue_holder_cert(
    ca_key: rsa.RSAPrivateKey, ca_cert: x509.Certificate, holder_key: rsa.RSAPrivateKey
) -> CertFactory:
    """Issue a holder certificate, optionally with subjectAltName entries."""

    def issue(
        *,
        subject: x509.Name = HOLDER_SUBJECT,
        san: list[x509.GeneralName] | None = None,
        public_key: rsa.RSAPublicKey | None = None,
    ) -> x509.Certificate:
        now = dt.datetime.now(dt.timezone.utc)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_cert.subject)
            .public_key(public_key or holder_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365))
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(ca_key, hashes.SHA256())

    return issue
