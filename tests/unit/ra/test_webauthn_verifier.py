"""WebAuthnVerifier against a software authenticator (P-256, "none" attestation).

The authenticator below builds real ceremony responses byte by byte (WebAuthn L2 §6.1
authenticator data, §6.5 attestation object, §5.8.1 client data), so py_webauthn checks genuine
signatures rather than mocks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import struct
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

from fincert.errors import Locked, VerificationFailed
from fincert.ra.verifiers.webauthn import WebAuthnState, WebAuthnVerifier

T0 = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.timezone.utc)
RP_ID = "bank.example"
ORIGIN = "https://bank.example"

UP, UV, AT = 0x01, 0x04, 0x40


class SoftAuthenticator:
    def __init__(self, *, rp_id: str = RP_ID, origin: str = ORIGIN) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(32)
        self.rp_id = rp_id
        self.origin = origin
        self.sign_count = 0

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})

    def _client_data(self, kind: str, challenge: str) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": False}).encode()

    def register(self, options: dict[str, Any], *, flags: int = UP | UV | AT) -> dict[str, Any]:
        assert options["authenticatorSelection"]["userVerification"] == "required"
        rp_hash = hashlib.sha256(self.rp_id.encode()).digest()
        attested = bytes(16) + struct.pack(">H", len(self.credential_id)) + self.credential_id + self._cose_key()
        auth_data = rp_hash + bytes([flags]) + struct.pack(">I", self.sign_count) + attested
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        cid = bytes_to_base64url(self.credential_id)
        return {
            "id": cid,
            "rawId": cid,
            "type": "public-key",
            "response": {
                "clientDataJSON": bytes_to_base64url(self._client_data("webauthn.create", options["challenge"])),
                "attestationObject": bytes_to_base64url(attestation),
            },
        }

    def assert_(
        self,
        options: dict[str, Any],
        *,
        flags: int = UP | UV,
        sign_count: int | None = None,
        challenge: str | None = None,
    ) -> dict[str, Any]:
        assert options["userVerification"] == "required"
        assert bytes_to_base64url(self.credential_id) in [c["id"] for c in options["allowCredentials"]]
        if sign_count is None:
            self.sign_count += 1
            sign_count = self.sign_count
        rp_hash = hashlib.sha256(self.rp_id.encode()).digest()
        auth_data = rp_hash + bytes([flags]) + struct.pack(">I", sign_count)
        client_data = self._client_data("webauthn.get", challenge or options["challenge"])
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        cid = bytes_to_base64url(self.credential_id)
        return {
            "id": cid,
            "rawId": cid,
            "type": "public-key",
            "response": {
                "clientDataJSON": bytes_to_base64url(client_data),
                "authenticatorData": bytes_to_base64url(auth_data),
                "signature": bytes_to_base64url(signature),
            },
        }


@pytest.fixture
def verifier() -> WebAuthnVerifier:
    return WebAuthnVerifier(rp_id=RP_ID, rp_name="Example Bank", origin=ORIGIN)


def registered(verifier: WebAuthnVerifier, device: SoftAuthenticator) -> WebAuthnState:
    challenge, state = verifier.begin_enrollment(None, user_name="member-42", display_name="홍길동", now=T0)
    return verifier.enroll(state, challenge.challenge_id, device.register(challenge.prompt), T0).state


def test_registration_then_authentication(verifier: WebAuthnVerifier) -> None:
    device = SoftAuthenticator()
    challenge, state = verifier.begin_enrollment(None, user_name="member-42", display_name="홍길동", now=T0)
    options = challenge.prompt
    assert options["rp"] == {"name": "Example Bank", "id": RP_ID}
    assert options["attestation"] == "none"
    assert base64url_to_bytes(options["user"]["id"]) == base64url_to_bytes(state.user_handle)
    enrollment = verifier.enroll(state, challenge.challenge_id, device.register(options), T0)
    state = enrollment.state
    assert enrollment.handout["credential_id"] == bytes_to_base64url(device.credential_id)
    assert len(state.credentials) == 1 and state.pending is None

    for _ in range(3):
        challenge, state = verifier.challenge(state, T0)
        outcome = verifier.verify(state, challenge.challenge_id, device.assert_(challenge.prompt), T0)
        evidence = outcome.require()
        assert evidence["method"] == "webauthn" and evidence["user_verified"] is True
        assert evidence["credential_id"] == bytes_to_base64url(device.credential_id)
        state = outcome.state
    assert state.credentials[0].sign_count == 3
    # State survives JSON storage, and a JSON-string response is accepted too.
    state = WebAuthnState.from_dict(json.loads(json.dumps(state.to_dict())))
    challenge, state = verifier.challenge(state, T0)
    assert verifier.verify(state, challenge.challenge_id, json.dumps(device.assert_(challenge.prompt)), T0).accepted


def test_registration_without_user_verification_refused(verifier: WebAuthnVerifier) -> None:
    device = SoftAuthenticator()
    challenge, state = verifier.begin_enrollment(None, user_name="m", display_name="m", now=T0)
    with pytest.raises(VerificationFailed):
        verifier.enroll(state, challenge.challenge_id, device.register(challenge.prompt, flags=UP | AT), T0)


def test_registration_for_another_origin_refused(verifier: WebAuthnVerifier) -> None:
    device = SoftAuthenticator(origin="https://phish.example")
    challenge, state = verifier.begin_enrollment(None, user_name="m", display_name="m", now=T0)
    with pytest.raises(VerificationFailed):
        verifier.enroll(state, challenge.challenge_id, device.register(challenge.prompt), T0)


def test_missing_uv_flag_refused(verifier: WebAuthnVerifier) -> None:
    device = SoftAuthenticator()
    state = registered(verifier, device)
    challenge, state = verifier.challenge(state, T0)
    outcome = verifier.verify(state, challenge.challenge_id, device.assert_(challenge.prompt, flags=UP), T0)
    assert isinstance(outcome.failure, VerificationFailed) and outcome.state.failures == 1
    assert outcome.state.credentials[0].sign_count == 0


def test_sign_count_regression_refused(verifier: WebAuthnVerifier) -> None:
    device = SoftAuthenticator()
    state = registered(verifier, device)
    challenge, state = verifier.challenge(state, T0)
    state = verifier.verify(state, challenge.challenge_id, device.assert_(challenge.prompt, sign_count=5), T0).state
    for stale in (5, 4):
        challenge, state = verifier.challenge(state, T0)
        outcome = verifier.verify(state, challenge.challenge_id, device.assert_(challenge.prompt, sign_count=stale), T0)
        assert isinstance(outcome.failure, VerificationFailed) and "cloned" in outcome.failure.detail
        assert outcome.state.credentials[0].sign_count == 5
        state = outcome.state
    challenge, state = verifier.challenge(state, T0)
    assert verifier.verify(state, challenge.challenge_id, device.assert_(challenge.prompt, sign_count=6), T0).accepted


def test_counterless_authenticator_accepted(verifier: WebAuthnVerifier) -> None:
    # Many passkeys always report 0; that is allowed as long as it was 0 from the start.
    device = SoftAuthenticator()
    state = registered(verifier, device)
    for _ in range(2):
        challenge, state = verifier.challenge(state, T0)
        outcome = verifier.verify(state, challenge.challenge_id, device.assert_(challenge.prompt, sign_count=0), T0)
        assert outcome.accepted
        state = outcome.state


def test_wrong_challenge_refused_and_challenge_single_use(verifier: WebAuthnVerifier) -> None:
    device = SoftAuthenticator()
    state = registered(verifier, device)
    challenge, state = verifier.challenge(state, T0)
    other = bytes_to_base64url(os.urandom(32))
    outcome = verifier.verify(state, challenge.challenge_id, device.assert_(challenge.prompt, challenge=other), T0)
    assert isinstance(outcome.failure, VerificationFailed)
    # The challenge is spent: a correct response to it afterwards is refused too.
    late = verifier.verify(outcome.state, challenge.challenge_id, device.assert_(challenge.prompt), T0)
    assert not late.accepted
    # Replaying an accepted response is refused.
    challenge, state = verifier.challenge(late.state, T0)
    good = device.assert_(challenge.prompt)
    state = verifier.verify(state, challenge.challenge_id, good, T0).state
    assert not verifier.verify(state, challenge.challenge_id, good, T0).accepted


def test_expired_challenge_and_unknown_credential(verifier: WebAuthnVerifier) -> None:
    device = SoftAuthenticator()
    state = registered(verifier, device)
    challenge, state = verifier.challenge(state, T0)
    outcome = verifier.verify(state, challenge.challenge_id, device.assert_(challenge.prompt), T0 + dt.timedelta(minutes=2))
    assert "expired" in outcome.failure.detail  # type: ignore[union-attr]
    challenge, state = verifier.challenge(outcome.state, T0)
    stranger = SoftAuthenticator()
    stranger.credential_id = os.urandom(32)
    response = device.assert_(challenge.prompt)
    response["id"] = response["rawId"] = bytes_to_base64url(stranger.credential_id)
    assert not verifier.verify(state, challenge.challenge_id, response, T0).accepted


def test_failures_lock(verifier: WebAuthnVerifier) -> None:
    strict = WebAuthnVerifier(rp_id=RP_ID, origin=ORIGIN, max_failures=2)
    device = SoftAuthenticator()
    state = registered(strict, device)
    for _ in range(2):
        challenge, state = strict.challenge(state, T0)
        outcome = strict.verify(state, challenge.challenge_id, device.assert_(challenge.prompt, flags=UP), T0)
        state = outcome.state
    assert state.locked and isinstance(outcome.failure, Locked)
    with pytest.raises(Locked):
        strict.challenge(state, T0)


def test_second_authenticator_and_duplicate_refused(verifier: WebAuthnVerifier) -> None:
    phone, laptop = SoftAuthenticator(), SoftAuthenticator()
    state = registered(verifier, phone)
    challenge, state = verifier.begin_enrollment(state, user_name="member-42", display_name="홍길동", now=T0)
    assert [c["id"] for c in challenge.prompt["excludeCredentials"]] == [bytes_to_base64url(phone.credential_id)]
    state = verifier.enroll(state, challenge.challenge_id, laptop.register(challenge.prompt), T0).state
    assert len(state.credentials) == 2
    challenge, state = verifier.begin_enrollment(state, user_name="member-42", display_name="홍길동", now=T0)
    with pytest.raises(VerificationFailed):
        verifier.enroll(state, challenge.challenge_id, phone.register(challenge.prompt), T0)
    challenge, state = verifier.challenge(state, T0)
    assert verifier.verify(state, challenge.challenge_id, laptop.assert_(challenge.prompt), T0).accepted
