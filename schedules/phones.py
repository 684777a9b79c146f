"""Phone numbers: normalising to E.164 and masking for logs."""

from __future__ import annotations

import phonenumbers

DEFAULT_REGION = "US"


class InvalidPhoneNumber(ValueError):
    """A phone number that cannot be a real, dialable number."""


def normalize_phone(raw: str, region: str = DEFAULT_REGION) -> str:
    """Return raw as an E.164 number, or raise InvalidPhoneNumber saying why."""
    text = (raw or "").strip()
    if not text:
        raise InvalidPhoneNumber("phone number is empty")
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"not a phone number: {mask_phone(text)}") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber(f"not a valid phone number: {mask_phone(text)}")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def is_e164(value: str) -> bool:
    """Return whether value is already a valid number written in E.164."""
    if not value.startswith("+"):
        return False
    try:
        return normalize_phone(value) == value
    except InvalidPhoneNumber:
        return False


def mask_phone(value: str | None) -> str:
    """Return a phone number with all but its last four digits hidden."""
    if not value:
        return ""
    digits = [c for c in value if c.isdigit()]
    if len(digits) <= 4:
        return "*" * len(digits)
    return "***" + "".join(digits[-4:])
