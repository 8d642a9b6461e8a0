"""`fincert crl` and `fincert ocsp refresh` as a user runs them, in a separate process."""

from __future__ import annotations

import json

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from fincert.ca.authority import IssuanceRequest, SubjectIdentity
from fincert.config import Settings
from fincert.runtime import open_runtime


def test_crl_and_ocsp_refresh_commands(cli, tmp_path):
    home = tmp_path / "home"
    env = {"FINCERT_CA_PASSPHRASE": "cli-va-passphrase"}
    assert cli(["init", "--json"], home, env=env).returncode == 0
    rt = open_runtime(Settings(home=home, ca_passphrase="cli-va-passphrase", log_level="WARNING"))
    try:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        certs = [rt.ca.issue(IssuanceRequest("joint", key.public_key(), SubjectIdentity("최유진", "한빛은행"))).certificate for _ in range(2)]
        rt.ca.revoke(format(certs[0].serial_number, "x"), "keyCompromise", actor="operator:test")  # no VA in this runtime
        issuing = rt.ca.hierarchy().issuing
    finally:
        rt.close()

    out = tmp_path / "full.crl"
    first = cli(["crl", "--json", "--out", str(out)], home, env=env)
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    assert data["crl_number"] == 1 and data["revoked"] == 1 and data["partitions"] == 1
    assert data["issuer"] == issuing.subject.rfc4514_string() and data["out"] == str(out)
    crl = x509.load_der_x509_crl(out.read_bytes())
    assert crl.is_signature_valid(issuing.public_key())
    assert [r.serial_number for r in crl] == [certs[0].serial_number]
    again = json.loads(cli(["crl", "--json"], home, env=env).stdout)
    assert again["crl_number"] == 2 and again["out"] is None

    refreshed = cli(["ocsp", "refresh", "--json"], home, env=env)
    assert refreshed.returncode == 0, refreshed.stderr
    report = json.loads(refreshed.stdout)
    assert (report["signed"], report["good"], report["revoked"]) == (2, 1, 1)
    assert json.loads(cli(["ocsp", "refresh", "--json"], home, env=env).stdout)["signed"] == 0

    human = cli(["crl"], home, env=env)
    assert human.returncode == 0 and "CRL 3 of" in human.stdout and "1 revoked" in human.stdout


def test_crl_without_a_ca_is_one_error_line(cli, tmp_path):
    result = cli(["crl", "--json"], tmp_path / "empty", env={"FINCERT_CA_PASSPHRASE": "cli-va-passphrase"})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["fincert: error: the CA is not initialised: run `fincert init`"]
