"""Consent exchanges: the transfers providers report having made under each consent record.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 17:32:20.845504
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dases.db


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('consent_exchange',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('record_id', sa.String(length=36), nullable=False),
    sa.Column('transfer_id', sa.String(length=200), nullable=False),
    sa.Column('agreement_id', sa.String(length=200), nullable=False),
    sa.Column('at', dases.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('consented', sa.Boolean(), nullable=False),
    sa.Column('reported_at', dases.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['record_id'], ['consent_record.id'], name=op.f('fk_consent_exchange_record_id_consent_record'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_exchange')),
    sa.UniqueConstraint('record_id', 'transfer_id', name='uq_consent_exchange_record_transfer')
    )
    with op.batch_alter_table('consent_exchange', schema=None) as batch_op:
        batch_op.create_index('ix_consent_exchange_record_at', ['record_id', 'at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('consent_exchange', schema=None) as batch_op:
        batch_op.drop_index('ix_consent_exchange_record_at')

    op.drop_table('consent_exchange')
