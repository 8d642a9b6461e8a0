"""Key file readers and writers fail with typed errors that name the path, never the password.

A password that is not text (a lone surrogate, as Python keeps bytes that were not UTF-8) is
``InvalidInput(field="password")`` on every read and write path, never a ``UnicodeError``; an
NPKI folder's errors say which folder or file is wrong, each problem in its own words.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

from fincert.errors import FincertError, InvalidInput, NotFound, VerificationFailed
from fincert.formats import npki
from fincert.formats.passwords import check_file_password, encode_file_password
from fincert.formats.pkcs12 import read_pkcs12, write_pkcs12

PASSWORD = "Npki-pass-2024!"
RANDOM_NUM = bytes(range(20))
SURROGATE_PASSWORDS = ["abc\udcff123!", "\udcff", "Passw0rd!\ud800x", "홍길동\udc80pass1!"]


@pytest.fixture(scope="module")
def sign_pri_keys(holder_key: rsa.RSAPrivateKey) -> dict[str, bytes]:
    """The three signPri.key forms, with a fixed salt and IV."""
    salt = bytes.fromhex("0102030405060708")
    return {
        "pbes2-seed": npki.write_sign_pri_key(holder_key, PASSWORD, RANDOM_NUM, salt=salt, iv=bytes(16)),
        "seed-pbe": npki.write_sign_pri_key_legacy(holder_key, PASSWORD, RANDOM_NUM, "seed-pbe", salt=salt),
        "seed-cbc": npki.write_sign_pri_key_legacy(holder_key, PASSWORD, RANDOM_NUM, "seed-cbc", salt=salt),
    }


@pytest.fixture(scope="module")
def p12(holder_key: rsa.RSAPrivateKey, issue_holder_cert) -> bytes:
    return write_pkcs12(holder_key, issue_holder_cert(), [], PASSWORD, "holder", kdf_rounds=1000)


def assert_refused_password(caught: pytest.ExceptionInfo[InvalidInput], password: str) -> None:
    error = caught.value
    assert error.field == "password"
    assert "not valid text" in error.detail
    assert password not in error.detail
    # The UnicodeEncodeError (whose .object is the password) is not chained for a log to print.
    cause: BaseException | None = error
    while cause is not None:
        assert not isinstance(cause, UnicodeError)
        assert password not in str(cause)
        cause = cause.__cause__ or cause.__context__


# --- passwords that are not text ----------------------------------------------------------------


@pytest.mark.parametrize("password", SURROGATE_PASSWORDS)
def test_encode_file_password_refuses_lone_surrogates(password: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        encode_file_password(password)
    assert_refused_password(caught, password)


def test_encode_file_password_is_utf8_for_text() -> None:
    assert encode_file_password(PASSWORD) == PASSWORD.encode()
    assert encode_file_password("홍길동pass1!") == "홍길동pass1!".encode()


@pytest.mark.parametrize("form", ["pbes2-seed", "seed-pbe", "seed-cbc"])
@pytest.mark.parametrize("password", SURROGATE_PASSWORDS)
def test_reading_sign_pri_key_with_a_surrogate_password_is_invalid_input(
    form: str, password: str, sign_pri_keys: dict[str, bytes]
) -> None:
    with pytest.raises(InvalidInput) as caught:
        npki.read_sign_pri_key(sign_pri_keys[form], password)
    assert_refused_password(caught, password)


@pytest.mark.parametrize(
    "write",
    [
        lambda key, pw: npki.write_sign_pri_key(key, pw, RANDOM_NUM),
        lambda key, pw: npki.write_sign_pri_key_legacy(key, pw, RANDOM_NUM, "seed-pbe"),
        lambda key, pw: npki.write_sign_pri_key_legacy(key, pw, RANDOM_NUM, "seed-cbc"),
    ],
    ids=["pbes2-seed", "seed-pbe", "seed-cbc"],
)
def test_sign_pri_key_writers_refuse_a_surrogate_password(write, holder_key: rsa.RSAPrivateKey) -> None:
    password = SURROGATE_PASSWORDS[0]
    with pytest.raises(InvalidInput) as caught:
        write(holder_key, password)
    assert_refused_password(caught, password)


def test_pkcs12_writer_and_reader_refuse_a_surrogate_password(
    holder_key: rsa.RSAPrivateKey, issue_holder_cert, p12: bytes
) -> None:
    password = SURROGATE_PASSWORDS[0]
    with pytest.raises(InvalidInput) as caught:
        write_pkcs12(holder_key, issue_holder_cert(), [], password, "holder")
    assert_refused_password(caught, password)
    with pytest.raises(InvalidInput) as caught:
        read_pkcs12(p12, password)
    assert_refused_password(caught, password)


@pytest.mark.parametrize("password", [*SURROGATE_PASSWORDS, "Passw0rd!" + "\udcff" * 5])
def test_password_rule_refuses_surrogates_without_unicode_error(password: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_file_password(password)
    assert caught.value.field == "password" and password not in caught.value.detail


# --- the PKCS#12 reader's failures stay distinct ------------------------------------------------


def test_pkcs12_failures_are_distinct(holder_key: rsa.RSAPrivateKey, issue_holder_cert, p12: bytes) -> None:
    without_key = pkcs12.serialize_key_and_certificates(
        b"holder", None, issue_holder_cert(), None, BestAvailableEncryption(PASSWORD.encode())
    )
    cases = [
        (b"", InvalidInput, "the file is not a PKCS#12 file", PASSWORD),
        (b"\x30\x03\x02\x01\x03", InvalidInput, "the file is not a PKCS#12 file", PASSWORD),
        (p12, VerificationFailed, "wrong password for the PKCS#12 file", "Other-pass-2024!"),
        (without_key, InvalidInput, "the PKCS#12 file lacks a private key or its certificate", PASSWORD),
    ]
    for data, kind, detail, password in cases:
        with pytest.raises(kind) as caught:
            read_pkcs12(data, password)
        assert caught.value.detail == detail
    assert read_pkcs12(p12, PASSWORD)[0].private_numbers() == holder_key.private_numbers()


# --- an NPKI folder names what is wrong ---------------------------------------------------------


@pytest.fixture
def folder(tmp_path: Path, issue_holder_cert, sign_pri_keys: dict[str, bytes]) -> Path:
    """A good NPKI certificate folder under tmp_path."""
    return npki.write_npki_folder(tmp_path, "yessign", issue_holder_cert(), sign_pri_keys["pbes2-seed"])


def read_error(cert_dir: Path, kind: type[FincertError], password: str = PASSWORD) -> str:
    """The detail of the error (of exactly ``kind``) that reading the folder raises."""
    with pytest.raises(FincertError) as caught:
        npki.read_npki_folder(cert_dir, password)
    assert type(caught.value) is kind, caught.value
    assert password not in caught.value.detail
    return caught.value.detail


def test_a_good_folder_opens(folder: Path, holder_key: rsa.RSAPrivateKey) -> None:
    certificate, private = npki.read_npki_folder(folder, PASSWORD)
    assert private.random_num == RANDOM_NUM
    assert private.private_key.private_numbers() == holder_key.private_numbers()
    npki.check_npki_folder(folder)


HOLDS = "an NPKI certificate folder holds signCert.der and signPri.key"


def test_missing_folder(tmp_path: Path) -> None:
    nowhere = tmp_path / "NPKI" / "nowhere"
    assert read_error(nowhere, NotFound) == f"{nowhere}: no NPKI certificate folder found (it does not exist)"
    (tmp_path / "a-file").write_bytes(b"x")
    under_a_file = tmp_path / "a-file" / "sub"
    assert read_error(under_a_file, NotFound) == f"{under_a_file}: no NPKI certificate folder found (it does not exist)"


def test_folder_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_bytes(b"x")
    assert read_error(tmp_path / "a-file", InvalidInput) == f"{tmp_path / 'a-file'} is a file, not a folder: {HOLDS}"


def test_folder_that_cannot_be_looked_at(tmp_path: Path) -> None:
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    assert read_error(loop, InvalidInput) == f"{loop}: cannot open the folder (Too many levels of symbolic links)"


@pytest.mark.parametrize("name", ["signCert.der", "signPri.key"])
def test_missing_file(folder: Path, name: str) -> None:
    (folder / name).unlink()
    assert read_error(folder, NotFound) == f"{folder / name} is missing: {HOLDS}"


@pytest.mark.parametrize("name", ["signCert.der", "signPri.key"])
def test_file_is_a_folder(folder: Path, name: str) -> None:
    (folder / name).unlink()
    (folder / name).mkdir()
    assert read_error(folder, InvalidInput) == f"{folder / name} is a folder, not a file"


def test_unreadable_file(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # As root chmod 000 reads anyway: the refusal the system would give is raised instead.
    key_path = folder / "signPri.key"
    real_read_bytes = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self == key_path:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    assert read_error(folder, InvalidInput) == f"{key_path}: cannot read the file (Permission denied)"


def test_file_behind_a_link_loop(folder: Path) -> None:
    cert_path = folder / "signCert.der"
    cert_path.unlink()
    cert_path.symlink_to(cert_path)
    assert read_error(folder, InvalidInput) == f"{cert_path}: cannot read the file (Too many levels of symbolic links)"


@pytest.mark.parametrize("garbage", [b"", b"\x00" * 10, b"-----BEGIN CERTIFICATE-----\n"])
def test_certificate_that_is_not_der(folder: Path, garbage: bytes) -> None:
    (folder / "signCert.der").write_bytes(garbage)
    assert read_error(folder, InvalidInput) == f"{folder / 'signCert.der'} is not a DER certificate"


@pytest.mark.parametrize("garbage", [b"", b"\x00" * 10, b"\x30\x03\x02\x01\x03", bytes(range(256))])
def test_key_that_is_not_a_sign_pri_key(folder: Path, garbage: bytes) -> None:
    (folder / "signPri.key").write_bytes(garbage)
    expected = f"{folder / 'signPri.key'}: the private key file is not a valid NPKI signPri.key"
    assert read_error(folder, InvalidInput) == expected


@pytest.mark.parametrize("form", ["pbes2-seed", "seed-pbe", "seed-cbc"])
def test_wrong_password(folder: Path, form: str, sign_pri_keys: dict[str, bytes]) -> None:
    (folder / "signPri.key").write_bytes(sign_pri_keys[form])
    expected = f"{folder / 'signPri.key'}: wrong password for the private key file"
    assert read_error(folder, VerificationFailed, "Other-pass-2024!") == expected


def test_password_that_is_not_text(folder: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        npki.read_npki_folder(folder, SURROGATE_PASSWORDS[0])
    assert caught.value.field == "password"
    assert caught.value.detail.startswith(f"{folder / 'signPri.key'}: the password contains characters that are not valid text")


def test_key_of_another_certificate(folder: Path, ca_key: rsa.RSAPrivateKey) -> None:
    (folder / "signPri.key").write_bytes(npki.write_sign_pri_key(ca_key, PASSWORD, RANDOM_NUM))
    expected = f"{folder}: signPri.key does not belong to signCert.der (they are not one key pair)"
    assert read_error(folder, InvalidInput) == expected


def test_each_problem_has_its_own_message(tmp_path: Path, issue_holder_cert, sign_pri_keys, ca_key) -> None:
    """The cases above, side by side: no two problems read alike once the path is taken out."""
    cert = issue_holder_cert()

    def make(name: str, cert_bytes: bytes | None, key_bytes: bytes | None) -> Path:
        cert_dir = npki.write_npki_folder(tmp_path / name, "yessign", cert, sign_pri_keys["seed-pbe"])
        for file_name, data in (("signCert.der", cert_bytes), ("signPri.key", key_bytes)):
            if data is None:
                (cert_dir / file_name).unlink()
            elif data:
                (cert_dir / file_name).write_bytes(data)
        return cert_dir

    garbage = b"\x00" * 10
    other_key = npki.write_sign_pri_key(ca_key, PASSWORD, RANDOM_NUM)
    cases = {
        "missing folder": (tmp_path / "none", NotFound, PASSWORD),
        "missing certificate": (make("no-cert", None, b""), NotFound, PASSWORD),
        "missing key": (make("no-key", b"", None), NotFound, PASSWORD),
        "garbage certificate": (make("bad-cert", garbage, b""), InvalidInput, PASSWORD),
        "garbage key": (make("bad-key", b"", garbage), InvalidInput, PASSWORD),
        "wrong password": (make("good", b"", b""), VerificationFailed, "Other-pass-2024!"),
        "mismatch": (make("mismatch", b"", other_key), InvalidInput, PASSWORD),
    }
    messages = {}
    for case, (cert_dir, kind, password) in cases.items():
        detail = read_error(cert_dir, kind, password)
        assert detail.startswith(str(cert_dir)), case
        messages[case] = detail.replace(str(cert_dir), "DIR")
    assert len(set(messages.values())) == len(cases), messages
