"""The clinic details every text fills in."""

from __future__ import annotations

from functools import lru_cache
from typing import Protocol

import phonenumbers


class ClinicDetails(Protocol):
    """Anything with a clinic's name, call-back phone and hours (a row or a cached copy)."""

    @property
    def name(self) -> str: ...
    @property
    def phone(self) -> str: ...
    @property
    def hours(self) -> str: ...


@lru_cache(maxsize=1024)
def display_phone(e164: str) -> str:
    """Return a number the way a patient would dial it from the clinic's country."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)


def clinic_values(clinic: ClinicDetails) -> dict[str, str]:
    """Return the clinic's name, phone and hours for the snippet placeholders."""
    return {
        "clinic_name": clinic.name,
        "clinic_phone": display_phone(clinic.phone),
        "clinic_hours": clinic.hours,
    }
