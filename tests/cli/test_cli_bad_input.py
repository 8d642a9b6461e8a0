"""Bad input on every command: one line on stderr naming the problem, a non-zero exit, no
traceback, no secret echoed, and nothing changed (no rows, no audit records, no files)."""

from __future__ import annotations

import errno
import json
import os
import socket
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fincert.config import Settings
from fincert.formats.npki import npki_cert_dir
from fincert.runtime import open_runtime

PASSWORD = "Passw0rd!23"
PIN = "482916"
RRNS = {"issue": "900101-1234567", "renew": "880808-2345678", "write": "770707-1234567", "interrupt": "660606-1234567"}


def one_line_error(result, *, exit_code: int = 1) -> str:
    """The single stderr line of a failed command (and nothing on stdout, even with --json)."""
    assert result.returncode == exit_code, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("fincert: error: "), lines
    assert "internal error" not in lines[0] and "Traceback" not in result.stderr
    assert result.stdout == ""
    return lines[0]


def audit_records(home: Path) -> int:
    with sqlite3.connect(home / "fincert.db") as conn:
        return conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0]


def count(home: Path, sql: str, *params: object) -> int:
    with sqlite3.connect(home / "fincert.db") as conn:
        return conn.execute(sql, params).fetchone()[0]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """An initialised home with one member per scenario, each with a security card on file."""
    base = tmp_path_factory.mktemp("bad-input")
    home = base / "home"
    rt = open_runtime(Settings(home=home, log_level="WARNING"))
    members: dict[str, int] = {}
    try:
        rt.initialize()
        rt.institutions.ensure_samples()
        for name, rrn in RRNS.items():
            view = rt.registrar.register_member(
                "HANBIT", name="홍길동", rrn=rrn, phone="010-1234-5678", email="hong@example.com", actor="test"
            )
            members[name] = view.id
            card = rt.registrar.enroll(view.id, "security-card", actor="test")
            (base / f"card-{name}.json").write_text(json.dumps(card))
    finally:
        rt.close()
    return {"home": home, "base": base, "members": members}


# -- usage mistakes: Typer's own errors, before any runtime ------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["member", "enroll", "abc", "--method", "otp", "--json"], "Invalid value for 'member_id'"),
        (["member", "show", "99999999999999999999999"], "less than or equal to"),
        (["cert", "list", "--member", "0", "--json"], "greater than or equal to 1"),
        (["ocsp", "serve", "--port", "70000"], "--port"),
        (["ocsp", "serve", "--workers", "0"], "--workers"),
        (["serve", "--port", "70000"], "--port"),
        (["member", "show", "1", "--bogus"], "No such option: --bogus"),
        (["member", "enroll", "1"], "Missing option '--method'"),
        (["no-such-command"], "No such command"),
    ],
)
def test_usage_mistakes_name_the_problem(cli, tmp_path, args, message):
    # Typer vendors its own Click: its errors used to end as "internal error (BadParameter)", exit 3.
    line = one_line_error(cli(args, tmp_path / "home"), exit_code=2)
    assert message in line
    assert not (tmp_path / "home").exists()


def test_group_without_command_prints_help_not_an_error(cli, tmp_path):
    result = cli(["member"], tmp_path / "home")
    assert result.returncode == 2
    assert "internal error" not in result.stderr and "Usage" in result.stdout


# -- the deployment: home, settings, database ----------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [["institution", "list", "--json"], ["member", "show", "1"], ["notify-expiring", "--json"], ["ocsp", "serve", "--port", "0"]],
)
def test_uninitialised_home_is_refused_and_left_alone(cli, tmp_path, args):
    home = tmp_path / "never-initialised"
    line = one_line_error(cli(args, home))
    assert "not initialised" in line and "fincert init" in line
    assert not home.exists()  # no database, no generated secrets


def test_empty_database_url_is_refused_and_left_empty(cli, tmp_path, postgres_url):
    """An explicit FINCERT_DATABASE_URL that holds no CA: refused before the schema is created."""
    import psycopg

    home = tmp_path / "home"
    line = one_line_error(cli(["institution", "list", "--json"], home, env={"FINCERT_DATABASE_URL": postgres_url}))
    assert "not initialised" in line and "fincert init" in line
    with psycopg.connect(postgres_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        tables = conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'").fetchone()
    assert tables == (0,)
    assert cli(["init", "--json"], home, env={"FINCERT_DATABASE_URL": postgres_url}).returncode == 0
    listed = cli(["institution", "list", "--json"], home, env={"FINCERT_DATABASE_URL": postgres_url})
    assert listed.returncode == 0, listed.stderr


def test_home_that_is_a_file(cli, tmp_path):
    home = tmp_path / "file"
    home.write_text("x")
    for args in (["init"], ["institution", "list"]):
        assert "is a file, not a folder" in one_line_error(cli(args, home))


def test_database_url_unreachable_or_malformed(cli, tmp_path):
    home = tmp_path / "home"
    unreachable = cli(["institution", "list", "--json"], home,
                      env={"FINCERT_DATABASE_URL": "postgresql+psycopg://nobody:s3cret-pw@127.0.0.1:1/x"})
    line = one_line_error(unreachable)
    assert "cannot open the database" in line and "s3cret-pw" not in line
    for url in ("not a url", "postgresql+nodriver://x@y/z"):
        assert "FINCERT_DATABASE_URL" in one_line_error(cli(["init", "--json"], home, env={"FINCERT_DATABASE_URL": url}))


def test_malformed_settings_are_named(cli, deployment):
    home = deployment["home"]
    assert "FINCERT_MODE" in one_line_error(cli(["institution", "list"], home, env={"FINCERT_MODE": "bogus"}))
    assert "FINCERT_PUBLIC_URL" in one_line_error(cli(["cert", "show", "ab"], home, env={"FINCERT_PUBLIC_URL": "ftp://x"}))


def test_serve_on_a_taken_port_changes_nothing(cli, tmp_path):
    home = tmp_path / "home"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        line = one_line_error(cli(["serve", "--port", str(port)], home))
    assert f"cannot listen on 127.0.0.1:{port}" in line
    assert not home.exists()  # checked before the home is initialised


# -- members -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rrn, message",
    [
        ("901301-1234567", "real birth date"),
        ("900101-123456", "six digits"),
        ("90010a-1234567", "six digits"),
        ("９００１０１-1234567", "six digits"),
    ],
)
def test_register_with_a_bad_rrn_stores_nothing_and_echoes_nothing(cli, deployment, rrn, message):
    home = deployment["home"]
    members, records = count(home, "SELECT COUNT(*) FROM members"), audit_records(home)
    line = one_line_error(cli(["member", "register", "--institution", "HANBIT", "--name", "김", "--rrn", rrn,
                               "--phone", "010-1234-5678", "--email", "k@example.com", "--json"], home))
    assert message in line
    assert rrn not in line and rrn[-7:] not in line
    assert count(home, "SELECT COUNT(*) FROM members") == members and audit_records(home) == records


def test_send_code_refuses_methods_that_send_nothing(cli, deployment):
    home = deployment["home"]
    records = audit_records(home)
    member = str(deployment["members"]["issue"])
    for channel in ("otp", "security-card"):
        # Used to open a challenge and print "Code sent by otp to None".
        assert "--channel must be sms or email" in one_line_error(cli(["member", "send-code", member, "--channel", channel], home))
    assert audit_records(home) == records


def test_cert_list_of_an_unknown_member_is_an_error(cli, deployment):
    assert "no member 999" in one_line_error(cli(["cert", "list", "--member", "999", "--json"], deployment["home"]))


# -- certificates ----------------------------------------------------------------------------------


def _card_files(base: Path) -> dict[str, Path]:
    files = {
        "empty": b"",
        "random": bytes(range(256)) * 2,
        "non-utf8": b'\xff\xfe{"cells": {}}',
        "list": b"[1, 2]",
        "cells-list": b'{"cells": [1, 2]}',
        "cells-numbers": b'{"cells": {"01": 1234}}',
    }
    paths = {}
    for name, data in files.items():
        paths[name] = base / f"{name}.json"
        paths[name].write_bytes(data)
    (base / "folder.json").mkdir(exist_ok=True)
    paths["folder"] = base / "folder.json"
    paths["missing"] = base / "missing.json"
    return paths


def test_cert_issue_bad_input_changes_nothing(cli, deployment, tmp_path):
    home, base = deployment["home"], deployment["base"]
    member = str(deployment["members"]["issue"])
    card = str(base / "card-issue.json")
    cloud = ["--storage", "cloud", "--pin", PIN]
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    out = tmp_path / "usb"
    cards = _card_files(tmp_path)
    cases = [
        (["--otp", "123456", "--security-card", card, *cloud], "exactly one of --otp"),
        (["--security-card", card, "--storage", "file", "--out", str(out)], "--password"),
        (["--security-card", card, "--storage", "cloud"], "--pin"),
        (["--security-card", card, "--storage", "cloud", "--pin", "900101"], "date of birth"),
        (["--security-card", card, "--storage", "cloud", "--pin", "777777"], "one digit repeated"),
        (["--security-card", card, "--storage", "cloud", "--pin", "345678"], "consecutive"),
        (["--security-card", card, "--storage", "file", "--out", str(out), "--password", "password12"], "letters, digits and symbols"),
        (["--security-card", card, "--storage", "file", "--out", str(a_file), "--password", PASSWORD], "is a file, not a folder"),
        (["--security-card", card, "--storage", "file", "--out", str(a_file / "sub"), "--password", PASSWORD], "not a folder"),
        (["--otp", "12ab56", *cloud], "--otp must be a code"),
        *[(["--security-card", str(path), *cloud], "security card file") for path in cards.values()],
    ]
    records = audit_records(home)
    for args, message in cases:
        line = one_line_error(cli(["cert", "issue", member, *args, "--json"], home))
        assert message in line, (args, line)
        assert PIN not in line and PASSWORD not in line and "900101" not in line
    assert one_line_error(cli(["cert", "issue", "999", "--security-card", card, *cloud], home)) == "fincert: error: no member 999"
    # Nothing happened: no application was opened, no card challenge spent, no file or folder made.
    assert audit_records(home) == records
    assert count(home, "SELECT COUNT(*) FROM applications WHERE member_id = ?", int(member)) == 0
    assert not out.exists() and not (a_file.parent / "sub").exists()


def test_reissue_checks_the_sms_code_format_first(cli, deployment):
    home, base = deployment["home"], deployment["base"]
    records = audit_records(home)
    line = one_line_error(cli(["cert", "reissue", str(deployment["members"]["issue"]), "--security-card", str(base / "card-issue.json"),
                               "--sms-code", "12345", "--storage", "cloud", "--pin", PIN], home))
    assert "--sms-code must be a code of 6 digits" in line
    assert audit_records(home) == records


def test_renew_bad_key_folders_and_options(cli, deployment, tmp_path):
    home = deployment["home"]
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    folders = tmp_path / "folders"
    (folders / "signCert.der").mkdir(parents=True)
    (folders / "signPri.key").mkdir()
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "signCert.der").write_bytes(b"\x00" * 10)
    (garbage / "signPri.key").write_bytes(b"")
    cases = [
        (["--key-dir", str(a_file), "--password", PASSWORD], "is a file, not a folder"),
        (["--key-dir", str(folders), "--password", PASSWORD], "is a folder, not a file"),
        (["--key-dir", str(garbage), "--password", PASSWORD], "signCert.der is not a DER certificate"),
        (["--key-dir", str(garbage)], "--key-dir needs --password"),
        (["--cloud", "abcdef"], "--cloud needs --pin"),
        (["--cloud", "abcdef", "--pin", "123456"], "consecutive"),
        (["--cloud", "not-hex", "--pin", PIN], "hexadecimal"),
        (["--cloud", "abcdef", "--key-dir", str(garbage), "--password", PASSWORD], "give --key-dir"),
    ]
    records = audit_records(home)
    for args, message in cases:
        line = one_line_error(cli(["cert", "renew", *args, "--json"], home))
        assert message in line, (args, line)
        assert PASSWORD not in line and PIN not in line
    assert audit_records(home) == records


def test_issue_withdraws_the_certificate_when_its_files_cannot_be_written(deployment, tmp_path, monkeypatch):
    """The folder is checked first, but a write can still fail (disk full, stick pulled out) after
    the CA issued: the certificate must not stay active with its key lost, blocking the next
    issuance, and no partial files may stay behind."""
    from fincert.cli import cert, main

    home, base = deployment["home"], deployment["base"]
    member = str(deployment["members"]["write"])

    def disk_full(root, ca_name, certificate, sign_pri_key):
        folder = Path(root) / npki_cert_dir(ca_name, certificate.subject)
        folder.mkdir(parents=True)
        (folder / "signCert.der").write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    for name in [n for n in os.environ if n.startswith("FINCERT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("FINCERT_HOME", str(home))
    monkeypatch.setenv("FINCERT_LOG_LEVEL", "WARNING")
    monkeypatch.setattr(cert, "write_npki_folder", disk_full)
    out = tmp_path / "usb"
    args = ["cert", "issue", member, "--security-card", str(base / "card-write.json"), "--storage", "file", "--out", str(out), "--password", PASSWORD]

    result = CliRunner().invoke(main.app, args)

    message = getattr(result.exception, "detail", "")
    assert "cannot write the key files" in message and "No space left on device" in message, result.output
    assert "was revoked" in message and PASSWORD not in message
    listed = CliRunner().invoke(main.app, ["cert", "list", "--member", member, "--json"])
    assert [c["status"] for c in json.loads(listed.stdout)["certificates"]] == ["revoked"]
    # Only the folders this command created were removed; --out itself did not exist before either.
    assert not out.exists()
    # The holder can simply issue again.
    monkeypatch.undo()
    monkeypatch.setenv("FINCERT_HOME", str(home))
    monkeypatch.setenv("FINCERT_LOG_LEVEL", "WARNING")
    again = CliRunner().invoke(main.app, [*args, "--json"])
    assert again.exit_code == 0, (again.output, again.exception)
    assert len(json.loads(again.stdout)["files"]) == 2


def test_sign_and_crl_outputs_are_checked_before_anything_happens(cli, deployment, tmp_path):
    home = deployment["home"]
    doc = tmp_path / "doc.txt"
    doc.write_text("hello")
    folder = tmp_path / "a-folder"
    folder.mkdir()
    signed = cli(["sign", "--in", str(doc), "--out", str(folder), "--cloud", "abcdef", "--pin", PIN, "--json"], home)
    assert f"--out {folder} is a folder, not a file" in one_line_error(signed)

    first = cli(["crl", "--json"], home)
    assert first.returncode == 0, first.stderr
    number = json.loads(first.stdout)["crl_number"]
    for out, message in ((folder, "is a folder, not a file"), (tmp_path / "none" / "x.crl", "does not exist")):
        assert message in one_line_error(cli(["crl", "--out", str(out), "--json"], home))
    # The refused runs published nothing: the next CRL number follows the first.
    assert json.loads(cli(["crl", "--json"], home).stdout)["crl_number"] == number + 1
    assert list(folder.iterdir()) == []


def _run_in_process(monkeypatch, capfd, home: Path, args: list[str]) -> tuple[int, str, str]:
    """``fincert ARGS`` through the console-script entry (``main.run``), in this process."""
    import sys

    from fincert.cli import main

    for name in [n for n in os.environ if n.startswith("FINCERT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("FINCERT_HOME", str(home))
    monkeypatch.setenv("FINCERT_LOG_LEVEL", "WARNING")
    monkeypatch.setattr(sys, "argv", ["fincert", *args])
    with pytest.raises(SystemExit) as exited:
        main.run()
    captured = capfd.readouterr()
    return exited.value.code, captured.out, captured.err


def test_ctrl_c_while_the_key_files_are_written_leaves_no_files_and_no_active_certificate(deployment, tmp_path, monkeypatch, capfd):
    """Ctrl-C after the CA issued, half-way through writing the NPKI folder: the half-written
    folder used to stay behind, and the certificate stayed active with its key lost."""
    from fincert.cli import cert

    home, base = deployment["home"], deployment["base"]
    member = deployment["members"]["interrupt"]

    def interrupted(root, ca_name, certificate, sign_pri_key):
        folder = Path(root) / npki_cert_dir(ca_name, certificate.subject)
        folder.mkdir(parents=True)
        (folder / "signCert.der").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(cert, "write_npki_folder", interrupted)
    out = tmp_path / "usb"
    code, stdout, stderr = _run_in_process(monkeypatch, capfd, home, [
        "cert", "issue", str(member), "--security-card", str(base / "card-interrupt.json"),
        "--storage", "file", "--out", str(out), "--password", PASSWORD, "--json"])

    assert code == 130 and stdout == ""
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("fincert: error: interrupted"), stderr
    assert "was revoked" in lines[0] and PASSWORD not in stderr
    assert not out.exists()
    statuses = [row for row in _certificate_statuses(home, member)]
    assert statuses == ["revoked"]
    assert count(home, "SELECT COUNT(*) FROM applications WHERE member_id = ? AND open_member_id IS NOT NULL", member) == 0


def test_ctrl_c_during_identity_verification_leaves_no_open_application(deployment, monkeypatch, capfd):
    """An interrupted issuance used to leave its application open: the member could start
    nothing else until it expired."""
    from fincert.cli import cert

    home, base = deployment["home"], deployment["base"]
    member = deployment["members"]["interrupt"]

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cert, "_prove_identity", interrupted)
    code, stdout, stderr = _run_in_process(monkeypatch, capfd, home, [
        "cert", "issue", str(member), "--security-card", str(base / "card-interrupt.json"), "--storage", "cloud", "--pin", PIN])

    assert (code, stdout, stderr) == (130, "", "fincert: error: interrupted\n")
    assert count(home, "SELECT COUNT(*) FROM applications WHERE member_id = ? AND open_member_id IS NOT NULL", member) == 0
    assert count(home, "SELECT COUNT(*) FROM applications WHERE member_id = ? AND status = 'cancelled'", member) >= 1


def _certificate_statuses(home: Path, member: int) -> list[str]:
    from typer.testing import CliRunner as Runner

    from fincert.cli import main

    listed = Runner().invoke(main.app, ["cert", "list", "--member", str(member), "--json"], env={"FINCERT_HOME": str(home)})
    assert listed.exit_code == 0, listed.output
    return [c["status"] for c in json.loads(listed.stdout)["certificates"] if c["storage"] == "file"]


def test_arguments_that_are_not_utf8_are_named_not_an_internal_error(cli, deployment, tmp_path):
    """A name or password typed in a non-UTF-8 terminal (Python keeps such bytes as lone
    surrogates) used to reach SQLite or the key-file code: "internal error (UnicodeEncodeError)"."""
    home = deployment["home"]
    records = audit_records(home)
    bad = "x\udcffy"  # the byte 0xff on the command line
    line = one_line_error(cli(["institution", "add", "LATIN1", "--name", bad, "--json"], home), exit_code=2)
    assert line == "fincert: error: the value of --name is not valid UTF-8 text (check the terminal's character encoding)"
    line = one_line_error(cli(["institution", "add", "LATIN1", f"--name={bad}"], home), exit_code=2)
    assert "the value of --name" in line
    doc = tmp_path / "doc.txt"
    doc.write_text("hello")
    secret = f"Passw0rd!{bad}"
    sign = ["sign", "--in", str(doc), "--out", str(tmp_path / "doc.sig"), "--p12", str(doc)]
    line = one_line_error(cli([*sign, "--password", secret], home), exit_code=2)
    assert "the value of --password is not valid UTF-8" in line
    line = one_line_error(cli(sign, home, env={"FINCERT_SIGN_PASSWORD": secret}), exit_code=2)
    assert line.startswith("fincert: error: FINCERT_SIGN_PASSWORD is not valid UTF-8")
    assert "argument 3" in one_line_error(cli(["member", "show", "\udcff"], home), exit_code=2)
    assert count(home, "SELECT COUNT(*) FROM institutions WHERE code = 'LATIN1'") == 0
    assert audit_records(home) == records
    # A file name may be any bytes: it is still used as given.
    line = one_line_error(cli(["sign", "--in", str(tmp_path / bad), "--out", str(tmp_path / "s"), "--p12", str(doc),
                               "--password", PASSWORD], home))
    assert "input file" in line and "does not exist" in line


def test_sign_and_crl_never_write_over_their_inputs_or_the_home(cli, deployment, tmp_path):
    """`sign --in doc --out doc` used to replace the document with its detached signature, and
    `--out KEYDIR/signCert.der` the holder's certificate; `crl --out` or `sign --out` could
    overwrite the deployment's database or CA files."""
    home = deployment["home"]
    doc = tmp_path / "doc.txt"
    doc.write_text("the contract")
    key_dir = tmp_path / "keys"
    key_dir.mkdir()
    (key_dir / "signCert.der").write_bytes(b"certificate")
    (key_dir / "signPri.key").write_bytes(b"key")
    p12 = tmp_path / "mine.p12"
    p12.write_bytes(b"p12")
    database = home / "fincert.db"
    before = {path: path.read_bytes() for path in (doc, key_dir / "signCert.der", key_dir / "signPri.key", p12, database)}
    sign = ["sign", "--in", str(doc), "--password", PASSWORD, "--json"]
    cases = [
        ([*sign, "--out", str(doc), "--key-dir", str(key_dir)], "is the input file"),
        ([*sign, "--out", str(tmp_path / "." / "doc.txt"), "--p12", str(p12)], "is the input file"),
        ([*sign, "--out", str(key_dir / "signCert.der"), "--key-dir", str(key_dir)], "is the certificate of --key-dir"),
        ([*sign, "--out", str(key_dir / "signPri.key"), "--key-dir", str(key_dir)], "is the private key of --key-dir"),
        ([*sign, "--out", str(p12), "--p12", str(p12)], "is the PKCS#12 file"),
        ([*sign, "--out", str(database), "--p12", str(p12)], "is a file of FINCERT_HOME"),
        (["crl", "--out", str(database), "--json"], "is a file of FINCERT_HOME"),
        (["crl", "--out", str(home / "ca" / "root.pem")], "is a file of FINCERT_HOME"),
    ]
    for args, message in cases:
        line = one_line_error(cli(args, home))
        assert message in line, (args, line)
        assert PASSWORD not in line
    assert {path: path.read_bytes() for path in before} == before


def test_reissue_without_a_sent_code_spends_no_identity_challenge(cli, deployment):
    """`cert reissue --sms-code` before `member send-code`: the security-card challenge (or the
    one-time OTP code) used to be spent first, and only then was the missing code noticed."""
    home, base = deployment["home"], deployment["base"]
    member = deployment["members"]["renew"]
    card = str(base / "card-renew.json")
    issued = cli(["cert", "issue", str(member), "--security-card", card, "--storage", "cloud", "--pin", PIN, "--json"], home)
    assert issued.returncode == 0, issued.stderr
    challenges = "SELECT COUNT(*) FROM audit_log WHERE action LIKE 'verification.%' AND subject_type = 'member' AND subject_id = ?"
    before = count(home, challenges, str(member))
    line = one_line_error(cli(["cert", "reissue", str(member), "--security-card", card,
                               "--sms-code", "123456", "--storage", "cloud", "--pin", PIN, "--json"], home))
    assert "no sms code was sent" in line
    assert count(home, challenges, str(member)) == before
    assert count(home, "SELECT COUNT(*) FROM applications WHERE member_id = ? AND open_member_id IS NOT NULL", member) == 0


def test_a_file_the_domain_cannot_write_is_one_line_not_an_internal_error(tmp_path, monkeypatch, capfd):
    """`fincert init` in a home whose ca/root.pem cannot be written (read-only or immutable) used
    to end as "internal error (PermissionError)"."""
    from fincert.runtime import Runtime

    home = tmp_path / "home"

    def refused(self, hierarchy):
        raise PermissionError(errno.EACCES, "Permission denied", str(self.home / "ca" / "root.pem"))

    monkeypatch.setattr(Runtime, "write_ca_files", refused)
    code, stdout, stderr = _run_in_process(monkeypatch, capfd, home, ["init", "--json"])
    assert (code, stdout) == (1, "")
    assert stderr == f"fincert: error: Permission denied: {home / 'ca' / 'root.pem'}\n"


_TERMINATED_WHILE_WRITING = """
import os, signal, sys, time
from pathlib import Path
from fincert.cli import cert, main
from fincert.formats.npki import npki_cert_dir

def terminated(root, ca_name, certificate, sign_pri_key):
    folder = Path(root) / npki_cert_dir(ca_name, certificate.subject)
    folder.mkdir(parents=True)
    (folder / "signCert.der").write_bytes(b"half")
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(10)

cert.write_npki_folder = terminated
sys.argv = ["fincert", *sys.argv[1:]]
main.run()
"""


def test_sigterm_while_the_key_files_are_written_undoes_like_ctrl_c(deployment, tmp_path):
    """`kill PID` half-way through writing the NPKI folder used to end the process at once: a
    half-written folder, and an active certificate whose key exists nowhere."""
    import subprocess
    import sys

    home, base = deployment["home"], deployment["base"]
    member = deployment["members"]["interrupt"]
    out = tmp_path / "usb"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINCERT_")}
    env.update({"FINCERT_HOME": str(home), "FINCERT_LOG_LEVEL": "WARNING"})
    result = subprocess.run(
        [sys.executable, "-c", _TERMINATED_WHILE_WRITING, "cert", "issue", str(member), "--product", "joint",
         "--security-card", str(base / "card-interrupt.json"), "--storage", "file", "--out", str(out), "--password", PASSWORD],
        capture_output=True, text=True, env=env, timeout=120,
    )
    line = one_line_error(result, exit_code=130)
    assert "interrupted while writing the key files" in line and "was revoked" in line
    assert not out.exists()
    assert "active" not in _certificate_statuses(home, member)


def test_stray_arguments_are_not_echoed(cli, tmp_path):
    """`sign --cloud --pin 482916` (the serial forgotten: --cloud takes "--pin" as its value) used
    to print "Got unexpected extra argument(s) (482916)", the PIN on stderr."""
    doc = tmp_path / "doc.txt"
    doc.write_text("hello")
    result = cli(["sign", "--in", str(doc), "--out", str(tmp_path / "sig"), "--cloud", "--pin", PIN, "--json"], tmp_path / "home")
    line = one_line_error(result, exit_code=2)
    assert "unexpected extra argument" in line and PIN not in line
    line = one_line_error(cli(["member", "show", "1", PASSWORD], tmp_path / "home"), exit_code=2)
    assert "unexpected extra argument" in line and PASSWORD not in line
    assert not (tmp_path / "home").exists()


def test_options_of_the_other_storage_are_refused_not_ignored(cli, deployment, tmp_path):
    """`--storage cloud --out DIR --password PW` used to issue a cloud certificate and write no
    file; `--storage file ... --pin PIN` ignored the PIN: the holder believed otherwise."""
    home, base = deployment["home"], deployment["base"]
    member = str(deployment["members"]["issue"])
    card = str(base / "card-issue.json")
    out = tmp_path / "usb"
    records = audit_records(home)
    cases = [
        (["--storage", "cloud", "--pin", PIN, "--out", str(out), "--password", PASSWORD], "are for file storage"),
        (["--storage", "cloud", "--pin", PIN, "--format", "pkcs12"], "are for file storage"),
        (["--storage", "file", "--out", str(out), "--password", PASSWORD, "--pin", PIN], "--pin is for cloud storage"),
    ]
    for args, message in cases:
        line = one_line_error(cli(["cert", "issue", member, "--security-card", card, *args, "--json"], home))
        assert message in line and PIN not in line and PASSWORD not in line
    renew = one_line_error(cli(["cert", "renew", "--cloud", "abcdef", "--pin", PIN, "--password", PASSWORD], home))
    assert "--cloud with --pin" in renew
    assert audit_records(home) == records and not out.exists()
