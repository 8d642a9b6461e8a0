"""`--help` of every command: every command and every parameter says what it is for."""

from __future__ import annotations

import typer.main
from typer.testing import CliRunner

from fincert.cli.main import app


def _commands(command, path=()):
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def test_every_command_and_parameter_has_help():
    missing = []
    for path, command in _commands(typer.main.get_command(app)):
        if path and not (command.help or "").strip():
            missing.append(" ".join(path))
        for param in command.params:
            if param.name != "help" and not (getattr(param, "help", None) or "").strip():
                missing.append(f"{' '.join(path)} {param.opts[0] if param.opts else param.name}")
    # Used to be bare: serve --host, operator add USERNAME/--institution, member register
    # --name/--phone/--email, cert issue/reissue --product, the SERIAL of cert revoke/show/register.
    assert missing == []


def _help(path) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, (path, result.output, result.exception)
    assert "Usage" in result.stdout
    return " ".join(result.stdout.split())


def test_help_of_every_command_renders():
    for path, _command in _commands(typer.main.get_command(app)):
        _help(path)


def test_upkeep_and_renew_help_are_accurate():
    # It said "(off when another process runs it)", as if the responder noticed by itself.
    assert "pass --no-upkeep when another process" in _help(["ocsp", "serve"])
    # It described a new password's rules; renew asks for the current key file's password.
    renew = _help(["cert", "renew"])
    assert "Password of the current key file" in renew and "10+ chars" not in renew
