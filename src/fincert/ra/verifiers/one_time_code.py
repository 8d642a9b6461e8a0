"""SMS / e-mail one-time codes to the registered phone or address (asked for at reissuance).

Owns code generation, delivery through a ``MessageSender`` and checking. Only a salted HMAC of
the code is kept in state; a code expires after 3 minutes and allows 5 tries, after which a
new code must be requested; 10 wrong codes within an hour, across codes, stop both sending and
checking codes until the oldest of them is an hour old. Senders: ``OutboxSender`` hands messages to a sink the caller
persists (a demo outbox), ``WebhookSender`` POSTs them to an SMS/e-mail gateway.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

import httpx

from fincert.errors import FincertError, InvalidInput, RateLimited, VerificationFailed
from fincert.ra.identity import validate_email, validate_mobile_phone
from fincert.ra.verifiers.base import (
    Challenge,
    Enrollment,
    VerificationOutcome,
    challenge_matches,
    make_evidence,
    record_from_dict,
    record_to_dict,
    require_aware,
)

__all__ = [
    "Channel",
    "DeliveryFailed",
    "MessageSender",
    "OneTimeCodeState",
    "OneTimeCodeVerifier",
    "OutboundMessage",
    "OutboxSender",
    "PendingCode",
    "WebhookSender",
    "mask_destination",
]

Channel = Literal["sms", "email"]


class DeliveryFailed(FincertError):
    """The message gateway did not accept the message (an upstream fault, not the holder's)."""

    kind = "delivery-failed"
    http_status = 502


# -- delivery ---------------------------------------------------------------------------------


class MessageSender(Protocol):
    def send(self, channel: Channel, destination: str, text: str) -> None:
        """Deliver ``text``; raises DeliveryFailed when the message was not accepted."""
        ...


@dataclass(frozen=True)
class OutboundMessage:
    channel: Channel
    to: str
    text: str


class OutboxSender:
    """Gives each message to ``sink`` (e.g. a function inserting into an outbox table that a
    demo page shows); the sink is the caller's, this class only shapes the message."""

    def __init__(self, sink: Callable[[OutboundMessage], None]) -> None:
        self._sink = sink

    def send(self, channel: Channel, destination: str, text: str) -> None:
        self._sink(OutboundMessage(channel=channel, to=destination, text=text))


class WebhookSender:
    """POSTs ``{"channel", "to", "text"}`` as JSON to a gateway; any 2xx means accepted."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        auth_header: str | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        if not url.startswith(("https://", "http://")):
            raise InvalidInput("webhook URL must be http or https", field="url")
        self.url = url
        self.timeout = timeout
        self._headers = {"Authorization": auth_header} if auth_header else {}
        self._client = client

    def send(self, channel: Channel, destination: str, text: str) -> None:
        payload = {"channel": channel, "to": destination, "text": text}
        try:
            if self._client is not None:
                reply = self._client.post(self.url, json=payload, headers=self._headers, timeout=self.timeout)
            else:
                reply = httpx.post(self.url, json=payload, headers=self._headers, timeout=self.timeout)
        except httpx.HTTPError as exc:
            # Only the exception class: its text can carry the request, i.e. the code.
            raise DeliveryFailed(f"message gateway unreachable ({type(exc).__name__})") from None
        if not reply.is_success:
            raise DeliveryFailed(f"message gateway refused the message (HTTP {reply.status_code})")


# -- verification -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PendingCode:
    challenge_id: str
    salt: str  # hex
    code_mac: str  # hex HMAC-SHA256 of the code; the code itself is never stored
    sent_at: dt.datetime
    expires_at: dt.datetime
    tries: int = 0


@dataclass(frozen=True)
class OneTimeCodeState:
    channel: Channel
    destination: str  # personal data: the caller may encrypt this state
    pending: PendingCode | None = None
    #: When recent wrong codes were typed, across codes (``OneTimeCodeVerifier.failure_window``).
    failures: tuple[dt.datetime, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        pending = None if self.pending is None else record_to_dict(self.pending)
        return {
            "channel": self.channel, "destination": self.destination, "pending": pending,
            "failures": [moment.isoformat() for moment in self.failures],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OneTimeCodeState:
        raw = data.get("pending")
        pending = None if raw is None else record_from_dict(PendingCode, raw)
        failures = tuple(dt.datetime.fromisoformat(moment) for moment in data.get("failures") or ())
        return cls(channel=data["channel"], destination=data["destination"], pending=pending, failures=failures)


def mask_destination(channel: Channel, destination: str) -> str:
    """``010-****-5678`` / ``ho***@example.com``: enough for the holder to recognise."""
    if channel == "sms":
        prefix, _, last = destination.split("-")
        return f"{prefix}-****-{last}"
    local, _, domain = destination.partition("@")
    return f"{local[:2]}***@{domain}"


DEFAULT_MESSAGE = "[fincert] 본인확인 인증번호 [{code}]를 {minutes}분 안에 입력해 주세요."


class OneTimeCodeVerifier:
    """One verifier per channel: ``method`` is ``"sms"`` or ``"email"``."""

    def __init__(
        self,
        channel: Channel,
        sender: MessageSender,
        *,
        ttl: dt.timedelta = dt.timedelta(minutes=3),
        max_tries: int = 5,
        resend_interval: dt.timedelta = dt.timedelta(seconds=30),
        pepper: bytes = b"",
        message: str = DEFAULT_MESSAGE,
        max_failures_per_window: int = 10,
        failure_window: dt.timedelta = dt.timedelta(hours=1),
    ) -> None:
        if channel not in ("sms", "email"):
            raise InvalidInput("channel must be sms or email", field="channel")
        if max_tries < 1:
            raise InvalidInput("max_tries must be at least one", field="max_tries")
        self.method: str = channel
        self.channel: Channel = channel
        self.sender = sender
        self.ttl = ttl
        self.max_tries = max_tries
        self.resend_interval = resend_interval
        # ``max_tries`` bounds the guesses at one code, but a new code may be asked for every
        # ``resend_interval``: without a bound across codes a guesser with the holder's session
        # had 10 guesses a minute, for as long as they liked. Past this many wrong codes in
        # ``failure_window`` no code is sent or checked until the oldest of them leaves the window.
        if max_failures_per_window < 1 or failure_window <= dt.timedelta(0):
            raise InvalidInput("the wrong-code limit must be at least one in a positive window", field="max_failures_per_window")
        self.max_failures_per_window = max_failures_per_window
        self.failure_window = failure_window
        # A server-side pepper (from configuration) makes a leaked state useless for an offline
        # search of the million possible codes; the per-code salt alone would not.
        self._pepper = pepper
        self.message = message

    def _mac(self, salt: bytes, challenge_id: str, code: str) -> str:
        data = salt + challenge_id.encode() + b"\x00" + code.encode()
        return hmac.new(self._pepper + b"fincert/one-time-code/v1", data, hashlib.sha256).hexdigest()

    def enroll(self, destination: str) -> Enrollment[OneTimeCodeState]:
        """Register the phone number or e-mail address codes go to (validated, normalised)."""
        normalised = validate_mobile_phone(destination) if self.channel == "sms" else validate_email(destination)
        return Enrollment(
            state=OneTimeCodeState(channel=self.channel, destination=normalised),
            handout={"destination": mask_destination(self.channel, normalised)},
        )

    def challenge(
        self, state: OneTimeCodeState, now: dt.datetime
    ) -> tuple[Challenge, OneTimeCodeState]:
        """Draw a code, send it, and keep only its HMAC. Raises RateLimited when asked again
        within ``resend_interval``, DeliveryFailed when the gateway refuses."""
        require_aware(now)
        if self._blocked(state, now):
            raise RateLimited("too many wrong codes; try again later")
        if state.pending is not None and now - state.pending.sent_at < self.resend_interval:
            raise RateLimited("a code was sent moments ago; wait before asking for another")
        code = f"{secrets.randbelow(1_000_000):06d}"
        salt = secrets.token_bytes(16)
        challenge_id = secrets.token_urlsafe(16)
        minutes = max(1, int(self.ttl.total_seconds() // 60))
        self.sender.send(self.channel, state.destination, self.message.format(code=code, minutes=minutes))
        pending = PendingCode(
            challenge_id=challenge_id,
            salt=salt.hex(),
            code_mac=self._mac(salt, challenge_id, code),
            sent_at=now,
            expires_at=now + self.ttl,
        )
        challenge = Challenge(
            method=self.method,
            challenge_id=challenge_id,
            prompt={"channel": self.channel, "destination": mask_destination(self.channel, state.destination)},
            expires_at=pending.expires_at,
        )
        return challenge, replace(state, pending=pending)

    def verify(
        self, state: OneTimeCodeState, challenge_id: str | None, response: Any, now: dt.datetime
    ) -> VerificationOutcome[OneTimeCodeState]:
        require_aware(now)
        pending = state.pending
        if pending is None or not challenge_matches(pending.challenge_id, challenge_id):
            return VerificationOutcome(state, failure=VerificationFailed("no such code was sent; request a new one"))
        if now >= pending.expires_at:
            return VerificationOutcome(
                replace(state, pending=None), failure=VerificationFailed("the code expired; request a new one")
            )
        if self._blocked(state, now):
            # Not checked at all: a right code now would be a guess the limit did not count.
            return VerificationOutcome(replace(state, pending=None), failure=RateLimited("too many wrong codes; try again later"))
        code = response.strip() if isinstance(response, str) else ""
        if hmac.compare_digest(self._mac(bytes.fromhex(pending.salt), pending.challenge_id, code), pending.code_mac):
            evidence = make_evidence(
                self.method, now, credential_id=mask_destination(self.channel, state.destination)
            )
            return VerificationOutcome(replace(state, pending=None, failures=()), evidence=evidence)
        failed = replace(state, failures=self._recent_failures(state, now) + (now,))
        tries = pending.tries + 1
        if tries >= self.max_tries:
            return VerificationOutcome(
                replace(failed, pending=None),
                failure=VerificationFailed("too many wrong codes; request a new one"),
            )
        left = self.max_tries - tries
        return VerificationOutcome(
            replace(failed, pending=replace(pending, tries=tries)),
            failure=VerificationFailed(f"the code is wrong ({left} tries left)"),
        )

    def _recent_failures(self, state: OneTimeCodeState, now: dt.datetime) -> tuple[dt.datetime, ...]:
        return tuple(moment for moment in state.failures if now - moment < self.failure_window)

    def _blocked(self, state: OneTimeCodeState, now: dt.datetime) -> bool:
        """Whether ``max_failures_per_window`` wrong codes were typed within the window."""
        return len(self._recent_failures(state, now)) >= self.max_failures_per_window
