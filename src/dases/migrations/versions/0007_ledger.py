"""The ledger: hash-chained, signed entries per participant (append-only), and their heads.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21 17:49:00.369900
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import dases.db

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('ledger_entry',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('participant_slug', sa.String(length=63), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('at', dases.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('body', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('signature', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_entry')),
    sa.UniqueConstraint('participant_slug', 'seq', name='uq_ledger_entry_participant_seq')
    )
    op.create_table('ledger_head',
    sa.Column('participant_slug', sa.String(length=63), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('participant_slug', name=op.f('pk_ledger_head'))
    )
    for statement in dases.db.append_only_sql(op.get_bind().dialect.name, "ledger_entry"):
        op.execute(statement)


def downgrade() -> None:
    for statement in dases.db.drop_append_only_sql(op.get_bind().dialect.name, "ledger_entry"):
        op.execute(statement)
    op.drop_table('ledger_head')
    op.drop_table('ledger_entry')
