"""Database models: clinics, patients and their consent, the message audit log, staff alerts."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    literal_column,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC that refuses naive datetimes and always reads back aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert an aware datetime to UTC; refuse a naive one."""
        if value is None:
            return None
        value = _as_utc(value)
        # SQLite keeps no offset; store the UTC wall clock so comparisons stay lexical.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Any:
        """Return the bind conversion; on SQLite one step to the stored text, the same as
        SQLAlchemy's two (an import binds hundreds of thousands of timestamps)."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            return _as_utc(value).replace(tzinfo=None).isoformat(" ", "microseconds")

        return process

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return the stored time as an aware UTC datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _as_utc(value: datetime) -> datetime:
    """Return an aware datetime in UTC; refuse a naive one."""
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime given where a timezone-aware one is required")
    return value.astimezone(UTC)


def utcnow() -> datetime:
    """Return the current time, aware, in UTC."""
    return datetime.now(UTC)


NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with stable constraint names for Alembic."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class Direction(StrEnum):
    """Which way a text travelled."""

    INBOUND = "in"
    OUTBOUND = "out"


class Purpose(StrEnum):
    """Why an outbound text was sent."""

    REPLY = "reply"
    PAGE = "page"
    REMINDER = "reminder"


# The rows the partial index ix_messages_page_status holds. Queries that should use it say
# IS_PAGE, the same literal: neither planner proves a partial index's predicate from a bound
# parameter.
PAGE_ROWS = text(f"purpose = '{Purpose.PAGE.value}'")


class MessageStatus(StrEnum):
    """Lifecycle of a text in the audit log; outbound statuses follow Twilio's."""

    RECEIVED = "received"
    REPLIED = "replied"  # answered in TwiML: Twilio sends it, we never see its SID
    PENDING = "pending"  # stored, not yet handed to the sender
    CLAIMED = "claimed"  # about to be handed to the sender; stale means the outcome is unknown
    UNKNOWN = "unknown"  # a crash or timeout left us not knowing whether it went out
    ACCEPTED = "accepted"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    CANCELED = "canceled"
    READ = "read"
    PARTIALLY_DELIVERED = "partially_delivered"


# How far along Twilio's lifecycle a status is; callbacks only ever move a text forward.
STATUS_RANK: dict[str, int] = {
    MessageStatus.CLAIMED: 0,
    MessageStatus.UNKNOWN: 0,
    MessageStatus.ACCEPTED: 1,
    MessageStatus.SCHEDULED: 1,
    MessageStatus.QUEUED: 2,
    MessageStatus.SENDING: 3,
    MessageStatus.SENT: 4,
    MessageStatus.PARTIALLY_DELIVERED: 5,
    MessageStatus.DELIVERED: 6,
    MessageStatus.UNDELIVERED: 6,
    MessageStatus.FAILED: 6,
    MessageStatus.CANCELED: 6,
    MessageStatus.READ: 7,
}


class ConsentChange(StrEnum):
    """Entries in a patient's consent history."""

    CONSENT = "consent"
    WITHDRAWN = "withdrawn"  # the clinic's sheet says the patient no longer agrees
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"


class AlertKind(StrEnum):
    """Why staff are alerted, most urgent first."""

    CRISIS = "crisis"
    EMERGENCY = "emergency"
    LOW_CHECKIN = "low_checkin"
    CALL_BACK = "call_back"
    RESCHEDULE = "reschedule"
    OPTED_OUT_WITH_VISIT = "opted_out_with_visit"
    UNUSABLE_NUMBER = "unusable_number"
    SEND_FAILED = "send_failed"


class Clinic(Base):
    """A clinic: the number patients text, the number they call, its time zone and on-call line."""

    __tablename__ = "clinics"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    sms_number: Mapped[str] = mapped_column(String(20), unique=True)
    phone: Mapped[str] = mapped_column(String(20))
    timezone: Mapped[str] = mapped_column(String(64))
    oncall_number: Mapped[str | None] = mapped_column(String(20))
    hours: Mapped[str] = mapped_column(String(120), default="Mon-Fri 9:00 AM-5:00 PM")
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Bumped whenever a snippet version is approved, so cached catalogs know to reload.
    content_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    patients: Mapped[list[Patient]] = relationship(back_populates="clinic")


class Patient(Base):
    """Someone who texts a clinic's number or is on its schedule, with consent and opt-out state."""

    __tablename__ = "patients"
    __table_args__ = (
        UniqueConstraint("clinic_id", "phone"),
        # What an appointment's composite foreign key refers to: its patient, of its clinic.
        UniqueConstraint("id", "clinic_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(String(20))
    name: Mapped[str | None] = mapped_column(String(120))
    language: Mapped[str] = mapped_column(String(2), default="en")
    consent_at: Mapped[datetime | None]
    consent_method: Mapped[str | None] = mapped_column(String(32))
    consent_number: Mapped[str | None] = mapped_column(String(20))
    opted_out: Mapped[bool] = mapped_column(default=False)
    opted_out_at: Mapped[datetime | None]
    # Set when Twilio says the number cannot take texts (21211, 21614, 21635, 30006).
    unusable_code: Mapped[int | None]
    unusable_at: Mapped[datetime | None]
    # Inbound texts in the current reply-cap window, counted where the webhook already writes.
    texts_window_start: Mapped[datetime | None]
    texts_in_window: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    clinic: Mapped[Clinic] = relationship(back_populates="patients")
    consent_events: Mapped[list[ConsentEvent]] = relationship(
        back_populates="patient", order_by="ConsentEvent.id"
    )

    @property
    def may_receive_scheduled_texts(self) -> bool:
        """Return whether reminders may be sent: consent recorded and not opted out."""
        return self.consent_at is not None and not self.opted_out and self.unusable_at is None


class ConsentEvent(Base):
    """One change in a patient's consent: given, opted out, opted back in; kept forever."""

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    change: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(32))
    words: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(default=utcnow)

    patient: Mapped[Patient] = relationship(back_populates="consent_events")


# The columns an outbound text's audit row takes from its sender (reply, reminder).
OUTBOUND_COLUMNS = (
    "clinic_id",
    "patient_id",
    "from_number",
    "to_number",
    "body",
    "language",
    "classification",
)


class Message(Base):
    """The audit log: every text in and out, and the outbox for texts not yet sent."""

    __tablename__ = "messages"
    # Every inbound text and its reply write each of these indexes, so there are few of them:
    # a text and its reply share one leaf of the patient index, and the indexes the page sweep
    # and reply look-ups need leave out the rows they never ask for (SQLite writes each touched
    # page to its WAL on every commit).
    __table_args__ = (
        Index("ix_messages_patient_created", "patient_id", "created_at"),
        Index("ix_messages_clinic_created", "clinic_id", "created_at"),
        Index(
            "ix_messages_page_status",
            "status",
            sqlite_where=PAGE_ROWS,
            postgresql_where=PAGE_ROWS,
        ),
        Index(
            "ix_messages_reply_to_id",
            "reply_to_id",
            sqlite_where=text("reply_to_id IS NOT NULL"),
            postgresql_where=text("reply_to_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id", ondelete="SET NULL"))
    direction: Mapped[str] = mapped_column(String(3))
    purpose: Mapped[str | None] = mapped_column(String(16))
    twilio_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    from_number: Mapped[str] = mapped_column(String(32))
    to_number: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text, default="")
    num_media: Mapped[int] = mapped_column(Integer, default=0)
    language: Mapped[str | None] = mapped_column(String(2))
    classification: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[int | None]
    error_message: Mapped[str | None] = mapped_column(String(255))
    reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    updated_at: Mapped[datetime | None]


IS_PAGE = Message.purpose == literal_column(f"'{Purpose.PAGE.value}'")


class Treatment(StrEnum):
    """How the treatment is given; it sets the fasting rules."""

    IV = "iv"
    NASAL = "nasal"


class AppointmentStatus(StrEnum):
    """Whether a visit is still on."""

    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


class Appointment(Base):
    """A visit the clinic loaded, keyed by the clinic's own appointment id."""

    __tablename__ = "appointments"
    __table_args__ = (
        UniqueConstraint("clinic_id", "external_id"),
        Index("ix_appointments_patient_start", "patient_id", "starts_at"),
        Index("ix_appointments_clinic_start", "clinic_id", "starts_at"),
        # One check per row for both keys, and a patient of another clinic is refused.
        ForeignKeyConstraint(
            ["patient_id", "clinic_id"],
            ["patients.id", "patients.clinic_id"],
            name="fk_appointments_patient_id_patients",
            ondelete="CASCADE",
        ),
        # What a reminder's composite foreign key refers to: its visit, of its clinic.
        UniqueConstraint("id", "clinic_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Its clinic is checked with its patient (the composite key above).
    clinic_id: Mapped[int]
    external_id: Mapped[str] = mapped_column(String(64))
    patient_id: Mapped[int]
    starts_at: Mapped[datetime]
    duration_minutes: Mapped[int] = mapped_column(Integer, default=60)
    treatment: Mapped[str] = mapped_column(String(8), default=Treatment.IV)
    status: Mapped[str] = mapped_column(String(16), default=AppointmentStatus.SCHEDULED)
    confirmed_at: Mapped[datetime | None]
    driver_confirmed_at: Mapped[datetime | None]
    checkin_score: Mapped[int | None]
    checkin_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None]

    patient: Mapped[Patient] = relationship()


class ReminderKind(StrEnum):
    """What a scheduled text is for; one text may cover several."""

    FASTING = "fasting"
    ARRIVAL = "arrival"
    CHECKIN = "checkin"


class ReminderStatus(StrEnum):
    """Lifecycle of a reminder; claimed and unknown guard against sending twice."""

    PENDING = "pending"
    CLAIMED = "claimed"  # taken by one worker's batch, not yet handed to the sender
    SENDING = "sending"  # handed to the sender; stale means the outcome is unknown
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"  # may or may not have gone out; staff were alerted, never resent


class Reminder(Base):
    """One scheduled text for one appointment, covering one or more kinds."""

    __tablename__ = "reminders"
    __table_args__ = (
        # Also the expiry sweep's: a text is always due before it expires.
        Index("ix_reminders_status_due", "status", "due_at"),
        Index("ix_reminders_appointment", "appointment_id"),
        Index("ix_reminders_patient_due", "patient_id", "due_at"),
        Index(
            "uq_reminders_twilio_sid",
            "twilio_sid",
            unique=True,
            sqlite_where=text("twilio_sid IS NOT NULL"),
            postgresql_where=text("twilio_sid IS NOT NULL"),
        ),
        # One check per row for both keys, and another clinic's visit is refused.
        ForeignKeyConstraint(
            ["appointment_id", "clinic_id"],
            ["appointments.id", "appointments.clinic_id"],
            name="fk_reminders_appointment_id_appointments",
            ondelete="CASCADE",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Its clinic is checked with its appointment (the composite key above).
    clinic_id: Mapped[int]
    appointment_id: Mapped[int]
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    # Comma-separated ReminderKind values in send order, e.g. "fasting,arrival".
    kinds: Mapped[str] = mapped_column(String(32))
    due_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    # The appointment start this reminder was planned for: a moved visit no longer matches.
    planned_start: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default=ReminderStatus.PENDING)
    status_reason: Mapped[str | None] = mapped_column(String(255))
    # Which worker's batch holds the claim, so a claim taken back from it is not sent by it.
    claim_token: Mapped[str | None] = mapped_column(String(36))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    twilio_sid: Mapped[str | None] = mapped_column(String(64))
    error_code: Mapped[int | None]
    error_message: Mapped[str | None] = mapped_column(String(255))
    body: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None]

    appointment: Mapped[Appointment] = relationship()

    @property
    def kind_list(self) -> list[str]:
        """Return the kinds this text covers."""
        return self.kinds.split(",") if self.kinds else []


class Alert(Base):
    """Something staff must look at, until someone acknowledges it."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_clinic_open", "clinic_id", "acknowledged_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(32))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_by: Mapped[str | None] = mapped_column(String(254))
    acknowledged_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)
    # Last time the on-call number was paged again for this unacknowledged alert.
    repaged_at: Mapped[datetime | None]


class StaffRole(StrEnum):
    """What a staff login may see and do; each role includes the ones before it."""

    FRONTDESK = "frontdesk"
    CLINICIAN = "clinician"
    ADMIN = "admin"


class StaffUser(Base):
    """An individual staff login, belonging to one clinic."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StaffAudit(Base):
    """Every staff view of a conversation or alert, and every staff action."""

    __tablename__ = "staff_audit"
    __table_args__ = (Index("ix_staff_audit_clinic_at", "clinic_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int | None] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="SET NULL"))
    # Who, when no user row applies: an API token's name, or the email a failed login used.
    actor: Mapped[str | None] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[int | None]
    detail: Mapped[str | None] = mapped_column(String(500))
    ip: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    """A bearer token for the clinic API, stored only as a hash."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class SnippetVersion(Base):
    """A clinic's edit of a snippet; the newest approved version is what the bot sends."""

    __tablename__ = "snippet_versions"
    __table_args__ = (UniqueConstraint("clinic_id", "snippet_id", "language", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    snippet_id: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(2))
    version: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    approved_by: Mapped[str | None] = mapped_column(String(254))
    approved_at: Mapped[datetime | None]
