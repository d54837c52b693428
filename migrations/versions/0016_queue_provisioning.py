"""Queues provisioned into Asterisk from Plateau: each queue's app_queue strategy, wrap-up time, maximum
wait, overflow queue and the DID that reaches it (cti/queues_conf.py renders them). A member's skill stays
in queue_members.penalty (skill 1 = penalty 0).

Revision ID: 0016
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("queues") as batch:
        batch.add_column(
            sa.Column("strategy", sa.String(length=20), nullable=False, server_default="rrmemory")
        )
        batch.add_column(sa.Column("wrapup_s", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("max_wait_s", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("overflow", sa.String(length=80), nullable=True))
        batch.add_column(sa.Column("did", sa.String(length=21), nullable=True))
        batch.create_unique_constraint("uq_queues_did", ["did"])
    # the queues that existed keep the routing the shipped configuration gave them
    op.execute("UPDATE queues SET strategy = 'linear' WHERE name = 'hotline'")


def downgrade() -> None:
    with op.batch_alter_table("queues") as batch:
        batch.drop_constraint("uq_queues_did", type_="unique")
        for column in ("did", "overflow", "max_wait_s", "wrapup_s", "strategy"):
            batch.drop_column(column)
