"""Deadline alerts moved through time (time-machine): every threshold of every instrument, the
clarification pause, a daylight-saving change, a request resolved just before its alert, and
the rules that keep an alert from going twice."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.urls import reverse

from authorities.constants import Instrument
from requests_app import alerts
from requests_app.models import LegalRequest, Notification, Status
from requests_app.notifications import deliver_all_due
from requests_app.review import services as review_services
from tests.clock_table import CLOCKS, POLICY_MINUTES, time_allowed
from tests.conftest import passkey_login, verified_login
from tests.requests_app.helpers import VALID, submit

pytestmark = pytest.mark.django_db

START = datetime(2026, 11, 27, 10, 0, tzinfo=ZoneInfo("UTC"))


@pytest.fixture(autouse=True)
def _documented_policy(settings):
    # The policy deadlines the clock table expects, whatever the environment sets.
    settings.PORTAL_DEADLINE_MINUTES = dict(POLICY_MINUTES)


def submitted_at(client, officer, instrument, when=START, **extra) -> LegalRequest:
    with time_machine.travel(when, tick=False):
        # An emergency is submitted from a session verified with a passkey.
        emergency = instrument == Instrument.EMERGENCY_DISCLOSURE or extra.get("is_emergency")
        (passkey_login if emergency else verified_login)(client, officer)
        assert submit(client, instrument, {**VALID[instrument], **extra}).status_code == 302
        deliver_all_due()  # the acknowledgment and any arrival alert go out at once
    return LegalRequest.objects.exclude(status=Status.DRAFT).latest("pk")


def run_at(when) -> list:
    """What a sweep and a delivery at `when` e-mail (subjects, in order)."""
    before = len(mail.outbox)
    with time_machine.travel(when, tick=False):
        alerts.deadline_sweep()
        deliver_all_due()
    return [m.subject for m in mail.outbox[before:]]


def alert_subjects(subjects) -> list:
    return [s for s in subjects if "Received" not in s]


@pytest.mark.parametrize("instrument", list(CLOCKS))
def test_every_threshold_of_every_instrument(client, officer, reviewer, lead, instrument):
    legal_request = submitted_at(client, officer, instrument)
    allowed = time_allowed(instrument)
    due = START + allowed
    assert legal_request.due_at == due
    mail.outbox.clear()

    def just_before(moment):
        return moment - timedelta(seconds=1)

    fifty, eighty = START + allowed / 2, START + allowed * 8 / 10
    assert alert_subjects(run_at(just_before(fifty))) == []
    assert alert_subjects(run_at(fifty)) == [
        f"[{legal_request.reference}] 50% of the time used: {_left(allowed / 2)} left"
    ]
    assert alert_subjects(run_at(just_before(eighty))) == []
    assert alert_subjects(run_at(eighty)) == [
        f"[{legal_request.reference}] 80% of the time used: {_left(allowed * 2 / 10)} left"
    ]
    assert alert_subjects(run_at(due)) == [
        f"DEADLINE [{legal_request.reference}] due now ({due:%Y-%m-%d %H:%M} UTC)"
    ]
    assert alert_subjects(run_at(due + timedelta(minutes=59))) == []
    overdue = alert_subjects(run_at(due + timedelta(minutes=60)))
    assert overdue == [
        f"OVERDUE [{legal_request.reference}] {legal_request.get_instrument_display()}: "
        "overdue by 1 h 0 min"
    ]
    overdue_mail = mail.outbox[-1]
    assert lead.email in overdue_mail.to  # escalation reaches the leads
    assert alert_subjects(run_at(due + timedelta(minutes=120)))[0].startswith("OVERDUE")
    # Nothing twice: the same moment swept again sends nothing.
    assert alert_subjects(run_at(due + timedelta(minutes=120))) == []


def _left(delta: timedelta) -> str:
    from requests_app.notifications import format_duration

    return format_duration(delta)


def test_alert_goes_to_the_assignee_or_the_on_duty_team(client, officer, reviewer, lead):
    off_duty = reviewer.__class__.objects.create_user(
        email="away@platform.example", password="x" * 20, full_name="Away", on_duty=False
    )
    off_duty.groups.add(*reviewer.groups.all())
    legal_request = submitted_at(client, officer, Instrument.EPOC)
    run_at(START + timedelta(days=5))
    unassigned = mail.outbox[-1]
    assert set(unassigned.to) == {reviewer.email, lead.email}
    review_services.legal_request_assign(
        actor=reviewer, legal_request=legal_request, assignee=reviewer
    )
    run_at(START + timedelta(days=8))
    assert mail.outbox[-1].to == [reviewer.email]


def test_urgent_arrival_is_alerted_at_once(client, officer, reviewer):
    legal_request = submitted_at(client, officer, Instrument.TCO_REMOVAL)
    urgent = [m for m in mail.outbox if m.subject.startswith("URGENT")]
    assert len(urgent) == 1 and legal_request.reference in urgent[0].subject
    assert "1 h 0 min left" in urgent[0].subject
    assert reviewer.email in urgent[0].to


def test_clarification_pause_moves_every_alert(client, officer, reviewer):
    legal_request = submitted_at(client, officer, Instrument.EPOC)
    run_at(START + timedelta(days=5))  # the 50% alert
    with time_machine.travel(START + timedelta(days=6), tick=False):
        review_services.legal_request_ask_clarification(
            reviewer=reviewer, legal_request=legal_request, question="?"
        )
        deliver_all_due()
    mail.outbox.clear()
    # Paused: the old 80% moment (day 8) and the old deadline (day 10) pass in silence.
    assert alert_subjects(run_at(START + timedelta(days=8))) == []
    assert alert_subjects(run_at(START + timedelta(days=10, hours=2))) == []
    with time_machine.travel(START + timedelta(days=11), tick=False):
        verified_login(client, officer)
        client.post(reverse("requests:message", args=[legal_request.public_id]), {"body": "Answer"})
        deliver_all_due()
    legal_request.refresh_from_db()
    assert legal_request.due_at == START + timedelta(days=15)  # paused 5 days
    assert legal_request.deadline_version == 3
    mail.outbox.clear()
    # 80% of the time allowed is now at day 13; the 50% (day 10) fell inside the pause.
    assert alert_subjects(run_at(START + timedelta(days=12, hours=23))) == []
    assert "80% of the time used" in alert_subjects(run_at(START + timedelta(days=13)))[0]
    assert alert_subjects(run_at(START + timedelta(days=15)))[0].startswith("DEADLINE")


def test_queued_alert_of_an_old_deadline_is_cancelled_not_sent(client, officer, reviewer):
    legal_request = submitted_at(client, officer, Instrument.EPOC)
    with time_machine.travel(START + timedelta(days=5), tick=False):
        alerts.deadline_sweep()  # the 50% alert is queued...
        review_services.legal_request_ask_clarification(
            reviewer=reviewer, legal_request=legal_request, question="?"
        )
        deliver_all_due()  # ...but the deadline changed before it went out
    alert = Notification.objects.get(alert_kind="fraction")
    assert alert.state == Notification.State.CANCELLED
    assert not [m for m in mail.outbox if "50%" in m.subject]


def test_request_resolved_just_before_its_alert_gets_none(client, officer, reviewer):
    legal_request = submitted_at(client, officer, Instrument.TCO_REMOVAL)
    with time_machine.travel(START + timedelta(minutes=29, seconds=59), tick=False):
        review_services.legal_request_accept(reviewer=reviewer, legal_request=legal_request)
        review_services.legal_request_refuse(
            reviewer=reviewer,
            legal_request=legal_request,
            ground="outside_scope",
            explanation="Not ours",
        )
        deliver_all_due()  # the authority's "In review" and "Refused" notices
    # The half-time alert (due at 30 min), the deadline and the escalations: nothing goes.
    assert alert_subjects(run_at(START + timedelta(minutes=30))) == []
    assert alert_subjects(run_at(START + timedelta(hours=3))) == []
    legal_request.refresh_from_db()
    assert legal_request.next_alert_at is None
    assert not Notification.objects.exclude(alert_kind__in=["", "arrival"]).exists()


def test_alert_queued_before_the_request_was_resolved_is_cancelled(client, officer, reviewer):
    legal_request = submitted_at(client, officer, Instrument.TCO_REMOVAL)
    with time_machine.travel(START + timedelta(minutes=30), tick=False):
        alerts.deadline_sweep()  # queued, its task not yet run
        review_services.legal_request_accept(reviewer=reviewer, legal_request=legal_request)
        review_services.legal_request_refuse(
            reviewer=reviewer,
            legal_request=legal_request,
            ground="outside_scope",
            explanation="Not ours",
        )
        deliver_all_due()
    alert = Notification.objects.get(alert_kind="fraction")
    assert alert.state == Notification.State.CANCELLED
    assert not [m for m in mail.outbox if "50%" in m.subject]


def test_deadline_across_a_daylight_saving_change_is_exact(client, officer, reviewer):
    # Received Saturday 24 Oct 2026 12:00 UTC (14:00 in Paris, summer time); clocks go back on
    # the 25th. Ten days later is 3 Nov 12:00 UTC, 13:00 in Paris: UTC does not move.
    received = datetime(2026, 10, 24, 12, 0, tzinfo=ZoneInfo("UTC"))
    legal_request = submitted_at(client, officer, Instrument.EPOC, when=received)
    assert legal_request.due_at == datetime(2026, 11, 3, 12, 0, tzinfo=ZoneInfo("UTC"))
    paris = legal_request.due_at.astimezone(ZoneInfo("Europe/Paris"))
    assert (paris.hour, received.astimezone(ZoneInfo("Europe/Paris")).hour) == (13, 14)
    assert alert_subjects(run_at(legal_request.due_at - timedelta(seconds=1)))[-1:] != ["DEADLINE"]
    assert alert_subjects(run_at(legal_request.due_at))[-1].startswith("DEADLINE")


def test_preservation_lapse_notice_reaches_the_authority(client, officer, reviewer):
    legal_request = submitted_at(client, officer, Instrument.EPOC_PR)
    with time_machine.travel(START + timedelta(hours=2), tick=False):
        review_services.legal_request_accept(reviewer=reviewer, legal_request=legal_request)
        review_services.legal_request_confirm_preservation(
            reviewer=reviewer, legal_request=legal_request
        )
        deliver_all_due()
    lapse = START + timedelta(days=60)
    mail.outbox.clear()
    assert alert_subjects(run_at(lapse - timedelta(days=7, seconds=1))) == []
    subjects = alert_subjects(run_at(lapse - timedelta(days=7)))
    # One copy for the legal team, one for the authority: each links to its own page.
    notice = f"[{legal_request.reference}] Preservation lapses on {lapse:%Y-%m-%d %H:%M} UTC"
    assert subjects == [notice, notice]
    assert any(m.to == [officer.email] for m in mail.outbox)


def test_sweep_reads_only_due_rows_through_the_index(client, officer, reviewer):
    submitted_at(client, officer, Instrument.EPOC)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        cursor.execute(
            "EXPLAIN SELECT id FROM requests_app_legalrequest "
            "WHERE next_alert_at <= now() ORDER BY next_alert_at LIMIT 1000"
        )
        plan = " ".join(row[0] for row in cursor.fetchall())
        cursor.execute("SET enable_seqscan = on")
    assert "request_next_alert" in plan


def test_two_sweeps_at_once_queue_each_alert_once(client, officer, reviewer):
    legal_request = submitted_at(client, officer, Instrument.EPOC)
    with time_machine.travel(START + timedelta(days=5), tick=False):
        alerts.deadline_sweep()
        # A second sweep that read the row before the first moved next_alert_at on:
        LegalRequest.objects.filter(pk=legal_request.pk).update(next_alert_at=START)
        alerts.deadline_sweep()
        deliver_all_due()
        deliver_all_due()
    assert Notification.objects.filter(alert_kind="fraction").count() == 1
    assert len([m for m in mail.outbox if "50%" in m.subject]) == 1


def test_daily_digest_once_a_day_to_leads(client, officer, reviewer, lead):
    submitted_at(client, officer, Instrument.TCO_REMOVAL)
    with time_machine.travel(START + timedelta(hours=21), tick=False):
        alerts.daily_digest()
        alerts.daily_digest()
        deliver_all_due()
    digests = [m for m in mail.outbox if m.subject.startswith("Daily digest")]
    assert len(digests) == 1
    assert digests[0].to == [lead.email]
    assert "1 overdue" in digests[0].subject
