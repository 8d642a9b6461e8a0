"""OTP: time-based one-time passwords (RFC 6238; 6 digits, 30 s, HMAC-SHA-1) via pyotp.

Owns OTP enrollment (seed + provisioning URI for an authenticator app or token) and code
checking: ±1 time step of clock drift is accepted, each time step is accepted at most once
(a code, or any code from an earlier step, cannot be replayed), and consecutive wrong codes
lock the token. The state holds the seed, so the caller encrypts it (``PiiVault``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass, replace
from typing import Any

import pyotp

from fincert.errors import InvalidInput, VerificationFailed
from fincert.ra.verifiers.base import Challenge, Enrollment, LockingVerifier, VerificationOutcome

__all__ = ["OtpState", "OtpVerifier"]


@dataclass(frozen=True)
class OtpState:
    secret: str  # base32 seed
    last_step: int | None = None  # highest time step accepted so far
    failures: int = 0
    locked: bool = False
    token_id: str = ""  # not secret: names the token in evidence and on screen

    def to_dict(self) -> dict[str, Any]:
        return {
            "secret": self.secret,
            "last_step": self.last_step,
            "failures": self.failures,
            "locked": self.locked,
            "token_id": self.token_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OtpState:
        return cls(
            secret=data["secret"],
            last_step=data.get("last_step"),
            failures=int(data.get("failures", 0)),
            locked=bool(data.get("locked", False)),
            token_id=data.get("token_id", ""),
        )


class OtpVerifier(LockingVerifier[OtpState]):
    method = "otp"

    def __init__(
        self,
        *,
        issuer: str = "fincert",
        digits: int = 6,
        period: int = 30,
        drift_steps: int = 1,
        max_failures: int = 10,
    ) -> None:
        if digits not in (6, 7, 8) or period < 1 or drift_steps < 0 or max_failures < 1:
            raise InvalidInput("OTP settings are out of range", field="otp")
        self.issuer = issuer
        self.digits = digits
        self.period = period
        self.drift_steps = drift_steps
        self.max_failures = max_failures

    def _totp(self, secret: str) -> pyotp.TOTP:
        return pyotp.TOTP(secret, digits=self.digits, digest=hashlib.sha1, interval=self.period, issuer=self.issuer)

    def enroll(self, account_name: str, *, secret: str | None = None) -> Enrollment[OtpState]:
        """A new OTP seed. ``account_name`` labels the entry in the holder's app: use a member
        id or e-mail, never a resident number. ``secret`` is for importing a hardware token's
        seed; by default a fresh 160-bit seed is drawn."""
        if not account_name or ":" in account_name:
            raise InvalidInput("OTP account label must be non-empty and contain no colon", field="account_name")
        seed = secret or pyotp.random_base32(length=32)
        try:
            totp = self._totp(seed)
            totp.generate_otp(0)  # validates the base32 seed
        except Exception:
            raise InvalidInput("OTP seed is not valid base32", field="secret") from None
        token_id = hashlib.sha256(seed.encode()).hexdigest()[:16]
        uri = totp.provisioning_uri(name=account_name, issuer_name=self.issuer)
        return Enrollment(
            state=OtpState(secret=seed, token_id=token_id),
            handout={"secret": seed, "provisioning_uri": uri, "token_id": token_id},
        )

    def _challenge(self, state: OtpState, now: dt.datetime) -> tuple[Challenge, OtpState]:
        """TOTP needs no server challenge; this only tells the client what to ask for."""
        prompt = {"digits": self.digits, "token_id": state.token_id}
        return Challenge(method=self.method, challenge_id="", prompt=prompt, expires_at=None), state

    def _verify(
        self, state: OtpState, challenge_id: str | None, response: Any, now: dt.datetime
    ) -> VerificationOutcome[OtpState]:
        """``response`` is the code typed; ``challenge_id`` is ignored (TOTP is time-based)."""
        code = response.strip() if isinstance(response, str) else ""
        current = int(now.timestamp()) // self.period
        totp = self._totp(state.secret)
        matched: int | None = None
        # Every candidate step is compared (no early exit), so timing does not tell which
        # step matched.
        for step in range(current - self.drift_steps, current + self.drift_steps + 1):
            if step >= 0 and hmac.compare_digest(totp.generate_otp(step).encode(), code.encode()):
                matched = step
        if matched is not None and state.last_step is not None and matched <= state.last_step:
            # A correct but already-used code is a replay (or a double submit), not a guess:
            # refused without counting towards the lock.
            return VerificationOutcome(
                state, failure=VerificationFailed("this OTP code was already used; wait for the next one")
            )
        if matched is not None:
            return self._accept(replace(state, last_step=matched), now, state.token_id)
        return self._fail(state, "OTP code is wrong")
