"""instance leases: a lease per running bot process, and the lease that took each request, so that a process
starting on a shared database closes only the requests whose own process is gone

Revision ID: 0013_instance_leases
Revises: 0012_audit_counters
Create Date: 2026-12-04
"""

from alembic import op
import sqlalchemy as sa


revision = '0013_instance_leases'
down_revision = '0012_audit_counters'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'instance_leases',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('instance', sa.String(length=64), nullable=False),
        sa.Column('host', sa.String(length=255), nullable=False),
        sa.Column('machine', sa.String(length=200), nullable=False),
        sa.Column('pid', sa.Integer(), nullable=False),
        sa.Column('process_start', sa.String(length=32), nullable=True),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('renewed_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.add_column('requests', sa.Column('lease_id', sa.String(length=32), nullable=True))
    op.create_index('ix_requests_lease_id', 'requests', ['lease_id'])


def downgrade() -> None:
    op.drop_index('ix_requests_lease_id', table_name='requests')
    # Not batch mode: on SQLite it would copy `requests` and drop the original, which the foreign keys of later
    # tables (votes, counters) refuse; SQLite >= 3.35 drops a plain column in place.
    op.drop_column('requests', 'lease_id')
    op.drop_table('instance_leases')
