"""A ``cli`` fixture that runs a test module's commands twice: on the embedded default (SQLite)
and on a fresh PostgreSQL database, as production runs. A module opts in with
``from both_databases import cli  # noqa: F401``; it overrides the conftest's ``cli``."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["sqlite", "postgresql"])
def cli(request, cli):
    """The conftest's ``cli``, pointed at a fresh PostgreSQL database for the second run."""
    if request.param == "sqlite":
        return cli
    url = request.getfixturevalue("postgres_url")

    def on_postgres(args, home, *, env=None, **kw):
        return cli(args, home, env={"FINCERT_DATABASE_URL": url, **(env or {})}, **kw)

    return on_postgres
