"""The cloud-key vault with its server half on an HSM token (format 2, SoftHSM2), on SQLite and
PostgreSQL: new keys are wrapped with a secret that never leaves the token, so the database and
the master key together no longer unwrap a key with the right PIN; format-1 keys keep working
and move to the token at their next PIN change."""

from __future__ import annotations

import datetime as dt
import secrets

import pkcs11
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from sqlalchemy import select

from fincert.errors import ConfigurationError, VerificationFailed
from fincert.keys.pkcs11 import Pkcs11KeyBackend
from fincert.keys.vault import CloudKeyVault, TokenServerSecret
from fincert.storage.db import Database
from fincert.storage.models_vault import CloudKey
from softhsm import softhsm_token  # noqa: F401 - the session's token
from test_cloud_vault import db  # noqa: F401 - a migrated database, on SQLite and PostgreSQL

BIRTH = dt.date(1985, 3, 7)
PIN, NEW_PIN = "480613", "250814"
MASTER = bytes(range(32))
DATA = "계좌이체 1,000,000원 승인".encode()


@pytest.fixture
def token(softhsm_token):
    keys = Pkcs11KeyBackend(softhsm_token.library, softhsm_token.label, softhsm_token.pin)
    yield keys
    keys.close()


@pytest.fixture
def secret(token):
    # A label per test: the secret of one test is not another's.
    return TokenServerSecret(token, label=f"vault-{secrets.token_hex(4)}")


def row(db: Database, key_id: str) -> CloudKey:
    with db.reader() as s:
        return s.execute(select(CloudKey).where(CloudKey.key_id == key_id)).scalar_one()


def signs(vault: CloudKeyVault, key_id: str, public_key, pin: str = PIN) -> None:
    public_key.verify(vault.sign(key_id, pin, DATA), DATA, padding.PKCS1v15(), hashes.SHA256())


def test_new_keys_are_wrapped_with_the_tokens_secret(db, clock, secret, token, softhsm_token):
    vault = CloudKeyVault(db, MASTER, clock, token_secret=secret)
    handle = vault.create_key(1, PIN, BIRTH)
    stored = row(db, handle.key_id)
    assert stored.server_key_id == secret.server_key_id and stored.server_key_id.startswith("hsm-")
    assert stored.wrapped_key[0] == 2
    signs(vault, handle.key_id, handle.public_key)

    # The same database and master key without the token: refused as a configuration error,
    # before any guess counts.
    without_token = CloudKeyVault(db, MASTER, clock)
    with pytest.raises(ConfigurationError, match="server secret that is not configured"):
        without_token.sign(handle.key_id, PIN, DATA)
    assert vault.status(handle.key_id).failures == 0

    # The right PIN and the master key, with any other secret in the token's place (here
    # another secret of the same token posing under the right id): the GCM tag fails.
    impostor = TokenServerSecret(token, label=f"impostor-{secrets.token_hex(4)}")
    impostor.server_key_id = secret.server_key_id
    with pytest.raises(VerificationFailed):
        CloudKeyVault(db, MASTER, clock, token_secret=impostor).sign(handle.key_id, PIN, DATA)

    # The secret is on the token, sensitive and not extractable.
    lib = pkcs11.lib(str(softhsm_token.library))
    with lib.get_token(token_label=softhsm_token.label).open() as session:
        (stored_secret,) = session.get_objects({pkcs11.Attribute.LABEL: secret._label,  # noqa: SLF001
                                                pkcs11.Attribute.CLASS: pkcs11.ObjectClass.SECRET_KEY})
        assert stored_secret[pkcs11.Attribute.SENSITIVE] is True and stored_secret[pkcs11.Attribute.EXTRACTABLE] is False
        with pytest.raises(pkcs11.PKCS11Error):
            stored_secret[pkcs11.Attribute.VALUE]


def test_a_format_1_key_keeps_working_and_moves_to_the_token_at_a_pin_change(db, clock, secret):
    before = CloudKeyVault(db, MASTER, clock)  # the deployment before its keys went to the token
    handle = before.create_key(1, PIN, BIRTH)
    assert row(db, handle.key_id).wrapped_key[0] == 1

    vault = CloudKeyVault(db, MASTER, clock, token_secret=secret)
    signs(vault, handle.key_id, handle.public_key)
    vault.change_pin(handle.key_id, PIN, NEW_PIN, BIRTH)
    moved = row(db, handle.key_id)
    assert moved.wrapped_key[0] == 2 and moved.server_key_id == secret.server_key_id
    signs(vault, handle.key_id, handle.public_key, NEW_PIN)
    with pytest.raises(ConfigurationError):  # the master key alone no longer opens it
        before.sign(handle.key_id, NEW_PIN, DATA)
