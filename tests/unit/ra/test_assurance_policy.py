"""AssurancePolicy: which evidence each purpose needs, as configuration."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from fincert.errors import InvalidInput
from fincert.ra.verifiers.base import make_evidence
from fincert.ra.verifiers.policy import AssurancePolicy

NOW = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.timezone.utc)


def ev(method: str, minutes_ago: float = 1) -> dict[str, object]:
    return make_evidence(method, NOW - dt.timedelta(minutes=minutes_ago), credential_id="c")


@pytest.mark.parametrize(
    ("purpose", "methods", "ok", "missing"),
    [
        ("issue", ["login", "otp"], True, []),
        ("issue", ["login", "security-card"], True, []),
        ("issue", ["login", "webauthn"], True, []),
        ("issue", ["login"], False, ["otp|security-card|webauthn"]),
        ("issue", ["otp", "webauthn"], False, ["login"]),
        ("issue", ["login", "sms"], False, ["otp|security-card|webauthn"]),
        ("issue", [], False, ["login", "otp|security-card|webauthn"]),
        ("reissue", ["login", "otp"], False, ["email|sms"]),
        ("reissue", ["login", "otp", "sms"], True, []),
        ("reissue", ["login", "webauthn", "email"], True, []),
        ("reissue", ["login", "sms", "email"], False, ["otp|security-card|webauthn"]),
        ("revoke", ["login", "security-card"], True, []),
    ],
)
def test_default_policy(purpose: str, methods: list[str], ok: bool, missing: list[str]) -> None:
    policy = AssurancePolicy()
    evidence = [ev(m) for m in methods]
    assert policy.satisfied(purpose, evidence, now=NOW) is ok
    assert policy.missing(purpose, evidence, now=NOW) == missing


def test_stale_future_and_malformed_evidence_ignored_when_now_given() -> None:
    policy = AssurancePolicy(max_evidence_age=dt.timedelta(minutes=10))
    assert not policy.satisfied("issue", [ev("login"), ev("otp", minutes_ago=11)], now=NOW)
    assert not policy.satisfied("issue", [ev("login"), ev("otp", minutes_ago=-5)], now=NOW)
    assert not policy.satisfied("issue", [ev("login"), {"method": "otp"}], now=NOW)
    assert not policy.satisfied("issue", [ev("login"), {"verified_at": NOW.isoformat()}], now=NOW)
    # Without a clock the caller takes responsibility for freshness.
    assert policy.satisfied("issue", [ev("login"), ev("otp", minutes_ago=11)])


def test_each_evidence_counts_once() -> None:
    two_factors = AssurancePolicy(
        requirements={"issue": (frozenset({"otp", "webauthn"}), frozenset({"otp", "webauthn"}))}
    )
    assert not two_factors.satisfied("issue", [ev("otp")], now=NOW)
    assert two_factors.missing("issue", [ev("otp")], now=NOW) == ["otp|webauthn"]
    assert two_factors.satisfied("issue", [ev("otp"), ev("webauthn")], now=NOW)
    # Matching has to re-route: greedy would give "otp" to the first group and fail.
    tricky = AssurancePolicy(requirements={"issue": (frozenset({"otp", "sms"}), frozenset({"otp"}))})
    assert tricky.satisfied("issue", [ev("otp"), ev("sms")], now=NOW)


def test_configuration_round_trips_and_is_validated() -> None:
    custom = AssurancePolicy(
        requirements={"issue": (frozenset({"login"}), frozenset({"webauthn"}))},
        max_evidence_age=dt.timedelta(minutes=5),
    )
    restored = AssurancePolicy.from_dict(json.loads(json.dumps(custom.to_dict())))
    assert restored == custom
    assert not restored.satisfied("issue", [ev("login"), ev("otp")], now=NOW)
    assert restored.satisfied("issue", [ev("login"), ev("webauthn")], now=NOW)
    assert AssurancePolicy.from_dict({}) == AssurancePolicy()
    with pytest.raises(InvalidInput):
        AssurancePolicy(requirements={"issue": (frozenset(),)})
    with pytest.raises(InvalidInput) as info:
        AssurancePolicy().missing("launch-missiles", [])
    assert info.value.field == "purpose"
