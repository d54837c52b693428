"""Calls in progress, noted as they are offered or answered and deleted with their history row: a Plateau that
was killed finds the calls that ended while it was away, and writes them

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "calls_open",
        sa.Column("linkedid", sa.String(length=64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("noted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("linkedid", name=op.f("pk_calls_open")),
    )


def downgrade() -> None:
    op.drop_table("calls_open")
