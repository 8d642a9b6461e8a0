"""The composition root: builds every component from ``Settings`` and hands them out.

Only the edges (CLI, API) create a ``Runtime``; components receive their dependencies
(database, key backend, clock) explicitly and never read settings or globals themselves.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from fincert.ca.authority import CertificateAuthority, Hierarchy
from fincert.ca.profiles import profiles_from_settings
from fincert.clock import Clock, SystemClock
from fincert.config import Settings
from fincert.endpoints import PublicEndpoints
from fincert.keys.backend import KeyType
from fincert.keys.software import EncryptedFileKeyBackend
from fincert.ra.institutions import InstitutionRegistry
from fincert.storage.db import Database


@dataclass
class Runtime:
    settings: Settings
    db: Database
    clock: Clock
    keys: EncryptedFileKeyBackend
    endpoints: PublicEndpoints
    ca: CertificateAuthority
    institutions: InstitutionRegistry
    extras: dict[str, object] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        return self.settings.resolved_home

    def write_ca_files(self, hierarchy: Hierarchy) -> dict[str, str]:
        """Write the CA certificates as PEM into ``$FINCERT_HOME/ca/`` (public, world-readable)."""
        from cryptography.hazmat.primitives.serialization import Encoding

        directory = self.home / "ca"
        directory.mkdir(parents=True, exist_ok=True)
        paths = {}
        for name, certificate in (("root_ca", hierarchy.root), ("issuing_ca", hierarchy.issuing)):
            path = directory / f"{name.replace('_ca', '')}.pem"
            path.write_bytes(certificate.public_bytes(Encoding.PEM))
            paths[name] = str(path)
        return paths

    def initialize(self, key_type: KeyType | None = None) -> Hierarchy:
        hierarchy = self.ca.initialize(key_type or KeyType(self.settings.ca_key_type))
        self.write_ca_files(hierarchy)
        return hierarchy

    def close(self) -> None:
        self.db.dispose()


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
    keys = EncryptedFileKeyBackend(home / "keys", settings.ca_passphrase_bytes())
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
