"""Leads: the import job that wrote each one

A list import on SQLite commits batch by batch (one transaction for a whole file held SQLite's only write
lock for minutes: logins and notes failed with "database is locked"). It stays all-or-nothing through its
job: a lead is dialable only once the job that wrote it is done, and a failed or interrupted job's leads
are deleted. Leads imported before this revision have no job and stay dialable.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "leads",
        sa.Column("import_job_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
    )


def downgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.drop_column("import_job_id")
