"""Senders of text messages: Twilio for real, the console for development.

`build_sender(config)` picks one from a plain mapping (a Flask ``app.config`` works).

Errors from Twilio become `SendError`. Their text names the HTTP status, Twilio's code and at
most the last digits of a phone number: never the message body or a full number, because these
texts end up in logs and the body and numbers are patient data. Twilio's own error message is
copied only with digit runs redacted, for the same reason (it often quotes the number, e.g. 21211
"The 'To' number +1... is not a valid phone number").
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import uuid
from collections.abc import Mapping
from typing import Any, TextIO

from schedules.sender import Sender, SendError, SendResult

__all__ = ["ConsoleSender", "TwilioSender", "build_sender"]

DEFAULT_TIMEOUT = 10.0
TWILIO_API_URL = "https://api.twilio.com"

# Twilio error codes are five digits; the SDK puts the HTTP status in `code` when the answer
# had none (Prism's problem+json, a proxy's HTML page).
_MIN_TWILIO_CODE = 10000

_DIGIT_RUN = re.compile(r"\+?\d[\d\s().-]{4,}\d")


def _mask_number(number: str | None) -> str:
    """'+15005550009' -> '…0009': tells recipients apart in a log, not enough to call them."""
    if not number:
        return "(none)"
    digits = re.sub(r"\D", "", number)
    return "…" + digits[-4:] if len(digits) > 4 else "…"


def _redact(text: str, body: str | None) -> str:
    """A provider's message with digit runs (phone numbers) masked; "" if it quotes the body."""
    if body and len(body.strip()) >= 3 and body in text:
        return ""
    return _DIGIT_RUN.sub("[number]", text)[:200]


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class TwilioSender:
    """Sends through Twilio's Messages API with the official SDK.

    The Twilio client is built on the first send, never at construction or import, so that building
    the app (and importing this module) needs neither network nor a valid account.
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        default_from: str | None = None,
        messaging_service_sid: str | None = None,
        api_base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if not account_sid or not auth_token:
            raise ValueError("TwilioSender needs an account SID and an auth token")
        if timeout is None or timeout <= 0:
            raise ValueError("TwilioSender needs a positive request timeout")
        self.account_sid = account_sid
        self._auth_token = auth_token
        self.default_from = default_from or None
        self.messaging_service_sid = messaging_service_sid or None
        self.api_base_url = api_base_url.rstrip("/") if api_base_url else None
        self.timeout = timeout
        self._client: Any = None
        self._client_lock = threading.Lock()

    def __repr__(self) -> str:  # never show the token
        return (
            f"TwilioSender(account_sid={self.account_sid!r}, "
            f"default_from={self.default_from!r}, "
            f"messaging_service_sid={self.messaging_service_sid!r}, "
            f"api_base_url={self.api_base_url!r})"
        )

    def _get_client(self) -> Any:
        client = self._client
        if client is not None:
            return client
        with self._client_lock:
            if self._client is None:
                from twilio.http.http_client import TwilioHttpClient
                from twilio.rest import Client

                client = Client(
                    self.account_sid,
                    self._auth_token,
                    http_client=self._http_client(TwilioHttpClient),
                )
                if self.api_base_url:
                    client.api.base_url = self.api_base_url
                    # TWILIO_EDGE / TWILIO_REGION in the environment would rewrite the host of every
                    # URL (even 127.0.0.1) towards *.twilio.com: an explicit base URL must win.
                    client.edge = None
                    client.region = None
                self._client = client
            return self._client

    def _http_client(self, http_client_class: Any) -> Any:
        """Return the SDK's HTTP client with the environment's proxy and CA settings read once.

        requests reads them again on every request (it scans the whole environment each time),
        which costs more than a text's own work; the same settings are fixed here, at the first
        send: a proxy for the API's host unless NO_PROXY exempts it, and a CA bundle.
        """
        from requests.utils import get_environ_proxies

        api_url = self.api_base_url or TWILIO_API_URL
        http = http_client_class(timeout=self.timeout, proxy=get_environ_proxies(api_url))
        if http.session is not None:
            http.session.trust_env = False
            http.session.verify = (
                os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
            )
        return http

    def send(
        self,
        *,
        to: str,
        body: str,
        from_number: str | None = None,
        status_callback: str | None = None,
    ) -> SendResult:
        kwargs: dict[str, Any] = {"to": to, "body": body}
        if from_number:
            kwargs["from_"] = from_number
        elif self.default_from:
            kwargs["from_"] = self.default_from
        elif self.messaging_service_sid:
            kwargs["messaging_service_sid"] = self.messaging_service_sid
        else:
            raise SendError(
                "no sender: give from_number, a default From number or a Messaging Service SID"
            )
        if status_callback:
            kwargs["status_callback"] = status_callback

        # The SendError is raised outside the `except` blocks so that it carries no __context__:
        # the SDK's exceptions quote Twilio's message (often with the number), and a traceback
        # would print them.
        error = self._create(kwargs, to=to, body=body)
        if isinstance(error, SendError):
            raise error
        return error

    def _create(self, kwargs: dict[str, Any], *, to: str, body: str) -> SendResult | SendError:
        import requests
        from twilio.base.exceptions import TwilioException

        client = self._get_client()
        who = f"to {_mask_number(to)}"
        try:
            message = client.messages.create(**kwargs)
        except TwilioException as exc:
            return self._from_twilio_exception(exc, who=who, body=body)
        except (
            requests.exceptions.InvalidURL,
            requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema,
        ):
            # Raised before anything left this process: a configuration error, nothing was sent.
            return SendError(
                f"Twilio request {who} not sent: invalid API base URL {self.api_base_url!r}"
            )
        except requests.exceptions.Timeout:
            return SendError(
                f"Twilio did not answer within {self.timeout:g} s (message {who}): "
                "it may have been sent",
                uncertain=True,
            )
        except requests.exceptions.RequestException as exc:
            return SendError(
                f"connection to Twilio failed (message {who}, {type(exc).__name__}): "
                "it may have been sent",
                uncertain=True,
            )
        except json.JSONDecodeError:
            return SendError(
                f"Twilio's answer (message {who}) was not JSON: it may have been sent",
                uncertain=True,
            )
        status = getattr(message.status, "value", message.status)
        return SendResult(sid=str(message.sid), status=str(status))

    @staticmethod
    def _from_twilio_exception(exc: Exception, *, who: str, body: str) -> SendError:
        http_status = _as_int(getattr(exc, "status", None))
        code = _as_int(getattr(exc, "code", None))
        if code is not None and code < _MIN_TWILIO_CODE:
            code = None  # the SDK's fallback: the HTTP status again, not a Twilio error code
        if http_status is None:
            # Raised by the SDK before any request (e.g. missing credentials): nothing was sent.
            return SendError(
                f"Twilio client error before sending (message {who}): {type(exc).__name__}"
            )
        # TwilioRestException has .msg ("Unable to create record: <Twilio's message>"),
        # TwilioServiceException (RFC 9457) has .title / .detail.
        raw = getattr(exc, "msg", None) or " ".join(
            str(part)
            for part in (getattr(exc, "title", None), getattr(exc, "detail", None))
            if part
        )
        detail = _redact(str(raw or ""), body)
        text = f"Twilio refused the message {who}: HTTP {http_status}"
        if code is not None:
            text += f", error {code} (https://www.twilio.com/docs/errors/{code})"
        if detail:
            text += f": {detail}"
        return SendError(
            text,
            code=code,
            http_status=http_status,
            retryable=http_status == 429 or code == 20429,
            uncertain=http_status >= 500,
        )


class ConsoleSender:
    """Prints each text instead of sending it: for development and demos."""

    def __init__(self, stream: TextIO | None = None, *, default_from: str | None = None) -> None:
        self._stream = stream
        self.default_from = default_from
        self._lock = threading.Lock()

    def send(
        self,
        *,
        to: str,
        body: str,
        from_number: str | None = None,
        status_callback: str | None = None,
    ) -> SendResult:
        sid = "CS" + uuid.uuid4().hex
        lines = [
            f"----- SMS {sid} -----",
            f"To:   {to}",
            f"From: {from_number or self.default_from or '(default sender)'}",
        ]
        if status_callback:
            lines.append(f"Status callback: {status_callback}")
        lines += [f"Length: {len(body)} characters", "", body, "-" * 40, ""]
        block = "\n".join(lines) + "\n"
        with self._lock:
            stream = self._stream if self._stream is not None else sys.stdout
            stream.write(block)
            stream.flush()
        return SendResult(sid=sid, status="sent")


def _setting(config: Mapping[str, Any], key: str) -> str | None:
    value = config.get(key)
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def build_sender(config: Mapping[str, Any]) -> Sender:
    """The sender the configuration asks for.

    SMS_BACKEND is 'twilio' or 'console'; when unset, 'twilio' if TWILIO_ACCOUNT_SID and
    TWILIO_AUTH_TOKEN are both set, else 'console'. Twilio also reads TWILIO_FROM_NUMBER,
    TWILIO_MESSAGING_SERVICE_SID (at least one of the two), TWILIO_API_BASE_URL (tests) and
    TWILIO_TIMEOUT (seconds, default 10).
    """
    account_sid = _setting(config, "TWILIO_ACCOUNT_SID")
    auth_token = _setting(config, "TWILIO_AUTH_TOKEN")
    from_number = _setting(config, "TWILIO_FROM_NUMBER")
    backend = (
        _setting(config, "SMS_BACKEND") or ("twilio" if account_sid and auth_token else "console")
    ).lower()

    if backend == "console":
        return ConsoleSender(default_from=from_number)
    if backend != "twilio":
        raise ValueError(f"SMS_BACKEND must be 'twilio' or 'console', not {backend!r}")

    missing = [
        key
        for key, value in (("TWILIO_ACCOUNT_SID", account_sid), ("TWILIO_AUTH_TOKEN", auth_token))
        if not value
    ]
    if missing:
        raise ValueError(f"SMS_BACKEND=twilio needs {' and '.join(missing)}")
    service_sid = _setting(config, "TWILIO_MESSAGING_SERVICE_SID")
    if not from_number and not service_sid:
        raise ValueError(
            "SMS_BACKEND=twilio needs TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID"
        )
    timeout_setting = _setting(config, "TWILIO_TIMEOUT")
    try:
        timeout = float(timeout_setting) if timeout_setting else DEFAULT_TIMEOUT
    except ValueError:
        raise ValueError(
            f"TWILIO_TIMEOUT must be a number of seconds, not {timeout_setting!r}"
        ) from None
    return TwilioSender(
        account_sid,
        auth_token,
        default_from=from_number,
        messaging_service_sid=service_sid,
        api_base_url=_setting(config, "TWILIO_API_BASE_URL"),
        timeout=timeout,
    )
