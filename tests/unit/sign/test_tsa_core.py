"""The RFC 3161 TSA core: tokens it grants, requests it refuses, and its certificate profile."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from datetime import datetime, timedelta, timezone

import pytest
from asn1crypto import cms, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.x509.oid import ExtendedKeyUsageOID
from hypothesis import given, settings
from hypothesis import strategies as st
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
from pyhanko.sign.validation.status import TimestampSignatureStatus
from pyhanko_certvalidator import ValidationContext

from fincert.clock import FakeClock
from fincert.errors import ConfigurationError, InvalidInput, PolicyViolation, VerificationFailed
from fincert.sign.testing import TestPki, build_test_pki, issue_certificate
from fincert.sign.tsa import (
    MessageImprint,
    TimeStampAuthority,
    build_timestamp_request,
    parse_timestamp_response,
    tsa_certificate_profile_ok,
)

POLICY = "2.25.129041807263390498183187290406040151185"
START = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=1)


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return build_test_pki(START)


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock(START + timedelta(hours=1, microseconds=654321))


@pytest.fixture()
def tsa(pki: TestPki, clock: FakeClock) -> TimeStampAuthority:
    serials = itertools.count(1000)
    return TimeStampAuthority(pki.tsa, [], pki.tsa_key, POLICY, 1, clock, lambda: next(serials))


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _token_signed_data(result_token_der: bytes) -> cms.SignedData:
    return cms.ContentInfo.load(result_token_der)["content"]


def _signed_attr(signed_data: cms.SignedData, name: str):
    attrs = signed_data["signer_infos"][0]["signed_attrs"]
    values = [a["values"][0] for a in attrs if a["type"].native == name]
    assert len(values) == 1, name
    return values[0]


def _validate_token(pki: TestPki, token_der: bytes, data: bytes, moment: datetime) -> TimestampSignatureStatus:
    context = ValidationContext(
        trust_roots=[asn1_x509.Certificate.load(_der(pki.root))], moment=moment, allow_fetching=False
    )
    kwargs = asyncio.run(
        validate_tst_signed_data(
            _token_signed_data(token_der), context, lambda alg: hashlib.new(alg, data).digest()
        )
    )
    return TimestampSignatureStatus(**kwargs)


def test_granted_token_echoes_request_and_carries_tsa_fields(tsa, clock, pki):
    request = build_timestamp_request(b"transfer 1,000,000 KRW", nonce=0x1234567890ABCDEF)

    result = parse_timestamp_response(tsa.respond(request), request_der=request)

    assert result.status == "granted" and result.granted
    assert result.nonce == 0x1234567890ABCDEF
    assert result.serial == 1000
    assert result.policy == POLICY
    assert result.message_imprint == MessageImprint.of(b"transfer 1,000,000 KRW")
    # whole seconds of the TSA clock
    assert result.gen_time == clock.now().replace(microsecond=0)
    tst_info = _token_signed_data(result.token_der)["encap_content_info"]["content"].parsed
    assert tst_info["accuracy"]["seconds"].native == 1
    assert tst_info["tsa"].chosen == asn1_x509.Certificate.load(_der(pki.tsa)).subject


def test_serials_come_from_the_source_in_order(tsa):
    serials = [
        parse_timestamp_response(tsa.respond(build_timestamp_request(b"x"))).serial for _ in range(3)
    ]
    assert serials == [1000, 1001, 1002]


def test_token_signed_attributes_and_algorithm(tsa, pki):
    token = parse_timestamp_response(tsa.respond(build_timestamp_request(b"data"))).token_der
    signed_data = _token_signed_data(token)
    signer_info = signed_data["signer_infos"][0]

    assert signed_data["version"].native == "v3"
    assert _signed_attr(signed_data, "content_type").native == "tst_info"
    tst_info_der = bytes(signed_data["encap_content_info"]["content"])
    assert _signed_attr(signed_data, "message_digest").native == hashlib.sha256(tst_info_der).digest()
    ess_cert_id = _signed_attr(signed_data, "signing_certificate_v2")["certs"][0]
    assert ess_cert_id["hash_algorithm"]["algorithm"].native == "sha256"
    assert ess_cert_id["cert_hash"].native == hashlib.sha256(_der(pki.tsa)).digest()
    assert signer_info["signature_algorithm"]["algorithm"].native == "sha256_rsa"
    # The signature over the signed attributes verifies with the TSA certificate's key.
    pki.tsa.public_key().verify(
        signer_info["signature"].native,
        signer_info["signed_attrs"].untag().dump(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )


def test_pyhanko_accepts_the_token_as_trusted(tsa, pki, clock):
    data = b"contract v1"
    token = parse_timestamp_response(tsa.respond(build_timestamp_request(data))).token_der

    status = _validate_token(pki, token, data, clock.now())

    assert status.intact and status.valid and status.trusted
    assert status.timestamp == clock.now().replace(microsecond=0)
    assert not _validate_token(pki, token, b"contract v2", clock.now()).intact


def test_certificates_only_when_requested(tsa, pki):
    with_certs = parse_timestamp_response(tsa.respond(build_timestamp_request(b"a", cert_req=True)))
    without = parse_timestamp_response(tsa.respond(build_timestamp_request(b"a", cert_req=False)))

    certs = [c.chosen.dump() for c in _token_signed_data(with_certs.token_der)["certificates"]]
    assert certs == [_der(pki.tsa)]
    assert _token_signed_data(without.token_der)["certificates"].native is None


def test_no_nonce_requested_none_returned(tsa):
    result = parse_timestamp_response(tsa.respond(build_timestamp_request(b"a", nonce=False)))
    assert result.granted and result.nonce is None


def test_requested_policy_equal_to_ours_is_granted(tsa):
    result = parse_timestamp_response(tsa.respond(build_timestamp_request(b"a", policy=POLICY)))
    assert result.granted and result.policy == POLICY


def _request(**overrides) -> bytes:
    fields = {
        "version": "v1",
        "message_imprint": {
            "hash_algorithm": {"algorithm": "sha256"},
            "hashed_message": hashlib.sha256(b"x").digest(),
        },
        "cert_req": True,
    }
    fields.update(overrides)
    return tsp.TimeStampReq(fields).dump()


@pytest.mark.parametrize(
    ("request_der", "fail_info"),
    [
        (b"", "bad_data_format"),
        (b"\x30\x03\x02\x01\x01", "bad_data_format"),
        (b"not asn.1 at all", "bad_data_format"),
        (_request(version="v2"), "bad_request"),
        (
            _request(
                message_imprint={
                    "hash_algorithm": {"algorithm": "sha1"},
                    "hashed_message": hashlib.sha1(b"x").digest(),
                }
            ),
            "bad_alg",
        ),
        (
            _request(
                message_imprint={"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": b"short"}
            ),
            "bad_data_format",
        ),
        (_request(req_policy="1.2.3.4"), "unaccepted_policy"),
        (
            _request(extensions=[{"extn_id": "1.2.3.5", "critical": False, "extn_value": b"\x05\x00"}]),
            "unaccepted_extensions",
        ),
    ],
    ids=["empty", "truncated", "garbage", "version", "sha1", "short-imprint", "policy", "extension"],
)
def test_bad_requests_get_a_rejection_response(tsa, request_der, fail_info):
    result = parse_timestamp_response(tsa.respond(request_der))

    assert result.status == "rejection" and not result.granted
    assert result.failure_info == (fail_info,)
    assert result.status_text
    assert result.token_der is None


@pytest.fixture(scope="module")
def fuzz_tsa(pki: TestPki) -> TimeStampAuthority:
    # module-scoped: hypothesis reruns the test body, and function fixtures are not reset between
    serials = itertools.count(1)
    return TimeStampAuthority(pki.tsa, [], pki.tsa_key, POLICY, 1, FakeClock(START), lambda: next(serials))


@settings(max_examples=200, deadline=None)
@given(garbage=st.binary(max_size=200))
def test_arbitrary_bytes_never_raise(fuzz_tsa, garbage):
    result = parse_timestamp_response(fuzz_tsa.respond(garbage))
    assert result.status in ("rejection", "granted")
    if not result.granted:
        assert result.token_der is None and result.failure_info


def test_ec_tsa_signs_with_ecdsa(pki, clock):
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_cert = issue_certificate(
        subject="fincert test EC TSA",
        public_key=ec_key.public_key(),
        issuer_cert=pki.root,
        issuer_key=pki.root_key,
        not_before=START,
        not_after=START + timedelta(days=30),
        kind="tsa",
    )
    tsa = TimeStampAuthority(ec_cert, [], ec_key, POLICY, 1, clock, lambda: 7)
    data = b"ec"
    token = parse_timestamp_response(tsa.respond(build_timestamp_request(data))).token_der

    algorithm = _token_signed_data(token)["signer_infos"][0]["signature_algorithm"]["algorithm"].native
    assert algorithm == "sha256_ecdsa"
    assert _validate_token(pki, token, data, clock.now()).trusted


def test_a_bare_callable_can_sign(pki, clock):
    def vault_sign(data: bytes) -> bytes:
        return pki.tsa_key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    tsa = TimeStampAuthority(pki.tsa, [], vault_sign, POLICY, 1, clock, lambda: 1)
    token = parse_timestamp_response(tsa.respond(build_timestamp_request(b"v"))).token_der
    assert _validate_token(pki, token, b"v", clock.now()).trusted


def test_signer_must_hold_the_certificate_key(pki, clock):
    with pytest.raises(ConfigurationError):
        TimeStampAuthority(pki.tsa, [], pki.signer_key, POLICY, 1, clock, lambda: 1)


def test_unusable_serial_is_refused(pki, clock):
    tsa = TimeStampAuthority(pki.tsa, [], pki.tsa_key, POLICY, 1, clock, lambda: 0)
    with pytest.raises(ConfigurationError):
        tsa.respond(build_timestamp_request(b"x"))


def _tsa_like(pki: TestPki, eku: list, critical: bool) -> x509.Certificate:
    key = pki.tsa_key
    builder = (
        x509.CertificateBuilder()
        .subject_name(pki.tsa.subject)
        .issuer_name(pki.root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(START)
        .not_valid_after(START + timedelta(days=1))
    )
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=critical)
    return builder.sign(pki.root_key, hashes.SHA256())


@pytest.mark.parametrize(
    ("eku", "critical"),
    [
        ([], True),
        ([ExtendedKeyUsageOID.TIME_STAMPING], False),
        ([ExtendedKeyUsageOID.TIME_STAMPING, ExtendedKeyUsageOID.CODE_SIGNING], True),
        ([ExtendedKeyUsageOID.CODE_SIGNING], True),
    ],
    ids=["missing", "not-critical", "extra-purpose", "wrong-purpose"],
)
def test_tsa_profile_rejects(pki, eku, critical, clock):
    cert = _tsa_like(pki, eku, critical)
    with pytest.raises(PolicyViolation):
        tsa_certificate_profile_ok(cert)
    with pytest.raises(PolicyViolation):
        TimeStampAuthority(cert, [], pki.tsa_key, POLICY, 1, clock, lambda: 1)


def test_tsa_profile_accepts_exactly_critical_timestamping(pki):
    tsa_certificate_profile_ok(pki.tsa)
    tsa_certificate_profile_ok(_tsa_like(pki, [ExtendedKeyUsageOID.TIME_STAMPING], True))


def test_response_for_another_request_is_caught(tsa):
    request = build_timestamp_request(b"a", nonce=1)
    other = build_timestamp_request(b"a", nonce=2)
    response = tsa.respond(request)

    with pytest.raises(VerificationFailed):
        parse_timestamp_response(response, request_der=other)
    with pytest.raises(VerificationFailed):
        parse_timestamp_response(response, request_der=build_timestamp_request(b"b", nonce=1))


def test_garbage_response_is_invalid_input():
    with pytest.raises(InvalidInput):
        parse_timestamp_response(b"\x30\x00garbage")


def test_request_with_a_given_imprint():
    imprint = MessageImprint("sha384", hashlib.sha384(b"z").digest())
    request = tsp.TimeStampReq.load(build_timestamp_request(imprint, nonce=False, cert_req=False))
    assert request["message_imprint"]["hashed_message"].native == imprint.digest
    assert request["message_imprint"]["hash_algorithm"]["algorithm"].native == "sha384"
    assert request["cert_req"].native is False
    with pytest.raises(InvalidInput):
        build_timestamp_request(MessageImprint("sha256", b"too short"))



@pytest.mark.parametrize("cert_req", [True, False])
@pytest.mark.parametrize("nonce", [False, 1, 2**62 + 5, 2**63 - 1])
def test_hand_framed_response_is_canonical_der(tsa, cert_req, nonce):
    # The token is framed from pre-encoded parts; asn1crypto, re-encoding every field from its
    # parsed value, must produce exactly the same bytes (lengths, SET OF order, INTEGER minimality).
    response = tsa.respond(build_timestamp_request(b"canonical", cert_req=cert_req, nonce=nonce))
    parsed = tsp.TimeStampResp.load(response, strict=True)
    parsed.native  # force every field, nested TSTInfo included
    tst_info = parsed["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed
    assert tst_info.dump(force=True) == bytes(parsed["time_stamp_token"]["content"]["encap_content_info"]["content"])
    signed_attrs = parsed["time_stamp_token"]["content"]["signer_infos"][0]["signed_attrs"]
    assert signed_attrs.dump(force=True) == signed_attrs.dump()
    assert parsed.dump(force=True) == response
