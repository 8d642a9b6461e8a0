"""A software key backend: PKCS#8 files encrypted under a key-encryption passphrase.

Each key is one file ``<dir>/<label>.p8`` (mode 0600) in PKCS#8 ``EncryptedPrivateKeyInfo``
form (PBES2, AES-256-CBC, the best ``cryptography`` offers). The passphrase comes from
``FINCERT_CA_PASSPHRASE`` or, in development, a generated 0600 file (see ``config``). Keys
are decrypted once per process and kept in memory: loading an RSA key with validation costs
~40 ms, signing ~0.25 ms.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from fincert.errors import Conflict, ConfigurationError, InvalidInput, NotFound
from fincert.keys.backend import KEY_LABEL, KeyType, PublicKey

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def generate_private_key(key_type: KeyType) -> PrivateKey:
    if key_type is KeyType.RSA2048:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def sign_with(private_key: PrivateKey, data: bytes) -> bytes:
    if isinstance(private_key, rsa.RSAPrivateKey):
        return private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return private_key.sign(data, ec.ECDSA(hashes.SHA256()))


class EncryptedFileKeyBackend:
    def __init__(self, directory: Path, passphrase: bytes) -> None:
        if len(passphrase) < 8:
            raise ConfigurationError("the CA key passphrase must be at least 8 characters")
        self._dir = directory
        self._passphrase = passphrase
        self._cache: dict[str, PrivateKey] = {}
        self._lock = threading.Lock()

    def _path(self, label: str) -> Path:
        if not KEY_LABEL.match(label):
            raise InvalidInput(f"invalid key label {label!r}", field="label")
        return self._dir / f"{label}.p8"

    def generate(self, label: str, key_type: KeyType) -> PublicKey:
        path = self._path(label)
        if path.exists():
            raise Conflict(f"a key labelled {label!r} already exists")
        key = generate_private_key(key_type)
        blob = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(self._passphrase),
        )
        self._dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self._dir, 0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(blob)
            handle.flush()
            os.fsync(handle.fileno())
        with self._lock:
            self._cache[label] = key
        return key.public_key()

    def exists(self, label: str) -> bool:
        return self._path(label).exists()

    def _load(self, label: str) -> PrivateKey:
        cached = self._cache.get(label)
        if cached is not None:
            return cached
        # Under the lock: requests arriving together at a fresh process decrypt the key once,
        # not once each (a PBES2 decryption and key validation cost ~40 ms).
        with self._lock:
            cached = self._cache.get(label)
            if cached is not None:
                return cached
            path = self._path(label)
            if not path.exists():
                raise NotFound(f"no key labelled {label!r}")
            try:
                key = serialization.load_der_private_key(path.read_bytes(), password=self._passphrase)
            except ValueError:
                raise ConfigurationError(
                    f"cannot decrypt key {label!r}: wrong FINCERT_CA_PASSPHRASE or a damaged key file"
                ) from None
            if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
                raise ConfigurationError(f"key {label!r} is of an unsupported type")
            self._cache[label] = key
            return key

    def public_key(self, label: str) -> PublicKey:
        return self._load(label).public_key()

    def sign(self, label: str, data: bytes) -> bytes:
        return sign_with(self._load(label), data)

    def private_key_for_library(self, label: str) -> PrivateKey:
        """The key object itself, for tests and benchmark peers (``openssl ocsp`` given the
        responder's key). fincert's own components sign through ``sign`` alone, so they work the
        same with keys on a PKCS#11 token, which never hands one over."""
        return self._load(label)

    def destroy(self, label: str) -> None:
        path = self._path(label)
        with self._lock:
            self._cache.pop(label, None)
        if path.exists():
            path.unlink()
