"""Alembic environment: runs on the connection that ``Database.migrate`` hands in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from fincert.storage.models import Base, import_all_models

import_all_models()

config = context.config
connection = config.attributes.get("connection")


def _run(conn) -> None:  # type: ignore[no-untyped-def]
    context.configure(connection=conn, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    _run(connection)
else:  # the alembic CLI, for developers writing migrations
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as conn:
        _run(conn)
