"""Group commit: concurrent callers' small units of work share one transaction.

An issuance commits twice (the reservation, then the certificate with its audit record), and
each commit waits for the database to flush its log. Under load many callers are waiting for
the same thing at the same moment, so the first caller to arrive becomes the *leader*: it takes
every unit of work queued so far (up to ``max_batch``), runs them in order in one transaction
and commits once; the callers queued meanwhile (the *followers*) wait and get their own result
or exception. While a leader commits, the next batch queues up behind it; with one caller
there is no waiting at all (a batch of one). Up to ``max_leaders`` batches run at once, each on
its own connection, so one batch's round trips can overlap another's work; one leader makes
the biggest batches (and on SQLite writers take turns anyway).

Isolation is kept by replay rather than by savepoints (a savepoint costs two more round trips
per unit): if any unit of a batch raises, or the commit fails, the whole transaction is rolled
back and every unit of the batch runs again alone, in its own transaction, in arrival order. A
unit therefore sees exactly what it would have seen had the units run one after another, and a
failing unit never takes another caller's change with it. Units must be plain database work on
the session they are given (they can run twice; the first run is always rolled back).

Each unit's audit records join the chain in the batch's one ``seal``, in unit order; hooks a
unit registers on the session (``after_commit``) run once the shared transaction commits.

Units of the same ``BatchKind`` that sit next to each other in a batch are run by one call of
the kind's ``run_many`` (one multi-row statement instead of one per unit): the issuance
reservations of a batch are one INSERT, their stores one UPDATE.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

T = TypeVar("T")
P = TypeVar("P")

#: Units of work per transaction at most: big enough to absorb a burst, small enough that a
#: replay after a failure stays cheap.
DEFAULT_MAX_BATCH = 32


class BatchKind(Generic[P, T]):
    """Units that a batch runs together: ``run_many(session, [params, ...])`` returns one
    result per ``params``, in order, and raises if any of them fails (the batch is then
    replayed unit by unit, each through ``run_many(session, [params])``)."""

    def __init__(self, name: str, run_many: Callable[[Session, list[P]], list[T]]) -> None:
        self.name = name
        self.run_many = run_many

    def __repr__(self) -> str:
        return f"BatchKind({self.name!r})"


class _Unit(Generic[T]):
    __slots__ = ("work", "kind", "params", "done", "result", "error", "wake")

    def __init__(self, work: Callable[[Session], T] | None, kind: BatchKind[Any, T] | None = None, params: Any = None) -> None:
        self.work = work
        self.kind = kind
        self.params = params
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None
        #: Set (under the group's lock) when the unit is done or may lead; only its caller waits on it.
        self.wake = threading.Event()

    def run_alone(self, session: Session) -> T:
        if self.kind is not None:
            (result,) = self.kind.run_many(session, [self.params])
            return result
        assert self.work is not None
        return self.work(session)


class GroupCommit:
    """Runs ``work(session)`` units in shared transactions opened by ``transaction``."""

    def __init__(self, transaction: Callable[[], Any], *, max_batch: int = DEFAULT_MAX_BATCH, max_leaders: int = 1) -> None:
        if max_batch < 1 or max_leaders < 1:
            raise ValueError("max_batch and max_leaders must be at least 1")
        self._transaction = transaction  # Database.transaction: a context manager yielding a Session
        self._max_batch = max_batch
        self._max_leaders = max_leaders
        self._queue: list[_Unit[Any]] = []
        self._leaders = 0
        self._lock = threading.Lock()
        #: Batches committed and units they carried (for metrics and tests).
        self.batches = 0
        self.units = 0

    def run(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in a transaction (possibly shared); return its result or raise its error."""
        return self._submit(_Unit(work))

    def run_kind(self, kind: BatchKind[P, T], params: P) -> T:
        """Run one unit of ``kind``; neighbours of the same kind in its batch share one call."""
        return self._submit(_Unit(None, kind, params))

    def _submit(self, unit: _Unit[T]) -> T:
        # Each caller waits on its own unit's event, so a finished batch wakes its own callers
        # and at most one more (the next to lead), never every waiting thread.
        lock = self._lock
        lock.acquire()
        self._queue.append(unit)
        try:
            while True:
                if unit.done:
                    return self._outcome(unit)
                if self._leaders < self._max_leaders and unit in self._queue:
                    # A leader's place is free and our unit is still queued: lead. Our unit is
                    # at the head of the queue or behind units that arrived before it; lead
                    # until it is done.
                    self._leaders += 1
                    batch = self._queue[: self._max_batch]
                    del self._queue[: self._max_batch]
                    lock.release()
                    try:
                        self._execute(batch)
                    finally:
                        lock.acquire()
                        self._leaders -= 1
                        for done in batch:
                            done.wake.set()
                        if self._queue:
                            self._queue[0].wake.set()  # the next in line may lead now
                    continue
                unit.wake.clear()
                lock.release()
                try:
                    unit.wake.wait()
                finally:
                    lock.acquire()
        finally:
            lock.release()

    @staticmethod
    def _outcome(unit: _Unit[T]) -> T:
        if unit.error is not None:
            raise unit.error
        return unit.result  # type: ignore[no-any-return]

    def _execute(self, batch: list[_Unit[Any]]) -> None:
        try:
            if len(batch) > 1:
                try:
                    results = self._together(batch)
                except Exception:  # noqa: BLE001 - replayed unit by unit below, errors go to their callers
                    pass
                else:
                    for unit, result in zip(batch, results):
                        unit.result, unit.done = result, True
                    self._count(1, len(batch))
                    return
            for unit in batch:
                try:
                    with self._transaction() as session:
                        unit.result = unit.run_alone(session)
                    self._count(1, 1)
                except BaseException as exc:  # noqa: BLE001 - handed to the unit's own caller
                    unit.error = exc
                unit.done = True
        except BaseException as exc:  # an interrupt mid-batch: nobody may wait forever
            for unit in batch:
                if not unit.done:
                    unit.error, unit.done = exc, True
            raise

    def _count(self, batches: int, units: int) -> None:
        with self._lock:  # leaders may finish together
            self.batches += batches
            self.units += units

    def _together(self, batch: list[_Unit[Any]]) -> list[Any]:
        results: list[Any] = []
        with self._transaction() as session:
            start = 0
            while start < len(batch):
                unit = batch[start]
                if unit.kind is None:
                    results.append(unit.run_alone(session))
                    start += 1
                    continue
                end = start + 1
                while end < len(batch) and batch[end].kind is unit.kind:
                    end += 1
                many = unit.kind.run_many(session, [u.params for u in batch[start:end]])
                if len(many) != end - start:
                    raise RuntimeError(f"{unit.kind!r} returned {len(many)} results for {end - start} units")
                results.extend(many)
                start = end
        return results
