"""Gunicorn settings, read from the project root: each web worker warms up before it serves."""

from __future__ import annotations

import time
from typing import Any


def post_worker_init(worker: Any) -> None:
    """Build the matcher before the first patient's text, not while that text waits."""
    started = time.monotonic()
    worker.wsgi.extensions["clinicbot"].content.warm()
    worker.log.info("matcher and crisis screen ready in %.1f s", time.monotonic() - started)
