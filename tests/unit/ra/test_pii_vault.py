"""PiiVault: envelope encryption round trips, refuses tampering and wrong keys; blind indexes."""

from __future__ import annotations

import base64
import os

import pytest

from fincert.errors import ConfigurationError
from fincert.ra.pii import PiiVault, UnreadableCiphertext, WrappedDataKey

RRN = b"9001011234567"
AAD = b"members.rrn:42"


@pytest.fixture
def vault() -> PiiVault:
    return PiiVault(os.urandom(32))


def test_round_trip(vault: PiiVault) -> None:
    dek = vault.new_data_key()
    blob = vault.encrypt(RRN, dek, AAD)
    assert blob[0] == 1  # self-describing version byte
    assert RRN not in blob
    assert vault.decrypt(blob, dek, AAD) == RRN
    # The wrapped key survives storage as bytes.
    assert vault.decrypt(blob, WrappedDataKey.from_bytes(dek.to_bytes()), AAD) == RRN
    assert vault.decrypt(blob, dek.to_bytes(), AAD) == RRN


def test_random_nonce_gives_different_ciphertexts(vault: PiiVault) -> None:
    dek = vault.new_data_key()
    assert vault.encrypt(RRN, dek, AAD) != vault.encrypt(RRN, dek, AAD)


def test_wrapped_key_records_master_key_id(vault: PiiVault) -> None:
    dek = vault.new_data_key()
    assert dek.key_id == vault.key_id
    assert dek.blob[0] == 1 and dek.blob[1:9].hex() == vault.key_id
    assert len(dek.blob) == 1 + 8 + 12 + 32 + 16


@pytest.mark.parametrize("position", [0, 1, 5, 13, -1])
def test_tampered_ciphertext_refused(vault: PiiVault, position: int) -> None:
    dek = vault.new_data_key()
    blob = bytearray(vault.encrypt(RRN, dek, AAD))
    blob[position] ^= 0x01
    with pytest.raises(UnreadableCiphertext):
        vault.decrypt(bytes(blob), dek, AAD)


def test_truncated_and_wrong_aad_refused(vault: PiiVault) -> None:
    dek = vault.new_data_key()
    blob = vault.encrypt(RRN, dek, AAD)
    with pytest.raises(UnreadableCiphertext):
        vault.decrypt(blob[:20], dek, AAD)
    with pytest.raises(UnreadableCiphertext):
        vault.decrypt(blob, dek, b"members.rrn:43")  # copied to another row


@pytest.mark.parametrize("position", [0, 3, 15, 40, -1])
def test_tampered_wrapped_key_refused(vault: PiiVault, position: int) -> None:
    dek = vault.new_data_key()
    blob = vault.encrypt(RRN, dek, AAD)
    wrapped = bytearray(dek.to_bytes())
    wrapped[position] ^= 0x80
    with pytest.raises(UnreadableCiphertext):
        vault.decrypt(blob, bytes(wrapped), AAD)


def test_wrong_master_key_refused(vault: PiiVault) -> None:
    dek = vault.new_data_key()
    blob = vault.encrypt(RRN, dek, AAD)
    other = PiiVault(os.urandom(32))
    with pytest.raises(UnreadableCiphertext) as info:
        other.decrypt(blob, dek, AAD)
    assert "not configured" in info.value.detail
    # Even with a forged key id matching the other vault, the GCM tag refuses it.
    forged = dek.blob[:1] + bytes.fromhex(other.key_id) + dek.blob[9:]
    with pytest.raises(UnreadableCiphertext):
        other.decrypt(blob, forged, AAD)


def test_rotation_with_retired_key() -> None:
    old_key, new_key = os.urandom(32), os.urandom(32)
    old = PiiVault(old_key)
    dek = old.new_data_key()
    blob = old.encrypt(RRN, dek, AAD)
    rotated = PiiVault(new_key, retired_master_keys=[old_key])
    assert rotated.decrypt(blob, dek, AAD) == RRN
    rewrapped = rotated.rewrap(dek)
    assert rewrapped.key_id == rotated.key_id != dek.key_id
    assert PiiVault(new_key).decrypt(blob, rewrapped, AAD) == RRN


@pytest.mark.parametrize(
    "key",
    [b"", bytes(range(16)), bytes(range(33)), bytes(32), b"a" * 32],
    ids=["empty", "16-bytes", "33-bytes", "all-zero", "one-symbol"],
)
def test_bad_master_keys_refused(key: bytes) -> None:
    with pytest.raises(ConfigurationError):
        PiiVault(key)


def test_from_encoded() -> None:
    key = os.urandom(32)
    for text in (key.hex(), base64.b64encode(key).decode(), f"  {key.hex()}\n"):
        assert PiiVault.from_encoded(text).key_id == PiiVault(key).key_id
    with pytest.raises(ConfigurationError):
        PiiVault.from_encoded("not a key!")


def test_blind_index() -> None:
    key = os.urandom(32)
    vault = PiiVault(key)
    index = vault.blind_index("9001011234567", "rrn")
    assert index == PiiVault(key).blind_index("9001011234567", "rrn")  # deterministic
    assert len(index) == 64 and int(index, 16) >= 0
    assert "9001011234567" not in index and "234567" not in index
    assert index != vault.blind_index("9001011234567", "phone")  # per purpose
    assert index != PiiVault(os.urandom(32)).blind_index("9001011234567", "rrn")  # per key
    assert index != vault.blind_index("9001011234568", "rrn")
    with pytest.raises(ConfigurationError):
        vault.blind_index("x", "Bad Purpose")
