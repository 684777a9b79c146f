"""The clinicbot import command: load a clinic's schedule CSV."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import IO
from zoneinfo import ZoneInfo

import click
from flask import Flask
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.services import services
from schedules.clinics import clinic_by_slug
from schedules.db import transaction
from schedules.importer import ScheduleCheck, apply_schedule_csv, check_schedule_csv

# Files longer than this get a progress bar while their rows are checked.
PROGRESS_ROWS = 2_000


def _app() -> Flask:
    """Build the app from the environment, importing lazily so --help stays fast."""
    from bot import create_app

    return create_app()


@click.command("import")
@click.argument("file", type=click.File("rb"))
@click.option("--clinic", "slug", required=True, help="The clinic's slug.")
@click.option("--dry-run", is_flag=True, help="Show what would change and write nothing.")
@click.option(
    "--skip-invalid", is_flag=True, help="Import the valid rows and report the invalid ones."
)
def import_command(file: IO[bytes], slug: str, dry_run: bool, skip_invalid: bool) -> None:
    """Load a schedule CSV: new, moved and cancelled appointments, and their reminders."""
    data = file.read()
    app = _app()
    try:
        _import(services(app).sessions, data, slug, dry_run, skip_invalid)
    finally:
        services(app).engine.dispose()


def _import(
    sessions: sessionmaker[Session], data: bytes, slug: str, dry_run: bool, skip_invalid: bool
) -> None:
    """Read, check and load the file's bytes for the clinic, exiting 1 on invalid input."""
    with transaction(sessions) as session:
        found = clinic_by_slug(session, slug)
        if found is None:
            raise click.BadParameter(f"no clinic {slug!r}", param_hint="--clinic")
        zone = ZoneInfo(found.timezone)

    parsed = _read(data, zone)
    if parsed.ignored_columns:
        click.echo(
            "warning: ignoring unknown columns: " + ", ".join(parsed.ignored_columns), err=True
        )
    for problem in parsed.problems:
        click.echo(f"line {problem.line}: {problem.message}", err=True)
    if not parsed.readable:
        click.echo("error: the file cannot be read; nothing was imported", err=True)
        sys.exit(1)
    blocked = bool(parsed.problems) and not skip_invalid
    if blocked and not dry_run:
        bad = len({p.line for p in parsed.problems})
        click.echo(
            f"error: {bad} invalid row{'s' if bad != 1 else ''}; nothing was imported "
            f"(fix them, or use --skip-invalid to import the {parsed.valid_rows} valid rows)",
            err=True,
        )
        sys.exit(1)

    if parsed.valid_rows > PROGRESS_ROWS and not dry_run:
        click.echo(f"writing {parsed.valid_rows} rows and re-planning reminders...", err=True)
    try:
        with transaction(sessions) as session:
            clinic = clinic_by_slug(session, slug)
            if clinic is None:
                raise click.BadParameter(f"no clinic {slug!r}", param_hint="--clinic")
            # The file is read again a chunk at a time, inside this one transaction.
            report = apply_schedule_csv(
                session, clinic, data, parsed, datetime.now(UTC), dry_run=dry_run
            )
    except IntegrityError:
        raise click.ClickException(
            "the clinic's patients changed while importing (a new patient texted in, or "
            "another import ran); nothing was imported: run the import again"
        ) from None
    report.invalid = list(parsed.problems)

    if dry_run:
        click.echo(report.as_table())
        click.echo(f"dry run, nothing written: {report.summary()}")
        if blocked:
            sys.exit(1)
        return
    skipped = " (invalid rows skipped)" if parsed.problems else ""
    click.echo(f"imported {parsed.valid_rows} rows into {slug}{skipped}: {report.summary()}")


def _read(data: bytes, zone: ZoneInfo) -> ScheduleCheck:
    """Check the file, with a progress bar on standard error when it is long."""
    lines = data.count(b"\n")
    if lines <= PROGRESS_ROWS:
        return check_schedule_csv(data, zone)
    with click.progressbar(length=lines, label="checking rows", file=sys.stderr) as bar:
        return check_schedule_csv(data, zone, progress=bar.update)
