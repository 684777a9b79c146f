"""Run Alembic migrations from inside the installed package."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class ForeignKeyViolation(RuntimeError):
    """A migration left rows whose foreign keys match nothing; nothing was committed."""


def alembic_config(url: str) -> Config:
    """Return an Alembic configuration for the database at url."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Alembic's ini interpolation treats % specially; URLs may contain escaped passwords.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@contextmanager
def migration_connection(engine: Engine) -> Iterator[Connection]:
    """Yield a connection in one transaction for migrating, committed if the block succeeds.

    On SQLite, foreign keys are off meanwhile and checked before the commit: a batch migration
    copies a table, drops the old one and renames the copy, and with foreign keys on that drop
    would delete (ON DELETE CASCADE) every row referring to the table.
    """
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        driver = connection.connection.driver_connection
        if sqlite:
            # Outside any transaction, where SQLite honours it; before SQLAlchemy begins one.
            driver.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with connection.begin():
                yield connection
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise ForeignKeyViolation(f"rows refer to nothing: {broken[:5]}")
        finally:
            if sqlite:
                driver.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create or migrate the schema on engine to revision."""
    _migrate(engine, command.upgrade, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate the schema on engine back to revision."""
    _migrate(engine, command.downgrade, revision)


def _migrate(engine: Engine, step: Any, revision: str) -> None:
    """Run an Alembic command to revision in one migration transaction."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with migration_connection(engine) as connection:
        config.attributes["connection"] = connection
        step(config, revision)
