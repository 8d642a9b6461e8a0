"""Engines, sessions and migrations for SQLite (embedded default) and PostgreSQL.

``Database.transaction()`` is the one way to change state: one transaction per service call,
committed only when the block finishes without error, so a failed step leaves no rows behind.
On SQLite every write transaction starts with ``BEGIN IMMEDIATE`` so concurrent writers queue
on the database lock instead of failing half-way.
"""

from __future__ import annotations

import collections
import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar
from importlib import resources

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from fincert.storage import audit
from fincert.storage.group_commit import BatchKind, GroupCommit

T = TypeVar("T")
P = TypeVar("P")

#: Shared transactions in flight at once per process. One measured best on this machine's
#: PostgreSQL (bench/issuance_core.py, 8 clients: median 307/s with one leader, 274/s with
#: four): the bigger batches save more than overlapping round trips gains; a database farther
#: away than loopback may want more.
GROUP_COMMIT_LEADERS = 1


def make_engine(url: str, *, write: bool = True) -> Engine:
    """An engine; on SQLite, ``write`` engines start transactions with ``BEGIN IMMEDIATE``
    (writers queue on the lock) and read engines with a deferred ``BEGIN`` (readers never
    wait for a writer in WAL mode)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            # Let SQLAlchemy issue BEGIN itself (pysqlite's implicit BEGIN is deferred).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # type: ignore[no-untyped-def]
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    # No pre-ping: it costs a round trip per checkout on the issuance path; recycle instead.
    return create_engine(url, pool_size=10, max_overflow=20, pool_recycle=1800)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("fincert.storage") / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite: reads get their own engine whose transactions do not take the write lock.
        # PostgreSQL: reads run in READ ONLY transactions on the shared pool.
        self._read_engine = (
            make_engine(url, write=False)
            if url.startswith("sqlite")
            else self.engine.execution_options(postgresql_readonly=True)
        )
        self._read_sessions = sessionmaker(self._read_engine, expire_on_commit=False)
        self._autocommit_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        #: Shared transactions for hot, small units of work (see ``group_commit``).
        self.group_commit = GroupCommit(self.transaction, max_leaders=GROUP_COMMIT_LEADERS)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def migrate(self) -> None:
        """Bring the schema to the newest migrations (idempotent).

        Each component's migrations form a branch off the spine (``down_revision="0001"``),
        so ``heads`` applies every branch.
        """
        with self.engine.begin() as connection:
            config = alembic_config(self.url)
            config.attributes["connection"] = connection
            command.upgrade(config, "heads")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session
            audit.seal(session)

    def grouped(self, work: Callable[[Session], T]) -> T:
        """Run ``work(session)`` in a transaction that concurrent callers' units may share:
        one commit for all of them (group commit). ``work`` must be database work alone, as it
        may be replayed in a transaction of its own when another unit of the batch fails."""
        return self.group_commit.run(work)

    def grouped_kind(self, kind: BatchKind[P, T], params: P) -> T:
        """As ``grouped``, for a unit of ``kind``: neighbours of the same kind in the shared
        transaction are run with one multi-row statement."""
        return self.group_commit.run_kind(kind, params)

    @contextlib.contextmanager
    def autocommit(self) -> Iterator[Connection]:
        """A connection whose every statement commits on its own (one round trip, no BEGIN or
        COMMIT): for changes that are a single statement."""
        with self._autocommit_engine.connect() as connection:
            yield connection

    @contextlib.contextmanager
    def reader(self) -> Iterator[Session]:
        """A session for reading; changes made through it are never committed.

        On PostgreSQL the transaction is READ ONLY (a write through it fails) and a reader that
        finishes without error ends it with COMMIT, not ROLLBACK: psycopg forgets every
        prepared statement of a connection on ROLLBACK, so readers ending that way kept the
        hot statements from ever being prepared (each one parsed and planned again: about
        0.25 ms of database CPU per statement on this machine).
        """
        with self._read_sessions() as session:
            yield session
            if self.dialect == "postgresql":
                session.expunge_all()  # nothing of the ORM's is flushed by the commit
                session.commit()

    @contextlib.contextmanager
    def single_reads(self) -> Iterator[Connection]:
        """A connection for reads that each stand alone (no snapshot shared between them).

        On PostgreSQL every statement runs on its own: one round trip each, no BEGIN or
        COMMIT. On SQLite a read transaction, as ``reader``. Only for reads: a change made
        through it would commit at once on PostgreSQL and be rolled back on SQLite; use
        ``transaction`` to change state.
        """
        if self.dialect == "postgresql":
            with self._autocommit_engine.connect() as connection:
                yield connection
            return
        with self._read_engine.connect() as connection:  # rolled back when it closes
            yield connection

    def dispose(self) -> None:
        self.engine.dispose()
        self._read_engine.dispose()


class IdBlocks:
    """Primary keys of a PostgreSQL table handed out before its INSERT, drawn from the
    column's own sequence in blocks (one round trip per ``block`` ids).

    Knowing a row's id before writing it lets a write that depends on the id (a certificate's
    CRL partition) be one INSERT. Every other writer keeps taking ids from the same sequence,
    so no id is handed out twice; ids of a block left unused when the process stops are gaps.
    """

    def __init__(self, engine: Engine, table: str, column: str = "id", block: int = 64) -> None:
        self._engine = engine
        self._statement = text(
            "SELECT nextval(pg_get_serial_sequence(:table, :column)) FROM generate_series(1, :count)"
        ).bindparams(table=table, column=column, count=block)
        self._free: collections.deque[int] = collections.deque()
        self._lock = threading.Lock()

    def next(self) -> int:
        while True:
            try:
                return self._free.popleft()
            except IndexError:
                pass
            with self._lock:
                if not self._free:
                    with self._engine.connect() as connection:
                        self._free.extend(connection.execute(self._statement).scalars())
                        # nextval() is not transactional; COMMIT, as a ROLLBACK would make
                        # psycopg forget the connection's prepared statements.
                        connection.commit()
