"""Every command closes its runtime, however its body ends; errors still reach the edge unchanged.

The runtime opener is replaced by a fake whose services raise on any call, so these run in-process
in milliseconds, without a database.
"""

from __future__ import annotations

import sys

import pytest
import typer
from typer.testing import CliRunner

from fincert.cli import main
from fincert.errors import NotFound


class _Raises:
    """Any attribute chain on it (``rt.va.ocsp.refresh``) ends in a call that raises ``error``."""

    def __init__(self, error: BaseException) -> None:
        self._error = error

    def __getattr__(self, name: str) -> _Raises:
        return self

    def __call__(self, *args: object, **kwargs: object) -> None:
        raise self._error


class FakeRuntime:
    def __init__(self, error: BaseException) -> None:
        self.closed = 0
        self._services = _Raises(error)

    def close(self) -> None:
        self.closed += 1

    def __getattr__(self, name: str) -> _Raises:  # rt.institutions, rt.registrar, rt.lifecycle, rt.va, ...
        return self._services


@pytest.fixture
def fake_runtime(monkeypatch):
    made: list[FakeRuntime] = []

    def install(error: BaseException) -> list[FakeRuntime]:
        def opener() -> FakeRuntime:
            made.append(FakeRuntime(error))
            return made[-1]

        monkeypatch.setattr(main, "runtime", opener)
        return made

    return install


COMMANDS = {
    "init": ["init", "--json"],
    "institution list": ["institution", "list", "--json"],
    "member show": ["member", "show", "7", "--json"],
    "operator add": ["operator", "add", "alice", "--institution", "HANBIT", "--json"],
    "cert show": ["cert", "show", "abc123", "--json"],
    "cert revoke": ["cert", "revoke", "abc123", "--reason", "superseded", "--json"],
    "notify-expiring": ["notify-expiring", "--json"],
    "verify": ["verify", "--signature", "{signature}", "--json"],
    "crl": ["crl", "--json"],
    "ocsp refresh": ["ocsp", "refresh", "--json"],
}
ERRORS = {
    "domain error": lambda: NotFound("no such thing"),
    "unexpected error": lambda: RuntimeError("boom"),
    "typer.Exit": lambda: typer.Exit(4),
}


@pytest.mark.parametrize("error_name", ERRORS)
@pytest.mark.parametrize("command", COMMANDS)
def test_runtime_closed_when_the_body_raises(fake_runtime, tmp_path, command, error_name):
    error = ERRORS[error_name]()
    made = fake_runtime(error)
    signature = tmp_path / "doc.sig"
    signature.write_bytes(b"0")
    args = [arg.format(signature=signature) for arg in COMMANDS[command]]

    result = CliRunner().invoke(main.app, args)

    assert len(made) == 1, (result.output, result.exception)
    assert made[0].closed == 1
    if isinstance(error, typer.Exit):
        assert result.exit_code == 4
    else:
        assert result.exception is error  # passed through to the edge, not swallowed or rewrapped


def test_runtime_closed_on_success(fake_runtime, monkeypatch):
    made = fake_runtime(AssertionError("unused"))
    monkeypatch.setattr(FakeRuntime, "institutions", type("Institutions", (), {"list": staticmethod(lambda: [])})(), raising=False)

    result = CliRunner().invoke(main.app, ["institution", "list", "--json"])

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == '{"institutions": []}'
    assert made[0].closed == 1


def test_domain_error_is_one_line_at_the_edge_and_runtime_closed(fake_runtime, monkeypatch, capsys):
    made = fake_runtime(NotFound("member 7 does not exist"))
    monkeypatch.setattr(sys, "argv", ["fincert", "member", "show", "7"])

    with pytest.raises(SystemExit) as exit_info:
        main.run()

    assert exit_info.value.code == 1
    captured = capsys.readouterr()
    assert captured.err == "fincert: error: member 7 does not exist\n"
    assert captured.out == ""
    assert made[0].closed == 1
