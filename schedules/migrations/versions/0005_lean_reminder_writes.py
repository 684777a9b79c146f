"""fewer checks and index entries on each reminder and appointment an import writes

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 17:00:00.000000

A reminder's clinic is now checked with its appointment, and an appointment's with its patient,
in one composite foreign key each (a reminder of another clinic's visit is refused too), instead
of a lookup per key. The expiry sweep reads ix_reminders_status_due (a text is always due before
it expires), so ix_reminders_status_expires goes; the Twilio SID's unique index holds only the
reminders that were sent.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SENT_ROWS = "twilio_sid IS NOT NULL"


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_patients_id_clinic_id", ["id", "clinic_id"])
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_appointments_id_clinic_id", ["id", "clinic_id"])
        batch_op.drop_constraint("fk_appointments_clinic_id_clinics", type_="foreignkey")
        batch_op.drop_constraint("fk_appointments_patient_id_patients", type_="foreignkey")
        batch_op.create_foreign_key(
            "fk_appointments_patient_id_patients",
            "patients",
            ["patient_id", "clinic_id"],
            ["id", "clinic_id"],
            ondelete="CASCADE",
        )
    with op.batch_alter_table("reminders", schema=None) as batch_op:
        batch_op.drop_index("ix_reminders_status_expires")
        batch_op.drop_constraint("uq_reminders_twilio_sid", type_="unique")
        batch_op.create_index(
            "uq_reminders_twilio_sid",
            ["twilio_sid"],
            unique=True,
            sqlite_where=sa.text(SENT_ROWS),
            postgresql_where=sa.text(SENT_ROWS),
        )
        batch_op.drop_constraint("fk_reminders_clinic_id_clinics", type_="foreignkey")
        batch_op.drop_constraint("fk_reminders_appointment_id_appointments", type_="foreignkey")
        batch_op.create_foreign_key(
            "fk_reminders_appointment_id_appointments",
            "appointments",
            ["appointment_id", "clinic_id"],
            ["id", "clinic_id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("reminders", schema=None) as batch_op:
        batch_op.drop_constraint("fk_reminders_appointment_id_appointments", type_="foreignkey")
        batch_op.create_foreign_key(
            "fk_reminders_appointment_id_appointments",
            "appointments",
            ["appointment_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_foreign_key(
            "fk_reminders_clinic_id_clinics", "clinics", ["clinic_id"], ["id"], ondelete="CASCADE"
        )
        batch_op.drop_index("uq_reminders_twilio_sid")
        batch_op.create_unique_constraint("uq_reminders_twilio_sid", ["twilio_sid"])
        batch_op.create_index("ix_reminders_status_expires", ["status", "expires_at"])
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.drop_constraint("fk_appointments_patient_id_patients", type_="foreignkey")
        batch_op.create_foreign_key(
            "fk_appointments_patient_id_patients",
            "patients",
            ["patient_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_foreign_key(
            "fk_appointments_clinic_id_clinics",
            "clinics",
            ["clinic_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.drop_constraint("uq_appointments_id_clinic_id", type_="unique")
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.drop_constraint("uq_patients_id_clinic_id", type_="unique")
