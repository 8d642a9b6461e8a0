"""Member login passwords: argon2id hashing and the login-failure throttle.

Owns how a password is hashed and how repeated failed logins are slowed down. Storage of hashes
and of throttle state is the caller's.

Parameters: argon2id m=19456 KiB, t=2, p=1 — OWASP's first recommended minimum. Measured on
the development machine (one core of a 2-core VM, argon2-cffi 25.1): a verify takes about
20 ms (m=12288/t=3 took 16 ms, m=47104/t=1 took 54 ms). argon2-cffi's own default (64 MiB)
runs at ~6/s on this kind of machine, too slow for a login endpoint on one core.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from fincert.errors import InvalidInput, Locked, RateLimited

__all__ = [
    "FailureWindow",
    "LoginThrottle",
    "PasswordHasher",
    "ThrottleDecision",
    "ThrottleRules",
]

#: Longest password accepted; hashing megabytes per request would be a cheap denial of service.
MAX_PASSWORD_LENGTH = 1024


class PasswordHasher:
    """argon2id with OWASP-minimum parameters; ``verify`` answers a bool and never raises."""

    def __init__(self, *, memory_cost: int = 19456, time_cost: int = 2, parallelism: int = 1) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            hash_len=32,
            salt_len=16,
            type=argon2.Type.ID,
        )
        # Verified against when the account does not exist, so that "no such member" costs the
        # same time as "wrong password" and login timing does not reveal who is a member.
        self._decoy = self._hasher.hash("fincert decoy password")

    def hash(self, password: str) -> str:
        if not isinstance(password, str) or not password:
            raise InvalidInput("password must not be empty", field="password")
        if len(password) > MAX_PASSWORD_LENGTH:
            raise InvalidInput("password is too long", field="password")
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        if not isinstance(password, str) or len(password) > MAX_PASSWORD_LENGTH:
            return False
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def verify_unknown_account(self, password: str) -> bool:
        """Spend a verify's worth of time and answer False (for a login on no account)."""
        self.verify(self._decoy, password)
        return False

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash used other parameters; rehash after the next good login."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except (InvalidHashError, ValueError):
            return True


@dataclass(frozen=True)
class ThrottleRules:
    """How many failed logins are allowed before a pause. Defaults: 5 per account and 20 per
    client address in 15 minutes, then 15 minutes locked out."""

    max_failures_per_account: int = 5
    max_failures_per_address: int = 20
    window: dt.timedelta = dt.timedelta(minutes=15)
    lockout: dt.timedelta = dt.timedelta(minutes=15)

    def __post_init__(self) -> None:
        if self.max_failures_per_account < 1 or self.max_failures_per_address < 1:
            raise InvalidInput("failure limits must be at least one", field="throttle")
        if self.window <= dt.timedelta(0) or self.lockout <= dt.timedelta(0):
            raise InvalidInput("throttle window and lockout must be positive", field="throttle")


@dataclass(frozen=True)
class FailureWindow:
    """Recent failed logins for one key (an account or a client address): the caller's state.

    Only failure times inside the window are kept, so the record stays small.
    """

    failures: tuple[dt.datetime, ...] = ()
    locked_until: dt.datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "failures": [t.isoformat() for t in self.failures],
            "locked_until": self.locked_until.isoformat() if self.locked_until else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FailureWindow:
        until = data.get("locked_until")
        return cls(
            failures=tuple(dt.datetime.fromisoformat(t) for t in data.get("failures", ())),
            locked_until=dt.datetime.fromisoformat(until) if until else None,
        )


Scope = Literal["account", "address"]


@dataclass(frozen=True)
class ThrottleDecision:
    allowed: bool
    scope: Scope | None = None  # which limit refused
    retry_at: dt.datetime | None = None
    retry_after_seconds: int = 0

    def raise_if_denied(self) -> None:
        """Locked for an account lockout, RateLimited for an address limit."""
        if self.allowed:
            return
        if self.scope == "account":
            raise Locked("too many failed logins for this account; try again later")
        raise RateLimited("too many failed logins from this address; try again later")


@dataclass(frozen=True)
class LoginThrottle:
    """Pure decisions over ``FailureWindow`` records: check before verifying a password,
    record a failure or success after."""

    rules: ThrottleRules = field(default_factory=ThrottleRules)

    def check(self, account: FailureWindow, address: FailureWindow, now: dt.datetime) -> ThrottleDecision:
        # The account lockout is reported first: it is the one the member can act on.
        scopes: tuple[tuple[Scope, FailureWindow], ...] = (("account", account), ("address", address))
        for scope, record in scopes:
            if record.locked_until is not None and now < record.locked_until:
                seconds = math.ceil((record.locked_until - now).total_seconds())
                return ThrottleDecision(False, scope, record.locked_until, seconds)
        return ThrottleDecision(True)

    def record_failure(self, record: FailureWindow, now: dt.datetime, *, scope: Scope) -> FailureWindow:
        limit = (
            self.rules.max_failures_per_account if scope == "account"
            else self.rules.max_failures_per_address
        )
        recent = tuple(t for t in record.failures if now - t < self.rules.window) + (now,)
        if len(recent) >= limit:
            # The count starts afresh after the lockout, rather than one more failure
            # immediately re-locking.
            return FailureWindow(failures=(), locked_until=now + self.rules.lockout)
        return FailureWindow(failures=recent, locked_until=record.locked_until)

    def record_success(self, account: FailureWindow) -> FailureWindow:
        """A good login clears the account's failures (the address record is left alone, so a
        guesser cannot reset its budget with one account it owns)."""
        return replace(account, failures=(), locked_until=None)
