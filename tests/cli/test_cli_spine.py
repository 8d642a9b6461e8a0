"""The spine's commands, run as a user runs them: separate processes, real files."""

from __future__ import annotations

import json
import sqlite3


def test_init_creates_hierarchy_and_keeps_it(cli, tmp_path):
    home = tmp_path / "home"
    first = cli(["init", "--json"], home)
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    assert set(data) >= {"home", "root_ca", "issuing_ca"}
    assert data["created"] is True
    root_pem = (home / "ca" / "root.pem").read_bytes()

    again = cli(["init", "--json"], home)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["created"] is False
    assert (home / "ca" / "root.pem").read_bytes() == root_pem

    # Key files are encrypted PKCS#8 with 0600 permissions; no plaintext key on disk.
    keys = list((home / "keys").glob("*.p8"))
    assert len(keys) == 2
    for key in keys:
        assert key.stat().st_mode & 0o777 == 0o600
        assert b"PRIVATE KEY" not in key.read_bytes()
    assert (home / "secrets" / "ca_passphrase").stat().st_mode & 0o777 == 0o600


def test_p256_hierarchy(cli, tmp_path):
    result = cli(["init", "--key-type", "p256", "--json"], tmp_path / "h")
    assert result.returncode == 0, result.stderr
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

    cert = x509.load_pem_x509_certificate((tmp_path / "h" / "ca" / "issuing.pem").read_bytes())
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)


def test_institutions_add_and_list(cli, tmp_path):
    home = tmp_path / "home"
    assert cli(["init"], home).returncode == 0
    added = cli(["institution", "add", "KBANK", "--name", "케이뱅크", "--type", "bank", "--json"], home)
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout) == {"code": "KBANK", "name": "케이뱅크", "type": "bank"}
    listed = json.loads(cli(["institution", "list", "--json"], home).stdout)
    assert {"code": "KBANK", "name": "케이뱅크", "type": "bank"} in listed["institutions"]


def test_user_mistakes_are_one_line_without_traceback(cli, tmp_path):
    home = tmp_path / "home"
    assert cli(["init"], home).returncode == 0
    cases = [
        ["institution", "add", "KBANK", "--name", "x", "--type", "casino"],
        ["init", "--key-type", "rsa1024"],
        ["institution", "add", "K", "--name", "x"],
        ["institution", "add", "AB\n", "--name", "x"],  # re's "$" matches before a final newline
        ["institution", "add", "--name", "x"],
        ["no-such-command"],
    ]
    for args in cases:
        result = cli(args, home)
        assert result.returncode != 0, args
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, (args, result.stderr)
        assert lines[0].startswith("fincert: error:"), lines
        assert "Traceback" not in result.stderr
    cli(["institution", "add", "DUP", "--name", "one"], home)
    duplicate = cli(["institution", "add", "DUP", "--name", "two"], home)
    assert duplicate.returncode == 1
    assert "already exists" in duplicate.stderr


def test_audit_verify_names_the_first_broken_record(cli, tmp_path):
    home = tmp_path / "home"
    assert cli(["init", "--demo"], home).returncode == 0
    ok = cli(["audit", "verify", "--json"], home)
    assert ok.returncode == 0, ok.stderr
    report = json.loads(ok.stdout)
    assert report["ok"] is True and report["records"] == 5  # 2 CAs + 3 sample institutions

    with sqlite3.connect(home / "fincert.db") as conn:
        conn.execute("UPDATE audit_log SET details_json = '{\"name\": \"forged\", \"type\": \"bank\"}' WHERE seq = 4")
    broken = cli(["audit", "verify", "--json"], home)
    assert broken.returncode == 1
    report = json.loads(broken.stdout)
    assert report["ok"] is False and report["first_broken_seq"] == 4

    human = cli(["audit", "verify"], home)
    assert "BROKEN at record 4" in human.stdout


def test_production_mode_refuses_missing_or_default_secrets(cli, tmp_path):
    result = cli(["institution", "list"], tmp_path / "p", env={"FINCERT_MODE": "production", "FINCERT_CA_PASSPHRASE": "changeme"})
    assert result.returncode == 1
    assert "FINCERT_CA_PASSPHRASE" in result.stderr
    strong = {
        "FINCERT_MODE": "production",
        "FINCERT_CA_PASSPHRASE": "a-long-enough-passphrase-1",
        "FINCERT_MASTER_KEY": "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=",
        "FINCERT_SECRET_KEY": "another-long-secret-value-2",
        "FINCERT_DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}",
    }
    oid = cli(["institution", "list"], tmp_path / "p", env=strong)
    assert oid.returncode == 1 and "POLICY_OID" in oid.stderr
    strong |= {"FINCERT_FINANCIAL_POLICY_OID": "1.2.410.200005.1.1.1.10", "FINCERT_JOINT_POLICY_OID": "1.2.410.200005.1.1.4"}
    outbox = cli(["institution", "list"], tmp_path / "p", env=strong)
    assert outbox.returncode == 1 and "WEBHOOK" in outbox.stderr
    strong |= {"FINCERT_MESSAGE_SENDER": "webhook", "FINCERT_MESSAGE_WEBHOOK_URL": "https://sms-gateway.example/send"}
    uninitialised = cli(["institution", "list", "--json"], tmp_path / "p", env=strong)
    assert uninitialised.returncode == 1 and "fincert init" in uninitialised.stderr
    assert not (tmp_path / "p.db").exists()  # the refusal created no database
    assert cli(["init", "--json"], tmp_path / "p", env=strong).returncode == 0
    fine = cli(["institution", "list", "--json"], tmp_path / "p", env=strong)
    assert fine.returncode == 0, fine.stderr
    assert not (tmp_path / "p" / "secrets").exists()


def test_init_that_cannot_write_the_ca_files_says_where_and_a_retry_writes_them(cli, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "ca").write_text("a file where the CA folder goes\n")

    failed = cli(["init", "--json"], home)
    assert failed.returncode != 0
    assert "Traceback" not in failed.stderr
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1, failed.stderr
    assert str(home / "ca") in lines[0] and "fincert init" in lines[0]
    assert failed.stdout == ""

    # The CA was stored before the write failed; once the path is fixed, init keeps that CA
    # and writes its files.
    (home / "ca").unlink()
    again = cli(["init", "--json"], home)
    assert again.returncode == 0, again.stderr
    data = json.loads(again.stdout)
    assert data["created"] is False
    assert (home / "ca" / "root.pem").read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert not list((home / "ca").glob(".*partial"))
    assert len(list((home / "keys").glob("*.p8"))) == 2
