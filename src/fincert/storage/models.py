"""SQLAlchemy 2 ORM models: the one schema that migrations create (see ``migrations/``)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


def import_all_models() -> None:
    """Import every ``fincert.storage.models_*`` module so its tables join ``Base.metadata``.

    Each component keeps its tables in its own ``models_<component>.py`` beside this file.
    """
    import importlib
    import pkgutil

    import fincert.storage as package

    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("models_"):
            importlib.import_module(f"fincert.storage.{info.name}")


# BIGINT on PostgreSQL, INTEGER on SQLite (so it stays the rowid alias and autoincrements).
IdType = BigInteger().with_variant(Integer(), "sqlite")
#: The largest id either database can hold (both are signed 64-bit); a bigger number cannot
#: even be bound as a query parameter (the driver raises OverflowError or a DataError).
MAX_ID = 2**63 - 1


class Authority(Base):
    """A certificate the service itself holds a key for: root, issuing CA, OCSP responder, TSA."""

    __tablename__ = "authorities"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    role: Mapped[str] = mapped_column(String(32), index=True)  # root | issuing | ocsp-responder | tsa
    key_label: Mapped[str] = mapped_column(String(128), unique=True)
    key_type: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(512))
    serial: Mapped[str] = mapped_column(String(64))
    certificate_der: Mapped[bytes] = mapped_column(LargeBinary)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("authorities.id"), nullable=True)
    not_before: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    not_after: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Institution(Base):
    """A bank, securities firm, card company or insurer acting as a registration authority."""

    __tablename__ = "institutions"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Certificate(Base):
    """An end-entity certificate, from serial reservation to issuance and revocation.

    The row is written *before* signing with ``status='reserved'`` and the request that is
    about to be signed (Boulder's order), so a crash between reserving and storing leaves a
    record that can still be found and revoked.
    """

    __tablename__ = "certificates"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    serial: Mapped[str] = mapped_column(String(64), unique=True)  # lowercase hex
    issuer_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"))
    status: Mapped[str] = mapped_column(String(16), index=True)  # reserved | issued | failed
    product: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(512))
    public_key_sha256: Mapped[str] = mapped_column(String(64), index=True)
    request_json: Mapped[str] = mapped_column(Text)
    crl_partition: Mapped[int] = mapped_column(Integer, index=True)
    not_before: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    not_after: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    der: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"), nullable=True)
    member_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revocation_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    issued_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AuditRecord(Base):
    """One hash-chained audit record; ``hash`` covers the fields and the previous hash."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(128))
    institution_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    details_json: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """A single row holding the chain's tip; locking it serialises appends across processes."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
