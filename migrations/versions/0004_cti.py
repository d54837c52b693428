"""CTI agent sessions; reporting inputs

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    _agent_state_log_up()
    _queue_kpi_settings_up()


def downgrade() -> None:
    _queue_kpi_settings_down()
    _agent_state_log_down()


# --- agent_state_log (created for the reports; the CTI layer writes it) ---------------
def _agent_state_log_up() -> None:
    # One row per period an agent spent in a state (logged_in, ready, talk, wrap, pause, logged_out);
    # ended_at is NULL while the period is open. Reports clip periods to their interval.
    op.create_table(
        "agent_state_log",
        sa.Column("id", BigId, nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_agent_state_log_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_state_log")),
    )
    with op.batch_alter_table("agent_state_log", schema=None) as batch_op:
        batch_op.create_index("ix_agent_state_log_user_started", ["user_id", "started_at"], unique=False)
        batch_op.create_index("ix_agent_state_log_started_at", ["started_at"], unique=False)


def _agent_state_log_down() -> None:
    op.drop_table("agent_state_log")


# --- per-queue KPI settings: service-level formula and short-abandon threshold -----------------
def _queue_kpi_settings_up() -> None:
    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "sl_variant", sa.String(length=32), nullable=False, server_default="short_abandons_excluded"
            )
        )
        batch_op.add_column(sa.Column("sl_target_pct", sa.Integer(), nullable=False, server_default="80"))
        batch_op.add_column(sa.Column("short_abandon_s", sa.Integer(), nullable=False, server_default="5"))


def _queue_kpi_settings_down() -> None:
    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.drop_column("short_abandon_s")
        batch_op.drop_column("sl_target_pct")
        batch_op.drop_column("sl_variant")
