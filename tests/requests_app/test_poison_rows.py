"""One bad row never silences the others (issue 14): a request the deadline sweep cannot handle
is recorded, retried with backoff, shown to leads and reported by /healthz, while every other
alert goes out; the heartbeat means "the last sweep finished"; in the outbox, a message that
cannot be built or sent is marked failed and retried, and the others are sent."""

from datetime import timedelta

import psycopg
import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.urls import reverse

from authorities.constants import Instrument
from portal.models import Heartbeat
from requests_app import tasks
from requests_app.models import LegalRequest, Notification
from requests_app.notifications import Email, deliver_all_due, notifications_enqueue
from tests.conftest import verified_login
from tests.requests_app.helpers import HALF_TIME, START, submitted

pytestmark = pytest.mark.django_db


def retire_instrument(legal_request: LegalRequest) -> None:
    # A bad manual edit, or an instrument since removed from the rule table: no service runs.
    LegalRequest.objects.filter(pk=legal_request.pk).update(instrument="retired_instrument")


def sweep_at(when) -> None:
    """Run the sweep task as beat does: an exception is the worker's, not the caller's."""
    with time_machine.travel(when, tick=False):
        tasks.sweep_deadlines.apply()


def alerted_references() -> set[str]:
    fractions = Notification.objects.filter(alert_kind="fraction")
    return set(fractions.values_list("request__reference", flat=True))


def test_request_with_an_unknown_instrument_does_not_stop_the_other_alerts(
    client, officer, reviewer
):
    good, bad, other_good = submitted(client, officer, 3)
    retire_instrument(bad)

    sweep_at(HALF_TIME)

    assert alerted_references() == {good.reference, other_good.reference}
    with time_machine.travel(HALF_TIME, tick=False):
        deliver_all_due()
    subjects = [m.subject for m in mail.outbox]
    assert any(good.reference in s for s in subjects)
    assert any(other_good.reference in s for s in subjects)
    bad.refresh_from_db()
    assert bad.alert_failures == 1
    assert "KeyError" in bad.alert_error and "retired_instrument" in bad.alert_error
    # Tried again after the backoff, not at every sweep.
    assert bad.next_alert_at == HALF_TIME + timedelta(minutes=1)


def test_healthz_answers_503_naming_how_many_requests_alerts_fail(client, officer, reviewer):
    good, bad = submitted(client, officer, 2)
    retire_instrument(bad)

    sweep_at(HALF_TIME)

    with time_machine.travel(HALF_TIME + timedelta(seconds=5), tick=False):
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["alerts_failing"] == 1
    assert body["checks"]["alerts"] == "fail"
    assert body["checks"]["scheduler"] == "ok"  # the sweep itself runs
    assert "retired_instrument" not in response.content.decode()  # the reason is for leads


def test_lead_sees_which_requests_alerts_fail_and_why(client, officer, reviewer, lead):
    _good, bad = submitted(client, officer, 2)
    retire_instrument(bad)
    sweep_at(HALF_TIME)

    verified_login(client, lead)
    page = client.get(reverse("review:dashboard")).content.decode()

    assert "Alerts failing for" in page
    assert bad.reference in page
    assert "KeyError: &#x27;retired_instrument&#x27;" in page
    assert reverse("review:detail", args=[bad.public_id]) in page
    # The link opens, and the page names the problem instead of failing.
    detail = client.get(reverse("review:detail", args=[bad.public_id]))
    assert detail.status_code == 200
    assert "is not in the rule table" in detail.content.decode()
    # And on every page, the banner that sends them there.
    queue = client.get(reverse("review:queue")).content.decode()
    assert 'id="alert-failure-banner"' in queue
    assert "Deadline alerts are failing for 1 request" in queue


def test_fixed_request_is_alerted_after_the_backoff_and_health_recovers(client, officer, reviewer):
    _good, bad = submitted(client, officer, 2)
    retire_instrument(bad)
    sweep_at(HALF_TIME)
    sweep_at(HALF_TIME + timedelta(minutes=1))  # the retry fails again: the wait doubles
    bad.refresh_from_db()
    assert bad.alert_failures == 2
    assert bad.next_alert_at == HALF_TIME + timedelta(minutes=3)

    LegalRequest.objects.filter(pk=bad.pk).update(instrument=Instrument.EPOC)
    sweep_at(HALF_TIME + timedelta(minutes=2))  # still waiting
    assert bad.reference not in alerted_references()

    sweep_at(HALF_TIME + timedelta(minutes=3))
    bad.refresh_from_db()
    assert (bad.alert_failures, bad.alert_error) == (0, "")
    assert bad.reference in alerted_references()  # the alert missed meanwhile is not lost
    with time_machine.travel(HALF_TIME + timedelta(minutes=3, seconds=5), tick=False):
        response = client.get("/healthz")
    assert response.status_code == 200, response.json()
    assert "alerts_failing" not in response.json()


def test_heartbeat_means_the_last_sweep_finished(client, officer, reviewer):
    # A sweep that cannot even read the due requests (here the table is locked by another
    # session and the lock wait times out) has not run: no heartbeat, so /healthz turns red.
    params = connection.settings_dict
    other = psycopg.connect(
        dbname=connection.settings_dict["NAME"],
        user=params["USER"],
        password=params["PASSWORD"] or None,
        host=params["HOST"] or None,
        port=params["PORT"] or None,
    )
    try:
        other.execute("SET lock_timeout = '10s'")
        other.execute("LOCK TABLE requests_app_legalrequest IN EXCLUSIVE MODE")
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '200ms'")
        sweep_at(HALF_TIME)
    finally:
        other.rollback()
        other.close()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL lock_timeout = 0")
    assert not Heartbeat.objects.filter(name="deadline-sweep").exists()

    # A sweep that finished, even with one request failing, is a heartbeat.
    _good, bad = submitted(client, officer, 2)
    retire_instrument(bad)
    sweep_at(HALF_TIME)
    assert Heartbeat.objects.get(name="deadline-sweep").seen_at == HALF_TIME
    assert LegalRequest.objects.get(pk=bad.pk).alert_failures == 1


def queue_email(key: str, recipients: list[str], template: str = "daily_digest") -> Notification:
    [row] = notifications_enqueue(
        [
            Email(
                key=key,
                recipients=recipients,
                template=template,
                context={
                    "open": 1,
                    "overdue": 0,
                    "today": 0,
                    "emergency": 0,
                    "unassigned": 0,
                    "date": "2026-11-27",
                },
            )
        ]
    )
    return row


def test_bad_address_or_missing_template_fails_alone_and_is_retried(client, lead):
    with time_machine.travel(START, tick=False):
        first = queue_email("test:first", ["first@platform.example"])
        bad_address = queue_email("test:bad-address", ["lead@platform.example\nBcc: x@evil"])
        no_template = queue_email("test:no-template", ["x@platform.example"], "retired_notice")
        last = queue_email("test:last", ["last@platform.example"])
        deliver_all_due()

    assert sorted(m.to[0] for m in mail.outbox) == [
        "first@platform.example",
        "last@platform.example",
    ]
    for row in (first, last):
        row.refresh_from_db()
        assert row.state == Notification.State.SENT

    # Retried with a growing delay; after PORTAL_ALERT_FAILURE_BANNER (3) attempts, failed.
    moment = START
    for _ in range(2):
        moment += timedelta(minutes=10)
        with time_machine.travel(moment, tick=False):
            deliver_all_due()
    for row, error in ((bad_address, "no valid recipient"), (no_template, "TemplateDoesNotExist")):
        row.refresh_from_db()
        assert row.attempts == 3
        assert row.state == Notification.State.FAILED
        assert error in row.last_error
        assert row.send_after > moment

    # Leads see them counted and listed.
    with time_machine.travel(moment, tick=False):
        verified_login(client, lead)
        page = client.get(reverse("review:dashboard")).content.decode()
    assert "2 e-mails (deadline alerts or notices) keep failing" in page
    assert "TemplateDoesNotExist" in page

    # A failed row is still retried: fixed, it goes out.
    Notification.objects.filter(pk=no_template.pk).update(template="daily_digest")
    with time_machine.travel(moment + timedelta(hours=1), tick=False):
        deliver_all_due()
    no_template.refresh_from_db()
    assert no_template.state == Notification.State.SENT
    assert mail.outbox[-1].to == ["x@platform.example"]
    bad_address.refresh_from_db()
    assert bad_address.attempts == 4
    assert bad_address.state == Notification.State.FAILED


def test_one_malformed_address_does_not_keep_the_alert_from_the_others(lead):
    with time_machine.travel(START, tick=False):
        row = queue_email("test:team", ["first@platform.example", "bad\nBcc: x@evil", "last@x.eu"])
        deliver_all_due()

    assert [m.to for m in mail.outbox] == [["first@platform.example", "last@x.eu"]]
    row.refresh_from_db()
    assert row.state == Notification.State.SENT
    assert "Skipped malformed addresses" in row.last_error
