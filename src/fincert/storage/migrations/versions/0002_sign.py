"""sign: TSA serial counters, relying-party challenges and evidence records

Revision ID: 0002_sign
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa


revision = '0002_sign'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('tsa_serial_counters',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('last_serial', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('rp_challenges',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('challenge', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('signature_evidence',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('signer_subject', sa.String(length=512), nullable=False),
    sa.Column('signer_serial', sa.String(length=64), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('signature_der', sa.LargeBinary(), nullable=False),
    sa.Column('timestamp_gen_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('report_json', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('signature_evidence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signature_evidence_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_signature_evidence_signer_serial'), ['signer_serial'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('signature_evidence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signature_evidence_signer_serial'))
        batch_op.drop_index(batch_op.f('ix_signature_evidence_kind'))
    op.drop_table('signature_evidence')
    op.drop_table('rp_challenges')
    op.drop_table('tsa_serial_counters')
