"""Reps of a team in routing turn order, so that routing stops at the first who can take a lead

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_users_team_route_credit", "users", ["team_id", "route_credit", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_users_team_route_credit", table_name="users")
