"""Shared fixtures: a migrated database (SQLite, or PostgreSQL via TEST_DATABASE_URL), the app,
signed Twilio requests and a demo clinic."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, text
from twilio.request_validator import RequestValidator

from bot import create_app
from bot.services import Services, services
from schedules.clinics import add_clinic
from schedules.db import make_engine, transaction
from schedules.migrate import upgrade
from schedules.models import Base
from twilio_peer import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN

pytest_plugins = ["twilio_peer"]

AUTH_TOKEN = TEST_AUTH_TOKEN
PUBLIC_BASE_URL = "https://bot.example.org"
CLINIC_SMS = "+13035550100"
CLINIC_PHONE = "+13035550101"
ONCALL = "+13035550199"
PATIENT = "+17205550123"

# Twilio rewrites API hosts when these are set; tests talk to local peers only.
for _var in ("TWILIO_EDGE", "TWILIO_REGION"):
    os.environ.pop(_var, None)


def pytest_report_header(config: pytest.Config) -> str:
    """Say which database this run uses."""
    url = os.environ.get("TEST_DATABASE_URL")
    return f"database: {'PostgreSQL ' + url if url else 'SQLite (temporary file)'}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run each database-specific test only in its own database's pass (CI runs both)."""
    on_postgres = (os.environ.get("TEST_DATABASE_URL") or "").startswith("postgresql")
    other = "sqlite" if on_postgres else "postgres"
    elsewhere = [item for item in items if item.get_closest_marker(other)]
    if elsewhere:
        config.hook.pytest_deselected(items=elsewhere)
        items[:] = [item for item in items if not item.get_closest_marker(other)]


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Return the URL of the test database, migrated to head once per run."""
    url = os.environ.get("TEST_DATABASE_URL") or (
        f"sqlite:///{tmp_path_factory.mktemp('db') / 'clinicbot.db'}"
    )
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def _cleanup_engine(database_url: str) -> Iterator[Engine]:
    """Return an engine used only to empty the tables between tests."""
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def _empty_tables(request: pytest.FixtureRequest) -> Iterator[None]:
    """Empty every table after a test that used the database."""
    if "database_url" not in request.fixturenames:
        yield
        return
    engine: Engine = request.getfixturevalue("_cleanup_engine")
    yield
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(text(f"DELETE FROM {table}"))


def make_test_app(database_url: str, **overrides: Any) -> Flask:
    """Create an app on the test database with test credentials."""
    config: dict[str, Any] = {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "SMS_BACKEND": "console",
        "SECRET_KEY": "test",
    }
    config.update(overrides)
    return create_app(config)


@pytest.fixture
def app(database_url: str, twilio_stub: Any) -> Iterator[Flask]:
    """Return an app whose outbound texts go through the real SDK to a local Twilio stub."""
    application = make_test_app(
        database_url,
        SMS_BACKEND="twilio",
        TWILIO_ACCOUNT_SID=TEST_ACCOUNT_SID,
        TWILIO_FROM_NUMBER="+13035550100",
        TWILIO_API_BASE_URL=twilio_stub.base_url,
    )
    yield application
    services(application).pages.drain()
    services(application).engine.dispose()


@pytest.fixture
def svc(app: Flask) -> Services:
    """Return the app's services."""
    return services(app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """Return a test client for the app."""
    return app.test_client()


@pytest.fixture
def clinic(svc: Services) -> dict[str, Any]:
    """Add the demo clinic and return its details."""
    with transaction(svc.sessions) as session:
        row = add_clinic(
            session,
            slug="denver",
            name="Mile High Clinic",
            sms_number=CLINIC_SMS,
            phone=CLINIC_PHONE,
            timezone="America/Denver",
            oncall_number=ONCALL,
            hours="Mon-Fri 8:00 AM-5:00 PM",
        )
        return {"id": row.id, "slug": row.slug}


def twilio_params(body: str, *, sid: str, from_: str = PATIENT, to: str = CLINIC_SMS) -> dict:
    """Return the full parameter set Twilio posts for an inbound SMS."""
    return {
        "ToCountry": "US",
        "ToState": "CO",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ToCity": "DENVER",
        "FromZip": "80202",
        "SmsSid": sid,
        "FromState": "CO",
        "SmsStatus": "received",
        "FromCity": "DENVER",
        "Body": body,
        "FromCountry": "US",
        "To": to,
        "MessagingServiceSid": "MG" + "1" * 32,
        "ToZip": "80202",
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": "AC" + "2" * 32,
        "From": from_,
        "ApiVersion": "2010-04-01",
    }


def sign(url: str, params: dict, token: str = AUTH_TOKEN) -> str:
    """Return the X-Twilio-Signature Twilio would send for this URL and form."""
    return RequestValidator(token).compute_signature(url, params)


def post_signed(
    client: FlaskClient, path: str, params: dict, *, url: str | None = None, **headers: str
) -> Any:
    """POST params to path signed exactly as Twilio signs its webhooks."""
    signature = sign(url or PUBLIC_BASE_URL + path, params)
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature, **headers})
