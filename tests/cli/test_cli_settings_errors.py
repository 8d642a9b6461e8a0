"""A malformed FINCERT_MASTER_KEY is refused when the settings are read, by every command, in one
line that names the variable and never shows its value."""

from __future__ import annotations

import base64
import json

import pydantic
import pytest

from fincert.config import Settings

GOOD_KEY = base64.b64encode(bytes(range(32))).decode()
BAD_KEYS = {
    "not base64": "hunter2-is-my-master-key!",
    "31 bytes": base64.b64encode(bytes(range(31))).decode(),
    "33 bytes": base64.b64encode(bytes(range(33))).decode(),
    "hex": bytes(range(32)).hex(),
    "empty": "",
}


@pytest.mark.parametrize("value", BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_settings_refuse_a_malformed_master_key_without_quoting_it(tmp_path, value):
    with pytest.raises(pydantic.ValidationError) as refused:
        Settings(home=tmp_path, master_key=value)
    assert [error["loc"] for error in refused.value.errors()] == [("master_key",)]
    if value:
        assert value not in str(refused.value)


def test_settings_accept_a_good_key_and_the_generated_default(tmp_path):
    assert Settings(home=tmp_path, master_key=GOOD_KEY).master_key_bytes() == bytes(range(32))
    generated = Settings(home=tmp_path / "dev")
    key = generated.master_key_bytes()
    assert len(key) == 32 and generated.master_key_bytes() == key  # written once, then reused
    path = tmp_path / "dev" / "secrets" / "master_key"
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_corrupt_development_key_file_is_named_not_the_variable(tmp_path):
    settings = Settings(home=tmp_path)
    (tmp_path / "secrets").mkdir(mode=0o700)
    (tmp_path / "secrets" / "master_key").write_text("c2hvcnQ=\n")
    from fincert.errors import ConfigurationError

    with pytest.raises(ConfigurationError) as refused:
        settings.master_key_bytes()
    assert "master key file" in refused.value.detail and "c2hvcnQ" not in refused.value.detail


def test_commands_report_the_variable_in_one_line(cli, tmp_path):
    home = tmp_path / "home"
    assert cli(["init", "--demo"], home).returncode == 0
    # Before: `institution list` worked and only commands touching personal data failed.
    for value in (BAD_KEYS["not base64"], BAD_KEYS["31 bytes"]):
        for command in (["institution", "list", "--json"], ["member", "show", "1"], ["audit", "verify"]):
            result = cli(command, home, env={"FINCERT_MASTER_KEY": value})
            assert result.returncode == 1 and result.stdout == "", (command, result.stdout)
            lines = [line for line in result.stderr.splitlines() if line.strip()]
            assert lines == ["fincert: error: invalid setting FINCERT_MASTER_KEY: must be 32 bytes in base64"], result.stderr
            assert value not in result.stderr


def test_development_default_still_works_end_to_end(cli, tmp_path):
    home = tmp_path / "home"
    assert cli(["init", "--demo"], home).returncode == 0
    registered = cli(["member", "register", "--institution", "HANBIT", "--name", "홍길동", "--rrn", "900101-1234567",
                      "--phone", "010-1234-5678", "--email", "h@example.com", "--json"], home)
    assert registered.returncode == 0, registered.stderr
    shown = cli(["member", "show", str(json.loads(registered.stdout)["member_id"]), "--json"], home)
    assert shown.returncode == 0 and json.loads(shown.stdout)["rrn"] == "900101-1******"
    with_key = cli(["institution", "list", "--json"], home, env={"FINCERT_MASTER_KEY": GOOD_KEY})
    assert with_key.returncode == 0, with_key.stderr
