"""PasswordHasher (argon2id, OWASP minimum) and LoginThrottle decisions."""

from __future__ import annotations

import datetime as dt

import argon2
import pytest

from fincert.errors import InvalidInput, Locked, RateLimited
from fincert.ra.passwords import FailureWindow, LoginThrottle, PasswordHasher, ThrottleRules

T0 = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def hasher() -> PasswordHasher:
    return PasswordHasher()


def test_hash_is_argon2id_with_owasp_parameters(hasher: PasswordHasher) -> None:
    encoded = hasher.hash("correct horse battery staple")
    assert encoded.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    params = argon2.extract_parameters(encoded)
    assert params.type is argon2.Type.ID
    assert params.memory_cost >= 19456 and params.time_cost >= 2
    assert "correct horse" not in encoded


def test_verify(hasher: PasswordHasher) -> None:
    encoded = hasher.hash("비밀번호-1234!")
    assert hasher.verify(encoded, "비밀번호-1234!") is True
    assert hasher.verify(encoded, "비밀번호-1234") is False
    assert hasher.verify("not a hash", "x") is False
    assert hasher.verify(encoded, "x" * 5000) is False
    assert hasher.verify_unknown_account("anything") is False
    assert hasher.hash("same") != hasher.hash("same")  # salted


def test_needs_rehash(hasher: PasswordHasher) -> None:
    assert hasher.needs_rehash(hasher.hash("pw")) is False
    weaker = argon2.PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("pw")
    assert hasher.needs_rehash(weaker) is True
    assert hasher.needs_rehash("garbage") is True


def test_hash_refuses_empty_and_huge(hasher: PasswordHasher) -> None:
    for bad in ("", "x" * 1025):
        with pytest.raises(InvalidInput) as info:
            hasher.hash(bad)
        assert info.value.field == "password"


def _fail(throttle: LoginThrottle, record: FailureWindow, times: int, start: dt.datetime, scope: str) -> FailureWindow:
    for i in range(times):
        record = throttle.record_failure(record, start + dt.timedelta(seconds=i), scope=scope)  # type: ignore[arg-type]
    return record


def test_account_locks_after_five_failures_in_window() -> None:
    throttle = LoginThrottle()
    account = _fail(throttle, FailureWindow(), 4, T0, "account")
    assert throttle.check(account, FailureWindow(), T0 + dt.timedelta(seconds=10)).allowed
    account = throttle.record_failure(account, T0 + dt.timedelta(seconds=10), scope="account")
    decision = throttle.check(account, FailureWindow(), T0 + dt.timedelta(seconds=11))
    assert not decision.allowed and decision.scope == "account"
    assert decision.retry_at == T0 + dt.timedelta(seconds=10, minutes=15)
    assert decision.retry_after_seconds == 15 * 60 - 1
    with pytest.raises(Locked):
        decision.raise_if_denied()
    # After the lockout the account may try again, with a fresh count.
    later = T0 + dt.timedelta(minutes=16)
    assert throttle.check(account, FailureWindow(), later).allowed
    account = throttle.record_failure(account, later, scope="account")
    assert throttle.check(account, FailureWindow(), later).allowed and len(account.failures) == 1


def test_failures_outside_window_do_not_count() -> None:
    throttle = LoginThrottle()
    account = FailureWindow()
    for i in range(10):  # one failure every 4 minutes: never 5 inside 15 minutes
        account = throttle.record_failure(account, T0 + dt.timedelta(minutes=4 * i), scope="account")
        assert throttle.check(account, FailureWindow(), T0 + dt.timedelta(minutes=4 * i)).allowed
    assert len(account.failures) == 4


def test_address_limit_is_separate_and_rate_limited() -> None:
    throttle = LoginThrottle()
    address = _fail(throttle, FailureWindow(), 19, T0, "address")
    assert throttle.check(FailureWindow(), address, T0 + dt.timedelta(minutes=1)).allowed
    address = throttle.record_failure(address, T0 + dt.timedelta(minutes=1), scope="address")
    decision = throttle.check(FailureWindow(), address, T0 + dt.timedelta(minutes=1))
    assert not decision.allowed and decision.scope == "address"
    with pytest.raises(RateLimited):
        decision.raise_if_denied()


def test_success_clears_account_only_and_rules_are_configurable() -> None:
    throttle = LoginThrottle(ThrottleRules(max_failures_per_account=2, lockout=dt.timedelta(minutes=1)))
    account = _fail(throttle, FailureWindow(), 1, T0, "account")
    account = throttle.record_success(account)
    assert account == FailureWindow()
    account = _fail(throttle, account, 2, T0, "account")
    assert not throttle.check(account, FailureWindow(), T0 + dt.timedelta(seconds=30)).allowed
    assert throttle.check(account, FailureWindow(), T0 + dt.timedelta(seconds=62)).allowed
    assert FailureWindow.from_dict(account.to_dict()) == account
    with pytest.raises(InvalidInput):
        ThrottleRules(max_failures_per_account=0)
