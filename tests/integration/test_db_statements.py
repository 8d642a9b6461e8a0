"""The database layer on PostgreSQL keeps its hot statements prepared: readers and id blocks
end their transactions without the ROLLBACK that makes psycopg forget them, and a reader
cannot change anything."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError

from fincert.storage.db import Database, IdBlocks
from fincert.storage.models import AuditHead, Institution

STATEMENT = select(Institution.id).where(Institution.code == "nobody")


def _prepared(db: Database) -> list[str]:
    # One connection in the pool: every checkout below gets the same one.
    with db.engine.connect() as connection:
        rows = connection.execute(text("SELECT statement FROM pg_prepared_statements")).scalars().all()
        connection.commit()
    return rows


@pytest.fixture
def db(postgres_url):
    database = Database(postgres_url)
    database.migrate()
    database.dispose()  # from here on, serial use keeps one pooled connection
    yield database
    database.dispose()


def test_a_statement_read_again_and_again_gets_prepared(db):
    for _ in range(8):
        with db.reader() as session:
            assert session.execute(STATEMENT).first() is None
    assert any("FROM institutions" in statement for statement in _prepared(db))


def test_id_blocks_do_not_discard_prepared_statements(db):
    for _ in range(8):
        with db.reader() as session:
            session.execute(STATEMENT).first()
    ids = IdBlocks(db.engine, "certificates", block=2)
    drawn = [ids.next() for _ in range(5)]  # three round trips for blocks
    assert len(set(drawn)) == 5
    assert any("FROM institutions" in statement for statement in _prepared(db))


def test_a_reader_cannot_write(db):
    with pytest.raises(DBAPIError, match="read-only transaction"):
        with db.reader() as session:
            session.execute(update(AuditHead.__table__).values(seq=5))
    with db.reader() as session:
        assert session.execute(select(AuditHead.seq)).first() is None


def test_objects_changed_in_a_reader_are_not_written(db):
    with db.transaction() as session:
        session.add(Institution(code="KB", name="KB", type="bank", created_at=dt.datetime.now(dt.timezone.utc)))
    with db.reader() as session:
        row = session.execute(select(Institution).where(Institution.code == "KB")).scalar_one()
        row.name = "changed in a reader"
    with db.reader() as session:
        assert session.execute(select(Institution.name).where(Institution.code == "KB")).scalar_one() == "KB"
