"""Texts to clinic staff. They carry a link to the conversation, never the patient's words."""

from __future__ import annotations

PAGE_TEMPLATES: dict[str, str] = {
    "crisis": (
        "{clinic_name} ALERT #{alert_id}: a patient's text may be a crisis. "
        "They got the 988/911 reply. Review now: {link}"
    ),
    # Said apart so on-call can weigh it: no alarm word, and most of these are false alarms.
    "crisis_screen": (
        "{clinic_name} ALERT #{alert_id}: a patient's text may be a crisis (no alarm word; "
        "flagged by the pattern screen, often a false alarm). They got the 988/911 reply. "
        "Review now: {link}"
    ),
    "emergency": (
        "{clinic_name} ALERT #{alert_id}: a patient's text may be a medical emergency. "
        "They were told to call 911. Review now: {link}"
    ),
}


def render_page(kind: str, *, clinic_name: str, alert_id: int, link: str) -> str:
    """Return the on-call page for an alert of this kind."""
    return PAGE_TEMPLATES[kind].format(clinic_name=clinic_name, alert_id=alert_id, link=link)
