"""The clinic API against its own OpenAPI document: schemathesis generates valid and invalid
requests for every operation; no request may get a 5xx, every response must match its documented
schema, invalid ones must get a 4xx, and no refused request may change the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from sqlalchemy import select

from bot import create_app
from bot.api.tokens import hash_token
from bot.services import Services
from schedules.alerts import raise_alert
from schedules.clinics import clinic_by_slug
from schedules.db import transaction
from schedules.importer import apply_schedule, validate_rows
from schedules.models import AlertKind, ApiToken, Base

MAX_EXAMPLES = 30
# The token the generated requests carry; the seeded fixture stores its hash for the clinic.
TOKEN = "cbk_" + "schemathesis-fixed-test-token-0123456789"[:40]

# Importer rules (a real phone number, a wall time the clinic's clock shows, one item per id)
# are not expressible in JSON Schema, so a schema-valid batch may still be refused with 422.
CONFIG = """
headers = {{ Authorization = "Bearer {token}" }}

[generation]
mode = "all"
max-examples = {max_examples}
deterministic = true

[phases.examples]
enabled = true
[phases.coverage]
enabled = true
[phases.fuzzing]
enabled = true
[phases.stateful]
enabled = false

[[operations]]
include-operation-id = "upsertAppointments"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "404", "409", "422"]
"""


def _document_app() -> Flask:
    """Return an app that serves the OpenAPI document; it has no tables, so it answers no data."""
    return create_app(
        {"DATABASE_URL": "sqlite://", "SMS_BACKEND": "console", "SECRET_KEY": "x", "TESTING": True}
    )


# Loaded once from the live document; each test sends its requests to its own app and database.
schema = schemathesis.openapi.from_wsgi(
    "/api/v1/openapi.json",
    _document_app(),
    config=schemathesis.Config.from_str(CONFIG.format(token=TOKEN, max_examples=MAX_EXAMPLES)),
)


def dump(svc: Services) -> dict[str, list[tuple[Any, ...]]]:
    """Return every row of every table but the tokens' (whose last use moves)."""
    with svc.engine.connect() as connection:
        return {
            table.name: [
                tuple(r)
                for r in connection.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in Base.metadata.sorted_tables
            if table.name != "api_tokens"
        }


@pytest.fixture
def seeded(svc: Services, clinic: dict[str, Any]) -> str:
    """Give the demo clinic a token, two appointments and an alert; return the token."""
    zone = ZoneInfo("America/Denver")
    day = (datetime.now(zone).date() + timedelta(days=20)).isoformat()
    raw_rows = [
        (0, {"appointment_id": "A-1", "phone": "+17205550123", "start": f"{day} 09:00"}),
        (1, {"appointment_id": "A-2", "phone": "+17205550124", "start": f"{day} 11:00"}),
    ]
    rows, problems = validate_rows(raw_rows, zone)
    assert not problems
    with transaction(svc.sessions) as session:
        found = clinic_by_slug(session, clinic["slug"])
        assert found is not None
        session.add(
            ApiToken(
                clinic_id=found.id,
                name="schemathesis",
                token_hash=hash_token(TOKEN),
                prefix=TOKEN[:12],
            )
        )
        apply_schedule(session, found, rows, datetime.now(UTC))
        raise_alert(
            session,
            clinic_id=found.id,
            patient_id=None,
            kind=AlertKind.CALL_BACK,
            now=datetime.now(UTC),
        )
    return TOKEN


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        # The app and database are set up once per operation; examples share them on purpose.
        HealthCheck.function_scoped_fixture,
    ],
)
def test_api_answers_as_documented_and_refusals_change_nothing(
    case: Any, app: Flask, svc: Services, seeded: str
) -> None:
    before = dump(svc)
    response = case.call_and_validate(app=app)
    if response.status_code >= 400:
        assert dump(svc) == before, f"{case.operation.label} answered {response.status_code}"
