"""Drop the indexes whose column starts a longer index of the same table

Every index is written with each row: users are updated with each lead routed to them, and
a delivery is journalled with each webhook. Lookups by team or by source use the longer
indexes (`ix_users_team_route_credit`, `ix_deliveries_source_key`).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_users_team_id", table_name="users")
    op.drop_index("ix_webhook_deliveries_source_id", table_name="webhook_deliveries")


def downgrade() -> None:
    op.create_index("ix_webhook_deliveries_source_id", "webhook_deliveries", ["source_id"])
    op.create_index("ix_users_team_id", "users", ["team_id"])
