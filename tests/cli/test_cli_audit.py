"""The command line outside `fincert cert`, as an operator and a relying party meet it: outputs
that are files (never a device or a link replaced), a home that only looks initialised,
`verify`'s answer and exit status, and readable output that shows data as it is."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from holders import npki_holder

from fincert.config import Settings
from fincert.runtime import open_runtime

PASSWORD = "npki-pass-2024!"
RRN = "900101-1234568"


def one_line_error(result, *, exit_code: int = 1) -> str:
    assert result.returncode == exit_code, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("fincert: error: "), result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    return lines[0]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """A home with its CA, the sample institutions, and an NPKI folder holding a joint certificate."""
    base = tmp_path_factory.mktemp("audit")
    home = base / "home"
    rt = open_runtime(Settings(home=home, log_level="WARNING"))
    try:
        rt.initialize()
        rt.institutions.ensure_samples()
        _, folder, random_num = npki_holder(rt, base / "usb", PASSWORD, rrn=RRN)
    finally:
        rt.close()
    doc = base / "doc.txt"
    doc.write_text("pay 100 won")
    return {"home": home, "base": base, "folder": folder, "random_num": random_num.hex(), "doc": doc}


def _crl_number(cli, home: Path) -> int:
    result = cli(["crl", "--json"], home)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["crl_number"]


def test_crl_out_never_replaces_a_device_a_pipe_or_a_link(cli, deployment, tmp_path):
    """`crl --out` wrote a temporary file and renamed it over the name given: as root,
    `--out /dev/stdout` put a regular file in place of /dev/stdout, and a fifo, a device node or a
    symbolic link (`current.crl -> 2026/06.crl`) was replaced instead of written to."""
    home = deployment["home"]
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    to_stdout = tmp_path / "to-stdout"
    to_stdout.symlink_to("/proc/self/fd/1")
    before = _crl_number(cli, home)
    for out in (fifo, to_stdout, Path("/dev/stdout")):
        line = one_line_error(cli(["crl", "--out", str(out), "--json"], home))
        assert f"--out {out} is not a regular file" in line, line
    assert fifo.is_fifo() and to_stdout.is_symlink()
    # A link is followed: it still points at its file, which now holds the CRL.
    (tmp_path / "2026").mkdir()
    target = tmp_path / "2026" / "06.crl"
    target.write_bytes(b"old")
    link = tmp_path / "current.crl"
    link.symlink_to(Path("2026") / "06.crl")
    written = cli(["crl", "--out", str(link), "--json"], home)
    assert written.returncode == 0, written.stderr
    assert link.is_symlink() and target.read_bytes()[:1] == b"\x30"
    # The refused runs published nothing.
    assert json.loads(written.stdout)["crl_number"] == before + 1


def test_sign_out_never_replaces_a_pipe(cli, deployment, tmp_path):
    fifo = tmp_path / "sig-pipe"
    os.mkfifo(fifo)
    result = cli(["sign", "--in", str(deployment["doc"]), "--out", str(fifo), "--key-dir", str(deployment["folder"]),
                  "--password", PASSWORD, "--json"], deployment["home"])
    line = one_line_error(result)
    assert "is not a regular file" in line and PASSWORD not in line
    assert fifo.is_fifo()


def test_crl_out_that_cannot_be_written_says_the_crl_was_published(deployment, monkeypatch, capfd):
    """The folder is checked first, but the write can still fail (disk full) after the CRLs were
    published: the error said only "cannot write", as if nothing had happened."""
    from fincert.cli import main, va
    from fincert.errors import InvalidInput

    def disk_full(path, data, option, **kwargs):
        raise InvalidInput(f"cannot write {option} {path}: No space left on device")

    for name in [n for n in os.environ if n.startswith("FINCERT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("FINCERT_HOME", str(deployment["home"]))
    monkeypatch.setenv("FINCERT_LOG_LEVEL", "WARNING")
    monkeypatch.setattr(va, "write_output", disk_full)
    monkeypatch.setattr(sys, "argv", ["fincert", "crl", "--out", str(deployment["base"] / "full.crl"), "--json"])
    with pytest.raises(SystemExit) as exited:
        main.run()
    out, err = capfd.readouterr()
    assert exited.value.code == 1 and out == ""
    assert len(err.splitlines()) == 1
    assert re.search(r"No space left on device; CRL \d+ was published all the same", err), err


def test_an_empty_database_file_is_not_an_initialised_home(cli, tmp_path):
    """An empty fincert.db (a `touch`, an `init` that failed on a full disk) passed for an
    initialised home: the command created the schema and fresh secrets in it and answered as
    an empty deployment."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "fincert.db").write_bytes(b"")
    for args in (["institution", "list", "--json"], ["member", "show", "1"], ["audit", "verify"]):
        line = one_line_error(cli(args, home))
        assert "not initialised" in line and "fincert init" in line
    assert sorted(p.name for p in home.iterdir()) == ["fincert.db"]
    assert (home / "fincert.db").stat().st_size == 0
    assert cli(["init", "--json"], home).returncode == 0
    assert cli(["institution", "list", "--json"], home).returncode == 0


def test_verify_of_an_unknown_issuer_is_its_report_without_a_traceback(cli, deployment, tmp_path):
    """pyHanko logged the failed path building as a WARNING with a whole traceback on stderr."""
    signature = tmp_path / "doc.sig"
    signed = cli(["sign", "--in", str(deployment["doc"]), "--out", str(signature), "--key-dir", str(deployment["folder"]),
                  "--password", PASSWORD, "--json"], deployment["home"])
    assert signed.returncode == 0, signed.stderr
    other = tmp_path / "other-ca"
    assert cli(["init"], other).returncode == 0
    for args in ([], ["--json"]):
        result = cli(["verify", "--in", str(deployment["doc"]), "--signature", str(signature), *args], other)
        assert result.returncode == 1 and result.stderr == "", result.stderr
    assert json.loads(result.stdout)["failure"] == "no certificate path to a trust root"


def test_verify_says_first_when_the_vid_asked_for_does_not_match(cli, deployment, tmp_path):
    """`verify --rrn X --random-num R` of someone else's signature began its report with "VALID"
    and put "vid_match: False" six lines below: the reader took the signer for that person."""
    home = deployment["home"]
    signature = tmp_path / "doc.sig"
    assert cli(["sign", "--in", str(deployment["doc"]), "--out", str(signature), "--key-dir", str(deployment["folder"]),
                "--password", PASSWORD], home).returncode == 0
    verify = ["verify", "--in", str(deployment["doc"]), "--signature", str(signature)]
    right = cli([*verify, "--rrn", RRN, "--random-num", deployment["random_num"]], home)
    assert right.returncode == 0 and right.stdout.startswith("VALID\n"), right.stdout
    wrong = cli([*verify, "--rrn", "850505-2345678", "--random-num", deployment["random_num"]], home)
    assert wrong.stdout.splitlines()[0].startswith("VALID signature, but NOT the holder"), wrong.stdout
    assert wrong.returncode == 1  # `verify --rrn … && proceed` stops
    assert "2345678" not in wrong.stdout + wrong.stderr
    as_json = cli([*verify, "--rrn", "850505-2345678", "--random-num", deployment["random_num"], "--json"], home)
    data = json.loads(as_json.stdout)
    assert data["valid"] is True and data["vid_match"] is False and as_json.returncode == 1  # the keys keep their meaning
    # Without a VID check the readable report says so, not "None".
    plain = cli(verify, home)
    assert plain.returncode == 0 and "vid_match: not checked" in plain.stdout and "None" not in plain.stdout


def test_readable_output_shows_data_not_markup(cli, deployment):
    """Readable output went through rich markup: an institution named "[bold]Bold bank" was
    shown as "Bold bank", and the outbox's "[fincert] 본인확인 인증번호 ..." lost "[fincert]"."""
    home = deployment["home"]
    added = cli(["institution", "add", "MARKUP", "--name", "[bold]Bold bank"], home)
    assert added.returncode == 0 and "[bold]Bold bank" in added.stdout, added.stdout
    assert "[bold]Bold bank" in cli(["institution", "list"], home).stdout
    registered = cli(["member", "register", "--institution", "HANBIT", "--name", "김민지", "--rrn", "950505-2345678",
                      "--phone", "010-2222-3333", "--email", "kim@example.com", "--json"], home)
    member = str(json.loads(registered.stdout)["member_id"])
    assert cli(["member", "send-code", member], home).returncode == 0
    outbox = cli(["member", "outbox", member], home).stdout
    assert "[fincert]" in outbox, outbox
    shown = cli(["member", "show", member], home).stdout
    # No Python reprs: "login_id: None", "methods: {'sms': 'active', ...}".
    assert "None" not in shown and "{" not in shown and "methods: sms: active, email: active" in shown, shown
    assert "2345678" not in shown


def test_institution_list_keeps_every_code_whole_in_a_narrow_terminal(cli, deployment):
    """The table squeezed to the terminal's width cut a long code to "LONGNAME_…"."""
    home = deployment["home"]
    code = "LONGNAME_INSTITUTION_CODE_XX"
    assert cli(["institution", "add", code, "--name", "The Very Long Name Of A Securities Company", "--type", "securities"],
               home).returncode == 0
    listed = cli(["institution", "list"], home, env={"COLUMNS": "40"})
    assert listed.returncode == 0
    assert code in listed.stdout and "…" not in listed.stdout, listed.stdout


def test_one_shot_commands_keep_stderr_for_errors(deployment, tmp_path):
    """With the default log level, `crl` wrote two INFO lines on stderr ("published CRL ...")
    and a blank line on stdout (a progress display in a pipe): `crl --out` on a full disk
    printed three lines on stderr instead of one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINCERT_")}
    env["FINCERT_HOME"] = str(deployment["home"])
    for args in (["crl"], ["audit", "verify"]):
        result = subprocess.run([sys.executable, "-m", "fincert", *args], capture_output=True, text=True, env=env,
                                stdin=subprocess.DEVNULL, timeout=120)
        assert result.returncode == 0, result.stderr
        assert result.stderr == "", result.stderr
        assert result.stdout.strip() and not result.stdout.startswith("\n"), repr(result.stdout)


def test_sign_refuses_a_revoked_or_held_certificate(cli, tmp_path):
    """`sign --key-dir` signed with a certificate the CA had revoked, without a word: the
    signature then failed every relying party's check. A holder's client refuses, saying why."""
    base = tmp_path
    home = base / "home"
    rt = open_runtime(Settings(home=home, log_level="WARNING"))
    try:
        rt.initialize()
        rt.institutions.ensure_samples()
        issued, folder, _ = npki_holder(rt, base / "usb", PASSWORD)
    finally:
        rt.close()
    (base / "doc.txt").write_text("pay 100 won")
    sign = ["sign", "--in", str(base / "doc.txt"), "--out", str(base / "doc.sig"), "--key-dir", str(folder), "--password", PASSWORD]
    assert cli(sign, home).returncode == 0
    (base / "doc.sig").unlink()
    assert cli(["cert", "revoke", issued.serial, "--reason", "certificateHold"], home).returncode == 0
    assert "is on hold" in one_line_error(cli(sign, home))
    assert cli(["cert", "revoke", issued.serial, "--reason", "keyCompromise"], home).returncode == 0
    line = one_line_error(cli(sign, home))
    assert "is revoked" in line and "reissue" in line and PASSWORD not in line
    assert not (base / "doc.sig").exists()
    # To test relying parties, it signs all the same when asked (verify then refuses the signature).
    assert cli([*sign, "--allow-unusable"], home).returncode == 0
    verified = cli(["verify", "--in", str(base / "doc.txt"), "--signature", str(base / "doc.sig"), "--json"], home)
    assert verified.returncode == 1 and json.loads(verified.stdout)["certificate_status"] == "revoked"


def test_input_files_are_read_up_to_a_limit(cli, deployment, tmp_path):
    """`verify --signature /dev/zero` read forever (input files were read whole, unbounded)."""
    home = deployment["home"]
    line = one_line_error(cli(["verify", "--in", str(deployment["doc"]), "--signature", "/dev/zero"], home))
    assert "signature file /dev/zero is larger than 16 MiB" in line
    big = tmp_path / "big.p12"
    big.write_bytes(b"\0" * (1024 * 1024 + 1))
    line = one_line_error(cli(["sign", "--in", str(deployment["doc"]), "--out", str(tmp_path / "s"), "--p12", str(big),
                               "--password", PASSWORD], home))
    assert "PKCS#12 file" in line and "larger than 1 MiB" in line and not (tmp_path / "s").exists()
