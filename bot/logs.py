"""Structured application logs: one JSON object a line, phone numbers masked, no message bodies."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has; anything else was passed in `extra` and is a field.
_RECORD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys() | {"message", "asctime"}
)
# Fields that must never reach a log line whatever a caller passes.
_FORBIDDEN_FIELDS = frozenset({"body", "Body", "text", "words"})


class JsonFormatter(logging.Formatter):
    """Format a record as one line of JSON with its extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as JSON."""
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key in _RECORD_ATTRS or key.startswith("_"):
                continue
            entry[key] = "[withheld]" if key in _FORBIDDEN_FIELDS else value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO") -> None:
    """Send the clinicbot loggers to stderr as JSON lines, once per process."""
    logger = logging.getLogger("clinicbot")
    if any(getattr(h, "_clinicbot", False) for h in logger.handlers):
        logger.setLevel(level)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler._clinicbot = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
