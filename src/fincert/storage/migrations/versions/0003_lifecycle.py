"""lifecycle

Revision ID: 0003_lifecycle
Revises: 0002_ra
"""

from alembic import op
import sqlalchemy as sa


revision = '0003_lifecycle'
down_revision = '0002_ra'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('expiry_notices',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('serial', sa.String(length=64), nullable=False),
    sa.Column('threshold_days', sa.Integer(), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('serial', 'threshold_days', name='uq_expiry_notice')
    )
    op.create_table('applications',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('institution_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('product', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=True),
    sa.Column('target_serial', sa.String(length=64), nullable=True),
    sa.Column('result_serial', sa.String(length=64), nullable=True),
    sa.Column('evidence_json', sa.Text(), nullable=False),
    sa.Column('reference_number', sa.String(length=32), nullable=True),
    sa.Column('authorization_code_hash', sa.String(length=64), nullable=True),
    sa.Column('open_member_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], ),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('open_member_id'),
    sa.UniqueConstraint('reference_number')
    )
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_applications_institution_id'), ['institution_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_applications_member_id'), ['member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_applications_status'), ['status'], unique=False)

    op.create_table('certificate_registrations',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('serial', sa.String(length=64), nullable=False),
    sa.Column('institution_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], ),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('serial', 'institution_id', name='uq_registration_per_institution')
    )
    with op.batch_alter_table('certificate_registrations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_certificate_registrations_serial'), ['serial'], unique=False)

    op.create_table('holder_certificates',
    sa.Column('certificate_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('serial', sa.String(length=64), nullable=False),
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('institution_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('person_index', sa.String(length=64), nullable=False),
    sa.Column('product', sa.String(length=16), nullable=False),
    sa.Column('storage', sa.String(length=8), nullable=False),
    sa.Column('active_financial_person', sa.String(length=64), nullable=True),
    sa.Column('cloud_key_id', sa.String(length=64), nullable=True),
    sa.Column('random_num_ciphertext', sa.LargeBinary(), nullable=True),
    sa.Column('replaced_serial', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['certificate_id'], ['certificates.id'], ),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], ),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], ),
    sa.PrimaryKeyConstraint('certificate_id'),
    sa.UniqueConstraint('active_financial_person'),
    sa.UniqueConstraint('serial')
    )
    with op.batch_alter_table('holder_certificates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_holder_certificates_institution_id'), ['institution_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_holder_certificates_member_id'), ['member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_holder_certificates_person_index'), ['person_index'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('holder_certificates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_holder_certificates_person_index'))
        batch_op.drop_index(batch_op.f('ix_holder_certificates_member_id'))
        batch_op.drop_index(batch_op.f('ix_holder_certificates_institution_id'))

    op.drop_table('holder_certificates')
    with op.batch_alter_table('certificate_registrations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_certificate_registrations_serial'))

    op.drop_table('certificate_registrations')
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_applications_status'))
        batch_op.drop_index(batch_op.f('ix_applications_member_id'))
        batch_op.drop_index(batch_op.f('ix_applications_institution_id'))

    op.drop_table('applications')
    op.drop_table('expiry_notices')
