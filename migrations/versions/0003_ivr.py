"""IVR history: one row per pass of a call through a flow

Revision ID: 0003
Revises: 0002

IVR callbacks are stored in the outbound `callbacks` table (migration 0002) through
dialer.callbacks.schedule_callback; this migration only adds the IVR's own history.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ivr_sessions",
        sa.Column("id", _ID, nullable=False),
        sa.Column("linkedid", sa.String(length=64), nullable=False),
        sa.Column("uniqueid", sa.String(length=64), nullable=False),
        sa.Column("flow", sa.String(length=64), nullable=False),
        sa.Column("did", sa.String(length=32), nullable=False),
        sa.Column("caller", sa.String(length=32), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_s", sa.Double(), nullable=True),
        sa.Column("path", sa.JSON(), nullable=False),
        sa.Column("digits", sa.String(length=200), nullable=False),
        sa.Column("exit_kind", sa.String(length=32), nullable=True),
        sa.Column("exit_node", sa.String(length=64), nullable=True),
        sa.Column("exit_detail", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ivr_sessions")),
    )
    with op.batch_alter_table("ivr_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ivr_sessions_linkedid"), ["linkedid"], unique=False)
        batch_op.create_index("ix_ivr_sessions_flow_started", ["flow", "started_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ivr_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_ivr_sessions_flow_started")
        batch_op.drop_index(batch_op.f("ix_ivr_sessions_linkedid"))
    op.drop_table("ivr_sessions")
