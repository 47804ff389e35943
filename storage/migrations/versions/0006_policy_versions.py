"""policy versions: what each policy hash stands for

Revision ID: 0006_policy_versions
Revises: 0005_audit_indexes
Create Date: 2026-11-29
"""

from alembic import op
import sqlalchemy as sa


revision = '0006_policy_versions'
down_revision = '0005_audit_indexes'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('policy_versions',
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('policy', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('hash')
    )


def downgrade() -> None:
    op.drop_table('policy_versions')
