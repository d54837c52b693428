"""Customer care. The customer's care status (accounts and contacts: care_status active | lost, lost_at,
loss_reason) for the loss rate; the rules of the unhappy-customers file (unhappy_rules). The reasons
taxonomy: complaint_reasons (category → sub-category, French and English labels, active or retired),
complaints.reason_id and interactions.reason_id (a disposition's dissatisfaction reason). Every free-text
category already used by a complaint becomes a category of its own (code and labels from the text), and
its complaints point at it.

Revision ID: 0013
Revises: 0012
"""

import re
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def reason_code(text: str) -> str:
    """`Délai de réponse` → `delai_de_reponse` (the API's code pattern: lower-case ASCII, digits, _)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")[:70] or "other"


def upgrade() -> None:
    op.create_table(
        "complaint_reasons",
        sa.Column("id", BigId, nullable=False),
        sa.Column("parent_id", BigId, nullable=True),
        sa.Column("code", sa.String(length=80), nullable=False),
        sa.Column("label_fr", sa.String(length=200), nullable=False),
        sa.Column("label_en", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["complaint_reasons.id"],
            name=op.f("fk_complaint_reasons_parent_id_complaint_reasons"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaint_reasons")),
        sa.UniqueConstraint("code", name=op.f("uq_complaint_reasons_code")),
    )
    with op.batch_alter_table("complaint_reasons", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_complaint_reasons_parent_id"), ["parent_id"], unique=False)
    with op.batch_alter_table("complaints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason_id", BigId, nullable=True))
        batch_op.create_index(batch_op.f("ix_complaints_reason_id"), ["reason_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_complaints_reason_id_complaint_reasons"),
            "complaint_reasons",
            ["reason_id"],
            ["id"],
        )
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason_id", BigId, nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_interactions_reason_id_complaint_reasons"),
            "complaint_reasons",
            ["reason_id"],
            ["id"],
            ondelete="SET NULL",
        )

    op.create_table(
        "unhappy_rules",
        sa.Column("id", BigId, nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unhappy_rules")),
        sa.UniqueConstraint("code", name=op.f("uq_unhappy_rules_code")),
    )
    for table in ("accounts", "contacts"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("care_status", sa.String(length=8), server_default="active", nullable=False)
            )
            batch_op.add_column(sa.Column("lost_at", sa.DateTime(timezone=True), nullable=True))
            batch_op.add_column(sa.Column("loss_reason", sa.String(length=200), nullable=True))

    # the free-text categories already in use become categories of the taxonomy
    conn = op.get_bind()
    reasons = sa.table(
        "complaint_reasons",
        sa.column("id", BigId),
        sa.column("parent_id", BigId),
        sa.column("code", sa.String),
        sa.column("label_fr", sa.String),
        sa.column("label_en", sa.String),
        sa.column("active", sa.Boolean),
    )
    complaints = sa.table("complaints", sa.column("category", sa.String), sa.column("reason_id", BigId))
    texts = [r[0] for r in conn.execute(sa.select(complaints.c.category).distinct()) if r[0]]
    codes: dict[str, str] = {}
    for text in sorted(texts):
        code = base = reason_code(text)
        n = 1
        while code in codes.values():
            n += 1
            code = f"{base}_{n}"
        codes[text] = code
        label = text.strip()[:200] or code
        conn.execute(
            reasons.insert().values(code=code, label_fr=label, label_en=label, active=True, parent_id=None)
        )
    ids = dict(conn.execute(sa.select(reasons.c.code, reasons.c.id)).all())
    for text, code in codes.items():
        conn.execute(complaints.update().where(complaints.c.category == text).values(reason_id=ids[code]))


def downgrade() -> None:
    op.drop_table("unhappy_rules")
    for table in ("contacts", "accounts"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("loss_reason")
            batch_op.drop_column("lost_at")
            batch_op.drop_column("care_status")
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_interactions_reason_id_complaint_reasons"), type_="foreignkey"
        )
        batch_op.drop_column("reason_id")
    with op.batch_alter_table("complaints", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_complaints_reason_id_complaint_reasons"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_complaints_reason_id"))
        batch_op.drop_column("reason_id")
    with op.batch_alter_table("complaint_reasons", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_complaint_reasons_parent_id"))
    op.drop_table("complaint_reasons")
