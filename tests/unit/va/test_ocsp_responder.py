"""va.ocsp: request parsing, response signing and the answer policy, checked with cryptography."""

from __future__ import annotations

import datetime as dt

import pytest
from asn1crypto import core as asn1_core
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.x509 import ocsp
from hypothesis import given, settings
from hypothesis import strategies as st
from va_pki import NOW, Pki, _issue

from fincert.va.ocsp import (
    GOOD,
    UNKNOWN,
    CertId,
    CertificateStatus,
    InvalidResponderCertificate,
    MalformedOcspRequest,
    OcspRequestInfo,
    OcspSigner,
    answer,
    check_responder_certificate,
    error_response,
    issuer_hashes,
    parse_ocsp_request,
    parse_response_statuses,
    presign_single,
)

HOUR = dt.timedelta(hours=1)
REVOKED_AT = NOW - dt.timedelta(days=2, microseconds=250)
REVOKED = CertificateStatus("revoked", revoked_at=REVOKED_AT, reason="keyCompromise")


@pytest.fixture(scope="module")
def signer(pki: Pki) -> OcspSigner:
    return OcspSigner(pki.responder, pki.responder_key, pki.ca)


def _library_request(pki: Pki, holder: x509.Certificate, algorithm: hashes.HashAlgorithm, nonce: bytes | None) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(holder, pki.ca, algorithm)
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def _multi_request(cert_ids: list[CertId], extensions: list[dict] | None = None) -> bytes:
    tbs: dict = {
        "request_list": [
            {
                "req_cert": {
                    "hash_algorithm": {"algorithm": c.hash_algorithm},
                    "issuer_name_hash": c.issuer_name_hash,
                    "issuer_key_hash": c.issuer_key_hash,
                    "serial_number": c.serial,
                }
            }
            for c in cert_ids
        ]
    }
    if extensions:
        tbs["request_extensions"] = extensions
    return asn1_ocsp.OCSPRequest({"tbs_request": tbs}).dump()


def _load(der: bytes) -> ocsp.OCSPResponse:
    return ocsp.load_der_ocsp_response(der)


def _assert_signed_by(response: ocsp.OCSPResponse, cert: x509.Certificate) -> None:
    key = cert.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(response.signature, response.tbs_response_bytes, ec.ECDSA(hashes.SHA256()))
    else:
        key.verify(response.signature, response.tbs_response_bytes, padding.PKCS1v15(), hashes.SHA256())


# --- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", [hashes.SHA1(), hashes.SHA256()])
def test_parse_library_request_and_match_issuer_hashes(pki: Pki, signer: OcspSigner, algorithm) -> None:
    der = _library_request(pki, pki.holders[0], algorithm, nonce=b"n" * 16)
    info = parse_ocsp_request(der)
    assert info.nonce == b"n" * 16
    (cert_id,) = info.cert_ids
    assert cert_id.serial == 1001 and cert_id.hash_algorithm == algorithm.name
    library = ocsp.load_der_ocsp_request(der)
    assert issuer_hashes(pki.ca, algorithm.name) == (library.issuer_name_hash, library.issuer_key_hash)
    assert signer.serves(cert_id)
    assert not signer.serves(CertId(cert_id.issuer_name_hash, b"\x00" * len(cert_id.issuer_key_hash), 1001, algorithm.name))


def test_parse_multi_certificate_request_that_cryptography_refuses(pki: Pki, signer: OcspSigner) -> None:
    ids = [signer.cert_id(1001), signer.cert_id(1002, "sha256"), signer.cert_id(2**100)]
    der = _multi_request(ids)
    with pytest.raises(NotImplementedError):
        ocsp.load_der_ocsp_request(der)
    assert parse_ocsp_request(der) == OcspRequestInfo(cert_ids=tuple(ids), nonce=None)


@pytest.mark.parametrize(
    "der, message",
    [
        (b"", "empty"),
        (b"\x30" + b"\x82\x50\x00" + b"\x00" * 0x5000, "larger than"),
        (b"GET / HTTP/1.1\r\n", "not a DER"),
        (bytes.fromhex("3003020101"), "not a DER"),
    ],
)
def test_garbage_is_malformed(der: bytes, message: str) -> None:
    with pytest.raises(MalformedOcspRequest, match=message) as info:
        parse_ocsp_request(der)
    assert info.value.http_status == 400


def test_trailing_bytes_empty_list_and_too_many_certs_are_malformed(signer: OcspSigner) -> None:
    good = _multi_request([signer.cert_id(1)])
    with pytest.raises(MalformedOcspRequest):
        parse_ocsp_request(good + b"\x00")
    with pytest.raises(MalformedOcspRequest, match="names no certificate"):
        parse_ocsp_request(_multi_request([]))
    with pytest.raises(MalformedOcspRequest, match="more than 3"):
        parse_ocsp_request(_multi_request([signer.cert_id(i) for i in range(1, 5)]), max_certs=3)


def test_unknown_critical_extension_is_malformed_and_noncritical_is_ignored(signer: OcspSigner) -> None:
    ext = {"extn_id": "preferred_signature_algorithms", "critical": True, "extn_value": []}
    with pytest.raises(MalformedOcspRequest, match="critical"):
        parse_ocsp_request(_multi_request([signer.cert_id(1)], [ext]))
    ext["critical"] = False
    assert parse_ocsp_request(_multi_request([signer.cert_id(1)], [ext])).cert_ids == (signer.cert_id(1),)


def test_nonce_over_32_octets_is_not_echoed(signer: OcspSigner) -> None:
    nonce = {"extn_id": "nonce", "critical": False, "extn_value": asn1_core.OctetString(b"x" * 33)}
    assert parse_ocsp_request(_multi_request([signer.cert_id(1)], [nonce])).nonce is None
    nonce["extn_value"] = asn1_core.OctetString(b"x" * 32)
    assert parse_ocsp_request(_multi_request([signer.cert_id(1)], [nonce])).nonce == b"x" * 32


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_malformed(data: bytes) -> None:
    try:
        parse_ocsp_request(data)
    except MalformedOcspRequest:
        pass


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_requests_raise_only_malformed(pki: Pki, data: st.DataObject) -> None:
    der = bytearray(_library_request(pki, pki.holders[0], hashes.SHA1(), nonce=b"n" * 16))
    for _ in range(data.draw(st.integers(1, 4))):
        der[data.draw(st.integers(0, len(der) - 1))] = data.draw(st.integers(0, 255))
    try:
        parse_ocsp_request(bytes(der))
    except MalformedOcspRequest:
        pass


# --- signing ---------------------------------------------------------------------------------


def test_single_response_reads_back_in_cryptography(pki: Pki, signer: OcspSigner) -> None:
    der = signer.sign_response(
        [(signer.cert_id(1002), REVOKED)], produced_at=NOW, this_update=NOW, next_update=NOW + HOUR,
        nonce=b"abc",
    )
    response = _load(der)
    assert response.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert response.revocation_time_utc == REVOKED_AT.replace(microsecond=0)
    assert response.revocation_reason == x509.ReasonFlags.key_compromise
    assert response.serial_number == 1002
    assert response.next_update_utc == NOW + HOUR
    assert response.responder_key_hash == x509.SubjectKeyIdentifier.from_public_key(pki.responder.public_key()).digest
    assert response.certificates == [pki.responder]
    assert response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"abc"
    assert response.signature_algorithm_oid == x509.SignatureAlgorithmOID.RSA_WITH_SHA256
    _assert_signed_by(response, pki.responder)


def test_many_single_responses_in_one_signed_response(pki: Pki, signer: OcspSigner) -> None:
    items = [
        (signer.cert_id(1001), GOOD),
        (signer.cert_id(1002, "sha256"), REVOKED),
        (signer.cert_id(1003), CertificateStatus("revoked", revoked_at=NOW, reason="unspecified")),
        (signer.cert_id(4242), UNKNOWN),
    ]
    der = signer.sign_response(items, produced_at=NOW, this_update=NOW, next_update=NOW + HOUR, nonce=None)
    response = _load(der)
    _assert_signed_by(response, pki.responder)
    singles = list(response.responses)
    assert [s.serial_number for s in singles] == [1001, 1002, 1003, 4242]
    assert [s.certificate_status for s in singles] == [
        ocsp.OCSPCertStatus.GOOD, ocsp.OCSPCertStatus.REVOKED, ocsp.OCSPCertStatus.REVOKED, ocsp.OCSPCertStatus.UNKNOWN,
    ]
    assert singles[1].hash_algorithm.name == "sha256"
    assert singles[2].revocation_reason is None  # 'unspecified' is left out, as in the CRL
    status, read = parse_response_statuses(der)
    assert status == "successful"
    assert [s for _, s in read][:2] == [GOOD, CertificateStatus("revoked", REVOKED_AT.replace(microsecond=0), "keyCompromise")]


def test_ec_responder_signs_with_ecdsa(pki: Pki) -> None:
    ec_signer = OcspSigner(pki.ec_responder, pki.ec_responder_key, pki.ca)
    der = ec_signer.sign_response([(ec_signer.cert_id(1001), GOOD)], produced_at=NOW, this_update=NOW, next_update=NOW + HOUR)
    response = _load(der)
    assert response.signature_algorithm_oid == x509.SignatureAlgorithmOID.ECDSA_WITH_SHA256
    _assert_signed_by(response, pki.ec_responder)


def test_ca_may_answer_for_itself(pki: Pki) -> None:
    ca_signer = OcspSigner(pki.ca, pki.ca_key, pki.ca)
    _assert_signed_by(_load(presign_single(ca_signer, 1001, GOOD, NOW, NOW + HOUR)), pki.ca)


def test_sign_response_refuses_misuse(signer: OcspSigner) -> None:
    with pytest.raises(ValueError, match="at least one"):
        signer.sign_response([], produced_at=NOW, this_update=NOW, next_update=NOW + HOUR)
    with pytest.raises(ValueError, match="after"):
        signer.sign_response([(signer.cert_id(1), GOOD)], produced_at=NOW, this_update=NOW, next_update=NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        signer.sign_response([(signer.cert_id(1), GOOD)], produced_at=NOW, this_update=NOW.replace(tzinfo=None), next_update=NOW + HOUR)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"status": "maybe"},
        {"status": "revoked"},
        {"status": "revoked", "revoked_at": NOW, "reason": "removeFromCRL"},
        {"status": "good", "revoked_at": NOW},
    ],
)
def test_certificate_status_refuses_contradictions(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        CertificateStatus(**kwargs)


@pytest.mark.parametrize(
    "name, library",
    [
        ("malformedRequest", ocsp.OCSPResponseStatus.MALFORMED_REQUEST),
        ("internalError", ocsp.OCSPResponseStatus.INTERNAL_ERROR),
        ("tryLater", ocsp.OCSPResponseStatus.TRY_LATER),
        ("unauthorized", ocsp.OCSPResponseStatus.UNAUTHORIZED),
    ],
)
def test_error_responses(name: str, library: ocsp.OCSPResponseStatus) -> None:
    assert _load(error_response(name)).response_status == library  # type: ignore[arg-type]


def test_error_response_refuses_successful() -> None:
    with pytest.raises(ValueError):
        error_response("successful")  # type: ignore[arg-type]


# --- responder certificate -------------------------------------------------------------------


def test_delegated_responder_certificate_checks(pki: Pki) -> None:
    check_responder_certificate(pki.responder, pki.ca)
    with pytest.raises(InvalidResponderCertificate, match="not issued by this CA"):
        check_responder_certificate(pki.responder, pki.root)
    with pytest.raises(InvalidResponderCertificate, match="extendedKeyUsage"):
        check_responder_certificate(pki.holders[0], pki.ca)
    with pytest.raises(InvalidResponderCertificate, match="key does not match"):
        OcspSigner(pki.responder, pki.ec_responder_key, pki.ca)
    with pytest.raises(InvalidResponderCertificate, match="extendedKeyUsage"):
        OcspSigner(pki.holders[0], pki.plain_holder_key, pki.ca)


def test_responder_without_nocheck_is_refused(pki: Pki) -> None:
    builder = (
        x509.CertificateBuilder()
        .subject_name(pki.responder.subject)
        .issuer_name(pki.ca.subject)
        .public_key(pki.ec_responder_key.public_key())
        .serial_number(999)
        .not_valid_before(NOW - HOUR)
        .not_valid_after(NOW + HOUR)
        .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
    )
    cert = builder.sign(pki.ca_key, hashes.SHA256())
    with pytest.raises(InvalidResponderCertificate, match="nocheck"):
        check_responder_certificate(cert, pki.ca)
    other_issuer = _issue("other responder", pki.ec_responder_key.public_key(), pki.root, pki.root_key, 5, ocsp=True)
    with pytest.raises(InvalidResponderCertificate, match="not issued"):
        check_responder_certificate(other_issuer, pki.ca)


# --- answering -------------------------------------------------------------------------------


class Calls:
    """Status store and response cache stand-ins that record how they were used."""

    def __init__(self, statuses: dict[int, CertificateStatus], cached: dict[int, bytes] | None = None) -> None:
        self.statuses = statuses
        self.cached = cached or {}
        self.cache_reads: list[int] = []

    def lookup(self, serial: int) -> CertificateStatus | None:
        return self.statuses.get(serial)

    def presigned(self, serial: int) -> bytes | None:
        self.cache_reads.append(serial)
        return self.cached.get(serial)


def _answer(signer: OcspSigner, calls: Calls, request: OcspRequestInfo, now: dt.datetime = NOW) -> bytes:
    return answer(request, calls.lookup, signer, calls.presigned, now=now, validity=HOUR)


def test_fresh_presigned_response_is_served_as_is(signer: OcspSigner) -> None:
    cached = presign_single(signer, 1001, GOOD, NOW - HOUR, NOW + HOUR)
    calls = Calls({1001: GOOD}, {1001: cached})
    assert _answer(signer, calls, OcspRequestInfo((signer.cert_id(1001),))) is cached
    assert calls.cache_reads == [1001]


def test_revoked_presigned_response_matches_despite_microseconds(signer: OcspSigner) -> None:
    cached = presign_single(signer, 1002, REVOKED, NOW - HOUR, NOW + HOUR)
    calls = Calls({1002: REVOKED}, {1002: cached})
    assert _answer(signer, calls, OcspRequestInfo((signer.cert_id(1002),))) is cached


@pytest.mark.parametrize(
    "why, cached_status, live_status, now, request_hash",
    [
        ("expired", GOOD, GOOD, NOW + HOUR, "sha1"),
        ("not yet valid", GOOD, GOOD, NOW - 2 * HOUR, "sha1"),
        ("revoked since", GOOD, REVOKED, NOW, "sha1"),
        ("other CertID hash", GOOD, GOOD, NOW, "sha256"),
    ],
)
def test_stale_or_wrong_presigned_response_is_replaced_by_a_live_one(
    signer: OcspSigner, why: str, cached_status, live_status, now, request_hash
) -> None:
    cached = presign_single(signer, 1001, cached_status, NOW - HOUR, NOW + HOUR)
    calls = Calls({1001: live_status}, {1001: cached})
    der = _answer(signer, calls, OcspRequestInfo((signer.cert_id(1001, request_hash),)), now=now)
    assert der != cached, why
    response = _load(der)
    assert response.this_update_utc == now and response.next_update_utc == now + HOUR
    assert response.certificate_status.name.lower() == live_status.status
    assert response.hash_algorithm.name == request_hash


def test_damaged_cache_entry_is_signed_live(signer: OcspSigner) -> None:
    calls = Calls({1001: GOOD}, {1001: b"\x30\x03garbage"})
    assert _load(_answer(signer, calls, OcspRequestInfo((signer.cert_id(1001),)))).certificate_status == ocsp.OCSPCertStatus.GOOD


def test_nonce_skips_the_cache_and_is_echoed(signer: OcspSigner) -> None:
    calls = Calls({1001: GOOD}, {1001: presign_single(signer, 1001, GOOD, NOW - HOUR, NOW + HOUR)})
    der = _answer(signer, calls, OcspRequestInfo((signer.cert_id(1001),), nonce=b"0123456789abcdef"))
    assert calls.cache_reads == []
    assert _load(der).extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"0123456789abcdef"


def test_several_certificates_are_signed_live_in_one_response(signer: OcspSigner) -> None:
    calls = Calls({1001: GOOD, 1002: REVOKED})
    request = OcspRequestInfo((signer.cert_id(1001), signer.cert_id(1002), signer.cert_id(31337)))
    status, read = parse_response_statuses(_answer(signer, calls, request))
    assert calls.cache_reads == []
    assert status == "successful"
    assert [(c.serial, s.status) for c, s in read] == [(1001, "good"), (1002, "revoked"), (31337, "unknown")]


def test_foreign_issuer_is_unauthorized_alone_and_unknown_beside_ours(pki: Pki, signer: OcspSigner) -> None:
    foreign = CertId(*issuer_hashes(pki.root), serial=1001)
    calls = Calls({1001: GOOD})
    assert parse_response_statuses(_answer(signer, calls, OcspRequestInfo((foreign,)))) == ("unauthorized", [])
    _, read = parse_response_statuses(_answer(signer, calls, OcspRequestInfo((foreign, signer.cert_id(1001)))))
    assert [s.status for _, s in read] == ["unknown", "good"]
    assert read[0][0] == foreign


def test_unsupported_certid_hash_is_not_ours(signer: OcspSigner) -> None:
    odd = CertId(b"\x00" * 16, b"\x00" * 16, 1001, "md5")
    assert not signer.serves(odd)
    assert parse_response_statuses(_answer(signer, Calls({1001: GOOD}), OcspRequestInfo((odd,))))[0] == "unauthorized"


def test_foreign_certid_with_another_hash_is_echoed_as_unknown(signer: OcspSigner) -> None:
    odd = CertId(b"\x01" * 16, b"\x02" * 16, 77, "md5")
    request = parse_ocsp_request(_multi_request([odd, signer.cert_id(1001)]))
    _, read = parse_response_statuses(_answer(signer, Calls({1001: GOOD}), request))
    assert read == [(odd, UNKNOWN), (signer.cert_id(1001), GOOD)]


def test_single_response_is_byte_identical_to_cryptography_builder(pki: Pki, signer: OcspSigner) -> None:
    # RSA PKCS#1 v1.5 is deterministic: equal bytes mean our hand-framed DER is what the library
    # would write for the one-certificate case it supports.
    for status, library_status, extra in [
        (GOOD, ocsp.OCSPCertStatus.GOOD, {}),
        (REVOKED, ocsp.OCSPCertStatus.REVOKED, {"revocation_time": REVOKED_AT.replace(microsecond=0), "revocation_reason": x509.ReasonFlags.key_compromise}),
    ]:
        for algorithm in (hashes.SHA1(), hashes.SHA256()):
            library = (
                ocsp.OCSPResponseBuilder()
                .add_response(
                    cert=pki.holders[0], issuer=pki.ca, algorithm=algorithm, cert_status=library_status,
                    this_update=NOW, next_update=NOW + HOUR,
                    revocation_time=extra.get("revocation_time"), revocation_reason=extra.get("revocation_reason"),
                )
                .responder_id(ocsp.OCSPResponderEncoding.HASH, pki.responder)
                .certificates([pki.responder])
                .add_extension(x509.OCSPNonce(b"0123456789abcdef"), critical=False)
                .sign(pki.responder_key, hashes.SHA256())
                .public_bytes(serialization.Encoding.DER)
            )
            # The library stamps producedAt with its own clock; reuse it.
            produced_at = _load(library).produced_at_utc
            ours = signer.sign_response(
                [(signer.cert_id(1001, algorithm.name), status)], produced_at=produced_at, this_update=NOW,
                next_update=NOW + HOUR, nonce=b"0123456789abcdef",
            )
            assert ours == library, (status, algorithm.name)
