"""The cloud-key vault (the 금융인증서 model): holders' RSA keys kept by the server behind a PIN.

Owns generating a holder's key inside the server, wrapping it, unlocking it per request with the
holder's 6-digit PIN, the consecutive-failure counter and lock, PIN changes and destruction.
The private key never leaves this module: callers get a ``RawSigner`` or a signature.

Wrapping construction (format 1)
--------------------------------
::

    server_kek = HKDF-SHA256(master_key, info="fincert/cloud-vault/server-kek/v1")
    pin_key    = argon2id(PIN, salt=kdf_salt (16 random bytes per key), m, t, p, 32 bytes)
    kek        = HKDF-SHA256(ikm = server_kek || pin_key, salt = kdf_salt,
                             info = "fincert/cloud-vault/wrap/v1|" key_id)
    wrapped    = 0x01 | nonce (12) | AES-256-GCM(kek, nonce, PKCS#8 DER, aad)
    aad        = "fincert/cloud-key/v1|" key_id "|" member_id "|" m "|" t "|" p

Format 2, when the CA's keys are on an HSM token (``FINCERT_KEY_BACKEND=pkcs11``): the server
half is computed on the token, by a 256-bit secret that never leaves it, per key::

    server_half = HMAC-SHA256_token("fincert/cloud-vault/server-half/v2|" kdf_salt "|" key_id)
    kek         = HKDF-SHA256(ikm = server_half || pin_key, salt = kdf_salt,
                              info = "fincert/cloud-vault/wrap/v2|" key_id)
    wrapped     = 0x02 | nonce (12) | AES-256-GCM(kek, nonce, PKCS#8 DER, aad "fincert/cloud-key/v2|...")

Then a copy of the database *and* of the master key still allows no offline PIN guessing: each
guess needs the token, which only the service's processes can use. New keys are wrapped in
format 2; format-1 keys keep working (the master key is still configured) and move to format 2
when their PIN is changed. ``server_key_id`` names which server secret wrapped a row.

``master_key`` is the service's 32-byte secret (``FINCERT_MASTER_KEY``), kept in the
environment or a 0600 file, never in the database. A database dump holds ``wrapped``, the salt
and the parameters, but every PIN guess must be tested by recomputing ``kek``, which needs
``server_kek``: without it the 10^6 PINs cannot be tried offline, because the GCM tag of a
wrong guess is indistinguishable from that of a wrong server key. The AAD binds the blob to its
row and parameters, so copying it to another key or lowering the stored KDF cost breaks it.
A wrong PIN shows up as a failed GCM tag; the vault checks ``server_key_id`` first so that a
misconfigured master key is reported as such instead of counting (and locking) every holder.

KDF cost: the trade-off
-----------------------
Each signature unlocks the key with the PIN, so argon2id runs once per signature. OWASP's
minimum for passwords (m=19 MiB, t=2) costs ~20 ms on one core of the development machine,
capping a core at ~50 signatures/s, below the ≥100/s the service needs on 2 cores once the
database work is added. The defaults are **m=8 MiB, t=1, p=1**: 3.4 ms per unlock (measured
with argon2-cffi 25.1: m=8 MiB/t=2 6.6 ms, m=16 MiB/t=1 7.6 ms, m=4 MiB/t=2 3.2 ms). With them
a signature costs ~8 ms on PostgreSQL (read 0.8 ms, argon2id + unwrap 3.7 ms, the audited
decision 3 ms), about 130/s on one thread and 250/s on 2 processes (``bench/cloud_signing.py``);
with t=2 one thread stayed at ~80/s. This is a deliberate choice, not an oversight:

* with the server KEK outside the database, guessing is online only, and the online defence
  is the lockout: 5 consecutive wrong PINs lock the key, so an attacker gets 5 guesses out of
  10^6 (plus whatever a reissued key allows, which needs a full identity verification);
* the KDF cost matters only to an attacker who holds *both* the database and the server key.
  Against that attacker a 6-digit PIN falls at any practical cost (10^6 guesses × 20 ms is
  under 6 core-hours), so a higher cost would buy little and cost every holder latency.

Parameters are stored per key and included in the AAD; changing the defaults applies to new
keys and to keys whose PIN is changed.

Unlocking and the counter
-------------------------
Expensive work (argon2id, AES-GCM, loading the key) runs outside any transaction on a snapshot
of the row, so unlocks of different keys run in parallel and SQLite's write lock is not held
during the KDF. The outcome is then decided in one short transaction that locks the row
(``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` serialises writers):
it re-checks that the key is neither locked nor destroyed nor re-wrapped since the snapshot,
counts a failure (locking at ``max_pin_failures``) or resets the counter, and appends the audit
record, all committed together, even when the call then raises. Parallel guesses are therefore
decided one at a time in a single order: the lock happens at exactly the 5th failure and a
right PIN decided after it is refused like any other. Nothing is cached between calls; every
signature pays the PIN check.

Plaintext key material exists only in memory for the duration of one call (Python cannot
reliably wipe it); it is never written to disk, the database or a log.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from argon2.low_level import Type as Argon2Type
from argon2.low_level import hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from fincert.clock import Clock
from fincert.errors import (
    Conflict,
    ConfigurationError,
    FincertError,
    Forbidden,
    InvalidInput,
    Locked,
    NotFound,
    VerificationFailed,
)
from fincert.keys.pin import PIN_LENGTH, check_pin
from fincert.sign.raw_signer import HashName, PrivateKeySigner
from fincert.storage import audit
from fincert.storage.db import Database
from fincert.storage.models_vault import CloudKey

__all__ = [
    "TokenServerSecret",
    "CloudKeyHandle",
    "CloudKeySigner",
    "CloudKeyStatus",
    "CloudKeyVault",
    "KdfParameters",
    "VaultRecordUnreadable",
]

_FORMAT = 1  # the server half from the master key
_TOKEN_FORMAT = 2  # the server half from an HSM token's secret
_NONCE_LEN = 12
_SALT_LEN = 16
_KEY_LEN = 32
_SIGN_HASHES = ("sha256", "sha384", "sha512")
# A tampered row could ask for gigabytes of argon2 memory before GCM gets a chance to refuse it.
_MAX_MEMORY_KIB = 1 << 20
_MAX_TIME_COST = 64


class VaultRecordUnreadable(FincertError):
    """A stored cloud key is malformed (tampered or truncated row): a server-side fault."""

    kind = "internal"
    http_status = 500


@dataclass(frozen=True)
class KdfParameters:
    """argon2id parameters for the PIN half of the key-encryption key."""

    memory_kib: int = 8192
    time_cost: int = 1
    parallelism: int = 1

    def __post_init__(self) -> None:
        if not (8 * self.parallelism <= self.memory_kib <= _MAX_MEMORY_KIB):
            raise ConfigurationError("argon2id memory must be between 8·parallelism KiB and 1 GiB")
        if not (1 <= self.time_cost <= _MAX_TIME_COST) or not (1 <= self.parallelism <= 16):
            raise ConfigurationError("argon2id time cost must be 1..64 and parallelism 1..16")


@dataclass(frozen=True)
class CloudKeyHandle:
    """What ``create_key`` hands back: the key's id and its public half (for the CSR-less issue)."""

    key_id: str
    public_key: rsa.RSAPublicKey
    public_key_sha256: str


@dataclass(frozen=True)
class CloudKeyStatus:
    key_id: str
    member_id: int
    certificate_serial: str | None
    state: Literal["active", "locked", "destroyed"]
    failures: int
    remaining_tries: int
    public_key_sha256: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    locked_at: dt.datetime | None
    destroyed_at: dt.datetime | None


@dataclass(frozen=True)
class _Snapshot:
    key_id: str
    member_id: int
    wrapped_key: bytes
    kdf_salt: bytes
    kdf: KdfParameters
    server_key_id: str
    generation: int
    locked: bool
    destroyed: bool


@dataclass(frozen=True)
class _Rewrap:
    wrapped_key: bytes
    kdf_salt: bytes
    kdf: KdfParameters
    server_key_id: str


class TokenServerSecret:
    """The server half of format-2 wraps: HMAC-SHA256 by a secret kept on an HSM token.

    ``token`` is a ``Pkcs11KeyBackend`` (anything with ``hmac_sha256(label, data)`` and
    ``token_label``); the secret is generated on the token at its first use.
    """

    def __init__(self, token: object, label: str = "cloud-vault-kek") -> None:
        self._token = token
        self._label = label
        token_label = getattr(token, "token_label", "")
        #: Not secret: which token and label; fits the 16-character column.
        self.server_key_id = "hsm-" + hashlib.sha256(f"{token_label}|{label}".encode()).hexdigest()[:12]

    def server_half(self, salt: bytes, key_id: str) -> bytes:
        return self._token.hmac_sha256(  # type: ignore[attr-defined, no-any-return]
            self._label, b"fincert/cloud-vault/server-half/v2|" + salt + b"|" + key_id.encode("ascii")
        )


_t = CloudKey.__table__
_SNAPSHOT_COLUMNS = (
    _t.c.key_id, _t.c.member_id, _t.c.wrapped_key, _t.c.kdf_salt, _t.c.kdf_memory_kib,
    _t.c.kdf_time_cost, _t.c.kdf_parallelism, _t.c.server_key_id, _t.c.generation,
    _t.c.locked_at, _t.c.destroyed_at,
)


def _hkdf(ikm: bytes, info: bytes, salt: bytes | None = None) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=_KEY_LEN, salt=salt, info=info).derive(ikm)


def _aad(key_id: str, member_id: int, kdf: KdfParameters, wrap_format: int = _FORMAT) -> bytes:
    return (
        f"fincert/cloud-key/v{wrap_format}|{key_id}|{member_id}|"
        f"{kdf.memory_kib}|{kdf.time_cost}|{kdf.parallelism}"
    ).encode("ascii")


def _require_pin_shape(pin: object, field: str) -> str:
    # Only the shape: a PIN that breaks the creation rules cannot be the right one, but checking
    # them here would tell a guesser which PINs to skip. A malformed PIN is refused without
    # counting a failure, since it can never succeed and changes nothing.
    if not isinstance(pin, str) or len(pin) != PIN_LENGTH or not (pin.isascii() and pin.isdigit()):
        raise InvalidInput(f"the PIN must be exactly {PIN_LENGTH} digits", field=field)
    return pin


def _require_hash(hash_alg: object) -> HashName:
    if hash_alg not in _SIGN_HASHES:
        raise InvalidInput("hash algorithm must be sha256, sha384 or sha512", field="hash_alg")
    return hash_alg  # type: ignore[return-value]


def _locked_error() -> Locked:
    return Locked(
        "this cloud certificate is locked after too many wrong PINs; "
        "a locked certificate must be reissued"
    )


def _destroyed_error() -> Forbidden:
    return Forbidden("this cloud key was destroyed when its certificate was replaced; use the reissued certificate")


class CloudKeyVault:
    """PIN-protected holder keys in the database, wrapped under a PIN- and server-derived key.

    Every method that takes a PIN is one unlock attempt: it raises ``InvalidInput`` for a PIN
    that is not six digits (nothing counted), ``VerificationFailed`` for a wrong PIN (with the
    tries left), ``Locked`` on the failure that locks the key and on every later attempt,
    ``Forbidden`` for a destroyed key and ``NotFound`` for an unknown key id.
    """

    def __init__(
        self,
        db: Database,
        master_key: bytes,
        clock: Clock,
        *,
        max_pin_failures: int = 5,
        kdf: KdfParameters | None = None,
        token_secret: TokenServerSecret | None = None,
    ) -> None:
        if not isinstance(master_key, bytes) or len(master_key) != _KEY_LEN:
            raise ConfigurationError("the vault master key must be exactly 32 bytes")
        if len(set(master_key)) < 8:
            raise ConfigurationError("the vault master key is not random")
        if max_pin_failures < 1:
            raise ConfigurationError("max_pin_failures must be at least 1")
        self._db = db
        self._clock = clock
        self._max_failures = max_pin_failures
        self._kdf = kdf or KdfParameters()
        # Domain-separated from the personal-data keys derived from the same master key.
        self._server_kek = _hkdf(master_key, b"fincert/cloud-vault/server-kek/v1")
        self._master_key_id = _hkdf(master_key, b"fincert/cloud-vault/key-id/v1")[:8].hex()
        self._token_secret = token_secret
        #: The server secret new wraps use: the token's when there is one.
        self._server_key_id = token_secret.server_key_id if token_secret is not None else self._master_key_id

    @property
    def max_pin_failures(self) -> int:
        return self._max_failures

    @property
    def kdf(self) -> KdfParameters:
        return self._kdf

    # -- wrapping --------------------------------------------------------------------------

    def _wrap_format(self, server_key_id: str) -> int:
        if server_key_id == self._master_key_id:
            return _FORMAT
        if self._token_secret is not None and server_key_id == self._token_secret.server_key_id:
            return _TOKEN_FORMAT
        raise ConfigurationError(
            "cloud keys were wrapped under a server secret that is not configured: another master key "
            "(FINCERT_MASTER_KEY) or an HSM token's vault secret (FINCERT_KEY_BACKEND=pkcs11)"
        )

    def _kek(self, pin: str, key_id: str, salt: bytes, kdf: KdfParameters, server_key_id: str) -> AESGCM:
        wrap_format = self._wrap_format(server_key_id)
        pin_key = hash_secret_raw(
            pin.encode("ascii"),
            salt,
            time_cost=kdf.time_cost,
            memory_cost=kdf.memory_kib,
            parallelism=kdf.parallelism,
            hash_len=_KEY_LEN,
            type=Argon2Type.ID,
        )
        if wrap_format == _FORMAT:
            info = b"fincert/cloud-vault/wrap/v1|" + key_id.encode("ascii")
            return AESGCM(_hkdf(self._server_kek + pin_key, info, salt=salt))
        assert self._token_secret is not None
        info = b"fincert/cloud-vault/wrap/v2|" + key_id.encode("ascii")
        return AESGCM(_hkdf(self._token_secret.server_half(salt, key_id) + pin_key, info, salt=salt))

    def _wrap(self, pkcs8: bytes, pin: str, key_id: str, member_id: int) -> _Rewrap:
        salt = os.urandom(_SALT_LEN)
        kdf = self._kdf
        nonce = os.urandom(_NONCE_LEN)
        server_key_id = self._server_key_id
        wrap_format = self._wrap_format(server_key_id)
        sealed = self._kek(pin, key_id, salt, kdf, server_key_id).encrypt(
            nonce, pkcs8, _aad(key_id, member_id, kdf, wrap_format)
        )
        return _Rewrap(bytes([wrap_format]) + nonce + sealed, salt, kdf, server_key_id)

    def _unwrap(self, snapshot: _Snapshot, pin: str) -> rsa.RSAPrivateKey | None:
        """The private key, or None when the PIN is wrong."""
        blob = snapshot.wrapped_key
        wrap_format = self._wrap_format(snapshot.server_key_id)
        if len(blob) < 1 + _NONCE_LEN + 16 or blob[0] != wrap_format or len(snapshot.kdf_salt) != _SALT_LEN:
            raise VaultRecordUnreadable("the stored cloud key has an unknown format")
        aesgcm = self._kek(pin, snapshot.key_id, snapshot.kdf_salt, snapshot.kdf, snapshot.server_key_id)
        try:
            pkcs8 = aesgcm.decrypt(
                blob[1 : 1 + _NONCE_LEN],
                blob[1 + _NONCE_LEN :],
                _aad(snapshot.key_id, snapshot.member_id, snapshot.kdf, wrap_format),
            )
        except InvalidTag:
            return None
        # Validation of the RSA key (~35 ms here) is skipped: we generated it, and the GCM tag
        # just proved these are the exact bytes we wrapped, so it cannot be a crafted key.
        key = serialization.load_der_private_key(pkcs8, None, unsafe_skip_rsa_key_validation=True)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise VaultRecordUnreadable("the stored cloud key is not an RSA key")
        return key

    # -- creating and binding ----------------------------------------------------------------

    def create_key(
        self,
        member_id: int,
        pin: str,
        birth_date: dt.date,
        *,
        session: Session | None = None,
        actor: str | None = None,
    ) -> CloudKeyHandle:
        """Generate an RSA-2048 key in the vault, protected by ``pin`` (checked against the PIN
        rules and the holder's ``birth_date``). Pass ``session`` to create it inside the
        caller's transaction (e.g. with the application it belongs to)."""
        check_pin(pin, birth_date)
        if not isinstance(member_id, int) or isinstance(member_id, bool) or member_id < 0:
            raise InvalidInput("member id must be a non-negative integer", field="member_id")
        key_id = secrets.token_hex(16)
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pkcs8 = private_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        wrapped = self._wrap(pkcs8, pin, key_id, member_id)
        public_key = private_key.public_key()
        del pkcs8, private_key
        spki = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        spki_sha256 = hashlib.sha256(spki).hexdigest()
        now = self._clock.now()
        with self._transaction(session) as s:
            s.execute(
                insert(_t).values(
                    key_id=key_id,
                    member_id=member_id,
                    certificate_serial=None,
                    public_key_der=spki,
                    public_key_sha256=spki_sha256,
                    wrapped_key=wrapped.wrapped_key,
                    kdf_salt=wrapped.kdf_salt,
                    kdf_memory_kib=wrapped.kdf.memory_kib,
                    kdf_time_cost=wrapped.kdf.time_cost,
                    kdf_parallelism=wrapped.kdf.parallelism,
                    server_key_id=wrapped.server_key_id,
                    generation=1,
                    failures=0,
                    created_at=now,
                )
            )
            audit.append(
                s,
                action="cloud-key.created",
                actor=actor or f"member:{member_id}",
                subject_type="cloud-key",
                subject_id=key_id,
                now=now,
                details={"member_id": member_id, "public_key_sha256": spki_sha256, "kdf": _kdf_details(wrapped.kdf)},
            )
        return CloudKeyHandle(key_id=key_id, public_key=public_key, public_key_sha256=spki_sha256)

    def bind_certificate(
        self, key_id: str, serial: str, *, session: Session | None = None, actor: str = "system"
    ) -> None:
        """Record the certificate issued for this key (a renewal re-binds it to the new serial)."""
        serial = serial.strip().lower()
        if not serial or len(serial) > 64 or any(c not in "0123456789abcdef" for c in serial):
            raise InvalidInput("certificate serial must be hex", field="serial")
        now = self._clock.now()
        with self._transaction(session) as s:
            row = s.execute(
                select(_t.c.certificate_serial, _t.c.destroyed_at).where(_t.c.key_id == key_id).with_for_update()
            ).first()
            if row is None:
                raise NotFound("no such cloud key")
            if row.destroyed_at is not None:
                raise _destroyed_error()
            if row.certificate_serial == serial:
                return
            taken = s.execute(select(_t.c.key_id).where(_t.c.certificate_serial == serial)).first()
            if taken is not None:
                raise Conflict("that certificate is already bound to another cloud key")
            s.execute(update(_t).where(_t.c.key_id == key_id).values(certificate_serial=serial))
            audit.append(
                s,
                action="cloud-key.certificate-bound",
                actor=actor,
                subject_type="cloud-key",
                subject_id=key_id,
                now=now,
                details={"serial": serial, "previous_serial": row.certificate_serial},
            )

    # -- unlocking ---------------------------------------------------------------------------

    def sign(self, key_id: str, pin: str, data: bytes, hash_alg: HashName = "sha256", *, pss: bool = False) -> bytes:
        """Unlock the key with ``pin`` and sign ``data`` (one unlock attempt per call)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidInput("data to sign must be bytes", field="data")
        hash_name = _require_hash(hash_alg)
        key = self._unlock(key_id, _require_pin_shape(pin, "pin"), purpose="sign")
        return PrivateKeySigner(key).sign(bytes(data), hash_name, pss=pss)

    def signer(self, key_id: str, pin: str) -> CloudKeySigner:
        """A ``RawSigner`` for pyHanko/CMS that unlocks the key with ``pin`` on every ``sign``.

        It holds the PIN for its own lifetime only: build one per request and drop it."""
        _require_pin_shape(pin, "pin")
        return CloudKeySigner(self, key_id, pin)

    def verify_pin(self, key_id: str, pin: str, *, actor: str | None = None) -> None:
        """One unlock attempt without signing (e.g. proof of possession for a renewal)."""
        self._unlock(key_id, _require_pin_shape(pin, "pin"), purpose="verify", actor=actor)

    def change_pin(
        self,
        key_id: str,
        old_pin: str,
        new_pin: str,
        birth_date: dt.date,
        *,
        actor: str | None = None,
    ) -> None:
        """Re-wrap the key under ``new_pin``; a wrong ``old_pin`` counts as a failed unlock."""
        _require_pin_shape(old_pin, "old_pin")
        check_pin(new_pin, birth_date, field="new_pin")
        if new_pin == old_pin:
            raise InvalidInput("the new PIN must differ from the current one", field="new_pin")
        self._unlock(key_id, old_pin, purpose="change-pin", new_pin=new_pin, actor=actor)

    def _unlock(
        self,
        key_id: str,
        pin: str,
        *,
        purpose: str,
        new_pin: str | None = None,
        actor: str | None = None,
    ) -> rsa.RSAPrivateKey:
        # A re-wrap (PIN change) between the snapshot and the decision makes the answer stale;
        # redo it on the new row. Three changes in a row is not a race a holder can cause.
        for _ in range(3):
            snapshot = self._snapshot(key_id)
            if snapshot.locked or snapshot.destroyed:
                # Refused before spending the KDF; still recorded as an attempt.
                outcome = self._decide(snapshot, None, purpose=purpose, actor=actor)
            else:
                self._wrap_format(snapshot.server_key_id)  # a server secret that is not configured: before any guess counts
                key = self._unwrap(snapshot, pin)
                rewrap = None
                if key is not None and new_pin is not None:
                    pkcs8 = key.private_bytes(
                        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                    )
                    rewrap = self._wrap(pkcs8, new_pin, snapshot.key_id, snapshot.member_id)
                    del pkcs8
                outcome = self._decide(snapshot, key, purpose=purpose, actor=actor, rewrap=rewrap)
            if outcome is _STALE:
                continue
            if isinstance(outcome, FincertError):
                raise outcome
            return outcome
        raise Conflict("the cloud key changed while it was being unlocked; try again")

    def _snapshot(self, key_id: str) -> _Snapshot:
        if not isinstance(key_id, str) or not key_id or len(key_id) > 32:
            raise NotFound("no such cloud key")
        with self._db.reader() as s:
            row = s.execute(select(*_SNAPSHOT_COLUMNS).where(_t.c.key_id == key_id)).first()
        if row is None:
            raise NotFound("no such cloud key")
        return _Snapshot(
            key_id=row.key_id,
            member_id=row.member_id,
            wrapped_key=row.wrapped_key,
            kdf_salt=row.kdf_salt,
            kdf=_stored_kdf(row.kdf_memory_kib, row.kdf_time_cost, row.kdf_parallelism),
            server_key_id=row.server_key_id,
            generation=row.generation,
            locked=row.locked_at is not None,
            destroyed=row.destroyed_at is not None,
        )

    def _decide(
        self,
        snapshot: _Snapshot,
        key: rsa.RSAPrivateKey | None,
        *,
        purpose: str,
        actor: str | None,
        rewrap: _Rewrap | None = None,
    ) -> rsa.RSAPrivateKey | FincertError | object:
        """Commit the attempt's effect and its audit record; return the key, or the error to
        raise after the commit, or ``_STALE``."""
        now = self._clock.now()
        who = actor or f"member:{snapshot.member_id}"
        with self._db.transaction() as s:
            row = s.execute(
                select(_t.c.generation, _t.c.failures, _t.c.locked_at, _t.c.destroyed_at)
                .where(_t.c.key_id == snapshot.key_id)
                .with_for_update()
            ).first()
            if row is None:
                return NotFound("no such cloud key")

            def record(action: str, **details: object) -> None:
                audit.append(
                    s, action=action, actor=who, subject_type="cloud-key", subject_id=snapshot.key_id,
                    now=now, details={"purpose": purpose, **details},
                )

            if row.destroyed_at is not None:
                record("cloud-key.unlock-refused", reason="destroyed")
                return _destroyed_error()
            if row.locked_at is not None:
                record("cloud-key.unlock-refused", reason="locked")
                return _locked_error()
            if row.generation != snapshot.generation:
                return _STALE
            where = _t.c.key_id == snapshot.key_id
            if key is None:
                failures = row.failures + 1
                if failures >= self._max_failures:
                    s.execute(update(_t).where(where).values(failures=failures, locked_at=now))
                    record("cloud-key.unlock-failed", failures=failures, remaining_tries=0)
                    record("cloud-key.locked", failures=failures)
                    return _locked_error()
                s.execute(update(_t).where(where).values(failures=failures))
                left = self._max_failures - failures
                record("cloud-key.unlock-failed", failures=failures, remaining_tries=left)
                return VerificationFailed(
                    f"wrong PIN: {left} {'try' if left == 1 else 'tries'} left before the certificate is locked"
                )
            values: dict[str, object] = {"failures": 0, "last_used_at": now}
            if rewrap is not None:
                values.update(
                    wrapped_key=rewrap.wrapped_key,
                    kdf_salt=rewrap.kdf_salt,
                    kdf_memory_kib=rewrap.kdf.memory_kib,
                    kdf_time_cost=rewrap.kdf.time_cost,
                    kdf_parallelism=rewrap.kdf.parallelism,
                    server_key_id=rewrap.server_key_id,
                    generation=row.generation + 1,
                )
            s.execute(update(_t).where(where).values(**values))
            record("cloud-key.unlocked", previous_failures=row.failures)
            if rewrap is not None:
                record("cloud-key.pin-changed", kdf=_kdf_details(rewrap.kdf))
            return key

    # -- ending --------------------------------------------------------------------------------

    def destroy(self, key_id: str, *, session: Session | None = None, actor: str, reason: str = "replaced") -> CloudKeyStatus:
        """Erase the wrapped key and mark it destroyed; later unlocks are refused.

        Reissuance calls this with its own ``session`` so the key goes in the same transaction
        as the revocation of its certificate. Destroying a destroyed key changes nothing.
        The stored blob is replaced by an empty value; on PostgreSQL the old row version lingers
        until VACUUM, and it is useless without both the PIN and the server key.
        """
        now = self._clock.now()
        with self._transaction(session) as s:
            row = s.execute(
                select(_t.c.generation, _t.c.destroyed_at).where(_t.c.key_id == key_id).with_for_update()
            ).first()
            if row is None:
                raise NotFound("no such cloud key")
            if row.destroyed_at is None:
                s.execute(
                    update(_t)
                    .where(_t.c.key_id == key_id)
                    .values(wrapped_key=b"", kdf_salt=b"", destroyed_at=now, generation=row.generation + 1)
                )
                audit.append(
                    s, action="cloud-key.destroyed", actor=actor, subject_type="cloud-key",
                    subject_id=key_id, now=now, details={"reason": reason},
                )
            return self._status_in(s, key_id)

    # -- reading -------------------------------------------------------------------------------

    def status(self, key_id: str) -> CloudKeyStatus:
        with self._db.reader() as s:
            return self._status_in(s, key_id)

    def key_for_certificate(self, serial: str) -> CloudKeyStatus:
        """The cloud key a certificate was issued for (``NotFound`` for file-stored keys)."""
        with self._db.reader() as s:
            key_id = s.execute(
                select(_t.c.key_id).where(_t.c.certificate_serial == serial.strip().lower())
            ).scalar_one_or_none()
            if key_id is None:
                raise NotFound("no cloud key is bound to that certificate")
            return self._status_in(s, key_id)

    def keys_of_member(self, member_id: int) -> list[CloudKeyStatus]:
        with self._db.reader() as s:
            ids = s.execute(
                select(_t.c.key_id).where(_t.c.member_id == member_id).order_by(_t.c.id)
            ).scalars().all()
            return [self._status_in(s, key_id) for key_id in ids]

    def public_key(self, key_id: str) -> rsa.RSAPublicKey:
        with self._db.reader() as s:
            der = s.execute(select(_t.c.public_key_der).where(_t.c.key_id == key_id)).scalar_one_or_none()
        if der is None:
            raise NotFound("no such cloud key")
        return _load_public(der)

    def _status_in(self, s: Session, key_id: str) -> CloudKeyStatus:
        row = s.execute(select(CloudKey).where(CloudKey.key_id == key_id)).scalar_one_or_none()
        if row is None:
            raise NotFound("no such cloud key")
        state: Literal["active", "locked", "destroyed"]
        if row.destroyed_at is not None:
            state = "destroyed"
        elif row.locked_at is not None:
            state = "locked"
        else:
            state = "active"
        return CloudKeyStatus(
            key_id=row.key_id,
            member_id=row.member_id,
            certificate_serial=row.certificate_serial,
            state=state,
            failures=row.failures,
            remaining_tries=0 if state != "active" else max(self._max_failures - row.failures, 0),
            public_key_sha256=row.public_key_sha256,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            locked_at=row.locked_at,
            destroyed_at=row.destroyed_at,
        )

    @contextlib.contextmanager
    def _transaction(self, session: Session | None) -> Iterator[Session]:
        if session is not None:
            yield session
        else:
            with self._db.transaction() as s:
                yield s


class CloudKeySigner:
    """``RawSigner`` over a vault key: each ``sign`` is one PIN unlock (see ``CloudKeyVault``)."""

    def __init__(self, vault: CloudKeyVault, key_id: str, pin: str) -> None:
        self._vault = vault
        self.key_id = key_id
        self._pin = pin

    def __repr__(self) -> str:  # never show the PIN
        return f"CloudKeySigner(key_id={self.key_id!r})"

    def public_key(self) -> rsa.RSAPublicKey:
        return self._vault.public_key(self.key_id)

    def sign(self, data: bytes, hash_alg: HashName, *, pss: bool = False) -> bytes:
        return self._vault.sign(self.key_id, self._pin, data, hash_alg, pss=pss)


_STALE = object()


def _stored_kdf(memory_kib: int, time_cost: int, parallelism: int) -> KdfParameters:
    try:
        return KdfParameters(memory_kib, time_cost, parallelism)
    except ConfigurationError:
        raise VaultRecordUnreadable("the stored cloud key has out-of-range KDF parameters") from None


def _kdf_details(kdf: KdfParameters) -> dict[str, object]:
    return {"alg": "argon2id", "m_kib": kdf.memory_kib, "t": kdf.time_cost, "p": kdf.parallelism}


def _load_public(der: bytes) -> rsa.RSAPublicKey:
    key = serialization.load_der_public_key(der)
    if not isinstance(key, rsa.RSAPublicKey):  # pragma: no cover - we only store RSA keys
        raise VaultRecordUnreadable("the stored cloud public key is not RSA")
    return key
