"""Leases for several Plateau nodes on one PostgreSQL database (core/leases.py): one row per thing only one
node may act for (a campaign's loop, a periodic job, a node's own presence), its owner, a fencing token that
grows on every change of owner, and when it expires by the database's clock. `dialer_calls.lease_token`: the
campaign lease's token the call was placed under. SQLite creates the table but never uses it (one node).

Revision ID: 0021
Revises: 0020
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("owner", sa.String(length=120), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("renewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )
    with op.batch_alter_table("dialer_calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_token", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dialer_calls", schema=None) as batch_op:
        batch_op.drop_column("lease_token")
    op.drop_table("leases")
