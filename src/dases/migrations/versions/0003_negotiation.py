"""Contract negotiations (both sides) and their append-only event history.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 14:30:34.235121
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import dases.db

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('negotiation',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('participant_slug', sa.String(length=63), nullable=False),
    sa.Column('role', sa.String(length=8), nullable=False),
    sa.Column('provider_pid', sa.String(length=200), nullable=True),
    sa.Column('consumer_pid', sa.String(length=200), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('counterparty_did', sa.String(length=512), nullable=False),
    sa.Column('counterparty_address', sa.String(length=2048), nullable=True),
    sa.Column('offer', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('agreement', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('provider_signature', sa.Text(), nullable=True),
    sa.Column('consumer_signature', sa.Text(), nullable=True),
    sa.Column('last_received', sa.String(length=64), nullable=True),
    sa.Column('termination_code', sa.String(length=64), nullable=True),
    sa.Column('termination_reason', sa.Text(), nullable=True),
    sa.Column('created_at', dases.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', dases.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['participant_slug'], ['participant.slug'], name=op.f('fk_negotiation_participant_slug_participant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_negotiation')),
    sa.UniqueConstraint('participant_slug', 'role', 'consumer_pid', name='uq_negotiation_consumer_pid'),
    sa.UniqueConstraint('participant_slug', 'role', 'provider_pid', name='uq_negotiation_provider_pid')
    )
    with op.batch_alter_table('negotiation', schema=None) as batch_op:
        batch_op.create_index('ix_negotiation_participant_state', ['participant_slug', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_negotiation_state'), ['state'], unique=False)

    op.create_table('negotiation_event',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('negotiation_id', sa.String(length=36), nullable=False),
    sa.Column('direction', sa.String(length=8), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('at', dases.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['negotiation_id'], ['negotiation.id'], name=op.f('fk_negotiation_event_negotiation_id_negotiation'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_negotiation_event'))
    )
    with op.batch_alter_table('negotiation_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_negotiation_event_negotiation_id'), ['negotiation_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('negotiation_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_negotiation_event_negotiation_id'))

    op.drop_table('negotiation_event')
    with op.batch_alter_table('negotiation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_negotiation_state'))
        batch_op.drop_index('ix_negotiation_participant_state')

    op.drop_table('negotiation')
