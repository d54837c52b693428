"""Leads: the contact index holds only leads linked to a contact

An imported lead has no contact (the desk links one later), so every lead of a million-row import added
a NULL entry to `ix_leads_contact_id` that no query reads: `contact_id = …` (lookups, and the ON DELETE
SET NULL of a contact) never matches NULL. Partial on both engines; same name, same lookups.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LINKED = sa.text("contact_id IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_leads_contact_id", table_name="leads")
    op.create_index(
        "ix_leads_contact_id", "leads", ["contact_id"], postgresql_where=_LINKED, sqlite_where=_LINKED
    )


def downgrade() -> None:
    op.drop_index("ix_leads_contact_id", table_name="leads")
    op.create_index("ix_leads_contact_id", "leads", ["contact_id"])
