"""The faces of ClinicBot: the Flask app (Twilio webhooks, health), the CLI and the SMS senders."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

from bot.config import load_config
from bot.logs import configure_logging
from bot.senders import build_sender
from bot.services import (
    ClinicDirectory,
    ContentLibrary,
    PageSender,
    Services,
    default_database_url,
)
from schedules.db import make_engine, make_session_factory


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, without building the signer for a request with no cookie.

    Twilio's webhooks never carry one, and building the signer costs more than their SQL.
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """Return an empty session when there is no cookie to read, else Flask's own."""
        if app.secret_key and self.get_cookie_name(app) not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Create the ClinicBot Flask app from the environment and config (whose keys win)."""
    app = Flask(__name__, instance_relative_config=True)
    app.session_interface = CookieSessions()
    app.config.update(load_config(config))
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=str(app.config.get("PUBLIC_BASE_URL", "")).startswith("https://"),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
    )
    configure_logging(app.config["LOG_LEVEL"])
    if not app.config.get("DATABASE_URL"):
        app.config["DATABASE_URL"] = default_database_url(app.instance_path)
    hops = app.config["TRUSTED_PROXY_HOPS"]
    if hops:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops
        )

    engine = make_engine(app.config["DATABASE_URL"])
    sessions = make_session_factory(engine)
    sender = build_sender(app.config)
    base = app.config.get("PUBLIC_BASE_URL")
    app.extensions["clinicbot"] = Services(
        engine=engine,
        sessions=sessions,
        sender=sender,
        clinics=ClinicDirectory(sessions),
        content=ContentLibrary(),
        pages=PageSender(
            sessions,
            sender,
            int(app.config["PAGE_WORKERS"]),
            f"{base}/twilio/status" if base else None,
        ),
    )

    from bot import admin, health, twilio_routes

    app.register_blueprint(health.bp)
    app.register_blueprint(twilio_routes.bp)
    app.register_blueprint(admin.bp)
    # The clinic API authenticates by bearer token; the staff pages' CSRF check is theirs alone.
    from bot.api.routes import bp as api_bp

    app.register_blueprint(api_bp)
    # The staff pages each module registers; the navigation shows only those that exist.
    app.config["ADMIN_ENDPOINTS"] = frozenset(
        name for name in app.view_functions if name.startswith("admin.")
    )
    return app
