"""The certificate authority: creates the hierarchy and issues end-entity certificates.

Issuance follows Boulder's order so that a crash never loses track of a serial:

1. reserve a random serial in the UNIQUE ``certificates.serial`` column, together with the
   request about to be signed, and commit (``status='reserved'``);
2. build the certificate as a draft signed by a throwaway key of the issuer's algorithm and
   check the draft against the product's profile;
3. sign exactly the checked to-be-signed bytes with the issuer's key (through the
   ``KeyBackend``), and verify the result under the issuer's public key;
4. store the certificate and its audit record in one transaction (``status='issued'``),
   together with whatever the caller's ``finalize`` adds (the RA revokes the certificate a
   reissue replaces there). If that transaction fails, the reservation is marked ``failed``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID
from sqlalchemy import bindparam, event, insert, select, text, update
from sqlalchemy.orm import Session

from fincert.ca.der import assemble_signed, signature_algorithm_der
from fincert.ca.profiles import CertificateProfile, ExpectedUrls, check_certificate, get_profile
from fincert.clock import Clock
from fincert.endpoints import PublicEndpoints
from fincert.errors import Conflict, ConfigurationError, FincertError, InvalidInput, NotFound, PolicyViolation
from fincert.keys.backend import KeyBackend, KeyType, PublicKey
from fincert.storage import audit, driver
from fincert.storage.db import Database, IdBlocks
from fincert.storage.group_commit import BatchKind
from fincert.storage.models import Authority, Certificate
from fincert.va.reasons import REVOCATION_REASONS

log = logging.getLogger(__name__)

ROOT_VALIDITY = dt.timedelta(days=20 * 365 + 5)
ISSUING_VALIDITY = dt.timedelta(days=10 * 365 + 2)
#: Drafts start a little in the past so relying parties with slow clocks accept them.
BACKDATE = dt.timedelta(minutes=5)

Finalize = Callable[[Session, "IssuedCertificate"], None]


@dataclass(frozen=True)
class SubjectIdentity:
    """Who the certificate names: the holder and the institution that registered them."""

    holder_name: str
    institution_name: str
    #: The 20 digits after ``()`` in the CN that tell holders of the same name apart. A renewal or
    #: reissue keeps the number of the certificate it replaces, so the subject, and with it the
    #: NPKI folder (``USER/<subject>``), stays the same; a new issuance draws a fresh one.
    subscriber_number: str | None = None

    def __post_init__(self) -> None:
        if self.subscriber_number is not None and not (
            len(self.subscriber_number) == 20 and self.subscriber_number.isascii() and self.subscriber_number.isdigit()
        ):
            raise InvalidInput("a subscriber number is 20 digits", field="subscriber_number")
        if not 1 <= len(self.holder_name.strip()) <= 30:
            raise InvalidInput("the holder's name must be 1 to 30 characters", field="name")
        if not 1 <= len(self.institution_name.strip()) <= 64:
            raise InvalidInput("the institution name must be 1 to 64 characters", field="institution")


@dataclass(frozen=True)
class IssuanceRequest:
    product: str
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey
    subject: SubjectIdentity
    member_id: int | None = None
    institution_id: int | None = None
    #: KISA identifyData otherName (real name + VID), put in subjectAltName when given.
    identify_data: x509.OtherName | None = None
    actor: str = "system"


@dataclass(frozen=True)
class IssuedCertificate:
    id: int
    serial: str
    certificate: x509.Certificate
    product: str
    not_before: dt.datetime
    not_after: dt.datetime

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True)
class Hierarchy:
    root: x509.Certificate
    issuing: x509.Certificate
    root_id: int
    issuing_id: int
    issuing_key_label: str
    created: bool


def subscriber_number_of(certificate: x509.Certificate) -> str | None:
    """The 20 digits after ``()`` in a certificate's CN (see ``SubjectIdentity``), if it has them."""
    for attribute in certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME):
        _, marker, number = str(attribute.value).rpartition("()")
        if marker and len(number) == 20 and number.isascii() and number.isdigit():
            return number
    return None


def serial_hex(serial: int) -> str:
    return format(serial, "x")


def normalize_serial(text: str) -> str:
    cleaned = text.strip().lower().replace(":", "")
    if cleaned.startswith("0x"):
        cleaned = cleaned[2:]
    if not cleaned:
        raise InvalidInput("a serial number is needed (hexadecimal digits)", field="serial")
    if any(c not in "0123456789abcdef" for c in cleaned):
        raise InvalidInput("a serial number is hexadecimal digits (0-9, a-f), colons allowed between them", field="serial")
    if len(cleaned) > 40:
        raise InvalidInput("a serial number is at most 40 hexadecimal digits", field="serial")
    return cleaned.lstrip("0") or "0"


def new_serial() -> int:
    # 127 random bits from the CSPRNG: positive, well inside 20 octets, far above 64 bits.
    while True:
        serial = int.from_bytes(secrets.token_bytes(16), "big") >> 1
        if serial.bit_length() >= 64:
            return serial


class _DraftKeys:
    """Throwaway keys that sign drafts; never used for anything anyone trusts."""

    def __init__(self) -> None:
        self._keys: dict[str, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey] = {}
        self._lock = threading.Lock()

    def for_issuer(self, issuer_key: PublicKey) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
        # The draft's signature is thrown away and the to-be-signed bytes do not depend on the
        # signing key's size, only on its algorithm: RSA-1024 signs drafts ~4x faster.
        kind = "rsa" if isinstance(issuer_key, rsa.RSAPublicKey) else "p256"
        with self._lock:
            if kind not in self._keys:
                self._keys[kind] = (
                    rsa.generate_private_key(public_exponent=65537, key_size=1024)
                    if kind == "rsa"
                    else ec.generate_private_key(ec.SECP256R1())
                )
            return self._keys[kind]


_draft_keys = _DraftKeys()


def verify_signed_by(certificate: x509.Certificate, issuer_key: PublicKey) -> None:
    signature_hash = certificate.signature_hash_algorithm or hashes.SHA256()
    if isinstance(issuer_key, rsa.RSAPublicKey):
        issuer_key.verify(certificate.signature, certificate.tbs_certificate_bytes, padding.PKCS1v15(), signature_hash)
    else:
        issuer_key.verify(certificate.signature, certificate.tbs_certificate_bytes, ec.ECDSA(signature_hash))


def sign_with_backend(
    builder: x509.CertificateBuilder,
    keys: KeyBackend,
    label: str,
    issuer_key: PublicKey,
    check: Callable[[x509.Certificate], None] | None = None,
) -> x509.Certificate:
    """Steps 2 and 3 of issuance: draft, check, sign the checked bytes, verify."""
    draft = builder.sign(_draft_keys.for_issuer(issuer_key), hashes.SHA256())
    if check is not None:
        check(draft)
    tbs = draft.tbs_certificate_bytes
    algorithm = signature_algorithm_der(draft.public_bytes(serialization.Encoding.DER), tbs)
    try:
        signature = keys.sign(label, tbs)
    except NotFound:
        # The hierarchy names a key the configured backend does not hold (FINCERT_KEY_BACKEND
        # or the token changed after `fincert init`): an operator's mistake, not the caller's.
        raise ConfigurationError(f"the signing key {label!r} is not in the configured key backend (FINCERT_KEY_BACKEND)") from None
    certificate = x509.load_der_x509_certificate(assemble_signed(tbs, algorithm, signature))
    try:
        verify_signed_by(certificate, issuer_key)
    except Exception as exc:  # an HSM fault or a key mix-up must never leave the CA
        raise PolicyViolation("the issuer's signature did not verify; certificate discarded") from exc
    return certificate


def _as_utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.timezone.utc) if moment.tzinfo is None else moment


class CertificateAuthority:
    def __init__(
        self,
        db: Database,
        keys: KeyBackend,
        profiles: dict[str, CertificateProfile],
        endpoints: PublicEndpoints,
        clock: Clock,
        *,
        organization: str,
        crl_partition_size: int,
    ) -> None:
        self._db = db
        self._keys = keys
        self._profiles = profiles
        self._endpoints = endpoints
        self._clock = clock
        self._organization = organization
        self._partition_size = crl_partition_size
        self._hierarchy: Hierarchy | None = None
        self._revocation_listeners: list[Callable[[str], None]] = []
        self._reserve_kind = BatchKind("certificate.reserve", self._reserve_many)
        self._ids = IdBlocks(db.engine, "certificates") if db.dialect == "postgresql" else None
        self._store_kind = BatchKind("certificate.store", self._store_many)

    @property
    def profiles(self) -> dict[str, CertificateProfile]:
        return self._profiles

    # -- hierarchy -----------------------------------------------------------------------

    def _name(self, common_name: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "KR"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, self._organization),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            ]
        )

    def hierarchy(self) -> Hierarchy:
        if self._hierarchy is not None:
            return self._hierarchy
        with self._db.reader() as session:
            found = self._load_hierarchy(session)
        if found is None:
            raise NotFound("the CA is not initialised: run `fincert init`")
        self._hierarchy = found
        return found

    @staticmethod
    def _load_hierarchy(session: Session, created: bool = False) -> Hierarchy | None:
        root = session.execute(
            select(Authority).where(Authority.role == "root", Authority.active.is_(True)).order_by(Authority.id.desc())
        ).scalars().first()
        issuing = session.execute(
            select(Authority).where(Authority.role == "issuing", Authority.active.is_(True)).order_by(Authority.id.desc())
        ).scalars().first()
        if root is None or issuing is None:
            return None
        return Hierarchy(
            root=x509.load_der_x509_certificate(root.certificate_der),
            issuing=x509.load_der_x509_certificate(issuing.certificate_der),
            root_id=root.id,
            issuing_id=issuing.id,
            issuing_key_label=issuing.key_label,
            created=created,
        )

    def initialize(self, key_type: KeyType, *, insist_on_key_type: bool = False) -> Hierarchy:
        """Create the root and issuing CA unless they exist; running it again keeps them.

        With ``insist_on_key_type`` (the operator asked for ``key_type``), an existing CA of
        another key type is a ``Conflict`` rather than silently kept. An existing CA whose keys
        the configured backend does not hold is a ``ConfigurationError``.
        """
        with self._db.reader() as session:
            existing = self._load_hierarchy(session)
        if existing is not None:
            existing_type = KeyType.RSA2048 if isinstance(existing.issuing.public_key(), rsa.RSAPublicKey) else KeyType.P256
            if insist_on_key_type and existing_type is not key_type:
                raise Conflict(
                    f"the CA already exists with {existing_type.value} keys and keeps them; "
                    f"a {key_type.value} CA needs a new FINCERT_HOME and database"
                )
            if not self._keys.exists(existing.issuing_key_label):
                raise ConfigurationError(
                    f"the issuing CA's key {existing.issuing_key_label!r} is not in the configured key backend: "
                    "FINCERT_KEY_BACKEND (and the token) must be those the CA was created with"
                )
            self._hierarchy = existing
            return existing

        now = self._clock.now().replace(microsecond=0)
        stamp = now.strftime("%Y%m%d%H%M%S")
        suffix = secrets.token_hex(3)
        root_label, issuing_label = f"root-{stamp}-{suffix}", f"issuing-{stamp}-{suffix}"
        root_public = self._keys.generate(root_label, key_type)
        issuing_public = self._keys.generate(issuing_label, key_type)
        algorithm = "RSA-2048" if key_type is KeyType.RSA2048 else "P-256"

        root_name = self._name(f"{self._organization} Root CA ({algorithm})")
        root_ski = x509.SubjectKeyIdentifier.from_public_key(root_public)
        root_builder = (
            x509.CertificateBuilder()
            .subject_name(root_name)
            .issuer_name(root_name)
            .public_key(root_public)
            .serial_number(new_serial())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + ROOT_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(root_ski, critical=False)
        )
        root = sign_with_backend(root_builder, self._keys, root_label, root_public)

        issuing_name = self._name(f"{self._organization} Issuing CA 1 ({algorithm})")
        issuing_builder = (
            x509.CertificateBuilder()
            .subject_name(issuing_name)
            .issuer_name(root_name)
            .public_key(issuing_public)
            .serial_number(new_serial())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(min(now + ISSUING_VALIDITY, root.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(issuing_public), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski), critical=False)
        )
        issuing = sign_with_backend(issuing_builder, self._keys, root_label, root_public)

        with self._db.transaction() as session:
            root_row = _authority_row("root", root_label, key_type, root, None, now)
            session.add(root_row)
            session.flush()
            issuing_row = _authority_row("issuing", issuing_label, key_type, issuing, root_row.id, now)
            session.add(issuing_row)
            session.flush()
            for row in (root_row, issuing_row):
                audit.append(
                    session,
                    action="ca.created",
                    actor="operator",
                    subject_type="authority",
                    subject_id=row.id,
                    now=now,
                    details={"role": row.role, "subject": row.subject, "serial": row.serial, "key_type": key_type.value},
                )
            hierarchy = Hierarchy(root, issuing, root_row.id, issuing_row.id, issuing_label, created=True)
        self._hierarchy = hierarchy
        return hierarchy

    def authority_certificate(self, authority_id: int) -> bytes:
        """A CA certificate (root or issuing CA) by its id, as ``caIssuers`` URLs name it. The
        OCSP responder's and the TSA's certificates are no CA certificates: they travel in the
        answers they sign, not here."""
        with self._db.reader() as session:
            row = session.get(Authority, authority_id)
            if row is None or row.role not in ("root", "issuing"):
                raise NotFound(f"no CA certificate {authority_id}")
            return row.certificate_der

    # -- end-entity issuance ---------------------------------------------------------------

    def expected_urls(self, issuing_id: int, partition: int) -> ExpectedUrls:
        return ExpectedUrls(
            crl=self._endpoints.crl_url(issuing_id, partition),
            ocsp=self._endpoints.ocsp_url,
            ca_issuers=self._endpoints.ca_issuers_url(issuing_id),
        )

    def issue(self, request: IssuanceRequest, *, finalize: Finalize | None = None) -> IssuedCertificate:
        profile = get_profile(self._profiles, request.product)
        hierarchy = self.hierarchy()
        issuer = hierarchy.issuing
        issuer_key = issuer.public_key()
        if not isinstance(request.public_key, rsa.RSAPublicKey) or request.public_key.key_size != profile.subscriber_key_size:
            raise PolicyViolation(f"the {profile.name} profile needs an RSA-{profile.subscriber_key_size} key", field="csr")

        now = self._clock.now().replace(microsecond=0)
        not_before = max(now - BACKDATE, issuer.not_valid_before_utc)
        not_after = min(now + profile.validity, issuer.not_valid_after_utc)
        if not_after <= now:
            raise PolicyViolation("the issuing CA has expired; no certificate can be issued under it")
        serial = new_serial()
        serial_text = serial_hex(serial)
        subscriber_number = request.subject.subscriber_number or f"{secrets.randbelow(10**20):020d}"
        common_name = f"{request.subject.holder_name.strip()}(){subscriber_number}"
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "KR"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, self._organization),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, request.subject.institution_name.strip()),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            ]
        )
        spki = request.public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

        # Step 1: reserve the serial with a record of what is about to be signed. The CRL
        # partition follows the row's sequence number, so it is set once the id is known.
        subject_text = subject.rfc4514_string()
        spki_sha256 = hashlib.sha256(spki).hexdigest()
        reservation = _Reservation(
            row={
                "serial": serial_text,
                "issuer_id": hierarchy.issuing_id,
                "status": "reserved",
                "product": profile.name,
                "subject": subject_text,
                "public_key_sha256": spki_sha256,
                "request_json": "{}",
                "crl_partition": 0,
                "not_before": not_before,
                "not_after": not_after,
                "institution_id": request.institution_id,
                "member_id": request.member_id,
                "created_at": now,
            },
            request={
                "product": profile.name,
                "subject": subject_text,
                "spki_sha256": spki_sha256,
                "not_before": not_before.isoformat(),
                "not_after": not_after.isoformat(),
                "identify_data": request.identify_data is not None,
            },
        )
        # Committed before anything is signed.
        certificate_id, partition = self._reserve(reservation)

        try:
            urls = self.expected_urls(hierarchy.issuing_id, partition)
            builder = (
                x509.CertificateBuilder()
                .subject_name(subject)
                .issuer_name(issuer.subject)
                .public_key(request.public_key)
                .serial_number(serial)
                .not_valid_before(not_before)
                .not_valid_after(not_after)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(
                    x509.KeyUsage(
                        digital_signature=True,
                        content_commitment=True,
                        key_encipherment=False,
                        data_encipherment=False,
                        key_agreement=False,
                        key_cert_sign=False,
                        crl_sign=False,
                        encipher_only=False,
                        decipher_only=False,
                    ),
                    critical=True,
                )
                .add_extension(x509.CertificatePolicies([profile.policy]), critical=False)
                .add_extension(
                    x509.CRLDistributionPoints(
                        [x509.DistributionPoint([x509.UniformResourceIdentifier(urls.crl)], None, None, None)]
                    ),
                    critical=False,
                )
                .add_extension(
                    x509.AuthorityInformationAccess(
                        [
                            x509.AccessDescription(AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(urls.ocsp)),
                            x509.AccessDescription(
                                AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(urls.ca_issuers)
                            ),
                        ]
                    ),
                    critical=False,
                )
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(request.public_key), critical=False)
                .add_extension(
                    x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                        x509.SubjectKeyIdentifier.from_public_key(issuer_key)
                    ),
                    critical=False,
                )
            )
            if request.identify_data is not None:
                builder = builder.add_extension(x509.SubjectAlternativeName([request.identify_data]), critical=False)

            # Steps 2 and 3.
            certificate = sign_with_backend(
                builder,
                self._keys,
                hierarchy.issuing_key_label,
                issuer_key,
                check=lambda draft: check_certificate(draft, profile, issuer, urls, self._organization),
            )
            issued = IssuedCertificate(certificate_id, serial_text, certificate, profile.name, not_before, not_after)

            # Step 4: store with its audit record, plus the caller's changes, in one transaction
            # (shared with concurrent issuances: one UPDATE and one commit for all).
            self._db.grouped_kind(self._store_kind, _Store(issued, now, request, finalize))
            return issued
        except BaseException as exc:
            self._mark_failed(certificate_id, exc, now)
            raise

    def _reserve(self, reservation: _Reservation) -> tuple[int, int]:
        """Step 1: write the reservation row; returns its id and CRL partition.

        On PostgreSQL the row's id comes from a block drawn ahead from its sequence, so the
        reservation is one INSERT that commits on its own (one round trip). On SQLite, where
        writers take turns on one lock, concurrent reservations share one transaction.
        """
        if self._ids is None:
            return self._db.grouped_kind(self._reserve_kind, reservation)
        row_id = self._ids.next()
        partition = row_id // self._partition_size
        row = {
            **reservation.row,
            "id": row_id,
            "crl_partition": partition,
            "request_json": json.dumps({**reservation.request, "crl_partition": partition}, ensure_ascii=False, sort_keys=True),
        }
        with self._db.autocommit() as connection:
            driver.execute(connection, _RESERVE_WITH_ID_PG, row)
        return row_id, partition

    def _reserve_many(self, session: Session, reservations: list[_Reservation]) -> list[tuple[int, int]]:
        """Step 1 for a batch: one INSERT for all rows, then each row's CRL partition (which
        follows its id) and the record of the request about to be signed."""
        ids = session.execute(_RESERVE, [r.row for r in reservations]).scalars().all()
        recorded = []
        for row_id, reservation in zip(ids, reservations):
            partition = row_id // self._partition_size
            request_json = json.dumps({**reservation.request, "crl_partition": partition}, ensure_ascii=False, sort_keys=True)
            recorded.append({"row_id": row_id, "partition": partition, "request": request_json})
        session.execute(_RECORD_REQUEST, recorded)
        return [(r["row_id"], r["partition"]) for r in recorded]

    @staticmethod
    def _store_many(session: Session, stores: list[_Store]) -> list[None]:
        """Step 4 for a batch: one UPDATE for all certificates, then each one's audit record
        and its caller's ``finalize``, in order."""
        if session.get_bind().dialect.name == "postgresql":
            # One statement for one row or many (one fixed text, prepared once); an
            # executemany is a pipeline of statements on psycopg, which cost more CPU than the
            # rows did.
            stored = driver.execute(
                session,
                _STORE_ISSUED_ROWS,
                {
                    "rows": json.dumps(
                        [{"id": s.issued.id, "der": s.issued.der.hex(), "issued_at": s.now.isoformat()} for s in stores]
                    )
                },
            )
        else:
            values = [{"row_id": s.issued.id, "der": s.issued.der, "issued_at": s.now} for s in stores]
            stored = session.execute(_STORE_ISSUED, values[0] if len(values) == 1 else values)
        if stored.rowcount != len(stores):  # replayed one by one, the culprit gets this error
            serials = ", ".join(s.issued.serial for s in stores)
            raise Conflict(f"serial {serials} is no longer reserved for this issuance")
        for store in stores:
            issued, request = store.issued, store.request
            audit.append(
                session,
                action="certificate.issued",
                actor=request.actor,
                subject_type="certificate",
                subject_id=issued.serial,
                now=store.now,
                institution_id=request.institution_id,
                details={"product": issued.product, "member_id": request.member_id, "not_after": issued.not_after.isoformat()},
            )
            if store.finalize is not None:
                store.finalize(session, issued)
        return [None] * len(stores)

    # -- revocation -------------------------------------------------------------------------

    def add_revocation_listener(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(serial)`` after a revocation, or a release from hold, is committed (the VA
        re-signs the status)."""
        self._revocation_listeners.append(listener)

    def _notify_revoked(self, serial: str) -> None:
        for listener in self._revocation_listeners:
            try:
                listener(serial)
            except Exception:  # noqa: BLE001 - status is re-checked at read time; never undo a revocation
                log.warning("revocation listener failed for %s", serial, exc_info=True)

    def revoke(
        self,
        serial: str,
        reason: str,
        *,
        actor: str,
        session: Session | None = None,
        institution_id: int | None = None,
    ) -> dt.datetime:
        """Revoke an issued certificate with an RFC 5280 reason; returns the revocation time.

        With ``session`` the revocation joins the caller's transaction (a reissue revokes the
        old certificate in the same transaction that stores the new one); listeners run once
        that transaction commits.
        """
        if reason not in REVOCATION_REASONS or reason == "removeFromCRL":
            raise InvalidInput(
                "revocation reason must be one of: "
                + ", ".join(r for r in REVOCATION_REASONS if r != "removeFromCRL"),
                field="reason",
            )
        serial = normalize_serial(serial)
        now = self._clock.now()
        self._change_status(session, serial, lambda s: self._revoke_in(s, serial, reason, now, actor, institution_id))
        return now

    def _change_status(self, session: Session | None, serial: str, change: Callable[[Session], None]) -> None:
        """Run ``change`` in the caller's ``session`` or in a transaction of its own; the listeners
        hear of ``serial`` once that transaction has committed."""
        if session is None:
            with self._db.transaction() as own:
                change(own)
            self._notify_revoked(serial)
        else:
            change(session)
            event.listen(session, "after_commit", lambda _s: self._notify_revoked(serial), once=True)

    def _revoke_in(
        self, session: Session, serial: str, reason: str, now: dt.datetime, actor: str, institution_id: int | None
    ) -> None:
        row = session.execute(select(Certificate).where(Certificate.serial == serial).with_for_update()).scalar_one_or_none()
        if row is None or row.status not in ("issued", "reserved"):
            raise NotFound(f"no issued certificate with serial {serial}")
        if institution_id is not None and row.institution_id != institution_id:
            raise NotFound(f"no issued certificate with serial {serial}")
        details: dict[str, str] = {"reason": reason}
        if row.revoked_at is not None:
            # A certificate on hold (RFC 5280 certificateHold) may still be revoked for good,
            # with the final reason; it stays revoked from the moment it was put on hold.
            if row.revocation_reason != "certificateHold":
                raise Conflict(f"certificate {serial} is already revoked")
            if reason == "certificateHold":
                raise Conflict(f"certificate {serial} is already on hold")
            details["was"] = "certificateHold"
        else:
            row.revoked_at = now
        row.revocation_reason = reason
        audit.append(
            session,
            action="certificate.revoked",
            actor=actor,
            subject_type="certificate",
            subject_id=serial,
            now=now,
            institution_id=row.institution_id,
            details=details,
        )

    def release_hold(self, serial: str, *, actor: str, session: Session | None = None, institution_id: int | None = None) -> None:
        """Take a certificate off hold (효력 회복): it is valid again, and its entry leaves the next
        CRLs (fincert issues no delta CRLs, where RFC 5280's removeFromCRL would say so).

        Only a certificate revoked with ``certificateHold`` and not yet expired can be released;
        any other reason is final. With ``session`` the release joins the caller's transaction.
        """
        serial = normalize_serial(serial)
        now = self._clock.now()
        self._change_status(session, serial, lambda s: self._release_in(s, serial, now, actor, institution_id))

    def _release_in(self, session: Session, serial: str, now: dt.datetime, actor: str, institution_id: int | None) -> None:
        row = session.execute(select(Certificate).where(Certificate.serial == serial).with_for_update()).scalar_one_or_none()
        if row is None or row.status != "issued" or (institution_id is not None and row.institution_id != institution_id):
            raise NotFound(f"no issued certificate with serial {serial}")
        if row.revoked_at is None or row.revocation_reason != "certificateHold":
            raise Conflict(
                f"certificate {serial} is not on hold: "
                + (f"it was revoked ({row.revocation_reason}), which is final" if row.revoked_at is not None else "it is active")
            )
        if _as_utc(row.not_after) <= now:
            raise Conflict(f"certificate {serial} has expired while on hold: reissue it (재발급, reason expired)")
        held_since = row.revoked_at
        row.revoked_at = None
        row.revocation_reason = None
        audit.append(
            session,
            action="certificate.hold-released",
            actor=actor,
            subject_type="certificate",
            subject_id=serial,
            now=now,
            institution_id=row.institution_id,
            details={"held_since": _as_utc(held_since).isoformat()},
        )

    # -- service certificates (OCSP responder, TSA) ---------------------------------------------

    def issue_service_certificate(
        self,
        role: str,
        *,
        key_type: KeyType,
        validity: dt.timedelta,
        common_name: str,
        actor: str = "system",
    ) -> tuple[int, x509.Certificate, str]:
        """Issue a delegated certificate the service itself uses; returns (authority id, cert, key label).

        ``ocsp-responder``: under the issuing CA, EKU id-kp-OCSPSigning + id-pkix-ocsp-nocheck.
        ``tsa``: under the root, critical EKU id-kp-timeStamping alone. Both keys stay in the
        ``KeyBackend``. Earlier certificates of the same role are marked inactive.
        """
        if role not in ("ocsp-responder", "tsa"):
            raise InvalidInput("service certificate role must be ocsp-responder or tsa", field="role")
        hierarchy = self.hierarchy()
        with self._db.reader() as session:
            root_row = session.get(Authority, hierarchy.root_id)
            if root_row is None:
                raise NotFound("the root CA record is missing")
            root_label = root_row.key_label
        if role == "ocsp-responder":
            issuer, issuer_id, issuer_label = hierarchy.issuing, hierarchy.issuing_id, hierarchy.issuing_key_label
        else:
            issuer, issuer_id, issuer_label = hierarchy.root, hierarchy.root_id, root_label
        now = self._clock.now().replace(microsecond=0)
        label = f"{role}-{now.strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(3)}"
        public = self._keys.generate(label, key_type)
        issuer_key = issuer.public_key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(self._name(common_name))
            .issuer_name(issuer.subject)
            .public_key(public)
            .serial_number(new_serial())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(min(now + validity, issuer.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=role == "tsa",
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                    x509.SubjectKeyIdentifier.from_public_key(issuer_key)
                ),
                critical=False,
            )
        )
        if role == "ocsp-responder":
            builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
            builder = builder.add_extension(x509.OCSPNoCheck(), critical=False)
        else:
            builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        certificate = sign_with_backend(builder, self._keys, issuer_label, issuer_key)
        with self._db.transaction() as session:
            session.execute(update(Authority).where(Authority.role == role).values(active=False))
            row = _authority_row(role, label, key_type, certificate, issuer_id, now)
            session.add(row)
            session.flush()
            audit.append(
                session,
                action="ca.service-certificate-issued",
                actor=actor,
                subject_type="authority",
                subject_id=row.id,
                now=now,
                details={"role": role, "serial": row.serial, "not_after": row.not_after.isoformat()},
            )
            authority_id = row.id
        return authority_id, certificate, label

    def active_service_certificate(self, role: str) -> tuple[int, x509.Certificate, str] | None:
        """The newest active certificate of a service role, or None."""
        with self._db.reader() as session:
            row = session.execute(
                select(Authority).where(Authority.role == role, Authority.active.is_(True)).order_by(Authority.id.desc())
            ).scalars().first()
            if row is None:
                return None
            return row.id, x509.load_der_x509_certificate(row.certificate_der), row.key_label

    def _mark_failed(self, certificate_id: int, exc: BaseException, now: dt.datetime) -> None:
        reason = exc.detail if isinstance(exc, FincertError) else type(exc).__name__
        try:
            with self._db.transaction() as session:
                stored = session.get(Certificate, certificate_id)
                if stored is not None and stored.status == "reserved":
                    stored.status = "failed"
                    audit.append(
                        session,
                        action="certificate.issuance-failed",
                        actor="system",
                        subject_type="certificate",
                        subject_id=stored.serial,
                        now=now,
                        details={"reason": reason[:200]},
                    )
        except Exception:  # noqa: BLE001 - the reservation stays 'reserved', still findable
            log.warning("could not mark reserved certificate %s as failed", certificate_id, exc_info=True)


@dataclass(frozen=True)
class _Reservation:
    row: dict[str, object]
    request: dict[str, object]


@dataclass(frozen=True)
class _Store:
    issued: IssuedCertificate
    now: dt.datetime
    request: IssuanceRequest
    finalize: Finalize | None


# Statements of the issuance path, built once (SQLAlchemy then only binds parameters).
# On the Table, not the ORM class, so they skip the ORM's bulk-DML machinery.
_certificates = Certificate.__table__
_RESERVE = insert(_certificates).returning(_certificates.c.id, sort_by_parameter_order=True)
_RECORD_REQUEST = (
    update(_certificates)
    .where(_certificates.c.id == bindparam("row_id"))
    .values(crl_partition=bindparam("partition"), request_json=bindparam("request"))
)
_STORE_ISSUED = (
    update(_certificates)
    .where(_certificates.c.id == bindparam("row_id"), _certificates.c.status == "reserved")
    .values(der=bindparam("der"), status="issued", issued_at=bindparam("issued_at"))
)
#: PostgreSQL (on the driver): ``_STORE_ISSUED`` for every row of a JSON array (a batch, or one
#: row; the DER in hex): one string parameter, which psycopg adapts for less than three arrays.
_STORE_ISSUED_ROWS = (
    f"UPDATE {_certificates.name} AS c SET der = decode(v.der, 'hex'), status = 'issued', issued_at = v.issued_at "
    "FROM json_to_recordset(CAST(%(rows)s AS json)) AS v(id bigint, der text, issued_at timestamptz) "
    "WHERE c.id = v.id AND c.status = 'reserved'"
)
#: PostgreSQL (on the driver): the reservation row, its id drawn beforehand (``IdBlocks``).
_RESERVE_COLUMNS = (
    "id", "serial", "issuer_id", "status", "product", "subject", "public_key_sha256", "request_json", "crl_partition",
    "not_before", "not_after", "institution_id", "member_id", "created_at",
)
_RESERVE_WITH_ID_PG = (
    f"INSERT INTO {_certificates.name} ({', '.join(_RESERVE_COLUMNS)}) "
    f"VALUES ({', '.join(f'%({name})s' for name in _RESERVE_COLUMNS)})"
)


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _authority_row(
    role: str, label: str, key_type: KeyType, certificate: x509.Certificate, parent_id: int | None, now: dt.datetime
) -> Authority:
    return Authority(
        role=role,
        key_label=label,
        key_type=key_type.value,
        subject=certificate.subject.rfc4514_string(),
        serial=serial_hex(certificate.serial_number),
        certificate_der=certificate.public_bytes(serialization.Encoding.DER),
        parent_id=parent_id,
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        active=True,
        created_at=now,
    )


__all__ = [
    "CertificateAuthority",
    "Conflict",
    "Hierarchy",
    "IssuanceRequest",
    "IssuedCertificate",
    "SubjectIdentity",
    "normalize_serial",
    "serial_hex",
]
