"""The intents an inbound text can carry, shared by the matcher and the conversation layer."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

LANGUAGES: tuple[str, ...] = ("en", "es")

# Snippets a patient can ask for by keyword or everyday question.
INFO_TOPICS: tuple[str, ...] = (
    "help",
    "menu",
    "side_effects",
    "fasting",
    "arrival",
    "aftercare",
    "sessions",
    "how_it_works",
    "urgent",
)

# Snippets the bot sends for state changes and safety; never reached by a topic phrasing.
SYSTEM_SNIPPETS: tuple[str, ...] = (
    "fallback",
    "crisis",
    # The crisis reply when only the statistical screen flagged the text: it may be a false alarm.
    "crisis_screen",
    "emergency",
    "opt_out",
    "opt_in",
    "no_appointment",
    "reschedule_ack",
    "call_ack",
    "rate_limited",
    "next_appointment",
    "confirmed",
    "ride_ack",
    "checkin_thanks",
    "checkin_low",
)

# Scheduled texts about one visit, sent unprompted: they show on lock screens and shared phones.
REMINDER_SNIPPETS: tuple[str, ...] = (
    "reminder_fasting",
    "reminder_arrival",
    "reminder_fasting_arrival",
    "reminder_checkin",
)


class IntentKind(StrEnum):
    """What an inbound text asks for, in the order the matcher checks them."""

    CRISIS = "crisis"
    EMERGENCY = "emergency"
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    CHECKIN_SCORE = "checkin_score"
    APPOINTMENT = "appointment"
    TOPIC = "topic"
    FALLBACK = "fallback"


class AppointmentAction(StrEnum):
    """The appointment words: NEXT, C, R, RIDE, CALL."""

    NEXT = "next"
    CONFIRM = "confirm"
    RESCHEDULE = "reschedule"
    RIDE = "ride"
    CALL = "call"


@dataclass(frozen=True)
class Intent:
    """One classified inbound text."""

    kind: IntentKind
    # "en"/"es" when the text is clearly in that language, else None (use the patient's language).
    language: str | None = None
    # For TOPIC: one of INFO_TOPICS.
    topic: str | None = None
    # For APPOINTMENT.
    action: AppointmentAction | None = None
    # For CHECKIN_SCORE: 1..5.
    score: int | None = None
    # For OPT_OUT / OPT_IN: True when the whole message is one of Twilio's own keywords
    # (Twilio has then already answered on numbers with its default opt-out handling).
    carrier_keyword: bool = False
    # For CRISIS: True when the statistical screen flagged it and no word rule did.
    screened: bool = False
    # For a screened CRISIS: what the rules alone made of the text (an opt-out still counts).
    beneath: Intent | None = None

    @property
    def is_safety(self) -> bool:
        """Return whether this intent must be answered whatever the reply cap says."""
        return self.kind in (IntentKind.CRISIS, IntentKind.EMERGENCY)
