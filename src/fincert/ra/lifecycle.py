"""The certificate lifecycle: applications, issuance, reissuance, renewal, revocation.

An application is a state machine — created → verified (the institution's assurance policy is
met) → issued (or completed, for a registration at another institution), or cancelled /
expired after ``application_ttl``. Verification hands back a reference number and an
authorization code (the real RA/CA exchange); the holder's client collects the certificate with
them, sending either a CSR (keys kept in files: NPKI or PKCS#12) or a PIN (the key generated and
kept in the cloud vault).

The storing transaction of an issuance also records the holder, revokes the certificate a
reissue or renewal replaces, destroys a replaced cloud key and closes the application, so a
failure anywhere leaves none of it. The database enforces one open application per member and
one active financial certificate per person (see ``storage.models_lifecycle``).

This RA component orchestrates; it never holds a private key: file keys stay with the holder,
cloud keys stay in ``keys.vault``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sqlalchemy import bindparam, false, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fincert.ca.authority import (
    CertificateAuthority, IssuanceRequest, IssuedCertificate, SubjectIdentity, normalize_serial, subscriber_number_of,
)
from fincert.clock import Clock
from fincert.errors import Conflict, FincertError, InvalidInput, Locked, NotFound, PolicyViolation, VerificationFailed
from fincert.formats.vid import identify_data_other_name
from fincert.keys.vault import CloudKeyVault
from fincert.ra.registrar import DEFAULT_PAGE_SIZE, Page, Registrar, check_page_size, cursor_position, page_cursor
from fincert.ra.verifiers.base import Evidence
from fincert.storage import audit, driver
from fincert.storage.db import Database
from fincert.storage.models import MAX_ID, Certificate, Institution
from fincert.storage.models_lifecycle import Application, CertificateRegistration, ExpiryNotice, HolderCertificate
from fincert.storage.models_ra import Member

#: The storing transaction completes the application only if it is still verified.
_COMPLETE_APPLICATION = (
    update(Application.__table__)
    .where(Application.__table__.c.id == bindparam("application_id"), Application.__table__.c.status == "verified")
    .values(status="issued", open_member_id=None, result_serial=bindparam("result_serial"), updated_at=bindparam("updated_at"))
)
_INSERT_HOLDER = insert(HolderCertificate.__table__)
_HOLDER_COLUMNS = (
    "certificate_id", "serial", "member_id", "institution_id", "person_index", "product", "storage",
    "active_financial_person", "cloud_key_id", "random_num_ciphertext", "replaced_serial", "created_at",
)
#: PostgreSQL (on the driver): ``_COMPLETE_APPLICATION`` and ``_INSERT_HOLDER`` in one statement;
#: the holder's row is written only if the application was still verified (rowcount 0: not).
_COMPLETE_AND_RECORD_HOLDER_PG = (
    "WITH completed AS (UPDATE applications SET status = 'issued', open_member_id = NULL, "
    "result_serial = %(serial)s, updated_at = %(created_at)s "
    "WHERE id = %(application_id)s AND status = 'verified' RETURNING id) "
    f"INSERT INTO holder_certificates ({', '.join(_HOLDER_COLUMNS)}) "
    f"SELECT {', '.join(f'%({name})s' for name in _HOLDER_COLUMNS)} FROM completed"
)
#: An application with what issuing for it needs of its member and institution, in one
#: statement. Built once with a bound parameter: SQLAlchemy remembers a statement object's cache
#: key, while a statement built per call is walked again on every execution (~130 µs here).
_applications, _members, _institutions = Application.__table__, Member.__table__, Institution.__table__
_APPLICANT = (
    select(
        _applications.c.id, _applications.c.authorization_code_hash, _applications.c.status, _applications.c.expires_at,
        _applications.c.member_id, _applications.c.institution_id, _applications.c.kind, _applications.c.product,
        _applications.c.target_serial, _applications.c.reason,
        _members.c.name.label("member_name"), _members.c.birth_date, _members.c.rrn_index, _members.c.data_key,
        _members.c.rrn_ciphertext, _institutions.c.name.label("institution_name"),
    )
    .join(_members, _members.c.id == _applications.c.member_id)
    .join(_institutions, _institutions.c.id == _applications.c.institution_id)
)
_APPLICANT_BY_REFERENCE = _APPLICANT.where(_applications.c.reference_number == bindparam("reference_number"))
_APPLICANT_BY_ID = _APPLICANT.where(_applications.c.id == bindparam("application_id"))

KINDS = ("issue", "reissue", "renew", "register")
OPEN_STATUSES = ("created", "verified")
REISSUE_REASONS = {"lost": "keyCompromise", "forgotten": "superseded", "locked": "superseded", "expired": "superseded"}
HOLDER_REVOCATION_REASONS = ("unspecified", "keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation")
#: The reasons an institution's operator may give: the holder's, and a suspension (효력 정지). A
#: registration authority cannot declare the CA's (or an attribute authority's) key compromised,
#: nor withdraw a privilege it never granted: those are the CA's own (`fincert cert revoke`).
OPERATOR_REVOCATION_REASONS = ("keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation", "certificateHold", "unspecified")
NOTICE_THRESHOLDS = (30, 7, 1)
ISSUED_ACTIONS = {"issue": "issued", "reissue": "reissued", "renew": "renewed"}
#: The assurance-policy purpose each application kind is verified for.
POLICY_PURPOSE = {"issue": "issue", "reissue": "reissue", "renew": "renew", "register": "register-external"}


def _on_hold(row: Certificate) -> bool:
    """Revoked with RFC 5280's certificateHold: suspended, and the only revocation that can be undone."""
    return row.revoked_at is not None and row.revocation_reason == "certificateHold"


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.timezone.utc) if moment.tzinfo is None else moment


#: A reference number as ``verify`` hands it out: twelve digits.
_REFERENCE_NUMBER = re.compile(r"[0-9]{12}")
_REFERENCE_SEPARATORS = re.compile(r"[\s-]")


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


@dataclass(frozen=True)
class ApplicationView:
    id: int
    member_id: int
    kind: str
    product: str
    status: str
    target_serial: str | None
    result_serial: str | None
    expires_at: dt.datetime
    missing: list[str]

    def as_json(self) -> dict[str, Any]:
        return {
            "application_id": self.id,
            "member_id": self.member_id,
            "kind": self.kind,
            "product": self.product,
            "status": self.status,
            "target_serial": self.target_serial,
            "result_serial": self.result_serial,
            "expires_at": self.expires_at.isoformat(),
            "missing": self.missing,
        }


@dataclass(frozen=True)
class Collection:
    """What verification hands the holder's client: the reference number and authorization code."""

    application_id: int
    reference_number: str
    authorization_code: str


@dataclass(frozen=True)
class CertificateView:
    serial: str
    status: str  # active | revoked | expired
    revocation_reason: str | None
    product: str
    storage: str | None
    member_id: int | None
    institution: str | None
    not_before: dt.datetime
    not_after: dt.datetime
    registered_at: list[str]
    replaced: str | None
    #: A cloud certificate whose key is locked after too many wrong PINs (reissue it, reason
    #: locked); None for a key kept in files, which the service cannot know about.
    locked: bool | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "status": self.status,
            "revocation_reason": self.revocation_reason,
            "product": self.product,
            "storage": self.storage,
            "member_id": self.member_id,
            "institution": self.institution,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "registered_at": self.registered_at,
            "replaced": self.replaced,
            "locked": self.locked,
        }


@dataclass(frozen=True)
class _Applicant:
    """An application about to be issued for, with what issuing needs of its member and institution."""

    application_id: int
    member_id: int
    kind: str
    product: str
    target_serial: str | None
    reason: str | None
    member_name: str
    birth_date: dt.date = field(repr=False)
    institution_id: int
    institution_name: str
    person: str
    #: Secrets: kept out of the repr, so no log line or error message can carry them.
    data_key: bytes = field(repr=False)
    rrn_digits: str = field(repr=False)


@dataclass(frozen=True)
class IssuedToHolder:
    issued: IssuedCertificate
    chain: list[x509.Certificate]
    storage: str
    replaced: str | None
    random_num: bytes | None  # returned to a cloud holder's client for VID checks

    def as_json(self) -> dict[str, Any]:
        return {
            "serial": self.issued.serial,
            "product": self.issued.product,
            "storage": self.storage,
            "not_before": self.issued.not_before.isoformat(),
            "not_after": self.issued.not_after.isoformat(),
            "replaced": self.replaced,
            "certificate": self.issued.certificate.public_bytes(serialization.Encoding.PEM).decode(),
            "chain": [c.public_bytes(serialization.Encoding.PEM).decode() for c in self.chain],
        }


class CertificateLifecycle:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        ca: CertificateAuthority,
        registrar: Registrar,
        vault: CloudKeyVault,
        *,
        application_ttl: dt.timedelta = dt.timedelta(minutes=10),
        renewal_window: dt.timedelta = dt.timedelta(days=30),
        cloud_auto_renew: dt.timedelta = dt.timedelta(days=30),
        financial_in_cloud_only: bool = False,
    ) -> None:
        self._db = db
        self._clock = clock
        self._ca = ca
        self._registrar = registrar
        self._vault = vault
        self._ttl = application_ttl
        self._renewal_window = renewal_window
        self._auto_renew = cloud_auto_renew
        self._financial_in_cloud_only = financial_in_cloud_only

    # -- queries -----------------------------------------------------------------------------

    def storage_choices(self, product: str) -> tuple[str, ...]:
        """Where a holder may keep a ``product`` certificate's key (step 5): the cloud, and a
        key file unless the service keeps financial keys in the cloud only."""
        return ("cloud",) if product == "financial" and self._financial_in_cloud_only else ("cloud", "file")

    def _status_of(self, row: Certificate, now: dt.datetime) -> str:
        if row.revoked_at is not None:
            return "revoked"
        if _aware(row.not_after) <= now:
            return "expired"
        return "active"

    def _view(self, session: Session, row: Certificate) -> CertificateView:
        holder = session.get(HolderCertificate, row.id)
        institution = session.get(Institution, row.institution_id) if row.institution_id else None
        registrations = session.execute(
            select(Institution.code)
            .join(CertificateRegistration, CertificateRegistration.institution_id == Institution.id)
            .where(CertificateRegistration.serial == row.serial)
        ).scalars().all()
        return CertificateView(
            serial=row.serial,
            status=self._status_of(row, self._clock.now()),
            revocation_reason=row.revocation_reason,
            product=row.product,
            storage=holder.storage if holder else None,
            member_id=row.member_id,
            institution=institution.code if institution else None,
            not_before=_aware(row.not_before),
            not_after=_aware(row.not_after),
            registered_at=list(registrations),
            replaced=holder.replaced_serial if holder else None,
            locked=self._vault.status(holder.cloud_key_id).state == "locked" if holder and holder.cloud_key_id else None,
        )

    def show(self, serial: str) -> CertificateView:
        serial = normalize_serial(serial)
        with self._db.reader() as session:
            row = session.execute(select(Certificate).where(Certificate.serial == serial, Certificate.status == "issued")).scalar_one_or_none()
            if row is None:
                raise NotFound(f"no issued certificate with serial {serial}")
            return self._view(session, row)

    def certificates_of(self, member_id: int) -> list[CertificateView]:
        """The member's certificates, and those registered for their use at their institution."""
        with self._db.reader() as session:
            registered = select(CertificateRegistration.serial).where(CertificateRegistration.member_id == member_id)
            rows = session.execute(
                select(Certificate)
                .where(Certificate.status == "issued", or_(Certificate.member_id == member_id, Certificate.serial.in_(registered)))
                .order_by(Certificate.id.desc())
            ).scalars()
            return [self._view(session, r) for r in rows]

    def certificates_of_institution(self, institution_id: int, *, limit: int = 200) -> list[CertificateView]:
        with self._db.reader() as session:
            rows = session.execute(
                select(Certificate)
                .where(Certificate.status == "issued", Certificate.institution_id == institution_id)
                .order_by(Certificate.id.desc())
                .limit(limit)
            ).scalars()
            return [self._view(session, r) for r in rows]

    def certificates_page(
        self, institution_id: int, *, limit: int = DEFAULT_PAGE_SIZE, before: str | None = None, query: str = ""
    ) -> Page[CertificateView]:
        """One page of the certificates issued through an institution, newest first (the order of
        ``certificates_of_institution``), by keyset on the row id; ``before`` is the previous
        page's ``next``, which names the last certificate shown by its serial (the row id is not
        shown anywhere). ``query`` keeps those whose serial contains it (a short number is a
        member number: see ``_MEMBER_NUMBER_DIGITS``), with exactly that serial (leading zeros or
        colons as OpenSSL prints it), or of that member number; text that can be none of these
        finds nothing. Only ever the institution's own certificates: a cursor
        naming another institution's certificate is refused as one that names none."""
        limit = check_page_size(limit)
        scope = (Certificate.status == "issued", Certificate.institution_id == institution_id)
        statement = select(Certificate).where(*scope)
        if query:
            statement = statement.where(_certificate_search(query))
        with self._db.reader() as session:
            if before is not None:
                position = cursor_position("c", before)
                last = None
                if len(position) <= 64 and all(c in "0123456789abcdef" for c in position):
                    last = session.execute(select(Certificate.id).where(Certificate.serial == position, *scope)).scalar_one_or_none()
                if last is None:
                    raise InvalidInput("before is not a cursor of this list: pass the next value of the previous page as it is", field="before")
                statement = statement.where(Certificate.id < last)
            rows = list(session.execute(statement.order_by(Certificate.id.desc()).limit(limit + 1)).scalars())
            items = [self._view(session, r) for r in rows[:limit]]
        return Page(items, page_cursor("c", rows[limit - 1].serial) if len(rows) > limit else None)

    def application(self, application_id: int, *, member_id: int | None = None) -> ApplicationView:
        with self._db.reader() as session:
            row = self._application(session, application_id)
            if member_id is not None and row.member_id != member_id:
                raise NotFound(f"no application {application_id}")
            return self._application_view(row)

    def open_application_of(self, member_id: int) -> ApplicationView | None:
        """The member's open application, if any (an expired one is reported as None)."""
        with self._db.reader() as session:
            row = session.execute(select(Application).where(Application.open_member_id == member_id)).scalar_one_or_none()
            if row is None or _aware(row.expires_at) <= self._clock.now():
                return None
            return self._application_view(row)

    # -- applications --------------------------------------------------------------------------

    def _application(self, session: Session, application_id: int, *, lock: bool = False) -> Application:
        query = select(Application).where(Application.id == application_id)
        if lock:
            query = query.with_for_update()
        row = session.execute(query).scalar_one_or_none()
        if row is None:
            raise NotFound(f"no application {application_id}")
        return row

    def _application_view(self, row: Application) -> ApplicationView:
        evidence = json.loads(row.evidence_json)
        missing = (
            self._registrar.policy.missing(POLICY_PURPOSE[row.kind], evidence, now=self._clock.now())
            if row.status == "created" and row.kind != "renew"
            else []
        )
        return ApplicationView(
            row.id, row.member_id, row.kind, row.product, row.status, row.target_serial, row.result_serial,
            _aware(row.expires_at), missing,
        )

    def _expire_stale(self, session: Session, member_id: int, now: dt.datetime) -> None:
        stale = session.execute(
            select(Application).where(Application.open_member_id == member_id).with_for_update()
        ).scalar_one_or_none()
        if stale is not None and _aware(stale.expires_at) <= now:
            stale.status = "expired"
            stale.open_member_id = None
            stale.updated_at = now
            audit.append(
                session, action="application.expired", actor="system", subject_type="application", subject_id=stale.id,
                now=now, institution_id=stale.institution_id,
            )

    def _active_financial(self, session: Session, person_index: str, now: dt.datetime) -> Certificate | None:
        holder = session.execute(
            select(HolderCertificate).where(HolderCertificate.active_financial_person == person_index)
        ).scalar_one_or_none()
        if holder is None:
            return None
        row = session.get(Certificate, holder.certificate_id)
        if row is None or (self._status_of(row, now) != "active" and not _on_hold(row)):
            return None
        return row

    def _latest_of_person(self, session: Session, person_index: str, product: str) -> Certificate | None:
        return session.execute(
            select(Certificate)
            .join(HolderCertificate, HolderCertificate.certificate_id == Certificate.id)
            .where(HolderCertificate.person_index == person_index, HolderCertificate.product == product)
            .order_by(Certificate.id.desc())
        ).scalars().first()

    def open_application(
        self,
        member_id: int,
        kind: str,
        *,
        product: str = "financial",
        reason: str | None = None,
        target_serial: str | None = None,
        actor: str,
    ) -> ApplicationView:
        if kind not in KINDS:
            raise InvalidInput(f"application kind must be one of {', '.join(KINDS)}", field="kind")
        if product not in self._ca.profiles:
            raise InvalidInput("product must be financial or joint", field="product")
        if kind == "reissue":
            reason = reason or "lost"
            if reason not in REISSUE_REASONS:
                raise InvalidInput(f"reissue reason must be one of {', '.join(REISSUE_REASONS)}", field="reason")
        now = self._clock.now()
        person = self._registrar.person_index(member_id)
        try:
            with self._db.transaction() as session:
                member = session.get(Member, member_id, with_for_update=True)
                if member is None:
                    raise NotFound(f"no member {member_id}")
                self._expire_stale(session, member_id, now)
                session.flush()
                if session.execute(select(Application.id).where(Application.open_member_id == member_id)).first():
                    raise Conflict("this member already has an open application: finish or cancel it first")
                target = self._target_for(session, kind, product, person, member, target_serial, now)
                row = Application(
                    member_id=member_id,
                    institution_id=member.institution_id,
                    kind=kind,
                    product=target.product if target is not None else product,
                    status="created",
                    reason=reason,
                    target_serial=target.serial if target is not None else None,
                    evidence_json="[]",
                    open_member_id=member_id,
                    created_at=now,
                    expires_at=now + self._ttl,
                    updated_at=now,
                )
                session.add(row)
                session.flush()
                audit.append(
                    session, action="application.created", actor=actor, subject_type="application", subject_id=row.id,
                    now=now, institution_id=member.institution_id,
                    details={"kind": kind, "product": row.product, "member_id": member_id, "target": row.target_serial},
                )
                return self._application_view(row)
        except IntegrityError:
            raise Conflict("this member already has an open application: finish or cancel it first") from None

    def _target_for(
        self, session: Session, kind: str, product: str, person: str, member: Member, target_serial: str | None, now: dt.datetime
    ) -> Certificate | None:
        if kind == "issue":
            held = self._active_financial(session, person, now) if product == "financial" else None
            if held is not None and _on_hold(held):
                raise Conflict(
                    f"this person's financial certificate {held.serial} is on hold (효력 정지): have the institution "
                    "restore it, or reissue it (재발급)"
                )
            if held is not None:
                raise Conflict(
                    "this person already holds an active financial certificate (one per person): "
                    "reissue it (재발급) or register it at this institution (타기관 인증서 등록)"
                )
            return None
        if target_serial is not None:
            serial = normalize_serial(target_serial)
            target = session.execute(select(Certificate).where(Certificate.serial == serial, Certificate.status == "issued")).scalar_one_or_none()
            holder = session.get(HolderCertificate, target.id) if target is not None else None
            if target is None or holder is None or holder.person_index != person:
                raise NotFound(f"no certificate {serial} of this person")
        elif kind == "reissue":
            target = self._latest_of_person(session, person, product)
            if target is None:
                raise NotFound(f"this person has no {product} certificate to reissue")
        else:
            raise InvalidInput(f"a {kind} application names the certificate (serial)", field="serial")
        replacement = _replacement_of(session, target.serial) if kind in ("reissue", "renew") else None
        if replacement is not None:
            # Said before identity is proved: the CA used to sign, only for the store to refuse it
            # ("another request replaced this certificate first"), spending the holder's codes.
            newest = replacement
            for _ in range(100):  # the end of the chain of replacements: the one to use now
                following = _replacement_of(session, newest)
                if following is None:
                    break
                newest = following
            raise Conflict(
                f"certificate {target.serial} is not active: it was already replaced by {replacement}"
                + (f" (now replaced by {newest})" if newest != replacement else "") + f"; {kind} {newest} instead"
            )
        status = self._status_of(target, now) if kind in ("renew", "register") else "active"
        if kind == "renew" and status == "expired":
            raise Conflict(f"certificate {target.serial} is not active: it has expired, so reissue it (재발급, reason expired)")
        if status != "active":
            raise Conflict(f"certificate {target.serial} is not active" + (": it is on hold (효력 정지)" if _on_hold(target) else ""))
        if kind == "renew":
            holder = session.get(HolderCertificate, target.id)
            if holder is not None and holder.cloud_key_id and self._vault.status(holder.cloud_key_id).state == "locked":
                # Said before an application is opened: a renewal is proved with the PIN, which
                # a locked key no longer takes.
                raise Locked(f"certificate {target.serial} is locked after too many wrong PINs: reissue it (재발급, reason locked)")
            left = _aware(target.not_after) - now
            if left > self._renewal_window:
                raise PolicyViolation(
                    f"renewal opens {self._renewal_window.days} days before expiry (this certificate has {left.days} days left)"
                )
        if kind == "register":
            if target.product != "financial":
                raise InvalidInput("only financial certificates are registered at other institutions", field="serial")
            if target.institution_id == member.institution_id:
                raise Conflict(f"certificate {target.serial} was issued through this institution: it is already usable at this institution")
            if session.execute(
                select(CertificateRegistration.id).where(
                    CertificateRegistration.serial == target.serial, CertificateRegistration.institution_id == member.institution_id
                )
            ).first():
                raise Conflict("this certificate is already usable at this institution")
        return target

    def cancel(
        self, application_id: int, *, actor: str, member_id: int | None = None, institution_id: int | None = None
    ) -> ApplicationView:
        """Cancel an open application: by its member, or forced by an operator of its institution."""
        now = self._clock.now()
        with self._db.transaction() as session:
            row = self._application(session, application_id, lock=True)
            if (member_id is not None and row.member_id != member_id) or (
                institution_id is not None and row.institution_id != institution_id
            ):
                raise NotFound(f"no application {application_id}")
            if row.status not in OPEN_STATUSES:
                raise Conflict(f"application {application_id} is {row.status}")
            row.status, row.open_member_id, row.updated_at = "cancelled", None, now
            audit.append(
                session, action="application.cancelled", actor=actor, subject_type="application", subject_id=row.id,
                now=now, institution_id=row.institution_id,
            )
            return self._application_view(row)

    def _open(self, session: Session, application_id: int, now: dt.datetime, *, member_id: int | None) -> Application:
        row = self._application(session, application_id, lock=True)
        if member_id is not None and row.member_id != member_id:
            raise NotFound(f"no application {application_id}")
        if row.status in OPEN_STATUSES and _aware(row.expires_at) <= now:
            row.status, row.open_member_id, row.updated_at = "expired", None, now
            audit.append(
                session, action="application.expired", actor="system", subject_type="application", subject_id=row.id,
                now=now, institution_id=row.institution_id,
            )
            raise _Expired(application_id)
        if row.status not in OPEN_STATUSES:
            raise Conflict(f"application {application_id} is {row.status}")
        return row

    def verify(self, application_id: int, evidence: list[Evidence], *, actor: str, member_id: int | None = None) -> Collection | ApplicationView:
        """Check the evidence against the institution's assurance policy.

        Issue, reissue and renew applications become ``verified`` and return the reference
        number and authorization code (shown once); a registration completes at once.
        """
        now = self._clock.now()
        try:
            with self._db.transaction() as session:
                row = self._open(session, application_id, now, member_id=member_id)
                if row.status != "created":
                    raise Conflict(f"application {application_id} is already verified")
                own = [e for e in evidence if str(e.get("member_id", e.get("credential_id"))) == str(row.member_id) or e.get("member_id") == row.member_id]
                if row.kind != "renew":
                    missing = self._registrar.policy.missing(POLICY_PURPOSE[row.kind], own, now=now)
                    if missing:
                        raise VerificationFailed("identity not yet verified: still needed " + ", ".join(missing))
                row.evidence_json = json.dumps(own)
                row.updated_at = now
                if row.kind == "register":
                    self._complete_registration(session, row, now, actor)
                    return self._application_view(row)
                reference = f"{secrets.randbelow(10**12):012d}"
                code = "-".join(secrets.token_hex(2).upper() for _ in range(4))
                row.status = "verified"
                row.reference_number = reference
                row.authorization_code_hash = _code_hash(code)
                audit.append(
                    session, action="application.verified", actor=actor, subject_type="application", subject_id=row.id,
                    now=now, institution_id=row.institution_id,
                    details={"methods": sorted({str(e.get("method")) for e in own})},
                )
                return Collection(row.id, reference, code)
        except _Expired:
            raise Conflict(f"application {application_id} expired; start again") from None

    def _complete_registration(self, session: Session, row: Application, now: dt.datetime, actor: str) -> None:
        if row.target_serial is None:
            raise InvalidInput("a registration names the certificate (serial)", field="serial")
        session.add(CertificateRegistration(serial=row.target_serial, institution_id=row.institution_id, member_id=row.member_id, created_at=now))
        row.status, row.open_member_id, row.result_serial = "completed", None, row.target_serial
        audit.append(
            session, action="certificate.registered", actor=actor, subject_type="certificate", subject_id=row.target_serial,
            now=now, institution_id=row.institution_id, details={"member_id": row.member_id},
        )

    # -- collection (issuance) ---------------------------------------------------------------------

    def collect(
        self,
        reference_number: str,
        authorization_code: str,
        *,
        csr_pem: bytes | str | None = None,
        random_num: bytes | None = None,
        pin: str | None = None,
        renewal_proof: bytes | None = None,
        actor: str,
    ) -> IssuedToHolder:
        """Issue the certificate of a verified application (인증서 다운로드 및 저장).

        File storage: ``csr_pem`` (proof of possession of the new key) and the 20-byte
        ``random_num`` kept with the key (for the VID). Cloud storage: ``pin`` — the key is
        generated in the vault. A file renewal also needs ``renewal_proof``: the CSR's DER
        signed (PKCS#1 v1.5, SHA-256) with the current certificate's key; a cloud renewal's
        PIN unlocks the current key.
        """
        now = self._clock.now()
        with self._db.single_reads() as connection:
            # One statement: the application with its member and institution (checked again,
            # under lock, in the storing transaction). Holders type the reference number as it
            # was shown; spaces and hyphens between its digits are theirs. Anything else names
            # no application and must not reach the database (PostgreSQL refuses a NUL in text).
            reference = _REFERENCE_SEPARATORS.sub("", str(reference_number))
            row = (
                connection.execute(_APPLICANT_BY_REFERENCE, {"reference_number": reference}).one_or_none()
                if _REFERENCE_NUMBER.fullmatch(reference)
                else None
            )
            if row is None or row.authorization_code_hash is None or not hmac.compare_digest(
                row.authorization_code_hash, _code_hash(str(authorization_code).strip().upper())
            ):
                raise VerificationFailed("unknown reference number or wrong authorization code")
            if row.status != "verified":
                raise Conflict(f"application {row.id} is {row.status}")
            if _aware(row.expires_at) <= now:
                raise Conflict(f"application {row.id} expired; start again")
            applicant = self._applicant_of(row)
            application_id, member_id, kind, target_serial = (
                applicant.application_id, applicant.member_id, applicant.kind, applicant.target_serial,
            )
            birth_date = applicant.birth_date
            target_holder = (
                connection.execute(
                    select(HolderCertificate.cloud_key_id).where(HolderCertificate.serial == target_serial)
                ).one_or_none()
                if target_serial
                else None
            )
            target_der = (
                connection.execute(select(Certificate.der).where(Certificate.serial == target_serial)).scalar_one_or_none()
                if target_serial
                else None
            )

        if (csr_pem is None) == (pin is None):
            raise InvalidInput("collect with either a CSR (file storage) or a PIN (cloud storage)", field="storage")
        storage = "cloud" if pin is not None else "file"
        if storage not in self.storage_choices(applicant.product):
            # Refused before anything is made: the application stays verified for a retry.
            raise PolicyViolation(
                "this service keeps financial certificates in the cloud: collect it with a 6-digit PIN", field="storage"
            )
        created_key_id: str | None = None
        if storage == "file":
            public_key = _public_key_from_csr(csr_pem)  # type: ignore[arg-type]
            if random_num is None or len(random_num) != 20:
                raise InvalidInput("file storage needs the 20-byte randomNum kept with the key (hex)", field="random_num")
            if kind == "renew":
                _check_renewal_proof(target_der, csr_pem, renewal_proof)  # type: ignore[arg-type]
        else:
            if kind == "renew":
                if target_holder is None or target_holder.cloud_key_id is None:
                    raise InvalidInput("this certificate's key is not in the cloud: renew with a key file", field="storage")
                self._vault.verify_pin(target_holder.cloud_key_id, pin, actor=actor)  # type: ignore[arg-type]
            random_num = secrets.token_bytes(20)
            handle = self._vault.create_key(member_id, pin, birth_date, actor=actor)  # type: ignore[arg-type]
            created_key_id, public_key = handle.key_id, handle.public_key

        try:
            return self._issue_for_application(
                application_id, public_key=public_key, storage=storage, key_id=created_key_id,
                random_num=random_num, actor=actor, applicant=applicant,
            )
        except (FincertError, IntegrityError):
            if created_key_id is not None:
                self._discard_key(created_key_id, actor)
            raise

    def _applicant(self, session: Session, application_id: int) -> _Applicant:
        """What issuing for an application needs of it, its member and institution, read at once."""
        row = session.execute(_APPLICANT_BY_ID, {"application_id": application_id}).one_or_none()
        if row is None:
            raise NotFound(f"no application {application_id}")
        return self._applicant_of(row)

    def _applicant_of(self, row: Any) -> _Applicant:
        """An :data:`_APPLICANT` row as the in-memory applicant (the resident number decrypted)."""
        return _Applicant(
            application_id=row.id, member_id=row.member_id, kind=row.kind, product=row.product,
            target_serial=row.target_serial, reason=row.reason, member_name=row.member_name, birth_date=row.birth_date,
            institution_id=row.institution_id, institution_name=row.institution_name,
            # The blind person index, and the data key a cloud certificate's randomNum is
            # encrypted under; the resident number only for the VID, decrypted here.
            person=row.rrn_index, data_key=row.data_key,
            rrn_digits=self._registrar.resident_number_from(row.rrn_ciphertext, row.data_key, row.rrn_index).digits,
        )

    def _issue_for_application(
        self,
        application_id: int,
        *,
        public_key: rsa.RSAPublicKey,
        storage: str,
        key_id: str | None,
        random_num: bytes,
        actor: str,
        applicant: _Applicant | None = None,
    ) -> IssuedToHolder:
        """Have the CA sign, and in its storing transaction record everything the issuance changes.

        ``applicant`` is what the caller already read of the application (its status is
        checked again, under lock, in the storing transaction).
        """
        now = self._clock.now()
        if applicant is None:
            with self._db.reader() as session:
                applicant = self._applicant(session, application_id)
        member_id, kind, product, target_serial, reason = (
            applicant.member_id, applicant.kind, applicant.product, applicant.target_serial, applicant.reason,
        )
        member_name, institution_id, institution_name = applicant.member_name, applicant.institution_id, applicant.institution_name
        person, data_key = applicant.person, applicant.data_key
        identify = identify_data_other_name(member_name, applicant.rrn_digits, random_num)
        replaced: list[str | None] = [None]

        def finalize(session: Session, issued: IssuedCertificate) -> None:
            replacing = kind in ("reissue", "renew") and bool(target_serial)
            on_driver = not replacing and session.get_bind().dialect.name == "postgresql"
            if not on_driver:
                # Complete the application only if it is still verified: the UPDATE takes the
                # row lock, so of two concurrent collections exactly one matches.
                completed = session.execute(
                    _COMPLETE_APPLICATION,
                    {"application_id": application_id, "result_serial": issued.serial, "updated_at": now},
                )
                if completed.rowcount != 1:
                    raise Conflict(f"application {application_id} was completed by another request")
            if replacing:
                # Lock the certificate being replaced: a concurrent reissue waits here, then
                # sees that this one replaced it and fails with a conflict.
                old = session.execute(select(Certificate).where(Certificate.serial == target_serial).with_for_update()).scalar_one()
                if _was_replaced(session, target_serial):
                    raise Conflict("another request replaced this certificate first")
                if old.revoked_at is None or _on_hold(old):
                    revocation = REISSUE_REASONS.get(reason or "", "superseded") if kind == "reissue" else "superseded"
                    self._ca.revoke(target_serial, revocation, actor=actor, session=session)
                old_holder = session.execute(
                    select(HolderCertificate).where(HolderCertificate.serial == target_serial).with_for_update()
                ).scalar_one_or_none()
                if old_holder is not None:
                    old_holder.active_financial_person = None
                    if old_holder.cloud_key_id and old_holder.cloud_key_id != key_id:
                        self._vault.destroy(old_holder.cloud_key_id, session=session, actor=actor, reason="replaced")
                # The holder's registrations at other institutions (타기관 인증서 등록) follow the
                # certificate that replaces the registered one: they are the person's, not the key's
                # (except at the institution issuing the replacement, which holds it anyway).
                for registration in session.execute(
                    select(CertificateRegistration).where(
                        CertificateRegistration.serial == target_serial, CertificateRegistration.institution_id != institution_id
                    )
                ).scalars().all():
                    session.add(CertificateRegistration(
                        serial=issued.serial, institution_id=registration.institution_id,
                        member_id=registration.member_id, created_at=now,
                    ))
                session.flush()
                replaced[0] = target_serial
            holder = {
                "certificate_id": issued.id,
                "serial": issued.serial,
                "member_id": member_id,
                "institution_id": institution_id,
                "person_index": person,
                "product": product,
                "storage": storage,
                "active_financial_person": person if product == "financial" else None,
                "cloud_key_id": key_id,
                "random_num_ciphertext": (
                    self._registrar.encrypt_for_member(data_key, random_num, f"random-num/{issued.serial}")
                    if storage == "cloud"
                    else None
                ),
                "replaced_serial": replaced[0],
                "created_at": now,
            }
            if product == "financial" and not replacing:
                # A financial certificate that has expired no longer counts as the person's one
                # active certificate, but nothing clears its place when it expires: free it here.
                session.execute(
                    update(HolderCertificate)
                    .where(
                        HolderCertificate.active_financial_person == person,
                        HolderCertificate.certificate_id.in_(select(Certificate.id).where(Certificate.not_after <= now)),
                    )
                    .values(active_financial_person=None)
                )
            # The UNIQUE active_financial_person column refuses a second active financial
            # certificate of the same person.
            try:
                if on_driver:
                    # PostgreSQL, nothing replaced: the application's completion (only if still
                    # verified, under its row lock) and the holder's record in one statement.
                    completed = driver.execute(session, _COMPLETE_AND_RECORD_HOLDER_PG, {**holder, "application_id": application_id})
                    if completed.rowcount != 1:
                        raise Conflict(f"application {application_id} was completed by another request")
                else:
                    session.execute(_INSERT_HOLDER, holder)
            except IntegrityError:
                raise Conflict(
                    "this person already holds an active financial certificate: reissue it or register it at this institution"
                ) from None
            if key_id is not None:
                self._vault.bind_certificate(key_id, issued.serial, session=session, actor=actor)
            audit.append(
                session, action=f"application.{ISSUED_ACTIONS[kind]}",
                actor=actor, subject_type="application", subject_id=application_id, now=now, institution_id=institution_id,
                details={"serial": issued.serial, "storage": storage, "replaced": replaced[0]},
            )
            try:
                session.flush()
            except IntegrityError:
                raise Conflict(
                    "this person already holds an active financial certificate: reissue it or register it at this institution"
                ) from None

        subscriber_number = self._subscriber_number_of(target_serial) if kind in ("reissue", "renew") and target_serial else None
        try:
            issued = self._ca.issue(
                IssuanceRequest(
                    product=product,
                    public_key=public_key,
                    subject=SubjectIdentity(member_name, institution_name, subscriber_number),
                    member_id=member_id,
                    institution_id=institution_id,
                    identify_data=identify,
                    actor=actor,
                ),
                finalize=finalize,
            )
        except IntegrityError:
            raise Conflict("another request changed this holder's certificates at the same time; try again") from None
        hierarchy = self._ca.hierarchy()
        return IssuedToHolder(issued, [hierarchy.issuing, hierarchy.root], storage, replaced[0], random_num if storage == "cloud" else None)

    def _subscriber_number_of(self, serial: str) -> str | None:
        """The subscriber number in the CN of the certificate a renewal or reissue replaces: the
        replacement keeps it, so its subject (and NPKI folder) is the replaced one's."""
        with self._db.single_reads() as connection:
            der = connection.execute(select(Certificate.der).where(Certificate.serial == serial)).scalar_one_or_none()
        return subscriber_number_of(x509.load_der_x509_certificate(der)) if der else None

    def _discard_key(self, key_id: str, actor: str) -> None:
        with contextlib.suppress(FincertError):  # already destroyed: nothing usable is left
            self._vault.destroy(key_id, actor=actor, reason="issuance-failed")

    # -- revocation, notices, cloud use ----------------------------------------------------------

    def revoke(self, serial: str, reason: str, *, actor: str, member_id: int | None = None, institution_id: int | None = None) -> CertificateView:
        """Revoke by the holder (``member_id``) or an operator of the issuing institution
        (``institution_id``); with neither, by the CA's administrator, with any RFC 5280 reason."""
        if institution_id is not None and reason not in OPERATOR_REVOCATION_REASONS:
            # Before the lookup: the answer says nothing about another institution's serials.
            raise InvalidInput(f"an institution revokes with one of: {', '.join(OPERATOR_REVOCATION_REASONS)}", field="reason")
        serial = normalize_serial(serial)
        with self._db.transaction() as session:
            row = session.execute(select(Certificate).where(Certificate.serial == serial, Certificate.status == "issued")).scalar_one_or_none()
            holder = session.get(HolderCertificate, row.id) if row is not None else None
            if row is None or (member_id is not None and row.member_id != member_id) or (
                institution_id is not None and row.institution_id != institution_id
            ):
                raise NotFound(
                    f"no certificate {serial} of yours" if member_id is not None or institution_id is not None
                    else f"no issued certificate with serial {serial}"
                )
            if member_id is not None and reason not in HOLDER_REVOCATION_REASONS:
                raise InvalidInput(f"a holder revokes with one of: {', '.join(HOLDER_REVOCATION_REASONS)}", field="reason")
            self._ca.revoke(serial, reason, actor=actor, session=session)
            if holder is not None and reason != "certificateHold":
                # On hold the certificate keeps its holder's place and its cloud key: it may be restored.
                holder.active_financial_person = None
                if holder.cloud_key_id:
                    self._vault.destroy(holder.cloud_key_id, session=session, actor=actor, reason="revoked")
        return self.show(serial)

    def restore(self, serial: str, *, actor: str, institution_id: int | None = None) -> CertificateView:
        """Take a certificate off hold (효력 회복), by the CA's administrator or an operator of the
        issuing institution. Refused once it has expired: there is nothing left to restore."""
        self._ca.release_hold(serial, actor=actor, institution_id=institution_id)
        return self.show(serial)

    def notify_expiring(self, *, thresholds: tuple[int, ...] = NOTICE_THRESHOLDS) -> list[dict[str, Any]]:
        """Send each active certificate's expiry notice once per threshold (days before expiry)."""
        now = self._clock.now()
        sent: list[dict[str, Any]] = []
        horizon = now + dt.timedelta(days=max(thresholds))
        with self._db.reader() as session:
            rows = session.execute(
                select(Certificate.serial, Certificate.not_after, Certificate.member_id)
                .where(Certificate.status == "issued", Certificate.revoked_at.is_(None), Certificate.not_after <= horizon, Certificate.not_after > now)
            ).all()
        for serial, not_after, member_id in rows:
            left = _aware(not_after) - now
            due = [t for t in sorted(thresholds) if left <= dt.timedelta(days=t)]
            if not due or member_id is None:
                continue
            threshold = due[0]
            try:
                with self._db.transaction() as session:
                    session.add(ExpiryNotice(serial=serial, threshold_days=threshold, sent_at=now))
                    session.flush()
                    when = f"{left.days}일 뒤" if left.days >= 1 else "24시간 안에"
                    text = f"[fincert] 인증서({serial[:8]}…)가 {when} 만료됩니다. 만료 전에 갱신해 주세요."
                    self._registrar.send_notice(session, member_id, text)
                    audit.append(
                        session, action="certificate.expiry-notice", actor="system", subject_type="certificate", subject_id=serial,
                        now=now, details={"threshold_days": threshold},
                    )
                sent.append({"serial": serial, "threshold_days": threshold, "member_id": member_id})
            except IntegrityError:
                continue  # this threshold's notice went out already
        return sent

    def sign_with_cloud(
        self, serial: str, pin: str, content: bytes, *, member_id: int | None = None, actor: str, detached: bool = True
    ) -> CloudSignature:
        """Sign ``content`` (CMS) with a cloud certificate's key, unlocked by the PIN.

        A certificate used within its last ``cloud_auto_renew`` days is renewed automatically
        afterwards, on the same vault key: the PIN just proved possession.
        """
        from fincert.sign.cms import sign_cms_with  # the signature format lives in ``sign``

        # Whose certificate it is, first: another member learns nothing of its status.
        key_id = self.cloud_key_of(serial, member_id=member_id)
        view = self.show(serial)
        if view.status == "revoked" and view.revocation_reason == "certificateHold":
            raise Conflict(f"certificate {view.serial} is on hold (효력 정지): the institution can restore it")
        if view.status != "active":
            raise Conflict(f"certificate {view.serial} is {view.status}; reissue it")
        with self._db.reader() as session:
            der = session.execute(select(Certificate.der).where(Certificate.serial == view.serial)).scalar_one()
        certificate = x509.load_der_x509_certificate(der)
        hierarchy = self._ca.hierarchy()
        signature = sign_cms_with(
            content, raw_signer=self._vault.signer(key_id, pin), certificate=certificate,
            chain=[hierarchy.issuing, hierarchy.root], detached=detached,
        )
        renewed = None
        if self._auto_renew and view.not_after - self._clock.now() <= self._auto_renew:
            renewed = self._renew_cloud_in_place(view.serial, key_id, actor=actor).issued.serial
        return CloudSignature(signature, view.serial, self.cloud_random_num(view.serial), renewed)

    def _renew_cloud_in_place(self, serial: str, key_id: str, *, actor: str) -> IssuedToHolder:
        """Automatic renewal of a cloud certificate: a new certificate for the same vault key."""
        now = self._clock.now()
        with self._db.transaction() as session:
            holder = session.execute(select(HolderCertificate).where(HolderCertificate.serial == serial)).scalar_one()
            member_id, institution_id = holder.member_id, holder.institution_id
            if session.execute(select(Application.id).where(Application.open_member_id == member_id)).first():
                raise Conflict("an application is open for this member; automatic renewal waits")
            application = Application(
                member_id=member_id, institution_id=institution_id, kind="renew", product=holder.product,
                status="verified", reason="automatic", target_serial=serial, evidence_json=json.dumps(
                    [{"method": "pin", "verified_at": now.isoformat(), "credential_id": key_id}]
                ),
                open_member_id=member_id, created_at=now, expires_at=now + self._ttl, updated_at=now,
            )
            session.add(application)
            session.flush()
            audit.append(
                session, action="application.created", actor=actor, subject_type="application", subject_id=application.id,
                now=now, institution_id=institution_id, details={"kind": "renew", "automatic": True, "target": serial},
            )
            application_id = application.id
        return self._issue_for_application(application_id, public_key=self._vault.public_key(key_id), storage="cloud",
                                           key_id=key_id, random_num=self.cloud_random_num(serial), actor=actor)

    def cloud_key_of(self, serial: str, *, member_id: int | None = None) -> str:
        serial = normalize_serial(serial)
        with self._db.reader() as session:
            holder = session.execute(select(HolderCertificate).where(HolderCertificate.serial == serial)).scalar_one_or_none()
            if holder is None or holder.cloud_key_id is None or (member_id is not None and holder.member_id != member_id):
                raise NotFound(f"no cloud certificate {serial} of yours")
            return holder.cloud_key_id

    def cloud_random_num(self, serial: str) -> bytes:
        serial = normalize_serial(serial)
        with self._db.reader() as session:
            holder = session.execute(select(HolderCertificate).where(HolderCertificate.serial == serial)).scalar_one_or_none()
            if holder is None or holder.random_num_ciphertext is None:
                raise NotFound(f"no cloud certificate {serial}")
            member_id, blob = holder.member_id, holder.random_num_ciphertext
        return self._registrar.decrypt_for_member(member_id, blob, f"random-num/{serial}")


@dataclass(frozen=True)
class CloudSignature:
    """A CMS signature made with a cloud key, and the renewal its use may have triggered."""

    signature_der: bytes
    serial: str
    random_num: bytes
    renewed_serial: str | None


class _Expired(Exception):
    pass


#: A search of up to this many decimal digits is a member number (or a whole serial), not a part
#: of serials: nearly every serial holds some short run of digits, and the member would be lost
#: among them.
_MEMBER_NUMBER_DIGITS = 7


def _certificate_search(query: str) -> Any:
    """The condition of a certificate search (``CertificateLifecycle.certificates_page``): the
    serial contains it, is exactly it, or the member number is it. Matches nothing for text that
    can be none of these (so no such text, a NUL included, reaches the database)."""
    cleaned = query.strip().lower().replace(":", "")
    cleaned = cleaned[2:] if cleaned.startswith("0x") else cleaned
    conditions = []
    if cleaned and len(cleaned) <= 64 and all(c in "0123456789abcdef" for c in cleaned):
        if not (cleaned.isdigit() and len(cleaned) <= _MEMBER_NUMBER_DIGITS):
            conditions.append(Certificate.serial.contains(cleaned, autoescape=True))
        with contextlib.suppress(InvalidInput):
            conditions.append(Certificate.serial == normalize_serial(cleaned))
    if cleaned.isascii() and cleaned.isdigit() and 0 < int(cleaned) <= MAX_ID:
        conditions.append(Certificate.member_id == int(cleaned))
    return or_(*conditions) if conditions else false()


def _replacement_of(session: Session, serial: str) -> str | None:
    """The serial of the certificate that replaced ``serial`` (reissue or renewal), if any."""
    return session.execute(select(HolderCertificate.serial).where(HolderCertificate.replaced_serial == serial)).scalars().first()


def _was_replaced(session: Session, serial: str) -> bool:
    return session.execute(select(HolderCertificate.serial).where(HolderCertificate.replaced_serial == serial)).first() is not None


def _public_key_from_csr(csr_pem: bytes | str) -> rsa.RSAPublicKey:
    data = csr_pem.encode() if isinstance(csr_pem, str) else csr_pem
    try:
        csr = x509.load_pem_x509_csr(data) if b"-----BEGIN" in data else x509.load_der_x509_csr(data)
    except ValueError:
        raise InvalidInput("the certificate signing request is not a valid PKCS#10 CSR", field="csr") from None
    if not csr.is_signature_valid:
        raise VerificationFailed("the CSR's signature does not verify: no proof of possession of the key")
    key = csr.public_key()
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size != 2048:
        raise PolicyViolation("the key must be RSA-2048", field="csr")
    return key


def _check_renewal_proof(target_der: bytes | None, csr_pem: bytes | str, proof: bytes | None) -> None:
    """A file renewal proves possession of the current key: it signs the new CSR's DER."""
    if target_der is None or proof is None:
        raise VerificationFailed("renewal needs proof of possession of the current key")
    current = x509.load_der_x509_certificate(target_der).public_key()
    data = csr_pem.encode() if isinstance(csr_pem, str) else csr_pem
    csr = x509.load_pem_x509_csr(data) if b"-----BEGIN" in data else x509.load_der_x509_csr(data)
    if not isinstance(current, rsa.RSAPublicKey):
        raise VerificationFailed("the current certificate's key is not RSA")
    try:
        current.verify(proof, csr.public_bytes(serialization.Encoding.DER), padding.PKCS1v15(), hashes.SHA256())
    except Exception:
        raise VerificationFailed("the renewal proof was not signed by the current certificate's key") from None


__all__ = ["ApplicationView", "CertificateLifecycle", "CertificateView", "Collection", "IssuedToHolder"]
