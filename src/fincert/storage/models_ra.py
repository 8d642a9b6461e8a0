"""Registration-authority tables: operators and their console sessions, members, their
credentials, sessions, outbox.

Resident numbers are stored only as AES-256-GCM ciphertext under a per-member data key (itself
wrapped by the master key, which never enters the database), a keyed HMAC blind index for
look-ups, and the masked form for display. Credential states that hold secrets (security card
cells, OTP seeds) are encrypted the same way.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, DateTime, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fincert.storage.models import Base, IdType


class Operator(Base):
    """A person acting for one institution (bank staff), authenticated by an API token."""

    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(256), nullable=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class OperatorSession(Base):
    """An operator logged in to the console; the token itself is never stored, only its SHA-256.
    Logging out deletes the row, so a copied cookie stops working with it."""

    __tablename__ = "operator_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Member(Base):
    """A customer of one institution. One person is one member per institution (blind index)."""

    __tablename__ = "members"
    __table_args__ = (
        UniqueConstraint("institution_id", "rrn_index", name="uq_members_person_per_institution"),
        UniqueConstraint("institution_id", "login_id", name="uq_members_login_per_institution"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    rrn_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    data_key: Mapped[bytes] = mapped_column(LargeBinary)
    rrn_index: Mapped[str] = mapped_column(String(64), index=True)
    rrn_masked: Mapped[str] = mapped_column(String(16))
    birth_date: Mapped[dt.date] = mapped_column(Date)
    phone: Mapped[str] = mapped_column(String(32))
    email: Mapped[str] = mapped_column(String(254))
    login_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    password_hash: Mapped[str | None] = mapped_column(String(256), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class MemberCredential(Base):
    """One identity method of a member (security card, OTP, WebAuthn, SMS, e-mail): its
    verifier state, encrypted under the member's data key."""

    __tablename__ = "member_credentials"
    __table_args__ = (UniqueConstraint("member_id", "method", name="uq_member_credentials_method"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    method: Mapped[str] = mapped_column(String(32))
    state_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    locked: Mapped[bool] = mapped_column(default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class MemberSession(Base):
    """A logged-in member; the token itself is never stored, only its SHA-256."""

    __tablename__ = "member_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    evidence_json: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class LoginFailureWindow(Base):
    """Recent login failures per account or per address (``scope_key``), for throttling."""

    __tablename__ = "login_failures"

    scope_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    window_json: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class OutboxMessage(Base):
    """An SMS or e-mail the demo outbox "sent" (shown on a page in demo mode)."""

    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True, index=True)
    channel: Mapped[str] = mapped_column(String(8))
    destination: Mapped[str] = mapped_column(String(254))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
