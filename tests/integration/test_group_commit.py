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
from fincert.storage.group_commit import BatchKind, GroupCommit
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


def _run_batched(db, units, group=None):
    """Hold the only leader inside a first unit until every other unit is queued, so the rest
    are run as one batch; returns each caller's (result, error) in submission order.

    A unit is a work function (run with ``group.run``) or a ``(kind, params)`` pair."""
    group = group or GroupCommit(db.transaction, max_leaders=1)
    release = threading.Event()
    outcomes: list = [None] * len(units)

    def blocker(session):
        release.wait(10)
        return "blocker"

    def call(index, work):
        try:
            outcomes[index] = (group.run_kind(*work) if isinstance(work, tuple) else group.run(work), None)
        except Exception as exc:  # noqa: BLE001
            outcomes[index] = (None, exc)

    leader = threading.Thread(target=group.run, args=(blocker,))
    leader.start()
    while not group._leaders:
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
    return outcomes, before, group


def test_queued_units_share_one_transaction(runtime):
    db = runtime.db
    outcomes, (batches, units), group = _run_batched(db, [_add_institution(f"G{i}") for i in range(5)])
    assert [o[0] for o in outcomes] == [f"G{i}" for i in range(5)]
    assert group.batches - batches == 2  # the blocker alone, then the five together
    assert group.units - units == 6
    assert {f"G{i}" for i in range(5)} <= _codes(db)
    with db.reader() as s:
        assert audit.verify(s).ok
        added = s.execute(select(AuditRecord.subject_id).where(AuditRecord.action == "test.added").order_by(AuditRecord.seq)).scalars().all()
    assert added == [f"G{i}" for i in range(5)]  # chained in arrival order


def test_a_failing_unit_fails_alone_and_leaves_nothing(runtime):
    db = runtime.db
    units = [_add_institution("OK1"), _add_institution("BAD", fail=True), _add_institution("OK2")]
    outcomes, _, _ = _run_batched(db, units)
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
    outcomes, _, _ = _run_batched(db, [_add_institution("SAME"), _add_institution("SAME")])
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

    outcomes, _, _ = _run_batched(db, [with_hook("H1"), _add_institution("HX", fail=True), with_hook("H2")])
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
    # A store per certificate; on SQLite the reservations too (on PostgreSQL each reservation
    # is one INSERT that commits on its own, with its id drawn ahead from the sequence).
    grouped_per_certificate = 2 if runtime.db.dialect == "sqlite" else 1
    assert group.units - before_units == 30 * grouped_per_certificate
    assert group.batches - before_batches <= 30 * grouped_per_certificate
    with runtime.db.reader() as s:
        statuses = s.execute(select(Certificate.status, func.count()).group_by(Certificate.status)).all()
        assert dict(statuses).get("issued", 0) >= 30
        assert dict(statuses).get("reserved", 0) == 0
        assert audit.verify(s).ok


def _institution_kind(calls: list[int]):
    def run_many(session, codes):
        calls.append(len(codes))
        session.execute(insert(Institution.__table__), [{"code": c, "name": c, "type": "bank", "created_at": NOW} for c in codes])
        if "BAD" in codes:
            raise Conflict("BAD refuses")
        return codes

    return BatchKind("institution.add", run_many)


def test_units_of_a_kind_run_with_one_call_and_replay_alone(runtime):
    db = runtime.db
    calls: list[int] = []
    kind = _institution_kind(calls)
    group = GroupCommit(db.transaction, max_leaders=1)
    outcomes, _, _ = _run_batched(db, [(kind, c) for c in ("K1", "K2", "K3")], group)
    assert calls == [3]  # three units, one call
    assert outcomes == [("K1", None), ("K2", None), ("K3", None)]

    calls.clear()
    outcomes, _, _ = _run_batched(db, [(kind, c) for c in ("K4", "BAD", "K5")], group)
    assert calls == [3, 1, 1, 1]  # the shared call failed; each unit replayed alone
    assert outcomes[0] == ("K4", None) and outcomes[2] == ("K5", None) and isinstance(outcomes[1][1], Conflict)
    assert {"K1", "K2", "K3", "K4", "K5"} <= _codes(db) and "BAD" not in _codes(db)


def test_several_leaders_commit_at_once(postgres_url):
    """On PostgreSQL up to ``max_leaders`` batches are in flight together."""
    from fincert.storage.db import Database

    db = Database(postgres_url)
    db.migrate()
    group = GroupCommit(db.transaction, max_leaders=2)
    inside = threading.Barrier(2, timeout=10)

    def meet(session):
        inside.wait()  # both leaders are inside their transactions at the same moment
        return True

    results: list = []
    threads = [threading.Thread(target=lambda: results.append(group.run(meet))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    db.dispose()
    assert results == [True, True]


def test_issuances_queued_together_are_stored_by_one_batch(runtime):
    """The store step of several issuances as one batch (on PostgreSQL one UPDATE over arrays and
    one statement for their audit records): every certificate lands with its own DER, and the
    chain holds."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    request = IssuanceRequest("joint", key, SubjectIdentity("홍길동", "한빛은행"))
    group = runtime.db.group_commit
    release = threading.Event()
    leader = threading.Thread(target=group.run, args=(lambda session: release.wait(10),))
    leader.start()
    while not group._leaders:
        time.sleep(0.001)
    issued: list = []
    errors: list = []

    def client():
        try:
            issued.append(runtime.ca.issue(request))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=client) for _ in range(3)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(group._queue) < 3 and time.monotonic() < deadline:
        time.sleep(0.001)
    before_batches = group.batches
    release.set()
    leader.join(10)
    for thread in threads:
        thread.join(60)
    assert not errors and len(issued) == 3
    if runtime.db.dialect == "postgresql":
        # The held batch, then the three stores together. (On SQLite the reservations queued
        # instead, and the stores follow as their signatures finish.)
        assert group.batches - before_batches == 2
    with runtime.db.reader() as s:
        stored = dict(s.execute(select(Certificate.serial, Certificate.der).where(Certificate.status == "issued")).all())
        assert {c.serial: c.der for c in issued}.items() <= stored.items()
        assert audit.verify(s).ok
        records = s.execute(select(func.count()).select_from(AuditRecord).where(AuditRecord.action == "certificate.issued")).scalar_one()
        assert records == 3
