"""Signature tables: the TSA's serial counter and the relying-party example's records.

``tsa_serial_counters`` holds one row per time-stamp authority; every token takes the next
serial with a single ``UPDATE ... RETURNING`` so serials stay unique and strictly increasing
across processes (RFC 3161 §2.4.2). ``rp_challenges`` are the one-time login challenges of
the example bank and ``signature_evidence`` the signed, time-stamped orders it keeps as
evidence, each with the verification report made when it was accepted.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, DateTime, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fincert.storage.models import Base, IdType


class TsaSerialCounter(Base):
    """The last serial number a TSA handed out (``name`` is the TSA, today always ``tsa``)."""

    __tablename__ = "tsa_serial_counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_serial: Mapped[int] = mapped_column(BigInteger)


class RelyingPartyChallenge(Base):
    """A random login challenge; consumed once, within its lifetime."""

    __tablename__ = "rp_challenges"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    challenge: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SignatureEvidence(Base):
    """A signed document the relying party accepted, kept as evidence (non-repudiation)."""

    __tablename__ = "signature_evidence"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    #: What the record is fetched by: random and unguessable (the sequential id would let anyone
    #: walk every customer's orders).
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)  # transfer
    signer_subject: Mapped[str] = mapped_column(String(512))
    signer_serial: Mapped[str] = mapped_column(String(64), index=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    signature_der: Mapped[bytes] = mapped_column(LargeBinary)
    timestamp_gen_time: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    report_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
