"""The encrypted-file key backend: keys on disk only encrypted, decrypted once per process."""

from __future__ import annotations

import stat
import threading

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from fincert.errors import ConfigurationError, InvalidInput, NotFound
from fincert.keys import software
from fincert.keys.backend import KeyType
from fincert.keys.software import EncryptedFileKeyBackend

PASSPHRASE = b"unit-test-passphrase"


def test_key_file_is_encrypted_and_private(tmp_path):
    backend = EncryptedFileKeyBackend(tmp_path, PASSPHRASE)
    backend.generate("issuing-1", KeyType.RSA2048)
    path = tmp_path / "issuing-1.p8"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    blob = path.read_bytes()
    assert b"PRIVATE KEY" not in blob and blob.startswith(b"\x30")  # DER EncryptedPrivateKeyInfo
    with pytest.raises(ConfigurationError):
        EncryptedFileKeyBackend(tmp_path, b"another-passphrase").sign("issuing-1", b"x")


def test_concurrent_first_use_decrypts_once(tmp_path, monkeypatch):
    public = EncryptedFileKeyBackend(tmp_path, PASSPHRASE).generate("issuing-1", KeyType.RSA2048)
    fresh = EncryptedFileKeyBackend(tmp_path, PASSPHRASE)  # a new process: nothing cached
    loads = []
    real_load = software.serialization.load_der_private_key

    def counting_load(*args, **kwargs):
        loads.append(1)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(software.serialization, "load_der_private_key", counting_load)
    start = threading.Barrier(6)
    signatures: list[bytes] = []

    def sign() -> None:
        start.wait()
        signatures.append(fresh.sign("issuing-1", b"tbs"))

    threads = [threading.Thread(target=sign) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loads) == 1
    assert len(signatures) == 6
    for signature in signatures:
        public.verify(signature, b"tbs", padding.PKCS1v15(), hashes.SHA256())


def test_missing_and_malformed_labels(tmp_path):
    backend = EncryptedFileKeyBackend(tmp_path, PASSPHRASE)
    with pytest.raises(NotFound):
        backend.sign("absent", b"x")
    with pytest.raises(InvalidInput):
        backend.sign("../escape", b"x")
