"""Identity (participants, keys, used call tokens) and registry (members, membership credentials).

Revision ID: 0001
Revises: 
Create Date: 2026-11-21 13:50:07.954753
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import dases.db

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('member',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('did', sa.String(length=512), nullable=False),
    sa.Column('legal_name', sa.String(length=300), nullable=False),
    sa.Column('registration_number', sa.String(length=100), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('roles', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('applied_at', dases.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_at', dases.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member')),
    sa.UniqueConstraint('did', name=op.f('uq_member_did'))
    )
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_member_status'), ['status'], unique=False)

    op.create_table('participant',
    sa.Column('slug', sa.String(length=63), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('did', sa.String(length=512), nullable=False),
    sa.Column('created_at', dases.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('slug', name=op.f('pk_participant')),
    sa.UniqueConstraint('did', name=op.f('uq_participant_did'))
    )
    op.create_table('used_token',
    sa.Column('issuer', sa.String(length=512), nullable=False),
    sa.Column('jti', sa.String(length=128), nullable=False),
    sa.Column('expires_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('issuer', 'jti', name=op.f('pk_used_token'))
    )
    with op.batch_alter_table('used_token', schema=None) as batch_op:
        batch_op.create_index('ix_used_token_expires_at', ['expires_at'], unique=False)

    op.create_table('membership_credential',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('member_id', sa.String(length=36), nullable=False),
    sa.Column('status_list', sa.Integer(), nullable=False),
    sa.Column('status_index', sa.Integer(), nullable=False),
    sa.Column('token', sa.Text(), nullable=False),
    sa.Column('issued_at', dases.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('valid_until', dases.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', dases.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_membership_credential_member_id_member'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_membership_credential')),
    sa.UniqueConstraint('status_list', 'status_index', name='uq_membership_credential_status_slot')
    )
    with op.batch_alter_table('membership_credential', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_membership_credential_member_id'), ['member_id'], unique=False)

    op.create_table('participant_key',
    sa.Column('kid', sa.String(length=64), nullable=False),
    sa.Column('participant_slug', sa.String(length=63), nullable=False),
    sa.Column('public_jwk', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('sealed_private_key', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', dases.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('retired_at', dases.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['participant_slug'], ['participant.slug'], name=op.f('fk_participant_key_participant_slug_participant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('kid', name=op.f('pk_participant_key'))
    )
    with op.batch_alter_table('participant_key', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_participant_key_participant_slug'), ['participant_slug'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('participant_key', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_participant_key_participant_slug'))

    op.drop_table('participant_key')
    with op.batch_alter_table('membership_credential', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_membership_credential_member_id'))

    op.drop_table('membership_credential')
    with op.batch_alter_table('used_token', schema=None) as batch_op:
        batch_op.drop_index('ix_used_token_expires_at')

    op.drop_table('used_token')
    op.drop_table('participant')
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_member_status'))

    op.drop_table('member')
