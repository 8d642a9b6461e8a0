"""Registering a member whose name carries a control character changes nothing (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from fincert.errors import InvalidInput
from fincert.storage.models import AuditRecord
from fincert.storage.models_ra import Member, MemberCredential


@pytest.fixture
def registrar(runtime):
    runtime.institutions.ensure_samples()
    return runtime.registrar


def counts(runtime) -> tuple[int, int, int]:
    with runtime.db.reader() as s:
        return tuple(  # type: ignore[return-value]
            s.execute(select(func.count()).select_from(model)).scalar_one() for model in (Member, MemberCredential, AuditRecord)
        )


@pytest.mark.parametrize("online", [False, True])
@pytest.mark.parametrize("name", ["a\nb", "홍\n길동", "홍길\t동", "홍길\u200b동", "홍\x00길동"])
def test_name_with_control_character_is_refused_and_nothing_is_written(runtime, registrar, name, online):
    before = counts(runtime)
    extra = {"login_id": "hong01", "password": "pass-word-1234"} if online else {}
    with pytest.raises(InvalidInput) as refused:
        registrar.register_member(
            "HANBIT", name=name, rrn="900101-1234567", phone="010-1234-5678", email="hong@example.com",
            actor="test", online=online, **extra,
        )
    assert refused.value.field == "name"
    assert "1234567" not in refused.value.detail and "pass-word" not in refused.value.detail
    assert counts(runtime) == before


def test_korean_and_spaced_names_still_register(runtime, registrar):
    first = registrar.register_member(
        "HANBIT", name=" 홍길동 ", rrn="900101-1234567", phone="010-1234-5678", email="hong@example.com", actor="test"
    )
    assert first.name == "홍길동"
    second = registrar.register_member(
        "HANBIT", name="Mary-Jane  O'Neil", rrn="850505-2345678", phone="010-2345-6789", email="mj@example.com", actor="test"
    )
    assert second.name == "Mary-Jane O'Neil"


@pytest.mark.parametrize("login_id", ["hоng01", "ｈｏｎｇ01", "홍길동01"])  # Cyrillic 'о', full-width letters, Hangul
def test_login_id_must_be_ascii_and_nothing_is_written(runtime, registrar, login_id):
    before = counts(runtime)
    with pytest.raises(InvalidInput, match="ASCII") as refused:
        registrar.register_member(
            "HANBIT", name="홍길동", rrn="900101-1234567", phone="010-1234-5678", email="hong@example.com",
            actor="test", online=True, login_id=login_id, password="pass-word-1234",
        )
    assert refused.value.field == "login_id"
    assert counts(runtime) == before


def test_operator_username_must_be_ascii(registrar):
    with pytest.raises(InvalidInput, match="ASCII"):
        registrar.add_operator("HANBIT", "оperator")  # Cyrillic 'о'
    operator_id, _ = registrar.add_operator("HANBIT", "operator")
    assert operator_id > 0
