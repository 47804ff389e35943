"""story games: sessions, players, turns, AI choice sets and votes

Revision ID: 0007_stories
Revises: 0006_policy_versions
Create Date: 2026-11-29
"""

from alembic import op
import sqlalchemy as sa


revision = '0007_stories'
down_revision = '0006_policy_versions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('story_sessions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('guild_id', sa.BigInteger(), nullable=False),
    sa.Column('channel_id', sa.BigInteger(), nullable=False),
    sa.Column('thread_id', sa.BigInteger(), nullable=True),
    sa.Column('host_id', sa.BigInteger(), nullable=False),
    sa.Column('host_name', sa.String(length=100), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('premise', sa.Text(), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('rating', sa.String(length=8), nullable=False),
    sa.Column('lines', sa.JSON(), nullable=False),
    sa.Column('veils', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('status_message_id', sa.BigInteger(), nullable=True),
    sa.Column('turn_count', sa.Integer(), nullable=False),
    sa.Column('last_number', sa.Integer(), nullable=False),
    sa.Column('next_player_id', sa.BigInteger(), nullable=True),
    sa.Column('turn_deadline', sa.DateTime(timezone=True), nullable=True),
    sa.Column('turn_timeout_s', sa.Integer(), nullable=True),
    sa.Column('vote_timeout_s', sa.Integer(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=True),
    sa.Column('summary_through', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_story_sessions_place', 'story_sessions', ['guild_id', 'channel_id', 'status'], unique=False)
    op.create_index('ix_story_sessions_thread', 'story_sessions', ['thread_id'], unique=False)
    op.create_index('ix_story_sessions_deadline', 'story_sessions', ['status', 'turn_deadline'], unique=False)

    op.create_table('story_players',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('join_order', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('joined_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('left_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['session_id'], ['story_sessions.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('session_id', 'user_id', name='uq_story_players_session_user')
    )

    op.create_table('story_choice_sets',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('requested_by', sa.BigInteger(), nullable=False),
    sa.Column('parent_turn_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('deadline', sa.DateTime(timezone=True), nullable=False),
    sa.Column('tie_break', sa.String(length=16), nullable=False),
    sa.Column('chosen_turn_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_by', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['session_id'], ['story_sessions.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_story_choice_sets_session_id'), 'story_choice_sets', ['session_id'], unique=False)

    op.create_table('story_turns',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.BigInteger(), nullable=True),
    sa.Column('author_name', sa.String(length=100), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('request_id', sa.String(length=32), nullable=True),
    sa.Column('parent_turn_id', sa.Integer(), nullable=True),
    sa.Column('choice_set_id', sa.Integer(), nullable=True),
    sa.Column('choice_index', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['choice_set_id'], ['story_choice_sets.id'], ),
    sa.ForeignKeyConstraint(['parent_turn_id'], ['story_turns.id'], ),
    sa.ForeignKeyConstraint(['session_id'], ['story_sessions.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('session_id', 'number', name='uq_story_turns_session_number')
    )
    op.create_index(op.f('ix_story_turns_choice_set_id'), 'story_turns', ['choice_set_id'], unique=False)
    op.create_index(op.f('ix_story_turns_request_id'), 'story_turns', ['request_id'], unique=False)

    op.create_table('story_votes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('choice_set_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('turn_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['choice_set_id'], ['story_choice_sets.id'], ),
    sa.ForeignKeyConstraint(['turn_id'], ['story_turns.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('choice_set_id', 'user_id', name='uq_story_votes_set_user')
    )


def downgrade() -> None:
    op.drop_table('story_votes')
    op.drop_index(op.f('ix_story_turns_request_id'), table_name='story_turns')
    op.drop_index(op.f('ix_story_turns_choice_set_id'), table_name='story_turns')
    op.drop_table('story_turns')
    op.drop_index(op.f('ix_story_choice_sets_session_id'), table_name='story_choice_sets')
    op.drop_table('story_choice_sets')
    op.drop_table('story_players')
    op.drop_index('ix_story_sessions_deadline', table_name='story_sessions')
    op.drop_index('ix_story_sessions_thread', table_name='story_sessions')
    op.drop_index('ix_story_sessions_place', table_name='story_sessions')
    op.drop_table('story_sessions')
