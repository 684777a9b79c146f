"""Property test: whatever is posted to the webhook, the answer is 200, 400, 403 or 404, never a
500, and a refused request writes nothing while an accepted one writes a whole exchange."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from bot.twilio_routes import signature_matches
from conftest import CLINIC_SMS, PATIENT, post_signed, twilio_params
from schedules.db import transaction
from schedules.models import Alert, ConsentEvent, Message, Patient

KEYS = ["MessageSid", "From", "To", "Body", "NumMedia", "AccountSid", "SmsSid", "OptOutType"]
texts = st.text(max_size=300)
phones = st.sampled_from([PATIENT, CLINIC_SMS, "+13035559999", "", "not-a-number", "+1"]) | texts
bodies = (
    st.sampled_from(["STOP", "START", "HELP", "I want to die", "3", "C", "side effects", ""])
    | texts
)


def snapshot(svc: Any) -> tuple[int, ...]:
    """Return row counts of every table the webhook writes."""
    with transaction(svc.sessions) as session:
        return tuple(
            session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Message, Patient, Alert, ConsentEvent)
        )


form = st.fixed_dictionaries(
    {},
    optional={
        "MessageSid": st.sampled_from(["SM" + "a" * 32, "SM" + "b" * 32]) | texts,
        "From": phones,
        "To": phones,
        "Body": bodies,
        "NumMedia": st.sampled_from(["0", "1", "x", "-1", ""]),
        "Extra": texts,
    },
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(params=form, signed=st.booleans(), base=st.booleans())
def test_any_form_input_gets_a_clean_answer_and_a_whole_write_or_none(
    client, clinic, svc, params, signed, base
):
    if base:
        # Start from a complete Twilio post and let the drawn fields replace some of it.
        params = {**twilio_params("hello", sid="SM" + "c" * 32), **params}
    params = {k: v for k, v in params.items() if "\x00" not in k}
    before = snapshot(svc)
    if signed:
        response = post_signed(client, "/twilio/sms", params)
    else:
        response = client.post(
            "/twilio/sms", data=params, headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}
        )
    assert response.status_code in (200, 400, 403, 404), response.get_data(as_text=True)
    after = snapshot(svc)
    if response.status_code != 200:
        assert after == before
        return
    if not signed:
        raise AssertionError("an unsigned request was accepted")
    assert response.mimetype == "application/xml"
    messages_added = after[0] - before[0]
    # A new text stores its inbound row (+ reply, + page); a repeated MessageSid stores nothing.
    assert messages_added in (0, 1, 2, 3)
    with transaction(svc.sessions) as session:
        orphans = session.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.direction == "in", Message.patient_id.is_(None))
        )
    assert orphans == 0


TOKEN = "12345"
names = st.text(min_size=1, max_size=12)
values = st.text(max_size=40)
urls = st.sampled_from(
    [
        "https://clinic.example.org/twilio/sms",
        "https://clinic.example.org:443/twilio/sms",
        "http://127.0.0.1:5000/twilio/sms?x=1",
        "https://mycompany.com/myapp.php?foo=1&bar=2",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    url=urls,
    pairs=st.lists(st.tuples(names, values), max_size=25),
    algorithm=st.sampled_from([None, "HMAC_SHA1", "HMAC_SHA256"]),
    signer_url=urls,
)
def test_signature_check_agrees_with_the_sdk_validator(url, pairs, algorithm, signer_url):
    """signature_matches says what RequestValidator.validate says, repeated names included."""
    form = MultiDict(pairs)
    validator = RequestValidator(TOKEN)
    signature = validator.compute_signature(signer_url, form, algorithm)
    expected = validator.validate(url, form, signature, algorithm)
    assert signature_matches(TOKEN, url, form, signature, algorithm) is expected
    if pairs:
        tampered = MultiDict([*pairs[:-1], (pairs[-1][0], pairs[-1][1] + "x")])
        assert signature_matches(TOKEN, url, tampered, signature, algorithm) is False


def test_signature_check_knows_twilios_published_example():
    """Twilio's documented example (token 12345, a voice call's parameters) checks out."""
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    form = MultiDict(params)
    assert signature_matches(TOKEN, url, form, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", None)
    assert not signature_matches(TOKEN, url, form, "0/KCTR6DLpKmkAf8muzZqo1nDgR=", None)
    assert not signature_matches(TOKEN, url, MultiDict(), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", None)
