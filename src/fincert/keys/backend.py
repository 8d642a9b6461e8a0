"""The ``KeyBackend`` interface: generate, look up and sign with keys named by a label."""

from __future__ import annotations

import enum
import re
from typing import Protocol, runtime_checkable

from cryptography.hazmat.primitives.asymmetric import ec, rsa

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

#: What a key's label may be, in every backend (a file name, a token object's CKA_LABEL).
KEY_LABEL = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")


class KeyType(str, enum.Enum):
    RSA2048 = "rsa2048"
    P256 = "p256"

    @classmethod
    def parse(cls, text: str) -> "KeyType":
        try:
            return cls(text)
        except ValueError:
            from fincert.errors import InvalidInput

            raise InvalidInput(f"unknown key type {text!r}: use rsa2048 or p256", field="key_type") from None


@runtime_checkable
class KeyBackend(Protocol):
    """Where CA and service keys live. Implementations never return private key material.

    ``sign`` hashes ``data`` with SHA-256 and signs it: PKCS#1 v1.5 for RSA, ECDSA for P-256,
    which are the algorithms of the certificates, CRLs and OCSP responses fincert signs.
    """

    def generate(self, label: str, key_type: KeyType) -> PublicKey:
        """Create a new key under ``label``; raises ``Conflict`` if the label exists."""
        ...

    def exists(self, label: str) -> bool: ...

    def public_key(self, label: str) -> PublicKey:
        """The public half; raises ``NotFound`` for an unknown label."""
        ...

    def sign(self, label: str, data: bytes) -> bytes:
        """Sign ``data`` (SHA-256) with the key; raises ``NotFound`` for an unknown label."""
        ...

    def destroy(self, label: str) -> None: ...


class LabelledKey:
    """One key of a backend, as an object: its public half, and SHA-256 signatures by it.

    For code that signs with one service key again and again (the OCSP responder, the TSA)
    without caring where the key lives: in memory, in an encrypted file or on a token.
    """

    __slots__ = ("_backend", "label")

    def __init__(self, backend: KeyBackend, label: str) -> None:
        self._backend = backend
        self.label = label

    def public_key(self) -> PublicKey:
        return self._backend.public_key(self.label)

    def sign(self, data: bytes) -> bytes:
        """``data`` hashed with SHA-256 and signed: PKCS#1 v1.5 (RSA) or DER ECDSA (P-256)."""
        return self._backend.sign(self.label, data)
