"""Create, drop or ping a throw-away PostgreSQL database for one test run."""

from __future__ import annotations

import os
import sys
import uuid

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError


def _admin(url: str):
    """Return an autocommit engine on the server's maintenance database."""
    return create_engine(
        make_url(url).set(database="postgres"),
        isolation_level="AUTOCOMMIT",
        connect_args={"connect_timeout": 5},
    )


def main(argv: list[str]) -> int:
    """Run `ping URL`, `create URL` (prints the new database's URL) or `drop URL`."""
    if len(argv) != 3 or argv[1] not in ("ping", "create", "drop"):
        print("usage: pgtestdb.py ping|create|drop URL", file=sys.stderr)
        return 2
    action, url = argv[1], argv[2]
    engine = _admin(url)
    try:
        with engine.connect() as connection:
            if action == "ping":
                connection.execute(text("SELECT 1"))
            elif action == "create":
                name = f"clinicbot_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
                connection.execute(text(f'CREATE DATABASE "{name}"'))
                print(make_url(url).set(database=name).render_as_string(hide_password=False))
            else:
                name = make_url(url).database
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    except OperationalError as exc:
        print(f"PostgreSQL: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
