"""Service settings, read from ``FINCERT_*`` environment variables (pydantic-settings).

Secrets (CA key passphrase, master key for personal data and cloud keys, session secret) come
from the environment in production. In development, missing secrets are generated once into
``$FINCERT_HOME/secrets/`` with mode 0600 so that ``make run`` works on a fresh clone; in
production the service refuses to start when one is missing or left at a known default.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

from fincert.errors import ConfigurationError

if TYPE_CHECKING:
    from fincert.keys.backend import KeyBackend

#: Development default OID arc, under IANA's enterprise number for documentation (RFC 5612),
#: which anyone may use. A UUID arc (2.25.<uuid>) would be ours too, but its 128-bit arc breaks
#: common decoders (pkilint's pyasn1-fasder refuses arcs over 32 bits, and 2.999 as well), so
#: deployments set their own registered policy OIDs and production mode refuses this arc.
FINCERT_OID_ARC = "1.3.6.1.4.1.32473.410"
EXAMPLE_OID_ARC = "1.3.6.1.4.1.32473."

#: Values that must never be accepted as secrets in production.
KNOWN_DEFAULT_SECRETS = frozenset({"", "changeme", "change-me", "secret", "password", "fincert", "development"})

MASTER_KEY_LENGTH = 32


def _decode_master_key(raw: str) -> bytes | None:
    """The master key's bytes, or None when ``raw`` is not base64 of exactly 32 bytes."""
    try:
        key = base64.b64decode(raw, validate=True)
    except ValueError:  # binascii.Error is a ValueError
        return None
    return key if len(key) == MASTER_KEY_LENGTH else None


class Settings(BaseSettings):
    # A ValidationError's text quotes the offending input by default, and the input may be the
    # master key or a passphrase; whoever prints one (a traceback, a log) must not disclose it.
    model_config = SettingsConfigDict(env_prefix="FINCERT_", extra="ignore", hide_input_in_errors=True)

    home: Path = Path("./fincert-data")
    mode: Literal["development", "production"] = "development"
    database_url: str | None = None
    public_url: str = "http://127.0.0.1:8000"

    ca_passphrase: SecretStr | None = None
    #: 32 bytes, base64: wraps the data keys of personal data and the cloud-key vault.
    master_key: SecretStr | None = None
    secret_key: SecretStr | None = None

    ca_organization: str = "fincert"
    #: The CA directory name in NPKI folders (``NPKI/<ca_name>/USER/...``).
    ca_name: str = "fincert"
    ca_key_type: Literal["rsa2048", "p256"] = "rsa2048"

    #: Where the CA's and services' private keys live: ``file`` (PKCS#8 files under
    #: ``$FINCERT_HOME/keys``, encrypted with FINCERT_CA_PASSPHRASE) or ``pkcs11`` (generated and
    #: kept on an HSM token, non-extractable; fincert stores only their labels).
    key_backend: Literal["file", "pkcs11"] = "file"
    #: The HSM vendor's PKCS#11 module, e.g. ``/usr/lib/softhsm/libsofthsm2.so`` for SoftHSM2.
    pkcs11_library: Path | None = None
    #: The label of the token that holds the keys, and its user PIN.
    pkcs11_token: str | None = None
    pkcs11_pin: SecretStr | None = None

    financial_validity_days: int = Field(default=3 * 365, ge=1, le=5 * 366)
    joint_validity_days: int = Field(default=365, ge=1, le=5 * 366)
    financial_policy_oid: str = f"{FINCERT_OID_ARC}.1.1"
    joint_policy_oid: str = f"{FINCERT_OID_ARC}.1.2"
    cps_url: str | None = None

    #: Certificates per CRL partition: ~40 bytes per revoked entry keeps a partition < 1 MB.
    crl_partition_size: int = Field(default=20_000, ge=100)

    log_level: str = "INFO"

    #: Demo mode (``make run``): sample institutions and the message outbox page.
    demo: bool = False
    #: Where SMS/e-mail codes go: the database outbox (demo) or an HTTP gateway.
    message_sender: Literal["outbox", "webhook"] = "outbox"
    message_webhook_url: str | None = None
    message_webhook_token: SecretStr | None = None
    #: WebAuthn relying party; default: the host and origin of FINCERT_PUBLIC_URL.
    webauthn_rp_id: str | None = None
    webauthn_origin: str | None = None

    security_card_max_failures: int = Field(default=5, ge=1, le=20)
    otp_max_failures: int = Field(default=10, ge=1, le=50)
    member_session_minutes: int = Field(default=30, ge=1, le=24 * 60)

    #: Lifecycle rules (issue, reissue, renew).
    application_ttl_minutes: int = Field(default=10, ge=1, le=24 * 60)
    renewal_window_days: int = Field(default=30, ge=1, le=365)
    cloud_auto_renew_days: int = Field(default=30, ge=0, le=365)
    pin_max_failures: int = Field(default=5, ge=1, le=20)
    #: Where a ``financial`` (금융인증서) key may be kept: ``any`` lets the holder choose at
    #: step 5 as for ``joint`` (a PC or USB folder, or the cloud); ``cloud`` keeps every
    #: financial key in the vault behind a PIN, as the 금융인증서 service does.
    financial_storage: Literal["any", "cloud"] = "any"

    @field_validator("master_key")
    @classmethod
    def _master_key_format(cls, value: SecretStr | None) -> SecretStr | None:
        # Refused when the settings are read, not at the first command that needs personal data:
        # otherwise a deployment starts and half its commands work. The message carries no value;
        # the edge names the variable from the error's location.
        if value is not None and _decode_master_key(value.get_secret_value()) is None:
            raise PydanticCustomError("master_key_format", f"must be {MASTER_KEY_LENGTH} bytes in base64")
        return value

    @property
    def resolved_home(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_home / 'fincert.db'}"

    @property
    def resolved_webauthn_origin(self) -> str:
        return (self.webauthn_origin or self.public_url).rstrip("/")

    @property
    def resolved_webauthn_rp_id(self) -> str:
        if self.webauthn_rp_id:
            return self.webauthn_rp_id
        from urllib.parse import urlsplit

        return urlsplit(self.resolved_webauthn_origin).hostname or "localhost"

    @property
    def resolved_cps_url(self) -> str:
        return self.cps_url or f"{self.public_url.rstrip('/')}/cps"

    def check_production(self) -> None:
        """Refuse to run in production with a default or missing secret."""
        if self.mode != "production":
            return
        if self.key_backend == "pkcs11":
            # A token's PIN is the HSM's to define (often 4 to 8 digits); it must only be set.
            pin = self.pkcs11_pin.get_secret_value() if self.pkcs11_pin is not None else ""
            if pin.strip().lower() in KNOWN_DEFAULT_SECRETS:
                raise ConfigurationError("production mode with FINCERT_KEY_BACKEND=pkcs11 needs FINCERT_PKCS11_PIN")
        secret_names = ("master_key", "secret_key") if self.key_backend == "pkcs11" else ("ca_passphrase", "master_key", "secret_key")
        for name in secret_names:
            value = getattr(self, name)
            raw = value.get_secret_value() if value is not None else ""
            if raw.strip().lower() in KNOWN_DEFAULT_SECRETS or len(raw) < 16:
                raise ConfigurationError(
                    f"production mode needs FINCERT_{name.upper()} set to a strong secret (at least 16 characters)"
                )
        for name in ("financial_policy_oid", "joint_policy_oid"):
            if getattr(self, name).startswith(EXAMPLE_OID_ARC):
                raise ConfigurationError(
                    f"production mode needs FINCERT_{name.upper()} set to your own policy OID, not the example arc"
                )
        if self.database_url is None:
            raise ConfigurationError("production mode needs FINCERT_DATABASE_URL")
        if self.message_sender != "webhook" or not self.message_webhook_url:
            # The outbox keeps codes in the database for the demo page; real codes go to a gateway.
            raise ConfigurationError("production mode needs FINCERT_MESSAGE_SENDER=webhook and FINCERT_MESSAGE_WEBHOOK_URL")
        self.master_key_bytes()

    # -- secrets -------------------------------------------------------------------------

    def _secret_file(self, name: str, make: callable) -> str:  # type: ignore[valid-type]
        if self.mode == "production":
            raise ConfigurationError(f"production mode needs FINCERT_{name.upper()}")
        directory = self.resolved_home / "secrets"
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        path = directory / name
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(make())
        return path.read_text().strip()

    def key_backend_instance(self) -> "KeyBackend":
        """The ``KeyBackend`` these settings name (files under the home, or a PKCS#11 token)."""
        if self.key_backend == "pkcs11":
            from fincert.keys.pkcs11 import Pkcs11KeyBackend

            if self.pkcs11_library is None:
                raise ConfigurationError("FINCERT_KEY_BACKEND=pkcs11 needs FINCERT_PKCS11_LIBRARY, the HSM's PKCS#11 module")
            if not self.pkcs11_token:
                raise ConfigurationError("FINCERT_KEY_BACKEND=pkcs11 needs FINCERT_PKCS11_TOKEN, the label of the token")
            if self.pkcs11_pin is None:
                raise ConfigurationError("FINCERT_KEY_BACKEND=pkcs11 needs FINCERT_PKCS11_PIN, the token's user PIN")
            return Pkcs11KeyBackend(self.pkcs11_library.expanduser(), self.pkcs11_token, self.pkcs11_pin.get_secret_value())
        from fincert.keys.software import EncryptedFileKeyBackend

        return EncryptedFileKeyBackend(self.resolved_home / "keys", self.ca_passphrase_bytes())

    def ca_passphrase_bytes(self) -> bytes:
        if self.ca_passphrase is not None:
            return self.ca_passphrase.get_secret_value().encode()
        return self._secret_file("ca_passphrase", lambda: secrets.token_urlsafe(32)).encode()

    def master_key_bytes(self) -> bytes:
        if self.master_key is not None:
            key = _decode_master_key(self.master_key.get_secret_value())
            if key is None:  # only when built without validation (model_construct)
                raise ConfigurationError(f"FINCERT_MASTER_KEY must be {MASTER_KEY_LENGTH} bytes in base64")
            return key
        raw = self._secret_file("master_key", lambda: base64.b64encode(secrets.token_bytes(MASTER_KEY_LENGTH)).decode())
        key = _decode_master_key(raw)
        if key is None:
            # The variable is unset here, so naming it alone would send the operator to the wrong place.
            raise ConfigurationError(
                f"the development master key file {self.resolved_home / 'secrets' / 'master_key'} "
                f"is not {MASTER_KEY_LENGTH} bytes in base64 (or set FINCERT_MASTER_KEY)"
            )
        return key

    def secret_key_bytes(self) -> bytes:
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        return self._secret_file("secret_key", lambda: secrets.token_urlsafe(32)).encode()
