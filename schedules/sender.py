"""What a sender of text messages is; bot/ provides the Twilio and console implementations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class SendResult:
    """What the SMS provider said when it accepted a message."""

    sid: str
    status: str


class SendError(Exception):
    """The provider refused a message or its answer was lost."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        http_status: int | None = None,
        retryable: bool = False,
        uncertain: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        # Twilio's error code (21610, 21211, 20429 ...), when the provider gave one.
        self.code = code
        self.http_status = http_status
        # True when the provider certainly did not take the message and asked us to retry (429).
        self.retryable = retryable
        # True when the message may have gone out anyway (5xx, timeout): never resend blindly.
        self.uncertain = uncertain


class Sender(Protocol):
    """Sends one text message and returns the provider's id for it, or raises SendError."""

    def send(
        self,
        *,
        to: str,
        body: str,
        from_number: str | None = None,
        status_callback: str | None = None,
    ) -> SendResult: ...
