"""Dialer: calls in flight survive a Plateau restart; the abandon and machine messages

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # one row per originated call, written before the Originate leaves and deleted in the transaction that
    # writes its attempt: after a restart the engine adopts what is left instead of dialling it again
    op.create_table(
        "dialer_calls",
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("campaign_id", BigId, nullable=False),
        sa.Column("lead_id", BigId, nullable=False),
        sa.Column("e164", sa.String(length=20), nullable=False),
        sa.Column("lead_status", sa.String(length=16), nullable=False),
        sa.Column("for_agent", sa.String(length=80), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("agent_connected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("agent", sa.String(length=80), nullable=True),
        sa.Column("amd_status", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_dialer_calls_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["leads.id"], name=op.f("fk_dialer_calls_lead_id_leads"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("channel_id", name=op.f("pk_dialer_calls")),
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("callback_number", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("machine_message", sa.String(length=80), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("machine_message")
        batch_op.drop_column("callback_number")
    op.drop_table("dialer_calls")
