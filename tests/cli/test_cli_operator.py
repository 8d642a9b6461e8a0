"""``fincert operator``: operators made on the command line can log in to the console.

Regression: ``operator add`` gave an API token only, so an operator it created had no console
password and ``/console/login`` always answered 401 (only demo mode made console operators).
"""

from __future__ import annotations

import json

import pytest

from fincert.config import Settings
from fincert.errors import Locked, Unauthorized
from fincert.runtime import open_runtime

PASSWORD = "console-pass-2026"


@pytest.fixture
def home(cli, tmp_path):
    home = tmp_path / "home"
    assert cli(["init", "--demo"], home).returncode == 0
    return home


def _login(home, username: str, password: str, address: str = "192.0.2.7"):
    rt = open_runtime(Settings(home=home, log_level="WARNING"))
    try:
        return rt.registrar.authenticate_operator_password(username, password, address=address)
    finally:
        rt.close()


def _audit_actions(home) -> list[str]:
    rt = open_runtime(Settings(home=home, log_level="WARNING"))
    try:
        institution = next(i for i in rt.institutions.list() if i.code == "HANBIT")
        return [r["action"] for r in rt.registrar.institution_audit(institution.id, limit=1000)]
    finally:
        rt.close()


def test_an_operator_added_with_a_password_logs_in_to_the_console(cli, home):
    added = cli(["operator", "add", "alice", "--institution", "HANBIT", "--password-stdin", "--json"], home, input=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    data = json.loads(added.stdout)
    assert data["token"].startswith("fop_") and data["console"] is True and PASSWORD not in added.stdout
    principal = _login(home, "alice", PASSWORD)
    assert principal.username == "alice" and principal.institution_code == "HANBIT"
    with pytest.raises(Unauthorized):
        _login(home, "alice", PASSWORD + "x")
    assert {"operator.logged-in", "operator.login-failed"} <= set(_audit_actions(home))


def test_an_operator_without_a_password_is_told_how_to_set_one(cli, home):
    added = cli(["operator", "add", "bob", "--institution", "HANBIT"], home)
    assert added.returncode == 0 and "fincert operator set-password" in added.stdout
    with pytest.raises(Unauthorized):
        _login(home, "bob", PASSWORD)
    assert cli(["operator", "set-password", "bob", "--password-stdin"], home, input=PASSWORD + "\n").returncode == 0
    assert _login(home, "bob", PASSWORD).username == "bob"
    assert "operator.password-set" in _audit_actions(home)


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["operator", "add", "carol", "--institution", "HANBIT", "--password-stdin"], "short\n", "at least 12"),
        (["operator", "add", "carol", "--institution", "HANBIT", "--password-stdin"], "", "nothing on standard input"),
        (["operator", "set-password", "carol"], None, "--password-stdin"),
        (["operator", "set-password", "nobody", "--password-stdin"], PASSWORD + "\n", "no operator nobody"),
    ],
)
def test_mistakes_are_one_line_and_create_nothing(cli, home, args, stdin, message):
    result = cli(args, home, input=stdin)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("fincert: error:") and message in lines[0], result.stderr
    # carol was not created: the name is still free.
    assert cli(["operator", "add", "carol", "--institution", "HANBIT"], home).returncode == 0


def test_console_logins_are_throttled(cli, home):
    assert cli(["operator", "add", "dave", "--institution", "HANBIT", "--password-stdin"], home, input=PASSWORD + "\n").returncode == 0
    rt = open_runtime(Settings(home=home, log_level="WARNING"))
    try:
        refused = None
        for _ in range(30):
            try:
                rt.registrar.authenticate_operator_password("dave", "wrong-password-1", address="192.0.2.9")
            except Unauthorized:
                continue
            except Locked as exc:
                refused = exc
                break
        assert refused is not None, "30 wrong console passwords in a row were never throttled"
        # The right password is refused too while the window lasts.
        with pytest.raises(Locked):
            rt.registrar.authenticate_operator_password("dave", PASSWORD, address="192.0.2.9")
    finally:
        rt.close()


def test_operator_names_that_differ_only_in_case_are_one_name(cli, home):
    assert cli(["operator", "add", "alice", "--institution", "HANBIT"], home).returncode == 0
    taken = cli(["operator", "add", "Alice", "--institution", "NURI"], home)
    assert taken.returncode == 1 and "operator Alice already exists" in taken.stderr


def test_an_institution_added_on_the_command_line_is_audited_as_the_cli(cli, home):
    assert cli(["institution", "add", "SAEROM", "--name", "새롬은행"], home).returncode == 0
    rt = open_runtime(Settings(home=home, log_level="WARNING"))
    try:
        institution = next(i for i in rt.institutions.list() if i.code == "SAEROM")
        (added,) = [r for r in rt.registrar.institution_audit(institution.id, limit=10) if r["action"] == "institution.added"]
        assert added["actor"] == "cli"
    finally:
        rt.close()
