"""Call recordings. Per queue and per campaign: the recording policy (all | none | on_demand), the sound
announced to the caller and the days a recording is kept (none: the service's default). `recordings`: one
file per call (by Linkedid; its storage key, never a path), duration and size, when it expires and when it
was purged; `recording_pauses`: who paused and resumed a recording, when; `complaint_recordings`: the
recordings a complaint pins (kept past their retention while it is open).

Revision ID: 0018
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    for table in ("queues", "campaigns"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("recording_policy", sa.String(length=12), server_default="none", nullable=False)
            )
            batch_op.add_column(sa.Column("recording_announcement", sa.String(length=80), nullable=True))
            batch_op.add_column(sa.Column("recording_retention_days", sa.Integer(), nullable=True))
    op.create_table(
        "recordings",
        sa.Column("id", BigId, nullable=False),
        sa.Column("linkedid", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=200), nullable=False),
        sa.Column("queue", sa.String(length=80), nullable=True),
        sa.Column("campaign_id", BigId, nullable=True),
        sa.Column("agent_id", BigId, nullable=True),
        sa.Column("started_at", WHEN, nullable=False),
        sa.Column("ended_at", WHEN, nullable=False),
        sa.Column("duration_s", sa.Double(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", WHEN, nullable=True),
        sa.Column("purged_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["users.id"], name=op.f("fk_recordings_agent_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recordings")),
        sa.UniqueConstraint("linkedid", name=op.f("uq_recordings_linkedid")),
    )
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recordings_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_recordings_expires_at"), ["expires_at"], unique=False)
    op.create_table(
        "recording_pauses",
        sa.Column("id", BigId, nullable=False),
        sa.Column("linkedid", sa.String(length=64), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=12), nullable=False),
        sa.Column("user_id", BigId, nullable=True),
        sa.Column("at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_recording_pauses_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recording_pauses")),
    )
    with op.batch_alter_table("recording_pauses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recording_pauses_linkedid"), ["linkedid"], unique=False)
    op.create_table(
        "complaint_recordings",
        sa.Column("complaint_id", BigId, nullable=False),
        sa.Column("recording_id", BigId, nullable=False),
        sa.Column("pinned_by", BigId, nullable=True),
        sa.Column("pinned_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["complaint_id"],
            ["complaints.id"],
            name=op.f("fk_complaint_recordings_complaint_id_complaints"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["recordings.id"],
            name=op.f("fk_complaint_recordings_recording_id_recordings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["pinned_by"],
            ["users.id"],
            name=op.f("fk_complaint_recordings_pinned_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("complaint_id", "recording_id", name=op.f("pk_complaint_recordings")),
    )
    with op.batch_alter_table("complaint_recordings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_complaint_recordings_recording_id"), ["recording_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("complaint_recordings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_complaint_recordings_recording_id"))
    op.drop_table("complaint_recordings")
    with op.batch_alter_table("recording_pauses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recording_pauses_linkedid"))
    op.drop_table("recording_pauses")
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recordings_expires_at"))
        batch_op.drop_index(batch_op.f("ix_recordings_agent_id"))
    op.drop_table("recordings")
    for table in ("campaigns", "queues"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("recording_retention_days")
            batch_op.drop_column("recording_announcement")
            batch_op.drop_column("recording_policy")
