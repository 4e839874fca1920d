"""The portal's figures for Prometheus (served by portal/metrics.py; alert rules in
docs/operations.md).

Read from the database at each scrape, never counted in memory: gunicorn runs several processes
and the worker is another, so a counter kept by one process would see only its own part. Six
small queries per scrape, whatever the number of rows: grouped counts and aggregates, no loop
over rows in Python.
"""

from collections.abc import Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Min, Q, Sum
from django.utils import timezone
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from authorities.constants import Instrument
from portal.models import Heartbeat

from .alerts import SWEEP_HEARTBEAT, requests_with_failing_alerts
from .models import OPEN_STATUSES, LegalRequest, Notification
from .notifications import notifications_failing

# Seconds from an alert's due time to its sending; 70 s is the target (sweep interval + 10 s).
LATENESS_BUCKETS = (1, 5, 10, 30, 60, 70, 120, 300, 600, 1800, 3600)
State = Notification.State
UNSENT = (State.PENDING, State.SENDING, State.FAILED)
# Deadline alerts, the urgent-arrival alert included; not the daily digest nor plain notices.
ALERT_ROWS = ~Q(alert_kind__in=["", Notification.AlertKind.DIGEST]) & Q(
    state=State.SENT, due_at__isnull=False, sent_at__isnull=False
)


class PortalCollector:
    """A prometheus_client custom collector: collect() yields the metric families."""

    def describe(self) -> list[Metric]:
        return []  # names are not checked at registration (that would query at start-up)

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        yield from open_requests(now)
        yield from sweep(now)
        yield from outbox(now)


def open_requests(now: datetime) -> Iterator[Metric]:
    open_rows = LegalRequest.objects.filter(status__in=OPEN_STATUSES)
    by_status = GaugeMetricFamily(
        "portal_requests_open",
        "Requests whose legal clock runs (received, in review, clarification).",
        labels=["status", "instrument"],
    )
    counts = {
        (row["status"], row["instrument"]): row["n"]
        for row in open_rows.order_by().values("status", "instrument").annotate(n=Count("id"))
    }
    # Every status and instrument, zeros included, so that a series never just vanishes.
    for status in sorted(OPEN_STATUSES):
        for instrument in Instrument.values:
            counts.setdefault((status, instrument), 0)
    for (status, instrument), n in sorted(counts.items()):
        by_status.add_metric([status, instrument], n)
    yield by_status

    figures = open_rows.aggregate(
        overdue=Count("id", filter=Q(due_at__lt=now)),
        past_legal=Count("id", filter=Q(legal_due_at__lte=now)),
        nearest=Min("due_at", filter=Q(due_at__gte=now)),
    )
    yield GaugeMetricFamily(
        "portal_requests_overdue",
        "Open requests past their deadline.",
        value=figures["overdue"],
    )
    yield GaugeMetricFamily(
        "portal_requests_past_legal_limit",
        "Open requests past their legal time limit (counted in portal_requests_overdue too).",
        value=figures["past_legal"],
    )
    nearest = GaugeMetricFamily(
        "portal_deadline_nearest_seconds",
        "Seconds until the nearest deadline of an open request not yet overdue (absent if none).",
    )
    if figures["nearest"] is not None:
        nearest.add_metric([], (figures["nearest"] - now).total_seconds())
    yield nearest
    yield GaugeMetricFamily(
        "portal_alerts_failing_requests",
        "Requests the deadline sweep keeps failing on: their alerts are not going out.",
        value=requests_with_failing_alerts().count(),
    )


def sweep(now: datetime) -> Iterator[Metric]:
    age = GaugeMetricFamily(
        "portal_deadline_sweep_age_seconds",
        "Seconds since the last deadline sweep finished (absent if none ever did).",
    )
    last = Heartbeat.objects.filter(name=SWEEP_HEARTBEAT).values_list("seen_at", flat=True).first()
    if last is not None:
        age.add_metric([], (now - last).total_seconds())
    yield age
    yield GaugeMetricFamily(
        "portal_deadline_sweep_interval_seconds",
        "How often the deadline sweep is scheduled (PORTAL_DEADLINE_SWEEP_SECONDS).",
        value=settings.PORTAL_DEADLINE_SWEEP_SECONDS,
    )


def outbox(now: datetime) -> Iterator[Metric]:
    """One aggregate over the outbox: depth per state, the oldest unsent e-mail, failed send
    attempts and the alert-lateness histogram (cumulative counts of sent alerts)."""
    lateness = ExpressionWrapper(F("sent_at") - F("due_at"), output_field=DurationField())
    within = {
        limit: Q(sent_at__lte=F("due_at") + timedelta(seconds=limit)) for limit in LATENESS_BUCKETS
    }
    buckets = {f"le_{limit}": Count("id", filter=ALERT_ROWS & q) for limit, q in within.items()}
    figures = Notification.objects.aggregate(
        **{f"depth_{state}": Count("id", filter=Q(state=state)) for state in UNSENT},
        oldest=Min("created_at", filter=Q(state__in=UNSENT)),
        # Every claim of a row is an attempt; an attempt that did not end in sent, cancelled or
        # (for now) sending failed: an error recorded on the row, or a send whose worker died.
        attempts_total=Sum("attempts"),
        attempts_ok=Count(
            "id", filter=Q(attempts__gt=0, state__in=[State.SENT, State.SENDING, State.CANCELLED])
        ),
        alerts_sent=Count("id", filter=ALERT_ROWS),
        lateness_sum=Sum(lateness, filter=ALERT_ROWS),
        **buckets,
    )
    depth = GaugeMetricFamily(
        "portal_outbox_depth", "E-mails in the outbox not sent yet, by state.", labels=["state"]
    )
    for state in UNSENT:
        depth.add_metric([state], figures[f"depth_{state}"])
    yield depth
    oldest = figures["oldest"]
    yield GaugeMetricFamily(
        "portal_outbox_oldest_pending_age_seconds",
        "Age of the oldest e-mail not sent yet (0 when the outbox is empty).",
        value=(now - oldest).total_seconds() if oldest is not None else 0,
    )
    yield GaugeMetricFamily(
        "portal_outbox_failing",
        "E-mails that failed PORTAL_ALERT_FAILURE_BANNER attempts or more and are not sent "
        "(the leads' banner).",
        value=notifications_failing().count(),
    )
    yield CounterMetricFamily(
        "portal_outbox_send_failures",
        "Failed send attempts of outbox rows (errors and sends whose worker died).",
        value=(figures["attempts_total"] or 0) - figures["attempts_ok"],
    )
    total = figures["alerts_sent"]
    lateness_sum = figures["lateness_sum"] or timedelta(0)
    yield HistogramMetricFamily(
        "portal_alert_lateness_seconds",
        "Seconds from a deadline alert's due time to its sending, over every alert sent.",
        buckets=[
            *((str(limit), figures[f"le_{limit}"]) for limit in LATENESS_BUCKETS),
            ("+Inf", total),
        ],
        sum_value=lateness_sum.total_seconds(),
    )
