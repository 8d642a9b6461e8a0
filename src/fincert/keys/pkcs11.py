"""A ``KeyBackend`` over a PKCS#11 token (a hardware security module, or SoftHSM2 to try it).

Every CA and service key (root, issuing CA, OCSP responder, TSA) is generated on the token as
a sensitive, non-extractable private key object with its public key beside it, both under the
key's label (``CKA_LABEL``). fincert keeps only the label: signatures are made by the token
(RSA: ``CKM_SHA256_RSA_PKCS``; P-256: the SHA-256 digest is computed here and signed with
``CKM_ECDSA``, which every token has, then encoded as a DER ECDSA-Sig-Value).

Configuration (see ``fincert.config``): ``FINCERT_KEY_BACKEND=pkcs11``, the vendor's module
(``FINCERT_PKCS11_LIBRARY``), the token's label (``FINCERT_PKCS11_TOKEN``) and the user PIN
(``FINCERT_PKCS11_PIN``).

Concurrency: python-pkcs11 initialises the module without locking callbacks, which tells the
module that the application serialises its calls (SoftHSM2 then runs without its own mutexes),
so every call goes through one lock per process, on one logged-in session. Signing holds the
lock but not Python's GIL, so the rest of the process goes on meanwhile. A process that was
forked after the module was opened initialises it again (PKCS#11 state does not survive a fork).
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from fincert.errors import Conflict, ConfigurationError, InvalidInput, NotFound
from fincert.keys.backend import KEY_LABEL, KeyType, PublicKey


def _module() -> Any:
    try:
        import pkcs11
    except ImportError:  # an optional dependency: the `hsm` extra
        raise ConfigurationError(
            "FINCERT_KEY_BACKEND=pkcs11 needs the python-pkcs11 package: pip install 'fincert[hsm]'"
        ) from None
    return pkcs11


class Pkcs11KeyBackend:
    """Keys on the PKCS#11 token labelled ``token_label``, logged in with ``user_pin``."""

    def __init__(self, library: Path, token_label: str, user_pin: str) -> None:
        if not token_label:
            raise ConfigurationError("FINCERT_PKCS11_TOKEN must name the token that holds the CA keys")
        if not user_pin:
            raise ConfigurationError("FINCERT_PKCS11_PIN is needed to log in to the token")
        self._library = str(library)
        self._token_label = token_label
        self._pin = user_pin
        self._lock = threading.Lock()
        self._session: Any = None
        self._pid: int | None = None
        self._public: dict[str, PublicKey] = {}
        self._private: dict[str, Any] = {}

    # -- the session -----------------------------------------------------------------------

    def _open(self) -> Any:
        """The logged-in session of this process (under ``self._lock``)."""
        if self._session is not None and self._pid == os.getpid():
            return self._session
        pkcs11 = _module()
        if not os.path.isfile(self._library):
            raise ConfigurationError(f"FINCERT_PKCS11_LIBRARY: no PKCS#11 module at {self._library}")
        try:
            lib = _initialized_module(pkcs11, self._library)
            self._private.clear()  # handles of a parent process's session
            token = lib.get_token(token_label=self._token_label)
        except pkcs11.NoSuchToken:
            raise ConfigurationError(f"FINCERT_PKCS11_TOKEN: no token labelled {self._token_label!r} in {self._library}") from None
        except pkcs11.MultipleTokensReturned:
            raise ConfigurationError(f"FINCERT_PKCS11_TOKEN: more than one token is labelled {self._token_label!r}") from None
        except pkcs11.PKCS11Error as exc:
            raise ConfigurationError(f"cannot open the PKCS#11 module {self._library}: {_describe(exc)}") from None
        try:
            session = token.open(rw=True, user_pin=self._pin)
        except pkcs11.PinIncorrect:
            raise ConfigurationError(f"FINCERT_PKCS11_PIN is not the user PIN of token {self._token_label!r}") from None
        except pkcs11.PinLocked:
            raise ConfigurationError(f"the user PIN of token {self._token_label!r} is locked: the token's officer must reset it") from None
        except pkcs11.UserAlreadyLoggedIn:
            session = token.open(rw=True)  # another session of this process logged the token in
        except pkcs11.PKCS11Error as exc:
            raise ConfigurationError(f"cannot log in to token {self._token_label!r}: {_describe(exc)}") from None
        self._session, self._pid = session, os.getpid()
        return session

    def _find(self, session: Any, label: str, object_class: Any) -> Any | None:
        pkcs11 = _module()
        found = list(session.get_objects({pkcs11.Attribute.LABEL: label, pkcs11.Attribute.CLASS: object_class}))
        if len(found) > 1:
            raise ConfigurationError(f"the token holds more than one key labelled {label!r}")
        return found[0] if found else None

    def _private_key(self, session: Any, label: str) -> Any:
        key = self._private.get(label)
        if key is None:
            key = self._find(session, label, _module().ObjectClass.PRIVATE_KEY)
            if key is None:
                raise NotFound(f"no key labelled {label!r} on token {self._token_label!r}")
            self._private[label] = key
        return key

    @staticmethod
    def _check_label(label: str) -> None:
        if not KEY_LABEL.match(label):
            raise InvalidInput(f"invalid key label {label!r}", field="label")

    # -- KeyBackend ------------------------------------------------------------------------

    def generate(self, label: str, key_type: KeyType) -> PublicKey:
        self._check_label(label)
        pkcs11 = _module()
        Attribute = pkcs11.Attribute
        key_id = hashlib.sha256(label.encode()).digest()[:16]
        private_template = {
            Attribute.TOKEN: True,
            Attribute.PRIVATE: True,
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
            Attribute.SIGN: True,
            Attribute.DECRYPT: False,
            Attribute.UNWRAP: False,
            Attribute.DERIVE: False,
            Attribute.LABEL: label,
            Attribute.ID: key_id,
        }
        public_template = {Attribute.TOKEN: True, Attribute.VERIFY: True, Attribute.ENCRYPT: False, Attribute.WRAP: False,
                           Attribute.LABEL: label, Attribute.ID: key_id}
        with self._lock:
            session = self._open()
            if self._find(session, label, pkcs11.ObjectClass.PRIVATE_KEY) is not None:
                raise Conflict(f"a key labelled {label!r} already exists on token {self._token_label!r}")
            try:
                if key_type is KeyType.RSA2048:
                    public, private = session.generate_keypair(
                        pkcs11.KeyType.RSA, 2048, store=True, label=label,
                        public_template={**public_template, Attribute.PUBLIC_EXPONENT: b"\x01\x00\x01"},
                        private_template=private_template,
                    )
                else:
                    from pkcs11.util.ec import encode_named_curve_parameters

                    parameters = session.create_domain_parameters(
                        pkcs11.KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}, local=True
                    )
                    public, private = parameters.generate_keypair(
                        store=True, label=label, public_template=public_template, private_template=private_template
                    )
            except pkcs11.PKCS11Error as exc:
                raise ConfigurationError(f"token {self._token_label!r} could not generate key {label!r}: {_describe(exc)}") from None
            self._private[label] = private
            key = _as_public_key(public)
            self._public[label] = key
            return key

    def exists(self, label: str) -> bool:
        self._check_label(label)
        with self._lock:
            session = self._open()
            return self._find(session, label, _module().ObjectClass.PRIVATE_KEY) is not None

    def public_key(self, label: str) -> PublicKey:
        self._check_label(label)
        cached = self._public.get(label)
        if cached is not None:
            return cached
        with self._lock:
            session = self._open()
            public = self._find(session, label, _module().ObjectClass.PUBLIC_KEY)
            if public is None:
                raise NotFound(f"no key labelled {label!r} on token {self._token_label!r}")
            key = _as_public_key(public)
            self._public[label] = key
            return key

    def sign(self, label: str, data: bytes) -> bytes:
        self._check_label(label)
        pkcs11 = _module()
        public = self.public_key(label)
        with self._lock:
            for attempt in (1, 2):
                session = self._open()
                private = self._private_key(session, label)
                try:
                    if isinstance(public, rsa.RSAPublicKey):
                        return bytes(private.sign(data, mechanism=pkcs11.Mechanism.SHA256_RSA_PKCS))
                    from pkcs11.util.ec import encode_ecdsa_signature

                    raw = private.sign(hashlib.sha256(data).digest(), mechanism=pkcs11.Mechanism.ECDSA)
                    return bytes(encode_ecdsa_signature(raw))
                except pkcs11.PKCS11Error as exc:
                    # A session the module dropped (the HSM restarted, a network module failed
                    # over) or a stale handle: open a new session once, look the key up again.
                    self._forget_session()
                    if attempt == 2:
                        raise ConfigurationError(
                            f"token {self._token_label!r} could not sign with key {label!r}: {_describe(exc)}"
                        ) from None
            raise AssertionError("unreachable")

    def _forget_session(self) -> None:
        """Drop the session and every handle (under ``self._lock``); the next call opens anew."""
        session, self._session = self._session, None
        self._private.clear()
        if session is not None and self._pid == os.getpid():
            try:
                session.close()
            except Exception:  # noqa: BLE001 - it is being dropped because it no longer works
                pass

    # -- secret keys (the cloud vault's server half) ------------------------------------------

    def hmac_sha256(self, label: str, data: bytes) -> bytes:
        """HMAC-SHA256 of ``data`` under the token's secret key ``label``, generated on first use
        (a 256-bit generic secret, sensitive, non-extractable): the secret never leaves the token."""
        self._check_label(label)
        pkcs11 = _module()
        Attribute = pkcs11.Attribute
        with self._lock:
            session = self._open()
            key = self._private.get(f"secret:{label}")
            if key is None:
                key = self._find(session, label, pkcs11.ObjectClass.SECRET_KEY)
                if key is None:
                    try:
                        key = session.generate_key(
                            pkcs11.KeyType.GENERIC_SECRET, 256, store=True, label=label,
                            template={
                                Attribute.TOKEN: True, Attribute.PRIVATE: True, Attribute.SENSITIVE: True,
                                Attribute.EXTRACTABLE: False, Attribute.SIGN: True, Attribute.VERIFY: True,
                                Attribute.ENCRYPT: False, Attribute.DECRYPT: False, Attribute.WRAP: False,
                                Attribute.UNWRAP: False, Attribute.DERIVE: False,
                            },
                        )
                    except pkcs11.PKCS11Error as exc:
                        raise ConfigurationError(f"token {self._token_label!r} could not generate secret {label!r}: {_describe(exc)}") from None
                self._private[f"secret:{label}"] = key
            try:
                return bytes(key.sign(data, mechanism=pkcs11.Mechanism.SHA256_HMAC))
            except pkcs11.PKCS11Error as exc:
                self._forget_session()  # the next call opens a new session and looks the secret up again
                raise ConfigurationError(f"token {self._token_label!r} could not use secret {label!r}: {_describe(exc)}") from None

    @property
    def token_label(self) -> str:
        return self._token_label

    def destroy(self, label: str) -> None:
        self._check_label(label)
        pkcs11 = _module()
        with self._lock:
            session = self._open()
            for object_class in (pkcs11.ObjectClass.PRIVATE_KEY, pkcs11.ObjectClass.PUBLIC_KEY):
                found = self._find(session, label, object_class)
                if found is not None:
                    found.destroy()
            self._private.pop(label, None)
            self._public.pop(label, None)

    def close(self) -> None:
        with self._lock:
            self._forget_session()


#: The process that initialised each module (python-pkcs11 keeps one per path, across forks).
_module_pids: dict[str, int] = {}
_module_lock = threading.Lock()


def _initialized_module(pkcs11: Any, library: str) -> Any:
    """python-pkcs11's module object for ``library``, initialised in this process.

    A forked child inherits the parent's module object marked as initialised, but PKCS#11 state
    does not survive a fork (the OCSP server forks its workers): the child finalises and
    initialises it again before its first call.
    """
    with _module_lock:
        lib = pkcs11.lib(library)
        owner = _module_pids.get(library)
        if owner is not None and owner != os.getpid():
            lib.reinitialize()
        _module_pids[library] = os.getpid()
        return lib


def _as_public_key(public: Any) -> PublicKey:
    pkcs11 = _module()
    if public.key_type == pkcs11.KeyType.RSA:
        from pkcs11.util.rsa import encode_rsa_public_key

        key = serialization.load_der_public_key(encode_rsa_public_key(public))
    else:
        from pkcs11.util.ec import encode_ec_public_key

        key = serialization.load_der_public_key(encode_ec_public_key(public))
    if not isinstance(key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)):
        raise ConfigurationError("the token holds a key of a type fincert does not use")
    return key


def _describe(exc: BaseException) -> str:
    """A PKCS#11 error as words (python-pkcs11's exceptions often carry no message)."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
