"""The benchmark's baseline: a bare Flask app answering POST /twilio/sms with fixed TwiML.

Served by scripts/bench_webhook.py with the same gunicorn settings and wrk load as the real
webhook, so the ratio of the two shows what ClinicBot's own work costs. It reads nothing,
checks no signature and stores nothing. GET /healthz lets the benchmark wait for it to start.
"""

from __future__ import annotations

from flask import Flask, Response

TWIML = "<Response><Message>hi</Message></Response>"

app = Flask(__name__)


@app.post("/twilio/sms")
def inbound_sms() -> Response:
    """Answer any inbound text with the same fixed TwiML."""
    return Response(TWIML, status=200, mimetype="application/xml")


@app.get("/healthz")
def healthz() -> Response:
    """Answer 200 once the worker is up."""
    return Response('{"status": "ok"}', status=200, mimetype="application/json")
