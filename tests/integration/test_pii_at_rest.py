"""The plaintext resident number is nowhere: not in the SQLite file, a PostgreSQL dump, or logs."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from fincert.clock import FakeClock
from fincert.config import Settings
from fincert.runtime import open_runtime

RRN = "750817-2918273"
FORMS = ("7508172918273", "750817-2918273", "2918273")


def register_everywhere(runtime) -> None:
    runtime.institutions.ensure_samples()
    reg = runtime.registrar
    member = reg.register_member("HANBIT", name="이영희", rrn=RRN, phone="010-9876-5432", email="lee@example.com", actor="t")
    reg.register_member("NURI", name="이영희", rrn=RRN.replace("-", ""), phone="010-9876-5432", email="lee@example.com",
                        login_id="lee75", password="s3cret-pass", actor="t", online=True)
    reg.enroll(member.id, "security-card", actor="t")
    reg.enroll(member.id, "otp", actor="t")
    reg.start_verification(member.id, "sms", actor="t")
    try:
        reg.register_member("HANBIT", name="이영희", rrn=RRN, phone="010-9876-5432", email="lee@example.com", actor="t")
    except Exception as exc:  # the duplicate is refused; its message must not carry the number either
        assert not any(f in str(exc) for f in FORMS)
    assert reg.resident_number(member.id).digits == FORMS[0]  # it is there, encrypted


def assert_absent(blob: bytes, where: str) -> None:
    for form in FORMS:
        assert form.encode() not in blob, f"resident number found in {where}"


def test_sqlite_file_and_logs(tmp_path, caplog, cli):
    caplog.set_level(logging.DEBUG)
    home = tmp_path / "home"
    runtime = open_runtime(Settings(home=home, ca_passphrase="pii-test-passphrase", log_level="DEBUG"), clock=FakeClock())
    runtime.initialize()
    register_everywhere(runtime)
    runtime.close()
    result = cli(["member", "register", "--institution", "BORAM", "--name", "이영희", "--rrn", RRN,
                  "--phone", "010-9876-5432", "--email", "lee@example.com", "--json"], home, env={"FINCERT_LOG_LEVEL": "DEBUG"})
    assert result.returncode == 0, result.stderr
    assert_absent(result.stdout.encode() + result.stderr.encode(), "CLI output")
    for path in home.iterdir():
        if path.name.startswith("fincert.db"):
            assert_absent(path.read_bytes(), path.name)
    assert_absent(caplog.text.encode(), "log output")


def test_postgresql_dump(tmp_path, postgres_url, caplog):
    caplog.set_level(logging.DEBUG)
    runtime = open_runtime(Settings(home=tmp_path / "h", database_url=postgres_url, ca_passphrase="pii-test-passphrase"), clock=FakeClock())
    runtime.initialize()
    register_everywhere(runtime)
    runtime.close()
    parts = urlsplit(postgres_url.replace("postgresql+psycopg", "postgresql"))
    dump = subprocess.run(
        ["pg_dump", "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432), "-U", parts.username or "postgres", parts.path.lstrip("/")],
        capture_output=True, timeout=120, check=True,
    ).stdout
    assert b"CREATE TABLE public.members" in dump and b"COPY public.members" in dump
    assert_absent(dump, "pg_dump")
    assert_absent(caplog.text.encode(), "log output")
