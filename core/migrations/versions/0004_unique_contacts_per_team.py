"""One lead per phone and per email in a team, held by unique indexes

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for column in ("phone_e164", "email"):
        condition = sa.text(f"{column} IS NOT NULL")
        op.create_index(
            f"uq_leads_team_{column.split('_')[0]}", "leads", ["team_id", column], unique=True,
            sqlite_where=condition, postgresql_where=condition,
        )


def downgrade() -> None:
    op.drop_index("uq_leads_team_email", table_name="leads")
    op.drop_index("uq_leads_team_phone", table_name="leads")
