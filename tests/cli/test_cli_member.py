"""``fincert member`` and ``fincert operator`` as an institution's administrator uses them, on the
embedded default (SQLite) and on PostgreSQL."""

from __future__ import annotations

import json
import re

from both_databases import cli  # noqa: F401 - every test on SQLite and on PostgreSQL


def test_register_enroll_show(cli, tmp_path):
    home = tmp_path / "home"
    assert cli(["init", "--demo"], home).returncode == 0
    reg = cli(["member", "register", "--institution", "HANBIT", "--name", "홍길동", "--rrn", "900101-1234567",
               "--phone", "010-1234-5678", "--email", "hong@example.com", "--json"], home)
    assert reg.returncode == 0, reg.stderr
    member_id = json.loads(reg.stdout)["member_id"]
    otp = json.loads(cli(["member", "enroll", str(member_id), "--method", "otp", "--json"], home).stdout)
    assert otp["method"] == "otp" and len(otp["secret"]) >= 16 and otp["uri"].startswith("otpauth://totp/")
    card = json.loads(cli(["member", "enroll", str(member_id), "--method", "security-card", "--json"], home).stdout)
    assert card["method"] == "security-card" and sorted(card["cells"]) == [f"{i:02d}" for i in range(1, 36)]
    shown = cli(["member", "show", str(member_id), "--json"], home)
    data = json.loads(shown.stdout)
    assert data["rrn"] == "900101-1******" and "1234567" not in shown.stdout
    assert data["methods"]["otp"] == "active" and data["methods"]["security-card"] == "active"
    op = json.loads(cli(["operator", "add", "alice", "--institution", "HANBIT", "--json"], home).stdout)
    assert op["token"].startswith("fop_")


def test_mistakes_are_one_line(cli, tmp_path):
    home = tmp_path / "home"
    assert cli(["init", "--demo"], home).returncode == 0
    for args in (
        ["member", "register", "--institution", "HANBIT", "--name", "홍길동", "--rrn", "901301-1234567", "--phone", "010-1234-5678", "--email", "h@example.com"],
        ["member", "register", "--institution", "NOPE", "--name", "홍길동", "--rrn", "900101-1234567", "--phone", "010-1234-5678", "--email", "h@example.com"],
        ["member", "enroll", "999", "--method", "otp"],
        ["member", "enroll", "1", "--method", "fingerprint"],
        ["member", "show", "abc"],
    ):
        result = cli(args, home)
        assert result.returncode != 0
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("fincert: error:"), (args, result.stderr)
        assert "901301" not in result.stderr and "1234567" not in result.stderr


def test_the_code_sent_for_a_reissue_can_be_read_from_the_outbox(cli, tmp_path):
    """Without a message gateway (the development default) `member send-code` keeps the message
    in the outbox; `member outbox` is how a CLI user reads the code `cert reissue --sms-code` needs."""
    home = tmp_path / "home"
    assert cli(["init", "--demo"], home).returncode == 0
    reg = cli(["member", "register", "--institution", "HANBIT", "--name", "홍길동", "--rrn", "900101-1234567",
               "--phone", "010-1234-5678", "--email", "hong@example.com", "--json"], home)
    member_id = str(json.loads(reg.stdout)["member_id"])
    empty = cli(["member", "outbox", member_id, "--json"], home)
    assert empty.returncode == 0 and json.loads(empty.stdout) == {"member_id": int(member_id), "messages": []}

    sent = cli(["member", "send-code", member_id], home)
    assert sent.returncode == 0 and f"fincert member outbox {member_id}" in sent.stdout
    messages = json.loads(cli(["member", "outbox", member_id, "--json"], home).stdout)["messages"]
    assert len(messages) == 1 and messages[0]["channel"] == "sms"
    assert re.search(r"\[(\d{6})\]", messages[0]["text"])

    unknown = cli(["member", "outbox", "999"], home)
    assert unknown.returncode != 0 and len(unknown.stderr.strip().splitlines()) == 1
    gateway = cli(["member", "outbox", member_id], home, env={
        "FINCERT_MESSAGE_SENDER": "webhook", "FINCERT_MESSAGE_WEBHOOK_URL": "http://127.0.0.1:9/hook",
    })
    assert gateway.returncode != 0 and "gateway" in gateway.stderr and "Traceback" not in gateway.stderr
