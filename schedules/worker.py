"""The worker: APScheduler is the clock, the database is the queue."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType

from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy.orm import Session, sessionmaker

from schedules.dispatch import dispatch_due
from schedules.sender import Sender

log = logging.getLogger("clinicbot.worker")

DISPATCH_JOB_ID = "dispatch-due"


def build_scheduler(
    factory: sessionmaker[Session],
    sender: Sender,
    interval_seconds: float = 5.0,
    status_callback: str | None = None,
) -> BlockingScheduler:
    """Return a scheduler with the single dispatch job, first run at once to catch up."""
    scheduler = BlockingScheduler(timezone=UTC)

    def tick() -> None:
        dispatch_due(factory, sender, datetime.now(UTC), status_callback)

    scheduler.add_job(
        tick,
        "interval",
        seconds=interval_seconds,
        id=DISPATCH_JOB_ID,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=None,
        next_run_time=datetime.now(UTC),
        replace_existing=True,
    )
    return scheduler


def run_worker(scheduler: BlockingScheduler) -> None:
    """Run until SIGTERM or SIGINT, letting the batch in progress finish."""

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("worker stopping after the current batch", extra={"signal": signum})
        # wait=False: the main thread is the one blocked in start(); it joins the jobs itself.
        scheduler.shutdown(wait=False)

    previous: dict[int, Callable[..., object] | int | None] = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, stop)
    log.info("worker started", extra={"job": DISPATCH_JOB_ID})
    try:
        scheduler.start()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
    log.info("worker stopped")
