"""The profile check refuses drafts that differ from the profile, naming each problem."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from fincert.ca.profiles import CertificateProfile, ExpectedUrls, check_certificate, profiles_from_settings
from fincert.config import Settings
from fincert.errors import InvalidInput, PolicyViolation

NOW = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
URLS = ExpectedUrls("http://x/crl/2/0.crl", "http://x/ocsp", "http://x/ca/2.crt")


@pytest.fixture(scope="module")
def pki():
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ee_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "KR"), x509.NameAttribute(NameOID.COMMON_NAME, "CA")])
    ca = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(ca_key.public_key())
        .serial_number(1).not_valid_before(NOW - dt.timedelta(days=1)).not_valid_after(NOW + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    return ca_key, ca, ee_key


def draft(pki, profile, *, days=None, key=None, extra=None, drop=None, key_usage=None):
    ca_key, ca, ee_key = pki
    key = key or ee_key
    subject = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "KR"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fincert"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "한빛은행"),
        x509.NameAttribute(NameOID.COMMON_NAME, "홍길동()0001"),
    ])
    ku = key_usage or x509.KeyUsage(True, True, False, False, False, False, False, False, False)
    exts = [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (ku, True),
        (x509.CertificatePolicies([profile.policy]), False),
        (x509.CRLDistributionPoints([x509.DistributionPoint([x509.UniformResourceIdentifier(URLS.crl)], None, None, None)]), False),
        (x509.AuthorityInformationAccess([
            x509.AccessDescription(AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(URLS.ocsp)),
            x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(URLS.ca_issuers)),
        ]), False),
        (x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False),
        (x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False),
    ]
    builder = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(ca.subject).public_key(key.public_key())
        .serial_number(2**100 + 7).not_valid_before(NOW)
        .not_valid_after(NOW + dt.timedelta(days=days if days is not None else profile.validity.days))
    )
    for ext, critical in exts:
        if drop is not None and isinstance(ext, drop):
            continue
        builder = builder.add_extension(ext, critical=critical)
    for ext, critical in extra or []:
        builder = builder.add_extension(ext, critical=critical)
    return builder.sign(ca_key, hashes.SHA256())


@pytest.fixture(scope="module")
def profiles():
    return profiles_from_settings(Settings())


def test_conforming_draft_passes(pki, profiles):
    for profile in profiles.values():
        check_certificate(draft(pki, profile), profile, pki[1], URLS, "fincert")


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(days=4000), "validity longer"),
        (dict(drop=x509.CertificatePolicies), "missing extension"),
        (dict(extra=[(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False)]), "unexpected extension"),
        (dict(key_usage=x509.KeyUsage(True, True, True, False, False, False, False, False, False)), "keyUsage must be exactly"),
    ],
)
def test_nonconforming_drafts_are_refused(pki, profiles, change, message):
    profile = profiles["joint"]
    with pytest.raises(PolicyViolation, match=message):
        check_certificate(draft(pki, profile, **change), profile, pki[1], URLS, "fincert")


def test_wrong_key_size_and_wrong_urls(pki, profiles):
    profile = profiles["financial"]
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(PolicyViolation, match="RSA-2048"):
        check_certificate(draft(pki, profile, key=small), profile, pki[1], URLS, "fincert")
    other = ExpectedUrls("http://x/crl/2/9.crl", URLS.ocsp, URLS.ca_issuers)
    with pytest.raises(PolicyViolation, match="CRL partition"):
        check_certificate(draft(pki, profile), profile, pki[1], other, "fincert")


def test_profile_config_is_validated():
    with pytest.raises(InvalidInput):
        CertificateProfile("financial", dt.timedelta(days=0), "1.2.3", "http://x/cps", "notice")
    with pytest.raises(InvalidInput):
        CertificateProfile("financial", dt.timedelta(days=10), "not-an-oid", "http://x/cps", "notice")
    with pytest.raises(InvalidInput):
        CertificateProfile("gold", dt.timedelta(days=10), "1.2.3", "http://x/cps", "notice")
