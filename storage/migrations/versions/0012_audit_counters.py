"""audit counters: /audit stats reads per guild and day counts kept as rows arrive, backfilled from the rows

Revision ID: 0012_audit_counters
Revises: 0011_votes_and_settings
Create Date: 2026-12-04
"""

from alembic import op
import sqlalchemy as sa

from storage.audit_counters import rebuild_statements


revision = '0012_audit_counters'
down_revision = '0011_votes_and_settings'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'audit_request_counts',
        sa.Column('guild_id', sa.BigInteger(), nullable=False),
        sa.Column('day', sa.String(length=10), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('guild_id', 'day', 'status'),
    )
    op.create_table(
        'audit_verdict_counts',
        sa.Column('guild_id', sa.BigInteger(), nullable=False),
        sa.Column('day', sa.String(length=10), nullable=False),
        sa.Column('rail', sa.String(length=32), nullable=False),
        sa.Column('decision', sa.String(length=8), nullable=False),
        sa.Column('category', sa.String(length=32), nullable=False),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('guild_id', 'day', 'rail', 'decision', 'category'),
    )
    op.create_table(
        'audit_flagged_counts',
        sa.Column('guild_id', sa.BigInteger(), nullable=False),
        sa.Column('day', sa.String(length=10), nullable=False),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('guild_id', 'day'),
    )
    op.create_table(
        'audit_members',
        sa.Column('guild_id', sa.BigInteger(), nullable=False),
        sa.Column('user_id', sa.BigInteger(), nullable=False),
        sa.Column('last_day', sa.String(length=10), nullable=False),
        sa.PrimaryKeyConstraint('guild_id', 'user_id'),
    )
    op.create_index('ix_audit_members_guild_day', 'audit_members', ['guild_id', 'last_day'])
    op.create_index('ix_audit_members_user', 'audit_members', ['user_id', 'last_day'])
    # Backfill from the rows already there (the recorder keeps them from here on).
    for statement in rebuild_statements(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    op.drop_index('ix_audit_members_user', table_name='audit_members')
    op.drop_index('ix_audit_members_guild_day', table_name='audit_members')
    op.drop_table('audit_members')
    op.drop_table('audit_flagged_counts')
    op.drop_table('audit_verdict_counts')
    op.drop_table('audit_request_counts')
