"""Shared constraints on path and query parameters.

An id is checked here, at the edge, because a number past the 64-bit range cannot be bound as a
query parameter at all: the database driver fails (OverflowError on SQLite, DataError on
PostgreSQL) before any lookup could answer "not found", which would be a 500 for bad input.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from fincert.storage.models import MAX_ID

RowId = Annotated[int, Path(ge=1, le=MAX_ID, description="A database id (1 to 2⁶³−1).")]
OptionalRowIdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID, description="A database id (1 to 2⁶³−1).")]

#: Text without U+0000, for strings the service looks rows up by (reference numbers, codes,
#: challenge ids). PostgreSQL cannot hold a NUL in a text value, not even as a query parameter:
#: the driver raises DataError before the lookup could answer "not found", a 500 for bad input.
NO_NUL = r"^[^\x00]*$"
