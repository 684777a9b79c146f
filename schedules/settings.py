"""Per-clinic settings: their defaults, types and validation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from schedules.planner import SETTING_SPECS as TIMING_SPECS
from schedules.planner import TimingSettings, parse_timing_setting


@dataclass(frozen=True)
class SettingSpec:
    """One clinic setting: its type, default, allowed range and meaning."""

    kind: type
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None


SETTINGS: dict[str, SettingSpec] = {
    "twilio_handles_opt_out": SettingSpec(
        bool,
        True,
        "Twilio answers STOP/START itself on this number (its default on long codes), "
        "so the bot records the change and stays silent. Set false for numbers without it.",
    ),
    "reply_cap_count": SettingSpec(
        int,
        8,
        "Texts from one number answered inside the reply-cap window; then one notice, "
        "then silence until it passes. Crisis replies and opt-out confirmations are never held.",
        1,
        1000,
    ),
    "reply_cap_window_minutes": SettingSpec(
        int, 10, "Length of the reply-cap window in minutes.", 1, 24 * 60
    ),
    "send_rate_per_second": SettingSpec(
        float,
        5.0,
        "Most texts a second sent from this clinic's number (0: no limit). Keep it at or below "
        "what the number's Twilio queue drains (long code ~1 segment/s, queued up to ~10 h).",
        0,
        1000,
    ),
    "crisis_repage_minutes": SettingSpec(
        int,
        10,
        "A crisis or emergency alert nobody has acknowledged after this many minutes pages the "
        "on-call number again (and again after as many minutes more).",
        1,
        24 * 60,
    ),
    "content_dir": SettingSpec(
        str, "", "Folder with the clinic's own en.toml/es.toml snippet overrides."
    ),
}


class InvalidSetting(ValueError):
    """A setting name or value the clinic cannot use."""


def setting_names() -> list[str]:
    """Return every clinic setting's name: delivery settings, then the timing rules."""
    return [*SETTINGS, *TIMING_SPECS]


def parse_setting(key: str, raw: str) -> Any:
    """Convert a command-line value for key to its typed, validated value."""
    if key in TIMING_SPECS:
        try:
            return parse_timing_setting(key, raw)
        except ValueError as exc:
            raise InvalidSetting(str(exc)) from exc
    spec = SETTINGS.get(key)
    if spec is None:
        raise InvalidSetting(f"unknown setting {key!r}; known: {', '.join(setting_names())}")
    if spec.kind is bool:
        lowered = raw.strip().lower()
        if lowered in ("true", "yes", "1", "on"):
            return True
        if lowered in ("false", "no", "0", "off"):
            return False
        raise InvalidSetting(f"{key} must be true or false, not {raw!r}")
    if spec.kind in (int, float):
        try:
            value = spec.kind(raw)
        except ValueError as exc:
            kind = "a whole number" if spec.kind is int else "a number"
            raise InvalidSetting(f"{key} must be {kind}, not {raw!r}") from exc
        if spec.minimum is not None and value < spec.minimum:
            raise InvalidSetting(f"{key} must be at least {spec.minimum}")
        if spec.maximum is not None and value > spec.maximum:
            raise InvalidSetting(f"{key} must be at most {spec.maximum}")
        return value
    return raw


def effective_settings(stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return every setting, the clinic's stored value or the default."""
    values = {key: spec.default for key, spec in SETTINGS.items()}
    values.update({key: spec.default for key, spec in TIMING_SPECS.items()})
    values.update({k: v for k, v in (stored or {}).items() if k in values})
    return values


def check_settings(values: Mapping[str, Any]) -> None:
    """Raise InvalidSetting when settings that are valid one by one conflict with each other."""
    try:
        TimingSettings.from_settings(effective_settings(values))
    except ValueError as exc:
        raise InvalidSetting(str(exc)) from exc


def timing_changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    """Return whether a settings change alters when reminders go out."""
    old, new = effective_settings(before), effective_settings(after)
    return any(old[key] != new[key] for key in TIMING_SPECS)
