"""SecurityCardVerifier: card shape, challenge, constant-time check, lock, single use."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from fincert.clock import FakeClock
from fincert.errors import Locked, VerificationFailed
from fincert.ra.verifiers.base import IdentityVerifier
from fincert.ra.verifiers.security_card import SecurityCardState, SecurityCardVerifier

T0 = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.timezone.utc)


def answer(state: SecurityCardState, prompt: dict[str, str]) -> str:
    cells = {f"{i + 1:02d}": c for i, c in enumerate(state.cells)}
    return cells[prompt["first_cell"]][:2] + cells[prompt["second_cell"]][2:]


def wrong(right: str) -> str:
    return f"{(int(right) + 1) % 10_000:04d}"


def test_enrollment_makes_35_cells_of_four_digits() -> None:
    enrollment = SecurityCardVerifier().enroll()
    state, handout = enrollment.state, enrollment.handout
    assert len(state.cells) == 35 and all(len(c) == 4 and c.isdigit() for c in state.cells)
    assert sorted(handout["cells"]) == [f"{i:02d}" for i in range(1, 36)]
    assert handout["cells"]["01"] == state.cells[0] and handout["cells"]["35"] == state.cells[34]
    assert len(state.serial) == 10 and state.serial.isdigit()
    assert SecurityCardVerifier().enroll().state.cells != state.cells
    verifier: IdentityVerifier[SecurityCardState] = SecurityCardVerifier()  # satisfies the protocol
    assert verifier.method == "security-card"


def test_challenge_asks_two_distinct_cells_and_correct_answer_verifies() -> None:
    verifier = SecurityCardVerifier()
    clock = FakeClock(T0)
    state = verifier.enroll().state
    seen_pairs = set()
    for _ in range(40):
        challenge, state = verifier.challenge(state, clock.now())
        prompt = challenge.prompt
        assert prompt["first_cell"] != prompt["second_cell"]
        assert {prompt["first_cell"], prompt["second_cell"]} <= {f"{i:02d}" for i in range(1, 36)}
        # No cell's digits are shown; serial_hint is the card's serial, which may by chance
        # share four digits with a cell, so it is left out of this check.
        shown = json.dumps({k: v for k, v in prompt.items() if k != "serial_hint"})
        assert not any(c in shown for c in state.cells)
        seen_pairs.add((prompt["first_cell"], prompt["second_cell"]))
        outcome = verifier.verify(state, challenge.challenge_id, answer(state, prompt), clock.now())
        assert outcome.accepted
        evidence = outcome.require()
        assert evidence["method"] == "security-card" and evidence["credential_id"] == state.serial
        assert evidence["verified_at"] == T0.isoformat()
        # The evidence names the method, card serial and time, never cell contents (the
        # timestamp and serial are left out: their digits may match a cell by chance).
        assert set(evidence) <= {"method", "verified_at", "credential_id", "cells_asked"}
        rest = json.dumps({k: v for k, v in evidence.items() if k not in ("verified_at", "credential_id")})
        assert not any(c in rest for c in state.cells)
        state = outcome.state
        assert state.pending is None and state.failures == 0
    assert len(seen_pairs) > 10  # the cells are drawn at random


def test_answer_uses_first_two_of_first_and_last_two_of_second() -> None:
    verifier = SecurityCardVerifier()
    state = SecurityCardState(serial="0000000001", cells=tuple(f"{i:02d}{i + 50:02d}" for i in range(35)))
    challenge, state = verifier.challenge(state, T0)
    first = int(challenge.prompt["first_cell"]) - 1
    second = int(challenge.prompt["second_cell"]) - 1
    # Swapping which half is taken from which cell is wrong.
    swapped = f"{second + 50:02d}"[:2] + f"{first:02d}"
    assert not verifier.verify(state, challenge.challenge_id, swapped, T0).accepted
    challenge, state = verifier.challenge(verifier.verify(state, challenge.challenge_id, swapped, T0).state, T0)
    first = int(challenge.prompt["first_cell"]) - 1
    second = int(challenge.prompt["second_cell"]) - 1
    assert verifier.verify(state, challenge.challenge_id, f"{first:02d}{second + 50:02d}", T0).accepted


def test_five_consecutive_failures_lock_and_success_resets() -> None:
    verifier = SecurityCardVerifier()
    state = verifier.enroll().state
    # Four failures, then a success: counter back to zero.
    for expected_failures in range(1, 5):
        challenge, state = verifier.challenge(state, T0)
        outcome = verifier.verify(state, challenge.challenge_id, wrong(answer(state, challenge.prompt)), T0)
        assert isinstance(outcome.failure, VerificationFailed)
        assert f"{5 - expected_failures} attempts left" in outcome.failure.detail
        state = outcome.state
        assert state.failures == expected_failures and not state.locked
    challenge, state = verifier.challenge(state, T0)
    state = verifier.verify(state, challenge.challenge_id, answer(state, challenge.prompt), T0).state
    assert state.failures == 0
    # Five in a row: locked, and the fifth failure already says so.
    for _ in range(5):
        challenge, state = verifier.challenge(state, T0)
        outcome = verifier.verify(state, challenge.challenge_id, "0000" if answer(state, challenge.prompt) != "0000" else "1111", T0)
        state = outcome.state
    assert state.locked and isinstance(outcome.failure, Locked)
    with pytest.raises(Locked):
        outcome.require()
    with pytest.raises(Locked):
        verifier.challenge(state, T0)
    # Even the right answer to an old challenge is refused while locked.
    assert isinstance(verifier.verify(state, "x", "1234", T0).failure, Locked)


def test_lock_threshold_configurable() -> None:
    verifier = SecurityCardVerifier(max_failures=2)
    state = verifier.enroll().state
    for _ in range(2):
        challenge, state = verifier.challenge(state, T0)
        state = verifier.verify(state, challenge.challenge_id, wrong(answer(state, challenge.prompt)), T0).state
    assert state.locked


def test_challenge_is_single_use_and_expires() -> None:
    verifier = SecurityCardVerifier(challenge_ttl=dt.timedelta(minutes=5))
    clock = FakeClock(T0)
    state = verifier.enroll().state
    challenge, state = verifier.challenge(state, clock.now())
    right = answer(state, challenge.prompt)
    after = verifier.verify(state, challenge.challenge_id, right, clock.now()).state
    replay = verifier.verify(after, challenge.challenge_id, right, clock.now())
    assert isinstance(replay.failure, VerificationFailed) and replay.state.failures == 0
    # A wrong guess also consumes the challenge: the right answer cannot follow it.
    challenge, state = verifier.challenge(after, clock.now())
    right = answer(state, challenge.prompt)
    state = verifier.verify(state, challenge.challenge_id, wrong(right), clock.now()).state
    assert not verifier.verify(state, challenge.challenge_id, right, clock.now()).accepted
    # Expired.
    challenge, state = verifier.challenge(state, clock.now())
    clock.advance(minutes=5)
    outcome = verifier.verify(state, challenge.challenge_id, answer(state, challenge.prompt), clock.now())
    assert not outcome.accepted and "expired" in outcome.failure.detail  # type: ignore[union-attr]


def test_cells_stay_pinned_until_an_answer_is_tried() -> None:
    verifier = SecurityCardVerifier()
    state = verifier.enroll().state
    first, state = verifier.challenge(state, T0)
    again, state = verifier.challenge(state, T0 + dt.timedelta(minutes=10))
    assert (first.prompt["first_cell"], first.prompt["second_cell"]) == (again.prompt["first_cell"], again.prompt["second_cell"])
    assert first.challenge_id != again.challenge_id
    # Only the newest challenge id is answerable.
    assert not verifier.verify(state, first.challenge_id, answer(state, first.prompt), T0 + dt.timedelta(minutes=10)).accepted
    assert verifier.verify(state, again.challenge_id, answer(state, again.prompt), T0 + dt.timedelta(minutes=10)).accepted


@pytest.mark.parametrize("response", ["", "12", "12345", None, 1234, "１２３４"])
def test_malformed_answers_count_as_failures(response: object) -> None:
    verifier = SecurityCardVerifier()
    state = verifier.enroll().state
    challenge, state = verifier.challenge(state, T0)
    outcome = verifier.verify(state, challenge.challenge_id, response, T0)
    assert isinstance(outcome.failure, VerificationFailed) and outcome.state.failures == 1


def test_state_round_trips_through_json() -> None:
    verifier = SecurityCardVerifier()
    state = verifier.enroll().state
    challenge, state = verifier.challenge(state, T0)
    restored = SecurityCardState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert restored == state
    assert verifier.verify(restored, challenge.challenge_id, answer(state, challenge.prompt), T0).accepted
