"""OneTimeCodeVerifier (SMS / e-mail codes) and its senders, incl. a real local webhook."""

from __future__ import annotations

import datetime as dt
import json
import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from fincert.clock import FakeClock
from fincert.errors import InvalidInput, RateLimited, VerificationFailed
from fincert.ra.verifiers.one_time_code import (
    DeliveryFailed,
    OneTimeCodeState,
    OneTimeCodeVerifier,
    OutboundMessage,
    OutboxSender,
    WebhookSender,
)

T0 = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.timezone.utc)


class Outbox:
    def __init__(self) -> None:
        self.messages: list[OutboundMessage] = []

    def __call__(self, message: OutboundMessage) -> None:
        self.messages.append(message)

    def last_code(self) -> str:
        found = re.search(r"\[(\d{6})\]", self.messages[-1].text)
        assert found, self.messages[-1].text
        return found.group(1)


@pytest.fixture
def outbox() -> Outbox:
    return Outbox()


def sms(outbox: Outbox, **kwargs: Any) -> OneTimeCodeVerifier:
    return OneTimeCodeVerifier("sms", OutboxSender(outbox), **kwargs)


def test_code_sent_and_verified_with_only_a_hash_stored(outbox: Outbox) -> None:
    verifier = sms(outbox, pepper=b"server-pepper")
    state = verifier.enroll("+82 10-1234-5678").state
    assert state.destination == "010-1234-5678"
    challenge, state = verifier.challenge(state, T0)
    message = outbox.messages[-1]
    assert (message.channel, message.to) == ("sms", "010-1234-5678")
    code = outbox.last_code()
    assert challenge.prompt == {"channel": "sms", "destination": "010-****-5678"}
    assert challenge.expires_at == T0 + dt.timedelta(minutes=3)
    stored = json.dumps(state.to_dict())
    assert code not in stored
    outcome = verifier.verify(state, challenge.challenge_id, code, T0 + dt.timedelta(seconds=30))
    evidence = outcome.require()
    assert evidence["method"] == "sms" and code not in json.dumps(evidence)
    assert "1234" not in json.dumps(evidence)
    # Single use.
    assert not verifier.verify(outcome.state, challenge.challenge_id, code, T0 + dt.timedelta(seconds=31)).accepted


def test_codes_are_six_random_digits(outbox: Outbox) -> None:
    verifier = sms(outbox, resend_interval=dt.timedelta(0))
    state = verifier.enroll("010-1234-5678").state
    codes = set()
    for i in range(30):
        _, state = verifier.challenge(state, T0 + dt.timedelta(seconds=i))
        codes.add(outbox.last_code())
    assert len(codes) > 25


def test_expires_after_three_minutes(outbox: Outbox) -> None:
    verifier = sms(outbox)
    clock = FakeClock(T0)
    challenge, state = verifier.challenge(verifier.enroll("010-1234-5678").state, clock.now())
    code = outbox.last_code()
    clock.advance(minutes=3)
    outcome = verifier.verify(state, challenge.challenge_id, code, clock.now())
    assert isinstance(outcome.failure, VerificationFailed) and "expired" in outcome.failure.detail
    assert outcome.state.pending is None


def test_five_tries_then_the_code_is_dead(outbox: Outbox) -> None:
    verifier = sms(outbox)
    challenge, state = verifier.challenge(verifier.enroll("010-1234-5678").state, T0)
    code = outbox.last_code()
    bad = f"{(int(code) + 1) % 1_000_000:06d}"
    for left in (4, 3, 2, 1):
        outcome = verifier.verify(state, challenge.challenge_id, bad, T0)
        assert f"{left} tries left" in outcome.failure.detail  # type: ignore[union-attr]
        state = outcome.state
    outcome = verifier.verify(state, challenge.challenge_id, bad, T0)
    assert "request a new one" in outcome.failure.detail  # type: ignore[union-attr]
    assert not verifier.verify(outcome.state, challenge.challenge_id, code, T0).accepted


def test_resend_interval_and_new_code_replaces_old(outbox: Outbox) -> None:
    verifier = sms(outbox)
    first, state = verifier.challenge(verifier.enroll("010-1234-5678").state, T0)
    old_code = outbox.last_code()
    with pytest.raises(RateLimited):
        verifier.challenge(state, T0 + dt.timedelta(seconds=10))
    second, state = verifier.challenge(state, T0 + dt.timedelta(seconds=31))
    assert not verifier.verify(state, first.challenge_id, old_code, T0 + dt.timedelta(seconds=32)).accepted
    assert verifier.verify(state, second.challenge_id, outbox.last_code(), T0 + dt.timedelta(seconds=32)).accepted


def test_state_json_round_trip_and_pepper_matters(outbox: Outbox) -> None:
    verifier = sms(outbox, pepper=b"a")
    challenge, state = verifier.challenge(verifier.enroll("010-1234-5678").state, T0)
    restored = OneTimeCodeState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert restored == state
    other_pepper = sms(outbox, pepper=b"b")
    assert not other_pepper.verify(restored, challenge.challenge_id, outbox.last_code(), T0).accepted
    assert verifier.verify(restored, challenge.challenge_id, outbox.last_code(), T0).accepted


def test_email_channel(outbox: Outbox) -> None:
    verifier = OneTimeCodeVerifier("email", OutboxSender(outbox))
    assert verifier.method == "email"
    enrollment = verifier.enroll("Hong@Example.com")
    assert enrollment.handout == {"destination": "Ho***@example.com"}
    challenge, state = verifier.challenge(enrollment.state, T0)
    assert outbox.messages[-1].channel == "email" and outbox.messages[-1].to == "Hong@example.com"
    assert verifier.verify(state, challenge.challenge_id, outbox.last_code(), T0).require()["method"] == "email"
    with pytest.raises(InvalidInput) as info:
        verifier.enroll("not-an-address")
    assert info.value.field == "email"


# -- the webhook sender against a real local HTTP receiver ------------------------------------


class Receiver(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    status = 200

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append(
            {"path": self.path, "auth": self.headers.get("Authorization"),
             "type": self.headers.get("Content-Type"), "body": json.loads(body)}
        )
        self.send_response(Receiver.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    Receiver.received = []
    Receiver.status = 200
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/send"
    finally:
        server.shutdown()
        server.server_close()


def test_webhook_sender_posts_json(receiver: str) -> None:
    verifier = OneTimeCodeVerifier("sms", WebhookSender(receiver, timeout=5, auth_header="Bearer gateway-token"))
    challenge, state = verifier.challenge(verifier.enroll("010-9876-5432").state, T0)
    assert len(Receiver.received) == 1
    request = Receiver.received[0]
    assert request["path"] == "/send" and request["auth"] == "Bearer gateway-token"
    assert request["type"] == "application/json"
    assert set(request["body"]) == {"channel", "to", "text"}
    assert request["body"]["channel"] == "sms" and request["body"]["to"] == "010-9876-5432"
    code = re.search(r"\[(\d{6})\]", request["body"]["text"]).group(1)  # type: ignore[union-attr]
    assert verifier.verify(state, challenge.challenge_id, code, T0).accepted


def closed_port() -> int:
    """A loopback port that was free a moment ago and has nothing listening now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_webhook_refusal_and_unreachable_raise_delivery_failed(receiver: str) -> None:
    Receiver.status = 503
    sender = WebhookSender(receiver)
    with pytest.raises(DeliveryFailed) as info:
        sender.send("sms", "010-9876-5432", "[fincert] 123456")
    assert "503" in info.value.detail and "123456" not in info.value.detail
    assert "9876" not in info.value.detail
    closed = f"http://127.0.0.1:{closed_port()}/send"
    with pytest.raises(DeliveryFailed) as info:
        WebhookSender(closed, timeout=2).send("sms", "010-9876-5432", "[fincert] 123456")
    assert "123456" not in info.value.detail
    # Delivery failure leaves no pending code behind: the state was never returned.
    verifier = OneTimeCodeVerifier("sms", WebhookSender(closed, timeout=2))
    state = verifier.enroll("010-9876-5432").state
    with pytest.raises(DeliveryFailed):
        verifier.challenge(state, T0)
    with pytest.raises(InvalidInput):
        WebhookSender("ftp://example.com/")
