"""The clinic API: /api/v1, JSON, one bearer token per clinic.

Every query filters by the token's clinic; another clinic's appointment or alert is answered
404, exactly like one that does not exist. Bad requests get a JSON ``ApiError`` and change
nothing. Request and response shapes live in ``schemas``; spectree validates both against them
and generates the OpenAPI document served at /api/v1/openapi.json.
"""

from __future__ import annotations

import json as jsonlib
import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue
from pydantic import ValidationError
from spectree import Response as Responses
from spectree import SecurityScheme, SecuritySchemeData, SpecTree
from spectree.models import SecureType
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from bot.api import schemas
from bot.api.schemas import (
    AcknowledgeRequest,
    AcknowledgeResult,
    AlertPage,
    AlertQuery,
    ApiError,
    AppointmentOut,
    AppointmentPage,
    AppointmentQuery,
    Problem,
    ReminderPage,
    ReminderQuery,
    UpsertReport,
    UpsertRequest,
)
from bot.api.tokens import TokenOwner, find_owner, touch
from bot.services import services
from schedules.alerts import SAFETY_KINDS
from schedules.content import clinic_catalog
from schedules.db import transaction
from schedules.importer import (
    Change,
    ImportReport,
    RowProblem,
    apply_schedule,
    plan_changes,
    validate_rows,
)
from schedules.models import (
    Alert,
    Appointment,
    Clinic,
    Patient,
    Reminder,
    StaffAudit,
)
from schedules.reminders import LISTED_STATUS, STORED_STATUSES, render_body
from schedules.settings import effective_settings

log = logging.getLogger("clinicbot.api")

bp = Blueprint("api", __name__, url_prefix="/api/v1")

# A token's last use is written at most this often, so reads do not each cost a write.
TOUCH_EVERY = timedelta(minutes=1)
MAX_BODY_BYTES = 5 * 1024 * 1024
INT32_MAX = 2**31 - 1
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
JSON_BODY_ENDPOINTS = frozenset({"api.upsert_appointments", "api.acknowledge_alert"})
PUBLIC_ENDPOINTS = frozenset({"api.openapi"})
ROUTED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
QUERY_MODELS = frozenset(m.__name__ for m in (AppointmentQuery, ReminderQuery, AlertQuery))


def _validation_problems(
    req: Any, resp: Any, error: Any, _instance: Any, _adapter: Any = None
) -> None:
    """Rewrite spectree's validation failure as an ApiError, without echoing any input."""
    if error is None or resp is None or not isinstance(error, ValidationError):
        return
    problems = []
    for item in error.errors(include_url=False, include_input=False, include_context=False):
        loc = item["loc"]
        index = loc[1] if len(loc) > 1 and loc[0] == "appointments" else None
        problems.append(
            Problem(
                index=index if isinstance(index, int) else None,
                field=_field_path(loc) or None,
                message=item["msg"],
            )
        )
    where = "query" if error.title in QUERY_MODELS else "body"
    noun = "problem" if len(problems) == 1 else "problems"
    message = f"the {where} does not match the API schema ({len(problems)} {noun})"
    if where == "body":
        message += "; nothing was changed"
    body = ApiError(error=f"invalid_{where}", message=message, problems=problems)
    resp.set_data(body.model_dump_json())
    resp.mimetype = "application/json"


def _field_path(loc: Sequence[int | str]) -> str:
    """Return a pydantic location as appointments[2].start."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


spec = SpecTree(
    "flask",
    title="ClinicBot clinic API",
    description="Load a clinic's schedule, read its reminders and handle its alerts. "
    "Every request needs `Authorization: Bearer <token>` from `clinicbot token create`.",
    version="1",
    # Only the operations below: the rest of the app (webhooks, staff pages) is not this API.
    mode="strict",
    security_schemes=[
        SecurityScheme(
            name="bearer",
            data=SecuritySchemeData(
                type=SecureType.HTTP, scheme="bearer", description="A clinic API token."
            ),
        )
    ],
    security={"bearer": []},
    before=_validation_problems,
    validation_error_model=ApiError,
    # Plain model names: they are unique here, and clients generate code from them.
    naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda _parent, child: child,
    # Views read request.context: injecting by annotation resolves every annotation at call time.
    annotations=False,
)


def _responses(ok: Any, *errors: int) -> Responses:
    """Return the documented responses: ok for 200 and ApiError for 401 and each error status."""
    described = {
        400: "The body is not JSON",
        401: "No valid bearer token",
        404: "No such resource in this token's clinic",
        409: "A concurrent change; retry",
        413: "The body is too large",
        415: "The body is not application/json",
        422: "The request does not match the schema, or its values are invalid",
    }
    codes = {401, 422, *errors}
    return Responses(
        HTTP_200=ok, **{f"HTTP_{code}": (ApiError, described[code]) for code in sorted(codes)}
    )


# Errors, authentication and body checks.


def error_response(
    status: int,
    code: str,
    message: str,
    problems: Iterable[Problem] = (),
    headers: dict[str, str] | None = None,
) -> Response:
    """Return an ApiError response."""
    body = ApiError(error=code, message=message, problems=list(problems))
    response = current_app.response_class(
        body.model_dump_json(), status=status, mimetype="application/json"
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _unauthorized(message: str, invalid: bool) -> Response:
    """Return a 401 with the WWW-Authenticate challenge RFC 6750 asks for."""
    challenge = 'Bearer realm="clinicbot"'
    if invalid:
        challenge += ', error="invalid_token"'
    return error_response(401, "unauthorized", message, headers={"WWW-Authenticate": challenge})


@bp.before_request
def _authenticate() -> ResponseReturnValue | None:
    """Find the clinic behind the bearer token, then refuse bodies that are not JSON."""
    if request.method == "OPTIONS":
        return _options()
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    scheme, _, raw = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        return _unauthorized(
            "send the clinic's API token as 'Authorization: Bearer <token>'", invalid=False
        )
    svc = services()
    with svc.sessions() as session:
        owner, revoked = find_owner(session, raw.strip())
    if owner is None:
        message = "this API token was revoked" if revoked else "this API token is not valid"
        log.info("api token refused", extra={"revoked": revoked})
        return _unauthorized(message, invalid=True)
    now = datetime.now(UTC)
    if owner.last_used_at is None or owner.last_used_at < now - TOUCH_EVERY:
        with transaction(svc.sessions) as session:
            touch(session, owner.token_id, now, now - TOUCH_EVERY)
    g.api_owner = owner
    if request.endpoint in JSON_BODY_ENDPOINTS:
        return _check_json_body()
    return None


def _check_json_body() -> Response | None:
    """Refuse a body that is too large, not declared JSON, or not parseable JSON."""
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        return error_response(413, "too_large", f"the body is larger than {MAX_BODY_BYTES} bytes")
    if request.mimetype != "application/json" and not request.mimetype.endswith("+json"):
        shown = request.mimetype or "none"
        return error_response(
            415,
            "unsupported_media_type",
            f"send the body as JSON with Content-Type: application/json (got {shown})",
        )
    request.max_content_length = MAX_BODY_BYTES
    try:
        data = request.get_data(cache=True)
    except HTTPException:
        return error_response(413, "too_large", f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        jsonlib.loads(data)
    except ValueError as exc:
        where = f" at line {exc.lineno} column {exc.colno}" if hasattr(exc, "lineno") else ""
        return error_response(400, "invalid_json", f"the body is not valid JSON{where}")
    return None


def _owner() -> TokenOwner:
    """Return the token owner of this request."""
    owner: TokenOwner = g.api_owner
    return owner


def _audit(
    session: Session,
    action: str,
    *,
    target_type: str | None = None,
    target_id: int | None = None,
    detail: str | None = None,
) -> None:
    """Add an audit entry naming the token (the caller commits)."""
    owner = _owner()
    session.add(
        StaffAudit(
            clinic_id=owner.clinic_id,
            user_id=None,
            actor=f"token:{owner.name}"[:254],
            action=action,
            target_type=target_type,
            target_id=target_id,
            detail=(detail or "")[:500] or None,
            ip=request.remote_addr,
            at=datetime.now(UTC),
        )
    )


# Keyset paging: "<microseconds since the epoch>.<id>" of the last row of a page.


def _cursor(moment: datetime, row_id: int) -> str:
    """Return the cursor after a row."""
    return f"{(moment - EPOCH) // timedelta(microseconds=1)}.{row_id}"


def _parse_cursor(cursor: str) -> tuple[datetime, int]:
    """Return the moment and id of a cursor the query schema already checked."""
    micros, _, row_id = cursor.partition(".")
    # Ids beyond a 32-bit column compare like the largest one.
    return EPOCH + timedelta(microseconds=int(micros)), min(int(row_id), INT32_MAX)


def _utc_bound(value: datetime, zone: ZoneInfo) -> datetime:
    """Return a from/to filter as UTC: a time without an offset is clinic-local."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        # Within a day of the calendar's ends: nothing is scheduled there anyway.
        extreme = datetime.min if value.year < 1000 else datetime.max
        return extreme.replace(tzinfo=UTC)


def _iso(moment: datetime | None) -> str | None:
    """Return a stored time as ISO 8601 UTC with a Z."""
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


# Appointments.


def _row_values(item: schemas.AppointmentIn) -> dict[str, str]:
    """Return an API appointment as the importer's canonical columns."""
    values = {"appointment_id": item.appointment_id, "phone": item.phone, "start": item.start}
    optional = {
        "patient_name": item.patient_name,
        "duration_minutes": None if item.duration_minutes is None else str(item.duration_minutes),
        "status": item.status,
        "treatment": item.treatment,
        "language": item.language,
        "sms_consent": None if item.sms_consent is None else ("yes" if item.sms_consent else "no"),
    }
    values.update({key: value for key, value in optional.items() if value is not None})
    return values


def _problems(found: Iterable[RowProblem]) -> list[Problem]:
    """Return importer problems by appointment index."""
    return [Problem(index=p.line, field=None, message=p.message) for p in found]


def _change(change: Change, zone: ZoneInfo) -> dict[str, Any]:
    """Return one added or changed appointment of a report."""
    old = change.old_starts_at
    return {
        "index": change.line,
        "appointment_id": change.external_id,
        "start": change.starts_at.astimezone(zone).isoformat(),
        "old_start": old.astimezone(zone).isoformat() if old is not None else None,
        "details": list(change.details),
    }


def _report(report: ImportReport, dry_run: bool) -> dict[str, Any]:
    """Return an import report as the API's JSON."""
    zone = ZoneInfo(report.timezone)
    return {
        "dry_run": dry_run,
        "counts": report.counts,
        "patients": {
            "new": report.new_patients,
            "updated": report.updated_patients,
            "consents_recorded": report.consents_recorded,
            "consents_withdrawn": report.consents_withdrawn,
        },
        **{
            name: [_change(c, zone) for c in getattr(report, name)]
            for name in ("new", "moved", "cancelled", "updated")
        },
        "unchanged": list(report.unchanged),
        "invalid": [p.model_dump() for p in _problems(report.invalid)],
    }


@bp.post("/appointments")
@spec.validate(
    json=UpsertRequest,
    resp=_responses(UpsertReport, 400, 409, 413, 415),
    tags=["appointments"],
    operation_id="upsertAppointments",
)
def upsert_appointments() -> ResponseReturnValue:
    """Create, move, update or cancel appointments in one batch.

    The CSV importer's rules: appointments are keyed by the clinic's appointment_id; sending
    the same batch twice changes nothing; a new start moves the appointment and its pending
    reminders; status cancelled cancels them. Any invalid appointment refuses the whole batch
    with 422, listing every problem by index, unless skip_invalid is set.
    """
    json: UpsertRequest = request.context.json  # type: ignore[attr-defined]
    owner = _owner()
    zone = ZoneInfo(owner.timezone)
    rows, problems = validate_rows(
        ((index, _row_values(item)) for index, item in enumerate(json.appointments)), zone
    )
    if problems and not json.skip_invalid:
        bad = len({p.line for p in problems})
        return error_response(
            422,
            "invalid_appointments",
            f"{bad} of {len(json.appointments)} appointments are invalid; nothing was written "
            "(fix them, or set skip_invalid to load the valid ones)",
            _problems(problems),
        )
    svc = services()
    try:
        if json.dry_run:
            with svc.sessions() as session:
                report = plan_changes(session, _clinic(session), rows)
        else:
            with transaction(svc.sessions) as session:
                report = apply_schedule(session, _clinic(session), rows, datetime.now(UTC))
                if report.changed:
                    _audit(
                        session,
                        "api_upsert_appointments",
                        target_type="appointments",
                        detail=report.summary(),
                    )
    except IntegrityError:
        return error_response(
            409,
            "conflict",
            "the clinic's patients changed while loading (a new patient texted in, or another "
            "load ran); nothing was written: send the batch again",
        )
    report.invalid = list(problems)
    return _report(report, json.dry_run), 200


def _clinic(session: Session) -> Clinic:
    """Return the token's clinic row."""
    clinic = session.get(Clinic, _owner().clinic_id)
    if clinic is None:  # deleted since the token was checked
        raise LookupError("the token's clinic no longer exists")
    return clinic


def _appointment_json(appointment: Appointment, patient: Patient, zone: ZoneInfo) -> dict:
    """Return an appointment with its patient's contact state."""
    return {
        "appointment_id": appointment.external_id,
        "start": appointment.starts_at.astimezone(zone).isoformat(),
        "start_utc": _iso(appointment.starts_at),
        "duration_minutes": appointment.duration_minutes,
        "status": appointment.status,
        "treatment": appointment.treatment,
        "patient_id": patient.id,
        "patient_name": patient.name,
        "phone": patient.phone,
        "language": patient.language,
        "sms_consent": patient.consent_at is not None,
        "opted_out": patient.opted_out,
        "confirmed_at": _iso(appointment.confirmed_at),
        "driver_confirmed_at": _iso(appointment.driver_confirmed_at),
        "checkin_score": appointment.checkin_score,
        "updated_at": _iso(appointment.updated_at),
    }


@bp.get("/appointments")
@spec.validate(
    query=AppointmentQuery,
    resp=_responses(AppointmentPage),
    tags=["appointments"],
    operation_id="listAppointments",
)
def list_appointments() -> ResponseReturnValue:
    """List the clinic's appointments by start time, a page at a time."""
    query: AppointmentQuery = request.context.query  # type: ignore[attr-defined]
    owner = _owner()
    zone = ZoneInfo(owner.timezone)
    statement = (
        select(Appointment, Patient)
        .join(Patient, Appointment.patient_id == Patient.id)
        .where(Appointment.clinic_id == owner.clinic_id)
    )
    if query.from_ is not None:
        statement = statement.where(Appointment.starts_at >= _utc_bound(query.from_, zone))
    if query.to is not None:
        statement = statement.where(Appointment.starts_at < _utc_bound(query.to, zone))
    if query.status is not None:
        statement = statement.where(Appointment.status == query.status)
    if query.cursor:
        moment, last_id = _parse_cursor(query.cursor)
        statement = statement.where(
            or_(
                Appointment.starts_at > moment,
                and_(Appointment.starts_at == moment, Appointment.id > last_id),
            )
        )
    statement = statement.order_by(Appointment.starts_at, Appointment.id).limit(query.limit + 1)
    with transaction(services().sessions) as session:
        found = session.execute(statement).all()
        page = found[: query.limit]
        _audit(session, "api_view_appointments", detail=f"{len(page)} listed")
    next_cursor = None
    if len(found) > query.limit:
        last = page[-1][0]
        next_cursor = _cursor(last.starts_at, last.id)
    return {
        "appointments": [_appointment_json(a, p, zone) for a, p in page],
        "next_cursor": next_cursor,
    }, 200


@bp.get("/appointments/<path:appointment_id>")
@spec.validate(
    resp=_responses(AppointmentOut, 404),
    tags=["appointments"],
    operation_id="getAppointment",
    path_parameter_descriptions={"appointment_id": "The clinic's own id for the visit."},
)
def get_appointment(appointment_id: str) -> ResponseReturnValue:
    """Return one of the clinic's appointments by the clinic's own id."""
    owner = _owner()
    with transaction(services().sessions) as session:
        found = session.execute(
            select(Appointment, Patient)
            .join(Patient, Appointment.patient_id == Patient.id)
            .where(
                Appointment.clinic_id == owner.clinic_id,
                Appointment.external_id == appointment_id,
            )
        ).first()
        if found is not None:
            _audit(
                session, "api_view_appointment", target_type="appointment", target_id=found[0].id
            )
    if found is None:
        return error_response(404, "not_found", "this clinic has no appointment with that id")
    return _appointment_json(found[0], found[1], ZoneInfo(owner.timezone)), 200


# Reminders.


@bp.get("/reminders")
@spec.validate(
    query=ReminderQuery,
    resp=_responses(ReminderPage),
    tags=["reminders"],
    operation_id="listReminders",
)
def list_reminders() -> ResponseReturnValue:
    """List the clinic's planned and sent reminders by due time, as `clinicbot reminders`."""
    query: ReminderQuery = request.context.query  # type: ignore[attr-defined]
    owner = _owner()
    statement = (
        select(Reminder, Appointment, Patient)
        .join(Appointment, Reminder.appointment_id == Appointment.id)
        .join(Patient, Reminder.patient_id == Patient.id)
        .where(Reminder.clinic_id == owner.clinic_id)
    )
    if query.appointment_id is not None:
        statement = statement.where(Appointment.external_id == query.appointment_id)
    if query.status is not None:
        statement = statement.where(Reminder.status.in_(STORED_STATUSES[query.status]))
    if query.cursor:
        moment, last_id = _parse_cursor(query.cursor)
        statement = statement.where(
            or_(Reminder.due_at > moment, and_(Reminder.due_at == moment, Reminder.id > last_id))
        )
    statement = statement.order_by(Reminder.due_at, Reminder.id).limit(query.limit + 1)
    with transaction(services().sessions) as session:
        clinic = _clinic(session)
        found = session.execute(statement).all()
        page = found[: query.limit]
        listed = reminder_json(session, clinic, [(r, a, p) for r, a, p in page])
        _audit(session, "api_view_reminders", detail=f"{len(page)} listed")
    next_cursor = None
    if len(found) > query.limit:
        last = page[-1][0]
        next_cursor = _cursor(last.due_at, last.id)
    return {"reminders": listed, "next_cursor": next_cursor}, 200


def reminder_json(
    session: Session, clinic: Clinic, rows: Sequence[tuple[Reminder, Appointment, Patient]]
) -> list[dict[str, Any]]:
    """Return reminders as `clinicbot reminders --json` does (schedules.reminders.list_reminders).

    Rendered here for one page, not the clinic's whole list; tests hold the two to the same output.
    """
    catalog = None
    listed = []
    for reminder, appointment, patient in rows:
        body = reminder.body
        if body is None:
            if catalog is None:
                content_dir = effective_settings(clinic.settings)["content_dir"]
                catalog = clinic_catalog(session, clinic.id, content_dir)
            body = render_body(catalog, clinic, appointment, patient.language, reminder.kind_list)
        listed.append(
            {
                "appointment_id": appointment.external_id,
                "kinds": reminder.kind_list,
                "due_at": _iso(reminder.due_at),
                "status": LISTED_STATUS[reminder.status],
                "body": body,
                "expires_at": _iso(reminder.expires_at),
                "reason": reminder.status_reason,
                "error_code": reminder.error_code,
                "twilio_sid": reminder.twilio_sid,
            }
        )
    return listed


# Alerts.


def _alert_json(alert: Alert) -> dict[str, Any]:
    """Return what the staff alert list shows of an alert: never the text behind it."""
    return {
        "id": alert.id,
        "kind": alert.kind,
        "created_at": _iso(alert.created_at),
        "patient_id": alert.patient_id,
        "acknowledged_at": _iso(alert.acknowledged_at),
        "acknowledged_by": alert.acknowledged_by,
        "note": alert.note,
    }


@bp.get("/alerts")
@spec.validate(
    query=AlertQuery, resp=_responses(AlertPage), tags=["alerts"], operation_id="listAlerts"
)
def list_alerts() -> ResponseReturnValue:
    """List the clinic's alerts, newest first; open=true for those nobody has acknowledged."""
    query: AlertQuery = request.context.query  # type: ignore[attr-defined]
    owner = _owner()
    statement = select(Alert).where(Alert.clinic_id == owner.clinic_id)
    if query.open is True:
        statement = statement.where(Alert.acknowledged_at.is_(None))
    elif query.open is False:
        statement = statement.where(Alert.acknowledged_at.is_not(None))
    if query.cursor:
        moment, last_id = _parse_cursor(query.cursor)
        statement = statement.where(
            or_(Alert.created_at < moment, and_(Alert.created_at == moment, Alert.id < last_id))
        )
    statement = statement.order_by(Alert.created_at.desc(), Alert.id.desc()).limit(query.limit + 1)
    with transaction(services().sessions) as session:
        found = list(session.scalars(statement))
        page = found[: query.limit]
        _audit(session, "api_view_alerts", detail=f"{len(page)} listed")
    next_cursor = _cursor(page[-1].created_at, page[-1].id) if len(found) > query.limit else None
    return {"alerts": [_alert_json(a) for a in page], "next_cursor": next_cursor}, 200


@bp.post("/alerts/<int(signed=True):alert_id>/acknowledge")
@spec.validate(
    json=AcknowledgeRequest,
    resp=_responses(AcknowledgeResult, 400, 404, 413, 415),
    tags=["alerts"],
    operation_id="acknowledgeAlert",
)
def acknowledge_alert(alert_id: int) -> ResponseReturnValue:
    """Acknowledge one of the clinic's alerts; acknowledging it again changes nothing."""
    json: AcknowledgeRequest = request.context.json  # type: ignore[attr-defined]
    owner = _owner()
    not_found = error_response(404, "not_found", "this clinic has no alert with that id")
    if not 1 <= alert_id <= INT32_MAX:
        return not_found
    with transaction(services().sessions) as session:
        alert = session.scalar(
            select(Alert)
            .where(Alert.id == alert_id, Alert.clinic_id == owner.clinic_id)
            .with_for_update()
        )
        if alert is None:
            return not_found
        now_acknowledged = alert.acknowledged_at is None
        note = (json.note or "").strip() or None
        if now_acknowledged and alert.kind in SAFETY_KINDS and note is None:
            # As on the staff pages: closing a crisis stops the re-pages to on-call.
            return error_response(
                422,
                "note_required",
                f"a {alert.kind} alert is acknowledged only with a note saying what was done",
            )
        if now_acknowledged:
            alert.acknowledged_at = datetime.now(UTC)
            alert.acknowledged_by = json.by.strip()
            alert.note = note
            _audit(
                session,
                "api_ack_alert",
                target_type="alert",
                target_id=alert.id,
                detail=f"by {alert.acknowledged_by}",
            )
        result = {"alert": _alert_json(alert), "acknowledged_now": now_acknowledged}
    return result, 200


# The document, and JSON answers for anything else under /api/v1.


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    """Serve the OpenAPI document generated from the operations above."""
    return jsonify(spec.spec)


@bp.route("/", defaults={"rest": ""}, methods=ROUTED_METHODS)
@bp.route("/<path:rest>", methods=ROUTED_METHODS)
def unknown(rest: str) -> ResponseReturnValue:
    """Answer 404 or 405 in JSON for any other path or method under /api/v1."""
    allowed = _allowed_methods()
    if allowed:
        return error_response(
            405,
            "method_not_allowed",
            f"{request.method} is not allowed here",
            headers={"Allow": ", ".join(sorted(allowed))},
        )
    return error_response(404, "not_found", "no such API route; see /api/v1/openapi.json")


def _allowed_methods() -> set[str]:
    """Return the methods this path's own route takes (not the catch-all's), with HEAD, OPTIONS."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = set()
    for method in ROUTED_METHODS:
        try:
            endpoint, _ = adapter.match(method=method)
        except HTTPException:
            continue
        if endpoint != "api.unknown":
            allowed.add(method)
    if not allowed:
        return allowed
    return allowed | {"OPTIONS"} | ({"HEAD"} if "GET" in allowed else set())


def _options() -> Response:
    """Answer OPTIONS with this path's own methods: Flask's answer would add the catch-all's."""
    allowed = _allowed_methods()
    if not allowed:
        return error_response(404, "not_found", "no such API route; see /api/v1/openapi.json")
    response = current_app.response_class(status=200)
    response.headers["Allow"] = ", ".join(sorted(allowed))
    return response
