"""Group commit: concurrent callers' small units of work share one transaction.

An issuance commits twice (the reservation, then the certificate with its audit record), and
each commit waits for the database to flush its log. Under load many callers are waiting for
the same thing at the same moment, so the first caller to arrive becomes the *leader*: it takes
every unit of work queued so far (up to ``max_batch``), runs them in order in one transaction
and commits once; the callers queued meanwhile (the *followers*) wait and get their own result
or exception. While a leader commits, the next batch queues up behind it; with one caller
there is no waiting at all (a batch of one).

Isolation is kept by replay rather than by savepoints (a savepoint costs two more round trips
per unit): if any unit of a batch raises, or the commit fails, the whole transaction is rolled
back and every unit of the batch runs again alone, in its own transaction, in arrival order. A
unit therefore sees exactly what it would have seen had the units run one after another, and a
failing unit never takes another caller's change with it. Units must be plain database work on
the session they are given (they can run twice; the first run is always rolled back).

Each unit's audit records join the chain in the batch's one ``seal``, in unit order; hooks a
unit registers on the session (``after_commit``) run once the shared transaction commits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

T = TypeVar("T")

#: Units of work per transaction at most: big enough to absorb a burst, small enough that a
#: replay after a failure stays cheap.
DEFAULT_MAX_BATCH = 32


class _Unit(Generic[T]):
    __slots__ = ("work", "done", "result", "error")

    def __init__(self, work: Callable[[Session], T]) -> None:
        self.work = work
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None


class GroupCommit:
    """Runs ``work(session)`` units in shared transactions opened by ``transaction``."""

    def __init__(self, transaction: Callable[[], Any], *, max_batch: int = DEFAULT_MAX_BATCH) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._transaction = transaction  # Database.transaction: a context manager yielding a Session
        self._max_batch = max_batch
        self._queue: list[_Unit[Any]] = []
        self._leading = False
        self._changed = threading.Condition()
        #: Batches committed and units they carried (for metrics and tests).
        self.batches = 0
        self.units = 0

    def run(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in a transaction (possibly shared); return its result or raise its error."""
        unit: _Unit[T] = _Unit(work)
        with self._changed:
            self._queue.append(unit)
            while True:
                while self._leading and not unit.done:
                    self._changed.wait()
                if unit.done:
                    return self._outcome(unit)
                # No leader and our unit is still queued: lead. Our unit is at the head of the
                # queue or behind units that arrived before it; lead until it is done.
                self._leading = True
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                self._changed.release()
                try:
                    self._execute(batch)
                finally:
                    self._changed.acquire()
                    self._leading = False
                    self._changed.notify_all()

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
                    self.batches += 1
                    self.units += len(batch)
                    return
            for unit in batch:
                try:
                    with self._transaction() as session:
                        unit.result = unit.work(session)
                    self.batches += 1
                    self.units += 1
                except BaseException as exc:  # noqa: BLE001 - handed to the unit's own caller
                    unit.error = exc
                unit.done = True
        except BaseException as exc:  # an interrupt mid-batch: nobody may wait forever
            for unit in batch:
                if not unit.done:
                    unit.error, unit.done = exc, True
            raise

    def _together(self, batch: list[_Unit[Any]]) -> list[Any]:
        with self._transaction() as session:
            return [unit.work(session) for unit in batch]
