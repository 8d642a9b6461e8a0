"""Fresh PostgreSQL databases for tests (the server of the machine: 127.0.0.1:5432, trust auth;
``FINCERT_TEST_PG_ADMIN`` and ``FINCERT_TEST_PG_URL`` point elsewhere). A plain module, not a
conftest, so that fixtures of any scope can use it."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator

import psycopg

PG_ADMIN_DSN = os.environ.get("FINCERT_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_URL_TEMPLATE = os.environ.get("FINCERT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/{name}")


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """Create an empty database, yield its SQLAlchemy URL, drop it (and its connections) after."""
    name = f"fincert_t_{secrets.token_hex(6)}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_URL_TEMPLATE.format(name=name)
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
