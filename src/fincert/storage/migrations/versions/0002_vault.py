"""vault: cloud_keys (PIN-protected cloud keys, the 금융인증서 model)

Revision ID: 0002_vault
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa


revision = '0002_vault'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cloud_keys',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('key_id', sa.String(length=32), nullable=False),
    sa.Column('member_id', sa.BigInteger(), nullable=False),
    sa.Column('certificate_serial', sa.String(length=64), nullable=True),
    sa.Column('public_key_der', sa.LargeBinary(), nullable=False),
    sa.Column('public_key_sha256', sa.String(length=64), nullable=False),
    sa.Column('wrapped_key', sa.LargeBinary(), nullable=False),
    sa.Column('kdf_salt', sa.LargeBinary(), nullable=False),
    sa.Column('kdf_memory_kib', sa.Integer(), nullable=False),
    sa.Column('kdf_time_cost', sa.Integer(), nullable=False),
    sa.Column('kdf_parallelism', sa.Integer(), nullable=False),
    sa.Column('server_key_id', sa.String(length=16), nullable=False),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('locked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('destroyed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key_id'),
    sa.UniqueConstraint('certificate_serial')
    )
    with op.batch_alter_table('cloud_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cloud_keys_member_id'), ['member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cloud_keys_public_key_sha256'), ['public_key_sha256'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('cloud_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cloud_keys_public_key_sha256'))
        batch_op.drop_index(batch_op.f('ix_cloud_keys_member_id'))
    op.drop_table('cloud_keys')
