"""The clinic API under /api/v1: bearer tokens, JSON schedules, reminders and alerts.

``routes`` holds the blueprint (import it to register the API); ``tokens`` creates, finds and
revokes tokens and imports no web code, so the CLI stays quick to start.
"""
