"""Sending whatever is due: the one job the worker's clock runs."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from schedules.outbox import sweep_pages
from schedules.sender import Sender

log = logging.getLogger("clinicbot.dispatch")


@dataclass
class DispatchReport:
    """What one dispatch tick did."""

    pages: dict[int, str] = field(default_factory=dict)

    @property
    def sent(self) -> int:
        """Return how many texts were handed to the sender and accepted."""
        return sum(1 for s in self.pages.values() if s not in ("failed", "unknown", "skipped"))


def dispatch_due(
    factory: sessionmaker[Session],
    sender: Sender,
    now: datetime,
    status_callback: str | None = None,
) -> DispatchReport:
    """Send everything due at now and return what happened."""
    pages = sweep_pages(factory, sender, now, status_callback=status_callback)
    report = DispatchReport(pages=pages)
    if report.pages:
        log.info("dispatch tick", extra={"pages": len(report.pages), "sent": report.sent})
    return report
