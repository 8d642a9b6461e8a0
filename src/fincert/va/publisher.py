"""The CRL publisher: builds, numbers, stores and hands out each issuer's CRLs.

Owns
- the CRLNumber of each issuer (``crl_counters``), taken under a row lock so it only grows;
- publication: one pass over the issuer's revoked certificates builds every partition CRL
  (``issuingDistributionPoint`` = the CDP URL the CA wrote into the partition's certificates,
  :meth:`CertificateAuthority.expected_urls`) and the full CRL, all under one CRLNumber, and
  stores them in ``published_crls``;
- serving: the stored CRL (from memory for a few seconds), republished first when it lapsed,
  is missing, or a revocation in this process made it stale.

Encoding is the pure ``va.crl`` module. The CA keys stay in the ``KeyBackend``: the CRL is
signed through ``KeyBackend.sign`` (see :class:`_BackendRsaKey`).

Entries are never dropped when a certificate expires (RFC 5280 §3.3 only allows dropping
after one regular CRL beyond expiry); partitions keep each file bounded instead.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from sqlalchemy import BigInteger, extract, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from fincert.ca.authority import CertificateAuthority
from fincert.clock import Clock
from fincert.endpoints import PublicEndpoints
from fincert.errors import NotFound
from fincert.keys.backend import KeyBackend
from fincert.storage.db import Database
from fincert.storage.models import AuditHead, AuditRecord, Authority, Certificate
from fincert.storage.models_va import CrlCounter, PublishedCrl
from fincert.va._store import REVOCABLE_STATUSES, upsert, utc
from fincert.va.crl import CrlPartition, RevokedEntryEncoder, build_crl

log = logging.getLogger(__name__)

FULL: Final = "full"
#: thisUpdate → nextUpdate. Relying parties cache a CRL until its nextUpdate, so a shorter
#: window spreads revocations faster to those that do not re-fetch early.
CRL_VALIDITY: Final = dt.timedelta(days=2)
#: The schedule republishes when less than this is left (so in practice daily).
CRL_REPUBLISH_BEFORE: Final = dt.timedelta(days=1)
#: How long a process serves a CRL from memory before looking at the table again.
MEMORY_TTL: Final = 10.0
#: HTTP max-age cap: a CDN re-fetches at least this often, so republished CRLs spread.
HTTP_MAX_AGE: Final = 3600
#: Rows fetched per round trip while streaming revoked certificates.
FETCH_ROWS: Final = 20_000
#: Audit actions that change what a CRL lists without always changing how many entries it has:
#: a hold made final (certificateHold → keyCompromise keeps the entry, changes its reason) and
#: a hold released while another certificate is revoked.
STATUS_ACTIONS: Final = ("certificate.revoked", "certificate.hold-released")

_SIGN_HASH: Final = hashes.SHA256


@dataclasses.dataclass(frozen=True, slots=True)
class CrlDocument:
    """One published CRL and what an HTTP edge needs to cache it."""

    issuer_id: int
    scope: str
    crl_number: int
    revoked_count: int
    this_update: dt.datetime
    next_update: dt.datetime
    der: bytes

    @property
    def etag(self) -> str:
        return f'"{self.issuer_id}-{self.scope}-{self.crl_number}"'


@dataclasses.dataclass(frozen=True, slots=True)
class Publication:
    issuer_id: int
    issuer: str
    crl_number: int
    revoked: int
    partitions: int
    full_crl_bytes: int
    full: CrlDocument
    #: Seconds spent per phase (read, partitions, full, store): for operators and benchmarks.
    timings: dict[str, float] = dataclasses.field(default_factory=dict)


class _BackendRsaKey:
    """An RSA CA key inside the ``KeyBackend``, shaped like ``rsa.RSAPrivateKey`` for ``build_crl``.

    It only signs (PKCS#1 v1.5 with SHA-256, which is what ``KeyBackend.sign`` does); the
    private key never enters this process's view through it.
    """

    def __init__(self, keys: KeyBackend, label: str) -> None:
        self._keys = keys
        self._label = label
        self._public = keys.public_key(label)

    def public_key(self):  # type: ignore[no-untyped-def]
        return self._public

    @property
    def key_size(self) -> int:
        return self._public.key_size  # type: ignore[union-attr]

    def sign(self, data: bytes, padding_: object, algorithm: object) -> bytes:
        if not isinstance(padding_, padding.PKCS1v15) or not isinstance(algorithm, _SIGN_HASH):
            raise ValueError("the key backend signs PKCS#1 v1.5 with SHA-256 only")
        return self._keys.sign(self._label, data)


class _BackendEcKey(_BackendRsaKey):
    """The P-256 counterpart of :class:`_BackendRsaKey` (ECDSA with SHA-256)."""

    @property
    def curve(self):  # type: ignore[no-untyped-def]
        return self._public.curve  # type: ignore[union-attr]

    def sign(self, data: bytes, signature_algorithm: object, *_: object) -> bytes:  # type: ignore[override]
        if not isinstance(signature_algorithm, ec.ECDSA) or not isinstance(signature_algorithm.algorithm, _SIGN_HASH):
            raise ValueError("the key backend signs ECDSA with SHA-256 only")
        return self._keys.sign(self._label, data)


# Virtual subclasses: build_crl picks the signature algorithm with isinstance.
rsa.RSAPrivateKey.register(_BackendRsaKey)
ec.EllipticCurvePrivateKey.register(_BackendEcKey)


def backend_signing_key(keys: KeyBackend, label: str) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    public = keys.public_key(label)
    if isinstance(public, rsa.RSAPublicKey):
        return _BackendRsaKey(keys, label)  # type: ignore[return-value]
    return _BackendEcKey(keys, label)  # type: ignore[return-value]


@dataclasses.dataclass(frozen=True, slots=True)
class _EncodedPartition:
    """One partition's revoked entries, encoded back to back, and how many there are."""

    entries: bytes = b""
    count: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class _Issuer:
    authority_id: int
    certificate: x509.Certificate
    key_label: str
    #: Only the issuing CA partitions its CRL; the root's (about CA certificates) is one file.
    partitioned: bool


class CrlPublisher:
    def __init__(
        self, db: Database, ca: CertificateAuthority, keys: KeyBackend, endpoints: PublicEndpoints, clock: Clock
    ) -> None:
        self._db = db
        self._ca = ca
        self._keys = keys
        self._endpoints = endpoints
        self._clock = clock
        self._memory: dict[tuple[int, str], tuple[CrlDocument, float]] = {}
        self._stale: set[int] = set()
        self._publishing = threading.Lock()
        #: The audit chain's seq up to which status changes are in this process's view of the
        #: issuing CA's published CRLs (None until this process first looked).
        self._audit_seen: int | None = None

    # -- issuers -----------------------------------------------------------------------------

    def _issuer(self, authority_id: int) -> _Issuer:
        hierarchy = self._ca.hierarchy()
        if authority_id == hierarchy.issuing_id:
            return _Issuer(authority_id, hierarchy.issuing, hierarchy.issuing_key_label, partitioned=True)
        if authority_id == hierarchy.root_id:
            with self._db.reader() as session:
                row = session.get(Authority, authority_id)
                assert row is not None
                label = row.key_label
            return _Issuer(authority_id, hierarchy.root, label, partitioned=False)
        raise NotFound(f"no CRL for authority {authority_id}")

    def issuer_ids(self) -> tuple[int, int]:
        """(issuing CA id, root CA id): the issuers whose CRLs are published."""
        hierarchy = self._ca.hierarchy()
        return hierarchy.issuing_id, hierarchy.root_id

    # -- publication -------------------------------------------------------------------------

    def publish(self, authority_id: int | None = None, *, progress: Callable[[int, int], None] | None = None) -> Publication:
        """Rebuild and store every CRL of an issuer (default: the issuing CA) under a new CRLNumber.

        ``progress(done, total)`` counts revoked entries read.
        """
        issuer = self._issuer(authority_id if authority_id is not None else self._ca.hierarchy().issuing_id)
        with self._publishing:
            return self._publish(issuer, progress)

    def _publish(self, issuer: _Issuer, progress: Callable[[int, int], None] | None) -> Publication:
        self._stale.discard(issuer.authority_id)
        # Read before the revoked rows: a status change committed after it has a larger seq.
        audit_head = self._audit_head() if issuer.partitioned else None
        now = self._clock.now().replace(microsecond=0)
        this_update, next_update = now, now + CRL_VALIDITY
        crl_number = self._next_crl_number(issuer.authority_id)
        signing_key = backend_signing_key(self._keys, issuer.key_label)

        timings: dict[str, float] = {}
        started = time.perf_counter()
        # Each entry is encoded once, in the read loop, into its partition's buffer: the
        # partition's CRL and the full CRL share the bytes.
        by_partition: dict[int, _EncodedPartition] = {}
        top_partition = -1
        if issuer.partitioned:
            with self._db.reader() as session:
                top_partition = session.execute(
                    select(func.max(Certificate.crl_partition)).where(Certificate.issuer_id == issuer.authority_id)
                ).scalar()
                total = session.execute(
                    select(func.count()).select_from(Certificate).where(*self._revoked_of(issuer.authority_id))
                ).scalar_one()
            top_partition = -1 if top_partition is None else top_partition
            by_partition = self._encoded_revocations(issuer.authority_id, total, progress)

        timings["read"] = time.perf_counter() - started
        documents: list[CrlDocument] = []
        everything = bytearray()
        full_count = 0
        empty = _EncodedPartition()
        for partition in range(top_partition + 1):
            encoded = by_partition.pop(partition, empty)
            url = self._endpoints.crl_url(issuer.authority_id, partition)
            der = build_crl(
                issuer.certificate, signing_key, crl_number=crl_number, encoded_entries=encoded.entries,
                this_update=this_update, next_update=next_update, partition=CrlPartition(partition, url),
            )
            documents.append(CrlDocument(issuer.authority_id, str(partition), crl_number, encoded.count, this_update, next_update, der))
            everything += encoded.entries
            full_count += encoded.count
        for partition in sorted(by_partition):  # entries beyond the top partition (none in practice)
            everything += by_partition[partition].entries
            full_count += by_partition[partition].count
        del by_partition
        timings["partitions"] = time.perf_counter() - started - timings["read"]
        full_der = build_crl(
            issuer.certificate, signing_key, crl_number=crl_number, encoded_entries=everything,
            this_update=this_update, next_update=next_update,
        )
        full = CrlDocument(issuer.authority_id, FULL, crl_number, full_count, this_update, next_update, full_der)
        documents.append(full)
        del everything
        timings["full"] = time.perf_counter() - started - timings["read"] - timings["partitions"]

        with self._db.transaction() as session:
            upsert(
                session,
                PublishedCrl.__table__,  # type: ignore[arg-type]
                [dataclasses.asdict(d) for d in documents],
                key=("issuer_id", "scope"),
                # Two publishers racing: the higher CRLNumber wins, whichever commits last.
                excluded_guard=lambda table, excluded: table.c.crl_number < excluded.crl_number,
            )
        timings["store"] = time.perf_counter() - started - sum(timings.values())
        loaded = time.monotonic()
        for document in documents:
            self._memory[(document.issuer_id, document.scope)] = (document, loaded)
        if audit_head is not None:
            self._saw_audit(audit_head)
        log.info(
            "published CRL %d of authority %d: %d revoked, %d partitions",
            crl_number, issuer.authority_id, full.revoked_count, len(documents) - 1,
        )
        return Publication(
            issuer_id=issuer.authority_id,
            issuer=issuer.certificate.subject.rfc4514_string(),
            crl_number=crl_number,
            revoked=full.revoked_count,
            partitions=len(documents) - 1,
            full_crl_bytes=len(full_der),
            full=full,
            timings=timings,
        )

    @staticmethod
    def _revoked_of(authority_id: int) -> tuple:  # type: ignore[type-arg]
        return (
            Certificate.issuer_id == authority_id,
            Certificate.revoked_at.is_not(None),
            Certificate.status.in_(REVOCABLE_STATUSES),
        )

    def _encoded_revocations(
        self, authority_id: int, total: int, progress: Callable[[int, int], None] | None
    ) -> dict[int, _EncodedPartition]:
        """Every revoked certificate of the issuer, streamed from the database and encoded as it
        arrives (a list of entries per partition, joined at the end: cheaper per row than
        growing a buffer)."""
        lists: dict[int, list[bytes]] = {}
        encode = RevokedEntryEncoder().encode
        done = 0
        with self._db.reader() as session:
            connection = session.connection()
            revoked_second = (
                # Whole seconds since the epoch, floored by the database: CRL times have no fractions,
                # an integer converts faster than a datetime, and equal seconds share one encoding.
                func.floor(extract("epoch", Certificate.revoked_at)).cast(BigInteger)
                if connection.dialect.name == "postgresql"
                # SQLite stores 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC); its own arithmetic rounds the
                # fraction to milliseconds, so the fraction is cut off before converting.
                else func.strftime("%s", func.substr(Certificate.revoked_at, 1, 19)).cast(BigInteger)
            )
            statement = select(
                Certificate.crl_partition, Certificate.serial, revoked_second, Certificate.revocation_reason
            ).where(*self._revoked_of(authority_id))
            # The DB-API cursor directly: SQLAlchemy's row objects were most of the read; the
            # bound values are our own integers and status names, so the statement is rendered
            # with literals. On PostgreSQL a named (server-side) cursor streams the rows instead
            # of loading them all.
            sql = str(statement.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
            raw = connection.connection.driver_connection
            cursor = raw.cursor(name="fincert_crl") if connection.dialect.name == "postgresql" else raw.cursor()
            try:
                cursor.execute(sql)
                while rows := cursor.fetchmany(FETCH_ROWS):
                    for partition, serial, revoked_at, reason in rows:
                        bucket = lists.get(partition)
                        if bucket is None:
                            bucket = lists[partition] = []
                        bucket.append(encode(serial, revoked_at, reason))
                    done += len(rows)
                    if progress is not None:
                        progress(done, total)
            finally:
                cursor.close()
        return {partition: _EncodedPartition(b"".join(entries), len(entries)) for partition, entries in lists.items()}

    def _next_crl_number(self, authority_id: int) -> int:
        """Take the next CRLNumber of an issuer; numbers only grow, also across processes."""
        for _attempt in range(3):
            try:
                with self._db.transaction() as session:
                    last = session.execute(
                        select(CrlCounter.last_number).where(CrlCounter.issuer_id == authority_id).with_for_update()
                    ).scalar()
                    if last is None:
                        session.execute(insert(CrlCounter).values(issuer_id=authority_id, last_number=1))
                        return 1
                    session.execute(
                        update(CrlCounter).where(CrlCounter.issuer_id == authority_id).values(last_number=last + 1)
                    )
                    return last + 1
            except IntegrityError:  # another process created the counter first; take the next one
                continue
        raise RuntimeError("could not take a CRL number")

    # -- serving -----------------------------------------------------------------------------

    def mark_stale(self, authority_id: int | None = None) -> None:
        """A revocation happened: the next request or scheduled pass republishes."""
        self._stale.add(authority_id if authority_id is not None else self._ca.hierarchy().issuing_id)

    def crl(self, authority_id: int, scope: str) -> CrlDocument:
        """The current CRL of ``scope`` (``full`` or a partition number), republished first if due."""
        issuer = self._issuer(authority_id)
        if scope != FULL and (not issuer.partitioned or not scope.isdigit() or len(scope) > 9):
            raise NotFound(f"no CRL {scope!r} for authority {authority_id}")
        scope = scope if scope == FULL else str(int(scope))
        now = self._clock.now()
        if authority_id not in self._stale:
            held = self._memory.get((authority_id, scope))
            if held is not None and time.monotonic() - held[1] <= MEMORY_TTL and now < held[0].next_update:
                return held[0]
            document = self._stored(authority_id, scope)
            if document is not None and now < document.next_update:
                self._memory[(authority_id, scope)] = (document, time.monotonic())
                return document
        with self._publishing:
            # Another request may have republished while this one waited.
            document = self._stored(authority_id, scope)
            if document is None or now >= document.next_update or authority_id in self._stale:
                if scope != FULL and not self._partition_exists(authority_id, int(scope)):
                    raise NotFound(f"no CRL partition {scope} for authority {authority_id}")
                self._publish(issuer, None)
                document = self._stored(authority_id, scope)
        if document is None:
            raise NotFound(f"no CRL {scope!r} for authority {authority_id}")
        return document

    def _partition_exists(self, authority_id: int, partition: int) -> bool:
        with self._db.reader() as session:
            top = session.execute(
                select(func.max(Certificate.crl_partition)).where(Certificate.issuer_id == authority_id)
            ).scalar()
        return top is not None and partition <= top

    def _stored(self, authority_id: int, scope: str) -> CrlDocument | None:
        with self._db.reader() as session:
            row = session.get(PublishedCrl, (authority_id, scope))
            if row is None:
                return None
            return CrlDocument(
                row.issuer_id, row.scope, row.crl_number, row.revoked_count, utc(row.this_update), utc(row.next_update), row.der
            )

    def _audit_head(self) -> int:
        with self._db.reader() as session:
            return session.execute(select(AuditHead.seq).where(AuditHead.id == 1)).scalar() or 0

    def _saw_audit(self, seq: int) -> None:
        if self._audit_seen is None or seq > self._audit_seen:
            self._audit_seen = seq

    def _status_changed_since(self, session, this_update: dt.datetime) -> bool:  # type: ignore[no-untyped-def]
        """Whether a revocation or hold release another process made may be missing from the
        issuing CA's CRLs although the number of entries matches (a hold made final, or a
        release and a revocation between two passes): an audited status change after the last
        one this process saw, or, before it has seen any, after the stored CRL's thisUpdate."""
        head = session.execute(select(AuditHead.seq).where(AuditHead.id == 1)).scalar() or 0
        seen = self._audit_seen
        if seen is not None and head <= seen:
            return False
        changes = select(AuditRecord.id).where(AuditRecord.action.in_(STATUS_ACTIONS))
        if seen is None:
            changes = changes.where(AuditRecord.occurred_at >= this_update)
        else:
            changes = changes.where(AuditRecord.seq > seen)
        changed = session.execute(changes.limit(1)).first() is not None
        if not changed:
            self._saw_audit(head)
        return changed

    def publish_if_due(self) -> list[Publication]:
        """The schedule's pass: republish an issuer whose CRL lapses soon, is stale or misses a partition."""
        done = []
        now = self._clock.now()
        for authority_id in self.issuer_ids():
            with self._db.reader() as session:
                full = session.get(PublishedCrl, (authority_id, FULL))
                due = full is None or utc(full.next_update) - now < CRL_REPUBLISH_BEFORE or authority_id in self._stale
                if not due and authority_id == self._ca.hierarchy().issuing_id:
                    # Revocations or partitions that another process added since the last publication.
                    revoked = session.execute(
                        select(func.count()).select_from(Certificate).where(*self._revoked_of(authority_id))
                    ).scalar_one()
                    top = session.execute(
                        select(func.max(Certificate.crl_partition)).where(Certificate.issuer_id == authority_id)
                    ).scalar()
                    published = session.execute(
                        select(func.count()).select_from(PublishedCrl).where(
                            PublishedCrl.issuer_id == authority_id, PublishedCrl.scope != FULL
                        )
                    ).scalar_one()
                    due = revoked != full.revoked_count or (top is not None and published != top + 1)  # type: ignore[union-attr]
                    if not due:
                        due = self._status_changed_since(session, utc(full.this_update))  # type: ignore[union-attr]
            if due:
                done.append(self.publish(authority_id))
        return done
