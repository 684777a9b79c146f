"""Configuration from the environment, overridable by a dict given to create_app."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from typing import Any

ENV_KEYS: tuple[str, ...] = (
    "DATABASE_URL",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_FROM_NUMBER",
    "TWILIO_MESSAGING_SERVICE_SID",
    "TWILIO_API_BASE_URL",
    "TWILIO_TIMEOUT",
    "PUBLIC_BASE_URL",
    "SMS_BACKEND",
    "SECRET_KEY",
    "TRUSTED_PROXY_HOPS",
    "LOG_LEVEL",
)

DEFAULTS: dict[str, Any] = {
    "TRUSTED_PROXY_HOPS": 0,
    "LOG_LEVEL": "INFO",
    # Twilio never posts more than a few kilobytes; anything larger is not Twilio.
    "MAX_CONTENT_LENGTH": 128 * 1024,
    "PAGE_WORKERS": 2,
}


class ConfigError(ValueError):
    """A configuration value the service cannot start with."""


def load_config(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Merge defaults, the environment and overrides (which win) into one validated dict."""
    config: dict[str, Any] = dict(DEFAULTS)
    for key in ENV_KEYS:
        value = os.environ.get(key)
        if value not in (None, ""):
            config[key] = value
    config.update(overrides or {})
    try:
        config["TRUSTED_PROXY_HOPS"] = int(config["TRUSTED_PROXY_HOPS"])
    except (TypeError, ValueError) as exc:
        raise ConfigError("TRUSTED_PROXY_HOPS must be a whole number") from exc
    backend = config.get("SMS_BACKEND") or (
        "twilio"
        if config.get("TWILIO_ACCOUNT_SID") and config.get("TWILIO_AUTH_TOKEN")
        else "console"
    )
    if backend not in ("twilio", "console"):
        raise ConfigError(f"SMS_BACKEND must be 'twilio' or 'console', not {backend!r}")
    config["SMS_BACKEND"] = backend
    base = config.get("PUBLIC_BASE_URL")
    if base:
        base = str(base).rstrip("/")
        if not base.startswith(("https://", "http://")):
            raise ConfigError("PUBLIC_BASE_URL must start with https:// (or http:// locally)")
        config["PUBLIC_BASE_URL"] = base
    if not config.get("SECRET_KEY"):
        # Sessions then last only as long as the process; production sets SECRET_KEY.
        config["SECRET_KEY"] = secrets.token_hex(32)
    return config
