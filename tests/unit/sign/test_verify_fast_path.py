"""The verification fast path (remembered paths, byte-level integrity) agrees with pyHanko's full path."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest
from asn1crypto import cms

from fincert.clock import FakeClock
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
