"""bot.senders against real peers: Prism (Twilio's OpenAPI spec) and a local Twilio error stub."""

from __future__ import annotations

import io
import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.senders import ConsoleSender, TwilioSender, build_sender
from schedules.sender import SendError, SendResult
from twilio_peer import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, free_port

# The peers' fixtures (twilio_prism, twilio_stub, twilio_sender_factory), registered once per
# session (deduplicated by name if a conftest lists the same plugin).
pytest_plugins = ["twilio_peer"]

PATIENT = "+15005550006"
CLINIC = "+15017122661"
OTHER_CLINIC = "+15017122662"
SERVICE_SID = "MG" + "fedcba9876543210" * 2
BODY = "Reminder: your infusion at Lakeside Clinic is tomorrow at 9:30. Reply HELP for help."
SID_RE = re.compile(r"^SM[0-9a-f]{32}$")


def assert_no_phi(err: SendError, *numbers: str, body: str = BODY) -> None:
    """The error's text and repr carry neither the body nor any full phone number."""
    for text in (str(err), err.message, repr(err)):
        assert body not in text
        for number in numbers:
            assert number not in text
            assert number.lstrip("+") not in text
    # Raised without a chained SDK exception, whose text quotes Twilio's message (and the number).
    assert err.__cause__ is None
    assert err.__context__ is None


# --------------------------------------------------------------------------------------------------
# Through Prism: the real SDK against Twilio's own OpenAPI spec


def test_prism_accepts_send_with_from(twilio_prism, twilio_sender_factory):
    sender = twilio_sender_factory(twilio_prism, default_from=CLINIC)
    result = sender.send(to=PATIENT, body=BODY)
    assert isinstance(result, SendResult)
    assert result.sid.startswith("SM") and len(result.sid) == 34
    assert result.status == "queued"


def test_prism_accepts_messaging_service_with_status_callback(twilio_prism, twilio_sender_factory):
    sender = twilio_sender_factory(
        twilio_prism, default_from=None, messaging_service_sid=SERVICE_SID
    )
    result = sender.send(
        to=PATIENT, body=BODY, status_callback="https://clinic.example.com/sms/status"
    )
    assert result.sid.startswith("SM")
    assert result.status == "queued"


def test_prism_returns_the_same_example_sid_every_time(twilio_prism, twilio_sender_factory):
    # Documents the peer: Prism echoes the spec's example, so SIDs are not unique through it.
    sender = twilio_sender_factory(twilio_prism)
    assert sender.send(to=PATIENT, body="a").sid == sender.send(to=PATIENT, body="b").sid


@pytest.mark.parametrize(
    ("sender_kwargs", "send_kwargs"),
    [
        pytest.param({}, {"status_callback": "not a uri"}, id="callback-not-a-uri"),
        pytest.param({"account_sid": "ACnot-a-sid"}, {}, id="bad-account-sid"),
        pytest.param(
            {"default_from": None, "messaging_service_sid": "MGshort"}, {}, id="bad-service-sid"
        ),
    ],
)
def test_prism_rejects_invalid_requests_with_422(
    twilio_prism, monkeypatch, sender_kwargs, send_kwargs
):
    monkeypatch.delenv("TWILIO_EDGE", raising=False)
    monkeypatch.delenv("TWILIO_REGION", raising=False)
    account_sid = sender_kwargs.pop("account_sid", TEST_ACCOUNT_SID)
    sender_kwargs.setdefault("default_from", CLINIC)
    sender = TwilioSender(
        account_sid, TEST_AUTH_TOKEN, api_base_url=twilio_prism, timeout=5, **sender_kwargs
    )
    with pytest.raises(SendError) as info:
        sender.send(to=PATIENT, body=BODY, **send_kwargs)
    err = info.value
    assert err.http_status == 422
    # Prism answers application/problem+json without a Twilio code; the SDK would put 422 in `code`.
    assert err.code is None
    assert not err.retryable and not err.uncertain
    assert_no_phi(err, PATIENT, CLINIC)


# --------------------------------------------------------------------------------------------------
# Through the error stub: Twilio's own error codes, 429, 5xx, timeouts


def test_stub_success_returns_unique_sid_and_sends_exact_fields(twilio_stub, twilio_sender_factory):
    sender = twilio_sender_factory(twilio_stub.base_url, default_from=CLINIC)
    body = "Ваш приём завтра — 9:30 ✅\nLine two {braces}"
    first = sender.send(
        to=PATIENT, body=body, status_callback="https://clinic.example.com/sms/status"
    )
    second = sender.send(to=PATIENT, body=BODY)
    assert SID_RE.match(first.sid) and SID_RE.match(second.sid)
    assert first.sid != second.sid
    assert first.status == second.status == "queued"
    seen = twilio_stub.requests
    assert [r["Sid"] for r in seen] == [first.sid, second.sid]
    assert seen[0]["Body"] == body
    assert seen[0]["To"] == PATIENT
    assert seen[0]["From"] == CLINIC
    assert seen[0]["StatusCallback"] == "https://clinic.example.com/sms/status"
    assert seen[0]["AccountSid"] == TEST_ACCOUNT_SID
    assert "MessagingServiceSid" not in seen[0]
    assert "StatusCallback" not in seen[1]


def test_stub_clinic_number_wins_over_default_from(twilio_stub, twilio_sender_factory):
    sender = twilio_sender_factory(
        twilio_stub.base_url, default_from=CLINIC, messaging_service_sid=SERVICE_SID
    )
    sender.send(to=PATIENT, body=BODY, from_number=OTHER_CLINIC)
    sender.send(to=PATIENT, body=BODY)
    assert [r["From"] for r in twilio_stub.requests] == [OTHER_CLINIC, CLINIC]
    assert all("MessagingServiceSid" not in r for r in twilio_stub.requests)


def test_stub_messaging_service_used_without_from(twilio_stub, twilio_sender_factory):
    sender = twilio_sender_factory(
        twilio_stub.base_url, default_from=None, messaging_service_sid=SERVICE_SID
    )
    result = sender.send(to=PATIENT, body=BODY)
    (seen,) = twilio_stub.requests
    assert seen["MessagingServiceSid"] == SERVICE_SID
    assert "From" not in seen
    assert result.sid == seen["Sid"]
    assert result.status == "accepted"  # what Twilio says for a Messaging Service send without From


def test_stub_opted_out_recipient_21610(twilio_stub, twilio_sender_factory):
    twilio_stub.fail_for(PATIENT, status=400, code=21610)
    sender = twilio_sender_factory(twilio_stub.base_url, default_from=CLINIC)
    with pytest.raises(SendError) as info:
        sender.send(to=PATIENT, body=BODY)
    err = info.value
    assert (err.code, err.http_status, err.retryable, err.uncertain) == (21610, 400, False, False)
    assert "21610" in str(err)
    assert_no_phi(err, PATIENT, CLINIC)
    assert twilio_stub.requests == []


@pytest.mark.parametrize("code", [21211, 21614, 21635, 21608])
def test_stub_recipient_error_codes_surface(twilio_stub, twilio_sender_factory, code):
    # The stub's messages for these quote the number, as Twilio's do; the SendError must not.
    twilio_stub.fail_for(PATIENT, status=400, code=code)
    sender = twilio_sender_factory(twilio_stub.base_url, default_from=CLINIC)
    with pytest.raises(SendError) as info:
        sender.send(to=PATIENT, body=BODY)
    err = info.value
    assert err.code == code and err.http_status == 400
    assert not err.retryable and not err.uncertain
    assert_no_phi(err, PATIENT, CLINIC)
    assert "0006" in str(err)  # the last digits stay, to tell recipients apart in a log


def test_stub_error_never_echoes_body_even_if_twilio_does(twilio_stub, twilio_sender_factory):
    twilio_stub.fail_for(PATIENT, status=400, code=21617, message=f"The body '{BODY}' is too long")
    sender = twilio_sender_factory(twilio_stub.base_url, default_from=CLINIC)
    with pytest.raises(SendError) as info:
        sender.send(to=PATIENT, body=BODY)
    assert info.value.code == 21617
    assert_no_phi(info.value, PATIENT, CLINIC)


def test_stub_rate_limited_429_is_retryable(twilio_stub, twilio_sender_factory):
    twilio_stub.fail_next(status=429, code=20429)
    sender = twilio_sender_factory(twilio_stub.base_url)
    with pytest.raises(SendError) as info:
        sender.send(to=PATIENT, body=BODY)
    err = info.value
    assert (err.code, err.http_status, err.retryable, err.uncertain) == (20429, 429, True, False)
    assert_no_phi(err, PATIENT)
    # Only the next one failed: the retry goes through.
    assert SID_RE.match(sender.send(to=PATIENT, body=BODY).sid)


def test_stub_server_error_is_uncertain(twilio_stub, twilio_sender_factory):
    twilio_stub.fail_for(PATIENT, status=500)
    sender = twilio_sender_factory(twilio_stub.base_url)
    with pytest.raises(SendError) as info:
        sender.send(to=PATIENT, body=BODY)
    err = info.value
    assert (err.code, err.http_status, err.retryable, err.uncertain) == (20500, 500, False, True)
    assert_no_phi(err, PATIENT)


def test_stub_gateway_html_page_is_uncertain_without_code(twilio_stub, twilio_sender_factory):
    twilio_stub.fail_next(status=503, raw_body="<html><body>Service Unavailable</body></html>")
    sender = twilio_sender_factory(twilio_stub.base_url)
    with pytest.raises(SendError) as info:
        sender.send(to=PATIENT, body=BODY)
    err = info.value
    assert (err.code, err.http_status, err.uncertain) == (None, 503, True)


def test_stub_rfc9457_problem_answer(twilio_stub, twilio_sender_factory):
    # Since twilio 9.10 such a body raises TwilioServiceException, not a TwilioRestException.
    problem = {
        "type": "https://www.twilio.com/docs/errors/21610",
        "title": "Unsubscribed recipient",
        "status": 400,
        "code": 21610,
        "detail": f"Attempt to send to unsubscribed recipient {PATIENT}",
    }
    twilio_stub.fail_next(
        status=400, raw_body=json.dumps(problem), content_type="application/problem+json"
    )
    sender = twilio_sender_factory(twilio_stub.base_url)
    with pytest.raises(SendError) as info:
        sender.send(to=PATIENT, body=BODY)
    err = info.value
    assert (err.code, err.http_status, err.retryable, err.uncertain) == (21610, 400, False, False)
    assert "unsubscribed recipient" in str(err)
    assert_no_phi(err, PATIENT)


def test_stub_success_status_with_unreadable_body_is_uncertain(twilio_stub, twilio_sender_factory):
    twilio_stub.fail_next(status=201, raw_body="<html>queued, probably</html>")
    sender = twilio_sender_factory(twilio_stub.base_url)
    with pytest.raises(SendError) as info:
        sender.send(to=PATIENT, body=BODY)
    assert info.value.uncertain and info.value.http_status is None


def test_stub_hang_beyond_timeout_is_uncertain(twilio_stub, twilio_sender_factory):
    twilio_stub.hang_for(PATIENT, seconds=5)
    sender = twilio_sender_factory(twilio_stub.base_url, timeout=0.3)
    with pytest.raises(SendError) as info:
        sender.send(to=PATIENT, body=BODY)
    err = info.value
    assert err.uncertain and not err.retryable
    assert err.code is None and err.http_status is None
    assert_no_phi(err, PATIENT)
    # Which is the point of "uncertain": the provider did take it.
    assert len(twilio_stub.requests) == 1


def test_connection_refused_is_uncertain(twilio_sender_factory):
    sender = twilio_sender_factory(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(SendError) as info:
        sender.send(to=PATIENT, body=BODY)
    assert info.value.uncertain
    assert_no_phi(info.value, PATIENT)


def test_stub_wrong_token_is_401_20003(twilio_stub, monkeypatch):
    monkeypatch.delenv("TWILIO_EDGE", raising=False)
    monkeypatch.delenv("TWILIO_REGION", raising=False)
    sender = TwilioSender(
        TEST_ACCOUNT_SID, "wrong", default_from=CLINIC, api_base_url=twilio_stub.base_url
    )
    with pytest.raises(SendError) as info:
        sender.send(to=PATIENT, body=BODY)
    assert (info.value.code, info.value.http_status, info.value.retryable) == (20003, 401, False)
    assert "wrong" not in str(info.value)


def test_base_url_wins_over_twilio_edge_env(twilio_stub, monkeypatch):
    monkeypatch.setenv("TWILIO_EDGE", "sydney")
    monkeypatch.setenv("TWILIO_REGION", "au1")
    sender = TwilioSender(
        TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, default_from=CLINIC, api_base_url=twilio_stub.base_url
    )
    assert SID_RE.match(sender.send(to=PATIENT, body=BODY).sid)


def test_concurrent_sends_share_one_client(twilio_stub, twilio_sender_factory):
    sender = twilio_sender_factory(twilio_stub.base_url)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda i: sender.send(to=PATIENT, body=f"message {i}"), range(40)))
    assert len({r.sid for r in results}) == 40
    assert sorted(r["Body"] for r in twilio_stub.requests) == sorted(
        f"message {i}" for i in range(40)
    )


def test_no_sender_configured_raises_send_error():
    sender = TwilioSender(TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, api_base_url="http://127.0.0.1:9")
    with pytest.raises(SendError) as info:
        sender.send(to=PATIENT, body=BODY)
    assert not info.value.uncertain
    assert sender._client is None  # refused before building a client


def test_client_is_built_lazily_on_first_send(twilio_stub, twilio_sender_factory, monkeypatch):
    import twilio.rest

    built = []
    real_client = twilio.rest.Client
    monkeypatch.setattr(
        twilio.rest, "Client", lambda *a, **kw: built.append(1) or real_client(*a, **kw)
    )
    sender = twilio_sender_factory(twilio_stub.base_url)
    assert built == [] and sender._client is None
    sender.send(to=PATIENT, body="one")
    sender.send(to=PATIENT, body="two")
    assert built == [1]


def test_repr_hides_auth_token():
    sender = TwilioSender(TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, default_from=CLINIC)
    assert TEST_AUTH_TOKEN not in repr(sender)


def test_stub_validates_like_twilio(twilio_stub):
    # The stub itself, driven by the SDK's HTTP shape: missing To/Body/sender answer Twilio's codes.
    import requests

    url = twilio_stub.base_url + twilio_stub.messages_path
    auth = (TEST_ACCOUNT_SID, TEST_AUTH_TOKEN)
    cases = [
        ({"Body": "x", "From": CLINIC}, 21604),
        ({"To": PATIENT, "From": CLINIC}, 21602),
        ({"To": PATIENT, "Body": "x"}, 21603),
    ]
    for data, code in cases:
        answer = requests.post(url, data=data, auth=auth, timeout=5)
        assert answer.status_code == 400
        assert answer.json()["code"] == code
    unauth = requests.post(url, data={"To": PATIENT, "Body": "x", "From": CLINIC}, timeout=5)
    assert unauth.status_code == 401
    assert unauth.json() == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }
    ok = requests.post(
        url, data={"To": PATIENT, "Body": "é" * 71, "From": CLINIC}, auth=auth, timeout=5
    )
    message = ok.json()
    assert ok.status_code == 201
    assert message["num_segments"] == "1"  # é is GSM-7
    assert re.match(r"^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000$", message["date_created"])
    assert message["uri"] == f"{twilio_stub.messages_path[:-5]}/{message['sid']}.json"
    assert (
        requests.post(
            url, data={"To": PATIENT, "Body": "✅" * 71, "From": CLINIC}, auth=auth, timeout=5
        ).json()["num_segments"]
        == "2"
    )


# --------------------------------------------------------------------------------------------------
# ConsoleSender and build_sender


def test_console_sender_prints_and_returns_cs_sid():
    out = io.StringIO()
    result = ConsoleSender(out).send(to=PATIENT, body=BODY, from_number=CLINIC)
    assert re.match(r"^CS[0-9a-f]{32}$", result.sid)
    assert result.status == "sent"
    text = out.getvalue()
    assert PATIENT in text and CLINIC in text and BODY in text and result.sid in text


def test_console_sender_blocks_do_not_interleave():
    out = io.StringIO()
    sender = ConsoleSender(out)
    threads = [
        threading.Thread(target=sender.send, kwargs={"to": PATIENT, "body": f"line {i}"})
        for i in range(20)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    blocks = out.getvalue().split("----- SMS ")[1:]
    assert len(blocks) == 20
    assert all(block.count("line ") == 1 for block in blocks)


def test_console_sender_defaults_to_stdout(capsys):
    ConsoleSender().send(to=PATIENT, body="hello there")
    assert "hello there" in capsys.readouterr().out


CREDS = {"TWILIO_ACCOUNT_SID": TEST_ACCOUNT_SID, "TWILIO_AUTH_TOKEN": TEST_AUTH_TOKEN}


def test_build_sender_console_without_credentials():
    assert isinstance(build_sender({}), ConsoleSender)
    assert isinstance(build_sender({"TWILIO_ACCOUNT_SID": TEST_ACCOUNT_SID}), ConsoleSender)
    assert isinstance(build_sender({**CREDS, "SMS_BACKEND": "console"}), ConsoleSender)


def test_build_sender_twilio_with_credentials():
    sender = build_sender(
        {**CREDS, "TWILIO_FROM_NUMBER": CLINIC, "TWILIO_API_BASE_URL": "http://127.0.0.1:1/"}
    )
    assert isinstance(sender, TwilioSender)
    assert (sender.account_sid, sender.default_from, sender.api_base_url) == (
        TEST_ACCOUNT_SID,
        CLINIC,
        "http://127.0.0.1:1",
    )
    service = build_sender(
        {**CREDS, "TWILIO_MESSAGING_SERVICE_SID": SERVICE_SID, "SMS_BACKEND": "Twilio"}
    )
    assert isinstance(service, TwilioSender) and service.messaging_service_sid == SERVICE_SID


def test_build_sender_sends_through_stub(twilio_stub, monkeypatch):
    monkeypatch.delenv("TWILIO_EDGE", raising=False)
    monkeypatch.delenv("TWILIO_REGION", raising=False)
    config = {**CREDS, "TWILIO_FROM_NUMBER": CLINIC, "TWILIO_API_BASE_URL": twilio_stub.base_url}
    result = build_sender(config).send(to=PATIENT, body=BODY)
    assert result.sid == twilio_stub.requests[0]["Sid"]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"SMS_BACKEND": "twilio"}, "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"),
        (
            {
                "SMS_BACKEND": "twilio",
                "TWILIO_ACCOUNT_SID": TEST_ACCOUNT_SID,
                "TWILIO_FROM_NUMBER": CLINIC,
            },
            "TWILIO_AUTH_TOKEN",
        ),
        ({**CREDS, "SMS_BACKEND": "twilio"}, "TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID"),
        (CREDS, "TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID"),
        ({"SMS_BACKEND": "carrier-pigeon"}, "SMS_BACKEND"),
        ({**CREDS, "TWILIO_FROM_NUMBER": CLINIC, "TWILIO_TIMEOUT": "soon"}, "TWILIO_TIMEOUT"),
    ],
)
def test_build_sender_rejects_incomplete_config(config, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        build_sender(config)


def test_proxy_from_the_environment_is_used_unless_no_proxy_exempts_the_host(
    twilio_stub, twilio_sender_factory, monkeypatch
):
    """The proxy settings are read once, at the first send, and still mean what requests says."""
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    through_proxy = twilio_sender_factory(twilio_stub.base_url)
    with pytest.raises(SendError) as info:
        through_proxy.send(to=PATIENT, body=BODY)
    assert info.value.uncertain and twilio_stub.requests == []

    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    exempt = twilio_sender_factory(twilio_stub.base_url)
    assert SID_RE.match(exempt.send(to=PATIENT, body=BODY).sid)
    assert len(twilio_stub.requests) == 1
