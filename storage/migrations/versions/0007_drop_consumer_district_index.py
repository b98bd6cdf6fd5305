"""drop the index of consumers by district

No query looks consumers up by district; the index only cost every import its upkeep.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 02:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_consumers_district", table_name="consumers", if_exists=True)


def downgrade() -> None:
    op.create_index("ix_consumers_district", "consumers", ["district"], unique=False)
