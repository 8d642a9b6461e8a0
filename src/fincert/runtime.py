"""The composition root: builds every component from ``Settings`` and hands them out.

Only the edges (CLI, API) create a ``Runtime``; components receive their dependencies
(database, key backend, clock) explicitly and never read settings or globals themselves.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from fincert.ca.authority import CertificateAuthority, Hierarchy
from fincert.ca.profiles import profiles_from_settings
from fincert.clock import Clock, SystemClock
from fincert.config import Settings
from fincert.endpoints import PublicEndpoints
from fincert.errors import ConfigurationError
from fincert.keys.backend import KeyBackend, KeyType
from fincert.ra.institutions import InstitutionRegistry
from fincert.storage.db import Database

if TYPE_CHECKING:
    from fincert.keys.vault import CloudKeyVault
    from fincert.ra.lifecycle import CertificateLifecycle
    from fincert.ra.registrar import Registrar
    from fincert.sign.service import ElectronicSignatures, TimeStampService
    from fincert.va.service import ValidationAuthority


@dataclass
class Runtime:
    settings: Settings
    db: Database
    clock: Clock
    keys: KeyBackend
    endpoints: PublicEndpoints
    ca: CertificateAuthority
    institutions: InstitutionRegistry
    extras: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Every revocation reaches the VA, also in a process that never asked it anything (a
        # script or command revoking through ``ca``): otherwise a stored pre-signed "good"
        # response would be served until the next refresh pass found the change.
        self.ca.add_revocation_listener(self._revoked)

    def _revoked(self, serial: str) -> None:
        self.va.revoked(serial)

    @property
    def home(self) -> Path:
        return self.settings.resolved_home

    @functools.cached_property
    def lifecycle(self) -> "CertificateLifecycle":
        from fincert.ra.lifecycle import CertificateLifecycle

        s = self.settings
        return CertificateLifecycle(
            self.db,
            self.clock,
            self.ca,
            self.registrar,
            self.vault,
            application_ttl=dt.timedelta(minutes=s.application_ttl_minutes),
            renewal_window=dt.timedelta(days=s.renewal_window_days),
            cloud_auto_renew=dt.timedelta(days=s.cloud_auto_renew_days),
            financial_in_cloud_only=s.financial_storage == "cloud",
        )

    @functools.cached_property
    def registrar(self) -> "Registrar":
        from fincert.ra.pii import PiiVault
        from fincert.ra.registrar import Registrar
        from fincert.ra.verifiers.one_time_code import WebhookSender

        s = self.settings
        master = s.master_key_bytes()
        sender = None
        if s.message_sender == "webhook":
            if not s.message_webhook_url:
                raise ConfigurationError("FINCERT_MESSAGE_SENDER=webhook needs FINCERT_MESSAGE_WEBHOOK_URL")
            token = s.message_webhook_token.get_secret_value() if s.message_webhook_token else None
            sender = WebhookSender(s.message_webhook_url, auth_header=f"Bearer {token}" if token else None)
        return Registrar(
            self.db,
            self.clock,
            PiiVault(master),
            sender=sender,
            code_pepper=hashlib.sha256(b"fincert/one-time-code-pepper/" + master).digest(),
            webauthn_rp_id=s.resolved_webauthn_rp_id,
            webauthn_origin=s.resolved_webauthn_origin,
            security_card_max_failures=s.security_card_max_failures,
            otp_max_failures=s.otp_max_failures,
            session_lifetime=dt.timedelta(minutes=s.member_session_minutes),
        )

    @functools.cached_property
    def vault(self) -> "CloudKeyVault":
        from fincert.keys.vault import CloudKeyVault, TokenServerSecret

        # With the CA's keys on an HSM token, new cloud keys are wrapped with a server half made
        # on that token too (format 2): a copy of the database and the master key is not enough
        # to guess PINs offline.
        token_secret = TokenServerSecret(self.keys) if self.settings.key_backend == "pkcs11" else None
        return CloudKeyVault(
            self.db,
            self.settings.master_key_bytes(),
            self.clock,
            max_pin_failures=self.settings.pin_max_failures,
            token_secret=token_secret,
        )

    @functools.cached_property
    def tsa(self) -> "TimeStampService":
        from fincert.sign.service import TimeStampService, TimeStampSettings

        return TimeStampService(
            self.db, self.ca, self.keys, self.clock, TimeStampSettings(),
            key_type=KeyType(self.settings.ca_key_type), organization=self.settings.ca_organization,
            production=self.settings.mode == "production",
        )

    @functools.cached_property
    def signatures(self) -> "ElectronicSignatures":
        from fincert.sign.service import ElectronicSignatures

        # Status for verification comes from the VA's pre-signed OCSP responses, which every
        # revocation re-signs (``_revoked``).
        return ElectronicSignatures(
            self.db, self.ca, self.clock, lambda: self.tsa, lambda: self.vault, ocsp=lambda: self.va.ocsp
        )

    @functools.cached_property
    def va(self) -> ValidationAuthority:
        """The OCSP responder and CRL publisher (told of every revocation, see ``__post_init__``)."""
        from fincert.va.service import ValidationAuthority

        return ValidationAuthority(self.db, self.ca, self.keys, self.endpoints, self.clock)

    def write_ca_files(self, hierarchy: Hierarchy) -> dict[str, str]:
        """Write the CA certificates as PEM into ``$FINCERT_HOME/ca/`` (public, world-readable).

        Each file is written beside its final name and renamed into place, so a reader never
        sees half a certificate. The CA's rows are already stored when this runs, and running
        ``initialize`` again keeps them: a failed write is a :class:`ConfigurationError` that
        names the path and says so, and the retry writes the files.
        """
        from cryptography.hazmat.primitives.serialization import Encoding

        directory = self.home / "ca"
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _ca_files_error(f"cannot create the CA folder {directory}", exc) from None
        paths = {}
        for name, certificate in (("root_ca", hierarchy.root), ("issuing_ca", hierarchy.issuing)):
            path = directory / f"{name.replace('_ca', '')}.pem"
            partial = path.with_name(f".{path.name}.partial")
            try:
                partial.write_bytes(certificate.public_bytes(Encoding.PEM))
                partial.chmod(0o644)
                os.replace(partial, path)
            except OSError as exc:
                with contextlib.suppress(OSError):
                    partial.unlink()
                raise _ca_files_error(f"cannot write the CA certificate {path}", exc) from None
            paths[name] = str(path)
        return paths

    def initialize(self, key_type: KeyType | None = None) -> Hierarchy:
        """Create the CA (or keep the existing one). ``key_type`` is the operator's explicit
        choice: an existing CA of another type is then refused, not silently kept."""
        hierarchy = self.ca.initialize(key_type or KeyType(self.settings.ca_key_type), insist_on_key_type=key_type is not None)
        self.write_ca_files(hierarchy)
        return hierarchy

    def close(self) -> None:
        self.db.dispose()
        close_keys = getattr(self.keys, "close", None)  # a token session (PKCS#11)
        if close_keys is not None:
            close_keys()


def _ca_files_error(what: str, exc: OSError) -> ConfigurationError:
    return ConfigurationError(
        f"{what}: {exc.strerror or exc}; the CA itself is stored, so fix this and run `fincert init` again to write its files"
    )


def open_runtime(settings: Settings | None = None, *, clock: Clock | None = None, migrate: bool = True) -> Runtime:
    settings = settings or Settings()
    settings.check_production()
    home = settings.resolved_home
    home.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    db = Database(settings.resolved_database_url)
    if migrate:
        db.migrate()
    clock = clock or SystemClock()
    keys = settings.key_backend_instance()
    endpoints = PublicEndpoints(settings.public_url)
    ca = CertificateAuthority(
        db,
        keys,
        profiles_from_settings(settings),
        endpoints,
        clock,
        organization=settings.ca_organization,
        crl_partition_size=settings.crl_partition_size,
    )
    return Runtime(
        settings=settings,
        db=db,
        clock=clock,
        keys=keys,
        endpoints=endpoints,
        ca=ca,
        institutions=InstitutionRegistry(db, clock),
    )
