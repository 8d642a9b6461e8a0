"""Shared fixtures: a fresh database per test on SQLite and on the machine's PostgreSQL.

PostgreSQL tests use the server at 127.0.0.1:5432 (trust auth) and create a fresh database for
each test; they are never skipped: if the server is unreachable they fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fincert.clock import FakeClock
from fincert.config import Settings
from fincert.runtime import Runtime, open_runtime
from pg_databases import fresh_database

TEST_PASSPHRASE = "test-ca-passphrase-not-secret"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fincert.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(home=tmp_path / "home", database_url=database_url, ca_passphrase=TEST_PASSPHRASE)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def runtime(settings: Settings, clock: FakeClock) -> Iterator[Runtime]:
    rt = open_runtime(settings, clock=clock)
    rt.initialize()
    try:
        yield rt
    finally:
        rt.close()


def run_cli(
    args: list[str], home: Path, *, env: dict[str, str] | None = None, input: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``fincert`` as a user would, in a separate process (in ``cwd`` if given)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("FINCERT_")}
    full_env.update({"FINCERT_HOME": str(home), "FINCERT_LOG_LEVEL": "WARNING"})
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "fincert", *args],
        capture_output=True,
        text=True,
        env=full_env,
        input=input,
        # Never the terminal pytest may run in: a command that asks in a terminal would wait.
        stdin=subprocess.DEVNULL if input is None else None,
        cwd=cwd,
        timeout=120,
    )


@pytest.fixture
def cli():
    """``cli(args, home, env=...)`` runs the command line in a subprocess."""
    return run_cli
