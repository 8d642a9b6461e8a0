"""OtpVerifier: RFC 6238 Appendix B vectors, drift, single use per step, lock."""

from __future__ import annotations

import base64
import datetime as dt
import json
import urllib.parse

import pyotp
import pytest

from fincert.errors import InvalidInput, Locked, VerificationFailed
from fincert.ra.verifiers.otp import OtpState, OtpVerifier

# RFC 6238 Appendix B, SHA-1 rows: seed "12345678901234567890" (ASCII), T0 = 0, X = 30.
# The RFC prints 8 digits; a 6-digit TOTP is the same value mod 10^6, i.e. the last 6 digits.
RFC6238_SEED = base64.b32encode(b"12345678901234567890").decode()
RFC6238_SHA1 = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]


def at(unix: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(unix, tz=dt.timezone.utc)


def code_at(verifier: OtpVerifier, state: OtpState, unix: int) -> str:
    return pyotp.TOTP(state.secret, digits=verifier.digits, interval=verifier.period).at(unix)


@pytest.mark.parametrize(("unix", "eight_digits"), RFC6238_SHA1)
def test_rfc6238_vectors(unix: int, eight_digits: str) -> None:
    verifier = OtpVerifier()
    state = verifier.enroll("member-1", secret=RFC6238_SEED).state
    outcome = verifier.verify(state, None, eight_digits[-6:], at(unix))
    assert outcome.accepted, outcome.failure
    assert outcome.state.last_step == unix // 30
    # The 8-digit form is a different code for a 6-digit verifier.
    assert not verifier.verify(state, None, eight_digits, at(unix)).accepted


@pytest.mark.parametrize(("unix", "eight_digits"), RFC6238_SHA1)
def test_rfc6238_vectors_eight_digits(unix: int, eight_digits: str) -> None:
    verifier = OtpVerifier(digits=8)
    state = verifier.enroll("member-1", secret=RFC6238_SEED).state
    assert verifier.verify(state, None, eight_digits, at(unix)).accepted


def test_enrollment_handout() -> None:
    verifier = OtpVerifier(issuer="Hana Bank")
    enrollment = verifier.enroll("hong@example.com")
    secret = enrollment.handout["secret"]
    assert enrollment.state.secret == secret and len(base64.b32decode(secret)) == 20
    uri = urllib.parse.urlparse(enrollment.handout["provisioning_uri"])
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert urllib.parse.unquote(uri.path) == "/Hana Bank:hong@example.com"
    query = urllib.parse.parse_qs(uri.query)
    assert query["secret"] == [secret] and query["issuer"] == ["Hana Bank"]
    assert OtpVerifier().enroll("x").state.secret != OtpVerifier().enroll("x").state.secret
    with pytest.raises(InvalidInput):
        verifier.enroll("")
    with pytest.raises(InvalidInput):
        verifier.enroll("x", secret="not base32!!")


def test_one_step_of_drift_either_way_but_not_two() -> None:
    verifier = OtpVerifier()
    state = verifier.enroll("m", secret=RFC6238_SEED).state
    now = 1_700_000_010  # mid-step
    for offset, ok in [(-60, False), (-30, True), (0, True), (30, True), (60, False)]:
        outcome = verifier.verify(state, None, code_at(verifier, state, now + offset), at(now))
        assert outcome.accepted is ok, offset


def test_code_accepted_once_and_earlier_steps_refused() -> None:
    verifier = OtpVerifier()
    state = verifier.enroll("m", secret=RFC6238_SEED).state
    now = 1_700_000_010
    current = code_at(verifier, state, now)
    state = verifier.verify(state, None, current, at(now)).state
    replay = verifier.verify(state, None, current, at(now + 5))
    assert isinstance(replay.failure, VerificationFailed) and "already used" in replay.failure.detail
    assert replay.state.failures == 0  # a replay is not a guess
    # The previous step's code is still inside the drift window but older than the last use.
    previous = code_at(verifier, state, now - 30)
    assert not verifier.verify(state, None, previous, at(now)).accepted
    # The next step's code is fine.
    assert verifier.verify(state, None, code_at(verifier, state, now + 30), at(now + 30)).accepted


def test_ten_failures_lock_and_success_resets() -> None:
    verifier = OtpVerifier()
    state = verifier.enroll("m", secret=RFC6238_SEED).state
    now = 1_700_000_010
    right = code_at(verifier, state, now)
    bad = f"{(int(right) + 500_000) % 1_000_000:06d}"
    for _ in range(9):
        state = verifier.verify(state, None, bad, at(now)).state
    assert state.failures == 9 and not state.locked
    state = verifier.verify(state, None, right, at(now)).state
    assert state.failures == 0
    for i in range(10):
        outcome = verifier.verify(state, None, bad, at(now + 30))
        state = outcome.state
    assert state.locked and isinstance(outcome.failure, Locked)
    assert isinstance(verifier.verify(state, None, code_at(verifier, state, now + 60), at(now + 60)).failure, Locked)
    with pytest.raises(Locked):
        verifier.challenge(state, at(now))


def test_lock_threshold_configurable_and_state_json() -> None:
    verifier = OtpVerifier(max_failures=3)
    state = verifier.enroll("m").state
    for _ in range(3):
        state = verifier.verify(state, None, "abc", at(1_700_000_000)).state
    assert state.locked
    assert OtpState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


def test_challenge_is_only_a_prompt() -> None:
    verifier = OtpVerifier()
    state = verifier.enroll("m").state
    challenge, same = verifier.challenge(state, at(0))
    assert same == state and challenge.prompt["digits"] == 6
    assert state.secret not in json.dumps(challenge.prompt)
