"""A throwaway PKI for the VA tests: root → issuing CA (RSA-2048) → OCSP responder and holders.

Shared by ``tests/unit/va`` (through its conftest) and the VA interop tests, which add this
directory to ``sys.path``; it builds everything in memory with ``cryptography``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = dt.datetime(2026, 3, 2, 9, 0, 0, tzinfo=dt.timezone.utc)
PARTITION_URL = "http://crl.fincert.test/ca1/3.crl"


@dataclasses.dataclass
class Pki:
    root: x509.Certificate
    root_key: rsa.RSAPrivateKey
    ca: x509.Certificate
    ca_key: rsa.RSAPrivateKey
    responder: x509.Certificate
    responder_key: rsa.RSAPrivateKey
    ec_responder: x509.Certificate
    ec_responder_key: ec.EllipticCurvePrivateKey
    #: end-entity certificates, serials 1001, 1002, 1003 (each with a CRL DP of PARTITION_URL)
    holders: list[x509.Certificate]
    #: an end-entity certificate with no OCSP EKU, to refuse as a responder
    plain_holder_key: ec.EllipticCurvePrivateKey

    def write(self, directory: Path) -> dict[str, Path]:
        """PEM files for the openssl CLI: root, ca, chain (root+ca), responder, ee0..ee2."""
        files = {
            "root": [self.root],
            "ca": [self.ca],
            "chain": [self.root, self.ca],
            "responder": [self.responder],
            **{f"ee{i}": [c] for i, c in enumerate(self.holders)},
        }
        paths = {}
        for name, certs in files.items():
            path = directory / f"{name}.pem"
            path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
            paths[name] = path
        return paths


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "KR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fincert test"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _issue(
    subject: str,
    public_key,
    issuer: x509.Certificate | None,
    issuer_key,
    serial: int,
    *,
    ca: bool = False,
    ocsp: bool = False,
    crl_dp: str | None = None,
    now: dt.datetime = NOW,
) -> x509.Certificate:
    issuer_name = issuer.subject if issuer is not None else _name(subject)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(now - dt.timedelta(days=30))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key()), critical=False
        )
    usage = dict.fromkeys(
        [
            "digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
            "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only",
        ],
        False,
    )
    if ca:
        usage.update(key_cert_sign=True, crl_sign=True)
    else:
        usage.update(digital_signature=True, content_commitment=not ocsp)
    builder = builder.add_extension(x509.KeyUsage(**usage), critical=True)
    if ocsp:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False
        ).add_extension(x509.OCSPNoCheck(), critical=False)
    if crl_dp is not None:
        builder = builder.add_extension(
            x509.CRLDistributionPoints(
                [x509.DistributionPoint([x509.UniformResourceIdentifier(crl_dp)], None, None, None)]
            ),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def build_pki(now: dt.datetime = NOW) -> Pki:
    """Certificates valid from 30 days before ``now`` for a year; the interop tests pass the real
    time because openssl checks validity against its own clock."""
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root = _issue("fincert test root", root_key.public_key(), None, root_key, 1, ca=True, now=now)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = _issue("fincert test CA 1", ca_key.public_key(), root, root_key, 2, ca=True, now=now)
    responder_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    responder = _issue("fincert OCSP 1", responder_key.public_key(), ca, ca_key, 900, ocsp=True, now=now)
    ec_responder_key = ec.generate_private_key(ec.SECP256R1())
    ec_responder = _issue("fincert OCSP 1 (EC)", ec_responder_key.public_key(), ca, ca_key, 901, ocsp=True, now=now)
    holder_key = ec.generate_private_key(ec.SECP256R1())
    holders = [
        _issue(f"holder {i}", holder_key.public_key(), ca, ca_key, 1001 + i, crl_dp=PARTITION_URL, now=now)
        for i in range(3)
    ]
    return Pki(
        root=root,
        root_key=root_key,
        ca=ca,
        ca_key=ca_key,
        responder=responder,
        responder_key=responder_key,
        ec_responder=ec_responder,
        ec_responder_key=ec_responder_key,
        holders=holders,
        plain_holder_key=holder_key,
    )
