"""Governance: assemblies and their seats, proposals, votes, published results, adopted rule versions.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-21 22:40:15
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import dases.db

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table('governance_assembly',
    sa.Column('key', sa.String(length=63), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('is_general', sa.Boolean(), nullable=False),
    sa.Column('created_at', dases.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_governance_assembly'))
    )
    op.create_table('governance_assembly_member',
    sa.Column('assembly_key', sa.String(length=63), nullable=False),
    sa.Column('member_id', sa.String(length=36), nullable=False),
    sa.Column('added_at', dases.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['assembly_key'], ['governance_assembly.key'], name=op.f('fk_governance_assembly_member_assembly_key_governance_assembly'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_governance_assembly_member_member_id_member'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('assembly_key', 'member_id', name=op.f('pk_governance_assembly_member'))
    )
    op.create_table('governance_proposal',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('assembly_key', sa.String(length=63), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('details', JSON, nullable=False),
    sa.Column('opens_at', dases.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closes_at', dases.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('quorum_permille', sa.Integer(), nullable=False),
    sa.Column('majority', sa.String(length=16), nullable=False),
    sa.Column('electorate', JSON, nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', dases.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['assembly_key'], ['governance_assembly.key'], name=op.f('fk_governance_proposal_assembly_key_governance_assembly')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_governance_proposal'))
    )
    with op.batch_alter_table('governance_proposal', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_governance_proposal_assembly_key'), ['assembly_key'], unique=False)
        batch_op.create_index('ix_governance_proposal_status_closes', ['status', 'closes_at'], unique=False)

    op.create_table('governance_result',
    sa.Column('proposal_id', sa.String(length=36), nullable=False),
    sa.Column('eligible', sa.Integer(), nullable=False),
    sa.Column('voted', sa.Integer(), nullable=False),
    sa.Column('yes', sa.Integer(), nullable=False),
    sa.Column('no', sa.Integer(), nullable=False),
    sa.Column('abstain', sa.Integer(), nullable=False),
    sa.Column('quorum_reached', sa.Boolean(), nullable=False),
    sa.Column('majority_reached', sa.Boolean(), nullable=False),
    sa.Column('adopted', sa.Boolean(), nullable=False),
    sa.Column('reasons', JSON, nullable=False),
    sa.Column('effect', JSON, nullable=False),
    sa.Column('tallied_at', dases.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['proposal_id'], ['governance_proposal.id'], name=op.f('fk_governance_result_proposal_id_governance_proposal'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('proposal_id', name=op.f('pk_governance_result'))
    )
    op.create_table('governance_rule',
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('proposal_id', sa.String(length=36), nullable=False),
    sa.Column('adopted_at', dases.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['proposal_id'], ['governance_proposal.id'], name=op.f('fk_governance_rule_proposal_id_governance_proposal')),
    sa.PrimaryKeyConstraint('key', 'version', name=op.f('pk_governance_rule')),
    sa.UniqueConstraint('proposal_id', name=op.f('uq_governance_rule_proposal_id'))
    )
    op.create_table('governance_vote',
    sa.Column('proposal_id', sa.String(length=36), nullable=False),
    sa.Column('member_id', sa.String(length=36), nullable=False),
    sa.Column('choice', sa.String(length=8), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('cast_at', dases.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('changes', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_governance_vote_member_id_member')),
    sa.ForeignKeyConstraint(['proposal_id'], ['governance_proposal.id'], name=op.f('fk_governance_vote_proposal_id_governance_proposal'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('proposal_id', 'member_id', name=op.f('pk_governance_vote'))
    )


def downgrade() -> None:
    op.drop_table('governance_vote')
    op.drop_table('governance_rule')
    op.drop_table('governance_result')
    with op.batch_alter_table('governance_proposal', schema=None) as batch_op:
        batch_op.drop_index('ix_governance_proposal_status_closes')
        batch_op.drop_index(batch_op.f('ix_governance_proposal_assembly_key'))

    op.drop_table('governance_proposal')
    op.drop_table('governance_assembly_member')
    op.drop_table('governance_assembly')
