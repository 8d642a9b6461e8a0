"""Key files named on the command line (`sign --key-dir/--p12`, `cert renew --key-dir`): each
problem is one line on stderr that names the folder or file, a non-zero exit, no traceback, and
the password is never repeated."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12
from cryptography.x509.oid import NameOID

from fincert.config import Settings
from fincert.formats import npki
from fincert.formats.pkcs12 import write_pkcs12
from fincert.runtime import open_runtime

PASSWORD = "Key-file-pass-7!"
WRONG_PASSWORD = "Other-pass-2024!"
GARBAGE = b"\x00garbage, not DER\xff"


def self_signed(key: rsa.RSAPrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "홍길동"), x509.NameAttribute(NameOID.COUNTRY_NAME, "KR")])
    now = dt.datetime.now(dt.timezone.utc)
    builder = x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
    builder = builder.serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + dt.timedelta(days=30))
    return builder.sign(key, hashes.SHA256())


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict[str, Path]:
    """An initialised home, a document, and one broken key folder or file per problem."""
    base = tmp_path_factory.mktemp("key-files")
    rt = open_runtime(Settings(home=base / "home", log_level="WARNING"))
    try:
        rt.initialize()
    finally:
        rt.close()
    (base / "doc.txt").write_bytes("전자서명 원문".encode())
    key, other_key = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2))
    certificate = self_signed(key)
    good_key_file = npki.write_sign_pri_key(key, PASSWORD, npki.generate_random_num())

    def folder(name: str, cert: bytes | None = b"good", key_file: bytes | None = b"good") -> Path:
        cert_dir = npki.write_npki_folder(base / name, "fincert", certificate, good_key_file)
        for file_name, data in (("signCert.der", cert), ("signPri.key", key_file)):
            if data is None:
                (cert_dir / file_name).unlink()
            elif data != b"good":
                (cert_dir / file_name).write_bytes(data)
        return cert_dir

    paths = {
        "home": base / "home",
        "doc": base / "doc.txt",
        "good": folder("good"),
        "missing": base / "no-such-folder",
        "a-file": base / "doc.txt",
        "no-cert": folder("no-cert", cert=None),
        "no-key": folder("no-key", key_file=None),
        "bad-cert": folder("bad-cert", cert=GARBAGE),
        "bad-key": folder("bad-key", key_file=GARBAGE),
        "mismatch": folder("mismatch", key_file=npki.write_sign_pri_key(other_key, PASSWORD, npki.generate_random_num())),
        "unreadable": folder("unreadable"),
    }
    # A link to itself: unreadable for root too (chmod 000 is not).
    loop = paths["unreadable"] / "signPri.key"
    loop.unlink()
    loop.symlink_to(loop)
    p12 = {
        "p12-good": write_pkcs12(key, certificate, [], PASSWORD, "holder", kdf_rounds=1000),
        "p12-garbage": GARBAGE,
        "p12-no-key": pkcs12.serialize_key_and_certificates(
            b"holder", None, certificate, None, BestAvailableEncryption(PASSWORD.encode())
        ),
    }
    for name, data in p12.items():
        paths[name] = base / f"{name}.p12"
        paths[name].write_bytes(data)
    paths["p12-missing"] = base / "none.p12"
    return paths


def one_line_error(result, *secrets: str) -> str:
    assert result.returncode not in (0, 3), (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("fincert: error: ")
    for secret in secrets:
        assert secret not in result.stderr and secret not in result.stdout
    return lines[0].removeprefix("fincert: error: ")


# Each case: the key folder, the password, and the message (``{dir}`` is the folder).
NPKI_CASES = {
    "missing": (PASSWORD, "{dir}: no NPKI certificate folder found (it does not exist)"),
    "a-file": (PASSWORD, "{dir} is a file, not a folder: an NPKI certificate folder holds signCert.der and signPri.key"),
    "no-cert": (PASSWORD, "{dir}/signCert.der is missing: an NPKI certificate folder holds signCert.der and signPri.key"),
    "no-key": (PASSWORD, "{dir}/signPri.key is missing: an NPKI certificate folder holds signCert.der and signPri.key"),
    "unreadable": (PASSWORD, "{dir}/signPri.key: cannot read the file (Too many levels of symbolic links)"),
    "bad-cert": (PASSWORD, "{dir}/signCert.der is not a DER certificate"),
    "bad-key": (PASSWORD, "{dir}/signPri.key: the private key file is not a valid NPKI signPri.key"),
    "good": (WRONG_PASSWORD, "{dir}/signPri.key: wrong password for the private key file"),
    "mismatch": (PASSWORD, "{dir}: signPri.key does not belong to signCert.der (they are not one key pair)"),
}


@pytest.mark.parametrize("case", sorted(NPKI_CASES))
def test_sign_names_the_key_folder_or_file(cli, setup, tmp_path, case):
    password, message = NPKI_CASES[case]
    out = tmp_path / "doc.sig"
    result = cli(["sign", "--in", str(setup["doc"]), "--out", str(out), "--key-dir", str(setup[case])],
                 setup["home"], env={"FINCERT_SIGN_PASSWORD": password})
    assert one_line_error(result, password) == message.format(dir=setup[case])
    assert not out.exists()


@pytest.mark.parametrize("case", ["missing", "no-key", "bad-cert", "good", "mismatch"])
def test_renew_names_the_key_folder_or_file(cli, setup, case):
    password, message = NPKI_CASES[case]
    result = cli(["cert", "renew", "--key-dir", str(setup[case]), "--password", password, "--json"], setup["home"])
    assert one_line_error(result, password) == message.format(dir=setup[case])
    assert result.stdout == ""


@pytest.mark.parametrize(
    "case, password, message",
    [
        ("p12-missing", PASSWORD, "PKCS#12 file {path} does not exist"),
        ("p12-garbage", PASSWORD, "{path}: the file is not a PKCS#12 file"),
        ("p12-good", WRONG_PASSWORD, "{path}: wrong password for the PKCS#12 file"),
        ("p12-no-key", PASSWORD, "{path}: the PKCS#12 file lacks a private key or its certificate"),
    ],
)
def test_sign_names_the_pkcs12_file(cli, setup, tmp_path, case, password, message):
    out = tmp_path / "doc.sig"
    result = cli(["sign", "--in", str(setup["doc"]), "--out", str(out), "--p12", str(setup[case]), "--password", password],
                 setup["home"])
    assert one_line_error(result, password) == message.format(path=setup[case])
    assert not out.exists()


def test_the_good_files_sign(cli, setup, tmp_path):
    """The broken cases differ from these only in what the message names."""
    for option in ("--key-dir", "--p12"):
        out = tmp_path / f"doc{option}.sig"
        result = cli(["sign", "--in", str(setup["doc"]), "--out", str(out), option, str(setup["good" if option == "--key-dir" else "p12-good"])],
                     setup["home"], env={"FINCERT_SIGN_PASSWORD": PASSWORD})
        assert result.returncode == 0, result.stderr
        assert out.stat().st_size > 0
