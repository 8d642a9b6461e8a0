"""The signature services of a deployment: its TSA, signing, verification and an example bank.

Owns composing the pure ``fincert.sign`` modules with storage and the CA:

- ``TimeStampService``: the RFC 3161 authority at ``FINCERT_PUBLIC_URL/tsa``. Its certificate
  (critical EKU id-kp-timeStamping, under the root) is issued through the CA on first use; its
  serial numbers come from a database counter that each process advances by a block of
  ``TSA_SERIAL_BLOCK`` with one ``UPDATE ... RETURNING`` and then hands out in memory: unique
  across processes, strictly increasing within a process, and increasing across processes
  block by block (two processes interleave their blocks, never their serials' uniqueness).
- ``StoredCertificateStatus``: a ``RevocationSource`` answering from the certificates table
  (status, revocation time and reason of fincert-issued certificates) and the authorities
  table (the service's own CA, TSA and OCSP certificates).
- ``PresignedOcspStatus``: a ``RevocationSource`` answering from the VA's pre-signed OCSP
  responses held in memory, falling back to the responder and then the certificates table.
- ``SigningService``: opens a holder's key in any custody (NPKI folder, PKCS#12 file, cloud
  vault behind a PIN) and makes a CMS signature, time-stamped on request.
- ``SignatureVerifier``: judges a signature against the deployment's root, with status from
  the VA's pre-signed OCSP store (or the database), and confirms the holder's resident
  number through the VID when asked.
- ``RelyingParty``: the example bank: challenge login and signed transfer orders kept as
  evidence records.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asn1crypto import cms as asn1_cms
from asn1crypto import core as asn1_core
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from fincert.ca.authority import CertificateAuthority, Hierarchy, normalize_serial
from fincert.clock import Clock
from fincert.config import EXAMPLE_OID_ARC, FINCERT_OID_ARC
from fincert.errors import (
    ConfigurationError,
    Conflict,
    FincertError,
    InvalidInput,
    NotFound,
    PolicyViolation,
    VerificationFailed,
)
from fincert.formats.npki import check_npki_folder, read_npki_folder
from fincert.formats.pkcs12 import read_pkcs12
from fincert.formats.vid import vid_matches
from fincert.keys.backend import KeyBackend, KeyType, LabelledKey
from fincert.ra.identity import parse_rrn
from fincert.sign.cms import sign_cms_with, timestamper_for_url
from fincert.sign.raw_signer import PrivateKeySigner, RawSigner
from fincert.sign.tsa import InProcessTimeStamper, TimeStampAuthority
from fincert.sign.verify import CertificateStatus, PathCache, RevocationSource, SignatureReport, verify_cms
from fincert.storage import audit
from fincert.storage.db import Database
from fincert.storage.models import Authority, Certificate
from fincert.storage.models_sign import RelyingPartyChallenge, SignatureEvidence, TsaSerialCounter
from fincert.va.ocsp import check_responder_certificate, issuer_hashes

if TYPE_CHECKING:
    from fincert.keys.vault import CloudKeyVault
    from fincert.va.responder import OcspResponder



# --- the time-stamp authority ------------------------------------------------------------------


class TimeStampSettings(BaseSettings):
    """TSA settings from ``FINCERT_TSA_*``: policy OID, accuracy, certificate lifetime."""

    model_config = SettingsConfigDict(env_prefix="FINCERT_TSA_", extra="ignore")

    #: Arcs must fit 32 bits: pkilint's decoder and some openssl builds refuse larger ones.
    policy_oid: str = f"{FINCERT_OID_ARC}.2.1"
    accuracy_seconds: int = Field(default=1, ge=1, le=3600)
    certificate_validity_days: int = Field(default=5 * 365, ge=1, le=20 * 365)


TSA_COUNTER = "tsa"
#: Serials a process reserves per database round trip. RFC 3161 §2.4.2 asks for serials unique
#: over the TSA's lifetime, which blocks keep; a process that stops leaves the rest of its block
#: unused (gaps are allowed), and tokens from two processes are ordered per block, not per token.
TSA_SERIAL_BLOCK = 1000
_counters = TsaSerialCounter.__table__
_RESERVE_SERIALS = (
    update(_counters)
    .where(_counters.c.name == TSA_COUNTER)
    .values(last_serial=_counters.c.last_serial + bindparam("block", type_=_counters.c.last_serial.type))
    .returning(_counters.c.last_serial)
)


class TimeStampService:
    """The deployment's RFC 3161 time-stamp authority.

    ``respond`` never raises for what a client sent: malformed or unacceptable requests get a
    rejection ``TimeStampResp`` (see ``fincert.sign.tsa``). The TSA certificate is issued by
    the CA the first time a token is needed, or again when the active one has expired.
    """

    def __init__(
        self,
        db: Database,
        ca: CertificateAuthority,
        keys: KeyBackend,
        clock: Clock,
        settings: TimeStampSettings,
        *,
        key_type: KeyType,
        organization: str,
        production: bool = False,
        serial_block: int = TSA_SERIAL_BLOCK,
    ) -> None:
        if serial_block < 1:
            raise ConfigurationError("the TSA serial block must hold at least one serial")
        if production and settings.policy_oid.startswith(EXAMPLE_OID_ARC):
            raise ConfigurationError("production mode needs FINCERT_TSA_POLICY_OID set to your own policy OID")
        self._db = db
        self._ca = ca
        self._keys = keys
        self._clock = clock
        self._settings = settings
        self._key_type = key_type
        self._organization = organization
        self._lock = threading.Lock()
        self._authority: TimeStampAuthority | None = None
        self._certificate: x509.Certificate | None = None
        self._counter_ready = False
        self._serial_lock = threading.Lock()
        self._serial_block = serial_block
        # The next serial to hand out and the end (exclusive) of the reserved block.
        self._serial_next = self._serial_end = 0

    @property
    def policy_oid(self) -> str:
        return self._settings.policy_oid

    def respond(self, request_der: bytes) -> bytes:
        """Answer one DER TimeStampReq with a DER TimeStampResp."""
        return self.authority().respond(request_der)

    def timestamper(self) -> TimeStamper:
        """A pyHanko ``TimeStamper`` that asks this TSA in-process (for ``sign_cms``)."""
        return InProcessTimeStamper(self.authority())

    @property
    def certificate(self) -> x509.Certificate:
        self.authority()
        assert self._certificate is not None
        return self._certificate

    def authority(self) -> TimeStampAuthority:
        now = self._clock.now()
        authority = self._authority
        if authority is not None and self._certificate is not None and self._certificate.not_valid_after_utc > now:
            return authority
        with self._lock:
            if self._authority is None or self._certificate is None or self._certificate.not_valid_after_utc <= now:
                self._ensure_counter()
                certificate, label = self._tsa_certificate(now)
                self._authority = TimeStampAuthority(
                    certificate,
                    [],
                    LabelledKey(self._keys, label).sign,  # SHA-256, the TSA's digest: wherever the key lives
                    self._settings.policy_oid,
                    self._settings.accuracy_seconds,
                    self._clock,
                    self.next_serial,
                )
                self._certificate = certificate
            return self._authority

    def _tsa_certificate(self, now: dt.datetime) -> tuple[x509.Certificate, str]:
        active = self._ca.active_service_certificate("tsa")
        # A certificate within a day of its end is replaced, so tokens never outlive their signer's
        # certificate by accident at the boundary.
        if active is not None and active[1].not_valid_after_utc > now + dt.timedelta(days=1) and self._keys.exists(active[2]):
            return active[1], active[2]
        _, certificate, label = self._ca.issue_service_certificate(
            "tsa",
            key_type=self._key_type,
            validity=dt.timedelta(days=self._settings.certificate_validity_days),
            common_name=f"{self._organization} Time-Stamp Authority",
        )
        return certificate, label

    def _ensure_counter(self) -> None:
        if self._counter_ready:
            return
        dialect = self._db.dialect
        module = postgresql if dialect == "postgresql" else sqlite
        statement = module.insert(_counters).values(name=TSA_COUNTER, last_serial=0).on_conflict_do_nothing()
        with self._db.engine.begin() as connection:
            connection.execute(statement)
        self._counter_ready = True

    def next_serial(self) -> int:
        """Take the next serial from this process's block, reserving a new block when it is used up.

        A block is reserved with one committed ``UPDATE ... RETURNING`` (a row lock on PostgreSQL,
        the database write lock on SQLite), so no two processes hold overlapping blocks.
        """
        with self._serial_lock:
            if self._serial_next >= self._serial_end:
                self._ensure_counter()
                with self._db.engine.begin() as connection:
                    last = int(connection.execute(_RESERVE_SERIALS, {"block": self._serial_block}).scalar_one())
                self._serial_next, self._serial_end = last - self._serial_block + 1, last + 1
            serial = self._serial_next
            self._serial_next += 1
            return serial


# --- certificate status from storage -----------------------------------------------------------

#: RFC 5280 reason names as stored (``va.reasons``) -> asn1crypto's names used by ``sign.verify``.
_REASON_NAMES = {
    "unspecified": "unspecified",
    "keyCompromise": "key_compromise",
    "cACompromise": "ca_compromise",
    "affiliationChanged": "affiliation_changed",
    "superseded": "superseded",
    "cessationOfOperation": "cessation_of_operation",
    "certificateHold": "certificate_hold",
    "privilegeWithdrawn": "privilege_withdrawn",
    "aACompromise": "aa_compromise",
}

_certificates = Certificate.__table__
_STATUS_BY_SERIAL = select(
    _certificates.c.der, _certificates.c.status, _certificates.c.revoked_at, _certificates.c.revocation_reason
).where(_certificates.c.serial == bindparam("serial"))


def _has_host(url: str) -> bool:
    """Whether ``url`` parses and names a host: "http://" or "http://[::1/tsa" is a typing
    mistake to report as such, not a TSA that could not be reached."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        return False
    return bool(parts.hostname)


def _utc(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None:
        return None
    # SQLite hands back naive datetimes; everything fincert stores is UTC.
    return moment.replace(tzinfo=dt.timezone.utc) if moment.tzinfo is None else moment.astimezone(dt.timezone.utc)


_GOOD = CertificateStatus("good")
_UNKNOWN = CertificateStatus("unknown")


class StoredCertificateStatus:
    """A ``RevocationSource`` over this deployment's database.

    End-entity certificates are looked up by serial in ``certificates`` and must match the
    stored DER; the service's own CA, TSA and OCSP certificates (``authorities``) are good.
    Anything else is ``unknown``: this CA cannot speak for it.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        #: The service's own certificates by serial, reloaded when an unknown one turns up.
        self._authorities: dict[int, x509.Certificate] = {}
        self._lock = threading.Lock()

    def status(self, cert: x509.Certificate, issuer: x509.Certificate) -> CertificateStatus:
        # The service's own certificates are on every path: answer them from memory.
        if self.is_authority(cert):
            return _GOOD
        der = cert.public_bytes(serialization.Encoding.DER)
        with self._db.engine.connect() as connection:
            row = connection.execute(_STATUS_BY_SERIAL, {"serial": format(cert.serial_number, "x")}).first()
        if row is not None and row.der == der and row.status == "issued":
            if row.revoked_at is not None:
                return CertificateStatus(
                    "revoked",
                    revoked_at=_utc(row.revoked_at),
                    reason=_REASON_NAMES.get(row.revocation_reason or "", "unspecified"),
                )
            return CertificateStatus("good")
        self._reload_authorities()
        if self.is_authority(cert):
            return _GOOD
        return _UNKNOWN

    def is_authority(self, cert: x509.Certificate) -> bool:
        """Whether ``cert`` is one of the service's own certificates known to this process (memory only)."""
        known = self._authorities.get(cert.serial_number)
        return known is not None and known == cert

    def _reload_authorities(self) -> None:
        with self._db.reader() as session:
            ders = list(session.execute(select(Authority.certificate_der)).scalars())
        authorities = {}
        for der in ders:
            certificate = x509.load_der_x509_certificate(der)
            authorities[certificate.serial_number] = certificate
        with self._lock:
            self._authorities = authorities


@dataclass(frozen=True, slots=True)
class _SignedStatus:
    """One pre-signed OCSP response, checked: what it says and for how long."""

    issuer: x509.Certificate
    serial: int
    status: CertificateStatus
    this_update: dt.datetime
    next_update: dt.datetime


#: Distinct responses whose reading is remembered (a few hundred bytes each).
_SIGNED_STATUS_ENTRIES = 100_000


class PresignedOcspStatus:
    """A ``RevocationSource`` answering from the VA's pre-signed OCSP responses.

    For a certificate of the issuing CA the VA's responder answers for, the status is what the
    signed response the responder holds in memory says (``OcspResponder.held_response``). Each
    distinct response is read once, by its DER, with the checks a relying party makes (it names
    this certificate and issuer, it is signed by the issuer or a responder certificate the
    issuer delegated to, see ``va.ocsp.check_responder_certificate``), and then served while the
    clock is within its thisUpdate..nextUpdate. On a miss the responder is asked as an OCSP
    client asks it (``respond``: its table, else a live signature; either is then held for the
    next call). When no responder certificate exists yet, the certificate belongs to another
    issuer, or the answer cannot be used, the certificates table decides
    (``StoredCertificateStatus``), which never says ``good`` for a certificate the CA does not
    know. The service's own certificates are good, as there.

    Freshness: a revocation made in this process re-signs the held response before the CA's
    ``revoke`` returns (the VA's revocation listener, ``va.service``). One made in another
    process is seen here once the held copy ages out (``va.responder.MEMORY_TTL``, 10 s) and is
    re-read from the table, which the revoking process re-signed; if that process had no VA,
    once the next refresh pass (``va.upkeep``, every 30 s where the API serves) re-signs it.
    Revocation times come from the response, in whole seconds (RFC 6960 GeneralizedTime).
    """

    def __init__(self, responder: Callable[[], OcspResponder], stored: StoredCertificateStatus, clock: Clock) -> None:
        self._responder = responder
        self._stored = stored
        self._clock = clock
        self._signed: dict[bytes, _SignedStatus | None] = {}
        self._lock = threading.Lock()

    def status(self, cert: x509.Certificate, issuer: x509.Certificate) -> CertificateStatus:
        if self._stored.is_authority(cert):
            return _GOOD
        responder = self._responder()
        serial = cert.serial_number
        now = self._clock.now()
        held = responder.held_response(issuer, serial)
        if held is not None:
            found = self._answer(held.der, issuer, serial, now)
            if found is not None:
                return found
        active = responder.responder(issue=False)
        if active is None or active.signer.issuer_cert != issuer:
            return self._stored.status(cert, issuer)
        request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build()
        answer = responder.respond(request.public_bytes(serialization.Encoding.DER))
        found = self._answer(answer.der, issuer, serial, now)
        return found if found is not None else self._stored.status(cert, issuer)

    def _answer(self, der: bytes, issuer: x509.Certificate, serial: int, now: dt.datetime) -> CertificateStatus | None:
        try:
            signed = self._signed[der]
        except KeyError:
            signed = _read_signed_status(der, issuer)
            with self._lock:
                if len(self._signed) >= _SIGNED_STATUS_ENTRIES:
                    self._signed.clear()
                self._signed[der] = signed
        if signed is None or signed.serial != serial or not signed.this_update <= now < signed.next_update:
            return None
        if signed.issuer is not issuer and signed.issuer != issuer:
            return None
        return signed.status


def _read_signed_status(der: bytes, issuer: x509.Certificate) -> _SignedStatus | None:
    """The status one nonce-less single OCSP response about a certificate of ``issuer`` states,
    once its signature and signer are checked; ``None`` for anything else."""
    try:
        response = ocsp.load_der_ocsp_response(der)
        if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
            return None
        singles = list(response.responses)
        if len(singles) != 1:
            return None
        single = singles[0]
        name_hash, key_hash = issuer_hashes(issuer, "sha1")
        if not isinstance(single.hash_algorithm, hashes.SHA1) or (single.issuer_name_hash, single.issuer_key_hash) != (name_hash, key_hash):
            return None
        next_update = single.next_update_utc
        if next_update is None:
            return None
        signer = response.certificates[0] if response.certificates else issuer
        if signer != issuer:
            check_responder_certificate(signer, issuer)
            if not signer.not_valid_before_utc <= single.this_update_utc <= signer.not_valid_after_utc:
                return None
        expected_id = x509.SubjectKeyIdentifier.from_public_key(signer.public_key()).digest  # type: ignore[arg-type]
        if response.responder_key_hash != expected_id and response.responder_name != signer.subject:
            return None
        key = signer.public_key()
        algorithm = response.signature_hash_algorithm
        if isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
            key.verify(response.signature, response.tbs_response_bytes, ec.ECDSA(algorithm))
        elif isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
            key.verify(response.signature, response.tbs_response_bytes, padding.PKCS1v15(), algorithm)
        else:
            return None
    except (ValueError, TypeError, InvalidSignature, FincertError):
        return None
    if single.certificate_status == ocsp.OCSPCertStatus.REVOKED:
        reason = single.revocation_reason
        status = CertificateStatus(
            "revoked",
            revoked_at=single.revocation_time_utc,
            reason=_REASON_NAMES.get(reason.value, "unspecified") if reason is not None else "unspecified",
        )
    elif single.certificate_status == ocsp.OCSPCertStatus.GOOD:
        status = _GOOD
    else:
        status = _UNKNOWN
    return _SignedStatus(issuer, single.serial_number, status, single.this_update_utc, next_update)


# --- signing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningKey:
    """A holder's key, opened: what signs, its certificate, the CA certificates to embed."""

    signer: RawSigner
    certificate: x509.Certificate
    chain: list[x509.Certificate]
    #: The NPKI ``randomNum`` (the VID secret the holder may hand to a relying party).
    random_num: bytes | None
    custody: str  # npki | pkcs12 | cloud


@dataclass(frozen=True)
class SignedDocument:
    signature_der: bytes
    signer_subject: str
    signer_serial: str
    random_num: bytes | None
    timestamp: dt.datetime | None
    attached: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "signer": self.signer_subject,
            "signer_serial": self.signer_serial,
            "random_num": self.random_num.hex() if self.random_num is not None else None,
            "timestamp": self.timestamp.isoformat() if self.timestamp is not None else None,
            "attached": self.attached,
        }


class SigningService:
    """Opens a holder's key wherever it is kept and makes CMS signatures with it."""

    def __init__(
        self,
        ca: CertificateAuthority,
        clock: Clock,
        tsa: Callable[[], TimeStampService],
        cloud_keys: Callable[[str, str], tuple[RawSigner, x509.Certificate]] | None = None,
        status: RevocationSource | None = None,
    ) -> None:
        self._ca = ca
        self._clock = clock
        self._tsa = tsa
        self._cloud_keys = cloud_keys
        self._status = status

    # Keys ------------------------------------------------------------------------------------

    def npki_key(self, cert_dir: Path, password: str) -> SigningKey:
        """The key in an NPKI certificate folder (``signCert.der`` + ``signPri.key``, any form)."""
        check_npki_folder(Path(cert_dir))  # the error names the path
        certificate, private = read_npki_folder(Path(cert_dir), password)
        key = private.private_key
        if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
            raise InvalidInput("the NPKI key is neither RSA nor EC")
        return SigningKey(PrivateKeySigner(key), certificate, self._chain_for(certificate, []), private.random_num, "npki")

    def pkcs12_key(self, data: bytes, password: str) -> SigningKey:
        """The key in a PKCS#12 file; the file's CA certificates are embedded too."""
        key, certificate, others = read_pkcs12(data, password)
        if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
            raise InvalidInput("the PKCS#12 key is neither RSA nor EC")
        return SigningKey(PrivateKeySigner(key), certificate, self._chain_for(certificate, others), None, "pkcs12")

    def cloud_key(self, serial: str, pin: str) -> SigningKey:
        """A financial certificate's cloud key, unlocked by its PIN (the vault counts failures)."""
        if self._cloud_keys is None:
            raise ConfigurationError("this deployment has no cloud key vault")
        signer, certificate = self._cloud_keys(serial, pin)
        return SigningKey(signer, certificate, self._chain_for(certificate, []), None, "cloud")

    def _chain_for(self, certificate: x509.Certificate, given: list[x509.Certificate]) -> list[x509.Certificate]:
        chain = [c for c in given if c != certificate]
        try:
            hierarchy: Hierarchy | None = self._ca.hierarchy()
        except NotFound:
            hierarchy = None
        if hierarchy is not None and certificate.issuer == hierarchy.issuing.subject and hierarchy.issuing not in chain:
            chain.append(hierarchy.issuing)
        return chain

    # Signing ---------------------------------------------------------------------------------

    def _check_usable(self, certificate: x509.Certificate) -> None:
        status = None
        if self._status is not None:
            issuing = self._ca.hierarchy().issuing
            if certificate.issuer == issuing.subject:  # this CA speaks only for its own
                status = self._status.status(certificate, issuing)
        why = _usable_or_why(certificate, self._clock.now(), status)
        if why is not None:
            raise Conflict(why)

    def timestamper(self, tsa: str | None) -> TimeStamper | None:
        """``None``: no time-stamp; ``local``: this deployment's TSA in-process; else an http(s) URL."""
        if tsa is None or tsa == "":
            return None
        if tsa == "local":
            return self._tsa().timestamper()
        if not tsa.startswith(("http://", "https://")) or not _has_host(tsa):
            raise InvalidInput("the TSA must be an http(s) URL or 'local'", field="tsa")
        return timestamper_for_url(tsa)

    def sign(
        self,
        content: bytes,
        key: SigningKey,
        *,
        attached: bool = False,
        pss: bool = False,
        tsa: str | None = None,
        check_usable: bool = True,
    ) -> SignedDocument:
        """A CMS SignedData over ``content``; with ``tsa``, a signature time-stamp is added.

        Refused (``Conflict``) with a certificate that is expired, not yet valid, or revoked or on
        hold by this CA, as a holder's signing client refuses: the signature would not verify,
        and the holder is told to renew or reissue instead. ``check_usable=False`` signs all the
        same, to make the signatures a relying party must refuse (tests, drills)."""
        if check_usable:
            self._check_usable(key.certificate)
        timestamper = self.timestamper(tsa)
        if pss and not isinstance(key.certificate.public_key(), rsa.RSAPublicKey):
            raise InvalidInput("RSASSA-PSS needs an RSA key", field="pss")
        try:
            signature = sign_cms_with(
                content,
                raw_signer=key.signer,
                certificate=key.certificate,
                chain=key.chain,
                detached=not attached,
                pss=pss,
                timestamper=timestamper,
                signing_time=self._clock.now(),
            )
        except TimestampRequestError:
            # The in-process TSA's refusals, and pyHanko's own checks of a reply (nonce, status
            # other than granted); an HTTP TSA's failures arrive typed (``sign.tsa_client``).
            raise InvalidInput("the time-stamp authority did not grant a time-stamp", field="tsa") from None
        except FincertError:
            raise
        except (OSError, ValueError) as exc:
            if timestamper is not None and not isinstance(timestamper, InProcessTimeStamper):
                raise InvalidInput("could not obtain a time-stamp from the TSA", field="tsa") from exc
            raise
        return SignedDocument(
            signature_der=signature,
            signer_subject=key.certificate.subject.rfc4514_string(),
            signer_serial=format(key.certificate.serial_number, "x"),
            random_num=key.random_num,
            timestamp=signature_timestamp_time(signature),
            attached=attached,
        )


def _usable_or_why(certificate: x509.Certificate, now: dt.datetime, status: CertificateStatus | None) -> str | None:
    serial = format(certificate.serial_number, "x")
    if now > certificate.not_valid_after_utc:
        return f"certificate {serial} expired on {certificate.not_valid_after_utc.date().isoformat()}: reissue it (재발급)"
    if now < certificate.not_valid_before_utc:
        return f"certificate {serial} is not valid until {certificate.not_valid_before_utc.isoformat()}"
    if status is not None and status.status == "revoked":
        if status.reason == "certificate_hold":
            return f"certificate {serial} is on hold (효력 정지): ask the institution to restore it, or reissue it"
        return f"certificate {serial} is revoked: a signature made with it would not verify; reissue it (재발급)"
    return None


def signature_timestamp_time(signature_der: bytes) -> dt.datetime | None:
    """genTime of the first signature time-stamp on a CMS signature (unchecked), or ``None``."""
    try:
        signer_info = asn1_cms.ContentInfo.load(signature_der)["content"]["signer_infos"][0]
        unsigned = signer_info["unsigned_attrs"]
        if isinstance(unsigned, asn1_core.Void):
            return None
        for attribute in unsigned:
            if attribute["type"].native == "signature_time_stamp_token":
                token = attribute["values"][0]
                return token["content"]["encap_content_info"]["content"].parsed["gen_time"].native
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    return None


# --- verification ------------------------------------------------------------------------------


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.timezone.utc).isoformat() if moment is not None else None


@dataclass(frozen=True)
class Verification:
    """A ``SignatureReport`` plus the VID check, in the documented JSON shape."""

    report: SignatureReport
    #: ``None`` when no resident number was given; ``False`` also when the certificate has no VID.
    vid_match: bool | None

    @property
    def valid(self) -> bool:
        return self.report.valid

    def as_json(self) -> dict[str, Any]:
        report = self.report
        timestamp = report.timestamp
        return {
            "valid": report.valid,
            "failure": report.failure,
            "signer": report.signer_subject,
            "signer_serial": report.signer_serial_hex,
            "signed_at": _iso(report.signed_at),
            "timestamp": _iso(timestamp.gen_time) if timestamp is not None else None,
            "timestamp_valid": timestamp.valid if timestamp is not None else None,
            "timestamp_authority": timestamp.tsa_subject if timestamp is not None else None,
            "certificate_status": report.certificate_status,
            "revocation_time": _iso(report.revocation_time),
            "revocation_reason": report.revocation_reason,
            "judged_at": _iso(report.judged_at),
            "intact": report.intact,
            "signature_ok": report.signature_ok,
            "trusted": report.trusted,
            "path": report.path,
            "non_repudiation": report.non_repudiation,
            "vid_match": self.vid_match,
        }


class SignatureVerifier:
    """Verifies signatures the way this deployment's relying parties should.

    Trust root: the deployment's root CA. Status: the ``RevocationSource`` given, asked on every
    call (``PresignedOcspStatus`` in a runtime with a VA, else ``StoredCertificateStatus``). The
    judgement time is the valid signature time-stamp's genTime, else now (see
    ``fincert.sign.verify``). Paths pyhanko-certvalidator accepted are remembered in a
    ``PathCache``, so a signer seen before is verified on the fast path.
    """

    def __init__(self, ca: CertificateAuthority, status: RevocationSource, clock: Clock) -> None:
        self._ca = ca
        self._status = status
        self._clock = clock
        self.path_cache = PathCache()

    def verify(
        self,
        signature_der: bytes,
        content: bytes | None,
        *,
        rrn: str | None = None,
        random_num_hex: str | None = None,
    ) -> Verification:
        """Verify; with ``rrn`` and ``random_num_hex`` also check the certificate's VID.

        Raises ``InvalidInput`` for bytes that are not a CMS signature, a detached signature
        without content, or a resident number / randomNum that is malformed or given alone.
        """
        identity = _vid_inputs(rrn, random_num_hex, self._clock.now().date())
        hierarchy = self._ca.hierarchy()
        report = verify_cms(
            signature_der,
            content,
            trust_roots=[hierarchy.root],
            revocation=self._status,
            at=self._clock.now(),
            path_cache=self.path_cache,
            # Signing clients (openssl cms -sign among them) often embed the signer's certificate
            # alone: the path to the root goes through the issuing CA this service holds.
            intermediates=[hierarchy.issuing],
        )
        vid_match: bool | None = None
        if identity is not None and report.signer_certificate:
            digits, random_num = identity
            vid_match = vid_matches(x509.load_der_x509_certificate(report.signer_certificate), digits, random_num)
        return Verification(report, vid_match)


def _vid_inputs(rrn: str | None, random_num_hex: str | None, today: dt.date) -> tuple[str, bytes] | None:
    if not rrn and not random_num_hex:
        return None
    if not rrn or not random_num_hex:
        raise InvalidInput("the VID check needs both the resident number and the randomNum", field="rrn" if not rrn else "random_num")
    digits = parse_rrn(rrn, today=today).digits
    try:
        random_num = bytes.fromhex(random_num_hex.strip())
    except ValueError:
        raise InvalidInput("randomNum must be 40 hexadecimal digits", field="random_num") from None
    if len(random_num) != 20:
        raise InvalidInput("randomNum must be 40 hexadecimal digits", field="random_num")
    return digits, random_num


def decode_base64(text: str | None, field: str) -> bytes | None:
    """Strict base64 (standard alphabet, padding optional) or ``InvalidInput`` naming ``field``."""
    if text is None:
        return None
    cleaned = "".join(text.split())
    try:
        return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except ValueError:
        raise InvalidInput(f"{field} is not base64", field=field) from None


# --- the relying party (an example bank) --------------------------------------------------------

CHALLENGE_LIFETIME = dt.timedelta(minutes=5)
_MAX_AMOUNT = 10**15
#: The random ids and references handed out below (``secrets.token_urlsafe``).
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class Challenge:
    id: str
    challenge: bytes
    expires_at: dt.datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "challenge_id": self.id,
            "challenge": base64.b64encode(self.challenge).decode(),
            "expires_at": self.expires_at.isoformat(),
        }


@dataclass(frozen=True)
class EvidenceRecord:
    id: int
    #: Random: what the record is fetched by (``RelyingParty.evidence``).
    reference: str
    kind: str
    signer: str
    signer_serial: str
    content: bytes
    signature_der: bytes
    timestamp: dt.datetime | None
    report: dict[str, Any]
    created_at: dt.datetime

    def as_json(self) -> dict[str, Any]:
        try:
            order: Any = json.loads(self.content)
        except ValueError:
            order = None
        return {
            "id": self.id,
            "reference": self.reference,
            "kind": self.kind,
            "signer": self.signer,
            "signer_serial": self.signer_serial,
            "order": order,
            "content": base64.b64encode(self.content).decode(),
            "signature": base64.b64encode(self.signature_der).decode(),
            "timestamp": _iso(self.timestamp),
            "verification": self.report,
            "created_at": _iso(self.created_at),
        }


class RelyingParty:
    """An example bank: logs holders in with a signed challenge and keeps signed transfer orders.

    Login: the holder signs the challenge bytes (CMS, detached or attached) with a fincert
    certificate; the challenge is single-use and expires after ``CHALLENGE_LIFETIME``.
    Transfer: the holder signs the order's JSON bytes with a signature time-stamp; the bank
    verifies it and stores the bytes, signature, time-stamp and report as an evidence record.
    """

    def __init__(self, db: Database, clock: Clock, verifier: SignatureVerifier) -> None:
        self._db = db
        self._clock = clock
        self._verifier = verifier

    def new_challenge(self) -> Challenge:
        now = self._clock.now()
        challenge = Challenge(secrets.token_urlsafe(24), secrets.token_bytes(32), now + CHALLENGE_LIFETIME)
        with self._db.transaction() as session:
            session.add(
                RelyingPartyChallenge(
                    id=challenge.id, challenge=challenge.challenge, created_at=now, expires_at=challenge.expires_at
                )
            )
        return challenge

    def login(self, challenge_id: str, signature_der: bytes) -> Verification:
        """Verify a signature over the challenge; consume it; return the verification.

        ``NotFound`` for an unknown, used or expired challenge; ``VerificationFailed`` when the
        signature is not valid (the challenge then stays usable until it expires).
        """
        now = self._clock.now()
        challenge = None
        if _could_be_token(challenge_id):  # no other text names a challenge, nor may reach the database
            with self._db.reader() as session:
                row = session.get(RelyingPartyChallenge, challenge_id)
                challenge = row.challenge if row is not None and _challenge_open(row, now) else None
        if challenge is None:
            raise NotFound("no such challenge, or it was used or has expired", field="challenge_id")
        # Verified outside the write transaction: it reads certificate status itself, and on
        # SQLite a second connection cannot begin while this one holds the write lock.
        verification = self._verifier.verify(signature_der, challenge)
        if not verification.valid:
            raise VerificationFailed(f"the signature is not valid: {verification.report.failure}")
        with self._db.transaction() as session:
            row = session.execute(
                select(RelyingPartyChallenge).where(RelyingPartyChallenge.id == challenge_id).with_for_update()
            ).scalar_one_or_none()
            # Re-checked under the row lock: two logins racing with one challenge, one wins.
            if row is None or not _challenge_open(row, now):
                raise NotFound("no such challenge, or it was used or has expired", field="challenge_id")
            row.used_at = now
            audit.append(
                session,
                action="rp.login",
                actor=f"certificate:{verification.report.signer_serial_hex}",
                subject_type="rp-challenge",
                subject_id=challenge_id,
                now=now,
                details={"signer_serial": verification.report.signer_serial_hex},
            )
        return verification

    def accept_transfer(self, content: bytes | None, signature_der: bytes) -> EvidenceRecord:
        """Verify a signed, time-stamped transfer order and keep it as evidence.

        The order is a JSON object with ``from_account``, ``to_account`` and a positive integer
        ``amount`` (in won); it may be omitted when the signature encapsulates it.
        """
        if content is None:
            content = _encapsulated_content(signature_der)
            if content is None:
                raise InvalidInput("a detached signature needs the order it signs", field="order")
        _check_transfer_order(content)
        verification = self._verifier.verify(signature_der, content)
        report = verification.report
        if not report.valid:
            raise VerificationFailed(f"the signature is not valid: {report.failure}")
        if report.timestamp is None:
            raise PolicyViolation("a transfer order must carry a signature time-stamp", field="signature")
        now = self._clock.now()
        report_json = verification.as_json()
        with self._db.transaction() as session:
            row = SignatureEvidence(
                reference=secrets.token_urlsafe(16),
                kind="transfer",
                signer_subject=report.signer_subject,
                signer_serial=report.signer_serial_hex,
                content=content,
                signature_der=signature_der,
                timestamp_gen_time=report.timestamp.gen_time,
                report_json=json.dumps(report_json, ensure_ascii=False),
                created_at=now,
            )
            session.add(row)
            session.flush()
            audit.append(
                session,
                action="rp.transfer-accepted",
                actor=f"certificate:{report.signer_serial_hex}",
                subject_type="signature-evidence",
                subject_id=str(row.id),
                now=now,
                details={"signer_serial": report.signer_serial_hex, "timestamp": _iso(report.timestamp.gen_time)},
            )
            return _evidence(row)

    def evidence(self, reference: str) -> EvidenceRecord:
        """The evidence record with this reference (handed out when the order was accepted).

        Records are fetched by their random reference, never by the sequential id, so knowing
        one receipt does not reveal other customers' orders.
        """
        if not _could_be_token(reference):
            raise NotFound("no evidence record with this reference")
        with self._db.reader() as session:
            row = session.execute(
                select(SignatureEvidence).where(SignatureEvidence.reference == reference)
            ).scalar_one_or_none()
            if row is None:
                raise NotFound("no evidence record with this reference")
            return _evidence(row)


def _could_be_token(value: object) -> bool:
    """Whether ``value`` has the shape of the random references and challenge ids handed out
    here (``secrets.token_urlsafe``). Anything else names no record, and must not reach the
    database: PostgreSQL refuses a NUL in text outright (a 500, not "not found")."""
    return isinstance(value, str) and _TOKEN.fullmatch(value) is not None


def _challenge_open(row: RelyingPartyChallenge, now: dt.datetime) -> bool:
    expires_at = _utc(row.expires_at)
    return row.used_at is None and expires_at is not None and expires_at > now


def _evidence(row: SignatureEvidence) -> EvidenceRecord:
    return EvidenceRecord(
        id=row.id,
        reference=row.reference,
        kind=row.kind,
        signer=row.signer_subject,
        signer_serial=row.signer_serial,
        content=row.content,
        signature_der=row.signature_der,
        timestamp=_utc(row.timestamp_gen_time),
        report=json.loads(row.report_json),
        created_at=_utc(row.created_at),  # type: ignore[arg-type]
    )


def _encapsulated_content(signature_der: bytes) -> bytes | None:
    try:
        encapsulated = asn1_cms.ContentInfo.load(signature_der)["content"]["encap_content_info"]["content"]
    except (ValueError, KeyError, TypeError):
        raise InvalidInput("the signature is not a DER CMS SignedData", field="signature") from None
    if isinstance(encapsulated, asn1_core.Void) or encapsulated.native is None:
        return None
    return bytes(encapsulated.native)


def _check_transfer_order(content: bytes) -> None:
    try:
        order = json.loads(content)
    # Checked before the signature, so any bytes get here; deep nesting overflows the parser.
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidInput("the transfer order is not JSON", field="order") from None
    if not isinstance(order, dict):
        raise InvalidInput("the transfer order must be a JSON object", field="order")
    for name in ("from_account", "to_account"):
        value = order.get(name)
        if not isinstance(value, str) or not 1 <= len(value.strip()) <= 64:
            raise InvalidInput(f"the transfer order needs {name}", field=name)
    amount = order.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= _MAX_AMOUNT:
        raise InvalidInput("the transfer amount must be a positive whole number of won", field="amount")


# --- the composition ---------------------------------------------------------------------------


class ElectronicSignatures:
    """The deployment's signature services, built once per runtime (``Runtime.signatures``).

    ``vault`` gives the cloud key vault (``fincert.keys.vault.CloudKeyVault``) when a holder
    signs with a financial certificate; it is asked only then, since building it needs the
    master key. ``ocsp`` gives the VA's OCSP responder: with it, verification reads status from
    its pre-signed responses (``PresignedOcspStatus``); without it, from the certificates table.
    """

    def __init__(
        self,
        db: Database,
        ca: CertificateAuthority,
        clock: Clock,
        tsa: Callable[[], TimeStampService],
        vault: Callable[[], CloudKeyVault] | None = None,
        ocsp: Callable[[], OcspResponder] | None = None,
    ) -> None:
        stored = StoredCertificateStatus(db)
        self.status: RevocationSource = PresignedOcspStatus(ocsp, stored, clock) if ocsp is not None else stored
        cloud_keys = _CloudKeys(db, vault) if vault is not None else None
        self.signing = SigningService(ca, clock, tsa, cloud_keys, status=stored)
        self.verifier = SignatureVerifier(ca, self.status, clock)
        self.relying_party = RelyingParty(db, clock, self.verifier)


class _CloudKeys:
    """Opens the cloud key bound to a certificate: the vault's signer and the stored certificate."""

    def __init__(self, db: Database, vault: Callable[[], CloudKeyVault]) -> None:
        self._db = db
        self._vault = vault

    def __call__(self, serial: str, pin: str) -> tuple[RawSigner, x509.Certificate]:
        serial = normalize_serial(serial)
        vault = self._vault()
        key = vault.key_for_certificate(serial)
        with self._db.reader() as session:
            row = session.execute(
                select(Certificate.der, Certificate.status, Certificate.revoked_at).where(Certificate.serial == serial)
            ).first()
        if row is None or row.der is None or row.status != "issued":
            raise NotFound("no issued certificate with that serial", field="serial")
        if row.revoked_at is not None:
            raise PolicyViolation("the certificate is revoked; it can no longer sign", field="serial")
        # The PIN is checked (and failures counted, five locking the key) when the signer signs.
        return vault.signer(key.key_id, pin), x509.load_der_x509_certificate(row.der)


__all__ = [
    "Challenge",
    "ElectronicSignatures",
    "EvidenceRecord",
    "RelyingParty",
    "SignatureVerifier",
    "SignedDocument",
    "SigningKey",
    "SigningService",
    "PresignedOcspStatus",
    "StoredCertificateStatus",
    "TimeStampService",
    "TimeStampSettings",
    "Verification",
    "decode_base64",
    "signature_timestamp_time",
]
