"""``fincert`` at a terminal: what a command asks for when a person, not a script, runs it.

Runs on the embedded default only: what is asked, and where, does not depend on the database."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time

PASSWORD = "Passw0rd!23"


def _in_terminal(args: list[str], home, answer) -> tuple[int, str, str]:
    """Run ``fincert`` with a terminal (a pty) as stdin and stderr, as a person at a keyboard:
    once the prompt shows, ``answer(prompt)`` is typed. Returns (exit code, stdout, terminal)."""
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINCERT_")}
    env.update({"FINCERT_HOME": str(home), "FINCERT_LOG_LEVEL": "WARNING"})
    process = subprocess.Popen([sys.executable, "-m", "fincert", *args], stdin=slave, stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    shown, answered, deadline = b"", False, time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the command ended and closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        if not answered and shown.rstrip().endswith(b":"):
            os.write(master, (answer(shown.decode()) + "\n").encode())
            answered = True
        if process.poll() is not None and not ready:
            break
    stdout = process.communicate(timeout=120)[0].decode()
    os.close(master)
    return process.returncode, stdout, shown.decode()


def test_reissue_in_a_terminal_sends_the_code_and_asks_for_it(cli, tmp_path):
    """Without --sms-code, in a terminal: the code goes to the registered phone and the command
    asks for it (the prompt on the terminal, the JSON report alone on stdout)."""
    home = tmp_path / "home"
    assert cli(["init", "--demo"], home).returncode == 0
    assert cli(["member", "register", "--institution", "HANBIT", "--name", "홍길동", "--rrn", "900101-1234567",
                "--phone", "010-1234-5678", "--email", "hong@example.com"], home).returncode == 0
    (tmp_path / "card.json").write_text(cli(["member", "enroll", "1", "--method", "security-card", "--json"], home).stdout)
    storage = ["--storage", "file", "--out", str(tmp_path / "usb"), "--password", PASSWORD]
    first = json.loads(cli(["cert", "issue", "1", "--security-card", str(tmp_path / "card.json"), *storage, "--json"], home).stdout)

    code, stdout, terminal = _in_terminal(
        ["cert", "reissue", "1", "--security-card", str(tmp_path / "card.json"), *storage, "--json"], home,
        lambda prompt: re.search(r"\[(\d{6})\]", json.loads(cli(["member", "outbox", "1", "--json"], home).stdout)["messages"][0]["text"]).group(1),
    )
    assert code == 0, terminal
    assert "Code sent by SMS to 010-" in terminal and "5678" in terminal
    assert json.loads(stdout)["replaced"] == first["serial"]
