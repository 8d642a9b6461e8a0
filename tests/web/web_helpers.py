"""What the page tests share: the database, the demo app behind a test client, the page's CSRF
token and its error messages.

A test module imports the fixtures it uses by name (``from web_helpers import client, database_url``),
as it does the helpers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fincert.api.app import create_app


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """SQLite, unless a test asks for PostgreSQL (``indirect`` parametrization): the pages add no
    storage of their own, but PostgreSQL refuses some strings SQLite stores (NUL)."""
    if getattr(request, "param", "sqlite") == "postgresql":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path / 'fincert.db'}"


def demo_client(runtime, *, raise_server_exceptions: bool) -> Iterator[TestClient]:
    """The app in demo mode with the sample institutions, behind a test client."""
    runtime.settings.demo = True
    runtime.institutions.ensure_samples()
    with TestClient(create_app(runtime), raise_server_exceptions=raise_server_exceptions) as c:
        yield c


@pytest.fixture
def client(runtime) -> Iterator[TestClient]:
    # A 500 must show as a status here, as a browser would get it, not as a test-side raise.
    yield from demo_client(runtime, raise_server_exceptions=False)


def csrf(client: TestClient) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").text).group(1)


def errors(html: str) -> list[str]:
    return re.findall(r'class="error"[^>]*>([^<]+)<', html)
