"""Adding and finding clinics."""

from __future__ import annotations

import re
import zoneinfo
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from schedules.models import Clinic
from schedules.phones import InvalidPhoneNumber, normalize_phone

SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


class InvalidClinic(ValueError):
    """A clinic that cannot be added, with every reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@lru_cache(maxsize=1)
def _iana_zones() -> frozenset[str]:
    """Return the names of the IANA time zones this machine knows."""
    return frozenset(zoneinfo.available_timezones())


def is_iana_zone(name: str) -> bool:
    """Return whether name is a real IANA zone such as America/Denver."""
    return name in _iana_zones() and "/" in name


def add_clinic(
    session: Session,
    *,
    slug: str,
    name: str,
    sms_number: str,
    phone: str,
    timezone: str,
    oncall_number: str | None = None,
    hours: str | None = None,
) -> Clinic:
    """Validate and add a clinic to session; raise InvalidClinic listing every problem."""
    problems: list[str] = []
    if not SLUG_PATTERN.match(slug or ""):
        problems.append(
            f"slug {slug!r} must be 1-64 lowercase letters, digits or hyphens, "
            "not starting or ending with a hyphen"
        )
    if not (name or "").strip():
        problems.append("name is empty")
    numbers: dict[str, str | None] = {}
    for label, raw in (("sms-number", sms_number), ("phone", phone), ("oncall", oncall_number)):
        if raw is None:
            numbers[label] = None
            continue
        if not raw.strip().startswith("+"):
            problems.append(f"{label} must be in E.164 form, like +13035550100")
            continue
        try:
            numbers[label] = normalize_phone(raw)
        except InvalidPhoneNumber as exc:
            problems.append(f"{label}: {exc}")
    if not is_iana_zone(timezone):
        problems.append(f"timezone {timezone!r} is not an IANA zone like America/Denver")
    if not problems:
        if session.scalar(select(Clinic.id).where(Clinic.slug == slug)) is not None:
            problems.append(f"a clinic with slug {slug!r} already exists")
        if (
            session.scalar(select(Clinic.slug).where(Clinic.sms_number == numbers["sms-number"]))
            is not None
        ):
            problems.append("that sms-number already routes to another clinic")
    if problems:
        raise InvalidClinic(problems)
    clinic = Clinic(
        slug=slug,
        name=name.strip(),
        sms_number=numbers["sms-number"],
        phone=numbers["phone"],
        timezone=timezone,
        oncall_number=numbers["oncall"],
        settings={},
    )
    if hours:
        clinic.hours = hours.strip()
    session.add(clinic)
    session.flush()
    return clinic


def clinic_by_slug(session: Session, slug: str) -> Clinic | None:
    """Return the clinic with this slug, if any."""
    return session.scalar(select(Clinic).where(Clinic.slug == slug))
