"""What the VA's responder and publisher share about storage: status of a row, times, upserts.

The status rule lives here once, so OCSP and CRLs can never disagree about a certificate.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from fincert.va.ocsp import GOOD, UNKNOWN, CertificateStatus

#: Certificate rows whose revocation counts: 'reserved' rows can be revoked (a crash between
#: reserving and storing leaves one), 'failed' rows were never signed.
REVOCABLE_STATUSES = ("issued", "reserved")


def utc(moment: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; everything is stored in UTC."""
    return moment.replace(tzinfo=dt.timezone.utc) if moment.tzinfo is None else moment.astimezone(dt.timezone.utc)


def status_of(status: str, revoked_at: dt.datetime | None, reason: str | None) -> CertificateStatus:
    """The OCSP status of a ``certificates`` row.

    - revoked (issued or reserved) → ``revoked`` with its time and reason;
    - issued → ``good``;
    - reserved and not revoked → ``unknown``: the CA crashed between reserving the serial and
      storing the certificate, and the certificate is only handed out after it is stored, so
      no holder has it. RFC 6960 §2.2 lets a responder answer ``revoked``/certificateHold
      for never-issued serials, but only with the extended-revoke extension that clients
      rarely understand; ``unknown`` is what they do understand, and it is never ``good``;
    - failed → ``unknown`` (never signed).
    """
    if revoked_at is not None and status in REVOCABLE_STATUSES:
        return CertificateStatus("revoked", revoked_at=utc(revoked_at), reason=reason or "unspecified")
    if status == "issued":
        return GOOD
    return UNKNOWN


def upsert(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    key: Sequence[str],
    excluded_guard: Callable[[Table, Any], ColumnElement[bool]] | None = None,
) -> None:
    """INSERT ... ON CONFLICT DO UPDATE on SQLite and PostgreSQL (both speak it).

    ``excluded_guard(table, excluded)`` may return a condition that must hold for a conflicting
    row to be replaced (e.g. only by a newer CRL number).
    """
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table)
    updates = {c.name: statement.excluded[c.name] for c in table.columns if c.name not in key}
    where = excluded_guard(table, statement.excluded) if excluded_guard is not None else None
    statement = statement.on_conflict_do_update(index_elements=list(key), set_=updates, where=where)
    session.execute(statement, list(rows))
