"""Failed sign-ins (`login_failures`), counted by every node when several share PostgreSQL with the bus on
(app/login_limits.py): a lockout then holds across the nodes behind a load balancer.

Revision ID: 0025
Revises: 0024
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("id", BigId, nullable=False),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("cleared", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    op.create_index(op.f("ix_login_failures_at"), "login_failures", ["at"], unique=False)
    op.create_index("ix_login_failures_ip_at", "login_failures", ["ip", "at"], unique=False)
    op.create_index(
        "ix_login_failures_username_ip_at", "login_failures", ["username", "ip", "at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_login_failures_username_ip_at", table_name="login_failures")
    op.drop_index("ix_login_failures_ip_at", table_name="login_failures")
    op.drop_index(op.f("ix_login_failures_at"), table_name="login_failures")
    op.drop_table("login_failures")
