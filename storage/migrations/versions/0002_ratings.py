"""ratings and moderation actions

Revision ID: 0002_ratings
Revises: 0001_baseline
Create Date: 2026-11-29
"""

from alembic import op
import sqlalchemy as sa


revision = '0002_ratings'
down_revision = '0001_baseline'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('channel_ratings',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('guild_id', sa.BigInteger(), nullable=False),
    sa.Column('channel_id', sa.BigInteger(), nullable=True),
    sa.Column('rating', sa.String(length=8), nullable=False),
    sa.Column('updated_by', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('channel_ratings', schema=None) as batch_op:
        batch_op.create_index('ix_channel_ratings_scope', ['guild_id', 'channel_id'], unique=True)

    op.create_table('moderation_actions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('guild_id', sa.BigInteger(), nullable=True),
    sa.Column('channel_id', sa.BigInteger(), nullable=True),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('policy_hash', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('moderation_actions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_moderation_actions_guild_id'), ['guild_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('moderation_actions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_moderation_actions_guild_id'))

    op.drop_table('moderation_actions')
    with op.batch_alter_table('channel_ratings', schema=None) as batch_op:
        batch_op.drop_index('ix_channel_ratings_scope')

    op.drop_table('channel_ratings')
