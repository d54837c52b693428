"""The CROC script answers an agent has typed but not saved yet (`script_drafts`), keyed by the call and the
agent, so that another node serves the agent's next request; the retention job deletes the old ones.

Revision ID: 0024
Revises: 0023
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "script_drafts",
        sa.Column("linkedid", sa.String(length=64), nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_script_drafts_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("linkedid", "user_id", name=op.f("pk_script_drafts")),
    )
    op.create_index(op.f("ix_script_drafts_updated_at"), "script_drafts", ["updated_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_script_drafts_updated_at"), table_name="script_drafts")
    op.drop_table("script_drafts")
