"""The clinicbot command."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import uuid
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import click
from flask import Flask
from sqlalchemy import select

from bot.admin.auth import InvalidUser, add_user
from bot.api.tokens import InvalidToken, create_token, list_tokens, revoke_token
from bot.cli_schedules import import_command
from bot.conversation import InboundText
from bot.inbound import UnknownClinicNumber, receive_text
from bot.services import services
from messages.catalog import Catalog, ContentError, load_catalog
from messages.check import check_catalog, format_report, summarise
from schedules.clinics import InvalidClinic, add_clinic, clinic_by_slug
from schedules.db import transaction
from schedules.dispatch import dispatch_due
from schedules.importer import apply_schedule, read_schedule_csv
from schedules.migrate import upgrade
from schedules.models import Clinic, StaffRole
from schedules.phones import InvalidPhoneNumber, normalize_phone
from schedules.reminders import list_reminders, replan_clinic
from schedules.settings import (
    InvalidSetting,
    check_settings,
    effective_settings,
    parse_setting,
    timing_changed,
)
from schedules.worker import Worker


def _app() -> Flask:
    """Build the app from the environment, importing lazily so --help stays fast."""
    from bot import create_app

    return create_app()


def _status_callback(app: Flask) -> str | None:
    """Return the status-callback URL when the public base URL is known."""
    base = app.config.get("PUBLIC_BASE_URL")
    return f"{base}/twilio/status" if base else None


@click.group()
def main() -> None:
    """ClinicBot: the SMS service for ketamine-treatment clinics."""


@main.group()
def db() -> None:
    """Manage the database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema on DATABASE_URL."""
    app = _app()
    upgrade(services(app).engine)
    click.echo(f"database is up to date: {services(app).engine.url.render_as_string()}")


@main.group()
def clinic() -> None:
    """Add and list clinics."""


@clinic.command("add")
@click.option("--slug", required=True, help="Short name used in commands, e.g. denver.")
@click.option("--name", required=True, help="The clinic's name as patients know it.")
@click.option("--sms-number", required=True, help="The number patients text, E.164.")
@click.option("--phone", required=True, help="The number patients call, E.164.")
@click.option("--timezone", required=True, help="IANA time zone, e.g. America/Denver.")
@click.option("--oncall", default=None, help="On-call number paged for crisis alerts, E.164.")
@click.option(
    "--hours", default=None, help='Opening hours as patients read them, e.g. "Mon-Fri 8-5".'
)
def clinic_add(
    slug: str,
    name: str,
    sms_number: str,
    phone: str,
    timezone: str,
    oncall: str | None,
    hours: str | None,
) -> None:
    """Add a clinic."""
    app = _app()
    try:
        with transaction(services(app).sessions) as session:
            added = add_clinic(
                session,
                slug=slug,
                name=name,
                sms_number=sms_number,
                phone=phone,
                timezone=timezone,
                oncall_number=oncall,
                hours=hours,
            )
            slug = added.slug
    except InvalidClinic as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        sys.exit(1)
    if not oncall:
        click.echo("warning: no --oncall number: crisis alerts will not page anyone", err=True)
    click.echo(f"added clinic {slug}")


@clinic.command("set")
@click.argument("slug")
@click.argument("assignments", nargs=-1, required=True)
def clinic_set(slug: str, assignments: tuple[str, ...]) -> None:
    """Change clinic settings: clinicbot clinic set SLUG key=value ..."""
    changes: dict[str, object] = {}
    problems: list[str] = []
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        if not sep:
            problems.append(f"{assignment!r} is not key=value")
            continue
        try:
            changes[key.strip()] = parse_setting(key.strip(), raw.strip())
        except InvalidSetting as exc:
            problems.append(str(exc))
    if problems:
        for problem in problems:
            click.echo(f"error: {problem}", err=True)
        sys.exit(1)
    app = _app()
    with transaction(services(app).sessions) as session:
        row = clinic_by_slug(session, slug)
        if row is None:
            raise click.BadParameter(f"no clinic {slug!r}", param_hint="SLUG")
        before = dict(row.settings or {})
        after = {**before, **changes}
        try:
            check_settings(after)
        except InvalidSetting as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        row.settings = after
        if timing_changed(before, after):
            replan_clinic(session, row, datetime.now(UTC))
            click.echo("re-planned the pending reminders with the new timing")
    click.echo(f"updated {slug}: " + ", ".join(f"{k}={v}" for k, v in changes.items()))


@clinic.command("list")
def clinic_list() -> None:
    """List clinics with their numbers and settings."""
    app = _app()
    with transaction(services(app).sessions) as session:
        for row in session.scalars(select(Clinic).order_by(Clinic.slug)):
            settings = effective_settings(row.settings)
            click.echo(
                f"{row.slug}\t{row.name}\tsms={row.sms_number}\tphone={row.phone}\t"
                f"tz={row.timezone}\toncall={row.oncall_number or '-'}\t{json.dumps(settings)}"
            )


@main.group()
def user() -> None:
    """Manage staff logins."""


@user.command("add")
@click.option("--clinic", "slug", required=True, help="The clinic's slug.")
@click.option("--email", required=True, help="The staff member's email (their login).")
@click.option(
    "--role",
    required=True,
    type=click.Choice([r.value for r in StaffRole]),
    help="frontdesk: schedules and confirmations; clinician: also alerts and conversations; "
    "admin: also users, settings and content approval.",
)
def user_add(slug: str, email: str, role: str) -> None:
    """Add a staff login; the password is read from standard input."""
    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    app = _app()
    try:
        with transaction(services(app).sessions) as session:
            found = clinic_by_slug(session, slug)
            if found is None:
                raise click.BadParameter(f"no clinic {slug!r}", param_hint="--clinic")
            add_user(session, found, email, role, password)
    except InvalidUser as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"added {role} login {email.strip().lower()} for {slug}")


@main.group()
def token() -> None:
    """Manage clinic API tokens (each speaks for one clinic)."""


@token.command("create")
@click.option("--clinic", "slug", required=True, help="The clinic's slug.")
@click.option("--name", default=None, help="What uses the token, e.g. ehr-sync (default: api).")
def token_create(slug: str, name: str | None) -> None:
    """Print a new API token; only its hash is stored, so it is shown this once."""
    app = _app()
    try:
        with transaction(services(app).sessions) as session:
            found = clinic_by_slug(session, slug)
            if found is None:
                raise click.BadParameter(f"no clinic {slug!r}", param_hint="--clinic")
            raw, row = create_token(session, found, name)
            label = f"{row.name} ({row.prefix}...)"
    except InvalidToken as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    # The token alone on standard output, so a script can capture it.
    click.echo(raw)
    click.echo(
        f"created API token {label} for {slug}; store it now: it is not shown again", err=True
    )


@token.command("list")
@click.option("--clinic", "slug", required=True, help="The clinic's slug.")
def token_list(slug: str) -> None:
    """List the clinic's API tokens by prefix (never the tokens themselves)."""
    app = _app()
    with transaction(services(app).sessions) as session:
        found = clinic_by_slug(session, slug)
        if found is None:
            raise click.BadParameter(f"no clinic {slug!r}", param_hint="--clinic")
        for row in list_tokens(session, found):
            state = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}Z" if row.revoked_at else "live"
            used = f"{row.last_used_at:%Y-%m-%d %H:%M}Z" if row.last_used_at else "never"
            click.echo(
                f"{row.prefix}\t{row.name}\tcreated {row.created_at:%Y-%m-%d %H:%M}Z\t"
                f"last used {used}\t{state}"
            )


@token.command("revoke")
@click.option("--clinic", "slug", required=True, help="The clinic's slug.")
@click.option("--prefix", required=True, help="The token's prefix as `token list` shows it.")
def token_revoke(slug: str, prefix: str) -> None:
    """Revoke an API token at once."""
    app = _app()
    try:
        with transaction(services(app).sessions) as session:
            found = clinic_by_slug(session, slug)
            if found is None:
                raise click.BadParameter(f"no clinic {slug!r}", param_hint="--clinic")
            row = revoke_token(session, found, prefix, datetime.now(UTC))
            label = f"{row.name} ({row.prefix}...)"
    except InvalidToken as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"revoked API token {label} for {slug}")


@main.group()
def content() -> None:
    """Check the content the bot may send."""


@content.command("check")
@click.option("--strict", is_flag=True, help="Also fail on snippets not yet approved.")
@click.option("--dir", "content_dir", default=None, help="A clinic's override folder to check.")
@click.option(
    "--clinic",
    "slug",
    default=None,
    help="Check what this clinic's bot sends: its folder and the versions approved on the "
    "staff pages.",
)
def content_check(strict: bool, content_dir: str | None, slug: str | None) -> None:
    """Validate the content files: segments, coverage, required words, approval."""
    try:
        catalog = load_catalog(content_dir) if slug is None else _clinic_content(slug, content_dir)
    except ContentError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    for row in summarise(catalog):
        click.echo(
            "{id:<16} {language}  {encoding:<5} {segments} seg  {status}".format(
                **row, status="approved" if row["approved"] else "UNAPPROVED"
            )
        )
    problems = check_catalog(catalog, strict=strict)
    if problems:
        click.echo(format_report(problems), err=True)
        sys.exit(1)
    click.echo("content check passed")


def _clinic_content(slug: str, content_dir: str | None) -> Catalog:
    """Return the clinic's content as its bot sends it (its folder unless content_dir is given)."""
    from schedules.content import clinic_catalog
    from schedules.settings import effective_settings

    svc = services(_app())
    with transaction(svc.sessions) as session:
        clinic = clinic_by_slug(session, slug)
        if clinic is None:
            raise click.BadParameter(f"no clinic {slug!r}", param_hint="--clinic")
        folder = content_dir or effective_settings(clinic.settings).get("content_dir") or None
        return clinic_catalog(session, clinic.id, folder)


@main.command()
@click.option("--clinic", "slug", required=True, help="The clinic's slug.")
@click.option("--from", "from_number", required=True, help="The patient's number, E.164.")
def chat(slug: str, from_number: str) -> None:
    """Talk to the bot as a patient, through the same code as the webhook."""
    app = _app()
    if not os.environ.get("LOG_LEVEL"):
        # JSON log lines would drown the conversation; errors still show.
        logging.getLogger("clinicbot").setLevel(logging.WARNING)
    svc = services(app)
    try:
        patient_number = normalize_phone(from_number)
    except InvalidPhoneNumber as exc:
        raise click.BadParameter(str(exc), param_hint="--from") from exc
    with transaction(svc.sessions) as session:
        found = clinic_by_slug(session, slug)
        if found is None:
            raise click.BadParameter(f"no clinic {slug!r}", param_hint="--clinic")
        clinic_number, clinic_name = found.sms_number, found.name
    interactive = sys.stdin.isatty()
    if interactive:
        click.echo(f"Texting {clinic_name} as {patient_number}. Ctrl-D to quit.")
    for line in _lines(interactive):
        text = InboundText(
            sid="SM" + uuid.uuid4().hex,
            from_number=patient_number,
            to_number=clinic_number,
            body=line,
        )
        try:
            outcome = receive_text(svc, text, app.config.get("PUBLIC_BASE_URL"))
        except UnknownClinicNumber:
            raise click.ClickException("the clinic's number no longer routes") from None
        svc.pages.drain()
        click.echo(f"bot> {outcome.reply}" if outcome.reply else "bot> (no reply)")


def _lines(interactive: bool) -> Any:
    """Yield what the patient types, one text a line."""
    while True:
        try:
            line = input("you> ") if interactive else sys.stdin.readline()
        except EOFError:
            return
        if not interactive and line == "":
            return
        line = line.rstrip("\n")
        if line.strip():
            yield line


@main.command()
@click.option("--clinic", "slug", required=True, help="The clinic's slug.")
@click.option("--json", "as_json", is_flag=True, required=True, help="Print a JSON array.")
def reminders(slug: str, as_json: bool) -> None:
    """Print the clinic's planned and sent reminders as JSON."""
    app = _app()
    with transaction(services(app).sessions) as session:
        found = clinic_by_slug(session, slug)
        if found is None:
            raise click.BadParameter(f"no clinic {slug!r}", param_hint="--clinic")
        listed = list_reminders(session, found)
    click.echo(json.dumps(listed, indent=2, ensure_ascii=False))


@main.command()
@click.option("--once", is_flag=True, required=True, help="Send what is due, then exit.")
@click.option("--now", "now_text", default=None, help="Pretend it is this ISO-8601 time.")
def dispatch(once: bool, now_text: str | None) -> None:
    """Send everything due now and exit."""
    now = datetime.now(UTC)
    if now_text:
        try:
            now = datetime.fromisoformat(now_text)
        except ValueError as exc:
            raise click.BadParameter(f"not ISO 8601: {now_text}", param_hint="--now") from exc
        if now.tzinfo is None:
            raise click.BadParameter(
                "give a time zone offset, e.g. Z or -07:00", param_hint="--now"
            )
    app = _app()
    svc = services(app)
    report = dispatch_due(
        svc.sessions,
        svc.sender,
        now,
        _status_callback(app),
        public_base_url=app.config.get("PUBLIC_BASE_URL"),
    )
    click.echo(
        json.dumps({"now": now.isoformat(), "pages": len(report.pages), "sent": report.sent})
    )


@main.command()
@click.option("--interval", default=5.0, show_default=True, help="Seconds between dispatch ticks.")
def worker(interval: float) -> None:
    """Run the worker that sends due texts until stopped."""
    app = _app()
    svc = services(app)
    Worker(
        svc.sessions,
        svc.sender,
        interval,
        _status_callback(app),
        public_base_url=app.config.get("PUBLIC_BASE_URL"),
    ).run()


DEMO_CLINIC = {
    "slug": "demo",
    "name": "Demo Ketamine Clinic",
    "sms_number": "+13035550100",
    "phone": "+13035550101",
    "timezone": "America/Denver",
    "oncall_number": "+13035550199",
    "hours": "Mon-Fri 8:00 AM-5:00 PM",
}


SAMPLE_FIRST_MONDAY = date(2026, 11, 30)
SAMPLE_DATE = re.compile(r"\b(\d{2})/(\d{2})/(\d{4})\b")


def demo_schedule(today: date) -> str:
    """Return the sample schedule moved so that it starts on the Monday after today."""
    text = (resources.files("schedules") / "samples" / "demo.csv").read_text(encoding="utf-8")
    shift = today + timedelta(days=7 - today.weekday()) - SAMPLE_FIRST_MONDAY

    def moved(match: re.Match[str]) -> str:
        month, day, year = (int(part) for part in match.groups())
        return (date(year, month, day) + shift).strftime("%m/%d/%Y")

    return SAMPLE_DATE.sub(moved, text)


@main.command()
def demo() -> None:
    """Add the demo clinic and load its sample schedule, dated from next Monday."""
    app = _app()
    with transaction(services(app).sessions) as session:
        clinic_row = clinic_by_slug(session, DEMO_CLINIC["slug"])
        if clinic_row is None:
            clinic_row = add_clinic(session, **DEMO_CLINIC)
            click.echo("added the demo clinic")
        zone = ZoneInfo(clinic_row.timezone)
        parsed = read_schedule_csv(demo_schedule(datetime.now(zone).date()), zone)
        if parsed.problems:
            raise click.ClickException(f"the sample schedule is invalid: {parsed.problems[0]}")
        report = apply_schedule(session, clinic_row, parsed.rows, datetime.now(UTC))
    click.echo(f"sample schedule: {report.summary()}")
    click.echo(
        "Try it in another terminal:\n"
        f"  .venv/bin/clinicbot chat --clinic {DEMO_CLINIC['slug']} --from +17205550123\n"
        f"  .venv/bin/clinicbot reminders --clinic {DEMO_CLINIC['slug']} --json"
    )


main.add_command(import_command)
