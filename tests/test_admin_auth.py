"""Staff logins: hashed passwords, CSRF, idle expiry, throttling, roles, the audit log."""

from __future__ import annotations

import re
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bot.cli import main
from schedules.db import transaction
from schedules.models import StaffAudit, StaffUser

PASSWORD = "correct horse battery"


@pytest.fixture
def staff(svc, clinic, database_url) -> dict[str, str]:
    """Add one login per role to the test clinic through the CLI."""
    runner = CliRunner(env={"DATABASE_URL": database_url, "SMS_BACKEND": "console"})
    emails = {}
    for role in ("frontdesk", "clinician", "admin"):
        email = f"{role}@clinic.example"
        result = runner.invoke(
            main,
            ["user", "add", "--clinic", clinic["slug"], "--email", email, "--role", role],
            input=PASSWORD + "\n",
        )
        assert result.exit_code == 0, result.output
        emails[role] = email
    return emails


def csrf_from(html: str) -> str:
    """Return the CSRF token in a page's first form."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def log_in(client: Any, email: str, password: str = PASSWORD) -> Any:
    """Log in through the form like a browser."""
    token = csrf_from(client.get("/admin/login").get_data(as_text=True))
    return client.post(
        "/admin/login", data={"email": email, "password": password, "csrf_token": token}
    )


def test_password_is_stored_only_as_a_modern_hash(svc, staff):
    with transaction(svc.sessions) as session:
        user = session.scalars(select(StaffUser).where(StaffUser.role == "admin")).one()
    assert PASSWORD not in user.password_hash and user.password_hash.startswith("scrypt:")


@pytest.mark.parametrize(
    ("email", "role", "password", "message"),
    [
        ("not-an-email", "admin", PASSWORD, "not an email"),
        ("x@clinic.example", "owner", PASSWORD, "Invalid value"),
        ("x@clinic.example", "admin", "short", "at least 12"),
    ],
)
def test_user_add_rejects_bad_input(svc, clinic, database_url, email, role, password, message):
    runner = CliRunner(env={"DATABASE_URL": database_url, "SMS_BACKEND": "console"})
    args = ["user", "add", "--clinic", "denver", "--email", email, "--role", role]
    result = runner.invoke(main, args, input=password + "\n")
    assert result.exit_code != 0 and message in result.output
    with transaction(svc.sessions) as session:
        assert session.scalars(select(StaffUser)).all() == []


def test_login_then_pages_then_logout(client, staff):
    response = log_in(client, staff["admin"])
    assert response.status_code == 302
    page = client.get("/admin/", follow_redirects=True)
    assert page.status_code == 200 and staff["admin"] in page.get_data(as_text=True)
    token = csrf_from(page.get_data(as_text=True))
    client.post("/admin/logout", data={"csrf_token": token})
    assert client.get("/admin/").status_code == 302


def test_wrong_password_is_refused_without_saying_which_part(client, staff):
    wrong = log_in(client, staff["admin"], "wrong password!!")
    unknown = log_in(client, "nobody@clinic.example")
    assert wrong.status_code == unknown.status_code == 401
    assert "Email or password is wrong." in wrong.get_data(as_text=True)
    assert "Email or password is wrong." in unknown.get_data(as_text=True)


def test_five_failures_lock_the_account(client, svc, staff):
    for _ in range(5):
        log_in(client, staff["admin"], "wrong password!!")
    locked = log_in(client, staff["admin"])
    assert locked.status_code == 401 and "Too many failed attempts" in locked.get_data(as_text=True)
    with transaction(svc.sessions) as session:
        actions = list(session.scalars(select(StaffAudit.action)))
    assert actions.count("login_failed") == 6


def test_form_post_without_csrf_token_is_refused(client, staff):
    response = client.post("/admin/login", data={"email": staff["admin"], "password": PASSWORD})
    assert response.status_code == 400


def test_idle_session_expires(client, staff):
    log_in(client, staff["admin"])
    with client.session_transaction() as browser:
        browser["last_seen"] = browser["last_seen"] - 31 * 60
    assert client.get("/admin/").status_code == 302


def test_login_never_redirects_off_site(client, staff):
    token = csrf_from(client.get("/admin/login").get_data(as_text=True))
    response = client.post(
        "/admin/login",
        data={
            "email": staff["admin"],
            "password": PASSWORD,
            "csrf_token": token,
            "next": "//evil.example/admin",
        },
    )
    assert response.headers["Location"].endswith("/admin/")


def test_login_is_audited(client, svc, staff):
    log_in(client, staff["clinician"])
    with transaction(svc.sessions) as session:
        entry = session.scalars(select(StaffAudit).where(StaffAudit.action == "login")).one()
    assert entry.actor == staff["clinician"] and entry.user_id is not None
