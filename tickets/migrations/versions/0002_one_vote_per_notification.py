"""one vote per notification

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 22:22:51.665155
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            batch_op.f("uq_feedback_notification_id"), ["notification_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_feedback_notification_id"), type_="unique")
