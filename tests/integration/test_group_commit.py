"""Group commit on both backends: shared transactions, replay that isolates a failing unit,
one audit chain, and concurrent issuances sharing commits."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import event, func, insert, select
from sqlalchemy.exc import IntegrityError

from fincert.ca.authority import IssuanceRequest, SubjectIdentity
from fincert.errors import Conflict
from fincert.storage import audit
from fincert.storage.models import AuditRecord, Certificate, Institution

NOW = dt.datetime(2026, 11, 25, tzinfo=dt.timezone.utc)


def _add_institution(code: str, *, fail: bool = False):
    def work(session):
        session.execute(insert(Institution.__table__).values(code=code, name=code, type="bank", created_at=NOW))
        audit.append(session, action="test.added", actor="test", subject_type="institution", subject_id=code, now=NOW)
        if fail:
            raise Conflict(f"unit {code} refuses")
        return code

    return work


def _codes(db) -> set[str]:
    with db.reader() as s:
        return set(s.execute(select(Institution.code)).scalars())


def _run_batched(db, units):
    """Hold the leader inside a first unit until every other unit is queued, so the rest are
    run as one batch; returns each caller's (result, error) in submission order."""
    group = db.group_commit
    release = threading.Event()
    outcomes: list = [None] * len(units)

    def blocker(session):
        release.wait(10)
        return "blocker"

    def call(index, work):
        try:
            outcomes[index] = (db.grouped(work), None)
        except Exception as exc:  # noqa: BLE001
            outcomes[index] = (None, exc)

    leader = threading.Thread(target=db.grouped, args=(blocker,))
    leader.start()
    while not group._leading:
        time.sleep(0.001)
    threads = []
    for index, work in enumerate(units):
        thread = threading.Thread(target=call, args=(index, work))
        thread.start()
        threads.append(thread)
        while len(group._queue) < index + 1:  # queue in submission order
            time.sleep(0.001)
    before = (group.batches, group.units)
    release.set()
    leader.join(10)
    for thread in threads:
        thread.join(10)
    return outcomes, before


def test_queued_units_share_one_transaction(runtime):
    db = runtime.db
    outcomes, (batches, units) = _run_batched(db, [_add_institution(f"G{i}") for i in range(5)])
    assert [o[0] for o in outcomes] == [f"G{i}" for i in range(5)]
    assert db.group_commit.batches - batches == 2  # the blocker alone, then the five together
    assert db.group_commit.units - units == 6
    assert {f"G{i}" for i in range(5)} <= _codes(db)
    with db.reader() as s:
        assert audit.verify(s).ok
        added = s.execute(select(AuditRecord.subject_id).where(AuditRecord.action == "test.added").order_by(AuditRecord.seq)).scalars().all()
    assert added == [f"G{i}" for i in range(5)]  # chained in arrival order


def test_a_failing_unit_fails_alone_and_leaves_nothing(runtime):
    db = runtime.db
    units = [_add_institution("OK1"), _add_institution("BAD", fail=True), _add_institution("OK2")]
    outcomes, _ = _run_batched(db, units)
    assert outcomes[0] == ("OK1", None)
    assert outcomes[2] == ("OK2", None)
    assert isinstance(outcomes[1][1], Conflict)
    codes = _codes(db)
    assert {"OK1", "OK2"} <= codes and "BAD" not in codes
    with db.reader() as s:
        assert audit.verify(s).ok
        subjects = s.execute(select(AuditRecord.subject_id).where(AuditRecord.action == "test.added")).scalars().all()
    assert sorted(subjects) == ["OK1", "OK2"]  # no record of the failed unit


def test_units_see_earlier_units_of_their_batch(runtime):
    """Two units adding the same code in one batch: the second fails as it would have run alone."""
    db = runtime.db
    outcomes, _ = _run_batched(db, [_add_institution("SAME"), _add_institution("SAME")])
    assert outcomes[0] == ("SAME", None)
    assert isinstance(outcomes[1][1], IntegrityError)
    assert "SAME" in _codes(db)


def test_after_commit_hooks_run_once_per_commit(runtime):
    db = runtime.db
    fired: list[str] = []

    def with_hook(code):
        inner = _add_institution(code)

        def work(session):
            event.listen(session, "after_commit", lambda _s: fired.append(code), once=True)
            return inner(session)

        return work

    outcomes, _ = _run_batched(db, [with_hook("H1"), _add_institution("HX", fail=True), with_hook("H2")])
    assert outcomes[0][0] == "H1" and outcomes[2][0] == "H2"
    # The shared attempt rolled back (its hooks never fire); the replays committed once each.
    assert sorted(fired) == ["H1", "H2"]


def test_concurrent_issuances_share_commits_and_all_land(runtime):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    request = IssuanceRequest("joint", key, SubjectIdentity("홍길동", "한빛은행"))
    group = runtime.db.group_commit
    before_batches, before_units = group.batches, group.units
    issued: list = []
    errors: list = []

    def client():
        try:
            for _ in range(5):
                issued.append(runtime.ca.issue(request))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=client) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    assert len({c.serial for c in issued}) == 30
    assert group.units - before_units == 60  # a reservation and a store per certificate
    assert group.batches - before_batches <= 60
    with runtime.db.reader() as s:
        statuses = s.execute(select(Certificate.status, func.count()).group_by(Certificate.status)).all()
        assert dict(statuses).get("issued", 0) >= 30
        assert dict(statuses).get("reserved", 0) == 0
        assert audit.verify(s).ok
