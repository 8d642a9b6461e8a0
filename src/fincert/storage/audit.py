"""The hash-chained audit trail.

``append`` is called inside the same transaction as the state change it records and ``seal``
writes the records just before that transaction commits, so there is no change without its
record and no record without its change. Each record's hash covers its
fields and the previous record's hash; ``verify`` walks the chain and names the first record
whose hash or link does not hold. The chain's tip lives in the one-row ``audit_head`` table,
locked (``SELECT ... FOR UPDATE`` on PostgreSQL, the database write lock on SQLite) so
concurrent transactions append in a single order.

Details must never carry secrets or personal data (resident numbers, PINs, passwords, keys).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from fincert.storage import driver
from fincert.storage.models import AuditHead, AuditRecord

GENESIS_HASH = "0" * 64


def _canonical_fields(
    *,
    seq: int,
    occurred_at: dt.datetime,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str,
    institution_id: int | None,
    details_json: str,
    prev_hash: str,
) -> bytes:
    return _canonical_json(
        {
            "seq": seq,
            "occurred_at": _utc(occurred_at).isoformat(),
            "actor": actor,
            "action": action,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "institution_id": institution_id,
            "details": json.loads(details_json),
            "prev_hash": prev_hash,
        }
    )


#: The fields a record's hash covers, as they appear in an export (``hash`` aside).
HASHED_FIELDS = ("seq", "occurred_at", "actor", "action", "subject_type", "subject_id", "institution_id", "details", "prev_hash")


def _canonical_json(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _canonical(record: AuditRecord) -> bytes:
    return _canonical_fields(
        seq=record.seq,
        occurred_at=record.occurred_at,
        actor=record.actor,
        action=record.action,
        subject_type=record.subject_type,
        subject_id=record.subject_id,
        institution_id=record.institution_id,
        details_json=record.details_json,
        prev_hash=record.prev_hash,
    )


def _utc(moment: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; everything is stored in UTC.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc)


def record_hash(record: AuditRecord) -> str:
    return hashlib.sha256(_canonical(record)).hexdigest()


_PENDING = "fincert.audit.pending"


def append(
    session: Session,
    *,
    action: str,
    actor: str,
    subject_type: str,
    subject_id: str | int,
    now: dt.datetime,
    details: dict[str, Any] | None = None,
    institution_id: int | None = None,
) -> None:
    """Record a state change in the caller's transaction.

    The record joins the chain when the transaction commits (``seal``, called by
    ``Database.transaction``): the chain's head is locked only for the last statements before
    the commit, not for the whole transaction, so concurrent transactions queue briefly. A
    transaction that rolls back leaves no record, as it leaves no change.
    """
    session.info.setdefault(_PENDING, []).append(
        {
            "occurred_at": now.astimezone(dt.timezone.utc),
            "actor": actor,
            "action": action,
            "subject_type": subject_type,
            "subject_id": str(subject_id),
            "institution_id": institution_id,
            "details_json": json.dumps(details or {}, sort_keys=True, ensure_ascii=False),
        }
    )


def seal(session: Session) -> None:
    """Chain the transaction's pending records onto the head and write them (before commit)."""
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    session.flush()  # the state changes first, so a constraint failure aborts before the chain moves
    postgresql = session.get_bind().dialect.name == "postgresql"
    head = driver.execute(session, _LOCK_HEAD_PG).fetchone() if postgresql else session.execute(_LOCK_HEAD).first()
    if head is None:
        session.execute(insert(AuditHead).values(id=1, seq=0, hash=GENESIS_HASH))
        seq, prev_hash = 0, GENESIS_HASH
    else:
        seq, prev_hash = head
    rows = []
    for values in pending:
        seq += 1
        record = {**values, "seq": seq, "prev_hash": prev_hash}
        prev_hash = hashlib.sha256(_canonical_fields(**record)).hexdigest()
        rows.append({**record, "hash": prev_hash})
    if postgresql:
        # The records (one, or a group commit's batch) and the head's move in one statement
        # over one JSON array of records: one round trip, one fixed text psycopg prepares
        # once, one string parameter (an executemany is a pipeline of statements on psycopg,
        # and ten array parameters cost more to adapt than the JSON costs to write).
        records = json.dumps(
            [{**row, "occurred_at": row["occurred_at"].isoformat()} for row in rows], ensure_ascii=False
        )
        driver.execute(session, _WRITE_AND_MOVE_HEAD, {"records": records, "new_seq": seq, "new_hash": prev_hash})
        return
    session.execute(_INSERT_RECORD, rows[0] if len(rows) == 1 else rows)
    session.execute(_MOVE_HEAD, {"new_seq": seq, "new_hash": prev_hash})


# On the Tables, not the ORM classes, so they skip the ORM's bulk-DML machinery.
_head = AuditHead.__table__
_LOCK_HEAD = select(_head.c.seq, _head.c.hash).where(_head.c.id == 1).with_for_update()
_INSERT_RECORD = insert(AuditRecord.__table__)
_MOVE_HEAD = update(_head).where(_head.c.id == 1).values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
_RECORD_COLUMNS = ("seq", "occurred_at", "actor", "action", "subject_type", "subject_id", "institution_id", "details_json", "prev_hash", "hash")
_RECORD_TYPES = {
    "seq": "bigint", "occurred_at": "timestamptz", "actor": "text", "action": "text", "subject_type": "text",
    "subject_id": "text", "institution_id": "bigint", "details_json": "text", "prev_hash": "text", "hash": "text",
}
#: PostgreSQL (on the driver): the head, locked.
_LOCK_HEAD_PG = f"SELECT seq, hash FROM {AuditHead.__tablename__} WHERE id = 1 FOR UPDATE"
#: PostgreSQL (on the driver): WITH written AS (INSERT INTO audit_log ... SELECT FROM
#: json_to_recordset(records)) UPDATE audit_head ...
_WRITE_AND_MOVE_HEAD = (
    f"WITH written AS (INSERT INTO {AuditRecord.__tablename__} ({', '.join(_RECORD_COLUMNS)}) "
    f"SELECT {', '.join(_RECORD_COLUMNS)} FROM json_to_recordset(CAST(%(records)s AS json)) "
    f"AS r({', '.join(f'{name} {_RECORD_TYPES[name]}' for name in _RECORD_COLUMNS)})) "
    f"UPDATE {AuditHead.__tablename__} SET seq = %(new_seq)s, hash = %(new_hash)s WHERE id = 1"
)


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    records: int
    first_broken_seq: int | None = None
    problem: str | None = None


def verify(session: Session, *, progress: Callable[[int], None] | None = None, batch: int = 5000) -> ChainReport:
    """Walk the whole chain in order; report the first record that does not hold."""
    expected_prev = GENESIS_HASH
    expected_seq = 1
    count = 0
    last_id = 0
    while True:
        rows = session.execute(
            select(AuditRecord).where(AuditRecord.id > last_id).order_by(AuditRecord.id).limit(batch)
        ).scalars().all()
        if not rows:
            break
        for record in rows:
            if record.seq != expected_seq:
                return ChainReport(False, count, record.seq, f"sequence gap: expected {expected_seq}")
            if record.prev_hash != expected_prev:
                return ChainReport(False, count, record.seq, "link to the previous record is broken")
            if record_hash(record) != record.hash:
                return ChainReport(False, count, record.seq, "record content does not match its hash")
            expected_prev = record.hash
            expected_seq += 1
            count += 1
            last_id = record.id
        if progress:
            progress(count)
        session.expunge_all()
    head = session.get(AuditHead, 1)
    if head is not None and (head.seq != count or head.hash != expected_prev):
        return ChainReport(False, count, count + 1 if head.seq > count else head.seq, "records missing at the end of the chain")
    return ChainReport(True, count)


# -- export for auditors ------------------------------------------------------------------


def export(session: Session, *, after_seq: int = 0, batch: int = 5000) -> Iterator[dict[str, Any]]:
    """The records after ``after_seq``, in chain order, each as the JSON object its hash covers
    plus ``hash``: an auditor recomputes every hash from the object alone (``verify_export``)."""
    last = after_seq
    while True:
        rows = session.execute(
            select(AuditRecord).where(AuditRecord.seq > last).order_by(AuditRecord.seq).limit(batch)
        ).scalars().all()
        if not rows:
            return
        for record in rows:
            yield {
                "seq": record.seq,
                "occurred_at": _utc(record.occurred_at).isoformat(),
                "actor": record.actor,
                "action": record.action,
                "subject_type": record.subject_type,
                "subject_id": record.subject_id,
                "institution_id": record.institution_id,
                "details": json.loads(record.details_json),
                "prev_hash": record.prev_hash,
                "hash": record.hash,
            }
            last = record.seq
        session.expunge_all()


@dataclass(frozen=True)
class ExportReport:
    ok: bool
    records: int
    first_seq: int | None
    last_seq: int | None
    #: The last record's hash: compare it with the live chain's head to anchor the export.
    head_hash: str | None
    first_broken_seq: int | None = None
    problem: str | None = None


def verify_export(records: Iterable[dict[str, Any]]) -> ExportReport:
    """Check an export on its own: every hash recomputed from its record, every link, no gap.

    An export that starts at ``seq`` 1 must start from the genesis hash; one that starts later
    is checked from its first record's ``prev_hash`` (compare that with the record before it).
    """
    count, first, expected_seq, expected_prev, last_hash = 0, None, None, None, None
    for record in records:
        try:
            seq = record["seq"]
            fields = {name: record[name] for name in HASHED_FIELDS}
            stated = record["hash"]
        except (KeyError, TypeError):
            return ExportReport(False, count, first, expected_seq and expected_seq - 1, last_hash, expected_seq, "record is missing fields")
        if not isinstance(seq, int) or isinstance(seq, bool):
            return ExportReport(False, count, first, None, last_hash, expected_seq, "record has no integer seq")
        if first is None:
            first, expected_seq = seq, seq
            expected_prev = GENESIS_HASH if seq == 1 else record["prev_hash"]
        if seq != expected_seq:
            return ExportReport(False, count, first, expected_seq - 1, last_hash, seq, f"sequence gap: expected {expected_seq}")
        if record["prev_hash"] != expected_prev:
            return ExportReport(False, count, first, seq - 1, last_hash, seq, "link to the previous record is broken")
        if hashlib.sha256(_canonical_json(fields)).hexdigest() != stated:
            return ExportReport(False, count, first, seq - 1, last_hash, seq, "record content does not match its hash")
        count += 1
        expected_seq, expected_prev, last_hash = seq + 1, stated, stated
    return ExportReport(True, count, first, None if first is None else expected_seq - 1, last_hash)
