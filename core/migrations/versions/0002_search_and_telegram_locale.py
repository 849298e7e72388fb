"""Lead names folded for search; the Telegram language users last wrote in

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("name_folded", sa.String(length=200), nullable=False, server_default="")
        )
    # Python's casefold() keeps it right for new rows; LOWER() is close enough for old ones.
    op.execute("UPDATE leads SET name_folded = LOWER(name)")
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.alter_column("name_folded", server_default=None)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("telegram_locale", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("telegram_locale")
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_column("name_folded")
