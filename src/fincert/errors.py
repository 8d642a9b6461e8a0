"""Typed domain errors.

One error type travels from the core to the edge (as Boulder's ``berrors``); only the edges
(``api`` → RFC 9457 problem documents, ``cli`` → one line on stderr) turn it into a transport
answer. Each subclass names a ``kind`` that the edges map to a status; ``detail`` is safe to
show to the caller and must never contain secrets or personal data (resident numbers, PINs,
passwords, keys).
"""

from __future__ import annotations


class FincertError(Exception):
    """Base of every error that the edges may show to a user."""

    kind: str = "internal"
    #: HTTP status the API edge uses for this kind.
    http_status: int = 500

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        #: The input field the error is about, when there is one (for forms and JSON bodies).
        self.field = field


class InvalidInput(FincertError):
    """The caller sent something malformed or outside the rules."""

    kind = "invalid-input"
    http_status = 400


class InvalidFields(InvalidInput):
    """Several fields of one request are wrong at once: a form checked whole, so that its user
    mends every field in one go. ``field`` and ``detail`` are the first error's and all of them
    joined; ``errors`` has each one (the edges list them per field)."""

    def __init__(self, errors: list[InvalidInput]) -> None:
        if not errors:
            raise ValueError("InvalidFields needs at least one error")
        super().__init__("; ".join(e.detail for e in errors), field=errors[0].field)
        self.errors = list(errors)


def raise_all(errors: list[InvalidInput]) -> None:
    """Raise nothing, the one error, or ``InvalidFields`` of all of them."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise InvalidFields(errors)


class NotFound(FincertError):
    kind = "not-found"
    http_status = 404


class Conflict(FincertError):
    """The request clashes with the current state (duplicate, concurrent change)."""

    kind = "conflict"
    http_status = 409


class Unauthorized(FincertError):
    """The caller did not prove who they are."""

    kind = "unauthorized"
    http_status = 401


class Forbidden(FincertError):
    """The caller is known but may not do this."""

    kind = "forbidden"
    http_status = 403


class Locked(FincertError):
    """A credential (security card, OTP, PIN, account) is locked after repeated failures."""

    kind = "locked"
    http_status = 423


class VerificationFailed(FincertError):
    """An identity proof (code, card answer, PIN, signature) was wrong."""

    kind = "verification-failed"
    http_status = 401


class PolicyViolation(FincertError):
    """A certificate or request does not satisfy its profile or the service's policy."""

    kind = "policy-violation"
    http_status = 422


class RateLimited(FincertError):
    kind = "rate-limited"
    http_status = 429


class ConfigurationError(FincertError):
    """The service is configured in a way it refuses to run with."""

    kind = "configuration"
    http_status = 500


def brief_reason(exc: BaseException, *, hide: str | None = None) -> str:
    """The first line of why a driver or transport failed, fit for a detail: later lines can quote
    SQL or payloads, and ``hide`` (a password from a URL the message may echo) is masked."""
    original = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error
    lines = str(original).strip().splitlines()
    reason = lines[0] if lines else type(original).__name__
    return reason.replace(hide, "***") if hide else reason
