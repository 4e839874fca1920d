"""Structured logs: the line of one HTTP request, as the console handler configured by
settings.LOGGING writes it, is JSON with the request id and the request's reference, and no
target identifier nor any of the request's content appears in anything logged."""

import io
import json
import logging
import re
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from authorities.constants import Instrument
from portal.celery import app as celery_app
from portal.logs import bind_reference
from requests_app import tasks
from requests_app.models import LegalRequest, Notification
from requests_app.receipts import receipts_issue_all_due
from tests.conftest import verified_login
from tests.requests_app.helpers import VALID, submit

pytestmark = pytest.mark.django_db


@contextmanager
def console_output():
    """What the root logger's console handler (settings.LOGGING: its formatter and context
    filter) writes, captured in memory instead of stderr."""
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        yield buffer
    finally:
        handler.setStream(previous)


def json_lines(buffer: io.StringIO) -> list[dict]:
    # Every line is one JSON object (a traceback stays inside its line's exc_info).
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def request_lines(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line.get("logger") == "portal.request"]


def target_values(legal_request: LegalRequest) -> list[str]:
    values = [t.value for t in legal_request.targets.all()]
    assert values, "the request has targets"
    return values


def test_one_request_logs_json_with_request_id_and_reference_and_no_target(client, officer):
    verified_login(client, officer)
    with console_output() as buffer:
        submit(client, Instrument.EPOC)
        legal_request = LegalRequest.objects.get()
        response = client.get(
            reverse("requests:detail", args=[legal_request.public_id]),
            HTTP_X_REQUEST_ID="trace-0123456789abcdef",
        )
    assert response.status_code == 200
    assert response["X-Request-ID"] == "trace-0123456789abcdef"

    lines = json_lines(buffer)
    detail = [
        line for line in request_lines(lines) if line["route"] == "/requests/<uuid:public_id>/"
    ]
    assert len(detail) == 1, lines
    line = detail[0]
    print("\nlog line of one request:", json.dumps(line))
    assert line["request_id"] == "trace-0123456789abcdef"
    assert line["reference"] == legal_request.reference
    assert legal_request.reference.startswith("LR-")
    assert line["status"] == 200 and line["method"] == "GET" and line["level"] == "INFO"
    assert line["user_id"] == officer.pk
    # The submission's own line names the reference it was given.
    submission = [line for line in request_lines(lines) if line["method"] == "POST"]
    assert [line["reference"] for line in submission] == [legal_request.reference]

    logged = buffer.getvalue()
    for value in [
        *target_values(legal_request),
        "jane.doe",
        "+33 6 12 34 56 78",
        "33612345678",
        VALID[Instrument.EPOC]["statement_of_reasons"],
        VALID[Instrument.EPOC]["offence"],
    ]:
        assert value not in logged, value


def test_a_reviewer_search_for_a_target_is_not_logged(client, officer, reviewer):
    verified_login(client, officer)
    submit(client, Instrument.EPOC)
    legal_request = LegalRequest.objects.get()
    verified_login(client, reviewer)
    with console_output() as buffer:
        response = client.get(reverse("review:queue"), {"q": "@jane.doe"})
        client.get(reverse("review:detail", args=[legal_request.public_id]))
    assert response.status_code == 200
    lines = request_lines(json_lines(buffer))
    assert [line["route"] for line in lines] == ["/review/", "/review/<uuid:public_id>/"]
    assert lines[1]["reference"] == legal_request.reference
    assert "reference" not in lines[0]  # a search is about no one request
    assert "jane.doe" not in buffer.getvalue()
    for value in target_values(legal_request):
        assert value not in buffer.getvalue()


def test_a_refused_search_logs_neither_its_query_nor_the_target(client, officer):
    # Django logs a refused page itself (django.request "Not Found"), with the request attached:
    # its repr has the query string, and is left out of the JSON line.
    verified_login(client, officer)
    with console_output() as buffer:
        response = client.get(reverse("review:queue"), {"q": "@jane.doe"})
    assert response.status_code == 404
    lines = json_lines(buffer)
    assert any(line["logger"] == "django.request" for line in lines)
    assert "jane.doe" not in buffer.getvalue()


@pytest.mark.parametrize(
    "incoming", ["short", "has space 0123456789", "x" * 65, "bad\ninjected", '"}{"level":"ERR']
)
def test_an_unsafe_incoming_request_id_is_replaced(client, incoming):
    with console_output() as buffer:
        response = client.get("/", HTTP_X_REQUEST_ID=incoming)
    request_id = response["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    (line,) = request_lines(json_lines(buffer))
    assert line["request_id"] == request_id


def test_each_request_gets_its_own_id_and_no_reference_leaks_into_the_next(client, officer):
    verified_login(client, officer)
    submit(client, Instrument.EPOC)
    legal_request = LegalRequest.objects.get()
    with console_output() as buffer:
        client.get(reverse("requests:detail", args=[legal_request.public_id]))
        client.get(reverse("requests:list"))
    first, second = request_lines(json_lines(buffer))
    assert first["request_id"] != second["request_id"]
    assert first["reference"] == legal_request.reference
    assert "reference" not in second


@celery_app.task(name="tests.portal.test_logging.log_about_a_request")
def log_about_a_request(reference: str) -> None:
    bind_reference(reference)
    logging.getLogger("requests_app.tasks").info("acting on the request")


def test_a_task_logs_with_its_task_id_and_the_reference():
    with console_output() as buffer:
        result = log_about_a_request.apply(args=["LR-2026-000042"], task_id="task-0123456789")
        logging.getLogger("portal").info("after the task")
    assert result.successful()
    lines = json_lines(buffer)
    (line,) = [line for line in lines if line["message"] == "acting on the request"]
    assert line["task_id"] == "task-0123456789"
    assert line["task"] == "tests.portal.test_logging.log_about_a_request"
    assert line["reference"] == "LR-2026-000042"
    (after,) = [line for line in lines if line["message"] == "after the task"]
    assert "task_id" not in after and "reference" not in after


def test_the_sweep_task_logs_a_failing_request_with_its_task_id_and_reference(client, officer):
    start = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        verified_login(client, officer)
        submit(client, Instrument.EPOC)
    legal_request = LegalRequest.objects.get()
    # An instrument the rule table no longer knows: the sweep fails on this request.
    LegalRequest.objects.filter(pk=legal_request.pk).update(instrument="retired_instrument")
    with console_output() as buffer, time_machine.travel(start + timedelta(days=5), tick=False):
        tasks.sweep_deadlines.apply(task_id="sweep-task-0123456789")
    (line,) = [
        line for line in json_lines(buffer) if line["message"].startswith("alerts failing for")
    ]
    assert line["task_id"] == "sweep-task-0123456789"
    assert line["task"] == "requests_app.tasks.sweep_deadlines"
    assert line["reference"] == legal_request.reference
    for value in target_values(legal_request):
        assert value not in buffer.getvalue()


def test_the_send_task_logs_a_row_with_its_task_id_and_the_request_reference(client, officer):
    verified_login(client, officer)
    submit(client, Instrument.EPOC)
    receipts_issue_all_due()  # the acknowledgment follows the receipt
    legal_request = LegalRequest.objects.get()
    ack = Notification.objects.get(request=legal_request, alert_kind="")
    # A bad manual edit: one malformed address beside the officer's (skipped, and logged).
    Notification.objects.filter(pk=ack.pk).update(recipients=[officer.email, "bad\nBcc: x@evil"])
    with console_output() as buffer:
        tasks.deliver_notification.apply(args=[ack.pk], task_id="send-task-0123456789")
    (line,) = [line for line in json_lines(buffer) if "malformed" in line["message"]]
    assert line["task_id"] == "send-task-0123456789"
    assert line["reference"] == legal_request.reference
    assert Notification.objects.get(pk=ack.pk).state == Notification.State.SENT
    for value in target_values(legal_request):
        assert value not in buffer.getvalue()
