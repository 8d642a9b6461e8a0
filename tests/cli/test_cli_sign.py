"""`fincert sign` / `fincert verify` as a user runs them: JSON shape, exit codes, one-line errors;
on the embedded default (SQLite) and on PostgreSQL (the cloud key's PIN counting among others)."""

from __future__ import annotations

import datetime as dt
import json
import socket

import pytest
from holders import npki_holder

from fincert.ca.authority import IssuanceRequest, SubjectIdentity
from fincert.config import Settings
from fincert.runtime import open_runtime
from both_databases import on_database
from pg_databases import fresh_database

PASSWORD = "npki-pass-2024!"
RRN = "900101-1234568"
DATA = "전자서명 원문".encode()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database_env(request):
    """What points the CLI at the deployment's database: nothing for the embedded default."""
    if request.param == "sqlite":
        yield {}
        return
    with fresh_database() as url:
        yield {"FINCERT_DATABASE_URL": url}


@pytest.fixture
def cli(cli, database_env):
    """The conftest's ``cli``, on the deployment's database."""
    return on_database(cli, database_env)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, database_env):
    """A FINCERT_HOME with its CA, an NPKI folder and a cloud certificate."""
    home = tmp_path_factory.mktemp("home")
    url = database_env.get("FINCERT_DATABASE_URL")
    rt = open_runtime(Settings(home=home, log_level="WARNING", **({"database_url": url} if url else {})))
    try:
        rt.initialize()
        issued, folder, random_num = npki_holder(rt, home / "usb", PASSWORD, rrn=RRN)
        handle = rt.vault.create_key(1, "482915", dt.date(1990, 1, 1))
        cloud = rt.ca.issue(IssuanceRequest("financial", handle.public_key, SubjectIdentity("김민지", "한빛은행")))
        rt.vault.bind_certificate(handle.key_id, cloud.serial)
    finally:
        rt.close()
    (home / "doc.txt").write_bytes(DATA)
    return {"home": home, "folder": folder, "random_num": random_num, "subject": issued.certificate.subject.rfc4514_string(), "cloud": cloud.serial}


def one_line_error(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("fincert: error: ")
    return lines[0]


def test_sign_and_verify_npki_with_local_tsa(cli, deployment, tmp_path):
    home = deployment["home"]
    signature = tmp_path / "doc.sig"
    signed = cli(
        ["sign", "--in", str(home / "doc.txt"), "--out", str(signature), "--key-dir", str(deployment["folder"]), "--tsa", "local", "--json"],
        home,
        env={"FINCERT_SIGN_PASSWORD": PASSWORD},
    )
    assert signed.returncode == 0, signed.stderr
    result = json.loads(signed.stdout)
    assert set(result) >= {"signature", "signer", "random_num", "timestamp"}
    assert result["signer"] == deployment["subject"] and result["random_num"] == deployment["random_num"].hex()
    assert dt.datetime.fromisoformat(result["timestamp"]).tzinfo is not None

    verified = cli(
        ["verify", "--in", str(home / "doc.txt"), "--signature", str(signature), "--random-num", result["random_num"], "--json"],
        home,
        env={"FINCERT_VERIFY_RRN": RRN},
    )
    assert verified.returncode == 0, verified.stderr
    report = json.loads(verified.stdout)
    for key in ("valid", "signer", "signed_at", "timestamp", "certificate_status", "vid_match"):
        assert key in report
    assert report["valid"] and report["vid_match"] and report["certificate_status"] == "good"

    other_rrn = cli(
        ["verify", "--in", str(home / "doc.txt"), "--signature", str(signature), "--rrn", "850505-2234567", "--random-num", result["random_num"], "--json"],
        home,
    )
    # A valid signature of someone else: the VID check fails the command (a script's `&&` stops).
    assert other_rrn.returncode == 1 and json.loads(other_rrn.stdout)["vid_match"] is False

    human = cli(["verify", "--in", str(home / "doc.txt"), "--signature", str(signature)], home)
    assert human.returncode == 0 and human.stdout.startswith("VALID")

    (tmp_path / "other.txt").write_bytes(DATA + b"!")
    tampered = cli(["verify", "--in", str(tmp_path / "other.txt"), "--signature", str(signature)], home)
    assert tampered.returncode == 1 and tampered.stdout.startswith("INVALID: content does not match")


def test_cloud_signing_counts_wrong_pins(cli, deployment, tmp_path):
    home = deployment["home"]
    out = tmp_path / "c.sig"
    signed = cli(["sign", "--in", str(home / "doc.txt"), "--out", str(out), "--cloud", deployment["cloud"], "--json"], home, env={"FINCERT_SIGN_PIN": "482915"})
    assert signed.returncode == 0, signed.stderr
    assert json.loads(signed.stdout)["random_num"] is None
    assert cli(["verify", "--in", str(home / "doc.txt"), "--signature", str(out)], home).returncode == 0

    wrong = cli(["sign", "--in", str(home / "doc.txt"), "--out", str(out), "--cloud", deployment["cloud"], "--pin", "000001"], home)
    assert wrong.returncode == 1
    line = one_line_error(wrong)
    assert "wrong PIN: 4 tries left" in line and "000001" not in line


@pytest.mark.parametrize(
    "args, message",
    [
        (["--key-dir", "X", "--p12", "Y", "--password", PASSWORD], "choose exactly one key"),
        (["--key-dir", "FOLDER"], "--key-dir needs --password"),
        (["--cloud", "abc"], "--cloud needs --pin"),
        (["--key-dir", "FOLDER", "--password", "wrong-password-1!"], "wrong password for the private key file"),
        (["--key-dir", "FOLDER", "--password", PASSWORD, "--tsa", "gopher://x"], "the TSA must be an http(s) URL"),
    ],
)
def test_sign_mistakes_are_one_line(cli, deployment, tmp_path, args, message):
    home = deployment["home"]
    args = [str(deployment["folder"]) if a == "FOLDER" else a for a in args]
    result = cli(["sign", "--in", str(home / "doc.txt"), "--out", str(tmp_path / "s"), *args], home)
    assert result.returncode == 1
    line = one_line_error(result)
    assert message in line
    assert PASSWORD not in line
    assert not (tmp_path / "s").exists()


def test_verify_mistakes_are_one_line(cli, deployment, tmp_path):
    home = deployment["home"]
    missing = cli(["verify", "--in", str(home / "doc.txt"), "--signature", str(tmp_path / "none.sig")], home)
    assert missing.returncode == 1 and "does not exist" in one_line_error(missing)
    (tmp_path / "junk.sig").write_bytes(b"junk")
    junk = cli(["verify", "--in", str(home / "doc.txt"), "--signature", str(tmp_path / "junk.sig"), "--rrn", RRN], home)
    assert junk.returncode == 1
    assert "1234568" not in junk.stderr and "1234568" not in junk.stdout
    missing_out_dir = cli(["sign", "--in", str(home / "doc.txt"), "--out", str(tmp_path / "no" / "s"), "--cloud", "ab", "--pin", "482915"], home)
    assert missing_out_dir.returncode == 1 and "does not exist" in one_line_error(missing_out_dir)


# `--tsa URL` names what went wrong: unreachable, not a URL, or (only when it really did) refused;
# never "did not grant" for a TSA that was never asked.


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sign_with_tsa(cli, deployment, out, tsa):
    home = deployment["home"]
    return cli(["sign", "--in", str(home / "doc.txt"), "--out", str(out), "--key-dir", str(deployment["folder"]),
                "--password", PASSWORD, "--tsa", tsa, "--json"], home)


@pytest.mark.parametrize("url", ["http://127.0.0.1:1/tsa", "CLOSED"])
def test_closed_port_says_the_tsa_cannot_be_reached(cli, deployment, tmp_path, url):
    url = f"http://127.0.0.1:{closed_port()}/tsa" if url == "CLOSED" else url
    result = sign_with_tsa(cli, deployment, tmp_path / "s", url)
    assert result.returncode == 1
    line = one_line_error(result).removeprefix("fincert: error: ")
    assert line.startswith(f"cannot reach the TSA at {url} (") and "grant" not in line
    assert PASSWORD not in result.stderr
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("url", ["not a url", "http://", "http://[::1/tsa", "https://tsa.example:notaport/tsa"])
def test_malformed_url_is_called_malformed(cli, deployment, tmp_path, url):
    result = sign_with_tsa(cli, deployment, tmp_path / "s", url)
    assert result.returncode == 1
    assert one_line_error(result).removeprefix("fincert: error: ") == "the TSA must be an http(s) URL or 'local'"
    assert not (tmp_path / "s").exists()


def test_password_in_a_tsa_url_is_not_echoed(cli, deployment, tmp_path):
    result = sign_with_tsa(cli, deployment, tmp_path / "s", "http://stamp:tsa-secret-9@127.0.0.1:1/tsa")
    assert result.returncode == 1
    line = one_line_error(result).removeprefix("fincert: error: ")
    assert "tsa-secret-9" not in result.stderr and line.startswith("cannot reach the TSA at http://***@127.0.0.1:1/tsa (")
