"""``fincert cert`` as a user runs it: NPKI/PKCS#12 files, cloud keys, reissue, renew, revoke.

Every test runs twice: on the embedded default (SQLite) and on PostgreSQL, as production runs
(a reissue's SMS-code path once failed on PostgreSQL alone)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from both_databases import cli  # noqa: F401 - every test on SQLite and on PostgreSQL
from fincert.formats.npki import read_npki_folder

PASSWORD = "Passw0rd!23"


@pytest.fixture
def home(cli, tmp_path):
    home = tmp_path / "home"
    # A 20-day joint profile puts new joint certificates inside the renewal window at once.
    assert cli(["init", "--demo"], home).returncode == 0
    for code, rrn in (("HANBIT", "900101-1234567"), ("NURI", "900101-1234567")):
        result = cli(["member", "register", "--institution", code, "--name", "홍길동", "--rrn", rrn,
                      "--phone", "010-1234-5678", "--email", "hong@example.com", "--json"], home)
        assert result.returncode == 0, result.stderr
    for member in ("1", "2"):
        card = cli(["member", "enroll", member, "--method", "security-card", "--json"], home)
        (tmp_path / f"card{member}.json").write_text(card.stdout)
    return home


def run_json(cli, args, home, **kw):
    result = cli(args + ["--json"], home, **kw)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def sms_code(cli, home, member: str = "1") -> str:
    """The code `member send-code` sent, read from the member's outbox as an operator would."""
    (message, *_) = run_json(cli, ["member", "outbox", member], home)["messages"]
    return re.search(r"\[(\d{6})\]", message["text"]).group(1)


def test_files_are_answered_as_absolute_paths_for_a_relative_out(cli, home, tmp_path):
    # Scripts use the paths from another folder than the one the command ran in.
    issued = run_json(cli, ["cert", "issue", "1", "--security-card", str(tmp_path / "card1.json"), "--storage", "file",
                            "--out", "usb", "--password", PASSWORD, "--format", "pkcs12"], home, cwd=tmp_path)
    (path,) = issued["files"]
    assert path == str(tmp_path / "usb" / f"fincert-{issued['serial']}.p12")
    assert cli(["member", "send-code", "1", "--channel", "sms"], home).returncode == 0
    reissued = run_json(cli, ["cert", "reissue", "1", "--security-card", str(tmp_path / "card1.json"), "--sms-code", sms_code(cli, home),
                              "--storage", "file", "--out", "usb", "--password", PASSWORD], home, cwd=tmp_path)
    assert all(f.startswith(str(tmp_path / "usb" / "NPKI") + "/") for f in reissued["files"]), reissued["files"]
    assert all((tmp_path / "usb").joinpath(f).is_file() for f in reissued["files"])


def test_issue_npki_then_reissue_to_cloud_then_register(cli, home, tmp_path):
    card = str(tmp_path / "card1.json")
    issued = run_json(cli, ["cert", "issue", "1", "--security-card", card, "--storage", "file", "--out", str(tmp_path / "usb"), "--password", PASSWORD], home)
    assert set(issued) >= {"serial", "product", "storage", "not_before", "not_after", "files"}
    assert issued["storage"] == "file" and len(issued["files"]) == 2
    cert_dir = tmp_path / "usb" / "NPKI" / "fincert" / "USER"
    (folder,) = list(cert_dir.iterdir())
    certificate, key = read_npki_folder(folder, PASSWORD)
    assert format(certificate.serial_number, "x") == issued["serial"] and len(key.random_num) == 20

    second = cli(["cert", "issue", "1", "--security-card", card, "--storage", "cloud", "--pin", "482916"], home)
    assert second.returncode == 1 and "reissue" in second.stderr and "register" in second.stderr

    no_code = cli(["cert", "reissue", "1", "--security-card", card, "--storage", "cloud", "--pin", "482916"], home)
    assert no_code.returncode == 1 and "send-code" in no_code.stderr
    assert cli(["member", "send-code", "1", "--channel", "sms"], home).returncode == 0
    reissued = run_json(cli, ["cert", "reissue", "1", "--security-card", card, "--reason", "lost", "--sms-code", sms_code(cli, home),
                              "--storage", "cloud", "--pin", "482916"], home)
    assert reissued["replaced"] == issued["serial"] and reissued["serial"] != issued["serial"]
    old = run_json(cli, ["cert", "show", issued["serial"]], home)
    assert old["status"] == "revoked" and old["revocation_reason"] == "keyCompromise"
    assert set(old) >= {"serial", "status", "revocation_reason", "product", "member_id", "institution", "not_before", "not_after"}

    registered = run_json(cli, ["cert", "register", reissued["serial"], "--institution", "NURI", "--security-card", str(tmp_path / "card2.json")], home)
    assert registered["institution"] == "NURI"
    listed = run_json(cli, ["cert", "list", "--member", "2"], home)
    assert [c["serial"] for c in listed["certificates"]] == [reissued["serial"]]

    revoked = run_json(cli, ["cert", "revoke", reissued["serial"], "--reason", "cessationOfOperation"], home)
    assert revoked["status"] == "revoked"


def test_pkcs12_opens_with_openssl_and_renew_from_npki(cli, home, tmp_path):
    env = {"FINCERT_JOINT_VALIDITY_DAYS": "20"}
    card = str(tmp_path / "card1.json")
    p12 = run_json(cli, ["cert", "issue", "1", "--product", "joint", "--security-card", card, "--storage", "file",
                         "--out", str(tmp_path / "pc"), "--password", PASSWORD, "--format", "pkcs12"], home, env=env)
    (path,) = p12["files"]
    opened = subprocess.run(["openssl", "pkcs12", "-in", path, "-passin", f"pass:{PASSWORD}", "-nokeys", "-clcerts"],
                            capture_output=True, text=True)
    assert opened.returncode == 0 and "BEGIN CERTIFICATE" in opened.stdout
    # A second joint certificate in an NPKI folder, renewed by proving possession of its key.
    npki = run_json(cli, ["cert", "issue", "1", "--product", "joint", "--security-card", card, "--storage", "file",
                          "--out", str(tmp_path / "usb"), "--password", PASSWORD], home, env=env)
    folder = str(tmp_path / "usb" / "NPKI" / "fincert" / "USER" / npki["files"][0].split("/USER/")[1].split("/")[0])
    before, _ = read_npki_folder(folder, PASSWORD)
    renewed = run_json(cli, ["cert", "renew", "--key-dir", folder, "--password", PASSWORD], home, env=env)
    assert renewed["replaced"] == npki["serial"]
    assert run_json(cli, ["cert", "show", npki["serial"]], home)["revocation_reason"] == "superseded"
    # Renewed in place, as NPKI software does: the same subject, so the same folder, now holding
    # the renewed certificate and its new key (and nothing else: no partial files left).
    assert renewed["files"] == [f"{folder}/signCert.der", f"{folder}/signPri.key"]
    assert sorted(p.name for p in (tmp_path / "usb" / "NPKI" / "fincert" / "USER").iterdir()) == [folder.rsplit("/", 1)[1]]
    assert sorted(p.name for p in Path(folder).iterdir()) == ["signCert.der", "signPri.key"]
    after, after_key = read_npki_folder(folder, PASSWORD)
    assert format(after.serial_number, "x") == renewed["serial"] and after.subject == before.subject
    assert after_key.private_key.public_key().public_numbers() == after.public_key().public_numbers()
    wrong = cli(["cert", "renew", "--key-dir", folder, "--password", "Wr0ng-pass!!"], home, env=env)
    assert wrong.returncode == 1 and "password" in wrong.stderr


def test_bad_input_is_one_line_and_changes_nothing(cli, home, tmp_path):
    card = str(tmp_path / "card1.json")
    cases = [
        ["cert", "issue", "1", "--security-card", card, "--storage", "file", "--out", str(tmp_path / "x"), "--password", "short"],
        ["cert", "issue", "1", "--security-card", card, "--storage", "cloud", "--pin", "123456"],
        ["cert", "issue", "1", "--security-card", card, "--storage", "cloud", "--pin", "900101"],
        ["cert", "issue", "1", "--otp", "000000", "--storage", "cloud", "--pin", "482916"],
        ["cert", "issue", "1", "--storage", "cloud", "--pin", "482916"],
        ["cert", "issue", "1", "--security-card", str(tmp_path / "missing.json"), "--storage", "cloud", "--pin", "482916"],
        ["cert", "revoke", "abcdef", "--reason", "keyCompromise"],
        ["cert", "show", "not-hex"],
    ]
    # A file password with the holder's own numbers in it: refused before the card is asked.
    for password, kind in (("Hong1990-01-01!", "date of birth"), ("Pw!1234567ab", "resident registration number"),
                           ("Pw!12345678a", "phone number")):
        result = cli(["cert", "issue", "1", "--security-card", card, "--storage", "file", "--out", str(tmp_path / "x"),
                      "--password", password], home)
        assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
        assert kind in result.stderr and password not in result.stderr and "1234567" not in result.stderr
        assert not (tmp_path / "x").exists()
    for args in cases:
        result = cli(args, home)
        assert result.returncode != 0, args
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("fincert: error:"), (args, result.stderr)
        assert "482916" not in result.stderr and "Traceback" not in result.stderr
    assert run_json(cli, ["cert", "list", "--member", "1"], home)["certificates"] == []
    # Nothing is left half-done: the next proper issuance works.
    ok = run_json(cli, ["cert", "issue", "1", "--security-card", card, "--storage", "cloud", "--pin", "482916"], home)
    assert ok["storage"] == "cloud"


def test_renewing_a_key_folder_outside_the_npki_layout_writes_beside_it(cli, home, tmp_path):
    env = {"FINCERT_JOINT_VALIDITY_DAYS": "20"}
    issued = run_json(cli, ["cert", "issue", "1", "--product", "joint", "--security-card", str(tmp_path / "card1.json"),
                            "--storage", "file", "--out", str(tmp_path / "usb"), "--password", PASSWORD], home, env=env)
    # The holder keeps a copy of the folder under a name of their own, three levels deep.
    copy = tmp_path / "a" / "b" / "c" / "mine"
    copy.mkdir(parents=True)
    for name in ("signCert.der", "signPri.key"):
        (copy / name).write_bytes((tmp_path / "usb" / issued["files"][0].split("/usb/")[1]).parent.joinpath(name).read_bytes())
    renewed = run_json(cli, ["cert", "renew", "--key-dir", str(copy), "--password", PASSWORD], home, env=env)
    assert renewed["replaced"] == issued["serial"]
    beside = copy.parent / "NPKI" / "fincert" / "USER"
    assert all(f.startswith(str(beside) + "/") for f in renewed["files"]), renewed["files"]
    (folder,) = list(beside.iterdir())
    certificate, _ = read_npki_folder(folder, PASSWORD)
    assert format(certificate.serial_number, "x") == renewed["serial"]
    assert not (tmp_path / "NPKI").exists()  # three folders up from the copy


def test_a_reissue_with_a_bad_reason_says_so_before_asking_for_the_code(cli, tmp_path):
    result = cli(["cert", "reissue", "1", "--reason", "bogus", "--otp", "123456", "--storage", "cloud", "--pin", "482916"], tmp_path / "h")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "reissue reason must be one of lost, forgotten, locked, expired" in lines[0]


def test_hold_and_restore(cli, home, tmp_path):
    """`cert revoke --reason certificateHold` suspends; `cert restore` makes it valid again;
    any other reason is final."""
    card = str(tmp_path / "card1.json")
    issued = run_json(cli, ["cert", "issue", "1", "--product", "joint", "--security-card", card, "--storage", "file",
                            "--out", str(tmp_path / "usb"), "--password", PASSWORD], home)
    serial = issued["serial"]
    held = run_json(cli, ["cert", "revoke", serial, "--reason", "certificateHold"], home)
    assert (held["status"], held["revocation_reason"]) == ("revoked", "certificateHold")
    restored = run_json(cli, ["cert", "restore", serial], home)
    assert (restored["status"], restored["revocation_reason"]) == ("active", None)
    again = cli(["cert", "restore", serial], home)
    assert again.returncode == 1 and "not on hold" in again.stderr and "Traceback" not in again.stderr
    run_json(cli, ["cert", "revoke", serial, "--reason", "keyCompromise"], home)
    final = cli(["cert", "restore", serial], home)
    assert final.returncode == 1 and "final" in final.stderr
    assert run_json(cli, ["cert", "show", serial], home)["revocation_reason"] == "keyCompromise"


def test_the_readable_report_keeps_each_line_whole_and_names_the_files(cli, home, tmp_path):
    """Without --json: one line for the certificate and one per file written, never folded at
    80 columns (a serial or a path cut in two cannot be copied)."""
    out = tmp_path / ("a-rather-long-folder-name-for-the-usb-stick" * 2)
    result = cli(["cert", "issue", "1", "--security-card", str(tmp_path / "card1.json"), "--storage", "file",
                  "--out", str(out), "--password", PASSWORD], home)
    assert result.returncode == 0, result.stderr
    summary, *written = result.stdout.splitlines()
    serial = re.search(r"certificate ([0-9a-f]+) \(file\), valid until \S+$", summary).group(1)
    assert len(written) == 2 and all(line.startswith(f"  wrote {out}/NPKI/") for line in written)
    assert {line.rsplit("/", 1)[1] for line in written} == {"signCert.der", "signPri.key"}
    assert run_json(cli, ["cert", "show", serial], home)["status"] == "active"


def test_renewing_a_file_certificate_as_a_cloud_one_says_so_first(cli, home, tmp_path):
    """Outside the renewal window too: the window is not the problem, the storage is."""
    issued = run_json(cli, ["cert", "issue", "1", "--product", "joint", "--security-card", str(tmp_path / "card1.json"),
                            "--storage", "file", "--out", str(tmp_path / "usb"), "--password", PASSWORD], home)
    wrong = cli(["cert", "renew", "--cloud", issued["serial"], "--pin", "482916"], home)
    assert wrong.returncode == 1 and "keeps its key in files" in wrong.stderr and "--key-dir" in wrong.stderr
    assert "Traceback" not in wrong.stderr and len(wrong.stderr.strip().splitlines()) == 1


def test_reissue_names_which_certificate_to_replace(cli, home, tmp_path):
    """Two joint certificates: --serial picks the older one (without it, the newest is replaced)."""
    card, storage = str(tmp_path / "card1.json"), ["--storage", "file", "--out", str(tmp_path / "usb"), "--password", PASSWORD]
    older = run_json(cli, ["cert", "issue", "1", "--product", "joint", "--security-card", card, *storage], home)
    newer = run_json(cli, ["cert", "issue", "1", "--product", "joint", "--security-card", card, *storage], home)
    assert cli(["member", "send-code", "1"], home).returncode == 0
    reissued = run_json(cli, ["cert", "reissue", "1", "--security-card", card, "--sms-code", sms_code(cli, home),
                              "--serial", older["serial"], "--reason", "forgotten", *storage], home)
    assert reissued["replaced"] == older["serial"] and reissued["product"] == "joint"
    assert run_json(cli, ["cert", "show", newer["serial"]], home)["status"] == "active"
    # The reissued certificate keeps the older one's subject: its files replace the older one's
    # (whose password was forgotten) in the same folder; the newer one's folder is untouched.
    assert reissued["files"] == older["files"]
    assert format(read_npki_folder(Path(older["files"][0]).parent, PASSWORD)[0].serial_number, "x") == reissued["serial"]
    assert format(read_npki_folder(Path(newer["files"][0]).parent, PASSWORD)[0].serial_number, "x") == newer["serial"]
