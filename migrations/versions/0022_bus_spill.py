"""The bus between nodes: `bus_spill` holds the events too large for a NOTIFY payload (8000 bytes), keyed
by the sending node's id and the event's number; the notification names the row (core/bus_frames.py).

Revision ID: 0022
Revises: 0021
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bus_spill",
        sa.Column("sender", sa.String(length=120), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("sender", "seq", name=op.f("pk_bus_spill")),
    )
    op.create_index(op.f("ix_bus_spill_created_at"), "bus_spill", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_bus_spill_created_at"), table_name="bus_spill")
    op.drop_table("bus_spill")
