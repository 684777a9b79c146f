"""The worker: APScheduler is the clock, the database is the queue.

One interval job with a fixed id, coalesced and never overlapping itself, runs at once on start
to catch up. On SIGTERM no new batch is claimed; the batch in progress is finished, and if that
takes longer than the grace period, its unsent texts go back to the queue for the next worker.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType

from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy.orm import Session, sessionmaker

from schedules.dispatch import SendRate, dispatch_due
from schedules.sender import Sender

log = logging.getLogger("clinicbot.worker")

DISPATCH_JOB_ID = "dispatch-due"
STOP_GRACE_SECONDS = 20.0


class Worker:
    """The dispatch job and the scheduler that runs it."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        sender: Sender,
        interval_seconds: float = 5.0,
        status_callback: str | None = None,
        public_base_url: str | None = None,
    ) -> None:
        self.factory = factory
        self.sender = sender
        self.status_callback = status_callback
        self.public_base_url = public_base_url
        self.stopping = threading.Event()
        self.abandon = threading.Event()
        self.rate = SendRate()
        self._running = threading.Lock()
        self.scheduler = BlockingScheduler(timezone=UTC)
        self.scheduler.add_job(
            self.tick,
            "interval",
            seconds=interval_seconds,
            id=DISPATCH_JOB_ID,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
            next_run_time=datetime.now(UTC),
            replace_existing=True,
        )

    def tick(self) -> None:
        """Dispatch everything due now, unless the worker is stopping."""
        if self.stopping.is_set():
            # A signal that came before the scheduler was running could not stop it.
            self._shutdown()
            return
        with self._running:
            try:
                dispatch_due(
                    self.factory,
                    self.sender,
                    datetime.now(UTC),
                    self.status_callback,
                    rate=self.rate,
                    stop=self.stopping,
                    abandon=self.abandon,
                    public_base_url=self.public_base_url,
                )
            except Exception:
                # The next tick tries again; a crash here must not stop the clock.
                log.exception("dispatch tick failed")

    def stop(self, signum: int = signal.SIGTERM, _frame: FrameType | None = None) -> None:
        """Stop claiming work, and give up the rest of the batch after the grace period."""
        log.info("worker stopping after the current batch", extra={"signal": signum})
        self.stopping.set()
        timer = threading.Timer(STOP_GRACE_SECONDS, self.abandon.set)
        timer.daemon = True
        timer.start()
        # Not from the handler itself: it interrupts the main thread, possibly inside the
        # scheduler's own bookkeeping; a thread waits for the scheduler's locks instead.
        threading.Thread(target=self._shutdown, name="worker-stop", daemon=True).start()

    def _shutdown(self) -> None:
        """Stop the scheduler if it is running, without waiting for the job in progress."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def run(self) -> None:
        """Run until SIGTERM or SIGINT, then wait for the batch in progress."""
        previous: dict[int, Callable[..., object] | int | None] = {}
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, self.stop)
        log.info("worker started", extra={"job": DISPATCH_JOB_ID})
        try:
            if not self.stopping.is_set():
                self.scheduler.start()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)  # type: ignore[arg-type]
        with self._running:
            log.info("worker stopped")
