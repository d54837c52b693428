"""Post-call survey. survey_answers: one row per call (Linkedid) with CSAT 1–5, NPS 0–10, the spoken
comment's file, and the call's contact, agent, queue and campaign; queues.survey and campaigns.survey: the
survey is offered on their calls.

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "survey_answers",
        sa.Column("id", BigId, nullable=False),
        sa.Column("linkedid", sa.String(length=64), nullable=False),
        sa.Column("flow", sa.String(length=64), nullable=False),
        sa.Column("caller_number", sa.String(length=64), nullable=True),
        sa.Column("contact_id", BigId, nullable=True),
        sa.Column("agent_id", BigId, nullable=True),
        sa.Column("queue", sa.String(length=80), nullable=True),
        sa.Column("campaign_id", BigId, nullable=True),
        sa.Column("csat", sa.Integer(), nullable=True),
        sa.Column("nps", sa.Integer(), nullable=True),
        sa.Column("comment_path", sa.String(length=255), nullable=True),
        sa.Column("interaction_id", BigId, nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["users.id"], name=op.f("fk_survey_answers_agent_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_survey_answers_contact_id_contacts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interactions.id"],
            name=op.f("fk_survey_answers_interaction_id_interactions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_answers")),
        sa.UniqueConstraint("linkedid", name=op.f("uq_survey_answers_linkedid")),
    )
    with op.batch_alter_table("survey_answers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_survey_answers_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_survey_answers_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_survey_answers_answered_at"), ["answered_at"], unique=False)
    for table in ("queues", "campaigns"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("survey", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    for table in ("campaigns", "queues"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("survey")
    with op.batch_alter_table("survey_answers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_survey_answers_answered_at"))
        batch_op.drop_index(batch_op.f("ix_survey_answers_contact_id"))
        batch_op.drop_index(batch_op.f("ix_survey_answers_agent_id"))
    op.drop_table("survey_answers")
