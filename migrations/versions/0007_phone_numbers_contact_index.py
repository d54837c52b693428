"""Customer import: drop ix_phone_numbers_contact_id, a copy of uq_phone_numbers_contact's leading
column (contact_id): every imported number paid for two index entries where one serves the same queries

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # contact_id lookups (a contact's numbers, the cascade from contacts) use uq_phone_numbers_contact
    op.drop_index("ix_phone_numbers_contact_id", table_name="phone_numbers")


def downgrade() -> None:
    op.create_index("ix_phone_numbers_contact_id", "phone_numbers", ["contact_id"], unique=False)
