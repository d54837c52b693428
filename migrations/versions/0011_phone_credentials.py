"""Per-phone SIP credentials: each user's phone authenticates with a password of its own, stored as PJSIP's
md5_cred (MD5 of user:realm:password), and the phone's kind (`sip` or `webrtc`).

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("sip_ha1", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("sip_password_set_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("sip_kind", sa.String(length=10), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("sip_kind")
        batch.drop_column("sip_password_set_at")
        batch.drop_column("sip_ha1")
