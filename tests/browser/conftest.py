"""Browser fixtures: the real app on a live local server, driven by Playwright in Chromium.

* ``browser``: the system's Chromium (``CHROMIUM`` or /usr/bin/chromium, Debian's ``chromium``
  package), launched headless by Playwright for Python. Playwright's own browser downloads are
  never used. Missing Chromium or Playwright fails the test under CI (``CI`` set) and skips it,
  loudly, elsewhere.
* ``live_server``: ``make_test_app`` on the test database (SQLite or ``TEST_DATABASE_URL``), its
  texts sent through the local Twilio stub, served by werkzeug on 127.0.0.1 in a thread.
* ``site``: two clinics with staff logins of every role; ``open_page`` gives a fresh browser
  (own cookies) per login; ``snap`` saves screenshots under test-artifacts/screenshots/.

Tables are emptied after each test by the autouse fixture in tests/conftest.py, as for every other
test that uses ``database_url``.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from bot.admin.auth import add_user
from bot.services import Services, services
from conftest import CLINIC_PHONE, CLINIC_SMS, ONCALL, make_test_app, sign, twilio_params
from schedules.clinics import add_clinic
from schedules.db import transaction
from twilio_peer import TEST_ACCOUNT_SID

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps calling Google's hosts, which a closed
# network refuses; --no-sandbox because CI runs as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000
PASSWORD = "correct horse battery"
OTHER_CLINIC_SMS = "+13035550200"
_SESSION_START = time.time()


def _unavailable(message: str) -> None:
    """Fail under CI, where browser tests must run; skip with the reason on a laptop."""
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def chromium_path() -> str:
    """Return the Chromium binary to drive: $CHROMIUM, else Debian's /usr/bin/chromium."""
    return os.environ.get("CHROMIUM") or DEFAULT_CHROMIUM


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Launch the system's Chromium once for the browser tests."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable(
            "Playwright for Python is not installed: run `pip install -e '.[dev]'` "
            "(browser tests use the system's Chromium, never `playwright install`)"
        )
    path = chromium_path()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        _unavailable(
            f"Chromium not found at {path}: install Debian's package (`apt-get install -y "
            "chromium`, which scripts/test does when run as root) or set CHROMIUM to a Chromium "
            "binary"
        )
    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(
                executable_path=path, args=CHROMIUM_ARGS, headless=True
            )
        except PlaywrightError as error:
            _unavailable(f"Chromium at {path} did not start: {error}")
        yield chromium
        chromium.close()


class _AppSlot:
    """A WSGI app filled in after the server is bound, so the app can know its own URL."""

    app: Flask | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        assert self.app is not None
        return self.app(environ, start_response)


@dataclass
class LiveServer:
    """The app served over HTTP on 127.0.0.1."""

    url: str
    app: Flask
    svc: Services

    def post_sms(self, body: str, *, sid: str, from_: str, to: str = CLINIC_SMS) -> str:
        """Post an inbound text exactly as Twilio would (signed), return the TwiML answer."""
        target = self.url + "/twilio/sms"
        params = twilio_params(body, sid=sid, from_=from_, to=to)
        request = urllib.request.Request(
            target,
            data=urlencode(params).encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": sign(target, params),
            },
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.read().decode()


@pytest.fixture
def live_server(database_url: str, twilio_stub: Any) -> Iterator[LiveServer]:
    """Serve the real app on a free local port in a background thread; stop it afterwards."""
    slot = _AppSlot()
    server: BaseWSGIServer = make_server("127.0.0.1", 0, slot, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    # PUBLIC_BASE_URL is this server: webhooks are signed for it and cookies are not Secure-only.
    slot.app = make_test_app(
        database_url,
        PUBLIC_BASE_URL=url,
        SMS_BACKEND="twilio",
        TWILIO_ACCOUNT_SID=TEST_ACCOUNT_SID,
        TWILIO_FROM_NUMBER=CLINIC_SMS,
        TWILIO_API_BASE_URL=twilio_stub.base_url,
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    live = LiveServer(url, slot.app, services(slot.app))
    try:
        yield live
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        live.svc.pages.drain()
        live.svc.engine.dispose()


@dataclass
class Site:
    """Two clinics and their staff logins (every password is PASSWORD)."""

    live: LiveServer
    clinic_id: int
    other_clinic_id: int
    staff: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def site(live_server: LiveServer) -> Site:
    """Add the Denver clinic with one login per role, and a second clinic with an admin."""
    with transaction(live_server.svc.sessions) as db:
        denver = add_clinic(
            db,
            slug="denver",
            name="Mile High Clinic",
            sms_number=CLINIC_SMS,
            phone=CLINIC_PHONE,
            timezone="America/Denver",
            oncall_number=ONCALL,
            hours="Mon-Fri 8:00 AM-5:00 PM",
        )
        boulder = add_clinic(
            db,
            slug="boulder",
            name="Flatirons Clinic",
            sms_number=OTHER_CLINIC_SMS,
            phone="+13035550201",
            timezone="America/Denver",
            oncall_number="+13035550299",
        )
        staff = {}
        for role in ("frontdesk", "clinician", "admin"):
            staff[role] = add_user(db, denver, f"{role}@clinic.example", role, PASSWORD).email
        staff["other"] = add_user(db, boulder, "admin@flatirons.example", "admin", PASSWORD).email
        return Site(live_server, denver.id, boulder.id, staff)


@pytest.fixture
def open_page(browser: Any, live_server: LiveServer) -> Iterator[Callable[[], Any]]:
    """Return a factory of pages, each in its own browser context (its own cookies)."""
    contexts: list[Any] = []

    def make() -> Any:
        context = browser.new_context(
            base_url=live_server.url, viewport={"width": 1280, "height": 900}, locale="en-US"
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(open_page: Callable[[], Any]) -> Any:
    """Return one browser page on the live server."""
    return open_page()


def _test_slug(node: pytest.Item) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", node.name).strip("_")


@pytest.fixture
def snap(request: pytest.FixtureRequest) -> Iterator[Callable[[Any, str], Path]]:
    """Return snap(page, step): save a full-page screenshot as <test>-<NN>-<step>.png."""
    slug = _test_slug(request.node)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob(f"{slug}-*.png"):
        old.unlink()
    count = 0
    last: list[Any] = []

    def take(page: Any, step: str) -> Path:
        nonlocal count
        count += 1
        path = SCREENSHOTS / f"{slug}-{count:02d}-{re.sub(r'[^A-Za-z0-9_-]+', '-', step)}.png"
        page.screenshot(path=str(path), full_page=True)
        last[:] = [page]
        return path

    yield take
    report = getattr(request.node, "rep_call", None)
    if last and report is not None and report.failed:
        # The page as it was when the test failed.
        # The page may be gone; the failure itself is what matters.
        with contextlib.suppress(Exception):
            last[0].screenshot(path=str(SCREENSHOTS / f"{slug}-99-failed.png"), full_page=True)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item so fixtures can see whether the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say where this run's screenshots are."""
    if not SCREENSHOTS.is_dir():
        return
    fresh = [p for p in SCREENSHOTS.glob("*.png") if p.stat().st_mtime >= _SESSION_START]
    if fresh:
        terminalreporter.write_line(f"browser screenshots ({len(fresh)}): {SCREENSHOTS}")


def log_in(page: Any, email: str, password: str = PASSWORD) -> None:
    """Log in through the form like a person: type, then press Enter."""
    page.goto("/admin/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_label("Password").press("Enter")
    page.wait_for_load_state()
