"""Tables of the cloud-key vault (the 금융인증서 model): one row per PIN-protected key.

The row holds only the wrapped private key (see ``fincert.keys.vault`` for the construction),
its KDF salt and parameters, and the PIN failure state. The server key-encryption key that the
wrapping also depends on is never stored here.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, DateTime, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from fincert.storage.models import Base, IdType


class CloudKey(Base):
    __tablename__ = "cloud_keys"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    key_id: Mapped[str] = mapped_column(String(32), unique=True)  # random hex, the public handle
    member_id: Mapped[int] = mapped_column(BigInteger, index=True)
    #: The certificate currently issued for this key (set once the CA has signed it).
    certificate_serial: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    public_key_der: Mapped[bytes] = mapped_column(LargeBinary)  # SubjectPublicKeyInfo
    public_key_sha256: Mapped[str] = mapped_column(String(64), index=True)  # as certificates.public_key_sha256
    #: ``format version (1) | nonce (12) | AES-256-GCM(PKCS#8 DER)``; empty once destroyed.
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    kdf_salt: Mapped[bytes] = mapped_column(LargeBinary)
    kdf_memory_kib: Mapped[int] = mapped_column(Integer)
    kdf_time_cost: Mapped[int] = mapped_column(Integer)
    kdf_parallelism: Mapped[int] = mapped_column(Integer)
    #: Id of the server key-encryption key (an HKDF output, not secret) the key was wrapped under.
    server_key_id: Mapped[str] = mapped_column(String(16))
    #: Bumped whenever ``wrapped_key`` changes, so an unlock decided on an old copy is redone.
    generation: Mapped[int] = mapped_column(Integer, default=1)
    failures: Mapped[int] = mapped_column(Integer, default=0)  # consecutive wrong PINs
    locked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    destroyed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
