"""The customer's data rights. `tombstones`: a keyed hash (never the clear value) of each number and e-mail
of an erased person, so list and customer imports skip them; `contacts.objected_at`: when the person objected
to being called (their numbers go on the internal do-not-call list); `import_jobs.erased`: lines a list
import skipped because of a tombstone.

Revision ID: 0019
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "tombstones",
        sa.Column("id", BigId, nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tombstones")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_tombstones_key_hash")),
    )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("objected_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("import_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("erased", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("import_jobs", schema=None) as batch_op:
        batch_op.drop_column("erased")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("objected_at")
    op.drop_table("tombstones")
