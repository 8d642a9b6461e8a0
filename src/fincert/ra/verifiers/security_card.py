"""보안카드 (security card): 35 numbered cells of 4 random digits, issued by an institution.

Owns card generation and the challenge-response: the holder types the first two digits of one
cell and the last two digits of another. The card state holds every cell in clear, so the
caller encrypts the whole state (``PiiVault``) before storing it.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from dataclasses import dataclass, replace
from typing import Any

from fincert.errors import InvalidInput, VerificationFailed
from fincert.ra.verifiers.base import (
    Challenge,
    Enrollment,
    LockingVerifier,
    VerificationOutcome,
    challenge_matches,
    record_from_dict,
    record_to_dict,
)

__all__ = ["CELL_COUNT", "PendingCardChallenge", "SecurityCardState", "SecurityCardVerifier"]

CELL_COUNT = 35
SERIAL_DIGITS = 10


def cell_label(index: int) -> str:
    """Cells are printed and asked for as "01".."35"."""
    return f"{index + 1:02d}"


@dataclass(frozen=True)
class PendingCardChallenge:
    challenge_id: str
    first_cell: int  # index; the holder gives its first two digits
    second_cell: int  # index; the holder gives its last two digits
    expires_at: dt.datetime


@dataclass(frozen=True)
class SecurityCardState:
    serial: str
    cells: tuple[str, ...]
    failures: int = 0
    locked: bool = False
    pending: PendingCardChallenge | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "cells": list(self.cells),
            "failures": self.failures,
            "locked": self.locked,
            "pending": None if self.pending is None else record_to_dict(self.pending),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SecurityCardState:
        cells = tuple(data["cells"])
        if len(cells) != CELL_COUNT or not all(len(c) == 4 and c.isdigit() for c in cells):
            # Corrupt storage, not the holder's input: a plain error, answered as a 500.
            raise ValueError("stored security card is malformed")
        raw = data.get("pending")
        pending = None if raw is None else record_from_dict(PendingCardChallenge, raw)
        return cls(
            serial=data["serial"],
            cells=cells,
            failures=int(data.get("failures", 0)),
            locked=bool(data.get("locked", False)),
            pending=pending,
        )


class SecurityCardVerifier(LockingVerifier[SecurityCardState]):
    method = "security-card"

    def __init__(
        self, *, max_failures: int = 5, challenge_ttl: dt.timedelta = dt.timedelta(minutes=5)
    ) -> None:
        if max_failures < 1:
            raise InvalidInput("max_failures must be at least one", field="max_failures")
        self.max_failures = max_failures
        self.challenge_ttl = challenge_ttl

    def enroll(self) -> Enrollment[SecurityCardState]:
        """A new card. The handout (serial and all cells) is for printing, once."""
        cells = tuple(f"{secrets.randbelow(10_000):04d}" for _ in range(CELL_COUNT))
        serial = "".join(str(secrets.randbelow(10)) for _ in range(SERIAL_DIGITS))
        state = SecurityCardState(serial=serial, cells=cells)
        handout = {"serial": serial, "cells": {cell_label(i): c for i, c in enumerate(cells)}}
        return Enrollment(state=state, handout=handout)

    def _challenge(
        self, state: SecurityCardState, now: dt.datetime
    ) -> tuple[Challenge, SecurityCardState]:
        if state.pending is not None:
            # The same two cells are asked again until an answer is attempted: otherwise an
            # attacker who knows a few cells (a photo of part of the card) could request fresh
            # challenges until one falls on cells they know, without ever failing.
            first, second = state.pending.first_cell, state.pending.second_cell
        else:
            first = secrets.randbelow(CELL_COUNT)
            second = (first + 1 + secrets.randbelow(CELL_COUNT - 1)) % CELL_COUNT
        pending = PendingCardChallenge(
            challenge_id=secrets.token_urlsafe(16),
            first_cell=first,
            second_cell=second,
            expires_at=now + self.challenge_ttl,
        )
        challenge = Challenge(
            method=self.method,
            challenge_id=pending.challenge_id,
            prompt={
                "serial_hint": state.serial[-4:],
                "first_cell": cell_label(first),
                "first_cell_part": "first-two-digits",
                "second_cell": cell_label(second),
                "second_cell_part": "last-two-digits",
            },
            expires_at=pending.expires_at,
        )
        return challenge, replace(state, pending=pending)

    def _verify(
        self, state: SecurityCardState, challenge_id: str | None, response: Any, now: dt.datetime
    ) -> VerificationOutcome[SecurityCardState]:
        """``response`` is the four digits typed: two from the first cell, two from the second."""
        pending = state.pending
        if pending is None or not challenge_matches(pending.challenge_id, challenge_id):
            # Not a guess at the card, so not counted; the cells stay pinned (see challenge).
            return VerificationOutcome(
                state, failure=VerificationFailed("no such security card challenge; request a new one")
            )
        if now >= pending.expires_at:
            return VerificationOutcome(
                state, failure=VerificationFailed("security card challenge expired; request a new one")
            )

        expected = (state.cells[pending.first_cell][:2] + state.cells[pending.second_cell][2:]).encode()
        given = response.strip().encode() if isinstance(response, str) else b""
        # Any attempt consumes the challenge: a challenge is answered at most once.
        consumed = replace(state, pending=None)
        if hmac.compare_digest(expected, given):
            return self._accept(consumed, now, state.serial)
        return self._fail(consumed, "security card answer is wrong")
