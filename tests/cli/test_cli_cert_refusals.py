"""`fincert cert` refusals found by driving the commands as an operator and a holder would: each
is one line on stderr, said before anything is changed (no certificate signed, no application
opened, no code spent). Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from both_databases import cli  # noqa: F401 - every test on SQLite and on PostgreSQL

PASSWORD = "Passw0rd!23"
SHORT = {"FINCERT_JOINT_VALIDITY_DAYS": "20"}


@pytest.fixture
def home(cli, tmp_path):
    home = tmp_path / "home"
    assert cli(["init", "--demo"], home).returncode == 0
    for code in ("HANBIT", "NURI"):
        assert cli(["member", "register", "--institution", code, "--name", "홍길동", "--rrn", "900101-1234567",
                    "--phone", "010-1234-5678", "--email", "hong@example.com"], home).returncode == 0
    for member in ("1", "2"):
        (tmp_path / f"card{member}.json").write_text(cli(["member", "enroll", member, "--method", "security-card", "--json"], home).stdout)
    return home


def run_json(cli, args, home, **kw):
    result = cli([*args, "--json"], home, **kw)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def one_line_error(result) -> str:
    assert result.returncode == 1 and result.stdout == "", (result.returncode, result.stdout, result.stderr)
    (line,) = result.stderr.splitlines()
    assert line.startswith("fincert: error: ") and "internal error" not in line
    return line


def audit_records(cli, home) -> int:
    return run_json(cli, ["audit", "verify"], home)["records"]


def sms_code(cli, home, member: str = "1") -> str:
    (message, *_) = run_json(cli, ["member", "outbox", member], home)["messages"]
    return re.search(r"\[(\d{6})\]", message["text"]).group(1)


def test_reissuing_a_certificate_already_replaced_names_the_one_to_reissue_and_signs_nothing(cli, home, tmp_path):
    """It used to verify the holder, have the CA sign (a `failed` certificate), and then say
    "another request replaced this certificate first"."""
    card, usb = str(tmp_path / "card1.json"), str(tmp_path / "usb")
    first = run_json(cli, ["cert", "issue", "1", "--product", "joint", "--security-card", card, "--storage", "file",
                           "--out", usb, "--password", PASSWORD], home, env=SHORT)
    folder = str(Path(first["files"][0]).parent)
    second = run_json(cli, ["cert", "renew", "--key-dir", folder, "--password", PASSWORD], home, env=SHORT)
    third = run_json(cli, ["cert", "renew", "--key-dir", folder, "--password", PASSWORD], home, env=SHORT)
    assert cli(["member", "send-code", "1"], home).returncode == 0
    code = sms_code(cli, home)
    records = audit_records(cli, home)
    storage = ["--storage", "file", "--out", usb, "--password", PASSWORD]
    line = one_line_error(cli(["cert", "reissue", "1", "--product", "joint", "--serial", first["serial"], "--security-card", card,
                               "--sms-code", code, *storage], home))
    assert f"certificate {first['serial']} is not active: it was already replaced by {second['serial']}" in line
    assert f"reissue {third['serial']} instead" in line
    assert audit_records(cli, home) == records  # no application, no reserved or failed certificate
    # The code was not spent: the reissue the message points to goes through with it.
    reissued = run_json(cli, ["cert", "reissue", "1", "--product", "joint", "--serial", third["serial"], "--security-card", card,
                              "--sms-code", code, *storage], home)
    assert reissued["replaced"] == third["serial"]


def test_registering_at_the_issuing_institution_or_twice_is_refused_by_name(cli, home, tmp_path):
    issued = run_json(cli, ["cert", "issue", "1", "--security-card", str(tmp_path / "card1.json"), "--storage", "cloud",
                            "--pin", "482916"], home)
    own = one_line_error(cli(["cert", "register", issued["serial"], "--institution", "HANBIT", "--security-card",
                              str(tmp_path / "card1.json")], home))
    assert f"certificate {issued['serial']} was issued through this institution" in own
    registered = run_json(cli, ["cert", "register", issued["serial"], "--institution", "nuri", "--security-card",
                                str(tmp_path / "card2.json")], home)
    assert (registered["institution"], registered["member_id"]) == ("NURI", 2)
    twice = one_line_error(cli(["cert", "register", issued["serial"], "--institution", "NURI", "--security-card",
                                str(tmp_path / "card2.json")], home))
    assert "already usable at this institution" in twice
    assert [c["registered_at"] for c in run_json(cli, ["cert", "list", "--member", "2"], home)["certificates"]] == [["NURI"]]


def test_an_out_folder_that_is_a_loop_of_links_is_refused_before_issuing(cli, home, tmp_path):
    """It passed the check as a folder still to be created; after the CA had signed, resolving it
    failed as "internal error (RuntimeError)", leaving an active certificate whose key was lost."""
    loop = tmp_path / "loop"
    os.symlink(loop, loop)
    for out in (loop, loop / "sub"):
        line = one_line_error(cli(["cert", "issue", "1", "--product", "joint", "--security-card", str(tmp_path / "card1.json"),
                                   "--storage", "file", "--out", str(out), "--password", PASSWORD], home))
        assert f"--out {out} goes through a loop of symbolic links" in line
    assert run_json(cli, ["cert", "list", "--member", "1"], home)["certificates"] == []


def test_an_identity_method_not_enrolled_or_locked_is_said_before_an_application_is_opened(cli, home, tmp_path):
    issue = ["cert", "issue", "1", "--product", "joint", "--storage", "cloud", "--pin", "482916"]
    records = audit_records(cli, home)
    assert "member 1 has no otp enrolled" in one_line_error(cli([*issue, "--otp", "123456"], home))
    assert audit_records(cli, home) == records
    # Five wrong card answers lock the card (each a real attempt, audited); the sixth run is
    # refused by name before it opens anything.
    card = json.loads((tmp_path / "card1.json").read_text())
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({**card, "cells": {label: f"{(int(v) + 1) % 10000:04d}" for label, v in card["cells"].items()}}))
    for _ in range(5):
        assert cli([*issue, "--security-card", str(wrong)], home).returncode == 1
    records = audit_records(cli, home)
    line = one_line_error(cli([*issue, "--security-card", str(tmp_path / "card1.json")], home))
    assert "member 1's security-card is locked" in line
    assert audit_records(cli, home) == records


def test_the_readable_list_says_why_a_certificate_cannot_be_used(cli, home, tmp_path):
    card = str(tmp_path / "card1.json")
    held = run_json(cli, ["cert", "issue", "1", "--product", "joint", "--security-card", card, "--storage", "cloud", "--pin", "482916"], home)
    assert cli(["cert", "revoke", held["serial"], "--reason", "certificateHold"], home).returncode == 0
    listed = cli(["cert", "list", "--member", "1"], home)
    assert listed.returncode == 0, listed.stderr
    (line,) = listed.stdout.splitlines()
    assert line.startswith(f"{held['serial']}  joint") and " revoked " in line and line.endswith("(certificateHold)")
