"""The contract every identity verifier implements, and the values that cross it.

A verifier works on an explicit state object that the caller loads and stores (as JSON via
``to_dict``/``from_dict``; states holding secrets — card cells, OTP seeds — are encrypted with
``PiiVault`` first). It never stores anything itself and never issues: it answers "this person
proved X at time T" as ``evidence``, and ``policy.AssurancePolicy`` decides what that allows.

The flow, for every method::

    challenge, state = verifier.challenge(state, now)     # store state, show challenge.prompt
    outcome = verifier.verify(state, challenge_id, response, now)
    store(outcome.state)                                   # ALWAYS: failure counters changed
    evidence = outcome.require()                           # raises VerificationFailed / Locked

``verify`` returns failures instead of raising them because a raised error would lose the
updated failure counter, and a counter that is not stored is a lock that never closes.
"""

from __future__ import annotations

import abc
import datetime as dt
import functools
import hmac
import typing
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from fincert.errors import FincertError, Locked, VerificationFailed

__all__ = [
    "Challenge",
    "Enrollment",
    "Evidence",
    "IdentityVerifier",
    "VerificationOutcome",
    "make_evidence",
]

S = TypeVar("S")

#: What was proven, JSON-ready: ``method``, ``verified_at`` (ISO 8601 UTC), ``credential_id``
#: and method-specific details. Never a secret, a code, or personal data.
Evidence = dict[str, Any]


def make_evidence(
    method: str, verified_at: dt.datetime, *, credential_id: str | None = None, **details: Any
) -> Evidence:
    """Evidence in the one shape ``AssurancePolicy`` reads; also for proofs made outside a
    verifier (the RA records ``make_evidence("login", now, credential_id=member_id)``)."""
    if verified_at.tzinfo is None:
        raise ValueError("verified_at must be timezone-aware")
    evidence: Evidence = {
        "method": method,
        "verified_at": verified_at.astimezone(dt.timezone.utc).isoformat(),
        "credential_id": credential_id,
    }
    evidence.update(details)
    return evidence


@dataclass(frozen=True)
class Challenge:
    """What the caller shows or sends to the holder. ``prompt`` is public by construction
    (cell numbers, WebAuthn options, a masked destination); the secret half stays in state."""

    method: str
    challenge_id: str
    prompt: dict[str, Any]
    expires_at: dt.datetime | None


@dataclass(frozen=True)
class Enrollment(Generic[S]):
    """A new credential: ``state`` to store, ``handout`` to give the holder once (card cells to
    print, OTP seed and provisioning URI). The handout is not stored by fincert."""

    state: S
    handout: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VerificationOutcome(Generic[S]):
    state: S
    evidence: Evidence | None = None
    failure: FincertError | None = None

    @property
    def accepted(self) -> bool:
        return self.evidence is not None and self.failure is None

    def require(self) -> Evidence:
        """The evidence, or raise the failure (VerificationFailed or Locked). Store ``state``
        before calling this."""
        if self.failure is not None:
            raise self.failure
        if self.evidence is None:  # pragma: no cover - constructors always set one of them
            raise VerificationFailed("identity was not verified")
        return self.evidence


class IdentityVerifier(Protocol[S]):
    """One identity method. ``enroll`` arguments differ per method (a card needs nothing, OTP
    an account label, an SMS code a phone number); ``challenge`` and ``verify`` are uniform."""

    method: str

    def enroll(self, *args: Any, **kwargs: Any) -> Enrollment[S]:
        """Create a credential. Raises InvalidInput on bad arguments."""
        ...

    def challenge(self, state: S, now: dt.datetime) -> tuple[Challenge, S]:
        """Start a proof. Raises Locked when the credential is locked; the returned state holds
        the pending challenge and must be stored."""
        ...

    def verify(
        self, state: S, challenge_id: str | None, response: Any, now: dt.datetime
    ) -> VerificationOutcome[S]:
        """Check a response. Never raises for a wrong or malformed response: the outcome carries
        the failure (VerificationFailed or Locked) and the updated state."""
        ...


def count_failure(
    failures: int, max_failures: int, detail: str
) -> tuple[int, bool, FincertError]:
    """One more consecutive failure: the new count, whether the credential is now locked, and
    the error to report (Locked on the failure that locks, so the holder learns it at once)."""
    failures += 1
    if failures >= max_failures:
        return failures, True, Locked(
            "too many failed attempts; this credential is locked and must be reset by the institution"
        )
    left = max_failures - failures
    return failures, False, VerificationFailed(f"{detail} ({left} attempts left before lock)")


def locked_error() -> Locked:
    return Locked("this credential is locked and must be reset by the institution")


def require_aware(now: dt.datetime) -> dt.datetime:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now


def challenge_matches(expected: str, given: Any) -> bool:
    """Whether ``given`` (the challenge id the client sent back, None when it sent none) names
    the pending challenge ``expected``; compared in constant time."""
    return given is not None and hmac.compare_digest(expected.encode(), str(given).encode())


# -- credentials the holder keeps: the failure counter and the lock -------------------------------


class LockableState(Protocol):
    """The state of a credential that locks: consecutive wrong answers, and whether they locked it."""

    __dataclass_fields__: ClassVar[dict[str, Any]]  # a (frozen) dataclass, for ``replace``

    @property
    def failures(self) -> int: ...

    @property
    def locked(self) -> bool: ...


L = TypeVar("L", bound=LockableState)


class LockingVerifier(abc.ABC, Generic[L]):
    """What the verifiers of a credential the holder keeps (security card, OTP token, WebAuthn
    authenticator) share: a locked credential is refused before anything else is looked at;
    each wrong answer counts (``count_failure``) and the ``max_failures``-th locks it until the
    institution resets it; a right answer clears the count.

    A subclass sets ``method`` and ``max_failures`` and states only its own proof in
    ``_challenge`` and ``_verify``, which are called with an aware ``now`` on an unlocked state.
    ``_verify`` ends with ``_accept`` or ``_fail``; what is not an answer to a challenge at all
    (an unknown or expired challenge, a replayed code) it refuses without ``_fail``, uncounted.
    """

    method: str
    max_failures: int

    def challenge(self, state: L, now: dt.datetime) -> tuple[Challenge, L]:
        require_aware(now)
        if state.locked:
            raise locked_error()
        return self._challenge(state, now)

    def verify(
        self, state: L, challenge_id: str | None, response: Any, now: dt.datetime
    ) -> VerificationOutcome[L]:
        require_aware(now)
        if state.locked:
            return VerificationOutcome(state, failure=locked_error())
        return self._verify(state, challenge_id, response, now)

    @abc.abstractmethod
    def _challenge(self, state: L, now: dt.datetime) -> tuple[Challenge, L]:
        """This method's challenge for an unlocked credential."""

    @abc.abstractmethod
    def _verify(
        self, state: L, challenge_id: str | None, response: Any, now: dt.datetime
    ) -> VerificationOutcome[L]:
        """Judge the response of an unlocked credential: ``_accept``, ``_fail`` or an uncounted refusal."""

    def _fail(self, state: L, detail: str) -> VerificationOutcome[L]:
        """A wrong answer: ``state`` with one more failure (locked on the last one allowed)."""
        failures, locked, error = count_failure(state.failures, self.max_failures, detail)
        return VerificationOutcome(replace(state, failures=failures, locked=locked), failure=error)

    def _accept(
        self, state: L, now: dt.datetime, credential_id: str, **details: Any
    ) -> VerificationOutcome[L]:
        """A right answer: ``state`` with the count cleared, and the evidence of this method."""
        evidence = make_evidence(self.method, now, credential_id=credential_id, **details)
        return VerificationOutcome(replace(state, failures=0), evidence=evidence)


# -- stored records: pending challenges, registered authenticators --------------------------------

R = TypeVar("R")


def record_to_dict(record: Any) -> dict[str, Any]:
    """A record dataclass (a pending challenge, a registered authenticator) as JSON: every field
    by name, in declaration order, datetimes as ISO 8601."""
    return {f.name: _to_json(getattr(record, f.name)) for f in fields(record)}


def _to_json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime) else value


def record_from_dict(cls: type[R], data: Mapping[str, Any]) -> R:
    """The record ``record_to_dict`` wrote: ``int`` and ``datetime`` fields are converted back,
    the others taken as stored; a field missing from ``data`` takes its default, and one
    without a default is a KeyError (corrupt storage)."""
    types = _field_types(cls)
    values: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name not in data and (f.default is not MISSING or f.default_factory is not MISSING):
            continue
        value = data[f.name]
        if types[f.name] is int:
            value = int(value)
        elif types[f.name] is dt.datetime:
            value = dt.datetime.fromisoformat(value)
        values[f.name] = value
    return cls(**values)


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)
