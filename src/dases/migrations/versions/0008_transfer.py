"""Transfer: transfer processes and their history, data sources of offerings, data plane
tokens (hashed), revoked agreements.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21 17:37:27.719355
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import dases.db

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('transfer',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('participant_slug', sa.String(length=63), nullable=False),
    sa.Column('role', sa.String(length=8), nullable=False),
    sa.Column('provider_pid', sa.String(length=200), nullable=True),
    sa.Column('consumer_pid', sa.String(length=200), nullable=True),
    sa.Column('agreement_id', sa.String(length=200), nullable=False),
    sa.Column('offering_id', sa.String(length=200), nullable=True),
    sa.Column('format', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('counterparty_did', sa.String(length=512), nullable=False),
    sa.Column('counterparty_address', sa.String(length=2048), nullable=True),
    sa.Column('data_address', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('purpose', sa.String(length=300), nullable=True),
    sa.Column('payload_path', sa.Text(), nullable=True),
    sa.Column('payload_staged', sa.Boolean(), nullable=False),
    sa.Column('payload_sha256', sa.String(length=64), nullable=True),
    sa.Column('payload_size', sa.BigInteger(), nullable=True),
    sa.Column('payload_mtime_ns', sa.BigInteger(), nullable=True),
    sa.Column('media_type', sa.String(length=128), nullable=True),
    sa.Column('record_count', sa.Integer(), nullable=True),
    sa.Column('consent_record_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('options', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('last_received', sa.String(length=64), nullable=True),
    sa.Column('termination_code', sa.String(length=64), nullable=True),
    sa.Column('termination_reason', sa.Text(), nullable=True),
    sa.Column('created_at', dases.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', dases.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', dases.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_at', dases.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['participant_slug'], ['participant.slug'], name=op.f('fk_transfer_participant_slug_participant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transfer')),
    sa.UniqueConstraint('participant_slug', 'role', 'consumer_pid', name='uq_transfer_consumer_pid'),
    sa.UniqueConstraint('participant_slug', 'role', 'provider_pid', name='uq_transfer_provider_pid')
    )
    with op.batch_alter_table('transfer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transfer_agreement_id'), ['agreement_id'], unique=False)
        batch_op.create_index('ix_transfer_participant_state', ['participant_slug', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_transfer_state'), ['state'], unique=False)

    op.create_table('transfer_agreement_revocation',
    sa.Column('participant_slug', sa.String(length=63), nullable=False),
    sa.Column('agreement_id', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('revoked_at', dases.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['participant_slug'], ['participant.slug'], name=op.f('fk_transfer_agreement_revocation_participant_slug_participant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('participant_slug', 'agreement_id', name=op.f('pk_transfer_agreement_revocation'))
    )
    op.create_table('transfer_source',
    sa.Column('offering_id', sa.String(length=64), nullable=False),
    sa.Column('participant_slug', sa.String(length=63), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('config', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('digest_sha256', sa.String(length=64), nullable=True),
    sa.Column('digest_size', sa.BigInteger(), nullable=True),
    sa.Column('digest_mtime_ns', sa.BigInteger(), nullable=True),
    sa.Column('created_at', dases.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', dases.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['participant_slug'], ['participant.slug'], name=op.f('fk_transfer_source_participant_slug_participant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('offering_id', name=op.f('pk_transfer_source'))
    )
    with op.batch_alter_table('transfer_source', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transfer_source_participant_slug'), ['participant_slug'], unique=False)

    op.create_table('transfer_event',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('transfer_id', sa.String(length=36), nullable=False),
    sa.Column('direction', sa.String(length=8), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('at', dases.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['transfer_id'], ['transfer.id'], name=op.f('fk_transfer_event_transfer_id_transfer'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transfer_event'))
    )
    with op.batch_alter_table('transfer_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transfer_event_transfer_id'), ['transfer_id'], unique=False)

    op.create_table('transfer_token',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('transfer_id', sa.String(length=36), nullable=False),
    sa.Column('agreement_id', sa.String(length=200), nullable=False),
    sa.Column('holder_did', sa.String(length=512), nullable=False),
    sa.Column('issued_at', dases.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', dases.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', dases.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['transfer_id'], ['transfer.id'], name=op.f('fk_transfer_token_transfer_id_transfer'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_transfer_token'))
    )
    with op.batch_alter_table('transfer_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transfer_token_transfer_id'), ['transfer_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('transfer_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_transfer_token_transfer_id'))

    op.drop_table('transfer_token')
    with op.batch_alter_table('transfer_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_transfer_event_transfer_id'))

    op.drop_table('transfer_event')
    with op.batch_alter_table('transfer_source', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_transfer_source_participant_slug'))

    op.drop_table('transfer_source')
    op.drop_table('transfer_agreement_revocation')
    with op.batch_alter_table('transfer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_transfer_state'))
        batch_op.drop_index('ix_transfer_participant_state')
        batch_op.drop_index(batch_op.f('ix_transfer_agreement_id'))

    op.drop_table('transfer')
