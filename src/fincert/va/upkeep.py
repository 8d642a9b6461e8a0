"""The VA's background schedule in a serving process: refresh OCSP responses, republish CRLs.

One daemon thread per process, started and stopped by the HTTP edge's lifespan. Each tick
re-signs a bounded number of due OCSP responses (so serving latency stays steady) and
republishes CRLs that lapse soon or that a revocation made stale; a revocation wakes it early,
and a short debounce folds a burst of revocations into one CRL.
"""

from __future__ import annotations

import logging
import threading
from typing import Final

from fincert.va.publisher import CrlPublisher
from fincert.va.responder import OcspResponder

log = logging.getLogger(__name__)

#: Seconds between passes. The first pass also waits this long, so a process that starts and
#: stops at once (a test client) does not issue a responder certificate it never uses.
INTERVAL: Final = 30.0
#: After a revocation, wait this long for more before republishing.
DEBOUNCE: Final = 1.0
#: OCSP responses signed per pass at most (~0.1 s of one core with P-256).
SIGNATURES_PER_PASS: Final = 2000


class StatusUpkeep:
    def __init__(
        self, responder: OcspResponder, publisher: CrlPublisher, *, interval: float = INTERVAL, debounce: float = DEBOUNCE
    ) -> None:
        self._responder = responder
        self._publisher = publisher
        self._interval = interval
        self._debounce = debounce
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._passes = 0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="fincert-va-upkeep", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self) -> None:
        """A revocation happened: republish soon (after the debounce)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            woken = self._wake.wait(self._interval)
            if self._stop.is_set():
                return
            if woken:
                self._wake.clear()
                self._stop.wait(self._debounce)
                self._wake.clear()
            # A revocation already re-signed its OCSP response; it only needs new CRLs.
            self.run_once(refresh_ocsp=not woken)

    def run_once(self, *, refresh_ocsp: bool = True) -> None:
        """One pass; failures are logged and retried on the next pass."""
        try:
            self._publisher.publish_if_due()
        except Exception:  # noqa: BLE001 - the schedule must outlive a database hiccup
            log.exception("CRL publication pass failed")
        if not refresh_ocsp:
            return
        try:
            # The first pass of a process looks at every certificate for a missing response.
            self._responder.refresh(full=self._passes == 0, limit=SIGNATURES_PER_PASS)
        except Exception:  # noqa: BLE001
            log.exception("OCSP refresh pass failed")
        self._passes += 1
