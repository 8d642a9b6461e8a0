"""Certificate lifecycle tables: applications, holders' certificates, registrations, notices.

``applications.open_member_id`` holds the member id while an application is open and NULL
after, so a UNIQUE constraint enforces "at most one open application per member" in the
database itself. ``holder_certificates.active_financial_person`` holds the person's blind
index while their financial certificate is active, so the database also enforces "one active
financial certificate per person" — the last line of defence when two reissues race.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fincert.storage.models import Base, IdType


class Application(Base):
    __tablename__ = "applications"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # issue | reissue | renew | register
    product: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)  # created | verified | issued | completed | cancelled | expired
    reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    target_serial: Mapped[str | None] = mapped_column(String(64), nullable=True)
    result_serial: Mapped[str | None] = mapped_column(String(64), nullable=True)
    evidence_json: Mapped[str] = mapped_column(Text, default="[]")
    reference_number: Mapped[str | None] = mapped_column(String(32), unique=True, nullable=True)
    authorization_code_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    open_member_id: Mapped[int | None] = mapped_column(Integer, unique=True, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class HolderCertificate(Base):
    """Who holds an issued certificate and where its key lives."""

    __tablename__ = "holder_certificates"

    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), primary_key=True)
    serial: Mapped[str] = mapped_column(String(64), unique=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    person_index: Mapped[str] = mapped_column(String(64), index=True)
    product: Mapped[str] = mapped_column(String(16))
    storage: Mapped[str] = mapped_column(String(8))  # file | cloud
    active_financial_person: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    cloud_key_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: randomNum of a cloud certificate, encrypted under the member's data key (it lets a
    #: relying party check the VID, and with the VID it narrows the resident number).
    random_num_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    replaced_serial: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class CertificateRegistration(Base):
    """타기관 인증서 등록: a certificate registered for use at another institution."""

    __tablename__ = "certificate_registrations"
    __table_args__ = (UniqueConstraint("serial", "institution_id", name="uq_registration_per_institution"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    serial: Mapped[str] = mapped_column(String(64), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class ExpiryNotice(Base):
    __tablename__ = "expiry_notices"
    __table_args__ = (UniqueConstraint("serial", "threshold_days", name="uq_expiry_notice"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    serial: Mapped[str] = mapped_column(String(64))
    threshold_days: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
