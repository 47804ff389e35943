"""members' votes on pieces, servers' own settings (/settings), and the shared per-minute rate counters

Revision ID: 0011
Revises: 0010_story_version
Create Date: 2026-12-04
"""

from alembic import op
import sqlalchemy as sa


revision = '0011_votes_and_settings'
down_revision = '0010_story_version'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'votes',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('request_id', sa.String(length=32), nullable=False),
        sa.Column('guild_id', sa.BigInteger(), nullable=True),
        sa.Column('user_id', sa.BigInteger(), nullable=False),
        sa.Column('value', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['request_id'], ['requests.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('request_id', 'user_id', name='uq_votes_request_user'),
    )
    op.create_index('ix_votes_guild_user', 'votes', ['guild_id', 'user_id'])
    op.create_table(
        'server_settings',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('guild_id', sa.BigInteger(), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('value', sa.Text(), nullable=False),
        sa.Column('updated_by', sa.BigInteger(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_server_settings_guild_key', 'server_settings', ['guild_id', 'key'], unique=True)
    op.create_table(
        'rate_counters',
        sa.Column('guild_id', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('user_id', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('minute', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('guild_id', 'user_id', 'minute'),
    )


def downgrade() -> None:
    op.drop_table('rate_counters')
    op.drop_index('ix_server_settings_guild_key', table_name='server_settings')
    op.drop_table('server_settings')
    op.drop_index('ix_votes_guild_user', table_name='votes')
    op.drop_table('votes')
