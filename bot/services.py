"""The long-lived objects one app needs: database, sender, content, clinic lookup, page sending."""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Flask, current_app
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from messages.catalog import Catalog, load_catalog
from messages.matcher import Matcher
from messages.screen import CrisisScreen, default_screen
from schedules.content import clinic_catalog
from schedules.models import Clinic
from schedules.outbox import send_now
from schedules.sender import Sender
from schedules.settings import effective_settings

log = logging.getLogger("clinicbot.services")

CLINIC_CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class ClinicInfo:
    """What the webhook needs of a clinic, detached from any database session."""

    id: int
    slug: str
    name: str
    sms_number: str
    phone: str
    timezone: str
    hours: str
    oncall_number: str | None
    settings: dict[str, Any]
    content_version: int

    @classmethod
    def from_row(cls, clinic: Clinic) -> ClinicInfo:
        """Copy a clinic row into a ClinicInfo."""
        return cls(
            id=clinic.id,
            slug=clinic.slug,
            name=clinic.name,
            sms_number=clinic.sms_number,
            phone=clinic.phone,
            timezone=clinic.timezone,
            hours=clinic.hours,
            oncall_number=clinic.oncall_number,
            settings=effective_settings(clinic.settings),
            content_version=clinic.content_version,
        )


class ClinicDirectory:
    """Finds clinics by the number patients text, caching briefly to keep the webhook fast."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory
        self._cache: dict[str, tuple[float, ClinicInfo]] = {}
        self._lock = threading.Lock()

    def by_sms_number(self, number: str) -> ClinicInfo | None:
        """Return the clinic whose SMS number is number, or None."""
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(number)
        if hit and now - hit[0] < CLINIC_CACHE_SECONDS:
            return hit[1]
        with self._factory() as session:
            clinic = session.scalar(select(Clinic).where(Clinic.sms_number == number))
            if clinic is None:
                return None
            info = ClinicInfo.from_row(clinic)
        with self._lock:
            self._cache[number] = (now, info)
        return info

    def forget(self) -> None:
        """Drop every cached clinic (after a clinic's settings change)."""
        with self._lock:
            self._cache.clear()


def crisis_screen() -> CrisisScreen:
    """Return the trained crisis screen, or no screen (the word rules alone) if it cannot train."""
    try:
        return default_screen()
    except (OSError, ValueError):
        # A broken corpus line must not stop crisis replies: the rules still answer them.
        log.critical("crisis screen could not be trained; word rules only", exc_info=True)
        return CrisisScreen.off()


class ContentLibrary:
    """Each clinic's catalog (shipped content, override folder, approved versions) and matcher.

    A clinic's catalog is cached under its content_version, which approving a snippet bumps; the
    ClinicInfo carrying it is itself cached for CLINIC_CACHE_SECONDS, so an approval reaches other
    processes within 30 seconds (this process calls ClinicDirectory.forget() at once).
    """

    def __init__(self, factory: sessionmaker[Session] | None = None) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._matchers: dict[int, tuple[Catalog, Matcher]] = {}
        # clinic id -> ((content_version, content_dir), base catalog, clinic catalog)
        self._clinics: dict[int, tuple[tuple[int, str | None], Catalog, Catalog]] = {}

    def warm(self) -> None:
        """Build the shipped content's matcher now (it trains the crisis screen: seconds)."""
        self._matcher(load_catalog())

    def use_sessions(self, factory: sessionmaker[Session]) -> None:
        """Read approved snippet versions through factory."""
        self._factory = factory

    def for_clinic(self, clinic: ClinicInfo) -> tuple[Catalog, Matcher]:
        """Return the catalog and matcher for this clinic's content."""
        content_dir = clinic.settings.get("content_dir") or None
        # load_catalog is cached and reloads an override folder when a file changes.
        base = load_catalog(content_dir)
        matcher = self._matcher(base)
        if self._factory is None:
            return base, matcher
        key = (clinic.content_version, content_dir)
        with self._lock:
            hit = self._clinics.get(clinic.id)
        if hit is not None and hit[0] == key and hit[1] is base:
            return hit[2], matcher
        with self._factory() as session:
            catalog = clinic_catalog(session, clinic.id, content_dir)
        with self._lock:
            self._clinics[clinic.id] = (key, base, catalog)
        return catalog, matcher

    def _matcher(self, base: Catalog) -> Matcher:
        """Return the matcher for a base catalog; approved versions change texts, not keywords."""
        with self._lock:
            entry = self._matchers.get(id(base))
        if entry is not None and entry[0] is base:
            return entry[1]
        entry = (base, Matcher(base.phrasebook(), crisis_screen()))
        with self._lock:
            self._matchers[id(base)] = entry
        return entry[1]


class PageSender:
    """Sends pages to on-call numbers on background threads, so a reply never waits for one."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        sender: Sender,
        max_workers: int,
        status_callback: str | None,
    ) -> None:
        self._factory = factory
        self._sender = sender
        self._status_callback = status_callback
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="page")
        self._futures: set[Future[Any]] = set()
        self._lock = threading.Lock()

    def submit(self, message_ids: list[int]) -> None:
        """Start sending these committed pending pages; the worker's sweep covers a failure."""
        if not message_ids:
            return
        future = self._pool.submit(self._send, list(message_ids))
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._done)

    def _send(self, message_ids: list[int]) -> None:
        """Send the pages, logging rather than raising on failure."""
        try:
            send_now(
                self._factory,
                self._sender,
                message_ids,
                datetime.now(UTC),
                self._status_callback,
            )
        except Exception:
            log.exception("page sending failed; the worker's sweep will retry")

    def _done(self, future: Future[Any]) -> None:
        """Forget a finished future."""
        with self._lock:
            self._futures.discard(future)

    def drain(self, timeout: float = 30.0) -> None:
        """Wait for pages in flight (tests and shutdown)."""
        with self._lock:
            pending = list(self._futures)
        wait(pending, timeout=timeout)


@dataclass
class Services:
    """Everything a request, command or job reaches through the app."""

    engine: Engine
    sessions: sessionmaker[Session]
    sender: Sender
    clinics: ClinicDirectory
    content: ContentLibrary
    pages: PageSender

    def __post_init__(self) -> None:
        """Let the content library read each clinic's approved snippets."""
        self.content.use_sessions(self.sessions)


def services(app: Flask | None = None) -> Services:
    """Return the services of app, or of the current app."""
    target = app or current_app
    return target.extensions["clinicbot"]


def default_database_url(instance_path: str) -> str:
    """Return the SQLite URL of the database in the app's instance folder."""
    os.makedirs(instance_path, exist_ok=True)
    return f"sqlite:///{os.path.join(instance_path, 'clinicbot.db')}"
