"""Privacy: pseudonym study domains, their sealed key versions, members and batch audit; privacy budgets and the datasets DP queries run on.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-21 23:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dases.db

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('privacy_budget',
    sa.Column('participant_slug', sa.String(length=63), nullable=False),
    sa.Column('dataset', sa.String(length=200), nullable=False),
    sa.Column('consumer', sa.String(length=512), nullable=False),
    sa.Column('total_micro', sa.BigInteger(), nullable=False),
    sa.Column('spent_micro', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', dases.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('participant_slug', 'dataset', 'consumer', name=op.f('pk_privacy_budget'))
    )
    op.create_table('privacy_charge',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('participant_slug', sa.String(length=63), nullable=False),
    sa.Column('dataset', sa.String(length=200), nullable=False),
    sa.Column('consumer', sa.String(length=512), nullable=False),
    sa.Column('query', sa.String(length=200), nullable=False),
    sa.Column('epsilon_micro', sa.BigInteger(), nullable=False),
    sa.Column('at', dases.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_privacy_charge'))
    )
    with op.batch_alter_table('privacy_charge', schema=None) as batch_op:
        batch_op.create_index('ix_privacy_charge_budget', ['participant_slug', 'dataset', 'consumer'], unique=False)

    op.create_table('privacy_dataset',
    sa.Column('participant_slug', sa.String(length=63), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('path', sa.String(length=4096), nullable=False),
    sa.Column('format', sa.String(length=16), nullable=False),
    sa.Column('created_at', dases.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('participant_slug', 'name', name=op.f('pk_privacy_dataset'))
    )
    op.create_table('pseudonym_domain',
    sa.Column('name', sa.String(length=63), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', dases.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_pseudonym_domain'))
    )
    op.create_table('pseudonym_batch',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('domain_name', sa.String(length=63), nullable=False),
    sa.Column('member_did', sa.String(length=512), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('at', dases.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['domain_name'], ['pseudonym_domain.name'], name=op.f('fk_pseudonym_batch_domain_name_pseudonym_domain'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pseudonym_batch'))
    )
    with op.batch_alter_table('pseudonym_batch', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pseudonym_batch_domain_name'), ['domain_name'], unique=False)

    op.create_table('pseudonym_key',
    sa.Column('domain_name', sa.String(length=63), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('sealed_key', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', dases.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('retired_at', dases.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['domain_name'], ['pseudonym_domain.name'], name=op.f('fk_pseudonym_key_domain_name_pseudonym_domain'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('domain_name', 'version', name=op.f('pk_pseudonym_key'))
    )
    op.create_table('pseudonym_member',
    sa.Column('domain_name', sa.String(length=63), nullable=False),
    sa.Column('member_did', sa.String(length=512), nullable=False),
    sa.Column('admitted_at', dases.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['domain_name'], ['pseudonym_domain.name'], name=op.f('fk_pseudonym_member_domain_name_pseudonym_domain'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('domain_name', 'member_did', name=op.f('pk_pseudonym_member'))
    )


def downgrade() -> None:
    op.drop_table('pseudonym_member')
    op.drop_table('pseudonym_key')
    with op.batch_alter_table('pseudonym_batch', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pseudonym_batch_domain_name'))

    op.drop_table('pseudonym_batch')
    op.drop_table('pseudonym_domain')
    op.drop_table('privacy_dataset')
    with op.batch_alter_table('privacy_charge', schema=None) as batch_op:
        batch_op.drop_index('ix_privacy_charge_budget')

    op.drop_table('privacy_charge')
    op.drop_table('privacy_budget')
