"""Certificate profiles as data: validated config objects, and the check of a draft against one.

A profile says what an end-entity certificate of a product must look like; ``check_certificate``
compares a to-be-signed draft with it before the real signature is made, and refuses anything
that differs (``PolicyViolation`` listing every problem).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID, NameOID

from fincert.config import Settings
from fincert.errors import InvalidInput, PolicyViolation

PRODUCTS = ("financial", "joint")

#: KISA identifyData, the otherName carrying the holder's real name and VID.
IDENTIFY_DATA_OID = x509.ObjectIdentifier("1.2.410.200004.10.1.1")

_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")

#: Extensions an end-entity certificate carries; anything else is refused.
_EE_REQUIRED = {
    ExtensionOID.BASIC_CONSTRAINTS,
    ExtensionOID.KEY_USAGE,
    ExtensionOID.CERTIFICATE_POLICIES,
    ExtensionOID.CRL_DISTRIBUTION_POINTS,
    ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
    ExtensionOID.SUBJECT_KEY_IDENTIFIER,
    ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
}
_EE_OPTIONAL = {ExtensionOID.SUBJECT_ALTERNATIVE_NAME}


@dataclass(frozen=True)
class CertificateProfile:
    """What a certificate of one product looks like. Validated on construction."""

    name: str
    validity: dt.timedelta
    policy_oid: str
    cps_uri: str
    user_notice: str
    subscriber_key_size: int = 2048
    #: Serial numbers carry at least this many random bits (CA/B and RFC 5280 practice).
    serial_entropy_bits: int = 64
    allowed_key_types: frozenset[str] = field(default_factory=lambda: frozenset({"rsa"}))

    def __post_init__(self) -> None:
        if self.name not in PRODUCTS:
            raise InvalidInput(f"unknown product {self.name!r}: use financial or joint", field="product")
        if not dt.timedelta(days=1) <= self.validity <= dt.timedelta(days=5 * 366):
            raise InvalidInput("profile validity must be between 1 day and 5 years", field="validity")
        if not _OID.match(self.policy_oid):
            raise InvalidInput(f"policy OID {self.policy_oid!r} is not a dotted OID", field="policy_oid")
        if not self.cps_uri.startswith(("http://", "https://")):
            raise InvalidInput("CPS URI must be an http(s) URL", field="cps_uri")
        if not 1 <= len(self.user_notice) <= 200:
            raise InvalidInput("user notice must be 1 to 200 characters", field="user_notice")

    @property
    def policy(self) -> x509.PolicyInformation:
        return x509.PolicyInformation(
            x509.ObjectIdentifier(self.policy_oid),
            [self.cps_uri, x509.UserNotice(None, self.user_notice)],
        )


def profiles_from_settings(settings: Settings) -> dict[str, CertificateProfile]:
    cps = settings.resolved_cps_url
    return {
        "financial": CertificateProfile(
            name="financial",
            validity=dt.timedelta(days=settings.financial_validity_days),
            policy_oid=settings.financial_policy_oid,
            cps_uri=cps,
            user_notice="이 인증서는 금융인증서로서 전자서명법에 따른 전자서명에 사용됩니다",
        ),
        "joint": CertificateProfile(
            name="joint",
            validity=dt.timedelta(days=settings.joint_validity_days),
            policy_oid=settings.joint_policy_oid,
            cps_uri=cps,
            user_notice="이 인증서는 공동인증서로서 전자서명법에 따른 전자서명에 사용됩니다",
        ),
    }


def get_profile(profiles: dict[str, CertificateProfile], name: str) -> CertificateProfile:
    try:
        return profiles[name]
    except KeyError:
        raise InvalidInput(f"unknown product {name!r}: use financial or joint", field="product") from None


@dataclass(frozen=True)
class ExpectedUrls:
    crl: str
    ocsp: str
    ca_issuers: str


def check_certificate(
    draft: x509.Certificate,
    profile: CertificateProfile,
    issuer: x509.Certificate,
    urls: ExpectedUrls,
    organization: str,
) -> None:
    """Refuse a to-be-signed end-entity certificate that does not match its profile."""
    problems: list[str] = []

    if draft.version is not x509.Version.v3:
        problems.append("not an X.509 v3 certificate")
    serial = draft.serial_number
    if serial <= 0 or serial.bit_length() > 159:
        problems.append("serial number must be positive and at most 20 octets")
    elif serial.bit_length() < profile.serial_entropy_bits:
        problems.append(f"serial number shorter than {profile.serial_entropy_bits} bits")

    not_before, not_after = draft.not_valid_before_utc, draft.not_valid_after_utc
    if not_after <= not_before:
        problems.append("validity ends before it starts")
    if not_after - not_before > profile.validity + dt.timedelta(minutes=5):
        problems.append(f"validity longer than the {profile.name} profile allows")
    if not_after > issuer.not_valid_after_utc:
        problems.append("certificate would outlive its issuer")
    if not_before < issuer.not_valid_before_utc:
        problems.append("certificate would start before its issuer")

    if draft.issuer != issuer.subject:
        problems.append("issuer name does not match the issuing CA's subject")
    subject = draft.subject
    def values(oid: x509.ObjectIdentifier) -> list[str]:
        return [str(a.value) for a in subject.get_attributes_for_oid(oid)]
    if values(NameOID.COUNTRY_NAME) != ["KR"]:
        problems.append("subject must have C=KR")
    if values(NameOID.ORGANIZATION_NAME) != [organization]:
        problems.append("subject O must be the CA organisation")
    if len(values(NameOID.ORGANIZATIONAL_UNIT_NAME)) != 1:
        problems.append("subject must have one OU (the institution)")
    common_names = values(NameOID.COMMON_NAME)
    if len(common_names) != 1 or "()" not in common_names[0]:
        problems.append("subject CN must be the holder's name with a unique suffix")

    key = draft.public_key()
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size != profile.subscriber_key_size:
        problems.append(f"subscriber key must be RSA-{profile.subscriber_key_size}")

    issuer_key = issuer.public_key()
    expected_sig = "sha256WithRSAEncryption" if isinstance(issuer_key, rsa.RSAPublicKey) else "ecdsa-with-SHA256"
    if draft.signature_algorithm_oid._name != expected_sig:  # noqa: SLF001 - the OID's registered name
        problems.append(f"signature algorithm must be {expected_sig}")
    if isinstance(issuer_key, ec.EllipticCurvePublicKey) and not isinstance(issuer_key.curve, ec.SECP256R1):
        problems.append("EC issuers must use P-256")

    present = {ext.oid for ext in draft.extensions}
    missing = _EE_REQUIRED - present
    unexpected = present - _EE_REQUIRED - _EE_OPTIONAL
    for oid in sorted(missing, key=lambda o: o.dotted_string):
        problems.append(f"missing extension {oid._name}")  # noqa: SLF001
    for oid in sorted(unexpected, key=lambda o: o.dotted_string):
        problems.append(f"unexpected extension {oid.dotted_string}")
    ext = draft.extensions
    if not missing:
        bc = ext.get_extension_for_class(x509.BasicConstraints)
        if bc.value.ca:
            problems.append("end-entity certificate must not be a CA")
        ku = ext.get_extension_for_class(x509.KeyUsage)
        usage = ku.value
        if not ku.critical:
            problems.append("keyUsage must be critical")
        if not (usage.digital_signature and usage.content_commitment) or any(
            (usage.key_encipherment, usage.data_encipherment, usage.key_agreement, usage.key_cert_sign, usage.crl_sign)
        ):
            problems.append("keyUsage must be exactly digitalSignature and nonRepudiation")
        policies = ext.get_extension_for_class(x509.CertificatePolicies).value
        if [p.policy_identifier.dotted_string for p in policies] != [profile.policy_oid]:
            problems.append(f"certificatePolicies must be exactly {profile.policy_oid}")
        cdp = ext.get_extension_for_class(x509.CRLDistributionPoints).value
        cdp_urls = [n.value for dp in cdp for n in (dp.full_name or [])]
        if cdp_urls != [urls.crl]:
            problems.append("CRL distribution point does not name the certificate's CRL partition")
        aia = ext.get_extension_for_class(x509.AuthorityInformationAccess).value
        ocsp = [d.access_location.value for d in aia if d.access_method == AuthorityInformationAccessOID.OCSP]
        issuers = [d.access_location.value for d in aia if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS]
        if ocsp != [urls.ocsp] or issuers != [urls.ca_issuers]:
            problems.append("authority information access must name the OCSP responder and the issuer certificate")
        ski = ext.get_extension_for_class(x509.SubjectKeyIdentifier).value
        if ski.digest != x509.SubjectKeyIdentifier.from_public_key(key).digest:
            problems.append("subject key identifier does not match the public key")
        aki = ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        issuer_ski = x509.SubjectKeyIdentifier.from_public_key(issuer_key).digest
        if aki.key_identifier != issuer_ski:
            problems.append("authority key identifier does not match the issuer")
    if ExtensionOID.SUBJECT_ALTERNATIVE_NAME in present:
        san = ext.get_extension_for_class(x509.SubjectAlternativeName).value
        for general_name in san:
            if not (isinstance(general_name, x509.OtherName) and general_name.type_id == IDENTIFY_DATA_OID):
                problems.append("subjectAltName may only carry KISA identifyData")

    if problems:
        raise PolicyViolation(f"certificate does not match the {profile.name} profile: " + "; ".join(problems))
