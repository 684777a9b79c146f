"""The clinic API: tokens, batch upsert with the importer's rules, lists, alerts, clinic scoping."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import select

from bot.api.tokens import create_token, hash_token
from bot.cli import main
from bot.services import Services
from schedules.alerts import raise_alert
from schedules.clinics import add_clinic, clinic_by_slug
from schedules.db import transaction
from schedules.models import (
    Alert,
    AlertKind,
    ApiToken,
    Appointment,
    Base,
    Message,
    Patient,
    Reminder,
    ReminderStatus,
    StaffAudit,
)
from schedules.reminders import LISTED_STATUS, ListedReminderStatus, list_reminders

DENVER = ZoneInfo("America/Denver")
PHONE = "+17205550123"


def local_day(days: int) -> str:
    """Return the Denver date this many days from today, as YYYY-MM-DD."""
    return (datetime.now(DENVER).date() + timedelta(days=days)).isoformat()


def appointment(external_id: str = "A-1", **values: Any) -> dict[str, Any]:
    """Return one API appointment: a visit 30 days ahead unless told otherwise."""
    return {
        "appointment_id": external_id,
        "phone": "(720) 555-0123",
        "start": f"{local_day(30)} 09:00",
        "patient_name": "Jane Doe",
        **values,
    }


def dump(svc: Services) -> dict[str, list[tuple[Any, ...]]]:
    """Return every row of every table, in id order."""
    with svc.engine.connect() as connection:
        return {
            table.name: [
                tuple(r)
                for r in connection.execute(
                    select(table).order_by(*[c for c in table.primary_key.columns])
                )
            ]
            for table in Base.metadata.sorted_tables
        }


class Api:
    """A test client that sends one clinic's bearer token."""

    def __init__(self, client: FlaskClient, token: str) -> None:
        self.client = client
        self.token = token

    def headers(self) -> dict[str, str]:
        """Return the authorization header."""
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **params: Any) -> Any:
        """GET an API path with query parameters."""
        return self.client.get(f"/api/v1{path}", query_string=params, headers=self.headers())

    def post(self, path: str, body: Any) -> Any:
        """POST a JSON body to an API path."""
        return self.client.post(f"/api/v1{path}", json=body, headers=self.headers())

    def upsert(self, *items: dict[str, Any], **flags: bool) -> Any:
        """POST appointments as one batch."""
        return self.post("/appointments", {"appointments": list(items), **flags})


def new_token(svc: Services, slug: str, name: str = "ehr-sync") -> str:
    """Create a token for the clinic and return it."""
    with transaction(svc.sessions) as session:
        found = clinic_by_slug(session, slug)
        assert found is not None
        raw, _ = create_token(session, found, name)
    return raw


@pytest.fixture
def api(client: FlaskClient, svc: Services, clinic: dict[str, Any]) -> Api:
    """Return an API client with a token of the demo clinic."""
    return Api(client, new_token(svc, clinic["slug"]))


@pytest.fixture
def other(client: FlaskClient, svc: Services) -> Api:
    """Add a second clinic and return an API client with its token."""
    with transaction(svc.sessions) as session:
        add_clinic(
            session,
            slug="boulder",
            name="Flatirons Clinic",
            sms_number="+13035550110",
            phone="+13035550111",
            timezone="America/Denver",
        )
    return Api(client, new_token(svc, "boulder", "boulder-sync"))


@pytest.fixture
def runner(database_url: str) -> CliRunner:
    """Return a CLI runner on the test database."""
    return CliRunner(
        env={"DATABASE_URL": database_url, "SMS_BACKEND": "console", "TWILIO_AUTH_TOKEN": ""}
    )


def add_alert(
    svc: Services, clinic_id: int, body: str = "I can't go on", kind: AlertKind = AlertKind.CRISIS
) -> int:
    """Raise an alert (a crisis unless told), with the text behind it, for a new patient; return
    its id."""
    with transaction(svc.sessions) as session:
        patient = Patient(clinic_id=clinic_id, phone="+17205550999", name="Pat")
        session.add(patient)
        session.flush()
        message = Message(
            clinic_id=clinic_id,
            patient_id=patient.id,
            direction="in",
            from_number=patient.phone,
            to_number="+13035550100",
            body=body,
            status="received",
        )
        session.add(message)
        session.flush()
        alert = raise_alert(
            session,
            clinic_id=clinic_id,
            patient_id=patient.id,
            kind=kind,
            now=datetime.now(UTC),
            message_id=message.id,
        )
        return alert.id


def audits(svc: Services, action: str) -> list[StaffAudit]:
    """Return the audit entries with this action."""
    with transaction(svc.sessions) as session:
        return list(session.scalars(select(StaffAudit).where(StaffAudit.action == action)))


# Tokens.


def test_token_created_by_the_cli_works_and_is_stored_only_as_a_hash(runner, client, svc, clinic):
    result = runner.invoke(main, ["token", "create", "--clinic", "denver", "--name", "ehr"])
    assert result.exit_code == 0, result.output
    raw = result.stdout.strip()
    assert raw.startswith("cbk_") and len(raw) == 44
    assert "not shown again" in result.stderr

    response = Api(client, raw).get("/appointments")
    assert response.status_code == 200, response.json

    everything = json.dumps(dump(svc), default=str)
    assert raw not in everything
    assert raw[4:] not in everything
    with transaction(svc.sessions) as session:
        (token,) = session.scalars(select(ApiToken))
        assert token.token_hash == hash_token(raw)
        assert raw.startswith(token.prefix) and len(token.prefix) < len(raw) // 2
        assert token.last_used_at is not None
    (created,) = audits(svc, "api_token_created")
    assert created.actor == "cli" and raw not in (created.detail or "")


def test_token_list_shows_prefixes_and_revoke_locks_the_token_out(runner, client, clinic):
    raw = runner.invoke(main, ["token", "create", "--clinic", "denver"]).stdout.strip()
    listed = runner.invoke(main, ["token", "list", "--clinic", "denver"])
    assert listed.exit_code == 0 and raw[:12] in listed.output and raw not in listed.output

    revoked = runner.invoke(main, ["token", "revoke", "--clinic", "denver", "--prefix", raw[:12]])
    assert revoked.exit_code == 0, revoked.output
    response = Api(client, raw).get("/appointments")
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert response.json["message"] == "this API token was revoked"


def test_token_create_refuses_an_unknown_clinic_and_a_duplicate_live_name(runner, clinic):
    assert runner.invoke(main, ["token", "create", "--clinic", "nowhere"]).exit_code != 0
    assert runner.invoke(main, ["token", "create", "--clinic", "denver"]).exit_code == 0
    again = runner.invoke(main, ["token", "create", "--clinic", "denver"])
    assert again.exit_code == 1 and "already has a token named 'api'" in again.output


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer not-a-token",
        "Bearer cbk_" + "A" * 40,
        "Token cbk_" + "A" * 40,
    ],
)
def test_request_without_a_valid_token_gets_401_with_a_bearer_challenge(
    client, svc, api, authorization
):
    before = dump(svc)
    headers = {"Authorization": authorization} if authorization is not None else {}
    for response in (
        client.get("/api/v1/appointments", headers=headers),
        client.get("/api/v1/reminders", headers=headers),
        client.get("/api/v1/alerts", headers=headers),
        client.post(
            "/api/v1/appointments", json={"appointments": [appointment()]}, headers=headers
        ),
        client.post("/api/v1/alerts/1/acknowledge", json={"by": "x"}, headers=headers),
    ):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer ")
        assert response.json["error"] == "unauthorized"
    assert dump(svc) == before


def test_last_used_is_recorded_without_a_write_on_every_request(api, svc):
    assert api.get("/alerts").status_code == 200
    with transaction(svc.sessions) as session:
        (token,) = session.scalars(select(ApiToken))
        first = token.last_used_at
    assert first is not None
    assert api.get("/alerts").status_code == 200
    with transaction(svc.sessions) as session:
        (token,) = session.scalars(select(ApiToken))
        assert token.last_used_at == first


def test_openapi_document_is_public_and_covers_every_operation(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json
    operations = {
        (method, path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }
    assert set(operations) == {
        ("post", "/api/v1/appointments"),
        ("get", "/api/v1/appointments"),
        ("get", "/api/v1/appointments/{appointment_id}"),
        ("get", "/api/v1/reminders"),
        ("get", "/api/v1/alerts"),
        ("post", "/api/v1/alerts/{alert_id}/acknowledge"),
    }
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert document["security"] == [{"bearer": []}]
    for operation in operations.values():
        assert {"200", "401", "422"} <= set(operation["responses"])
    for key in (
        ("post", "/api/v1/appointments"),
        ("post", "/api/v1/alerts/{alert_id}/acknowledge"),
    ):
        assert {"400", "415"} <= set(operations[key]["responses"])


# Loading appointments.


def test_batch_creates_appointments_plans_reminders_and_is_audited(api, svc):
    response = api.upsert(appointment("A-1"), appointment("A-2", start=f"{local_day(31)} 13:30"))
    assert response.status_code == 200, response.json
    report = response.json
    assert report["counts"] == {
        "new": 2,
        "moved": 0,
        "cancelled": 0,
        "updated": 0,
        "unchanged": 0,
        "invalid": 0,
    }
    assert report["patients"]["new"] == 1 and report["patients"]["consents_recorded"] == 1
    assert [c["appointment_id"] for c in report["new"]] == ["A-1", "A-2"]
    assert report["new"][0]["start"].startswith(f"{local_day(30)}T09:00:00-0")

    reminders = api.get("/reminders").json["reminders"]
    assert {r["appointment_id"] for r in reminders} == {"A-1", "A-2"}
    assert all(r["status"] == "pending" for r in reminders)
    (entry,) = audits(svc, "api_upsert_appointments")
    assert entry.actor == "token:ehr-sync" and entry.user_id is None and "2 new" in entry.detail


def test_same_batch_twice_changes_nothing(api, svc):
    batch = [appointment("A-1"), appointment("A-2", start=f"{local_day(31)} 13:30")]
    assert api.upsert(*batch).status_code == 200
    before = dump(svc)
    again = api.upsert(*batch)
    assert again.status_code == 200
    assert again.json["counts"]["unchanged"] == 2 and again.json["unchanged"] == ["A-1", "A-2"]
    assert sum(again.json["counts"].values()) == 2
    assert dump(svc) == before


def test_new_start_moves_and_cancelled_cancels_with_their_reminders(api, svc):
    assert api.upsert(appointment("A-1"), appointment("A-2")).status_code == 200
    moved_to = f"{local_day(32)} 10:00"
    response = api.upsert(
        appointment("A-1", start=moved_to), appointment("A-2", status="cancelled")
    )
    assert response.status_code == 200, response.json
    assert response.json["counts"]["moved"] == 1 and response.json["counts"]["cancelled"] == 1
    (moved,) = response.json["moved"]
    assert moved["old_start"].startswith(f"{local_day(30)}T09:00")
    assert moved["start"].startswith(f"{local_day(32)}T10:00")

    a1 = api.get("/reminders", appointment_id="A-1").json["reminders"]
    pending = [r for r in a1 if r["status"] == "pending"]
    assert pending and all(r["reason"] is None for r in pending)
    assert {r["reason"] for r in a1 if r["status"] == "cancelled"} == {"appointment moved"}
    a2 = api.get("/reminders", appointment_id="A-2").json["reminders"]
    assert a2 and all(r["status"] == "cancelled" for r in a2)
    assert api.get("/appointments/A-2").json["status"] == "cancelled"


def test_invalid_item_refuses_the_batch_listing_every_problem_and_writes_nothing(api, svc):
    assert api.get("/alerts").status_code == 200  # records the token's use first
    before = dump(svc)
    response = api.upsert(
        appointment("A-1"),
        appointment("A-2", phone="555"),
        appointment("A-3"),
        appointment("A-4", start="2031-03-09 02:30", duration_minutes=0),
        appointment("A-1", start=f"{local_day(33)} 09:00"),
    )
    assert response.status_code == 422
    body = response.json
    assert body["error"] == "invalid_appointments" and "nothing was written" in body["message"]
    problems = {(p["index"], p["message"].split(" ")[0]) for p in body["problems"]}
    assert problems == {
        (0, "appointment_id"),
        (1, "phone"),
        (3, "2031-03-09"),  # 02:30 does not exist in Denver when the clocks spring forward
        (3, "duration_minutes"),
        (4, "appointment_id"),
    }
    assert dump(svc) == before


def test_skip_invalid_loads_the_valid_items_and_reports_the_others(api, svc):
    response = api.upsert(appointment("A-1"), appointment("A-2", phone="555"), skip_invalid=True)
    assert response.status_code == 200
    assert response.json["counts"]["new"] == 1 and response.json["counts"]["invalid"] == 1
    (problem,) = response.json["invalid"]
    assert problem["index"] == 1 and "not a valid phone number" in problem["message"]
    assert "555" not in json.dumps(response.json["new"])
    with transaction(svc.sessions) as session:
        assert [a.external_id for a in session.scalars(select(Appointment))] == ["A-1"]


def test_dry_run_reports_and_writes_nothing(api, svc):
    assert api.get("/alerts").status_code == 200
    before = dump(svc)
    response = api.upsert(appointment("A-1"), dry_run=True)
    assert response.status_code == 200
    assert response.json["dry_run"] is True and response.json["counts"]["new"] == 1
    assert dump(svc) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "appointments"),
        ({"appointments": "A-1"}, "appointments"),
        (
            {"appointments": [appointment(duration_minutes="60")]},
            "appointments[0].duration_minutes",
        ),
        ({"appointments": [appointment(sms_consent="yes")]}, "appointments[0].sms_consent"),
        ({"appointments": [appointment(sms_consent=1)]}, "appointments[0].sms_consent"),
        ({"appointments": [appointment(status="no-show")]}, "appointments[0].status"),
        ({"appointments": [appointment(phone=7205550123)]}, "appointments[0].phone"),
        ({"appointments": [{"appointment_id": "A-1", "phone": PHONE}]}, "appointments[0].start"),
        ({"appointments": [appointment(room="3")]}, "appointments[0].room"),
        ({"appointments": [], "replace_all": True}, "replace_all"),
        ({"appointments": [], "dry_run": "yes"}, "dry_run"),
        ([appointment()], None),
        ("A-1", None),
        (None, "appointments"),
    ],
)
def test_body_not_matching_the_schema_gets_422_naming_the_field(api, svc, body, field):
    assert api.get("/alerts").status_code == 200
    before = dump(svc)
    response = api.client.post(
        "/api/v1/appointments",
        data=json.dumps(body),
        headers={**api.headers(), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json["error"] == "invalid_body"
    fields = [p["field"] for p in response.json["problems"]]
    if field is not None:
        assert field in fields
        if field.startswith("appointments[0]."):
            assert response.json["problems"][fields.index(field)]["index"] == 0
    # Problems never echo what was sent (a phone number, a name).
    assert "7205550123" not in response.get_data(as_text=True)
    assert dump(svc) == before


@pytest.mark.parametrize(
    ("data", "content_type", "status", "error"),
    [
        ('{"appointments": [', "application/json", 400, "invalid_json"),
        ("", "application/json", 400, "invalid_json"),
        (b"\xff\xfe{}", "application/json", 400, "invalid_json"),
        ("appointments=A-1", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        ('{"appointments": []}', "text/plain", 415, "unsupported_media_type"),
        ('{"appointments": []}', None, 415, "unsupported_media_type"),
        ("<appointments/>", "application/xml", 415, "unsupported_media_type"),
    ],
)
def test_body_that_is_not_json_gets_4xx_and_changes_nothing(
    api, svc, data, content_type, status, error
):
    assert api.get("/alerts").status_code == 200
    before = dump(svc)
    headers = api.headers()
    if content_type:
        headers["Content-Type"] = content_type
    for path in ("/api/v1/appointments", "/api/v1/alerts/1/acknowledge"):
        response = api.client.post(path, data=data, headers=headers)
        assert response.status_code == status, response.json
        assert response.json["error"] == error
    assert dump(svc) == before


def test_body_over_the_size_limit_gets_413(api):
    filler = "x" * (5 * 1024 * 1024)
    response = api.post("/appointments", {"appointments": [], "pad": filler})
    assert response.status_code == 413 and response.json["error"] == "too_large"


# Lists.


def test_appointments_list_filters_by_time_and_status_and_pages_without_gaps(api):
    day = local_day(40)
    items = [appointment(f"A-{n}", start=f"{day} 09:00") for n in range(1, 5)] + [
        appointment("B-1", start=f"{local_day(41)} 09:00", status="cancelled"),
        appointment("C-1", start=f"{local_day(39)} 09:00"),
    ]
    assert api.upsert(*items).status_code == 200

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.get("/appointments", **params).json
        seen += [a["appointment_id"] for a in page["appointments"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["C-1", "A-1", "A-2", "A-3", "A-4", "B-1"]

    listed = api.get("/appointments", **{"from": day, "to": local_day(41)}).json
    assert [a["appointment_id"] for a in listed["appointments"]] == ["A-1", "A-2", "A-3", "A-4"]
    offset = datetime.fromisoformat(listed["appointments"][0]["start"]).strftime("%z")
    exact = f"{day}T09:00:00{offset[:3]}:{offset[3:]}"
    assert len(api.get("/appointments", **{"from": exact}).json["appointments"]) == 5
    assert len(api.get("/appointments", to=exact).json["appointments"]) == 1
    cancelled = api.get("/appointments", status="cancelled").json["appointments"]
    assert [a["appointment_id"] for a in cancelled] == ["B-1"]

    first = listed["appointments"][0]
    assert first["phone"] == PHONE and first["sms_consent"] is True
    assert first["start_utc"].endswith("Z")


def test_appointment_by_id_and_unknown_id_404(api):
    assert api.upsert(appointment("A/1")).status_code == 200
    assert api.get("/appointments/A/1").json["appointment_id"] == "A/1"
    missing = api.get("/appointments/A-404")
    assert missing.status_code == 404 and missing.json["error"] == "not_found"


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 501},
        {"limit": "ten"},
        {"cursor": "abc"},
        {"status": "maybe"},
        {"from": "next tuesday"},
    ],
)
def test_bad_query_gets_422_naming_the_parameter(api, params):
    response = api.get("/appointments", **params)
    assert response.status_code == 422
    assert response.json["error"] == "invalid_query"
    assert {p["field"] for p in response.json["problems"]} & set(params)


def test_reminders_list_matches_the_cli_json_and_filters(api, svc, clinic):
    assert api.upsert(appointment("A-1"), appointment("A-2", treatment="nasal")).status_code == 200
    listed = api.get("/reminders").json
    with transaction(svc.sessions) as session:
        found = clinic_by_slug(session, clinic["slug"])
        assert found is not None
        expected = list_reminders(session, found)
    assert listed["reminders"] == expected
    only = api.get("/reminders", appointment_id="A-2").json["reminders"]
    assert only == [r for r in expected if r["appointment_id"] == "A-2"]
    assert api.get("/reminders", status="sent").json["reminders"] == []
    assert len(api.get("/reminders", status="pending").json["reminders"]) == len(expected)


# INTERFACE.md's reminder statuses, in its order.
CONTRACT_STATUSES = ["pending", "sent", "delivered", "failed", "cancelled", "expired", "skipped"]
# Each internal status and what the clinic sees of it, written out so a new one is a decision.
SHOWN_AS = {
    ReminderStatus.PENDING: "pending",
    ReminderStatus.CLAIMED: "pending",
    ReminderStatus.SENDING: "pending",
    ReminderStatus.SENT: "sent",
    ReminderStatus.DELIVERED: "delivered",
    ReminderStatus.FAILED: "failed",
    ReminderStatus.CANCELLED: "cancelled",
    ReminderStatus.EXPIRED: "expired",
    ReminderStatus.SKIPPED: "skipped",
    ReminderStatus.UNKNOWN: "failed",
}


def set_reminder_status(svc: Services, reminder_id: int, status: ReminderStatus) -> None:
    """Store an internal status on one reminder, as the dispatcher would."""
    with transaction(svc.sessions) as session:
        session.get_one(Reminder, reminder_id).status = status


def test_every_internal_status_is_listed_as_one_of_the_contracts():
    assert set(SHOWN_AS) == set(ReminderStatus)
    assert {s: str(LISTED_STATUS[s]) for s in ReminderStatus} == SHOWN_AS
    assert [str(s) for s in ListedReminderStatus] == CONTRACT_STATUSES


def test_a_reminder_being_sent_is_listed_and_filtered_as_pending(api, svc, clinic):
    assert api.upsert(appointment("A-1")).status_code == 200
    with transaction(svc.sessions) as session:
        reminder_id = session.scalars(select(Reminder.id).order_by(Reminder.id)).first()
    assert reminder_id is not None
    for stored, shown in SHOWN_AS.items():
        set_reminder_status(svc, reminder_id, stored)
        listed = api.get("/reminders").json["reminders"]
        assert {r["status"] for r in listed} <= set(CONTRACT_STATUSES)
        with transaction(svc.sessions) as session:
            found = clinic_by_slug(session, clinic["slug"])
            assert found is not None
            cli = list_reminders(session, found)
        assert cli == listed
        assert shown in {r["status"] for r in cli}, stored
        for status in CONTRACT_STATUSES:
            page = api.get("/reminders", status=status).json["reminders"]
            assert page == [r for r in listed if r["status"] == status], (stored, status)
    set_reminder_status(svc, reminder_id, ReminderStatus.SENDING)
    pending = api.get("/reminders", status="pending").json["reminders"]
    assert len(pending) == len(listed) and all(r["status"] == "pending" for r in pending)


@pytest.mark.parametrize("status", ["sending", "claimed", "unknown", "Pending", ""])
def test_reminder_filter_accepts_only_the_contracts_statuses(api, status):
    response = api.get("/reminders", status=status)
    assert response.status_code == 422
    assert response.json["error"] == "invalid_query"
    (problem,) = response.json["problems"]
    assert problem["field"] == "status"
    assert all(f"'{s}'" in problem["message"] for s in CONTRACT_STATUSES)
    assert "sending" not in problem["message"]


def test_openapi_reminder_status_enum_is_the_contracts_list(client):
    document = client.get("/api/v1/openapi.json").json
    schemas = document["components"]["schemas"]

    def resolve(schema: dict[str, Any]) -> dict[str, Any]:
        ref = schema.get("$ref")
        return resolve(schemas[ref.rsplit("/", 1)[-1]]) if ref else schema

    operation = document["paths"]["/api/v1/reminders"]["get"]
    (parameter,) = [p for p in operation["parameters"] if p["name"] == "status"]
    assert resolve(parameter["schema"])["enum"] == CONTRACT_STATUSES
    assert resolve(schemas["ReminderOut"]["properties"]["status"])["enum"] == CONTRACT_STATUSES


def test_alerts_list_shows_what_staff_see_and_never_the_text(api, svc, clinic):
    first = add_alert(svc, clinic["id"], body="I want to end it all")
    response = api.get("/alerts", open="true")
    assert response.status_code == 200
    (alert,) = response.json["alerts"]
    assert set(alert) == {
        "id",
        "kind",
        "created_at",
        "patient_id",
        "acknowledged_at",
        "acknowledged_by",
        "note",
    }
    assert alert["id"] == first and alert["kind"] == "crisis" and alert["acknowledged_at"] is None
    assert "end it all" not in response.get_data(as_text=True)
    assert api.get("/alerts", open="false").json["alerts"] == []


def test_acknowledge_alert_records_who_once_and_is_audited(api, svc, clinic):
    alert_id = add_alert(svc, clinic["id"])
    response = api.post(f"/alerts/{alert_id}/acknowledge", {"by": "Dr. Ruiz", "note": "called"})
    assert response.status_code == 200, response.json
    assert response.json["acknowledged_now"] is True
    assert response.json["alert"]["acknowledged_by"] == "Dr. Ruiz"
    assert api.get("/alerts", open="true").json["alerts"] == []

    again = api.post(f"/alerts/{alert_id}/acknowledge", {"by": "Someone else"})
    assert again.status_code == 200 and again.json["acknowledged_now"] is False
    assert again.json["alert"]["acknowledged_by"] == "Dr. Ruiz"
    (entry,) = audits(svc, "api_ack_alert")
    assert entry.actor == "token:ehr-sync" and entry.target_id == alert_id


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"by": ""},
        {"by": "   "},
        {"by": "x", "extra": 1},
        # A crisis is closed only with what was done: closing it stops the re-pages.
        {"by": "x"},
        {"by": "x", "note": None},
        {"by": "x", "note": "  "},
    ],
)
def test_acknowledge_with_a_bad_body_gets_422_and_changes_nothing(api, svc, clinic, body):
    alert_id = add_alert(svc, clinic["id"])
    assert api.get("/alerts").status_code == 200
    before = dump(svc)
    assert api.post(f"/alerts/{alert_id}/acknowledge", body).status_code == 422
    assert dump(svc) == before


def test_every_read_of_patient_data_is_audited_with_the_token(api, svc, clinic):
    assert api.upsert(appointment()).status_code == 200
    add_alert(svc, clinic["id"])
    for path in ("/appointments", "/appointments/A-1", "/reminders", "/alerts"):
        assert api.get(path).status_code == 200, path
    for action in (
        "api_view_appointments",
        "api_view_appointment",
        "api_view_reminders",
        "api_view_alerts",
    ):
        (entry,) = audits(svc, action)
        assert entry.actor == "token:ehr-sync", action
    assert api.get("/appointments/NOPE").status_code == 404
    assert len(audits(svc, "api_view_appointment")) == 1


def test_an_operational_alert_is_acknowledged_without_a_note(api, svc, clinic):
    alert_id = add_alert(svc, clinic["id"], "CALL", kind=AlertKind.CALL_BACK)
    response = api.post(f"/alerts/{alert_id}/acknowledge", {"by": "front desk"})
    assert response.status_code == 200 and response.json["acknowledged_now"] is True
    assert response.json["alert"]["note"] is None


def test_a_crisis_without_a_note_is_refused_with_a_reason(api, svc, clinic):
    alert_id = add_alert(svc, clinic["id"])
    response = api.post(f"/alerts/{alert_id}/acknowledge", {"by": "x"})
    assert response.status_code == 422 and response.json["error"] == "note_required"
    assert "note" in response.json["message"]


@pytest.mark.parametrize("alert_id", ["0", "-1", "99999999999", "abc"])
def test_acknowledge_of_no_such_alert_gets_json_404(api, alert_id):
    response = api.post(f"/alerts/{alert_id}/acknowledge", {"by": "x"})
    assert response.status_code == 404 and response.json["error"] == "not_found"


def test_unknown_route_and_wrong_method_get_json_errors(api):
    missing = api.get("/patients")
    assert missing.status_code == 404 and missing.json["error"] == "not_found"
    wrong = api.client.delete("/api/v1/appointments", headers=api.headers())
    assert wrong.status_code == 405 and wrong.json["error"] == "method_not_allowed"
    assert {"GET", "POST"} <= {m.strip() for m in wrong.headers["Allow"].split(",")}
    options = api.client.options("/api/v1/alerts")
    assert {m.strip() for m in options.headers["Allow"].split(",")} == {"GET", "HEAD", "OPTIONS"}


# One clinic's token never reaches another clinic's data.


@pytest.fixture
def other_data(other: Api, svc: Services) -> dict[str, Any]:
    """Load an appointment and raise an alert for the second clinic."""
    assert other.upsert(appointment("B-1")).status_code == 200
    with transaction(svc.sessions) as session:
        found = clinic_by_slug(session, "boulder")
        assert found is not None
        clinic_id = found.id
    return {"alert_id": add_alert(svc, clinic_id), "clinic_id": clinic_id}


def test_token_cannot_list_or_fetch_another_clinics_appointments(api, other, other_data):
    assert api.get("/appointments").json["appointments"] == []
    assert api.get("/appointments/B-1").status_code == 404
    assert other.get("/appointments/B-1").status_code == 200


def test_token_cannot_read_another_clinics_reminders(api, other, other_data):
    assert api.get("/reminders").json["reminders"] == []
    assert api.get("/reminders", appointment_id="B-1").json["reminders"] == []
    assert other.get("/reminders", appointment_id="B-1").json["reminders"]


def test_token_cannot_see_or_acknowledge_another_clinics_alerts(api, other, svc, other_data):
    assert api.get("/alerts").json["alerts"] == []
    response = api.post(f"/alerts/{other_data['alert_id']}/acknowledge", {"by": "intruder"})
    assert response.status_code == 404
    assert response.json == api.post("/alerts/999999/acknowledge", {"by": "x"}).json
    with transaction(svc.sessions) as session:
        alert = session.get(Alert, other_data["alert_id"])
        assert alert is not None and alert.acknowledged_at is None
    assert [a["id"] for a in other.get("/alerts").json["alerts"]] == [other_data["alert_id"]]


def test_token_cannot_change_another_clinics_appointments(api, other, svc, clinic, other_data):
    before = other.get("/appointments/B-1").json
    response = api.upsert(appointment("B-1", start=f"{local_day(35)} 15:00", status="cancelled"))
    assert response.status_code == 200
    assert response.json["counts"]["new"] == 1  # the token's own clinic gets its own B-1
    assert other.get("/appointments/B-1").json == before
    with transaction(svc.sessions) as session:
        rows = session.scalars(select(Appointment).where(Appointment.external_id == "B-1"))
        assert sorted(a.clinic_id for a in rows) == sorted([clinic["id"], other_data["clinic_id"]])
        other_reminders = session.scalars(
            select(Reminder).where(Reminder.clinic_id == other_data["clinic_id"])
        )
        assert all(r.status == "pending" for r in other_reminders)
