"""Assurance policy: which identity proofs a purpose (issue, reissue, ...) needs.

Owns the rule, as data an institution can configure, that turns a list of evidence (from the
verifiers, plus the RA's own ``login`` evidence) into yes/no and "what is still missing".
A requirement is a group of methods of which one must have been proven; each piece of
evidence counts for at most one group, so "two of {otp, security-card, webauthn}" can be
written as two equal groups. Binding evidence to the right member and session is the caller's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fincert.errors import InvalidInput
from fincert.ra.verifiers.base import Evidence

__all__ = ["AssurancePolicy", "DEFAULT_REQUIREMENTS", "STRONG_METHODS"]

#: Proofs of possession an institution hands out or binds: any one suffices for issuance.
STRONG_METHODS = frozenset({"otp", "security-card", "webauthn"})
_CONTACT_METHODS = frozenset({"sms", "email"})
_LOGIN = frozenset({"login"})

DEFAULT_REQUIREMENTS: dict[str, tuple[frozenset[str], ...]] = {
    "issue": (_LOGIN, STRONG_METHODS),
    # Reissuance replaces a lost or forgotten key, so it also asks for the registered phone
    # or address (the seed guide's 재발급 본인 확인).
    "reissue": (_LOGIN, STRONG_METHODS, _CONTACT_METHODS),
    "renew": (_LOGIN, STRONG_METHODS),
    "revoke": (_LOGIN, STRONG_METHODS),
    # 타기관 인증서 등록: registering a certificate issued through another institution.
    "register-external": (_LOGIN, STRONG_METHODS),
}


@dataclass(frozen=True)
class AssurancePolicy:
    """Per-institution configuration. ``max_evidence_age`` ignores proofs older than that when
    ``now`` is given, so a morning's OTP does not authorise an evening's issuance."""

    requirements: Mapping[str, tuple[frozenset[str], ...]] = field(
        default_factory=lambda: dict(DEFAULT_REQUIREMENTS)
    )
    max_evidence_age: dt.timedelta | None = dt.timedelta(minutes=10)

    def __post_init__(self) -> None:
        for purpose, groups in self.requirements.items():
            if not groups or any(not group for group in groups):
                raise InvalidInput(f"policy for {purpose!r} has an empty requirement", field="policy")

    # -- configuration as data ------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "requirements": {p: [sorted(g) for g in groups] for p, groups in self.requirements.items()},
            "max_evidence_age_seconds": (
                None if self.max_evidence_age is None else int(self.max_evidence_age.total_seconds())
            ),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AssurancePolicy:
        raw = data.get("requirements", DEFAULT_REQUIREMENTS)
        requirements = {str(p): tuple(frozenset(g) for g in groups) for p, groups in raw.items()}
        age = data.get("max_evidence_age_seconds", 600)
        return cls(requirements=requirements, max_evidence_age=None if age is None else dt.timedelta(seconds=age))

    # -- decisions --------------------------------------------------------------------------------

    def satisfied(self, purpose: str, evidence: Sequence[Evidence], *, now: dt.datetime | None = None) -> bool:
        return not self.missing(purpose, evidence, now=now)

    def missing(self, purpose: str, evidence: Sequence[Evidence], *, now: dt.datetime | None = None) -> list[str]:
        """Unmet requirements, each as its methods joined by ``|`` (``"otp|security-card|webauthn"``)."""
        groups = self.requirements.get(purpose)
        if groups is None:
            raise InvalidInput("unknown purpose for identity verification", field="purpose")
        methods = list(self._usable_methods(evidence, now))
        assigned = _best_assignment(list(groups), methods)
        return ["|".join(sorted(g)) for i, g in enumerate(groups) if i not in assigned]

    def _usable_methods(self, evidence: Iterable[Evidence], now: dt.datetime | None) -> Iterable[str]:
        for item in evidence:
            method = item.get("method")
            if not isinstance(method, str):
                continue
            if now is not None and self.max_evidence_age is not None:
                try:
                    at = dt.datetime.fromisoformat(str(item.get("verified_at")))
                except ValueError:
                    continue
                if at.tzinfo is None or not dt.timedelta(0) <= now - at <= self.max_evidence_age:
                    continue  # stale, undated, or from the future
            yield method


def _best_assignment(groups: list[frozenset[str]], methods: list[str]) -> set[int]:
    """Indexes of groups in a largest assignment of distinct evidence items to groups.

    Simple augmenting-path matching; policies have a handful of groups.
    """
    owner: dict[int, int] = {}  # evidence index -> group index

    def place(group: int, seen: set[int]) -> bool:
        for e, method in enumerate(methods):
            if method in groups[group] and e not in seen:
                seen.add(e)
                if e not in owner or place(owner[e], seen):
                    owner[e] = group
                    return True
        return False

    for g in range(len(groups)):
        place(g, set())
    return set(owner.values())
