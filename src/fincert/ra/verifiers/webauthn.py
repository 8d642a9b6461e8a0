"""Biometrics (지문·얼굴): WebAuthn / FIDO2 with user verification required, via py_webauthn.

Owns the two ceremonies — registering an authenticator's public key and checking an assertion
— and the stored credential list. User verification (the fingerprint or face check on the
device) is required in both; a signature counter that does not increase is refused as a sign
of a cloned authenticator. No attestation is requested: a bank cannot vet every phone model,
and the holder's own device is what is being bound. Nothing here is secret (public keys,
counters), but the state is still the holder's data.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass, replace
from typing import Any, Literal

import webauthn as py_webauthn
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, options_to_json_dict
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from fincert.errors import InvalidInput, VerificationFailed
from fincert.ra.verifiers.base import (
    Challenge,
    Enrollment,
    LockingVerifier,
    VerificationOutcome,
    challenge_matches,
    record_from_dict,
    record_to_dict,
    require_aware,
)

__all__ = ["PendingCeremony", "WebAuthnCredential", "WebAuthnState", "WebAuthnVerifier"]

Ceremony = Literal["registration", "authentication"]

_ALGORITHMS = [
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
]


@dataclass(frozen=True)
class WebAuthnCredential:
    credential_id: str  # base64url
    public_key: str  # base64url COSE key
    sign_count: int
    registered_at: dt.datetime


@dataclass(frozen=True)
class PendingCeremony:
    challenge_id: str
    ceremony: Ceremony
    challenge: str  # base64url of the bytes the authenticator must sign over
    expires_at: dt.datetime


@dataclass(frozen=True)
class WebAuthnState:
    user_handle: str  # base64url random bytes: WebAuthn's user.id, never a member number
    credentials: tuple[WebAuthnCredential, ...] = ()
    pending: PendingCeremony | None = None
    failures: int = 0
    locked: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "user_handle": self.user_handle,
            "credentials": [record_to_dict(c) for c in self.credentials],
            "pending": None if self.pending is None else record_to_dict(self.pending),
            "failures": self.failures,
            "locked": self.locked,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WebAuthnState:
        raw = data.get("pending")
        pending = None if raw is None else record_from_dict(PendingCeremony, raw)
        return cls(
            user_handle=data["user_handle"],
            credentials=tuple(record_from_dict(WebAuthnCredential, c) for c in data.get("credentials", ())),
            pending=pending,
            failures=int(data.get("failures", 0)),
            locked=bool(data.get("locked", False)),
        )


def _credential_id_of(response: Any) -> str | None:
    """The ``rawId`` the browser sent, before any verification (only used for lookup)."""
    if isinstance(response, str):
        try:
            response = json.loads(response)
        except (ValueError, RecursionError):  # deeply nested brackets overflow the parser
            return None
    if isinstance(response, dict) and isinstance(response.get("rawId"), str):
        return str(response["rawId"])
    return None


class WebAuthnVerifier(LockingVerifier[WebAuthnState]):
    method = "webauthn"

    def __init__(
        self,
        *,
        rp_id: str,
        rp_name: str = "fincert",
        origin: str | list[str],
        timeout: dt.timedelta = dt.timedelta(minutes=2),
        max_failures: int = 10,
    ) -> None:
        if not rp_id or not origin:
            raise InvalidInput("WebAuthn needs an rp_id and an origin", field="webauthn")
        self.rp_id = rp_id
        self.rp_name = rp_name
        self.origin = origin
        self.timeout = timeout
        self.max_failures = max_failures

    # -- registration ---------------------------------------------------------------------------

    def begin_enrollment(
        self,
        state: WebAuthnState | None,
        *,
        user_name: str,
        display_name: str,
        now: dt.datetime,
    ) -> tuple[Challenge, WebAuthnState]:
        """Options for ``navigator.credentials.create()``; ``challenge.prompt`` is their JSON.

        ``user_name`` is shown by the device's account picker: a member id or e-mail, never a
        resident number.
        """
        require_aware(now)
        if state is None:
            state = WebAuthnState(user_handle=bytes_to_base64url(secrets.token_bytes(32)))
        options = py_webauthn.generate_registration_options(
            rp_id=self.rp_id,
            rp_name=self.rp_name,
            user_name=user_name,
            user_id=base64url_to_bytes(state.user_handle),
            user_display_name=display_name,
            timeout=int(self.timeout.total_seconds() * 1000),
            attestation=AttestationConveyancePreference.NONE,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.PREFERRED,
                user_verification=UserVerificationRequirement.REQUIRED,
            ),
            exclude_credentials=[
                PublicKeyCredentialDescriptor(id=base64url_to_bytes(c.credential_id))
                for c in state.credentials
            ],
            supported_pub_key_algs=_ALGORITHMS,
        )
        return self._issue(state, "registration", options.challenge, options_to_json_dict(options), now)

    def enroll(
        self, state: WebAuthnState, challenge_id: str, response: Any, now: dt.datetime
    ) -> Enrollment[WebAuthnState]:
        """Verify the ``navigator.credentials.create()`` result and add the credential.

        Raises VerificationFailed when it does not verify (no counter: registering is done
        inside an already authenticated session, so there is nothing to guess).
        """
        require_aware(now)
        pending = self._take_pending(state, challenge_id, "registration", now)
        try:
            verified = py_webauthn.verify_registration_response(
                credential=response,
                expected_challenge=base64url_to_bytes(pending.challenge),
                expected_rp_id=self.rp_id,
                expected_origin=self.origin,
                require_user_presence=True,
                require_user_verification=True,
                supported_pub_key_algs=_ALGORITHMS,
            )
        # py_webauthn parses a str response with json.loads and catches only JSONDecodeError:
        # a string of nested brackets from the browser side must fail verification, not the server.
        except (WebAuthnException, ValueError, KeyError, TypeError, RecursionError):
            raise VerificationFailed("the authenticator registration did not verify") from None
        credential_id = bytes_to_base64url(verified.credential_id)
        if any(c.credential_id == credential_id for c in state.credentials):
            raise VerificationFailed("this authenticator is already registered")
        credential = WebAuthnCredential(
            credential_id=credential_id,
            public_key=bytes_to_base64url(verified.credential_public_key),
            sign_count=verified.sign_count,
            registered_at=now,
        )
        new_state = replace(state, pending=None, credentials=state.credentials + (credential,))
        return Enrollment(state=new_state, handout={"credential_id": credential_id})

    # -- authentication -------------------------------------------------------------------------

    def _challenge(self, state: WebAuthnState, now: dt.datetime) -> tuple[Challenge, WebAuthnState]:
        """Options for ``navigator.credentials.get()``; ``challenge.prompt`` is their JSON."""
        if not state.credentials:
            raise VerificationFailed("no authenticator is registered")
        options = py_webauthn.generate_authentication_options(
            rp_id=self.rp_id,
            timeout=int(self.timeout.total_seconds() * 1000),
            allow_credentials=[
                PublicKeyCredentialDescriptor(id=base64url_to_bytes(c.credential_id))
                for c in state.credentials
            ],
            user_verification=UserVerificationRequirement.REQUIRED,
        )
        return self._issue(state, "authentication", options.challenge, options_to_json_dict(options), now)

    def _verify(
        self, state: WebAuthnState, challenge_id: str | None, response: Any, now: dt.datetime
    ) -> VerificationOutcome[WebAuthnState]:
        """``response`` is the ``navigator.credentials.get()`` result as JSON (str or dict)."""
        try:
            pending = self._take_pending(state, challenge_id, "authentication", now)
        except VerificationFailed as error:
            return VerificationOutcome(replace(state, pending=None), failure=error)
        consumed = replace(state, pending=None)  # the challenge is single-use, pass or fail

        raw_id = _credential_id_of(response)
        credential = next((c for c in state.credentials if c.credential_id == raw_id), None)
        if credential is None:
            return self._fail(consumed, "the authenticator is not registered for this member")
        try:
            verified = py_webauthn.verify_authentication_response(
                credential=response,
                expected_challenge=base64url_to_bytes(pending.challenge),
                expected_rp_id=self.rp_id,
                expected_origin=self.origin,
                credential_public_key=base64url_to_bytes(credential.public_key),
                # 0 leaves the counter to us: py_webauthn would reject a regression before
                # checking the signature, and an unsigned counter proves nothing.
                credential_current_sign_count=0,
                require_user_verification=True,
            )
        except (WebAuthnException, ValueError, KeyError, TypeError, RecursionError):
            return self._fail(consumed, "the authenticator response did not verify")
        if not verified.user_verified:  # pragma: no cover - py_webauthn already refuses this
            return self._fail(consumed, "the authenticator did not verify the user")
        new_count = verified.new_sign_count
        if (new_count or credential.sign_count) and new_count <= credential.sign_count:
            # Authenticators that count must count up; a repeat or a step back means a second
            # copy of the key is in use somewhere.
            return self._fail(consumed, "the authenticator's signature counter went backwards; it may be cloned")

        updated = replace(credential, sign_count=new_count)
        credentials = tuple(updated if c is credential else c for c in state.credentials)
        return self._accept(
            replace(consumed, credentials=credentials), now, credential.credential_id,
            user_verified=True, sign_count=new_count,
        )

    # -- shared ---------------------------------------------------------------------------------

    def _issue(
        self,
        state: WebAuthnState,
        ceremony: Ceremony,
        challenge_bytes: bytes,
        options: dict[str, Any],
        now: dt.datetime,
    ) -> tuple[Challenge, WebAuthnState]:
        pending = PendingCeremony(
            challenge_id=secrets.token_urlsafe(16),
            ceremony=ceremony,
            challenge=bytes_to_base64url(challenge_bytes),
            expires_at=now + self.timeout,
        )
        challenge = Challenge(
            method=self.method, challenge_id=pending.challenge_id, prompt=options, expires_at=pending.expires_at
        )
        return challenge, replace(state, pending=pending)

    def _take_pending(
        self, state: WebAuthnState, challenge_id: str | None, ceremony: Ceremony, now: dt.datetime
    ) -> PendingCeremony:
        pending = state.pending
        if (
            pending is None
            or pending.ceremony != ceremony
            or not challenge_matches(pending.challenge_id, challenge_id)
        ):
            raise VerificationFailed("no such WebAuthn challenge; start again")
        if now >= pending.expires_at:
            raise VerificationFailed("the WebAuthn challenge expired; start again")
        return pending
