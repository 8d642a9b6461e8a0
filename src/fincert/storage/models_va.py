"""Tables of the validation authority: pre-signed OCSP responses, published CRLs, CRL numbers.

The VA reads certificate status from ``certificates`` (owned by the CA) and keeps here only
what it derives from it: signed bytes ready to serve and the per-issuer CRLNumber counter.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from fincert.storage.models import Base, Certificate, IdType


class OcspResponseRecord(Base):
    """The pre-signed, nonce-less OCSP response for one certificate (SHA-1 CertID, as openssl asks).

    ``cert_status`` repeats what the response says so the refresh pass can find responses
    that no longer match the certificate (a revocation made by a process that had no VA).
    """

    __tablename__ = "ocsp_responses"

    serial: Mapped[str] = mapped_column(String(64), primary_key=True)  # lowercase hex, as certificates.serial
    issuer_id: Mapped[int] = mapped_column(IdType, ForeignKey("authorities.id"))
    responder_id: Mapped[int] = mapped_column(IdType, ForeignKey("authorities.id"))
    cert_status: Mapped[str] = mapped_column(String(16), index=True)  # good | revoked | unknown
    this_update: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    next_update: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    der: Mapped[bytes] = mapped_column(LargeBinary)


class PublishedCrl(Base):
    """The newest CRL of one scope of one issuer: ``scope`` is ``full`` or a partition number."""

    __tablename__ = "published_crls"

    issuer_id: Mapped[int] = mapped_column(IdType, ForeignKey("authorities.id"), primary_key=True, autoincrement=False)
    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    crl_number: Mapped[int] = mapped_column(BigInteger)
    revoked_count: Mapped[int] = mapped_column(Integer)
    this_update: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    next_update: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    der: Mapped[bytes] = mapped_column(LargeBinary)


class CrlCounter(Base):
    """The last CRLNumber an issuer used; locked while a number is taken, so numbers only grow."""

    __tablename__ = "crl_counters"

    issuer_id: Mapped[int] = mapped_column(IdType, ForeignKey("authorities.id"), primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(BigInteger)


# The VA's queries on the CA's table: revoked certificates of an issuer (CRLs, and the refresh
# pass looking for revocations it has not signed yet). Partial indexes would be smaller, but
# this one works the same on SQLite and PostgreSQL.
Index("ix_certificates_issuer_revoked_at", Certificate.issuer_id, Certificate.revoked_at)
