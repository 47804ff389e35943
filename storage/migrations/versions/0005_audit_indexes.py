"""indexes for the moderators' audit queries

Revision ID: 0005_audit_indexes
Revises: 0004_chain
Create Date: 2026-11-30

What each one serves (storage/audit.py), at a million generations:
- requests (guild_id, user_id, created_at): `/audit user`, a member's requests in a guild newest first;
- requests (guild_id, status, created_at): `/audit stats`, counts by status over a period, from the index alone;
- verdicts gain `guild_id` (copied from their request; the pipeline writes it from now on), so a guild's verdicts
  are one index range instead of a join through all of its requests:
  - verdicts (guild_id, decision, category, created_at, request_id): `/audit flagged [category]`;
  - verdicts (guild_id, rail, decision, created_at): `/audit stats`, counts by rail and decision, in index order
    (no sort), over a period, from the index alone;
- reviews (review_message_id): `/audit message` on a review post.
Deliveries by message id (`ix_deliveries_message_id`), verdicts by request and chain entries by record already
have theirs (0001, 0004).
"""

from alembic import op
import sqlalchemy as sa


revision = '0005_audit_indexes'
down_revision = '0004_chain'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.create_index('ix_requests_guild_user_created', ['guild_id', 'user_id', 'created_at'], unique=False)
        batch_op.create_index('ix_requests_guild_status_created', ['guild_id', 'status', 'created_at'], unique=False)
    with op.batch_alter_table('verdicts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('guild_id', sa.BigInteger(), nullable=True))
    op.execute("UPDATE verdicts SET guild_id = (SELECT guild_id FROM requests WHERE requests.id = verdicts.request_id)")
    with op.batch_alter_table('verdicts', schema=None) as batch_op:
        batch_op.create_index(
            'ix_verdicts_guild_decision', ['guild_id', 'decision', 'category', 'created_at', 'request_id'], unique=False
        )
        batch_op.create_index('ix_verdicts_guild_rail', ['guild_id', 'rail', 'decision', 'created_at'], unique=False)
    with op.batch_alter_table('reviews', schema=None) as batch_op:
        batch_op.create_index('ix_reviews_review_message_id', ['review_message_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('reviews', schema=None) as batch_op:
        batch_op.drop_index('ix_reviews_review_message_id')
    with op.batch_alter_table('verdicts', schema=None) as batch_op:
        batch_op.drop_index('ix_verdicts_guild_rail')
        batch_op.drop_index('ix_verdicts_guild_decision')
        batch_op.drop_column('guild_id')
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.drop_index('ix_requests_guild_status_created')
        batch_op.drop_index('ix_requests_guild_user_created')
