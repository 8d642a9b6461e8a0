"""A CA whose keys live on a PKCS#11 token (SoftHSM2), checked by the other side: `fincert init`,
`cert issue` and `cert revoke` from the command line, then `openssl verify`, `openssl ocsp`,
`openssl crl` and `openssl ts -verify` on what the CA, the VA and the TSA signed on the token."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from fincert.config import Settings
from fincert.runtime import open_runtime
from fincert.storage.models_vault import CloudKey
from softhsm import softhsm_token  # noqa: F401 - the session's token

pytestmark = pytest.mark.interop

PASSWORD = "Passw0rd!23"
PEM = serialization.Encoding.PEM


def openssl(*args, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, timeout=60, **kw)


def fincert(cli, args, home, token):
    result = cli(args, home, env=token.env())
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if "--json" in args else result


@pytest.fixture
def deployment(cli, softhsm_token, tmp_path):
    home = tmp_path / "home"
    init = fincert(cli, ["init", "--demo", "--json"], home, softhsm_token)
    fincert(cli, ["member", "register", "--institution", "HANBIT", "--name", "홍길동", "--rrn", "900101-1234567",
                  "--phone", "010-1234-5678", "--email", "hong@example.com", "--json"], home, softhsm_token)
    card = fincert(cli, ["member", "enroll", "1", "--method", "security-card", "--json"], home, softhsm_token)
    (tmp_path / "card.json").write_text(json.dumps(card))
    return home, init


def test_a_token_backed_ca_is_accepted_by_openssl(cli, softhsm_token, deployment, tmp_path):
    home, init = deployment
    assert init["created"] is True
    # No private key in the home: no key directory, no PKCS#8 file anywhere.
    assert not (home / "keys").exists()
    assert not [p for p in home.rglob("*") if p.suffix in (".p8", ".key")]
    root, issuing = Path(init["root_ca"]), Path(init["issuing_ca"])
    chain = tmp_path / "chain.pem"
    chain.write_bytes(root.read_bytes() + issuing.read_bytes())
    assert openssl("verify", "-CAfile", root, issuing).returncode == 0

    issued = fincert(cli, ["cert", "issue", "1", "--security-card", str(tmp_path / "card.json"), "--storage", "file",
                           "--out", str(tmp_path / "usb"), "--password", PASSWORD, "--format", "pkcs12", "--json"], home, softhsm_token)
    (p12,) = issued["files"]
    leaf = tmp_path / "leaf.pem"
    assert openssl("pkcs12", "-in", p12, "-nokeys", "-clcerts", "-passin", f"pass:{PASSWORD}", "-out", leaf).returncode == 0
    verified = openssl("verify", "-CAfile", root, "-untrusted", issuing, leaf)
    assert verified.returncode == 0 and f"{leaf}: OK" in verified.stdout, verified.stderr

    settings = Settings(home=home, **{k.removeprefix("FINCERT_").lower(): v for k, v in softhsm_token.env().items()
                                      if k.startswith("FINCERT_")})
    rt = open_runtime(settings)
    try:
        # OCSP: the responder's key and certificate are made on the token at the first request.
        request = tmp_path / "req.der"
        assert openssl("ocsp", "-issuer", issuing, "-cert", leaf, "-no_nonce", "-reqout", request).returncode == 0
        response = tmp_path / "resp.der"
        response.write_bytes(rt.va.ocsp.respond(request.read_bytes()).der)
        checked = openssl("ocsp", "-respin", response, "-issuer", issuing, "-cert", leaf, "-CAfile", chain)
        assert checked.returncode == 0 and "Response verify OK" in checked.stderr and f"{leaf}: good" in checked.stdout, checked

        # RFC 3161: a token signed on the token, verified against the data and the query.
        data = tmp_path / "contract.txt"
        data.write_text("이체 100,000원")
        query = tmp_path / "q.tsq"
        assert openssl("ts", "-query", "-data", data, "-sha256", "-cert", "-out", query).returncode == 0
        reply = tmp_path / "r.tsr"
        reply.write_bytes(rt.tsa.respond(query.read_bytes()))
        stamped = openssl("ts", "-verify", "-queryfile", query, "-in", reply, "-CAfile", root, "-untrusted", issuing)
        assert stamped.returncode == 0 and "Verification: OK" in stamped.stdout, stamped

        # Revoked from the command line; the CRL is signed with the issuing CA's key on the token.
        fincert(cli, ["cert", "revoke", issued["serial"], "--reason", "keyCompromise", "--json"], home, softhsm_token)
        rt.va.crl.publish()
        crl = tmp_path / "crl.pem"
        crl.write_bytes(
            x509.load_der_x509_crl(rt.va.crl.crl(rt.ca.hierarchy().issuing_id, "full").der).public_bytes(PEM)
        )
        assert "verify OK" in openssl("crl", "-in", crl, "-CAfile", chain, "-noout").stderr
        refused = openssl("verify", "-crl_check", "-CAfile", root, "-untrusted", issuing, "-CRLfile", crl, leaf)
        assert refused.returncode != 0 and "certificate revoked" in refused.stdout + refused.stderr
    finally:
        rt.close()


def test_a_wrong_pin_or_a_changed_backend_is_one_clear_line(cli, softhsm_token, deployment):
    home, _ = deployment
    wrong = cli(["init"], home, env={**softhsm_token.env(), "FINCERT_PKCS11_PIN": "999999"})
    assert wrong.returncode == 1 and "Traceback" not in wrong.stderr
    assert wrong.stderr.strip().splitlines() == ["fincert: error: FINCERT_PKCS11_PIN is not the user PIN of token "
                                                 f"{softhsm_token.label!r}"]
    # Keys on the token, the deployment switched back to files: refused, nothing signed.
    switched = cli(["init"], home, env={**softhsm_token.env(), "FINCERT_KEY_BACKEND": "file"})
    assert switched.returncode == 1 and "is not in the configured key backend" in switched.stderr
    assert len(switched.stderr.strip().splitlines()) == 1
    # The CA keeps its key type: asking for another one says so instead of keeping it silently.
    other_type = cli(["init", "--key-type", "p256"], home, env=softhsm_token.env())
    assert other_type.returncode == 1 and "already exists with rsa2048 keys" in other_type.stderr
    assert cli(["init", "--key-type", "rsa2048"], home, env=softhsm_token.env()).returncode == 0


def test_the_forked_ocsp_workers_sign_on_the_token(cli, softhsm_token, deployment, tmp_path):
    # `fincert ocsp serve` opens the token, then forks its workers: each must open it again
    # (PKCS#11 state does not survive a fork). openssl sends a nonce, so a worker signs live.
    home, init = deployment
    root, issuing = Path(init["root_ca"]), Path(init["issuing_ca"])
    chain = tmp_path / "chain.pem"
    chain.write_bytes(root.read_bytes() + issuing.read_bytes())
    issued = fincert(cli, ["cert", "issue", "1", "--security-card", str(tmp_path / "card.json"), "--storage", "file",
                           "--out", str(tmp_path / "usb"), "--password", PASSWORD, "--format", "pkcs12", "--json"], home, softhsm_token)
    leaf = tmp_path / "leaf.pem"
    assert openssl("pkcs12", "-in", issued["files"][0], "-nokeys", "-clcerts", "-passin", f"pass:{PASSWORD}", "-out", leaf).returncode == 0

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINCERT_")}
    env.update(softhsm_token.env(), FINCERT_HOME=str(home), FINCERT_LOG_LEVEL="WARNING")
    log = tmp_path / "ocsp.log"
    with log.open("wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "fincert", "ocsp", "serve", "--port", str(port), "--workers", "2",
                                   "--no-upkeep"], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        answers = []
        while time.monotonic() < deadline and len(answers) < 6:
            assert server.poll() is None, log.read_text()
            asked = openssl("ocsp", "-url", f"http://127.0.0.1:{port}/ocsp", "-issuer", issuing, "-cert", leaf, "-CAfile", chain,
                            "-timeout", "10")
            if "Response verify OK" in asked.stderr:
                assert "nonce" not in asked.stderr.lower(), asked.stderr  # its nonce echoed: signed for this request
                answers.append(asked.stdout)
            else:
                time.sleep(0.2)
        assert len(answers) == 6, log.read_text()
        assert all(f"{leaf}: good" in answer for answer in answers)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    assert "Traceback" not in log.read_text()


def test_a_cloud_certificate_on_a_token_backed_service_signs_for_openssl(cli, softhsm_token, deployment, tmp_path):
    # The holder's key is in the vault, wrapped with a server half made on the token (format 2);
    # `fincert sign --cloud` unlocks it with the PIN and openssl checks the CMS signature.
    home, init = deployment
    issued = fincert(cli, ["cert", "issue", "1", "--security-card", str(tmp_path / "card.json"), "--storage", "cloud",
                           "--pin", "482916", "--json"], home, softhsm_token)
    settings = Settings(home=home, **{k.removeprefix("FINCERT_").lower(): v for k, v in softhsm_token.env().items()
                                      if k.startswith("FINCERT_")})
    rt = open_runtime(settings)
    try:
        with rt.db.reader() as session:
            (wrapped, server_key_id) = session.execute(
                select(CloudKey.wrapped_key, CloudKey.server_key_id).where(CloudKey.certificate_serial == issued["serial"])
            ).one()
    finally:
        rt.close()
    assert wrapped[0] == 2 and server_key_id.startswith("hsm-")

    contract = tmp_path / "contract.txt"
    contract.write_text("이체 100,000원")
    fincert(cli, ["sign", "--in", str(contract), "--out", str(tmp_path / "sig.der"), "--cloud", issued["serial"],
                  "--pin", "482916"], home, softhsm_token)
    root, issuing = Path(init["root_ca"]), Path(init["issuing_ca"])
    checked = openssl("cms", "-verify", "-inform", "DER", "-in", tmp_path / "sig.der", "-content", contract, "-binary",
                      "-CAfile", root, "-certfile", issuing, "-purpose", "any", "-out", "/dev/null")
    assert checked.returncode == 0 and "Verification successful" in checked.stderr, checked.stderr
