"""Foundation: the Procfile's targets, migrations matching the models, health, config, logs."""

from __future__ import annotations

import importlib
import importlib.util
import io
import json
import logging
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError

from bot import create_app
from bot.config import ConfigError, load_config
from bot.logs import JsonFormatter
from conftest import PATIENT, make_test_app, post_signed, twilio_params
from messages.matcher import Matcher
from schedules.db import make_engine
from schedules.migrate import downgrade, upgrade
from schedules.models import Base, UTCDateTime
from schedules.phones import mask_phone

ROOT = Path(__file__).resolve().parent.parent


def installed_script(name: str) -> bool:
    """Return whether the environment running the tests installed this console script."""
    return (Path(sys.executable).parent / name).is_file() or shutil.which(name) is not None


def procfile() -> dict[str, str]:
    """Return the Procfile's process types and commands."""
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def test_procfile_has_web_and_worker():
    assert set(procfile()) == {"web", "worker"}


def test_procfile_web_target_imports_and_builds_an_app(database_url):
    argv = shlex.split(procfile()["web"])
    assert argv[0] == "gunicorn" and installed_script("gunicorn")
    target = next(arg for arg in argv[1:] if ":" in arg and not arg.startswith("-"))
    module_name, factory = target.split(":")
    module = importlib.import_module(module_name)
    assert factory.endswith("()")
    app = getattr(module, factory[:-2])({"DATABASE_URL": database_url})
    assert app.test_client().get("/healthz").status_code == 200


def test_gunicorn_workers_build_the_matcher_before_they_serve(database_url):
    """gunicorn reads gunicorn.conf.py from the root; its hook builds the shipped matcher."""
    spec = importlib.util.spec_from_file_location("gunicorn_conf", ROOT / "gunicorn.conf.py")
    assert spec is not None and spec.loader is not None
    settings = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(settings)
    app = create_app({"DATABASE_URL": database_url})
    content = app.extensions["clinicbot"].content
    assert not content._matchers
    said: list[str] = []
    log = SimpleNamespace(info=lambda message, *args: said.append(message % args))
    settings.post_worker_init(SimpleNamespace(wsgi=app, log=log))
    assert [type(matcher) for _, matcher in content._matchers.values()] == [Matcher]
    assert len(said) == 1 and said[0].startswith("matcher and crisis screen ready in")


def test_procfile_worker_target_is_a_clinicbot_command():
    argv = shlex.split(procfile()["worker"])
    assert argv[0] == "clinicbot" and installed_script("clinicbot")
    from bot.cli import main

    assert main.get_command(None, argv[1]) is not None  # type: ignore[arg-type]


def test_migrations_match_the_models(database_url):
    engine = make_engine(database_url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert diff == []


@pytest.fixture
def fresh_database_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """Yield the URL of a new empty database of the run's kind; drop it afterwards."""
    if not database_url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    # The same throw-away database the test command creates for the PostgreSQL pass.
    script = [sys.executable, str(ROOT / "scripts" / "pgtestdb.py")]
    created = subprocess.run([*script, "create", database_url], capture_output=True, text=True)
    assert created.returncode == 0, created.stderr
    url = created.stdout.strip()
    try:
        yield url
    finally:
        subprocess.run([*script, "drop", url], check=True, capture_output=True)


def test_the_composite_keys_migration_keeps_rows_and_refuses_another_clinics_visit(
    fresh_database_url,
):
    """0005 up and down keeps the stored rows; at head a reminder must match its visit's clinic."""
    engine = make_engine(fresh_database_url)
    at = "'2027-01-04 16:00:00+00:00'"
    try:
        upgrade(engine, "0004")
        with engine.begin() as connection:
            for clinic in (1, 2):
                connection.execute(
                    text(
                        "INSERT INTO clinics (id, slug, name, sms_number, phone, timezone, "
                        "oncall_number, hours, settings, created_at) VALUES "
                        f"({clinic}, 'c{clinic}', 'C', '+1720555010{clinic}', '+17205550100', "
                        f"'America/Denver', '+17205550199', 'Mon-Fri 8-5', '{{}}', {at})"
                    )
                )
            connection.execute(
                text(
                    "INSERT INTO patients (id, clinic_id, phone, language, opted_out, "
                    f"texts_in_window, created_at) VALUES (7, 1, '+17205550123', 'en', false, 0, "
                    f"{at})"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO appointments (id, clinic_id, external_id, patient_id, starts_at, "
                    f"duration_minutes, treatment, status, created_at) VALUES (8, 1, 'A-1', 7, "
                    f"{at}, 60, 'iv', 'scheduled', {at})"
                )
            )
        reminder = (
            "INSERT INTO reminders (id, clinic_id, appointment_id, patient_id, kinds, due_at, "
            "expires_at, planned_start, status, attempts, created_at) VALUES "
            f"(:id, :clinic, 8, 7, 'fasting', {at}, {at}, {at}, 'pending', 0, {at})"
        )
        with engine.begin() as connection:
            connection.execute(text(reminder), {"id": 9, "clinic": 1})
        upgrade(engine)
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(text(reminder), {"id": 10, "clinic": 2})
        downgrade(engine, "0004")
        with engine.connect() as connection:
            stored = connection.execute(
                text(
                    "SELECT r.id, a.external_id, p.phone FROM reminders r "
                    "JOIN appointments a ON a.id = r.appointment_id "
                    "JOIN patients p ON p.id = a.patient_id"
                )
            ).all()
    finally:
        engine.dispose()
    assert [tuple(row) for row in stored] == [(9, "A-1", "+17205550123")]


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() >= 5000
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_healthz_answers_with_json(database_url, twilio_stub):
    response = make_test_app(database_url).test_client().get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok", "database": "ok"}


def test_healthz_is_503_when_the_database_is_gone(tmp_path, twilio_stub):
    app = make_test_app(f"sqlite:///{tmp_path / 'missing' / 'nowhere.db'}")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503 and response.json["database"] == "unreachable"


def test_config_dict_wins_over_environment(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "sqlite:///env.db")
    assert load_config({"DATABASE_URL": "sqlite:///dict.db"})["DATABASE_URL"] == "sqlite:///dict.db"
    assert load_config()["DATABASE_URL"] == "sqlite:///env.db"


def test_sms_backend_defaults_to_twilio_only_with_credentials(monkeypatch):
    for key in ("SMS_BACKEND", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    assert load_config()["SMS_BACKEND"] == "console"
    config = load_config({"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t"})
    assert config["SMS_BACKEND"] == "twilio"


@pytest.mark.parametrize(
    "overrides",
    [{"SMS_BACKEND": "carrier-pigeon"}, {"PUBLIC_BASE_URL": "bot.example.org"}],
)
def test_bad_configuration_is_refused(overrides):
    with pytest.raises(ConfigError):
        load_config(overrides)


def test_mask_phone_keeps_only_the_last_four_digits():
    assert mask_phone("+17205550123") == "***0123"
    assert "720" not in mask_phone("+17205550123")


def test_json_formatter_withholds_bodies():
    record = logging.LogRecord("clinicbot.x", logging.INFO, __file__, 1, "event", (), None)
    record.body = "I want to die"
    entry = json.loads(JsonFormatter().format(record))
    assert entry["body"] == "[withheld]" and entry["event"] == "event"


def test_webhook_logs_hold_no_full_number_and_no_body(client, clinic, svc):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("clinicbot")
    logger.addHandler(handler)
    try:
        body = "i want to end my life, my number is private"
        post_signed(client, "/twilio/sms", twilio_params(body, sid="SM" + "a" * 32))
        post_signed(client, "/twilio/sms", twilio_params("STOP", sid="SM" + "b" * 32))
        svc.pages.drain()
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    lines = [json.loads(line) for line in output.splitlines()]
    assert any(line["event"] == "inbound text handled" for line in lines)
    assert PATIENT not in output and PATIENT[2:] not in output
    assert "+13035550199" not in output
    assert "end my life" not in output
    assert "***0123" in output


@pytest.mark.postgres
def test_a_connection_the_server_closed_is_replaced_before_use(database_url):
    """A pooled PostgreSQL connection killed by the server is never handed to a request."""
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as connection:
            killed_pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with make_engine(database_url).connect() as admin:
            admin.exec_driver_sql(f"SELECT pg_terminate_backend({int(killed_pid)})")
            admin.commit()
        time.sleep(0.2)  # the server's goodbye reaches the idle socket
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT 1").scalar() == 1
            assert connection.exec_driver_sql("SELECT pg_backend_pid()").scalar() != killed_pid
    finally:
        engine.dispose()


@given(
    st.datetimes(
        min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.timezones()
    )
)
def test_sqlite_timestamps_are_stored_as_sqlalchemy_would_store_them(moment):
    """UTCDateTime's one-step SQLite conversion writes exactly SQLAlchemy's own text."""
    dialect = sqlite.dialect()
    fast = UTCDateTime().bind_processor(dialect)
    decorated = UTCDateTime()
    sqlalchemy_own = decorated.impl_instance.dialect_impl(dialect).bind_processor(dialect)
    if moment.utcoffset() is None:
        with pytest.raises(ValueError):
            fast(moment)
        return
    assert fast(moment) == sqlalchemy_own(decorated.process_bind_param(moment, dialect))


def test_sqlite_timestamp_conversion_refuses_a_naive_datetime():
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().bind_processor(sqlite.dialect())(datetime(2026, 12, 2, 9, 0))
