"""agents get a support tier and teams

Revision ID: 0003_ops_agent_tier_teams
Revises: 0003_truth
Create Date: 2026-12-05 17:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_ops_agent_tier_teams"
down_revision = "0003_truth"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tier", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("teams", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_column("teams")
        batch_op.drop_column("tier")
