"""Running a test module's CLI commands on PostgreSQL as well as on the embedded default.

A module opts in with ``from both_databases import cli  # noqa: F401``: the fixture overrides the
conftest's ``cli`` and runs every test twice, on SQLite and on a fresh PostgreSQL database. A
module whose deployment is shared (module scope) points ``cli`` at it with ``on_database``."""

from __future__ import annotations

import pytest


def on_database(cli, database_env: dict[str, str]):
    """``cli`` with ``database_env`` (``FINCERT_DATABASE_URL``, or nothing for the default)
    under every call's own ``env``."""
    if not database_env:
        return cli

    def run(args, home, *, env=None, **kw):
        return cli(args, home, env={**database_env, **(env or {})}, **kw)

    return run


@pytest.fixture(params=["sqlite", "postgresql"])
def cli(request, cli):
    """The conftest's ``cli``, pointed at a fresh PostgreSQL database for the second run."""
    if request.param == "sqlite":
        return cli
    return on_database(cli, {"FINCERT_DATABASE_URL": request.getfixturevalue("postgres_url")})
