"""The two ways an application is completed write the same columns.

A first issuance on PostgreSQL completes its application and records the holder's certificate
in one hand-written statement (``_COMPLETE_AND_RECORD_HOLDER_PG``, on the driver); SQLite, and
reissues and renewals everywhere, use ``_COMPLETE_APPLICATION`` and ``_INSERT_HOLDER``. A column
added to one path and forgotten in the other would make the two backends' records differ.
"""

from __future__ import annotations

import re

from fincert.ra import lifecycle
from fincert.storage.models_lifecycle import HolderCertificate


def _pg_assignments() -> dict[str, str]:
    match = re.search(r"UPDATE applications SET (.*?) WHERE", lifecycle._COMPLETE_AND_RECORD_HOLDER_PG)
    assert match is not None
    return dict(part.strip().split(" = ", 1) for part in match.group(1).split(", "))


def test_the_holder_statement_names_every_column_of_holder_certificates() -> None:
    assert set(lifecycle._HOLDER_COLUMNS) == set(HolderCertificate.__table__.columns.keys())
    inserted = re.search(r"INSERT INTO holder_certificates \((.*?)\)", lifecycle._COMPLETE_AND_RECORD_HOLDER_PG)
    assert inserted is not None and inserted.group(1).split(", ") == list(lifecycle._HOLDER_COLUMNS)


def test_both_paths_complete_the_application_with_the_same_columns_and_condition() -> None:
    statement = lifecycle._COMPLETE_APPLICATION
    orm_columns = {getattr(column, "key", column) for column in statement._values}  # type: ignore[attr-defined]
    assert set(_pg_assignments()) == orm_columns == {"status", "open_member_id", "result_serial", "updated_at"}
    compiled = statement.compile(compile_kwargs={"literal_binds": False})
    assert "status = :status_1" in str(compiled) and compiled.params["status_1"] == "verified"
    assert "AND status = 'verified'" in lifecycle._COMPLETE_AND_RECORD_HOLDER_PG
    assert _pg_assignments()["status"] == "'issued'" and compiled.params["status"] == "issued"
    assert _pg_assignments()["open_member_id"] == "NULL" and compiled.params["open_member_id"] is None
