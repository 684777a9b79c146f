"""The health check."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from bot.services import services

bp = Blueprint("health", __name__)
log = logging.getLogger("clinicbot.health")


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Answer 200 when the database answers, 503 when it does not."""
    try:
        with services().engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        log.error("health check: database unreachable", extra={"error": type(exc).__name__})
        return jsonify(status="error", database="unreachable"), 503
    return jsonify(status="ok", database="ok")
