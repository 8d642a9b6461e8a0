"""Our CMS signatures against openssl cms, and openssl's signatures against verify_cms."""

from __future__ import annotations

import itertools
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from fincert.clock import SystemClock
from fincert.sign.cms import PrivateKeySigner, sign_cms, sign_cms_with
from fincert.sign.testing import TestPki, build_test_pki, pem
from fincert.sign.tsa import InProcessTimeStamper, TimeStampAuthority
from fincert.sign.verify import verify_cms

pytestmark = pytest.mark.interop

START = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=1)
DATA = "계좌이체 1,000,000원 승인\r\nbinary \x00\xff tail".encode()


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return build_test_pki(START)


@pytest.fixture(scope="module")
def timestamper(pki: TestPki) -> InProcessTimeStamper:
    serials = itertools.count(1)
    return InProcessTimeStamper(
        TimeStampAuthority(pki.tsa, [], pki.tsa_key, "2.25.99", 1, SystemClock(), lambda: next(serials))
    )


@pytest.fixture()
def files(tmp_path: Path, pki: TestPki) -> Path:
    (tmp_path / "data").write_bytes(DATA)
    (tmp_path / "chain.pem").write_bytes(pem(pki.root, pki.issuing_ca))
    return tmp_path


def openssl(*args: str | Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, check=False)


def openssl_verify(files: Path, signature: bytes, *, detached: bool, content: bytes = DATA):
    (files / "sig.der").write_bytes(signature)
    (files / "content").write_bytes(content)
    content_args = ["-content", files / "content"] if detached else []
    return openssl(
        "cms", "-verify", "-binary", "-inform", "DER", "-in", files / "sig.der", *content_args,
        "-CAfile", files / "chain.pem", "-purpose", "any", "-out", files / "out",
    )


@pytest.mark.parametrize("detached", [True, False], ids=["detached", "attached"])
@pytest.mark.parametrize("pss", [False, True], ids=["pkcs1", "pss"])
def test_openssl_accepts_our_signatures(pki, files, detached, pss):
    signature = sign_cms(
        DATA, private_key=pki.signer_key, certificate=pki.signer, chain=[pki.issuing_ca], detached=detached, pss=pss
    )

    result = openssl_verify(files, signature, detached=detached)

    assert result.returncode == 0, result.stderr.decode()
    assert b"Verification successful" in result.stderr
    assert (files / "out").read_bytes() == DATA


def test_openssl_accepts_a_timestamped_signature_from_a_vault_key(pki, files, timestamper):
    signature = sign_cms_with(
        DATA,
        raw_signer=PrivateKeySigner(pki.signer_key),
        certificate=pki.signer,
        chain=[pki.issuing_ca],
        timestamper=timestamper,
    )

    result = openssl_verify(files, signature, detached=True)

    assert result.returncode == 0, result.stderr.decode()
    printed = openssl("cms", "-cmsout", "-print", "-inform", "DER", "-in", files / "sig.der").stdout
    assert b"id-smime-aa-timeStampToken" in printed


def test_openssl_refuses_our_signature_over_other_content(pki, files):
    signature = sign_cms(DATA, private_key=pki.signer_key, certificate=pki.signer, chain=[pki.issuing_ca])

    result = openssl_verify(files, signature, detached=True, content=DATA + b"!")

    assert result.returncode != 0
    assert b"Verification failure" in result.stderr


@pytest.mark.parametrize("pss", [False, True], ids=["pkcs1", "pss"])
@pytest.mark.parametrize("detached", [True, False], ids=["detached", "attached"])
def test_we_accept_openssl_signatures(pki, files, pss, detached):
    (files / "signer.pem").write_bytes(pem(pki.signer))
    (files / "ca.pem").write_bytes(pem(pki.issuing_ca))
    (files / "key.pem").write_bytes(
        pki.signer_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    pss_args = ["-keyopt", "rsa_padding_mode:pss"] if pss else []
    detach_args = [] if detached else ["-nodetach"]
    made = openssl(
        "cms", "-sign", "-binary", "-md", "sha256", "-in", files / "data", "-signer", files / "signer.pem",
        "-inkey", files / "key.pem", "-certfile", files / "ca.pem", "-outform", "DER",
        "-out", files / "openssl-sig.der", *pss_args, *detach_args,
    )
    assert made.returncode == 0, made.stderr.decode()

    report = verify_cms(
        (files / "openssl-sig.der").read_bytes(),
        DATA if detached else None,
        trust_roots=[pki.root],
        revocation=None,
        at=None,
    )

    assert report.valid, report.failure
    assert report.signer_serial_hex == format(pki.signer.serial_number, "x")
    tampered = verify_cms(
        (files / "openssl-sig.der").read_bytes(), DATA + b"x", trust_roots=[pki.root], revocation=None, at=None
    )
    assert not tampered.valid and not tampered.intact
