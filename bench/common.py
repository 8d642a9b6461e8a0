"""Shared pieces of the benchmarks: timing, machine description, temporary deployments."""

from __future__ import annotations

import contextlib
import os
import platform
import secrets
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg

from fincert.config import Settings
from fincert.runtime import Runtime, open_runtime

PG_ADMIN_DSN = os.environ.get("FINCERT_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ssl = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.strip()
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {ssl}"


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def timed(fn: Callable[[], object], count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        fn()
    return rate(count, time.perf_counter() - start)


@contextlib.contextmanager
def deployment(backend: str, **settings: object) -> Iterator[Runtime]:
    """A throwaway fincert deployment on SQLite or a fresh PostgreSQL database (``settings``:
    more ``Settings`` fields, e.g. a key backend)."""
    with tempfile.TemporaryDirectory(prefix="fincert-bench-") as home:
        dbname = None
        if backend == "sqlite":
            url = f"sqlite:///{home}/bench.db"
        else:
            dbname = f"fincert_bench_{secrets.token_hex(4)}"
            with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{dbname}"')
            url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{dbname}"
        rt = open_runtime(
            Settings(home=Path(home), database_url=url, ca_passphrase="bench-passphrase", log_level="WARNING", **settings)  # type: ignore[arg-type]
        )
        rt.initialize()
        try:
            yield rt
        finally:
            rt.close()
            if dbname:
                with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
