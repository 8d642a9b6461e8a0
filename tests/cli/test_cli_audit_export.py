"""`fincert audit export` and `audit verify --file`: the chain as JSON Lines an auditor checks
without the database, every hash recomputed from its record alone."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import update

from fincert.config import Settings
from fincert.runtime import open_runtime
from fincert.storage import audit
from fincert.storage.models import AuditHead, AuditRecord


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A home whose chain holds the CA's records and 400 more (past a pipe's buffer)."""
    home = tmp_path_factory.mktemp("audit-export") / "home"
    rt = open_runtime(Settings(home=home, log_level="WARNING"))
    try:
        rt.initialize()
        now = dt.datetime.now(dt.timezone.utc)
        for batch in range(4):
            with rt.db.transaction() as session:
                for n in range(100):
                    audit.append(session, action="test.recorded", actor="test", subject_type="test",
                                 subject_id=f"{batch}-{n}", now=now, details={"n": n, "text": "한빛은행 감사"})
    finally:
        rt.close()
    return home


def head_of(home):
    rt = open_runtime(Settings(home=home, log_level="WARNING"))
    try:
        with rt.db.reader() as session:
            head = session.get(AuditHead, 1)
            return head.seq, head.hash
    finally:
        rt.close()


def run_json(cli, args, home, **kw):
    result = cli(args, home, **kw)
    return result, (json.loads(result.stdout) if result.stdout.strip() else None)


def test_an_export_verifies_alone_and_ends_at_the_live_head(cli, home, tmp_path):
    exported = cli(["audit", "export"], home)
    assert exported.returncode == 0, exported.stderr
    lines = exported.stdout.splitlines()
    seq, head_hash = head_of(home)
    assert len(lines) == seq >= 402
    first = json.loads(lines[0])
    assert set(first) == {*audit.HASHED_FIELDS, "hash"} and first["seq"] == 1 and first["prev_hash"] == "0" * 64

    path = tmp_path / "audit.jsonl"
    written = cli(["audit", "export", "--out", str(path)], home)
    assert written.returncode == 0 and path.read_text() == exported.stdout
    result, report = run_json(cli, ["audit", "verify", "--file", str(path), "--json"], home)
    assert result.returncode == 0, result.stderr
    assert report == {"ok": True, "records": seq, "first_seq": 1, "last_seq": seq, "head_hash": head_hash,
                      "first_broken_seq": None, "problem": None}

    # A later slice verifies from its first record's link, and still ends at the head.
    tail = tmp_path / "tail.jsonl"
    assert cli(["audit", "export", "--after", "300", "--out", str(tail)], home).returncode == 0
    _, report = run_json(cli, ["audit", "verify", "--file", str(tail), "--json"], home)
    assert report["ok"] and report["first_seq"] == 301 and report["head_hash"] == head_hash


@pytest.mark.parametrize(
    ("change", "broken_seq", "problem"),
    [
        (lambda lines: lines[:9] + [lines[9].replace("한빛은행", "누리은행")] + lines[10:], 10, "does not match its hash"),
        (lambda lines: lines[:9] + lines[10:], 11, "sequence gap"),
        (lambda lines: lines[:9] + [lines[10], lines[9]] + lines[11:], 11, "sequence gap"),
    ],
    ids=["edited", "removed", "swapped"],
)
def test_a_changed_export_names_the_first_broken_record(cli, home, tmp_path, change, broken_seq, problem):
    lines = cli(["audit", "export"], home).stdout.splitlines()
    assert "한빛은행" in lines[9]
    path = tmp_path / "changed.jsonl"
    path.write_text("\n".join(change(lines)) + "\n")
    result, report = run_json(cli, ["audit", "verify", "--file", str(path), "--json"], home)
    assert result.returncode == 1
    assert report["ok"] is False and report["first_broken_seq"] == broken_seq and problem in report["problem"]


def test_a_record_changed_in_the_database_fails_live_and_in_its_export(cli, tmp_path):
    home = tmp_path / "home"
    assert cli(["init", "--demo"], home).returncode == 0
    rt = open_runtime(Settings(home=home, log_level="WARNING"))
    try:
        with rt.db.transaction() as session:
            session.execute(update(AuditRecord).where(AuditRecord.seq == 2).values(actor="someone else"))
    finally:
        rt.close()
    assert cli(["audit", "verify"], home).returncode == 1
    path = tmp_path / "audit.jsonl"
    assert cli(["audit", "export", "--out", str(path)], home).returncode == 0
    result, report = run_json(cli, ["audit", "verify", "--file", str(path), "--json"], home)
    assert result.returncode == 1 and report["first_broken_seq"] == 2


def test_what_is_not_an_export_is_one_line(cli, home, tmp_path):
    garbage = tmp_path / "garbage"
    garbage.write_bytes(os.urandom(64) + b"\xff")
    for path, words in ((garbage, "is not UTF-8 text"), (tmp_path / "absent.jsonl", "does not exist")):
        result = cli(["audit", "verify", "--file", str(path)], home)
        assert result.returncode == 1 and result.stderr.count("\n") == 1 and words in result.stderr, result.stderr
    text = tmp_path / "text.jsonl"
    text.write_text('{"seq": 1}\n[1, 2]\n')
    result = cli(["audit", "verify", "--file", str(text)], home)
    assert result.returncode == 1 and "line 2 is not a JSON object" in result.stderr
    assert cli(["audit", "export", "--out", str(home / "fincert.db")], home).returncode == 1


def test_a_reader_that_stops_early_gets_no_traceback(home):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINCERT_")}
    env.update(FINCERT_HOME=str(home), FINCERT_LOG_LEVEL="WARNING")
    result = subprocess.run(f"{sys.executable} -m fincert audit export | head -c 100 > /dev/null; echo ${{PIPESTATUS[0]}}",
                            shell=True, executable="/bin/bash", capture_output=True, text=True, env=env, timeout=120)
    assert "Traceback" not in result.stderr and "Error" not in result.stderr, result.stderr
    assert result.stdout.strip() == "1"
