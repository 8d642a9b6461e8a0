"""`fincert cert renew` over an NPKI folder, interrupted between the renames that put the new
pair in place: the folder must never be left as a new key beside the old certificate.

The renewal is committed (the old certificate superseded) before the files are written, so a
folder left mismatched used to be unusable for good: neither `sign --key-dir` nor running
`cert renew` again could open it. Each test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pypinksign
import pytest

from both_databases import on_database
from fincert.formats.npki import read_npki_folder

PASSWORD = "Passw0rd!23"
SHORT = {"FINCERT_JOINT_VALIDITY_DAYS": "20"}  # new joint certificates are inside the renewal window

#: `fincert ARGS` in a process that dies (as with kill -9: no clean-up, no exit handlers) when it
#: renames a file onto signCert.der: after signPri.key was replaced, before signCert.der was.
_KILLED_BETWEEN_THE_RENAMES = """
import os, sys
from pathlib import Path
real = os.replace
def replace(src, dst, *args, **kwargs):
    if Path(dst).name == "signCert.der" and Path(dst).exists():
        os._exit(137)
    return real(src, dst, *args, **kwargs)
os.replace = replace
from fincert.cli import main
sys.argv = ["fincert", *sys.argv[1:]]
main.run()
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def database_env(request) -> dict[str, str]:
    return {} if request.param == "sqlite" else {"FINCERT_DATABASE_URL": request.getfixturevalue("postgres_url")}


@pytest.fixture
def cli(cli, database_env):
    """The conftest's ``cli`` on each database (the killed process below needs the same env)."""
    return on_database(cli, database_env)


def run_json(cli, args, home, **kw):
    result = cli([*args, "--json"], home, **kw)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def holder(cli, tmp_path):
    """A member with a security card and a joint certificate in an NPKI folder on a "USB stick"."""
    home = tmp_path / "home"
    assert cli(["init", "--demo"], home).returncode == 0
    run_json(cli, ["member", "register", "--institution", "HANBIT", "--name", "홍길동", "--rrn", "900101-1234567",
                   "--phone", "010-1234-5678", "--email", "hong@example.com"], home)
    card = tmp_path / "card.json"
    card.write_text(cli(["member", "enroll", "1", "--method", "security-card", "--json"], home).stdout)
    issued = run_json(cli, ["cert", "issue", "1", "--product", "joint", "--security-card", str(card), "--storage", "file",
                            "--out", str(tmp_path / "usb"), "--password", PASSWORD], home, env=SHORT)
    return home, Path(issued["files"][0]).parent, issued["serial"]


def _killed(args: list[str], home: Path, database_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINCERT_")}
    env.update({"FINCERT_HOME": str(home), "FINCERT_LOG_LEVEL": "WARNING", **SHORT, **database_env})
    return subprocess.run([sys.executable, "-c", _KILLED_BETWEEN_THE_RENAMES, *args], capture_output=True, text=True,
                          env=env, stdin=subprocess.DEVNULL, timeout=120)


def _serial(folder: Path) -> str:
    certificate, private = read_npki_folder(folder, PASSWORD)  # refuses a key of another certificate
    assert private.private_key.public_key().public_numbers() == certificate.public_key().public_numbers()
    return format(certificate.serial_number, "x")


def test_a_renewal_killed_between_the_renames_leaves_the_renewed_pair_and_can_be_run_again(cli, holder, database_env):
    home, folder, first = holder
    killed = _killed(["cert", "renew", "--key-dir", str(folder), "--password", PASSWORD, "--json"], home, database_env)
    assert killed.returncode == 137, (killed.stdout, killed.stderr)
    # The renewal was committed before the files were written: the first certificate is superseded.
    assert run_json(cli, ["cert", "show", first], home)["revocation_reason"] == "superseded"
    renewed = next(c for c in run_json(cli, ["cert", "list", "--member", "1"], home)["certificates"] if c["replaced"] == first)
    assert renewed["status"] == "active"

    # The folder opens as the renewed pair: the reader finishes the interrupted replacement.
    assert _serial(folder) == renewed["serial"]
    assert sorted(p.name for p in folder.iterdir()) == ["signCert.der", "signPri.key"]
    signer = pypinksign.PinkSign(pubkey_path=str(folder / "signCert.der"), prikey_path=str(folder / "signPri.key"),
                                 prikey_password=PASSWORD.encode())
    assert format(signer.serialnum(), "x") == renewed["serial"]

    # And the holder can go on: renewing again proves possession of the renewed key.
    again = run_json(cli, ["cert", "renew", "--key-dir", str(folder), "--password", PASSWORD], home, env=SHORT)
    assert again["replaced"] == renewed["serial"]
    assert _serial(folder) == again["serial"]


def test_signing_with_a_folder_left_half_replaced_uses_the_renewed_pair(cli, holder, database_env, tmp_path):
    """`fincert sign --key-dir` (a reader of the folder) finishes the replacement too."""
    home, folder, first = holder
    assert _killed(["cert", "renew", "--key-dir", str(folder), "--password", PASSWORD], home, database_env).returncode == 137
    document = tmp_path / "transfer.txt"
    document.write_text("10,000 KRW to 123-456")
    signed = run_json(cli, ["sign", "--in", str(document), "--out", str(tmp_path / "transfer.p7s"), "--key-dir", str(folder),
                            "--password", PASSWORD], home)
    renewed = next(c for c in run_json(cli, ["cert", "list", "--member", "1"], home)["certificates"] if c["replaced"] == first)
    assert renewed["serial"] in json.dumps(signed)
    verified = cli(["verify", "--in", str(document), "--signature", str(tmp_path / "transfer.p7s")], home)
    assert verified.returncode == 0, verified.stderr


def _run_in_process(monkeypatch, capfd, home: Path, database_env: dict[str, str], args: list[str]) -> tuple[int, str, str]:
    """``fincert ARGS`` through the console-script entry (``main.run``), in this process."""
    from fincert.cli import main

    for name in [n for n in os.environ if n.startswith("FINCERT_")]:
        monkeypatch.delenv(name)
    for name, value in {"FINCERT_HOME": str(home), "FINCERT_LOG_LEVEL": "WARNING", **SHORT, **database_env}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "argv", ["fincert", *args])
    capfd.readouterr()
    with pytest.raises(SystemExit) as exited:
        main.run()
    captured = capfd.readouterr()
    return exited.value.code or 0, captured.out, captured.err


def _failing_renames(monkeypatch, times: int) -> None:
    """Renames onto signPri.key or signCert.der fail ``times`` times (an I/O error of the stick)."""
    from fincert.formats import npki

    real, left = os.replace, [times]

    def replace(src, dst, *args, **kwargs):
        if Path(dst).name in ("signPri.key", "signCert.der") and left[0] > 0:
            left[0] -= 1
            raise OSError(5, "Input/output error")
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(npki.os, "replace", replace)


def test_a_rename_that_fails_once_after_the_pair_was_saved_keeps_the_renewal(cli, holder, database_env, monkeypatch, capfd):
    """The new pair was whole on disk when putting it in place failed: the renewed certificate
    is the holder's, so it is put in place again rather than revoked (withdrawing it used to
    leave the holder with two revoked certificates)."""
    home, folder, first = holder
    _failing_renames(monkeypatch, 1)
    code, out, err = _run_in_process(monkeypatch, capfd, home, database_env,
                                     ["cert", "renew", "--key-dir", str(folder), "--password", PASSWORD, "--json"])
    assert (code, err) == (0, ""), err
    renewed = json.loads(out)
    assert renewed["replaced"] == first
    assert renewed["files"] == [str(folder / "signCert.der"), str(folder / "signPri.key")]
    monkeypatch.undo()
    assert run_json(cli, ["cert", "show", renewed["serial"]], home)["status"] == "active"
    assert _serial(folder) == renewed["serial"]
    assert sorted(p.name for p in folder.iterdir()) == ["signCert.der", "signPri.key"]


def test_a_stick_that_stays_broken_after_the_pair_was_saved_says_so_in_one_line(cli, holder, database_env, monkeypatch, capfd):
    home, folder, first = holder
    _failing_renames(monkeypatch, 100)
    code, out, err = _run_in_process(monkeypatch, capfd, home, database_env,
                                     ["cert", "renew", "--key-dir", str(folder), "--password", PASSWORD, "--json"])
    assert (code, out) == (1, "")
    (line,) = err.splitlines()
    assert line.startswith("fincert: error: certificate ") and "saved whole in" in line and "next time the folder is opened" in line
    assert PASSWORD not in err
    monkeypatch.undo()
    renewed = next(c for c in run_json(cli, ["cert", "list", "--member", "1"], home)["certificates"] if c["replaced"] == first)
    assert renewed["status"] == "active"  # not withdrawn: its key is on the stick
    assert _serial(folder) == renewed["serial"]


def test_a_failure_before_the_pair_was_saved_still_withdraws_and_keeps_the_old_pair(cli, holder, database_env, monkeypatch, capfd):
    """Disk full while the new key is staged: nothing of the new pair is on the stick, so the
    renewed certificate is withdrawn as before, and the folder still holds the old pair whole."""
    from fincert.formats import npki

    home, folder, first = holder
    real = npki._write_private_file  # noqa: SLF001

    def disk_full(path, data):
        if path.name.endswith(".partial"):
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(npki, "_write_private_file", disk_full)
    code, out, err = _run_in_process(monkeypatch, capfd, home, database_env,
                                     ["cert", "renew", "--key-dir", str(folder), "--password", PASSWORD, "--json"])
    assert (code, out) == (1, "")
    assert "No space left on device" in err and "was revoked" in err and len(err.splitlines()) == 1
    monkeypatch.undo()
    assert _serial(folder) == first
    assert sorted(p.name for p in folder.iterdir()) == ["signCert.der", "signPri.key"]
