"""Staff logins: adding users, checking passwords with throttling, roles."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from schedules.models import Clinic, StaffRole, StaffUser

PASSWORD_METHOD = "scrypt"
MIN_PASSWORD_LENGTH = 12
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ROLE_RANK = {StaffRole.FRONTDESK: 1, StaffRole.CLINICIAN: 2, StaffRole.ADMIN: 3}
# Checked against when the email is unknown, so a wrong email costs as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not a real password", method=PASSWORD_METHOD)


class InvalidUser(ValueError):
    """A staff login that cannot be added."""


@dataclass(frozen=True)
class Staff:
    """The logged-in staff member, detached from any session."""

    id: int
    clinic_id: int
    email: str
    role: str
    clinic_name: str
    clinic_timezone: str

    def can(self, role: StaffRole) -> bool:
        """Return whether this staff member has at least role."""
        return ROLE_RANK[StaffRole(self.role)] >= ROLE_RANK[role]


def add_user(session: Session, clinic: Clinic, email: str, role: str, password: str) -> StaffUser:
    """Validate and add a staff login with a hashed password."""
    email = email.strip().lower()
    problems = []
    if not EMAIL.match(email):
        problems.append(f"{email!r} is not an email address")
    if role not in {r.value for r in StaffRole}:
        problems.append(f"role must be one of {', '.join(r.value for r in StaffRole)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"the password must be at least {MIN_PASSWORD_LENGTH} characters")
    if not problems and session.scalar(
        select(StaffUser.id).where(func.lower(StaffUser.email) == email)
    ):
        problems.append(f"a login for {email} already exists")
    if problems:
        raise InvalidUser("; ".join(problems))
    user = StaffUser(
        clinic_id=clinic.id,
        email=email,
        role=role,
        password_hash=generate_password_hash(password, method=PASSWORD_METHOD),
    )
    session.add(user)
    session.flush()
    return user


class LoginRefused(Exception):
    """A login that failed; the message is safe to show (it never says which part was wrong)."""


def check_login(session: Session, email: str, password: str, now: datetime) -> Staff:
    """Return the staff member for these credentials, counting failures and locking accounts."""
    email = email.strip().lower()
    user = session.scalar(
        select(StaffUser).where(func.lower(StaffUser.email) == email).with_for_update()
    )
    if user is None or not user.active:
        check_password_hash(_DUMMY_HASH, password)
        raise LoginRefused("Email or password is wrong.")
    if user.locked_until is not None and user.locked_until > now:
        raise LoginRefused("Too many failed attempts. Try again in 15 minutes.")
    if not check_password_hash(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until, user.failed_logins = now + LOCKOUT, 0
            raise LoginRefused("Too many failed attempts. Try again in 15 minutes.")
        raise LoginRefused("Email or password is wrong.")
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
    return staff_for(session, user.id) or _unreachable()


def staff_for(session: Session, user_id: int) -> Staff | None:
    """Return the active staff member with this id."""
    row = session.execute(
        select(StaffUser, Clinic)
        .join(Clinic, Clinic.id == StaffUser.clinic_id)
        .where(StaffUser.id == user_id, StaffUser.active.is_(True))
    ).first()
    if row is None:
        return None
    user, clinic = row
    return Staff(user.id, clinic.id, user.email, user.role, clinic.name, clinic.timezone)


def _unreachable() -> Staff:
    """Fail loudly: a user that just logged in always has a clinic."""
    raise RuntimeError("staff user without a clinic")
