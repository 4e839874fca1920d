"""A burst on time (issue 14): a sweep and a delivery cost the same number of queries for 2
requests as for 8 (no query per row but the one that marks an e-mail sent), and a batch of
e-mails goes over one SMTP connection, where a refused message stops only its own row."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from requests_app import alerts, notifications
from requests_app.models import LegalRequest, Notification
from requests_app.notifications import (
    Email,
    notifications_deliver,
    notifications_enqueue,
)
from tests.faults.smtp_sink import SmtpSink
from tests.requests_app.helpers import HALF_TIME, START, submitted

# --- Batches: the sweep and the delivery ------------------------------------------------------


def sweep_queries(requests: list[LegalRequest]) -> int:
    """Queries of one sweep at half time with exactly these requests due."""
    pks = [r.pk for r in requests]
    LegalRequest.objects.exclude(pk__in=pks).update(next_alert_at=HALF_TIME + timedelta(days=30))
    LegalRequest.objects.filter(pk__in=pks).update(next_alert_at=HALF_TIME)
    with time_machine.travel(HALF_TIME, tick=False), CaptureQueriesContext(connection) as q:
        result = alerts.deadline_sweep()
    assert (result.requests, result.queued, result.failed) == (len(requests), len(requests), 0)
    return len(q.captured_queries)


def deliver_queries(pks: list[int]) -> int:
    with time_machine.travel(HALF_TIME, tick=False), CaptureQueriesContext(connection) as q:
        assert notifications_deliver(pks) == len(pks)
    return len(q.captured_queries)


@pytest.mark.django_db
def test_sweep_and_delivery_make_no_query_per_alert(client, officer, reviewer, lead):
    requests = submitted(client, officer, 10)
    few, many = requests[:2], requests[2:]
    with time_machine.travel(START, tick=False):
        alerts.deadline_sweep()  # the first sweep creates its heartbeat row: not measured

    assert sweep_queries(few) == sweep_queries(many)

    rows = Notification.objects.filter(alert_kind="fraction").order_by("pk")
    few_rows = list(rows.filter(request__in=few).values_list("pk", flat=True))
    many_rows = list(rows.filter(request__in=many).values_list("pk", flat=True))
    # The same queries for the batch, plus the one that marks each e-mail sent as soon as the
    # server took it (a crash after that does not send it again).
    assert deliver_queries(many_rows) - deliver_queries(few_rows) == len(many) - len(few)
    assert len(mail.outbox) == len(requests)
    assert {to for m in mail.outbox for to in m.to} == {reviewer.email, lead.email}


class CountingSink(SmtpSink):
    """The fault suite's SMTP sink, counting the sessions opened."""

    sessions = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.sessions += 1
        session.host_name = hostname
        return responses


@pytest.mark.django_db
def test_a_batch_goes_over_one_smtp_connection_and_a_refusal_stops_only_its_row(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    with CountingSink() as sink, time_machine.travel(START, tick=False):
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
        sink.refuse_first = 1
        rows = notifications_enqueue(
            Email(
                key=f"test:{n}",
                recipients=[f"lead{n}@platform.example"],
                template="daily_digest",
                context={"open": n, "overdue": 0, "today": 0, "emergency": 0, "unassigned": 0},
            )
            for n in range(6)
        )

        sent = notifications_deliver([row.pk for row in rows])

    assert sent == 5
    domain = settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1]
    assert sorted(sink.received) == sorted(f"<test.{n}@{domain}>" for n in range(1, 6))
    # One session for the batch, and one more after the refusal (the session is not trusted
    # after an error).
    assert sink.sessions == 2
    refused = Notification.objects.get(pk=rows[0].pk)
    assert refused.state == Notification.State.PENDING
    assert "451" in refused.last_error


@pytest.mark.django_db
def test_after_a_crash_only_the_row_in_flight_of_each_dead_claim_is_flagged():
    """Two workers each claimed a batch and died: one after sending 2 of its 4 rows, one before
    sending any. The taker-over sends the 4 unsent rows; only the first unsent row of each dead
    claim can have reached the SMTP server, so only those two are flagged as a possible
    duplicate (the fault suite's kill -9 scenario counts duplicates against these flags)."""
    sent_at = START

    def digest(n):
        return Email(
            key=f"crash:{n}",
            recipients=[f"lead{n}@platform.example"],
            template="daily_digest",
            context={"open": n, "overdue": 0, "today": 0, "emergency": 0, "unassigned": 0},
        )

    with time_machine.travel(START, tick=False):
        first = [row.pk for row in notifications_enqueue(digest(n) for n in range(4))]
        second = [row.pk for row in notifications_enqueue(digest(n) for n in range(4, 6))]
        assert notifications._claim(first) == first
    with time_machine.travel(START + timedelta(seconds=1), tick=False):
        assert notifications._claim(second) == second
    # The first worker got its first two rows out and recorded them, then died.
    Notification.objects.filter(pk__in=first[:2]).update(
        state=Notification.State.SENT, sent_at=sent_at, lease_until=None
    )
    mail.outbox.clear()

    with time_machine.travel(START + notifications.LEASE + timedelta(seconds=2), tick=False):
        sent = notifications_deliver(first + second)

    assert sent == 4
    assert len(mail.outbox) == 4
    flagged = set(
        Notification.objects.filter(recovered_after_crash=True).values_list("pk", flat=True)
    )
    assert flagged == {first[2], second[0]}
    assert set(Notification.objects.values_list("state", flat=True)) == {"sent"}
