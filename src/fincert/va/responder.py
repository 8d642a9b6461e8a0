"""The OCSP responder service: its delegated signing certificate and the pre-signed response store.

Owns
- the responder certificate (id-kp-OCSPSigning + id-pkix-ocsp-nocheck, issued by the issuing
  CA through ``CertificateAuthority.issue_service_certificate`` at first use and rotated
  before it expires);
- the ``ocsp_responses`` table: one nonce-less response per certificate, signed ahead of time,
  refreshed before its nextUpdate by :meth:`OcspResponder.refresh` and re-signed at once when
  the certificate is revoked (:meth:`OcspResponder.resign`);
- answering a request: a pre-signed response from memory or the table when the request
  allows one (one certificate, no nonce), a live signature otherwise or on a miss.

Request parsing and response encoding are the pure ``va.ocsp`` module; HTTP is the edge's.

Freshness across processes: a revocation re-signs in the process that revoked (the runtime
passes every revocation of its CA to the VA); other processes see the new response when their
in-memory copy ages out (:data:`MEMORY_TTL`), and a revocation written by something other than
a runtime's CA is found by the next :meth:`refresh` pass, which compares stored statuses with
``certificates``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Final

from cryptography import x509
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from fincert.ca.authority import CertificateAuthority, serial_hex
from fincert.clock import Clock
from fincert.errors import FincertError
from fincert.keys.backend import KeyBackend, KeyType, LabelledKey
from fincert.storage.db import Database
from fincert.storage.models import Certificate
from fincert.storage.models_va import OcspResponseRecord
from fincert.va._store import REVOCABLE_STATUSES, status_of, upsert, utc
from fincert.va.ocsp import (
    CertificateStatus,
    MalformedOcspRequest,
    OcspRequestInfo,
    OcspSigner,
    answer,
    error_response,
    parse_ocsp_request,
    presign_single,
)

log = logging.getLogger(__name__)

#: P-256, not RSA-2048: an OCSP response costs one signature, and P-256 signs ~5x faster
#: (15,200/s against 3,200/s per core, see docs), so refreshing millions of pre-signed
#: responses and live-signing nonce requests takes a fifth of the CPU; responses are also
#: ~200 bytes smaller. Every OCSP client we target (openssl, browsers, pyHanko) verifies ECDSA.
RESPONDER_KEY_TYPE: Final = KeyType.P256
#: A short-lived delegated certificate limits what a stolen responder key can sign.
RESPONDER_VALIDITY: Final = dt.timedelta(days=30)
#: Rotate when less than this is left, so responses (at most RESPONSE_VALIDITY long) never
#: outlive the certificate that signed them.
RESPONDER_RENEW_BEFORE: Final = dt.timedelta(days=7)
#: thisUpdate → nextUpdate of every response (RFC 5019 profile practice: hours to a few days).
RESPONSE_VALIDITY: Final = dt.timedelta(days=1)
#: The refresh pass re-signs responses with less than this left before their nextUpdate.
REFRESH_BEFORE: Final = dt.timedelta(hours=8)
#: How long a process serves a response from memory before looking at the table again.
MEMORY_TTL: Final = 10.0
#: Most responses held in memory (about 600 bytes each).
MEMORY_ENTRIES: Final = 200_000
#: Certificates signed per transaction by the refresh pass.
REFRESH_BATCH: Final = 1000
#: A revocation may commit a little after its ``revoked_at``; the refresh pass looks back this far.
REVOCATION_LOOKBACK: Final = dt.timedelta(minutes=10)


@dataclasses.dataclass(frozen=True, slots=True)
class OcspAnswer:
    """DER OCSPResponse bytes and what an HTTP edge needs to cache them."""

    der: bytes
    #: Whether a shared cache may keep it: a nonce-less successful response.
    cacheable: bool
    this_update: dt.datetime | None = None
    next_update: dt.datetime | None = None
    etag: str | None = None

    @classmethod
    def signed(cls, der: bytes, this_update: dt.datetime, next_update: dt.datetime, *, cacheable: bool) -> OcspAnswer:
        return cls(der, cacheable, this_update, next_update, '"' + hashlib.sha256(der).hexdigest()[:32] + '"')


MALFORMED: Final = OcspAnswer(error_response("malformedRequest"), cacheable=False)
INTERNAL_ERROR: Final = OcspAnswer(error_response("internalError"), cacheable=False)
TRY_LATER: Final = OcspAnswer(error_response("tryLater"), cacheable=False)


@dataclasses.dataclass(frozen=True, slots=True)
class ResponderInfo:
    authority_id: int
    certificate: x509.Certificate
    signer: OcspSigner
    issuer_id: int
    #: When this process looks for (or issues) a newer responder certificate.
    renew_at: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class RefreshReport:
    signed: int
    good: int
    revoked: int
    responder_serial: str
    responder_not_after: dt.datetime


@dataclasses.dataclass(slots=True)
class _Held:
    answer: OcspAnswer
    loaded: float  # time.monotonic()


class OcspResponder:
    def __init__(self, db: Database, ca: CertificateAuthority, keys: KeyBackend, clock: Clock) -> None:
        self._db = db
        self._ca = ca
        self._keys = keys
        self._clock = clock
        self._active: ResponderInfo | None = None
        self._rotation = threading.Lock()
        # Serialises read-status → sign → store within this process, so a refresh pass cannot
        # store a 'good' it read just before a revocation over the revocation's re-signing.
        self._signing = threading.Lock()
        self._memory: dict[tuple[int, str], _Held] = {}
        self._request_keys: dict[bytes, tuple[int, str]] = {}
        self._revocations_seen_until: dt.datetime | None = None
        self._missing_scanned_upto = 0

    # -- responder certificate -----------------------------------------------------------

    def responder(self, *, issue: bool = True) -> ResponderInfo | None:
        """The responder in use, issuing or rotating its certificate when due (unless ``issue`` is false)."""
        now = self._clock.now()
        active = self._active
        if active is not None and now < active.renew_at:
            return active
        with self._rotation:
            active = self._active
            if active is not None and now < active.renew_at:
                return active
            self._active = self._load_or_issue(now, issue=issue)
            return self._active

    def _load_or_issue(self, now: dt.datetime, *, issue: bool) -> ResponderInfo | None:
        hierarchy = self._ca.hierarchy()
        found = self._ca.active_service_certificate("ocsp-responder")
        if found is not None:
            authority_id, certificate, label = found
            usable = (
                certificate.issuer == hierarchy.issuing.subject
                and certificate.not_valid_after_utc - now > RESPONDER_RENEW_BEFORE
            )
            if usable:
                return self._info(authority_id, certificate, label, hierarchy.issuing, hierarchy.issuing_id)
        if not issue:
            return None
        authority_id, certificate, label = self._ca.issue_service_certificate(
            "ocsp-responder",
            key_type=RESPONDER_KEY_TYPE,
            validity=RESPONDER_VALIDITY,
            common_name="OCSP Responder",
            actor="system:va",
        )
        log.info("issued OCSP responder certificate %s", serial_hex(certificate.serial_number))
        return self._info(authority_id, certificate, label, hierarchy.issuing, hierarchy.issuing_id)

    def _info(
        self, authority_id: int, certificate: x509.Certificate, label: str, issuer: x509.Certificate, issuer_id: int
    ) -> ResponderInfo:
        signer = OcspSigner(certificate, LabelledKey(self._keys, label), issuer)  # checks EKU, nocheck and the issuer's signature
        return ResponderInfo(authority_id, certificate, signer, issuer_id, certificate.not_valid_after_utc - RESPONDER_RENEW_BEFORE)

    # -- answering -------------------------------------------------------------------------

    def held_answer(self, request_der: bytes) -> OcspAnswer | None:
        """The answer from memory alone, or None; cheap enough to call on an event loop.

        Only single-certificate, nonce-less requests can be answered this way.
        """
        active = self._active
        if active is None:
            return None
        now = self._clock.now()
        key = self._request_keys.get(request_der)
        if key is not None:  # these exact bytes were parsed before: skip the ASN.1 parser (~45 µs)
            return self._from_memory(key, now)
        try:
            request = parse_ocsp_request(request_der)
        except MalformedOcspRequest:
            return MALFORMED
        if len(request.cert_ids) != 1 or request.nonce is not None:
            return None
        cert_id = request.cert_ids[0]
        if not active.signer.serves(cert_id):
            return None
        key = (cert_id.serial, cert_id.hash_algorithm)
        if len(self._request_keys) >= MEMORY_ENTRIES:
            self._request_keys.clear()
        # Nonce-less requests are the same bytes every time a client asks about a certificate.
        self._request_keys[request_der] = key
        return self._from_memory(key, now)

    def respond(self, request_der: bytes) -> OcspAnswer:
        """Answer DER request bytes; never raises (failures become OCSP error responses)."""
        try:
            request = parse_ocsp_request(request_der)
        except MalformedOcspRequest:
            return MALFORMED
        try:
            return self._respond(request)
        except FincertError as exc:
            log.warning("OCSP request not answered: %s", exc.kind)
            return TRY_LATER if exc.kind == "not-found" else INTERNAL_ERROR
        except Exception:  # noqa: BLE001 - an OCSP client gets internalError, never a broken reply
            log.exception("OCSP responder failure")
            return INTERNAL_ERROR

    def _respond(self, request: OcspRequestInfo) -> OcspAnswer:
        active = self.responder()
        assert active is not None
        signer = active.signer
        now = self._clock.now()
        if len(request.cert_ids) == 1 and request.nonce is None and signer.serves(request.cert_ids[0]):
            cert_id = request.cert_ids[0]
            return self._presigned(active, cert_id.serial, cert_id.hash_algorithm, now)
        der = answer(request, self.status, signer, lambda _serial: None, now=now, validity=RESPONSE_VALIDITY)
        if request.nonce is not None or not any(signer.serves(c) for c in request.cert_ids):  # unauthorized: an error
            return OcspAnswer(der, cacheable=False)
        this_update, next_update = self._validity(active, now)
        return OcspAnswer.signed(der, this_update, next_update, cacheable=True)

    def status(self, serial: int) -> CertificateStatus | None:
        """The status of certificate ``serial`` of the current issuing CA, or None if never reserved."""
        issuer_id = self._ca.hierarchy().issuing_id
        with self._db.reader() as session:
            row = session.execute(
                select(Certificate.status, Certificate.revoked_at, Certificate.revocation_reason).where(
                    Certificate.serial == serial_hex(serial), Certificate.issuer_id == issuer_id
                )
            ).first()
        return None if row is None else status_of(*row)

    def _from_memory(self, key: tuple[int, str], now: dt.datetime) -> OcspAnswer | None:
        held = self._memory.get(key)
        if held is None or time.monotonic() - held.loaded > MEMORY_TTL:
            return None
        found = held.answer
        assert found.this_update is not None and found.next_update is not None
        return found if found.this_update <= now < found.next_update else None

    def _remember(self, key: tuple[int, str], found: OcspAnswer) -> None:
        memory = self._memory
        if len(memory) >= MEMORY_ENTRIES and key not in memory:
            try:
                memory.pop(next(iter(memory)))  # the oldest insertion
            except (StopIteration, KeyError, RuntimeError):
                pass
        memory[key] = _Held(found, time.monotonic())

    def _presigned(self, active: ResponderInfo, serial: int, hash_algorithm: str, now: dt.datetime) -> OcspAnswer:
        key = (serial, hash_algorithm)
        found = self._from_memory(key, now)
        if found is not None:
            return found
        if hash_algorithm == "sha1":  # the table holds SHA-1 CertIDs, which openssl and most clients send
            with self._db.reader() as session:
                row = session.execute(
                    select(OcspResponseRecord.der, OcspResponseRecord.this_update, OcspResponseRecord.next_update).where(
                        OcspResponseRecord.serial == serial_hex(serial),
                        OcspResponseRecord.issuer_id == active.issuer_id,
                    )
                ).first()
            if row is not None and utc(row.this_update) <= now < utc(row.next_update):
                found = OcspAnswer.signed(row.der, utc(row.this_update), utc(row.next_update), cacheable=True)
                self._remember(key, found)
                return found
        # Live signing, the fallback: a certificate issued since the last refresh pass, a
        # lapsed response, or a SHA-256 CertID. Known certificates are stored for next time.
        with self._signing:
            status = self.status(serial)
            found = self._sign_one(active, serial, status, now, hash_algorithm)
            if hash_algorithm == "sha1" and status is not None and status.status != "unknown":
                with self._db.transaction() as session:
                    self._store(session, active, [(serial, status, found)])
        self._remember(key, found)
        return found

    def _validity(self, active: ResponderInfo, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        this_update = now.replace(microsecond=0)
        # Never past the responder certificate: a response must not outlive its signer.
        return this_update, min(this_update + RESPONSE_VALIDITY, active.certificate.not_valid_after_utc)

    def _sign_one(
        self, active: ResponderInfo, serial: int, status: CertificateStatus | None, now: dt.datetime, hash_algorithm: str = "sha1"
    ) -> OcspAnswer:
        this_update, next_update = self._validity(active, now)
        der = presign_single(
            active.signer,
            serial,
            status if status is not None else CertificateStatus("unknown"),
            this_update,
            next_update,
            hash_algorithm=hash_algorithm,
        )
        return OcspAnswer.signed(der, this_update, next_update, cacheable=True)

    @staticmethod
    def _store(session: Session, active: ResponderInfo, signed: list[tuple[int, CertificateStatus, OcspAnswer]]) -> None:
        upsert(
            session,
            OcspResponseRecord.__table__,  # type: ignore[arg-type]
            [
                {
                    "serial": serial_hex(serial),
                    "issuer_id": active.issuer_id,
                    "responder_id": active.authority_id,
                    "cert_status": status.status,
                    "this_update": found.this_update,
                    "next_update": found.next_update,
                    "der": found.der,
                }
                for serial, status, found in signed
            ],
            key=("serial",),
        )

    # -- keeping the store fresh -----------------------------------------------------------------

    def resign(self, serial_text: str) -> bool:
        """Re-sign one certificate's stored response now (the CA calls this after a revocation).

        Does nothing (returns False) while no responder certificate exists: then nothing was
        pre-signed, so nothing can be stale, and a revocation does not issue one.
        """
        active = self.responder(issue=False)
        if active is None:
            return False
        serial = int(serial_text, 16)
        now = self._clock.now()
        with self._signing:
            status = self.status(serial)
            if status is None:
                return False
            found = self._sign_one(active, serial, status, now)
            with self._db.transaction() as session:
                self._store(session, active, [(serial, status, found)])
        for algorithm in ("sha256", "sha384", "sha512"):
            self._memory.pop((serial, algorithm), None)
        self._remember((serial, "sha1"), found)
        return True

    def refresh(
        self,
        *,
        full: bool = True,
        limit: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> RefreshReport:
        """Sign what is due: missing responses, responses near their nextUpdate, stale statuses.

        ``full`` looks at every certificate for a missing response; otherwise only at those
        issued since the last pass in this process (and the live path signs any it missed).
        ``limit`` bounds the signatures of one call (the background schedule uses it to keep
        serving latency steady). Expired certificates are not refreshed; a request for one is
        signed live.
        """
        active = self.responder()
        assert active is not None
        now = self._clock.now()
        counts = {"good": 0, "revoked": 0, "unknown": 0}
        signed = 0
        budget = limit if limit is not None else 1 << 62
        for batch in self._due_batches(active, now, full=full):
            batch = batch[:budget - signed]
            if not batch:
                break
            with self._signing:
                # Re-read the statuses inside the lock: the batch query ran outside it.
                statuses = self._statuses_of(batch)
                results = []
                for serial_text in batch:
                    status = statuses.get(serial_text)
                    if status is None or status.status == "unknown":
                        continue
                    serial = int(serial_text, 16)
                    found = self._sign_one(active, serial, status, now)
                    results.append((serial, status, found))
                    counts[status.status] += 1
                with self._db.transaction() as session:
                    self._store(session, active, results)
            for serial, _status, found in results:
                if (serial, "sha1") in self._memory:
                    self._remember((serial, "sha1"), found)
            signed += len(results)
            if progress is not None:
                progress(signed)
            if signed >= budget:
                break
        return RefreshReport(
            signed=signed,
            good=counts["good"],
            revoked=counts["revoked"],
            responder_serial=serial_hex(active.certificate.serial_number),
            responder_not_after=active.certificate.not_valid_after_utc,
        )

    def _statuses_of(self, serials: list[str]) -> dict[str, CertificateStatus]:
        with self._db.reader() as session:
            rows = session.execute(
                select(Certificate.serial, Certificate.status, Certificate.revoked_at, Certificate.revocation_reason).where(
                    Certificate.serial.in_(serials)
                )
            ).all()
        return {row.serial: status_of(row.status, row.revoked_at, row.revocation_reason) for row in rows}

    def _due_batches(self, active: ResponderInfo, now: dt.datetime, *, full: bool):  # type: ignore[no-untyped-def]
        """Serials (hex) to sign, in batches: revoked but stored otherwise, lapsing, missing."""
        c, r = Certificate, OcspResponseRecord
        live = and_(c.issuer_id == active.issuer_id, c.not_after > now)

        # 1. Revocations the store has not caught up with (made by a process without a VA).
        since = self._revocations_seen_until
        revoked = select(c.serial).join(r, r.serial == c.serial).where(
            live, c.revoked_at.is_not(None), c.status.in_(REVOCABLE_STATUSES), r.cert_status != "revoked"
        )
        if since is not None and not full:
            revoked = revoked.where(c.revoked_at >= since - REVOCATION_LOOKBACK)
        yield from self._chunks(revoked, c.serial)
        self._revocations_seen_until = now

        # 2. Responses that lapse soon (the next_update index finds them).
        lapsing = (
            select(r.serial)
            .join(c, c.serial == r.serial)
            .where(r.issuer_id == active.issuer_id, r.next_update < now + REFRESH_BEFORE, live)
        )
        yield from self._chunks(lapsing, r.serial)

        # 3. Certificates without a response, by id (new certificates have larger ids).
        start = 0 if full else max(0, self._missing_scanned_upto - REFRESH_BATCH)
        with self._db.reader() as session:
            top = session.execute(select(func.max(c.id))).scalar() or 0
        missing = (
            select(c.serial, c.id)
            .outerjoin(r, r.serial == c.serial)
            .where(live, r.serial.is_(None), c.id > start, or_(c.status == "issued", c.revoked_at.is_not(None)))
            .where(c.status.in_(REVOCABLE_STATUSES))
        )
        yield from self._chunks(missing, c.id)
        self._missing_scanned_upto = top

    def _chunks(self, statement, key):  # type: ignore[no-untyped-def]
        """Serials of ``statement`` in batches, paged on ``key`` (selected as its last column)."""
        last = None
        while True:
            page = statement if last is None else statement.where(key > last)
            with self._db.reader() as session:
                rows = session.execute(page.order_by(key).limit(REFRESH_BATCH)).all()
            if not rows:
                return
            last = rows[-1][-1]
            yield [row[0] for row in rows]

    # -- for relying parties in this process ------------------------------------------------------

    def held_response(self, issuer: x509.Certificate, serial: int) -> OcspAnswer | None:
        """The pre-signed response about certificate ``serial`` of ``issuer`` held in memory, if current.

        Read-only and cheap (no database, no signing, no lock), for in-process relying parties
        such as signature verification. ``None`` when no responder is active yet, ``issuer`` is
        not the CA this responder answers for, or the held copy is missing, older than
        :data:`MEMORY_TTL` or outside its validity: then :meth:`respond` loads or signs one and
        holds it. The caller checks the response itself (it is the DER an OCSP client gets).
        """
        active = self._active
        if active is None or active.signer.issuer_cert != issuer:
            return None
        return self._from_memory((serial, "sha1"), self._clock.now())
