"""`fincert member register --name` with a control character: one stderr line, nothing written."""

from __future__ import annotations

import json


def test_register_refuses_a_name_with_a_line_break_and_writes_nothing(cli, tmp_path):
    home = tmp_path / "home"
    assert cli(["init", "--demo"], home).returncode == 0
    records_before = json.loads(cli(["audit", "verify", "--json"], home).stdout)["records"]
    refused = cli(["member", "register", "--institution", "HANBIT", "--name", "a\nb", "--rrn", "900101-1234567",
                   "--phone", "010-1234-5678", "--email", "h@example.com", "--json"], home)
    assert refused.returncode == 1 and refused.stdout == ""
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("fincert: error: name must not contain line breaks"), refused.stderr
    assert "1234567" not in refused.stderr
    assert cli(["member", "show", "1"], home).returncode == 1  # no member row
    after = json.loads(cli(["audit", "verify", "--json"], home).stdout)
    assert after["ok"] and after["records"] == records_before  # no audit record

    ok = cli(["member", "register", "--institution", "HANBIT", "--name", "홍 길동", "--rrn", "900101-1234567",
              "--phone", "010-1234-5678", "--email", "h@example.com", "--json"], home)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["name"] == "홍 길동" and json.loads(ok.stdout)["member_id"] == 1
