"""Gunicorn settings, read from the project root: each web worker warms up before it serves."""

from __future__ import annotations

from typing import Any


def post_worker_init(worker: Any) -> None:
    """Build the matcher before the first patient's text, not while that text waits."""
    app = worker.wsgi
    app.extensions["clinicbot"].content.warm()
