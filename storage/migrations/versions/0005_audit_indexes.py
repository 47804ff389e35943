"""indexes for the moderators' audit queries

Revision ID: 0005_audit_indexes
Revises: 0004_chain
Create Date: 2026-11-30

What each one serves (storage/audit.py), at a million generations:
- requests (guild_id, user_id, created_at): `/audit user`, a member's requests in a guild newest first;
- requests (guild_id, status, created_at): `/audit stats`, counts by status over a period, from the index alone;
- verdicts (decision, category, request_id): `/audit flagged [category]`, the few non-pass verdicts first;
- verdicts (request_id, rail, decision, category): `/audit stats`, counts by rail and decision without the rows;
- reviews (review_message_id): `/audit message` on a review post.
Deliveries by message id (`ix_deliveries_message_id`), verdicts by request and chain entries by record already
have theirs (0001, 0004).
"""

from alembic import op


revision = '0005_audit_indexes'
down_revision = '0004_chain'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.create_index('ix_requests_guild_user_created', ['guild_id', 'user_id', 'created_at'], unique=False)
        batch_op.create_index('ix_requests_guild_status_created', ['guild_id', 'status', 'created_at'], unique=False)
    with op.batch_alter_table('verdicts', schema=None) as batch_op:
        batch_op.create_index('ix_verdicts_decision_category', ['decision', 'category', 'request_id'], unique=False)
        batch_op.create_index(
            'ix_verdicts_request_rail_decision', ['request_id', 'rail', 'decision', 'category'], unique=False
        )
    with op.batch_alter_table('reviews', schema=None) as batch_op:
        batch_op.create_index('ix_reviews_review_message_id', ['review_message_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('reviews', schema=None) as batch_op:
        batch_op.drop_index('ix_reviews_review_message_id')
    with op.batch_alter_table('verdicts', schema=None) as batch_op:
        batch_op.drop_index('ix_verdicts_request_rail_decision')
        batch_op.drop_index('ix_verdicts_decision_category')
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.drop_index('ix_requests_guild_status_created')
        batch_op.drop_index('ix_requests_guild_user_created')
