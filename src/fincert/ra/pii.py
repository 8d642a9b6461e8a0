"""Envelope encryption and blind indexes for personal data (resident numbers, card cells, ...).

Owns the byte formats of what the database stores for personal data. A 32-byte master key
lives outside the database (file or environment, wired by the caller); each record or member
gets a random data key, stored only wrapped (AES-256-GCM) under the master key, and personal
data is encrypted under the data key (AES-256-GCM, random 12-byte nonce). A stolen database
alone therefore reveals nothing, and rotating the master key means re-wrapping data keys, not
re-encrypting every value.

Formats (all start with a version byte so that a later format can be read side by side):

* wrapped data key: ``0x01 | master key id (8) | nonce (12) | AES-GCM(data key) (32 + 16)``
* ciphertext:       ``0x01 | nonce (12) | AES-GCM(plaintext)``; the version byte is bound
  into the GCM associated data together with the caller's ``aad``.

``blind_index`` gives an equality-searchable HMAC of a value (e.g. to find a member by
resident number without decrypting every row). Its key is derived from the *current* master
key, so rotating the master key means recomputing blind indexes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from fincert.errors import ConfigurationError, FincertError

__all__ = ["PiiVault", "UnreadableCiphertext", "WrappedDataKey"]

_WRAP_VERSION = 1
_BLOB_VERSION = 1
_KEY_ID_LEN = 8
_NONCE_LEN = 12
_KEY_LEN = 32
_TAG_LEN = 16
_WRAPPED_LEN = 1 + _KEY_ID_LEN + _NONCE_LEN + _KEY_LEN + _TAG_LEN
_PURPOSE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


class UnreadableCiphertext(FincertError):
    """Stored personal data cannot be decrypted: tampered, truncated, or a wrong master key.

    A server-side fault (kind ``internal``): the database and the configured keys disagree.
    """

    kind = "internal"
    http_status = 500


@dataclass(frozen=True)
class WrappedDataKey:
    """A data key encrypted under a master key; safe to store beside the data it protects."""

    key_id: str  # hex id of the master key that wrapped it (not secret: an HKDF output)
    blob: bytes  # the whole self-describing wrapped form, see the module docstring

    def to_bytes(self) -> bytes:
        return self.blob

    @classmethod
    def from_bytes(cls, blob: bytes) -> WrappedDataKey:
        if len(blob) != _WRAPPED_LEN or blob[0] != _WRAP_VERSION:
            raise UnreadableCiphertext("wrapped data key has an unknown format")
        return cls(key_id=blob[1 : 1 + _KEY_ID_LEN].hex(), blob=bytes(blob))


def _hkdf(master_key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=_KEY_LEN, salt=None, info=info).derive(master_key)


class _MasterKey:
    """The keys derived from one master key; the master key itself is never used directly."""

    def __init__(self, raw: bytes) -> None:
        if not isinstance(raw, bytes) or len(raw) != _KEY_LEN:
            raise ConfigurationError("the personal-data master key must be exactly 32 bytes")
        if len(set(raw)) < 8:
            # Catches placeholder keys such as 32 zero bytes or a repeated character.
            raise ConfigurationError("the personal-data master key is not random")
        self.key_id = _hkdf(raw, b"fincert/pii/key-id/v1")[:_KEY_ID_LEN]
        self.wrap = AESGCM(_hkdf(raw, b"fincert/pii/wrap/v1"))
        self._raw = raw

    def index_key(self, purpose: str) -> bytes:
        return _hkdf(self._raw, b"fincert/pii/blind-index/v1/" + purpose.encode("ascii"))


class PiiVault:
    """Wraps data keys, encrypts personal data, and computes blind indexes.

    ``retired_master_keys`` are older master keys still accepted for unwrapping, so data keys
    can be re-wrapped (``rewrap``) after a rotation at the caller's pace.
    """

    def __init__(self, master_key: bytes, *, retired_master_keys: Sequence[bytes] = ()) -> None:
        self._current = _MasterKey(master_key)
        self._by_id = {self._current.key_id: self._current}
        for old in retired_master_keys:
            retired = _MasterKey(old)
            self._by_id.setdefault(retired.key_id, retired)
        self._index_keys: dict[str, bytes] = {}

    @classmethod
    def from_encoded(cls, text: str, *, retired_master_keys: Sequence[bytes] = ()) -> PiiVault:
        """Build from a master key written as 64 hex characters or base64 (env or file)."""
        text = text.strip()
        try:
            if len(text) == 2 * _KEY_LEN:
                raw = bytes.fromhex(text)
            else:
                raw = base64.b64decode(text, validate=True)
        except (ValueError, binascii.Error):
            raise ConfigurationError("the personal-data master key is not hex or base64") from None
        return cls(raw, retired_master_keys=retired_master_keys)

    @property
    def key_id(self) -> str:
        """Hex id of the current master key (recorded in every data key it wraps)."""
        return self._current.key_id.hex()

    # -- data keys -------------------------------------------------------------------------

    def new_data_key(self) -> WrappedDataKey:
        """A fresh random data key, wrapped under the current master key."""
        return self._wrap(os.urandom(_KEY_LEN))

    def rewrap(self, wrapped: WrappedDataKey | bytes) -> WrappedDataKey:
        """The same data key wrapped under the current master key (after a rotation)."""
        return self._wrap(self._unwrap(wrapped))

    def _wrap(self, data_key: bytes) -> WrappedDataKey:
        header = bytes([_WRAP_VERSION]) + self._current.key_id
        nonce = os.urandom(_NONCE_LEN)
        sealed = self._current.wrap.encrypt(nonce, data_key, header)
        return WrappedDataKey(key_id=self.key_id, blob=header + nonce + sealed)

    def _unwrap(self, wrapped: WrappedDataKey | bytes) -> bytes:
        blob = wrapped.blob if isinstance(wrapped, WrappedDataKey) else bytes(wrapped)
        if len(blob) != _WRAPPED_LEN or blob[0] != _WRAP_VERSION:
            raise UnreadableCiphertext("wrapped data key has an unknown format")
        header, nonce = blob[: 1 + _KEY_ID_LEN], blob[1 + _KEY_ID_LEN : 1 + _KEY_ID_LEN + _NONCE_LEN]
        master = self._by_id.get(header[1:])
        if master is None:
            raise UnreadableCiphertext("data key was wrapped under a master key that is not configured")
        try:
            return master.wrap.decrypt(nonce, blob[len(header) + _NONCE_LEN :], header)
        except InvalidTag:
            raise UnreadableCiphertext("wrapped data key failed its integrity check") from None

    # -- data --------------------------------------------------------------------------------

    def encrypt(self, plaintext: bytes, wrapped_data_key: WrappedDataKey | bytes, aad: bytes) -> bytes:
        """Encrypt under the data key. ``aad`` binds the ciphertext to its context (table,
        column, row id) so a ciphertext copied to another row does not decrypt there."""
        data_key = AESGCM(self._unwrap(wrapped_data_key))
        nonce = os.urandom(_NONCE_LEN)
        header = bytes([_BLOB_VERSION])
        return header + nonce + data_key.encrypt(nonce, plaintext, header + aad)

    def decrypt(self, blob: bytes, wrapped_data_key: WrappedDataKey | bytes, aad: bytes) -> bytes:
        if len(blob) < 1 + _NONCE_LEN + _TAG_LEN or blob[0] != _BLOB_VERSION:
            raise UnreadableCiphertext("encrypted personal data has an unknown format")
        data_key = AESGCM(self._unwrap(wrapped_data_key))
        try:
            return data_key.decrypt(blob[1 : 1 + _NONCE_LEN], blob[1 + _NONCE_LEN :], blob[:1] + aad)
        except InvalidTag:
            raise UnreadableCiphertext("encrypted personal data failed its integrity check") from None

    # -- search --------------------------------------------------------------------------------

    def blind_index(self, value: str, purpose: str) -> str:
        """HMAC-SHA256 (hex) of ``value`` under a per-purpose key derived with HKDF.

        Different purposes give unrelated indexes, so one leaked index column cannot be joined
        with another. The caller normalises ``value`` first (e.g. resident number digits only).
        """
        if not _PURPOSE.fullmatch(purpose):
            raise ConfigurationError("blind index purpose must be a short lower-case identifier")
        key = self._index_keys.get(purpose)
        if key is None:
            key = self._index_keys[purpose] = self._current.index_key(purpose)
        return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()
