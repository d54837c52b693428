"""Customer import: drop ix_phone_numbers_e164, an index no query reads: callers are found by
suffix_key (ix_phone_numbers_suffix_key), the exact E.164 match ranked among those rows, and a contact's
numbers by contact_id (uq_phone_numbers_contact). Every imported number paid for its entry.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_phone_numbers_e164", table_name="phone_numbers")


def downgrade() -> None:
    op.create_index("ix_phone_numbers_e164", "phone_numbers", ["e164"], unique=False)
