"""per-guild hash chain: entries, heads and checkpoints

Revision ID: 0004_chain
Revises: 0003_policies
Create Date: 2026-11-29
"""

from alembic import op
import sqlalchemy as sa


revision = '0004_chain'
down_revision = '0003_policies'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('chain_entries',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('chain', sa.BigInteger(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('record_id', sa.String(length=64), nullable=False),
    sa.Column('record_digest', sa.String(length=64), nullable=False),
    sa.Column('leaf_hash', sa.String(length=64), nullable=False),
    sa.Column('chain_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('chain', 'seq', name='uq_chain_entries_chain_seq')
    )
    with op.batch_alter_table('chain_entries', schema=None) as batch_op:
        batch_op.create_index('ix_chain_entries_record', ['kind', 'record_id'], unique=False)

    op.create_table('chain_heads',
    sa.Column('chain', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('chain_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('chain')
    )
    op.create_table('chain_checkpoints',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('chain', sa.BigInteger(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('chain_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('chain', 'seq', name='uq_chain_checkpoints_chain_seq')
    )


def downgrade() -> None:
    op.drop_table('chain_checkpoints')
    op.drop_table('chain_heads')
    with op.batch_alter_table('chain_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_chain_entries_record')
    op.drop_table('chain_entries')
