"""agent notices: the outbox for the service team (escalations, re-routes)

Revision ID: 0004_truth_agent_notices
Revises: 0003_desk_conversation
Create Date: 2026-12-05 19:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_truth_agent_notices"
down_revision = "0003_desk_conversation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_agent_notices_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_agent_notices_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_notices")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_agent_notices_idempotency_key")),
    )
    with op.batch_alter_table("agent_notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agent_notices_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_agent_notices_case_id"), ["case_id"], unique=False)
        batch_op.create_index("ix_agent_notices_due", ["status", "next_attempt_at"], unique=False)


def downgrade() -> None:
    op.drop_table("agent_notices")
