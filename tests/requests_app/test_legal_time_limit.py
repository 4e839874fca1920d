"""The legal time limit beside the internal target, through the services and the pages: stored on
receipt (LegalRequest.legal_due_at), moved by a clarification pause, never before the internal
target; shown on the officer's and the reviewer's pages, the queue and the alert e-mails; the
dashboard counts answers after the legal limit apart from answers late on the internal target.

The enforcing State is pinned to IE (Dublin: UTC in winter) or BE; the hand-worked values:
an EPOC received Friday 20 November 2026 10:00 UTC has 10 days to Monday 30 November, so the
legal limit is the end of that day, 1 December 00:00 UTC; the internal target is 240 hours,
30 November 10:00 UTC."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from authorities.constants import Instrument
from requests_app import alerts
from requests_app.models import LegalRequest, Status
from requests_app.notifications import deliver_all_due
from requests_app.receipts import receipts_issue_all_due
from requests_app.review import services as review_services
from tests.clock_table import POLICY_MINUTES, utc
from tests.conftest import verified_login
from tests.requests_app.helpers import VALID, submit

pytestmark = pytest.mark.django_db


RECEIVED = utc(2026, 11, 20, 10)
INTERNAL = utc(2026, 11, 30, 10)
LEGAL = utc(2026, 12, 1)


@pytest.fixture(autouse=True)
def enforcing_state(settings):
    settings.PORTAL_ENFORCING_STATE = "IE"
    settings.PORTAL_DEADLINE_MINUTES = dict(POLICY_MINUTES)
    return settings


def submitted(client, officer, instrument=Instrument.EPOC, when=RECEIVED) -> LegalRequest:
    with time_machine.travel(when, tick=False):
        verified_login(client, officer)
        assert submit(client, instrument, VALID[instrument]).status_code == 302
        deliver_all_due()
    mail.outbox.clear()
    return LegalRequest.objects.exclude(status=Status.DRAFT).latest("pk")


def shown(value: datetime, user) -> str:
    """A time as the pages show it to `user` (|date:"Y-m-d H:i T" in the user's zone)."""
    return timezone.localtime(value, ZoneInfo(user.time_zone)).strftime("%Y-%m-%d %H:%M %Z")


def respond(reviewer, legal_request, when):
    with time_machine.travel(when, tick=False):
        review_services.legal_request_accept(reviewer=reviewer, legal_request=legal_request)
        review_services.legal_request_respond(
            reviewer=reviewer,
            legal_request=legal_request,
            files=[SimpleUploadedFile("export.csv", b"account\njane\n", "text/csv")],
        )
    legal_request.refresh_from_db()
    assert legal_request.answered_at == when


# --- Stored by the services -------------------------------------------------------------------


def test_stored_on_receipt_and_moved_by_a_clarification_pause(client, officer, reviewer):
    legal_request = submitted(client, officer)
    assert (legal_request.due_at, legal_request.legal_due_at) == (INTERNAL, LEGAL)

    with time_machine.travel(utc(2026, 11, 23, 10), tick=False):
        review_services.legal_request_ask_clarification(
            reviewer=reviewer, legal_request=legal_request, question="Which period?"
        )
    legal_request.refresh_from_db()
    assert (legal_request.due_at, legal_request.legal_due_at) == (None, None)

    with time_machine.travel(utc(2026, 11, 24, 10), tick=False):  # a pause of one day
        verified_login(client, officer)
        client.post(
            reverse("requests:message", args=[legal_request.public_id]), {"body": "October."}
        )
    legal_request.refresh_from_db()
    assert legal_request.status == Status.IN_REVIEW
    # Internal: 240 h + 24 h. Legal: the earlier of (limit + 24 h) and (10 days counted from
    # Saturday 21 November: Tuesday 1 December, ending 2 December 00:00 UTC): both the same.
    assert legal_request.due_at == utc(2026, 12, 1, 10)
    assert legal_request.legal_due_at == utc(2026, 12, 2)
    assert legal_request.due_at <= legal_request.legal_due_at


def test_internal_target_never_after_the_legal_limit_at_the_march_change(
    client, officer, enforcing_state
):
    """Received Saturday 27 March 2027 23:30 in Brussels: 240 hours end 6 April 22:30 UTC, the
    law's 10 days (one of 23 hours) at 22:00 UTC; the stored internal target is the earlier."""
    enforcing_state.PORTAL_ENFORCING_STATE = "BE"
    legal_request = submitted(client, officer, when=utc(2027, 3, 27, 22, 30))
    assert legal_request.legal_due_at == utc(2027, 4, 6, 22)
    assert legal_request.due_at == legal_request.legal_due_at


def test_no_legal_limit_for_an_inquiry(client, officer):
    legal_request = submitted(client, officer, Instrument.INQUIRY)
    assert legal_request.due_at is not None
    assert legal_request.legal_due_at is None


# --- Pages ------------------------------------------------------------------------------------


def test_pages_show_both_deadlines_for_an_epoc(client, officer, reviewer):
    legal_request = submitted(client, officer)
    with time_machine.travel(utc(2026, 11, 21), tick=False):
        verified_login(client, officer)
        page = client.get(reverse("requests:detail", args=[legal_request.public_id]))
        text = page.content.decode()
        assert "Internal target" in text and "Legal time limit" in text
        assert shown(INTERNAL, officer) in text and shown(LEGAL, officer) in text

        verified_login(client, reviewer)
        text = client.get(reverse("review:detail", args=[legal_request.public_id])).content
        text = text.decode()
        assert "Internal target" in text and "Legal time limit" in text
        assert shown(INTERNAL, reviewer) in text and shown(LEGAL, reviewer) in text

        text = client.get(reverse("review:queue")).content.decode()
        assert ">Internal target</a></th>" in text  # a sortable column
        assert '<th scope="col">Legal time limit</th>' in text
        minute = "%Y-%m-%d %H:%M"
        local = ZoneInfo(reviewer.time_zone)
        legal = timezone.localtime(LEGAL, local).strftime(minute)
        internal = timezone.localtime(INTERNAL, local).strftime(minute)
        assert f'<td data-label="Legal time limit" class="date">{legal}</td>' in text
        assert f'<td data-label="Internal target" class="date">{internal}</td>' in text


def test_pages_say_no_fixed_legal_limit_for_an_inquiry(client, officer, reviewer):
    legal_request = submitted(client, officer, Instrument.INQUIRY)
    verified_login(client, officer)
    text = client.get(reverse("requests:detail", args=[legal_request.public_id])).content.decode()
    assert "Internal target" in text
    assert "No fixed legal limit (without undue delay)" in text
    verified_login(client, reviewer)
    text = client.get(reverse("review:detail", args=[legal_request.public_id])).content.decode()
    assert "No fixed legal limit (without undue delay)" in text


def test_pages_while_the_clock_is_stopped(client, officer, reviewer):
    legal_request = submitted(client, officer)
    review_services.legal_request_ask_clarification(
        reviewer=reviewer, legal_request=legal_request, question="Which period?"
    )
    verified_login(client, reviewer)
    text = client.get(reverse("review:detail", args=[legal_request.public_id])).content.decode()
    assert "No fixed legal limit" not in text
    assert "<dt>Legal time limit</dt><dd>Clock stopped</dd>" in text


# --- E-mails ----------------------------------------------------------------------------------


def test_the_alert_e_mail_gives_both_deadlines(client, officer, reviewer):
    legal_request = submitted(client, officer)
    with time_machine.travel(utc(2026, 11, 25, 10), tick=False):  # half the time
        alerts.deadline_sweep()
        deliver_all_due()
    (alert,) = [m for m in mail.outbox if "50%" in m.subject]
    assert legal_request.reference in alert.subject
    assert "Internal target: 2026-11-30 10:00 UTC (5 d 0 h 0 min left)" in alert.body
    assert "Legal time limit: 2026-12-01 00:00 UTC" in alert.body
    html = alert.alternatives[0][0]
    assert "Internal target: 2026-11-30 10:00 UTC" in html
    assert "Legal time limit: 2026-12-01 00:00 UTC" in html


def test_the_receipt_e_mail_of_an_inquiry_says_no_fixed_limit(client, officer):
    with time_machine.travel(RECEIVED, tick=False):
        verified_login(client, officer)
        assert submit(client, Instrument.INQUIRY, VALID[Instrument.INQUIRY]).status_code == 302
        receipts_issue_all_due()  # the acknowledgment follows the receipt
        deliver_all_due()
    (receipt,) = [m for m in mail.outbox if m.to == [officer.email] and "Received" in m.subject]
    assert "Legal time limit: none fixed (without undue delay)" in receipt.body


# --- Dashboard --------------------------------------------------------------------------------


def test_dashboard_counts_late_on_the_internal_target_and_after_the_legal_limit_apart(
    client, officer, reviewer, lead
):
    late_internal = submitted(client, officer)
    late_legal = submitted(client, officer)
    in_time = submitted(client, officer)
    respond(reviewer, late_internal, utc(2026, 11, 30, 16))  # after 10:00, before midnight
    respond(reviewer, late_legal, utc(2026, 12, 1, 0, 0))  # the limit's instant: too late
    respond(reviewer, in_time, utc(2026, 11, 30, 9, 59))
    open_past_legal = submitted(client, officer)
    with time_machine.travel(utc(2026, 12, 1, 1), tick=False):
        verified_login(client, lead)
        text = client.get(reverse("review:dashboard")).content.decode()
    assert open_past_legal.status == Status.SUBMITTED
    assert "Answered late (last 90 days)" in text
    assert 'id="fig-late-internal">1<' in text
    assert 'id="fig-late-legal">1<' in text
    assert 'id="fig-overdue">1<' in text
    assert 'id="fig-past-legal">1<' in text


# --- The migration's backfill -----------------------------------------------------------------


def test_the_migration_backfills_the_legal_limit_and_brings_a_late_target_back(
    client, officer, enforcing_state
):
    """Rows as they were before the migration (no legal_due_at; a due_at of 240 hours across
    the March change), then the migration's RunPython, with today's models."""
    from importlib import import_module

    from django.apps import apps

    backfill = import_module("requests_app.migrations.0010_legal_due_at").backfill
    enforcing_state.PORTAL_ENFORCING_STATE = "BE"
    spring = submitted(client, officer, when=utc(2027, 3, 27, 22, 30))
    inquiry = submitted(client, officer, Instrument.INQUIRY, when=utc(2027, 3, 27, 22, 30))
    LegalRequest.objects.filter(pk=spring.pk).update(
        legal_due_at=None, due_at=utc(2027, 4, 6, 22, 30), next_alert_at=None
    )
    version = LegalRequest.objects.get(pk=spring.pk).deadline_version
    inquiry_due = LegalRequest.objects.get(pk=inquiry.pk).due_at

    backfill(apps, None)

    spring.refresh_from_db()
    assert spring.legal_due_at == utc(2027, 4, 6, 22)
    assert spring.due_at == spring.legal_due_at
    assert spring.deadline_version == version + 1  # its alerts are scheduled again
    assert spring.next_alert_at is not None
    inquiry.refresh_from_db()
    assert (inquiry.legal_due_at, inquiry.due_at) == (None, inquiry_due)
