"""va: pre-signed OCSP responses, published CRLs, CRL number counters

Revision ID: 0002_va
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa


revision = "0002_va"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ocsp_responses",
        sa.Column("serial", sa.String(length=64), nullable=False),
        sa.Column("issuer_id", _ID, nullable=False),
        sa.Column("responder_id", _ID, nullable=False),
        sa.Column("cert_status", sa.String(length=16), nullable=False),
        sa.Column("this_update", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_update", sa.DateTime(timezone=True), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["issuer_id"], ["authorities.id"]),
        sa.ForeignKeyConstraint(["responder_id"], ["authorities.id"]),
        sa.PrimaryKeyConstraint("serial"),
    )
    with op.batch_alter_table("ocsp_responses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ocsp_responses_cert_status"), ["cert_status"], unique=False)
        batch_op.create_index(batch_op.f("ix_ocsp_responses_next_update"), ["next_update"], unique=False)
    op.create_table(
        "published_crls",
        sa.Column("issuer_id", _ID, autoincrement=False, nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("crl_number", sa.BigInteger(), nullable=False),
        sa.Column("revoked_count", sa.Integer(), nullable=False),
        sa.Column("this_update", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_update", sa.DateTime(timezone=True), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["issuer_id"], ["authorities.id"]),
        sa.PrimaryKeyConstraint("issuer_id", "scope"),
    )
    op.create_table(
        "crl_counters",
        sa.Column("issuer_id", _ID, autoincrement=False, nullable=False),
        sa.Column("last_number", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["issuer_id"], ["authorities.id"]),
        sa.PrimaryKeyConstraint("issuer_id"),
    )
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.create_index("ix_certificates_issuer_revoked_at", ["issuer_id", "revoked_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.drop_index("ix_certificates_issuer_revoked_at")
    op.drop_table("crl_counters")
    op.drop_table("published_crls")
    with op.batch_alter_table("ocsp_responses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ocsp_responses_next_update"))
        batch_op.drop_index(batch_op.f("ix_ocsp_responses_cert_status"))
    op.drop_table("ocsp_responses")
