"""fewer, partial message indexes: the webhook writes every one on each text

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 06:55:00.000000

ix_messages_clinic_id is the prefix of ix_messages_clinic_created. A text and its reply now
share one leaf of the patient index (no direction in it). The page sweep's status index and the
reply look-up's index hold only the rows those queries ask for.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PAGE_ROWS = "purpose = 'page'"
REPLY_ROWS = "reply_to_id IS NOT NULL"


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_clinic_id")
        batch_op.drop_index("ix_messages_patient_direction_created")
        batch_op.drop_index("ix_messages_status_purpose")
        batch_op.drop_index("ix_messages_reply_to_id")
        batch_op.create_index("ix_messages_patient_created", ["patient_id", "created_at"])
        batch_op.create_index(
            "ix_messages_page_status",
            ["status"],
            sqlite_where=sa.text(PAGE_ROWS),
            postgresql_where=sa.text(PAGE_ROWS),
        )
        batch_op.create_index(
            "ix_messages_reply_to_id",
            ["reply_to_id"],
            sqlite_where=sa.text(REPLY_ROWS),
            postgresql_where=sa.text(REPLY_ROWS),
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_reply_to_id")
        batch_op.drop_index("ix_messages_page_status")
        batch_op.drop_index("ix_messages_patient_created")
        batch_op.create_index("ix_messages_reply_to_id", ["reply_to_id"])
        batch_op.create_index("ix_messages_status_purpose", ["status", "purpose"])
        batch_op.create_index(
            "ix_messages_patient_direction_created", ["patient_id", "direction", "created_at"]
        )
        batch_op.create_index("ix_messages_clinic_id", ["clinic_id"])
