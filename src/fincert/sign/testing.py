"""A throwaway PKI for tests and demos of the signing code (never for production keys).

Owns building, with ``cryptography``, a root CA, an issuing CA under it, a TSA certificate
(critical extendedKeyUsage id-kp-timeStamping, issued by the root) and an end-entity signing
certificate shaped like a Korean financial certificate (keyUsage digitalSignature +
nonRepudiation), so unit and interop tests everywhere use one shape of PKI.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "KR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fincert test"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def issue_certificate(
    *,
    subject: str,
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
    issuer_cert: x509.Certificate | None,
    issuer_key: PrivateKey,
    not_before: datetime,
    not_after: datetime,
    kind: str,
    serial: int | None = None,
) -> x509.Certificate:
    """Issue one certificate; ``kind`` is ``ca``, ``tsa`` or ``signer``; no issuer = self-signed."""
    issuer_name = issuer_cert.subject if issuer_cert is not None else _name(subject)
    issuer_public = issuer_cert.public_key() if issuer_cert is not None else public_key
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public),  # type: ignore[arg-type]
            critical=False,
        )
    )
    if kind == "ca":
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    elif kind == "tsa":
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        builder = builder.add_extension(
            x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True
        )
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
        )
    elif kind == "signer":
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        builder = builder.add_extension(
            x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True
        )
    else:
        raise ValueError(f"unknown certificate kind {kind!r}")
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass(frozen=True)
class TestPki:
    """Root → issuing CA → signer, and root → TSA; every certificate valid from ``start``."""

    __test__ = False  # not a pytest test class despite the name

    root: x509.Certificate
    root_key: rsa.RSAPrivateKey
    issuing_ca: x509.Certificate
    issuing_ca_key: rsa.RSAPrivateKey
    tsa: x509.Certificate
    tsa_key: rsa.RSAPrivateKey
    signer: x509.Certificate
    signer_key: rsa.RSAPrivateKey

    def issue_signer(
        self,
        public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
        *,
        not_before: datetime,
        not_after: datetime,
        subject: str = "홍길동()0011",
    ) -> x509.Certificate:
        return issue_certificate(
            subject=subject,
            public_key=public_key,
            issuer_cert=self.issuing_ca,
            issuer_key=self.issuing_ca_key,
            not_before=not_before,
            not_after=not_after,
            kind="signer",
        )


def build_test_pki(start: datetime, *, signer_days: int = 365) -> TestPki:
    """Build the PKI (four RSA-2048 keys, about 0.2 s); CAs valid for ten years from ``start``."""
    not_before = start - timedelta(minutes=5)
    ten_years = start + timedelta(days=3650)
    root_key, ca_key, tsa_key, signer_key = (new_rsa_key() for _ in range(4))
    root = issue_certificate(
        subject="fincert test root",
        public_key=root_key.public_key(),
        issuer_cert=None,
        issuer_key=root_key,
        not_before=not_before,
        not_after=ten_years,
        kind="ca",
    )
    issuing_ca = issue_certificate(
        subject="fincert test issuing CA",
        public_key=ca_key.public_key(),
        issuer_cert=root,
        issuer_key=root_key,
        not_before=not_before,
        not_after=ten_years,
        kind="ca",
    )
    tsa = issue_certificate(
        subject="fincert test TSA",
        public_key=tsa_key.public_key(),
        issuer_cert=root,
        issuer_key=root_key,
        not_before=not_before,
        not_after=ten_years,
        kind="tsa",
    )
    pki_without_signer = TestPki(root, root_key, issuing_ca, ca_key, tsa, tsa_key, root, signer_key)
    signer = pki_without_signer.issue_signer(
        signer_key.public_key(), not_before=not_before, not_after=start + timedelta(days=signer_days)
    )
    return TestPki(root, root_key, issuing_ca, ca_key, tsa, tsa_key, signer, signer_key)


def pem(*certificates: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)
