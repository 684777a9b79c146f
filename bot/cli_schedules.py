"""The clinicbot import command: load a clinic's schedule CSV."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click
from flask import Flask
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.services import services
from schedules.clinics import clinic_by_slug
from schedules.db import transaction
from schedules.importer import (
    FileChanged,
    ScheduleCheck,
    apply_schedule_csv,
    check_schedule_csv,
)

# Files longer than this get a progress bar while their rows are checked.
PROGRESS_ROWS = 2_000


def _app() -> Flask:
    """Build the app from the environment, importing lazily so --help stays fast."""
    from bot import create_app

    return create_app()


@click.command("import")
@click.argument(
    "file", type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path)
)
@click.option("--clinic", "slug", required=True, help="The clinic's slug.")
@click.option("--dry-run", is_flag=True, help="Show what would change and write nothing.")
@click.option(
    "--skip-invalid", is_flag=True, help="Import the valid rows and report the invalid ones."
)
def import_command(file: Path, slug: str, dry_run: bool, skip_invalid: bool) -> None:
    """Load a schedule CSV: new, moved and cancelled appointments, and their reminders."""
    # A file is read from its path a piece at a time (twice); standard input can be read once.
    source: Path | bytes = sys.stdin.buffer.read() if str(file) == "-" else file
    app = _app()
    try:
        _import(services(app).sessions, source, slug, dry_run, skip_invalid)
    finally:
        services(app).engine.dispose()


def _import(
    sessions: sessionmaker[Session],
    source: Path | bytes,
    slug: str,
    dry_run: bool,
    skip_invalid: bool,
) -> None:
    """Read, check and load the file for the clinic, exiting 1 on invalid input."""
    with transaction(sessions) as session:
        found = clinic_by_slug(session, slug)
        if found is None:
            raise click.BadParameter(f"no clinic {slug!r}", param_hint="--clinic")
        zone = ZoneInfo(found.timezone)

    parsed = _read(source, zone)
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
                session, clinic, source, parsed, datetime.now(UTC), dry_run=dry_run
            )
    except FileChanged as exc:
        raise click.ClickException(str(exc)) from None
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


def _read(source: Path | bytes, zone: ZoneInfo) -> ScheduleCheck:
    """Check the file, with a progress bar on standard error when it is long."""
    lines = _count_lines(source)
    if lines <= PROGRESS_ROWS:
        return check_schedule_csv(source, zone)
    with click.progressbar(length=lines, label="checking rows", file=sys.stderr) as bar:
        return check_schedule_csv(source, zone, progress=bar.update)


def _count_lines(source: Path | bytes) -> int:
    """Return how many line breaks the file has, reading a path a piece at a time."""
    if isinstance(source, bytes):
        return source.count(b"\n")
    lines = 0
    with source.open("rb") as file:
        while chunk := file.read(1 << 20):
            lines += chunk.count(b"\n")
    return lines
