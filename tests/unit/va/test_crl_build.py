"""va.crl: the hand-encoded CRL must be the CRL that cryptography would have built."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st
from va_pki import NOW, PARTITION_URL, Pki, _issue

from fincert.errors import InvalidInput
from fincert.va.crl import (
    MAX_PARTITION_SIZE,
    CrlPartition,
    RevokedEntry,
    RevokedEntryEncoder,
    build_crl,
    encode_revoked_entries,
    crl_partition_for,
)

DAY = dt.timedelta(days=1)
REASONS = [
    "unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded",
    "cessationOfOperation", "certificateHold", "privilegeWithdrawn", "aACompromise",
]


def _library_crl(pki: Pki, entries: list[RevokedEntry], *, crl_number: int, idp: x509.IssuingDistributionPoint | None = None) -> bytes:
    """The same CRL through cryptography's builder (slow path, used only as the reference)."""
    revoked = []
    for e in entries:
        b = x509.RevokedCertificateBuilder().serial_number(e.serial).revocation_date(e.revoked_at)
        if e.reason != "unspecified":
            b = b.add_extension(x509.CRLReason(x509.ReasonFlags(e.reason)), critical=False)
        revoked.append(b.build())
    ski = pki.ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = x509.CertificateRevocationListBuilder(
        issuer_name=pki.ca.subject,
        last_update=NOW,
        next_update=NOW + DAY,
        revoked_certificates=revoked,
    ).add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
    ).add_extension(x509.CRLNumber(crl_number), critical=False)
    if idp is not None:
        builder = builder.add_extension(idp, critical=True)
    return builder.sign(pki.ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def test_crl_is_byte_identical_to_cryptography_builder(pki: Pki) -> None:
    # RSA PKCS#1 v1.5 signatures are deterministic, so equal TBS bytes mean equal CRLs.
    entries = [
        RevokedEntry(1001 + i, NOW - dt.timedelta(hours=i, microseconds=7), reason)
        for i, reason in enumerate(REASONS)
    ] + [RevokedEntry(2**158 + 5, NOW, "keyCompromise"), RevokedEntry(128, NOW)]
    ours = build_crl(pki.ca, pki.ca_key, entries, crl_number=42, this_update=NOW, next_update=NOW + DAY)
    assert ours == _library_crl(pki, entries, crl_number=42)


def test_partitioned_crl_matches_cryptography_and_has_critical_idp(pki: Pki) -> None:
    entries = [RevokedEntry(1001, NOW, "superseded")]
    ours = build_crl(
        pki.ca, pki.ca_key, entries, crl_number=7, this_update=NOW, next_update=NOW + DAY,
        partition=CrlPartition(3, PARTITION_URL),
    )
    idp = x509.IssuingDistributionPoint(
        full_name=[x509.UniformResourceIdentifier(PARTITION_URL)], relative_name=None,
        only_contains_user_certs=True, only_contains_ca_certs=False, only_some_reasons=None,
        indirect_crl=False, only_contains_attribute_certs=False,
    )
    assert ours == _library_crl(pki, entries, crl_number=7, idp=idp)
    ext = x509.load_der_x509_crl(ours).extensions.get_extension_for_class(x509.IssuingDistributionPoint)
    assert ext.critical and ext.value.only_contains_user_certs


def test_empty_crl_omits_revoked_certificates(pki: Pki) -> None:
    ours = build_crl(pki.ca, pki.ca_key, [], crl_number=0, this_update=NOW, next_update=NOW + DAY)
    assert ours == _library_crl(pki, [], crl_number=0)
    crl = x509.load_der_x509_crl(ours)
    assert len(crl) == 0 and crl.is_signature_valid(pki.ca.public_key())


def test_entries_may_come_from_a_generator(pki: Pki) -> None:
    entries = (RevokedEntry(s, NOW) for s in range(1, 501))
    crl = x509.load_der_x509_crl(
        build_crl(pki.ca, pki.ca_key, entries, crl_number=1, this_update=NOW, next_update=NOW + DAY)
    )
    assert [r.serial_number for r in crl] == list(range(1, 501))


times = st.datetimes(
    min_value=dt.datetime(1951, 1, 1), max_value=dt.datetime(2100, 1, 1),
    timezones=st.just(dt.timezone.utc),
)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.builds(RevokedEntry, st.integers(1, 2**159 - 1), times, st.sampled_from(REASONS)),
        max_size=20,
        unique_by=lambda e: e.serial,
    )
)
def test_any_entries_round_trip_through_cryptography(pki: Pki, entries: list[RevokedEntry]) -> None:
    crl = x509.load_der_x509_crl(
        build_crl(pki.ca, pki.ca_key, entries, crl_number=9, this_update=NOW, next_update=NOW + DAY)
    )
    assert crl.is_signature_valid(pki.ca.public_key())
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 9
    read = []
    for r in crl:
        try:
            reason = r.extensions.get_extension_for_class(x509.CRLReason).value.reason.value
        except x509.ExtensionNotFound:
            reason = "unspecified"
        read.append((r.serial_number, r.revocation_date_utc, reason))
    assert read == [(e.serial, e.revoked_at.replace(microsecond=0), e.reason) for e in entries]


def test_times_after_2049_are_generalized_time(pki: Pki) -> None:
    late = dt.datetime(2051, 6, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
    der = build_crl(pki.ca, pki.ca_key, [RevokedEntry(5, late)], crl_number=1, this_update=NOW, next_update=late)
    assert b"\x18\x0f20510601120000Z" in der and b"\x17\x0d260302090000Z" in der


def test_ec_issuer_signs_with_ecdsa_sha256(pki: Pki) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    ec_ca = _issue("EC CA", key.public_key(), pki.root, pki.root_key, 77, ca=True)
    crl = x509.load_der_x509_crl(
        build_crl(ec_ca, key, [RevokedEntry(3, NOW, "keyCompromise")], crl_number=1, this_update=NOW, next_update=NOW + DAY)
    )
    assert crl.signature_algorithm_oid == x509.SignatureAlgorithmOID.ECDSA_WITH_SHA256
    assert crl.is_signature_valid(key.public_key())


@pytest.mark.parametrize(
    "entry, field",
    [
        (RevokedEntry(0, NOW), "serial"),
        (RevokedEntry(-5, NOW), "serial"),
        (RevokedEntry(2**159, NOW), "serial"),
        (RevokedEntry(5, NOW, "removeFromCRL"), "reason"),
        (RevokedEntry(5, NOW, "stolen"), "reason"),
    ],
)
def test_bad_entries_are_invalid_input(pki: Pki, entry: RevokedEntry, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        build_crl(pki.ca, pki.ca_key, [entry], crl_number=1, this_update=NOW, next_update=NOW + DAY)
    assert info.value.field == field


def test_misuse_is_refused(pki: Pki) -> None:
    with pytest.raises(ValueError, match="does not match"):
        build_crl(pki.ca, pki.root_key, [], crl_number=1, this_update=NOW, next_update=NOW + DAY)
    with pytest.raises(ValueError, match="timezone-aware"):
        build_crl(pki.ca, pki.ca_key, [RevokedEntry(1, dt.datetime(2026, 1, 1))], crl_number=1, this_update=NOW, next_update=NOW + DAY)
    with pytest.raises(ValueError, match="next_update"):
        build_crl(pki.ca, pki.ca_key, [], crl_number=1, this_update=NOW, next_update=NOW)
    with pytest.raises(ValueError, match="20 octets"):
        build_crl(pki.ca, pki.ca_key, [], crl_number=2**159, this_update=NOW, next_update=NOW + DAY)


def test_partition_for_sequence_number() -> None:
    assert crl_partition_for(0, 1000) == 0
    assert crl_partition_for(999, 1000) == 0
    assert crl_partition_for(1000, 1000) == 1
    assert crl_partition_for(123_456) == 6  # default size 20,000
    with pytest.raises(ValueError):
        crl_partition_for(-1, 1000)
    with pytest.raises(ValueError):
        crl_partition_for(5, MAX_PARTITION_SIZE + 1)


def test_full_partition_of_revoked_certificates_stays_near_one_megabyte(pki: Pki) -> None:
    # The sizing promise in the module docstring: 20,000 random 128-bit serials, all with a reason.
    entries = [RevokedEntry(2**127 + i * 7919, NOW, "keyCompromise") for i in range(MAX_PARTITION_SIZE)]
    der = build_crl(
        pki.ca, pki.ca_key, entries, crl_number=1, this_update=NOW, next_update=NOW + DAY,
        partition=CrlPartition(0, PARTITION_URL),
    )
    assert 900_000 < len(der) <= 1_050_000


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 2**159 - 1), times, st.sampled_from(REASONS), st.integers(0, 3))
def test_entries_encoded_from_stored_values_equal_entries_from_integers(
    serial: int, when: dt.datetime, reason: str, leading_zeros: int
) -> None:
    """The publisher's path (hex text, epoch seconds) gives the same bytes as the RevokedEntry path,
    also for serial text with leading zeros, which it normalises."""
    expected = bytes(encode_revoked_entries([RevokedEntry(serial, when, reason)]))
    seconds = int((when.replace(microsecond=0) - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)).total_seconds())
    encoder = RevokedEntryEncoder()
    text = "0" * leading_zeros + format(serial, "x")
    assert encoder.encode(text, seconds, None if reason == "unspecified" else reason) == expected
    assert encoder.encode(text, seconds, reason) == expected  # a cached tail the second time


@pytest.mark.parametrize(
    "serial_hex, reason, field",
    [
        ("", "keyCompromise", "serial"),
        ("000", "keyCompromise", "serial"),
        ("xyz", "keyCompromise", "serial"),
        ("-5", "keyCompromise", "serial"),
        ("8" + "0" * 39, "keyCompromise", "serial"),  # 2**159
        ("1" + "0" * 40, "keyCompromise", "serial"),  # 21 octets
        ("5", "removeFromCRL", "reason"),
        ("5", "stolen", "reason"),
    ],
)
def test_bad_stored_values_are_invalid_input(serial_hex: str, reason: str, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        RevokedEntryEncoder().encode(serial_hex, 1_700_000_000, reason)
    assert info.value.field == field
