"""guardrail settings per scope and key, moderators' misinformation entries, reviews

Revision ID: 0003_policies
Revises: 0002_ratings
Create Date: 2026-11-29

`channel_ratings` becomes `guardrail_settings` rows with key "rating" (a rating is one setting among several).
"""

from alembic import op
import sqlalchemy as sa


revision = '0003_policies'
down_revision = '0002_ratings'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('guardrail_settings',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('guild_id', sa.BigInteger(), nullable=False),
    sa.Column('channel_id', sa.BigInteger(), nullable=True),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.String(length=64), nullable=False),
    sa.Column('updated_by', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('guardrail_settings', schema=None) as batch_op:
        batch_op.create_index('ix_guardrail_settings_scope', ['guild_id', 'channel_id', 'key'], unique=True)
    op.execute(
        "INSERT INTO guardrail_settings (guild_id, channel_id, key, value, updated_by, updated_at) "
        "SELECT guild_id, channel_id, 'rating', rating, updated_by, updated_at FROM channel_ratings"
    )
    with op.batch_alter_table('channel_ratings', schema=None) as batch_op:
        batch_op.drop_index('ix_channel_ratings_scope')
    op.drop_table('channel_ratings')

    op.create_table('misinfo_entries',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('guild_id', sa.BigInteger(), nullable=False),
    sa.Column('claim', sa.Text(), nullable=False),
    sa.Column('correction', sa.Text(), nullable=False),
    sa.Column('added_by', sa.BigInteger(), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('removed_by', sa.BigInteger(), nullable=True),
    sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('misinfo_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_misinfo_entries_guild_id'), ['guild_id'], unique=False)

    op.create_table('reviews',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('request_id', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('guild_id', sa.BigInteger(), nullable=False),
    sa.Column('channel_id', sa.BigInteger(), nullable=False),
    sa.Column('author_id', sa.BigInteger(), nullable=False),
    sa.Column('review_channel_id', sa.BigInteger(), nullable=False),
    sa.Column('review_message_id', sa.BigInteger(), nullable=True),
    sa.Column('rail', sa.String(length=32), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('decided_by', sa.BigInteger(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['request_id'], ['requests.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('reviews', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reviews_guild_id'), ['guild_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reviews_request_id'), ['request_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('reviews', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reviews_request_id'))
        batch_op.drop_index(batch_op.f('ix_reviews_guild_id'))
    op.drop_table('reviews')
    with op.batch_alter_table('misinfo_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_misinfo_entries_guild_id'))
    op.drop_table('misinfo_entries')

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
    op.execute(
        "INSERT INTO channel_ratings (guild_id, channel_id, rating, updated_by, updated_at) "
        "SELECT guild_id, channel_id, value, updated_by, updated_at FROM guardrail_settings WHERE key = 'rating'"
    )
    with op.batch_alter_table('guardrail_settings', schema=None) as batch_op:
        batch_op.drop_index('ix_guardrail_settings_scope')
    op.drop_table('guardrail_settings')
