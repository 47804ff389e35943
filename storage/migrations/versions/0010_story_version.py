"""story sessions carry a version: each change bumps it first, so processes sharing the database take turns

Revision ID: 0010_story_version
Revises: 0009_generation_replicas
Create Date: 2026-11-29
"""

from alembic import op
import sqlalchemy as sa


revision = '0010_story_version'
down_revision = '0009_generation_replicas'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('story_sessions', sa.Column('version', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('story_sessions') as batch:
        batch.drop_column('version')
