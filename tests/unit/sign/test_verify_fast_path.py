"""The verification fast path (remembered paths, byte-level integrity) agrees with pyHanko's full path."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest
from asn1crypto import cms
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from fincert.clock import FakeClock
from fincert.errors import InvalidInput
from fincert.formats import der as der_reader
from fincert.sign import verify as verify_module
from fincert.sign.cms import sign_cms
from fincert.sign.testing import TestPki, build_test_pki, issue_certificate, new_rsa_key
from fincert.sign.tsa import InProcessTimeStamper, TimeStampAuthority
from fincert.sign.verify import CertificateStatus, PathCache, verify_cms

START = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=30)
SIGNED_AT = START + timedelta(days=1)
DATA = b"transfer 1,000,000 KRW to 110-234-567890"


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return build_test_pki(START)


@pytest.fixture(scope="module")
def other_root():
    key = new_rsa_key()
    return issue_certificate(
        subject="another root", public_key=key.public_key(), issuer_cert=None, issuer_key=key,
        not_before=START, not_after=START + timedelta(days=3650), kind="ca",
    )


@pytest.fixture(scope="module")
def short_lived(pki):
    key = new_rsa_key()
    return key, pki.issue_signer(key.public_key(), not_before=START, not_after=SIGNED_AT + timedelta(days=2))


def _tsa(pki: TestPki, at: datetime) -> InProcessTimeStamper:
    serials = itertools.count(1)
    return InProcessTimeStamper(TimeStampAuthority(pki.tsa, [], pki.tsa_key, "2.25.7", 1, FakeClock(at), lambda: next(serials)))


class StatusTable:
    def __init__(self, entries: dict[int, CertificateStatus] | None = None) -> None:
        self.entries = entries or {}

    def status(self, cert, issuer) -> CertificateStatus:
        return self.entries.get(cert.serial_number, CertificateStatus("good"))


def _revoked(at: datetime, reason: str = "key_compromise") -> CertificateStatus:
    return CertificateStatus("revoked", revoked_at=at, reason=reason)


def _sign(pki, *, detached=True, stamp_at=None, key=None, cert=None, pss=False) -> bytes:
    return sign_cms(
        DATA, private_key=key or pki.signer_key, certificate=cert or pki.signer, chain=[pki.issuing_ca],
        detached=detached, timestamper=_tsa(pki, stamp_at) if stamp_at else None, pss=pss, signing_time=SIGNED_AT,
    )


def _tamper_signature(signature: bytes) -> bytes:
    info = cms.ContentInfo.load(signature)
    signer_info = info["content"]["signer_infos"][0]
    value = bytearray(signer_info["signature"].native)
    value[-1] ^= 1
    signer_info["signature"] = bytes(value)
    return info.dump(force=True)


def _cases(pki, other_root, short_lived):
    later = SIGNED_AT + timedelta(days=5)
    key, cert = short_lived
    signer = pki.signer.serial_number
    return {
        "valid detached": (_sign(pki), DATA, [pki.root], StatusTable(), SIGNED_AT, True),
        "valid attached": (_sign(pki, detached=False), None, [pki.root], StatusTable(), SIGNED_AT, True),
        "valid time-stamped": (_sign(pki, stamp_at=SIGNED_AT), DATA, [pki.root], StatusTable(), later, True),
        "no status source": (_sign(pki, stamp_at=SIGNED_AT), DATA, [pki.root], None, later, True),
        "tampered content": (_sign(pki), DATA + b"0", [pki.root], StatusTable(), SIGNED_AT, False),
        "other attached content": (_sign(pki, detached=False), DATA + b"0", [pki.root], StatusTable(), SIGNED_AT, False),
        "tampered signature": (_tamper_signature(_sign(pki)), DATA, [pki.root], StatusTable(), SIGNED_AT, False),
        "wrong root": (_sign(pki), DATA, [other_root], StatusTable(), SIGNED_AT, False),
        "revoked before signing": (
            _sign(pki), DATA, [pki.root], StatusTable({signer: _revoked(SIGNED_AT - timedelta(hours=1))}), SIGNED_AT, True,
        ),
        "revoked after a time-stamp": (
            _sign(pki, stamp_at=SIGNED_AT), DATA, [pki.root],
            StatusTable({signer: _revoked(SIGNED_AT + timedelta(days=2))}), later, True,
        ),
        "revoked, no time-stamp, checked later": (
            _sign(pki), DATA, [pki.root], StatusTable({signer: _revoked(SIGNED_AT + timedelta(days=2))}), later, True,
        ),
        "time-stamped after revocation": (
            _sign(pki, stamp_at=SIGNED_AT + timedelta(days=3)), DATA, [pki.root],
            StatusTable({signer: _revoked(SIGNED_AT + timedelta(days=2))}), later, True,
        ),
        "expired, time-stamped before": (
            _sign(pki, key=key, cert=cert, stamp_at=SIGNED_AT), DATA, [pki.root], StatusTable(),
            SIGNED_AT + timedelta(days=10), True,
        ),
        "expired, no time-stamp": (
            _sign(pki, key=key, cert=cert), DATA, [pki.root], StatusTable(), SIGNED_AT + timedelta(days=10), False,
        ),
        "unknown status": (
            _sign(pki), DATA, [pki.root], StatusTable({signer: CertificateStatus("unknown")}), SIGNED_AT, True,
        ),
        "revoked issuing CA": (
            _sign(pki), DATA, [pki.root], StatusTable({pki.issuing_ca.serial_number: _revoked(START)}), SIGNED_AT, True,
        ),
        "TSA key compromised later": (
            _sign(pki, stamp_at=SIGNED_AT), DATA, [pki.root],
            StatusTable({pki.tsa.serial_number: _revoked(SIGNED_AT + timedelta(days=1))}), later, False,
        ),
        "TSA superseded later": (
            _sign(pki, stamp_at=SIGNED_AT), DATA, [pki.root],
            StatusTable({pki.tsa.serial_number: _revoked(SIGNED_AT + timedelta(days=1), "superseded")}), later, True,
        ),
        "PSS": (_sign(pki, pss=True), DATA, [pki.root], StatusTable(), SIGNED_AT, False),
    }


@pytest.fixture(scope="module")
def warm_cache(pki, short_lived) -> PathCache:
    """Paths remembered from ordinary valid signatures of the same signers and TSA."""
    cache = PathCache()
    key, cert = short_lived
    for signature, at in (
        (_sign(pki, stamp_at=SIGNED_AT), SIGNED_AT),
        (_sign(pki, key=key, cert=cert, stamp_at=SIGNED_AT), SIGNED_AT),
    ):
        assert verify_cms(signature, DATA, trust_roots=[pki.root], revocation=None, at=at, path_cache=cache).valid
    return cache


CASE_NAMES = [
    "valid detached", "valid attached", "valid time-stamped", "no status source", "tampered content",
    "other attached content", "tampered signature", "wrong root", "revoked before signing",
    "revoked after a time-stamp", "revoked, no time-stamp, checked later", "time-stamped after revocation",
    "expired, time-stamped before", "expired, no time-stamp", "unknown status", "revoked issuing CA",
    "TSA key compromised later", "TSA superseded later", "PSS",
]


@pytest.fixture(scope="module")
def cases(pki, other_root, short_lived):
    return _cases(pki, other_root, short_lived)


@pytest.mark.parametrize("name", CASE_NAMES)
def test_fast_and_full_paths_give_the_same_report(name, cases, warm_cache, pki, monkeypatch):
    signature, content, roots, revocation, at, fast_expected = cases[name]
    full = verify_cms(signature, content, trust_roots=roots, revocation=revocation, at=at)

    full_calls = []
    original = verify_module._full_verify

    def counting(*args, **kwargs):
        full_calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(verify_module, "_full_verify", counting)
    fast = verify_cms(signature, content, trust_roots=roots, revocation=revocation, at=at, path_cache=warm_cache)

    assert fast == full
    # The fast path answered by itself exactly where it should; elsewhere pyHanko decided.
    assert (not full_calls) is fast_expected, name


def test_remembered_path_is_not_used_outside_its_validity_window(pki, short_lived, warm_cache):
    key, cert = short_lived
    report = verify_cms(
        _sign(pki, key=key, cert=cert), DATA, trust_roots=[pki.root], revocation=None,
        at=SIGNED_AT + timedelta(days=10), path_cache=warm_cache,
    )
    assert not report.valid
    assert report.failure == "signer certificate was not within its validity period at the signing time"


def test_cache_keeps_only_accepted_paths(pki, other_root):
    cache = PathCache()
    verify_cms(_sign(pki), DATA, trust_roots=[other_root], revocation=None, at=SIGNED_AT, path_cache=cache)
    assert len(cache) == 0
    verify_cms(_sign(pki), DATA, trust_roots=[pki.root], revocation=None, at=SIGNED_AT, path_cache=cache)
    assert len(cache) == 1


def _counting_full_path(monkeypatch) -> list[int]:
    calls: list[int] = []
    original = verify_module._full_verify

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(verify_module, "_full_verify", counting)
    return calls


def test_a_certificate_not_validated_before_never_takes_a_remembered_path(pki, warm_cache, monkeypatch):
    """A look-alike signer certificate (same issuer name, serial and subject as a remembered one,
    another key, under a look-alike CA) is matched by its bytes, so it goes the full way."""
    forged_ca_key, forged_key = new_rsa_key(), new_rsa_key()
    forged_ca = issue_certificate(
        subject="fincert test issuing CA", public_key=forged_ca_key.public_key(), issuer_cert=None,
        issuer_key=forged_ca_key, not_before=START, not_after=START + timedelta(days=3650), kind="ca",
    )
    forged = issue_certificate(
        subject="홍길동()0011", public_key=forged_key.public_key(), issuer_cert=forged_ca, issuer_key=forged_ca_key,
        not_before=START, not_after=START + timedelta(days=365), kind="signer", serial=pki.signer.serial_number,
    )
    assert forged.issuer == pki.signer.issuer and forged.serial_number == pki.signer.serial_number
    for chain in ([forged_ca], [pki.signer, forged_ca, pki.issuing_ca]):
        signature = sign_cms(DATA, private_key=forged_key, certificate=forged, chain=chain, detached=True, signing_time=SIGNED_AT)
        full_calls = _counting_full_path(monkeypatch)
        report = verify_cms(signature, DATA, trust_roots=[pki.root], revocation=StatusTable(), at=SIGNED_AT, path_cache=warm_cache)
        assert full_calls, "the look-alike took the fast path"
        assert not report.valid
        monkeypatch.undo()
        assert report == verify_cms(signature, DATA, trust_roots=[pki.root], revocation=StatusTable(), at=SIGNED_AT)


def test_certificates_are_remembered_by_their_exact_bytes(pki):
    cache = PathCache()
    der = pki.signer.public_bytes(serialization.Encoding.DER)
    known = cache.certificate(der)
    assert known is not None and known.der == der and known.serial_hex == format(pki.signer.serial_number, "x")
    assert cache.certificate(bytes(der)) is known
    assert cache.certificate(der[:-1] + bytes([der[-1] ^ 1])) is not known


@pytest.fixture(scope="module")
def fuzz_targets(pki):
    """A time-stamped detached and a plain attached signature, with where their SignerInfo starts."""
    targets = []
    for signature, content, at in (
        (_sign(pki, stamp_at=SIGNED_AT), DATA, SIGNED_AT + timedelta(days=5)),
        (_sign(pki, detached=False), None, SIGNED_AT),
    ):
        top = der_reader.element(signature, 0, len(signature))
        signed_data = der_reader.elements(signature, *der_reader.elements(signature, top[2], top[3])[1][2:4])[0]
        signer_infos = der_reader.elements(signature, signed_data[2], signed_data[3])[-1]
        targets.append((signature, content, at, signer_infos[1]))
    return targets


@settings(max_examples=400, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate], suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_signatures_get_the_same_verdict_on_both_paths(data, fuzz_targets, warm_cache, pki):
    """Whatever bytes change, the fast path either steps aside or reports what pyHanko's path reports."""
    signature, content, at, signer_info_start = data.draw(st.sampled_from(fuzz_targets))
    mutated = bytearray(signature)
    for _ in range(data.draw(st.integers(1, 3))):
        # Half the changes land in the SignerInfo (attributes, signature, time-stamp token).
        position = data.draw(st.one_of(st.integers(0, len(mutated) - 1), st.integers(signer_info_start, len(mutated) - 1)))
        mutated[position] = data.draw(st.integers(0, 255))
    mutated_bytes = bytes(mutated)

    def outcome(cache):
        try:
            return verify_cms(mutated_bytes, content, trust_roots=[pki.root], revocation=StatusTable(), at=at, path_cache=cache)
        except InvalidInput as exc:
            return ("InvalidInput", str(exc))

    assert outcome(warm_cache) == outcome(None)


def _unsigned_fields(signature: bytes) -> dict[str, int]:
    """Offsets of values no signature covers: versions and digestAlgorithms, outside and in the token."""
    def kids(item):
        return der_reader.elements(signature, item[2], item[3])

    top = der_reader.element(signature, 0, len(signature))
    signed_data = kids(kids(top)[1])[0]
    fields = kids(signed_data)
    signer_info = kids(kids(fields[-1])[0])
    token_attribute = kids(signer_info[6])[0]
    token = kids(kids(token_attribute)[1])[0]
    token_fields = kids(kids(kids(token)[1])[0])
    token_signer_info = kids(kids(token_fields[-1])[0])
    return {
        "SignedData version": fields[0][2],
        "digestAlgorithms": fields[1][3] - 3,  # the last octet of the hash OID
        "SignerInfo version": signer_info[0][2],
        "token SignedData version": token_fields[0][2],
        "token digestAlgorithms": token_fields[1][3] - 3,
        "token SignerInfo version": token_signer_info[0][2],
    }


@pytest.mark.parametrize("field", [
    "SignedData version", "digestAlgorithms", "SignerInfo version",
    "token SignedData version", "token digestAlgorithms", "token SignerInfo version",
])
@pytest.mark.parametrize("value", [1, 2, 3, 5])
def test_values_outside_the_signatures_read_the_same_on_both_paths(field, value, pki, warm_cache):
    """asn1crypto reads eContent differently by SignedData version: the fast path accepts only
    the versions both read alike, and agrees with the full path whatever these values are."""
    signature = _sign(pki, stamp_at=SIGNED_AT)
    changed = bytearray(signature)
    changed[_unsigned_fields(signature)[field]] = value
    at = SIGNED_AT + timedelta(days=5)
    fast = verify_cms(bytes(changed), DATA, trust_roots=[pki.root], revocation=StatusTable(), at=at, path_cache=warm_cache)
    assert fast == verify_cms(bytes(changed), DATA, trust_roots=[pki.root], revocation=StatusTable(), at=at)
