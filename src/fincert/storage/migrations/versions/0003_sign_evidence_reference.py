"""sign: evidence records are fetched by a random reference, not their sequential id

Revision ID: 0003_sign_evidence_reference
Revises: 0002_sign
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0003_sign_evidence_reference"
down_revision = "0002_sign"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("signature_evidence", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reference", sa.String(length=32), nullable=True))
    # Records kept before this revision get references of their own.
    bind = op.get_bind()
    evidence = sa.table("signature_evidence", sa.column("id", sa.BigInteger()), sa.column("reference", sa.String(32)))
    for (row_id,) in bind.execute(sa.select(evidence.c.id)).all():
        bind.execute(evidence.update().where(evidence.c.id == row_id).values(reference=secrets.token_urlsafe(16)))
    with op.batch_alter_table("signature_evidence", schema=None) as batch_op:
        batch_op.alter_column("reference", existing_type=sa.String(length=32), nullable=False)
        batch_op.create_index(batch_op.f("ix_signature_evidence_reference"), ["reference"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("signature_evidence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signature_evidence_reference"))
        batch_op.drop_column("reference")
