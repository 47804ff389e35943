"""story sessions that take plain messages in their thread as turns

Revision ID: 0008_story_messages
Revises: 0007_stories
Create Date: 2026-11-30
"""

from alembic import op
import sqlalchemy as sa


revision = '0008_story_messages'
down_revision = '0007_stories'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('story_sessions', sa.Column('take_messages', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('story_sessions') as batch:
        batch.drop_column('take_messages')
