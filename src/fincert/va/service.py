"""The validation authority as one service: the OCSP responder, the CRL publisher, their schedule.

Built by ``Runtime.va``. ``Runtime`` hands it every revocation its CA commits (building it at
the first one if nothing else has): the revoked certificate's OCSP response is re-signed at
once, and its issuer's CRLs are republished (debounced by the schedule when it runs, at the
next request for a CRL otherwise).
"""

from __future__ import annotations

import logging

from fincert.ca.authority import CertificateAuthority
from fincert.clock import Clock
from fincert.endpoints import PublicEndpoints
from fincert.keys.backend import KeyBackend
from fincert.storage.db import Database
from fincert.va.publisher import CrlPublisher
from fincert.va.responder import OcspResponder
from fincert.va.upkeep import StatusUpkeep

log = logging.getLogger(__name__)


class ValidationAuthority:
    def __init__(
        self,
        db: Database,
        ca: CertificateAuthority,
        keys: KeyBackend,
        endpoints: PublicEndpoints,
        clock: Clock,
    ) -> None:
        self.ocsp = OcspResponder(db, ca, keys, clock)
        self.crl = CrlPublisher(db, ca, keys, endpoints, clock)
        self.upkeep = StatusUpkeep(self.ocsp, self.crl)

    def revoked(self, serial: str) -> None:
        """The CA committed the revocation of ``serial`` (its revocation listener)."""
        self.crl.mark_stale()
        if self.upkeep.running:
            self.upkeep.wake()
        self.ocsp.resign(serial)
