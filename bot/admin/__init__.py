"""Staff pages under /admin: login, sessions that expire when idle, CSRF, roles, audit log.

Every view of a conversation or an alert and every staff action calls `audit()`. Staff only
ever see their own clinic: views filter by `g.staff.clinic_id`, never by a clinic in the URL.
"""

from __future__ import annotations

import functools
import hmac
import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from bot.admin.auth import LoginRefused, Staff, check_login, staff_for
from bot.services import services
from schedules.db import transaction
from schedules.models import StaffAudit, StaffRole

bp = Blueprint(
    "admin",
    __name__,
    url_prefix="/admin",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
log = logging.getLogger("clinicbot.admin")

IDLE_TIMEOUT = timedelta(minutes=30)


def csrf_token() -> str:
    """Return this browser session's CSRF token, creating it on first use."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


@bp.app_context_processor
def _template_helpers() -> dict[str, Any]:
    """Give templates the CSRF token, the staff member and the role names."""
    return {"csrf_token": csrf_token, "staff": g.get("staff"), "Role": StaffRole}


@bp.before_request
def _load_staff() -> ResponseReturnValue | None:
    """Check CSRF on every form post and load the logged-in staff member, expiring idle ones."""
    if request.method == "POST":
        sent = request.form.get("csrf_token", "")
        if not sent or not hmac.compare_digest(sent, session.get("csrf", "")):
            abort(400, description="The form expired. Reload the page and try again.")
    g.staff = None
    user_id = session.get("staff_id")
    if user_id is None:
        return None
    now = datetime.now(UTC)
    last_seen = session.get("last_seen", 0)
    if now.timestamp() - float(last_seen) > IDLE_TIMEOUT.total_seconds():
        session.clear()
        flash("You were signed out after 30 minutes without activity.")
        return None
    with services().sessions() as db:
        g.staff = staff_for(db, int(user_id))
    if g.staff is None:
        session.clear()
        return None
    session["last_seen"] = now.timestamp()
    return None


def require(role: StaffRole = StaffRole.FRONTDESK) -> Callable[..., Any]:
    """Let a view run only for a logged-in staff member with at least role."""

    def decorate(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> ResponseReturnValue:
            staff: Staff | None = g.get("staff")
            if staff is None:
                return redirect(url_for("admin.login", next=request.full_path))
            if not staff.can(role):
                audit_now("forbidden", detail=request.path)
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorate


def audit(
    db: Session,
    action: str,
    *,
    target_type: str | None = None,
    target_id: int | None = None,
    detail: str | None = None,
) -> None:
    """Add an audit-log entry for the logged-in staff member to db (the caller commits)."""
    staff: Staff | None = g.get("staff")
    db.add(
        StaffAudit(
            clinic_id=staff.clinic_id if staff else None,
            user_id=staff.id if staff else None,
            actor=staff.email if staff else None,
            action=action,
            target_type=target_type,
            target_id=target_id,
            detail=(detail or "")[:500] or None,
            ip=request.remote_addr,
            at=datetime.now(UTC),
        )
    )


def audit_now(action: str, **fields: Any) -> None:
    """Write one audit entry in its own transaction."""
    with transaction(services().sessions) as db:
        audit(db, action, **fields)


@bp.get("/login")
def login() -> ResponseReturnValue:
    """Show the login form."""
    if g.get("staff"):
        return redirect(url_for("admin.home"))
    return render_template("admin/login.html", next=request.args.get("next", ""))


@bp.post("/login")
def login_submit() -> ResponseReturnValue:
    """Log a staff member in, or count the failure."""
    email = request.form.get("email", "")
    password = request.form.get("password", "")
    now = datetime.now(UTC)
    refused: LoginRefused | None = None
    with transaction(services().sessions) as db:
        # Caught inside the transaction: the failure count and lockout must be committed.
        try:
            staff = check_login(db, email, password, now)
        except LoginRefused as error:
            refused = error
            db.add(
                StaffAudit(
                    actor=email.strip().lower()[:254],
                    action="login_failed",
                    ip=request.remote_addr,
                    at=now,
                )
            )
    if refused is not None:
        flash(str(refused))
        return render_template("admin/login.html", next=request.form.get("next", "")), 401
    session.clear()
    session["staff_id"] = staff.id
    session["last_seen"] = now.timestamp()
    session["csrf"] = secrets.token_urlsafe(32)
    g.staff = staff
    audit_now("login")
    target = request.form.get("next", "")
    # Only ever go back to a page on this site.
    if not target.startswith("/admin") or target.startswith("//"):
        target = url_for("admin.home")
    return redirect(target)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """Log out."""
    if g.get("staff"):
        audit_now("logout")
    session.clear()
    return redirect(url_for("admin.login"))


@bp.get("/")
@require()
def home() -> ResponseReturnValue:
    """Send staff to the page they need first: alerts for clinicians, today for the front desk."""
    staff: Staff = g.staff
    endpoints = current_app.config.get("ADMIN_ENDPOINTS", ())
    if staff.can(StaffRole.CLINICIAN) and "admin.alerts" in endpoints:
        return redirect(url_for("admin.alerts"))
    if "admin.today" in endpoints:
        return redirect(url_for("admin.today"))
    return render_template("admin/home.html")


from bot.admin import care_views, content_views, schedule_views  # noqa: E402, F401
