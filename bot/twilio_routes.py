"""Twilio's webhooks: inbound texts (POST /twilio/sms) and delivery status (POST /twilio/status)."""

from __future__ import annotations

import functools
import hmac
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse
from xml.sax.saxutils import escape

from flask import Blueprint, Response, current_app, request
from twilio.request_validator import (
    RequestValidator,
    add_port,
    get_signature_algorithm,
    remove_port,
)
from werkzeug.datastructures import MultiDict

from bot.conversation import InboundText
from bot.inbound import UnknownClinicNumber, receive_text
from bot.services import services
from schedules.db import transaction
from schedules.delivery import TWILIO_STATUSES, record_delivery_status

bp = Blueprint("twilio", __name__, url_prefix="/twilio")
log = logging.getLogger("clinicbot.webhook")

FORM_TYPE = "application/x-www-form-urlencoded"
MESSAGE_SID = re.compile(r"(SM|MM)[0-9a-fA-F]{32}")
E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def _plain(status: int, text: str) -> Response:
    """Return a short plain-text error response."""
    return Response(text + "\n", status=status, mimetype="text/plain")


def _twiml(reply: str | None) -> Response:
    """Return TwiML that sends reply, or an empty <Response/> when there is nothing to say."""
    # The same document twilio's MessagingResponse builds, without its tree on the hot path.
    document = (
        f"<Response><Message>{escape(reply)}</Message></Response>" if reply else "<Response />"
    )
    body = f'<?xml version="1.0" encoding="UTF-8"?>{document}'
    return Response(body, status=200, mimetype="application/xml")


def _signed_url() -> str:
    """Return the URL Twilio signed: the configured public base plus this path and query."""
    base = current_app.config.get("PUBLIC_BASE_URL")
    if not base:
        # Behind a proxy this is only right with TRUSTED_PROXY_HOPS set (ProxyFix).
        return request.url
    query = request.query_string.decode("latin-1")
    return f"{base}{request.path}" + (f"?{query}" if query else "")


@functools.lru_cache(maxsize=8)
def _validator(token: str) -> RequestValidator:
    """Return the SDK's validator for an auth token."""
    return RequestValidator(token)


class FormValues(dict[str, list[str]]):
    """Every value posted under each name, read by RequestValidator through getall.

    The SDK asks for getall first and falls back through exceptions for Werkzeug's MultiDict,
    which on 20 parameters cost more than the rest of the signature check.
    """

    @classmethod
    def of(cls, form: MultiDict[str, str]) -> FormValues:
        """Return the values of a parsed form."""
        return cls(form.lists())

    def getall(self, name: str) -> list[str]:
        """Return every value posted under name."""
        return self[name]


def signature_matches(
    token: str, url: str, params: Any, signature: str, algorithm: str | None
) -> bool:
    """Return whether signature is Twilio's for url and params, as RequestValidator.validate.

    Twilio signs the URL with or without the default port; the SDK always computes both, this
    computes the second only when the first does not match.
    """
    validator = _validator(token)
    parsed = urlparse(url)
    if isinstance(params, MultiDict):
        params = FormValues.of(params)
    for candidate in (remove_port(parsed), add_port(parsed)):
        try:
            expected = validator.compute_signature(candidate, params, algorithm)
        except ValueError:  # an algorithm the SDK does not know
            return False
        if hmac.compare_digest(expected.encode(), signature.encode()):
            return True
    return False


def _refused(has_signature: bool) -> Response:
    """Log and answer a request whose signature is missing or wrong."""
    log.warning(
        "Twilio signature invalid",
        extra={"path": request.path, "has_signature": has_signature},
    )
    return _plain(403, "invalid signature")


def twilio_signed(view: Callable[..., Response]) -> Callable[..., Response]:
    """Refuse requests not signed by Twilio (403), then signed ones that are malformed (400)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        token = current_app.config.get("TWILIO_AUTH_TOKEN")
        if not token:
            log.error("TWILIO_AUTH_TOKEN is not set: refusing an unverifiable Twilio request")
            return _plain(403, "signature cannot be verified")
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature:
            return _refused(has_signature=False)
        is_form = request.mimetype == FORM_TYPE
        if is_form:
            # Read before the form is parsed: Werkzeug's form parser does not keep the bytes.
            raw = request.get_data(cache=True)
            params: Any = request.form
        else:
            # Twilio signs any other body as the URL alone (RequestValidator.validate), and
            # nothing such as a multipart upload is parsed before the signature holds.
            raw, params = b"", FormValues()
        # Twilio may sign with HMAC-SHA256 and say so in this header; absent, it is HMAC-SHA1.
        algorithm = get_signature_algorithm(
            request.headers.get("X-Twilio-Webhooks-Signature-Settings")
        )
        if not signature_matches(token, _signed_url(), params, signature, algorithm):
            return _refused(has_signature=True)
        if not is_form:
            return _plain(400, f"expected {FORM_TYPE}")
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return _plain(400, "request body is not valid UTF-8")
        return view(*args, **kwargs)

    return wrapper


@bp.post("/sms")
@twilio_signed
def inbound_sms() -> Response:
    """Answer an inbound text with TwiML after storing it and acting on it."""
    form = request.form
    missing = [key for key in ("MessageSid", "From", "To", "Body") if key not in form]
    if missing:
        return _plain(400, f"missing {', '.join(missing)}")
    try:
        num_media = int(form.get("NumMedia", "0") or 0)
    except ValueError:
        return _plain(400, "NumMedia is not a number")
    text = InboundText(
        sid=form["MessageSid"].strip(),
        from_number=form["From"].strip(),
        to_number=form["To"].strip(),
        body=form["Body"],
        num_media=num_media,
    )
    if not MESSAGE_SID.fullmatch(text.sid):
        return _plain(400, "MessageSid is not a Twilio message SID")
    if not E164.fullmatch(text.from_number) or not E164.fullmatch(text.to_number):
        return _plain(400, "From and To must be phone numbers in E.164 form")
    try:
        outcome = receive_text(services(), text, current_app.config.get("PUBLIC_BASE_URL"))
    except UnknownClinicNumber:
        return _plain(404, "no clinic uses this number")
    return _twiml(outcome.reply)


@bp.post("/status")
@twilio_signed
def delivery_status() -> Response:
    """Record a delivery status, only ever moving a text's status forward."""
    sid = request.form.get("MessageSid", "").strip()
    status = request.form.get("MessageStatus", "").strip().lower()
    if not sid or not status:
        return _plain(400, "missing MessageSid or MessageStatus")
    if status not in TWILIO_STATUSES:
        return _plain(400, f"unknown MessageStatus {status!r}")
    error_code: int | None = None
    if request.form.get("ErrorCode"):
        try:
            error_code = int(request.form["ErrorCode"])
        except ValueError:
            return _plain(400, "ErrorCode is not a number")
    with transaction(services().sessions) as session:
        known = record_delivery_status(session, sid, status, error_code, datetime.now(UTC))
    if not known:
        log.info("status callback for an unknown message", extra={"sid": sid})
    return Response(status=204)
