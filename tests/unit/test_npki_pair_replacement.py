"""Replacing the pair of an NPKI folder (renewal, reissue) is recoverable at every step.

A renewal keeps the subject, so it writes the new ``signCert.der`` and ``signPri.key`` over the
old ones. They used to be renamed into place one after the other: an interruption between the
two renames left the new key beside the old certificate, a folder no reader (nor the next
renewal) could open. Now both are written whole under intent names first, and the reader (and
the next write) finishes an interrupted replacement or rolls it back.

A crash is simulated two ways at each ``os.replace`` of the replacement: the exception the
writing process sees, and a copy of the folder taken at that instant (what a power cut or a
``kill -9`` leaves on disk, with none of the writer's clean-up run).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pypinksign
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from fincert.errors import InvalidInput
from fincert.formats import npki

PASSWORD = "Passw0rd!23"
SUBJECT = x509.Name([
    x509.NameAttribute(NameOID.COUNTRY_NAME, "KR"),
    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fincert"),
    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "한빛은행"),
    x509.NameAttribute(NameOID.COMMON_NAME, "홍길동()12345678901234567890"),
])
#: The renames of one replacement: staged certificate -> intent (the commit point), then the
#: key and the certificate into place.
REPLACE_CALLS = (1, 2, 3)


@pytest.fixture(scope="module")
def ca_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pair(ca_key: rsa.RSAPrivateKey) -> tuple[x509.Certificate, bytes, rsa.RSAPrivateKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(SUBJECT).issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")]))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=20))
        .sign(ca_key, hashes.SHA256())
    )
    return certificate, npki.write_sign_pri_key(key, PASSWORD, npki.generate_random_num()), key


@pytest.fixture
def old_and_new(ca_key):
    return _pair(ca_key), _pair(ca_key)


def _crash_on(monkeypatch, call: int, snapshot: Path | None = None, folder: Path | None = None) -> list[tuple[str, str]]:
    """``os.replace`` raises on its ``call``-th call (after copying ``folder`` to ``snapshot``:
    the disk as a crash at that instant leaves it); the calls are recorded."""
    real = os.replace
    calls: list[tuple[str, str]] = []

    def replace(src, dst, *args, **kwargs):
        calls.append((Path(src).name, Path(dst).name))
        if len(calls) == call:
            if snapshot is not None:
                shutil.copytree(folder, snapshot)
            raise OSError(5, "Input/output error")
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(npki.os, "replace", replace)
    return calls


def _serial_in(folder: Path) -> int:
    certificate, private = npki.read_npki_folder(folder, PASSWORD)  # refuses a mismatched pair
    assert private.private_key.public_key().public_numbers() == certificate.public_key().public_numbers()
    return certificate.serial_number


def test_a_replacement_renames_the_staged_certificate_first_and_leaves_only_the_pair(tmp_path, monkeypatch, old_and_new):
    (old_cert, old_key, _), (new_cert, new_key, _) = old_and_new
    folder = npki.write_npki_folder(tmp_path, "fincert", old_cert, old_key)
    calls = _crash_on(monkeypatch, call=99)
    npki.write_npki_folder(tmp_path, "fincert", new_cert, new_key)
    assert calls == [
        (".signCert.der.new.partial", "signCert.der.new"), ("signPri.key.new", "signPri.key"), ("signCert.der.new", "signCert.der"),
    ]
    assert sorted(p.name for p in folder.iterdir()) == ["signCert.der", "signPri.key"]
    assert _serial_in(folder) == new_cert.serial_number


@pytest.mark.parametrize("call", REPLACE_CALLS)
def test_a_crash_at_any_rename_leaves_a_folder_that_loads_as_one_pair(tmp_path, monkeypatch, old_and_new, call):
    """The process sees the failure (its clean-up runs); whatever it leaves, the folder loads as
    a matching pair: the old one before the commit point, the new one after it."""
    (old_cert, old_key, _), (new_cert, new_key, _) = old_and_new
    folder = npki.write_npki_folder(tmp_path, "fincert", old_cert, old_key)
    _crash_on(monkeypatch, call)
    with pytest.raises(OSError):
        npki.write_npki_folder(tmp_path, "fincert", new_cert, new_key)
    assert npki.npki_replacement_pending(folder) == (call > 1)
    monkeypatch.undo()  # the process is gone; the next one renames normally

    expected = old_cert if call == 1 else new_cert
    assert _serial_in(folder) == expected.serial_number
    # The reader finished (or rolled back) the replacement: only the pair is left.
    assert sorted(p.name for p in folder.iterdir()) == ["signCert.der", "signPri.key"]
    assert not npki.npki_replacement_pending(folder)


@pytest.mark.parametrize("call", REPLACE_CALLS)
def test_the_disk_as_a_crash_leaves_it_loads_as_one_pair(tmp_path, monkeypatch, old_and_new, call):
    """A power cut or kill -9 at that instant: no clean-up ran at all."""
    (old_cert, old_key, _), (new_cert, new_key, _) = old_and_new
    folder = npki.write_npki_folder(tmp_path / "usb", "fincert", old_cert, old_key)
    crashed = tmp_path / "crashed"
    _crash_on(monkeypatch, call, snapshot=crashed, folder=folder)
    with pytest.raises(OSError):
        npki.write_npki_folder(tmp_path / "usb", "fincert", new_cert, new_key)
    monkeypatch.undo()

    left = {p.name for p in crashed.iterdir()}
    if call == 2:
        # The step the old writer could be interrupted at: with one-by-one renames this was the
        # new key beside the old certificate. Here the old pair is still whole beside the intents.
        assert {"signCert.der", "signPri.key", "signCert.der.new", "signPri.key.new"} <= left
    if call == 3:
        # The new key is in place beside the old certificate, and the new certificate waits
        # under its intent name: exactly what the reader must finish.
        assert (crashed / "signPri.key").read_bytes() == new_key
        assert (crashed / "signCert.der").read_bytes() == old_cert.public_bytes(serialization.Encoding.DER)
    expected = old_cert if call == 1 else new_cert
    assert _serial_in(crashed) == expected.serial_number
    if call == 1:
        # Before the commit point a reader leaves the uncommitted files alone (another process
        # may be writing them right now); the next write of the folder removes them.
        assert "signPri.key.new" in {p.name for p in crashed.iterdir()}
        npki.finish_npki_replacement(crashed)
    assert sorted(p.name for p in crashed.iterdir()) == ["signCert.der", "signPri.key"]
    # An independent NPKI client opens the repaired folder as one pair too.
    signer = pypinksign.PinkSign(
        pubkey_path=str(crashed / "signCert.der"), prikey_path=str(crashed / "signPri.key"), prikey_password=PASSWORD.encode(),
    )
    assert signer.verify(signer.sign(b"transfer 10000 KRW"), b"transfer 10000 KRW")
    assert signer.serialnum() == expected.serial_number


def test_a_folder_that_cannot_be_changed_is_read_as_the_replacement_leaves_it(tmp_path, monkeypatch, old_and_new):
    """A read-only stick with an interrupted replacement on it: the reader cannot rename, so it
    reads the new pair from the intent files, and changes nothing."""
    (old_cert, old_key, _), (new_cert, new_key, _) = old_and_new
    folder = npki.write_npki_folder(tmp_path, "fincert", old_cert, old_key)
    _crash_on(monkeypatch, 3)
    with pytest.raises(OSError):
        npki.write_npki_folder(tmp_path, "fincert", new_cert, new_key)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    def read_only(src, dst, *args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(npki.os, "replace", read_only)
    assert _serial_in(folder) == new_cert.serial_number
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_the_next_write_finishes_an_interrupted_replacement_first(tmp_path, monkeypatch, old_and_new, ca_key):
    """A renewal run again over a folder left half-replaced writes its own pair over a whole one."""
    (old_cert, old_key, _), (new_cert, new_key, _) = old_and_new
    folder = npki.write_npki_folder(tmp_path, "fincert", old_cert, old_key)
    _crash_on(monkeypatch, 3)
    with pytest.raises(OSError):
        npki.write_npki_folder(tmp_path, "fincert", new_cert, new_key)
    monkeypatch.undo()
    third_cert, third_key, _ = _pair(ca_key)
    npki.write_npki_folder(tmp_path, "fincert", third_cert, third_key)
    assert _serial_in(folder) == third_cert.serial_number
    assert sorted(p.name for p in folder.iterdir()) == ["signCert.der", "signPri.key"]


def test_an_uncommitted_intent_never_replaces_the_pair(tmp_path, old_and_new):
    """A new key staged without its certificate (the crash came before the commit point, or
    another process is writing it now) is never used: a reader reads the old pair and leaves the
    staged files alone; the next write of the folder removes them."""
    (old_cert, old_key, _), (new_cert, new_key, _) = old_and_new
    folder = npki.write_npki_folder(tmp_path, "fincert", old_cert, old_key)
    (folder / "signPri.key.new").write_bytes(new_key)
    (folder / ".signCert.der.new.partial").write_bytes(b"\x30\x82")  # half a certificate
    assert _serial_in(folder) == old_cert.serial_number
    assert (folder / "signPri.key.new").exists()
    npki.write_npki_folder(tmp_path, "fincert", new_cert, new_key)
    assert sorted(p.name for p in folder.iterdir()) == ["signCert.der", "signPri.key"]
    assert _serial_in(folder) == new_cert.serial_number


def test_a_committed_certificate_without_its_key_is_still_refused(tmp_path, old_and_new):
    """Intent files are not trusted blindly: a certificate whose key is not beside it is refused
    as a mismatched pair, as before."""
    (old_cert, old_key, _), (new_cert, _, _) = old_and_new
    folder = npki.write_npki_folder(tmp_path, "fincert", old_cert, old_key)
    (folder / "signCert.der.new").write_bytes(new_cert.public_bytes(serialization.Encoding.DER))
    with pytest.raises(InvalidInput, match="does not belong"):
        npki.read_npki_folder(folder, PASSWORD)
