"""fincert's signatures and TSA against the other side: openssl and pyHanko's validator.

A real ``fincert serve`` answers the TSA over HTTP; ``openssl ts`` makes the queries and
verifies the tokens. ``fincert sign`` (a subprocess, as a holder runs it) signs from an NPKI
folder and a PKCS#12 file, time-stamped through the live HTTP TSA, and ``openssl cms -verify``
checks the signatures. pyHanko's CMS validator, given CRLs for the revocation cases, must agree
with ``fincert verify`` on valid, tampered, foreign-chain, revoked-before-signing and
time-stamped-before-revocation signatures.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from asn1crypto import cms
from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pyhanko.sign.validation.generic_cms import async_validate_detached_cms
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko_certvalidator import ValidationContext
from sqlalchemy import select

from fincert.ca.authority import IssuanceRequest, SubjectIdentity
from fincert.clock import FakeClock
from fincert.config import Settings
from fincert.formats import npki, pkcs12, vid
from fincert.runtime import Runtime, open_runtime
from fincert.sign.testing import build_test_pki
from fincert.storage.models import Authority, Certificate

pytestmark = pytest.mark.interop

PASSWORD = "npki-pass-2024!"
RRN = "900101-1234568"
DATA = "전자서명 원문: 계좌이체 1,000,000원\r\nbinary \x00\xff".encode()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINCERT_")}
    env.update({"FINCERT_HOME": str(home), "FINCERT_LOG_LEVEL": "WARNING"})
    return env


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``fincert serve`` on a free loopback port, with its FINCERT_HOME."""
    home = tmp_path_factory.mktemp("home")
    port = _free_port()
    env = _env(home)
    env["FINCERT_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "fincert", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            if process.poll() is not None:
                raise RuntimeError(f"fincert serve exited: {process.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise RuntimeError("fincert serve did not start")
        yield home, url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _runtime(home: Path, clock=None) -> Runtime:
    return open_runtime(Settings(home=home, log_level="WARNING"), clock=clock)


@pytest.fixture(scope="module")
def holder_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, check=False)


def fincert(home: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fincert", *map(str, args)], capture_output=True, text=True, env=_env(home), timeout=120
    )


def _issue(home: Path, key, *, clock=None, random_num: bytes | None = None) -> x509.Certificate:
    rt = _runtime(home, clock)
    try:
        identify = vid.identify_data_other_name("홍길동", RRN.replace("-", ""), random_num) if random_num else None
        return rt.ca.issue(
            IssuanceRequest("joint", key.public_key(), SubjectIdentity("홍길동", "한빛은행"), identify_data=identify)
        ).certificate
    finally:
        rt.close()


def _write_npki(home: Path, where: Path, key, certificate, random_num: bytes) -> Path:
    return npki.write_npki_folder(where, "fincert", certificate, npki.write_sign_pri_key(key, PASSWORD, random_num))


# --- the live TSA ---------------------------------------------------------------------------------


def test_openssl_verifies_tokens_from_the_live_tsa(server, tmp_path):
    home, url = server
    (tmp_path / "f").write_bytes(DATA)
    made = openssl("ts", "-query", "-data", tmp_path / "f", "-sha256", "-cert", "-out", tmp_path / "q.tsq")
    assert made.returncode == 0, made.stderr

    reply = httpx.post(
        f"{url}/tsa", content=(tmp_path / "q.tsq").read_bytes(), headers={"Content-Type": "application/timestamp-query"}
    )
    assert reply.status_code == 200 and reply.headers["content-type"] == "application/timestamp-reply"
    (tmp_path / "r.tsr").write_bytes(reply.content)

    # The TSA certificate, taken out of the token by openssl itself.
    assert openssl("ts", "-reply", "-in", tmp_path / "r.tsr", "-token_out", "-out", tmp_path / "tok.der").returncode == 0
    printed = openssl("pkcs7", "-inform", "DER", "-in", tmp_path / "tok.der", "-print_certs", "-out", tmp_path / "tsa.pem")
    assert printed.returncode == 0, printed.stderr
    tsa_cert = x509.load_pem_x509_certificate((tmp_path / "tsa.pem").read_bytes())
    assert tsa_cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).critical

    root = home / "ca" / "root.pem"
    verified = openssl(
        "ts", "-verify", "-data", tmp_path / "f", "-in", tmp_path / "r.tsr", "-CAfile", root, "-untrusted", tmp_path / "tsa.pem"
    )
    assert verified.returncode == 0, verified.stderr
    assert "Verification: OK" in verified.stdout
    with_query = openssl(
        "ts", "-verify", "-queryfile", tmp_path / "q.tsq", "-in", tmp_path / "r.tsr", "-CAfile", root, "-untrusted", tmp_path / "tsa.pem"
    )
    assert with_query.returncode == 0, with_query.stderr

    text = openssl("ts", "-reply", "-in", tmp_path / "r.tsr", "-text").stdout
    assert "Policy OID: 1.3.6.1.4.1.32473.410.2.1" in text and "Accuracy: 0x01 seconds" in text

    tampered = tmp_path / "g"
    tampered.write_bytes(DATA + b"!")
    refused = openssl("ts", "-verify", "-data", tampered, "-in", tmp_path / "r.tsr", "-CAfile", root, "-untrusted", tmp_path / "tsa.pem")
    assert refused.returncode != 0


def test_live_tsa_serials_increase(server, tmp_path):
    _, url = server
    (tmp_path / "f").write_bytes(DATA)
    serials = []
    for index in range(3):
        query = tmp_path / f"q{index}.tsq"
        assert openssl("ts", "-query", "-data", tmp_path / "f", "-sha256", "-out", query).returncode == 0
        reply = httpx.post(f"{url}/tsa", content=query.read_bytes(), headers={"Content-Type": "application/timestamp-query"})
        (tmp_path / "r.tsr").write_bytes(reply.content)
        text = openssl("ts", "-reply", "-in", tmp_path / "r.tsr", "-text").stdout
        serials.append(int(next(line for line in text.splitlines() if line.startswith("Serial number:")).split(":")[1], 16))
    assert serials == sorted(serials) and len(set(serials)) == 3


def test_live_tsa_refuses_bad_input_without_5xx(server, tmp_path):
    _, url = server
    wrong_type = httpx.post(f"{url}/tsa", content=b"hello", headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 415
    assert wrong_type.headers["content-type"] == "application/problem+json"

    garbage = httpx.post(f"{url}/tsa", content=b"\x30\x03garbage", headers={"Content-Type": "application/timestamp-query"})
    assert garbage.status_code == 200
    (tmp_path / "rej.tsr").write_bytes(garbage.content)
    text = openssl("ts", "-reply", "-in", tmp_path / "rej.tsr", "-text")
    assert text.returncode == 0 and "Status: Rejected." in text.stdout

    empty = httpx.post(f"{url}/tsa", content=b"", headers={"Content-Type": "application/timestamp-query"})
    assert empty.status_code == 200 and b"request is not a DER TimeStampReq" in empty.content


# --- signatures from the CLI ------------------------------------------------------------------------


def _openssl_cms_verify(home: Path, tmp_path: Path, signature: Path, content: Path | None):
    content_args = ["-content", content] if content is not None else []
    return openssl(
        "cms", "-verify", "-binary", "-inform", "DER", "-in", signature, *content_args,
        "-CAfile", home / "ca" / "root.pem", "-purpose", "any", "-out", tmp_path / "out",
    )


def test_openssl_accepts_cli_signature_from_an_npki_folder(server, tmp_path, holder_key):
    home, url = server
    random_num = npki.generate_random_num()
    certificate = _issue(home, holder_key, random_num=random_num)
    folder = _write_npki(home, tmp_path / "usb", holder_key, certificate, random_num)
    (tmp_path / "f").write_bytes(DATA)

    signed = fincert(
        home, "sign", "--in", tmp_path / "f", "--out", tmp_path / "f.sig", "--key-dir", folder,
        "--password", PASSWORD, "--tsa", f"{url}/tsa", "--json",
    )
    assert signed.returncode == 0, signed.stderr
    result = json.loads(signed.stdout)
    assert result["signature"] == str(tmp_path / "f.sig")
    assert result["random_num"] == random_num.hex() and result["timestamp"] is not None
    assert result["signer"] == certificate.subject.rfc4514_string()

    checked = _openssl_cms_verify(home, tmp_path, tmp_path / "f.sig", tmp_path / "f")
    assert checked.returncode == 0, checked.stderr
    assert (tmp_path / "out").read_bytes() == DATA

    verified = fincert(
        home, "verify", "--in", tmp_path / "f", "--signature", tmp_path / "f.sig",
        "--rrn", RRN, "--random-num", result["random_num"], "--json",
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    report = json.loads(verified.stdout)
    assert report["valid"] and report["vid_match"] is True and report["timestamp_valid"] is True
    assert RRN not in verified.stdout

    (tmp_path / "g").write_bytes(DATA + b" ")
    tampered = fincert(home, "verify", "--in", tmp_path / "g", "--signature", tmp_path / "f.sig", "--json")
    assert tampered.returncode == 1 and json.loads(tampered.stdout)["valid"] is False
    assert _openssl_cms_verify(home, tmp_path, tmp_path / "f.sig", tmp_path / "g").returncode != 0


def test_openssl_accepts_attached_pss_cli_signature_from_pkcs12(server, tmp_path, holder_key):
    home, _ = server
    certificate = _issue(home, holder_key)
    rt = _runtime(home)
    try:
        issuing = rt.ca.hierarchy().issuing
    finally:
        rt.close()
    (tmp_path / "h.p12").write_bytes(pkcs12.write_pkcs12(holder_key, certificate, [issuing], PASSWORD, "h", kdf_rounds=2048))
    (tmp_path / "f").write_bytes(DATA)

    signed = fincert(
        home, "sign", "--in", tmp_path / "f", "--out", tmp_path / "f.p7m", "--p12", tmp_path / "h.p12",
        "--password", PASSWORD, "--attached", "--pss", "--tsa", "local", "--json",
    )
    assert signed.returncode == 0, signed.stderr
    assert json.loads(signed.stdout)["random_num"] is None

    checked = _openssl_cms_verify(home, tmp_path, tmp_path / "f.p7m", None)
    assert checked.returncode == 0, checked.stderr
    assert (tmp_path / "out").read_bytes() == DATA
    verified = fincert(home, "verify", "--signature", tmp_path / "f.p7m")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_cli_user_mistakes_are_one_line(server, tmp_path):
    home, _ = server
    (tmp_path / "f").write_bytes(DATA)
    no_key = fincert(home, "sign", "--in", tmp_path / "f", "--out", tmp_path / "s")
    assert no_key.returncode == 1 and no_key.stderr.strip().count("\n") == 0
    assert "choose exactly one key" in no_key.stderr
    not_sig = fincert(home, "verify", "--in", tmp_path / "f", "--signature", tmp_path / "f")
    assert not_sig.returncode == 1 and not_sig.stderr.strip().count("\n") == 0
    assert "not a DER CMS SignedData" in not_sig.stderr


# --- pyHanko agrees ---------------------------------------------------------------------------------


def _crl(issuer: x509.Certificate, key, revoked: list[tuple[int, dt.datetime]], now: dt.datetime) -> asn1_crl.CertificateList:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(now - dt.timedelta(minutes=1))
        .next_update(now + dt.timedelta(days=1))
        .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key()), critical=False)
    )
    for serial, when in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
        )
    return asn1_crl.CertificateList.load(builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))


def _pyhanko_verdict(home: Path, signature: bytes, content: bytes, *, moment: dt.datetime, roots=None) -> bool:
    """pyHanko's bottom line with CRLs (made from the database) for every CA on the path."""
    rt = _runtime(home)
    try:
        hierarchy = rt.ca.hierarchy()
        with rt.db.reader() as session:
            root_label = session.get(Authority, hierarchy.root_id).key_label
            revoked = [
                (int(serial, 16), when.replace(tzinfo=dt.timezone.utc) if when.tzinfo is None else when)
                for serial, when in session.execute(
                    select(Certificate.serial, Certificate.revoked_at).where(Certificate.revoked_at.is_not(None))
                )
            ]
        now = dt.datetime.now(dt.timezone.utc)
        crls = [
            _crl(hierarchy.issuing, rt.keys.private_key_for_library(hierarchy.issuing_key_label), revoked, now),
            _crl(hierarchy.root, rt.keys.private_key_for_library(root_label), [], now),
        ]
        trust = roots or [hierarchy.root]
    finally:
        rt.close()
    context = ValidationContext(
        trust_roots=[asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in trust],
        crls=crls,
        moment=moment,
        allow_fetching=False,
        revocation_mode="hard-fail",
        retroactive_revinfo=True,
    )
    signed_data = cms.ContentInfo.load(signature)["content"]
    status = asyncio.run(
        async_validate_detached_cms(
            content,
            signed_data,
            signer_validation_context=context,
            key_usage_settings=KeyUsageConstraints(key_usage={"non_repudiation"}),
        )
    )
    return bool(status.bottom_line)


def _fincert_verdict(home: Path, tmp_path: Path, signature: bytes, content: bytes) -> dict:
    (tmp_path / "v.sig").write_bytes(signature)
    (tmp_path / "v.dat").write_bytes(content)
    result = fincert(home, "verify", "--in", tmp_path / "v.dat", "--signature", tmp_path / "v.sig", "--json")
    report = json.loads(result.stdout)
    assert result.returncode == (0 if report["valid"] else 1)
    return report


def _sign_p12(home: Path, tmp_path: Path, key, certificate, chain, tsa: str | None, *extra: str) -> bytes:
    (tmp_path / "k.p12").write_bytes(pkcs12.write_pkcs12(key, certificate, chain, PASSWORD, "k", kdf_rounds=2048))
    (tmp_path / "d").write_bytes(DATA)
    args = ["sign", "--in", tmp_path / "d", "--out", tmp_path / "d.sig", "--p12", tmp_path / "k.p12", "--password", PASSWORD]
    result = fincert(home, *args, *(["--tsa", tsa] if tsa else []), *extra)
    assert result.returncode == 0, result.stderr
    return (tmp_path / "d.sig").read_bytes()


def test_pyhanko_agrees_on_valid_tampered_and_foreign(server, tmp_path):
    home, url = server
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signature = _sign_p12(home, tmp_path, key, _issue(home, key), [], f"{url}/tsa")
    now = dt.datetime.now(dt.timezone.utc)

    assert _fincert_verdict(home, tmp_path, signature, DATA)["valid"] is True
    assert _pyhanko_verdict(home, signature, DATA, moment=now) is True

    assert _fincert_verdict(home, tmp_path, signature, DATA + b"x")["valid"] is False
    assert _pyhanko_verdict(home, signature, DATA + b"x", moment=now) is False

    foreign = build_test_pki(now - dt.timedelta(days=1))
    foreign_sig = _sign_p12(home, tmp_path, foreign.signer_key, foreign.signer, [foreign.issuing_ca], None)
    report = _fincert_verdict(home, tmp_path, foreign_sig, DATA)
    assert report["valid"] is False and report["trusted"] is False
    assert _pyhanko_verdict(home, foreign_sig, DATA, moment=now) is False


def test_pyhanko_agrees_on_revocation_before_and_after_signing(server, tmp_path):
    home, url = server
    now = dt.datetime.now(dt.timezone.utc)

    # Revoked an hour before it signs: invalid for both.
    early_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    early = _issue(home, early_key, clock=FakeClock(now - dt.timedelta(hours=3)))
    rt = _runtime(home, FakeClock(now - dt.timedelta(hours=1)))
    try:
        rt.ca.revoke(format(early.serial_number, "x"), "keyCompromise", actor="test")
    finally:
        rt.close()
    # fincert's own client refuses such a certificate; --allow-unusable signs as a thief's software would.
    revoked_sig = _sign_p12(home, tmp_path, early_key, early, [], f"{url}/tsa", "--allow-unusable")
    report = _fincert_verdict(home, tmp_path, revoked_sig, DATA)
    assert report["valid"] is False and report["failure"] == "signer certificate was revoked before the signing time"
    assert _pyhanko_verdict(home, revoked_sig, DATA, moment=dt.datetime.fromisoformat(report["timestamp"])) is False

    # Time-stamped now, revoked an hour later: valid at its time for both.
    late_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    late = _issue(home, late_key)
    stamped = _sign_p12(home, tmp_path, late_key, late, [], f"{url}/tsa")
    rt = _runtime(home, FakeClock(now + dt.timedelta(hours=1)))
    try:
        rt.ca.revoke(format(late.serial_number, "x"), "keyCompromise", actor="test")
    finally:
        rt.close()
    report = _fincert_verdict(home, tmp_path, stamped, DATA)
    assert report["valid"] is True, report["failure"]
    assert report["certificate_status"] == "revoked"
    at_token_time = dt.datetime.fromisoformat(report["timestamp"])
    assert _pyhanko_verdict(home, stamped, DATA, moment=at_token_time) is True
    # ... and pyHanko, asked about now (after the revocation), says no, like fincert without a token.
    assert _pyhanko_verdict(home, stamped, DATA, moment=now + dt.timedelta(hours=2)) is False
