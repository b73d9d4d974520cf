"""Web pages: signed-in learner sessions (hashed tokens) and the sign-in throttle.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 16:29:50.863756
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dases.db

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('web_signin_throttle',
    sa.Column('login_hash', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failure_at', dases.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('locked_until', dases.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('login_hash', name=op.f('pk_web_signin_throttle'))
    )
    op.create_table('web_session',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('subject_id', sa.String(length=40), nullable=False),
    sa.Column('created_at', dases.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', dases.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', dases.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['subject_id'], ['consent_subject.id'], name=op.f('fk_web_session_subject_id_consent_subject'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_web_session'))
    )
    with op.batch_alter_table('web_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_web_session_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_web_session_subject_id'), ['subject_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('web_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_web_session_subject_id'))
        batch_op.drop_index(batch_op.f('ix_web_session_expires_at'))

    op.drop_table('web_session')
    op.drop_table('web_signin_throttle')
