"""Sign-up and operator registration over HTTP refuse a name with a control character: a 400
problem document naming the field, and nothing stored."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from fincert.api.app import create_app
from fincert.storage.models import AuditRecord
from fincert.storage.models_ra import Member

FIELDS = {"rrn": "900101-1234567", "phone": "010-1234-5678", "email": "h@example.com"}


@pytest.fixture
def client(runtime):
    runtime.institutions.ensure_samples()
    with TestClient(create_app(runtime)) as c:
        yield c


def stored(runtime) -> tuple[int, int]:
    with runtime.db.reader() as s:
        return (
            s.execute(select(func.count()).select_from(Member)).scalar_one(),
            s.execute(select(func.count()).select_from(AuditRecord)).scalar_one(),
        )


def test_signup_and_operator_registration_refuse_control_characters(client, runtime):
    _, op_token = runtime.registrar.add_operator("HANBIT", "op1")
    before = stored(runtime)
    signup = client.post(
        "/api/v1/institutions/HANBIT/signup",
        json={"name": "홍\n길동", **FIELDS, "login_id": "hong90", "password": "s3cret-pass"},
    )
    register = client.post(
        "/api/v1/institutions/HANBIT/members", json={"name": "홍길동\u202e", **FIELDS}, headers={"authorization": f"Bearer {op_token}"}
    )
    for response in (signup, register):
        assert response.status_code == 400, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        body = response.json()
        assert body["field"] == "name" and "control characters" in body["detail"]
        assert "1234567" not in response.text and "s3cret-pass" not in response.text
    assert stored(runtime) == before
    ok = client.post("/api/v1/institutions/HANBIT/signup", json={"name": "홍 길동", **FIELDS, "login_id": "hong90", "password": "s3cret-pass"})
    assert ok.status_code == 201 and ok.json()["name"] == "홍 길동"
