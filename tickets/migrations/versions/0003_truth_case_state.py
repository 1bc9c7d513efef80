"""cases that stay true: resolution code and note, customer review state; detector
labels that can be withdrawn (with the detector state to restore)

Revision ID: 0003_truth
Revises: 0003
Create Date: 2026-12-05 17:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_truth"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resolution_code", sa.String(32), nullable=True))
        batch_op.add_column(
            sa.Column("resolution_note", sa.Text(), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("review_state", sa.String(32), nullable=True))
    with op.batch_alter_table("detector_labels", schema=None) as batch_op:
        batch_op.add_column(sa.Column("undo", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("restored_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("detector_labels", schema=None) as batch_op:
        batch_op.drop_column("restored_at")
        batch_op.drop_column("withdrawn_at")
        batch_op.drop_column("undo")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("review_state")
        batch_op.drop_column("resolution_note")
        batch_op.drop_column("resolution_code")
