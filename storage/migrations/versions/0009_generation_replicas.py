"""scale-out: the engine replicas a generation went through when one failed; the bot process that took a request

Revision ID: 0009_generation_replicas
Revises: 0008_story_messages
Create Date: 2026-11-29
"""

from alembic import op
import sqlalchemy as sa


revision = '0009_generation_replicas'
down_revision = '0008_story_messages'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('generations', sa.Column('replicas', sa.JSON(), nullable=True))
    op.add_column('requests', sa.Column('instance', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('generations') as batch:
        batch.drop_column('replicas')
    with op.batch_alter_table('requests') as batch:
        batch.drop_column('instance')
