"""Offline Twilio peers for tests.

Two peers, both reached by pointing the real SDK at them (``client.api.base_url = peer_url``):

* ``prism_twilio()`` / fixture ``twilio_prism``: Stoplight Prism serving Twilio's own OpenAPI
  spec (npm ``@twilio-alpha/mcp``). It validates every request against the spec (422 for a bad
  SID or a callback that is not a URI, 401 without basic auth) and answers a valid send with the
  spec's fixed example (SID ``SMaaaa...``, status ``queued``) every time. Install with
  ``npm ci`` at the repo root.
* ``TwilioErrorStub`` / fixture ``twilio_stub``: a small local server that behaves like the
  Messages endpoint (auth, required fields, unique SIDs, realistic JSON) and can be told to answer
  with Twilio's own error codes (21610, 20429, 5xx ...) or to hang, which Prism cannot do.

Use from a conftest with ``from twilio_peer import *`` (``tests/`` is on sys.path under pytest's
default import mode while it has no ``__init__.py``), or ``pytest_plugins = ["twilio_peer"]``.

PYTEST_DONT_REWRITE: this helper is imported by test modules before pytest registers it as a plugin.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

__all__ = [
    "PRISM_BIN",
    "TEST_ACCOUNT_SID",
    "TEST_AUTH_TOKEN",
    "TWILIO_SPEC",
    "PrismMissing",
    "TwilioErrorStub",
    "free_port",
    "prism_twilio",
    "twilio_prism",
    "twilio_sender_factory",
    "twilio_stub",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
PRISM_BIN = REPO_ROOT / "node_modules" / ".bin" / "prism"
TWILIO_SPEC = (
    REPO_ROOT
    / "node_modules"
    / "@twilio-alpha"
    / "mcp"
    / "twilio-oai"
    / "spec"
    / "json"
    / "twilio_api_v2010.json"
)

# Syntactically valid (AC + 32 hex) but not a real account; Prism checks ^AC[0-9a-fA-F]{32}$.
TEST_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
TEST_AUTH_TOKEN = "test-auth-token-" + "0" * 16

PRISM_START_TIMEOUT = 60.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------------------------------
# Prism


class PrismMissing(RuntimeError):
    """node_modules has no Prism or no Twilio spec."""


def _check_prism_installed() -> None:
    missing = [str(path) for path in (PRISM_BIN, TWILIO_SPEC) if not path.exists()]
    if missing:
        raise PrismMissing(
            f"Prism mock of Twilio not installed ({', '.join(missing)} missing): "
            f"run `npm ci` in {REPO_ROOT} (needs Node >= 18 and the npm registry; package.json "
            "pins @stoplight/prism-cli and @twilio-alpha/mcp)"
        )
    if shutil.which("node") is None:
        raise PrismMissing("Prism needs `node` on PATH (Node >= 18)")


def _answers_http(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0):
            return True
    except urllib.error.HTTPError:
        return True  # Prism answers unknown paths with 404: it is up
    except (OSError, ValueError):
        return False


def _tail(path: Path, limit: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return ""


@contextlib.contextmanager
def prism_twilio(port: int | None = None, *, timeout: float = PRISM_START_TIMEOUT) -> Iterator[str]:
    """Run ``prism mock`` on Twilio's 2010 API spec; yields ``http://127.0.0.1:PORT``.

    Raises PrismMissing when node_modules lacks Prism or the spec, RuntimeError when it does not
    start.
    """
    _check_prism_installed()
    port = port or free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_dir = Path(tempfile.mkdtemp(prefix="prism-twilio-"))
    log_path = log_dir / "prism.log"
    with open(log_path, "wb") as log:
        # stdout to a file, never a pipe nobody reads: a full pipe would stall Prism.
        proc = subprocess.Popen(
            [
                str(PRISM_BIN),
                "mock",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-v",
                "warn",
                str(TWILIO_SPEC),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
            start_new_session=True,  # its own process group, so we can end it and any child with it
        )
    try:
        deadline = time.monotonic() + timeout
        while not _answers_http(base_url + "/"):
            if proc.poll() is not None:
                raise RuntimeError(
                    f"prism exited with {proc.returncode} before answering:\n{_tail(log_path)}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"prism did not answer on {base_url} within {timeout:g} s:\n{_tail(log_path)}"
                )
            time.sleep(0.1)
        yield base_url
    finally:
        _stop_process_group(proc)
        shutil.rmtree(log_dir, ignore_errors=True)


def _stop_process_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


@pytest.fixture(scope="session")
def twilio_prism() -> Iterator[str]:
    """Base URL of a Prism mock of Twilio's API, one per test session.

    Missing Prism: pytest.fail under CI (CI must run `npm ci`), pytest.skip elsewhere.
    """
    try:
        _check_prism_installed()
    except PrismMissing as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc), pytrace=False)
        pytest.skip(str(exc))
    with pytest.MonkeyPatch.context() as mp:
        # TWILIO_EDGE / TWILIO_REGION make the SDK rewrite every host towards *.twilio.com.
        mp.delenv("TWILIO_EDGE", raising=False)
        mp.delenv("TWILIO_REGION", raising=False)
        with prism_twilio() as base_url:
            yield base_url


# --------------------------------------------------------------------------------------------------
# Error stub

_GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = set("^{}\\[~]|€\f")


def count_segments(body: str) -> int:
    """Segments Twilio would bill: GSM-7 160/153, else UCS-2 70/67 (UTF-16 code units)."""
    if all(ch in _GSM7_BASIC or ch in _GSM7_EXTENDED for ch in body):
        units = sum(2 if ch in _GSM7_EXTENDED else 1 for ch in body)
        single, multi = 160, 153
    else:
        units = len(body.encode("utf-16-le")) // 2
        single, multi = 70, 67
    if units <= single:
        return 1
    return -(-units // multi)


# Twilio's wording (as far as known) for the codes tests program; {to} is filled with the recipient.
_ERROR_MESSAGES = {
    20003: "Authenticate",
    20404: "The requested resource {path} was not found",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    21211: "The 'To' number {to} is not a valid phone number.",
    21602: "Message body is required.",
    21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21606: (
        "The From phone number {from_} is not a valid, SMS-capable inbound phone number or short "
        "code for your account."
    ),
    21608: (
        "The number {to} is unverified. Trial accounts cannot send messages to unverified numbers."
    ),
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number {to} is not a valid mobile number",
    21635: "'To' number {to} cannot be a landline",
}


@dataclass(frozen=True)
class _Raw:
    """A body sent as is instead of Twilio's JSON error."""

    text: str
    content_type: str = "text/html"


@dataclass(frozen=True)
class _Failure:
    status: int
    code: int | None
    message: str | None
    raw: _Raw | None


class TwilioErrorStub:
    """A local stand-in for ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``.

    Program it per recipient or for the next requests::

        stub.fail_for("+15005550009", status=400, code=21610)   # every send to that number
        stub.fail_next(status=429, code=20429)                  # the next send, whoever it is to
        stub.fail_for("+15005550010", status=500)               # 5xx: code 20500
        stub.hang_for("+15005550011", seconds=3)                # answers (201) only after 3 s

    ``stub.requests`` lists every accepted send (form fields plus ``AccountSid``, ``Sid``);
    ``stub.attempts`` every request that reached the endpoint, with the ``_status`` answered.
    A hung request is accepted like Twilio would (the message goes out; only the answer is late).
    """

    def __init__(
        self,
        account_sid: str = TEST_ACCOUNT_SID,
        auth_token: str = TEST_AUTH_TOKEN,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.requests: list[dict[str, Any]] = []
        self.attempts: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._per_number: dict[str, _Failure] = {}
        self._next: list[_Failure] = []
        self._hangs: dict[str, float] = {}
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- programming -------------------------------------------------------------------------------

    def fail_for(
        self,
        number: str,
        status: int = 400,
        code: int | None = None,
        message: str | None = None,
        *,
        raw_body: str | None = None,
        content_type: str = "text/html",
    ) -> None:
        """Answer every send to `number` with this error (until `clear`); 5xx without code: 20500.

        `raw_body` (with `content_type`) replaces Twilio's JSON error: a proxy's HTML page, an
        RFC 9457 problem document..."""
        raw = _Raw(raw_body, content_type) if raw_body is not None else None
        with self._lock:
            self._per_number[number] = _Failure(
                status, self._default_code(status, code), message, raw
            )

    def fail_next(
        self,
        status: int = 429,
        code: int | None = None,
        message: str | None = None,
        *,
        times: int = 1,
        raw_body: str | None = None,
        content_type: str = "text/html",
    ) -> None:
        """Answer the next `times` sends (after auth and validation) with this error."""
        raw = _Raw(raw_body, content_type) if raw_body is not None else None
        with self._lock:
            self._next.extend(
                _Failure(status, self._default_code(status, code), message, raw)
                for _ in range(times)
            )

    def hang_for(self, number: str, seconds: float) -> None:
        """Sends to `number` are accepted but answered only after `seconds` (a client timeout)."""
        with self._lock:
            self._hangs[number] = seconds

    def clear(self) -> None:
        """Forget all programmed failures and hangs (not the recorded requests)."""
        with self._lock:
            self._per_number.clear()
            self._next.clear()
            self._hangs.clear()

    @staticmethod
    def _default_code(status: int, code: int | None) -> int | None:
        if code is not None:
            return code
        return {401: 20003, 404: 20404, 429: 20429}.get(status, 20500 if status >= 500 else None)

    # -- lifecycle ---------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def messages_path(self) -> str:
        return f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"

    def start(self) -> TwilioErrorStub:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="twilio-error-stub",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases hung handlers
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> TwilioErrorStub:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- the endpoint ------------------------------------------------------------------------------

    def _error(
        self, status: int, code: int | None, message: str | None, **fmt: Any
    ) -> dict[str, Any]:
        template = message or _ERROR_MESSAGES.get(code or 0) or "Error"
        try:
            text = template.format(**fmt)
        except (KeyError, IndexError):
            text = template
        return {
            "code": code,
            "message": text,
            "more_info": f"https://www.twilio.com/docs/errors/{code}" if code else None,
            "status": status,
        }

    def _authorized(self, header: str | None, path_sid: str) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return user == self.account_sid == path_sid and password == self.auth_token

    def _message_json(self, fields: dict[str, Any], sid: str) -> dict[str, Any]:
        now = email.utils.formatdate(
            usegmt=True
        )  # RFC 2822, as Twilio: "Tue, 01 Jul 2025 10:00:00 +0000"
        now = now.replace("GMT", "+0000")
        body = fields.get("Body", "")
        media = fields.get("MediaUrl")
        num_media = len(media) if isinstance(media, list) else (1 if media else 0)
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}"
        from_ = fields.get("From")
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": from_,
            "messaging_service_sid": fields.get("MessagingServiceSid"),
            "num_media": str(num_media),
            "num_segments": str(count_segments(body)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            # A Messaging Service send without From is "accepted" (sender picked later).
            "status": "accepted" if fields.get("MessagingServiceSid") and not from_ else "queued",
            "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
            "to": fields.get("To"),
            "uri": f"{uri}.json",
        }

    def _handle_post(
        self, path: str, headers: Any, raw: bytes
    ) -> tuple[int, dict[str, Any] | _Raw]:
        parts = path.strip("/").split("/")
        if (
            len(parts) != 4
            or parts[:2] != ["2010-04-01", "Accounts"]
            or parts[3] != "Messages.json"
        ):
            return 404, self._error(404, 20404, None, path=path)
        path_sid = parts[2]
        if not self._authorized(headers.get("Authorization"), path_sid):
            return 401, self._error(401, 20003, None)

        fields: dict[str, Any] = {}
        for key, value in parse_qsl(raw.decode("utf-8"), keep_blank_values=True):
            if key in fields:
                previous = fields[key]
                fields[key] = (
                    [*previous, value] if isinstance(previous, list) else [previous, value]
                )
            else:
                fields[key] = value
        if media := fields.get("MediaUrl"):
            fields["MediaUrl"] = media if isinstance(media, list) else [media]
        to = fields.get("To") or ""
        fmt = {"to": to, "from_": fields.get("From") or "", "path": path}
        attempt = {**fields, "AccountSid": path_sid}

        def reject(
            status: int, code: int | None, message: str | None = None, raw: _Raw | None = None
        ) -> tuple[int, dict[str, Any] | _Raw]:
            with self._lock:
                self.attempts.append({**attempt, "_status": status})
            return status, raw if raw is not None else self._error(status, code, message, **fmt)

        if not to:
            return reject(400, 21604)
        if not fields.get("Body") and not fields.get("MediaUrl"):
            return reject(400, 21602)
        if not fields.get("From") and not fields.get("MessagingServiceSid"):
            return reject(400, 21603)

        with self._lock:
            failure = self._next.pop(0) if self._next else self._per_number.get(to)
            hang = self._hangs.get(to)
        if failure is not None:
            return reject(failure.status, failure.code, failure.message, failure.raw)

        sid = "SM" + uuid.uuid4().hex
        with self._lock:
            self.requests.append({**attempt, "Sid": sid})
            self.attempts.append({**attempt, "Sid": sid, "_status": 201})
        if hang:
            self._stopping.wait(hang)
        return 201, self._message_json(fields, sid)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True
            server_version = "TwilioErrorStub/1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _reply(self, status: int, payload: dict[str, Any] | _Raw) -> None:
                if isinstance(payload, _Raw):
                    data, content_type = payload.text.encode(), payload.content_type
                else:
                    data, content_type = json.dumps(payload).encode(), "application/json"
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                if status == 401:
                    self.send_header("WWW-Authenticate", 'Basic realm="Twilio API"')
                self.end_headers()
                self.wfile.write(data)

            def _read_body(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def do_POST(self) -> None:
                raw = self._read_body()
                try:
                    status, payload = stub._handle_post(urlsplit(self.path).path, self.headers, raw)
                except Exception as exc:  # a bug in the stub: say so loudly, as a 500
                    status, payload = 500, stub._error(500, 20500, f"stub error: {exc!r}")
                with contextlib.suppress(OSError):  # the client may have given up (timeout)
                    self._reply(status, payload)

            def do_GET(self) -> None:
                self._reply(404, stub._error(404, 20404, None, path=self.path))

        return Handler


@pytest.fixture
def twilio_stub() -> Iterator[TwilioErrorStub]:
    """A fresh TwilioErrorStub on a free port (accepts TEST_ACCOUNT_SID / TEST_AUTH_TOKEN)."""
    with TwilioErrorStub() as stub:
        yield stub


@pytest.fixture
def twilio_sender_factory(monkeypatch: pytest.MonkeyPatch):
    """``make(base_url, **kwargs) -> TwilioSender``: test credentials, TWILIO_EDGE/REGION unset."""
    monkeypatch.delenv("TWILIO_EDGE", raising=False)
    monkeypatch.delenv("TWILIO_REGION", raising=False)
    from bot.senders import TwilioSender

    def make(base_url: str, **kwargs: Any) -> TwilioSender:
        kwargs.setdefault("default_from", "+15005550006")
        kwargs.setdefault("timeout", 5.0)
        return TwilioSender(TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, api_base_url=base_url, **kwargs)

    return make
