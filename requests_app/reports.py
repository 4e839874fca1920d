"""Figures for the lead dashboard and the transparency report (reads only, leads only)."""

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, F, Q
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from authorities.constants import EU_MEMBER_STATES, Instrument

from . import policies, retention
from .alerts import requests_with_failing_alerts
from .models import OPEN_STATUSES, LegalRequest, ProducedData, Status
from .notifications import notifications_failing

# English in the CSV; the dashboard translates them.
OUTCOMES = {
    Status.SUBMITTED: gettext_noop("open"),
    Status.IN_REVIEW: gettext_noop("open"),
    Status.CLARIFICATION: gettext_noop("open"),
    Status.PRESERVED: gettext_noop("preserved"),
    Status.RESPONDED: gettext_noop("responded"),
    Status.PARTIALLY_RESPONDED: gettext_noop("partially responded"),
    Status.REFUSED: gettext_noop("refused"),
    Status.REFUSED_BY_ENFORCING: gettext_noop("refused by the enforcing authority"),
    Status.WITHDRAWN: gettext_noop("withdrawn"),
    Status.CLOSED: gettext_noop("closed"),
}


# The dashboard's words for them.
OUTCOME_LABELS = {
    "open": _("Open"),
    "preserved": _("Preserved"),
    "responded": _("Responded"),
    "partially responded": _("Partially responded"),
    "refused": _("Refused"),
    "refused by the enforcing authority": _("Refused by the enforcing authority"),
    "withdrawn": _("Withdrawn"),
    "closed": _("Closed"),
}


# The dashboard lists this many failing requests and e-mails (the banner counts them all).
FAILURES_SHOWN = 50


def _instrument_label(code: str) -> str:
    # A code the table no longer knows (a retired instrument, a bad manual edit) shows as
    # itself: one such row must not take the lead dashboard down with it.
    return Instrument(code).label if code in Instrument.values else code


def _lead_or_404(user) -> None:
    if not policies.has(user, policies.Capability.VIEW_DASHBOARD):
        raise Http404


@dataclass
class Dashboard:
    overdue: int
    # Open requests past their legal time limit (a subset of overdue: due_at <= legal_due_at).
    past_legal_limit: int
    due_within_hour: int
    due_within_day: int
    load: list[dict]
    response_times: list[dict]
    # Requests answered (last 90 days) after the internal target but before the legal limit,
    # and those answered after the legal time limit: counted apart.
    answered_late_internal: int
    answered_late_legal: int
    # Requests the deadline sweep keeps failing on, and e-mails that keep failing to send.
    failing_alerts: list[dict]
    failing_emails: list[dict]
    # The files the purge sweep deletes in the next days (retention.py), soonest first.
    coming_purges: list[dict]


def dashboard(user, *, now: datetime | None = None) -> Dashboard:
    _lead_or_404(user)
    now = now or timezone.now()
    open_requests = LegalRequest.objects.filter(status__in=OPEN_STATUSES)
    deadlines = open_requests.aggregate(
        overdue=Count("id", filter=Q(due_at__lt=now)),
        past_legal=Count("id", filter=Q(legal_due_at__lte=now)),
        hour=Count("id", filter=Q(due_at__gte=now, due_at__lt=now + timedelta(hours=1))),
        day=Count("id", filter=Q(due_at__gte=now, due_at__lt=now + timedelta(days=1))),
    )
    load = list(
        open_requests.values("assignee", "assignee__full_name", "assignee__email")
        .annotate(
            open=Count("id"),
            overdue=Count("id", filter=Q(due_at__lt=now)),
            emergency=Count("id", filter=Q(is_emergency=True)),
        )
        .order_by("-open")
    )
    late = answered_late(since=now - timedelta(days=90))
    return Dashboard(
        overdue=deadlines["overdue"],
        past_legal_limit=deadlines["past_legal"],
        due_within_hour=deadlines["hour"],
        due_within_day=deadlines["day"],
        load=load,
        response_times=response_times(since=now - timedelta(days=90)),
        answered_late_internal=late["internal"],
        answered_late_legal=late["legal"],
        failing_alerts=list(
            requests_with_failing_alerts()
            .order_by("reference")
            .values("reference", "public_id", "alert_failures", "alert_error", "next_alert_at")[
                :FAILURES_SHOWN
            ]
        ),
        failing_emails=list(
            notifications_failing()
            .order_by("created_at")
            .values(
                "key",
                "request__reference",
                "template",
                "alert_kind",
                "attempts",
                "last_error",
                "send_after",
            )[:FAILURES_SHOWN]
        ),
        coming_purges=coming_purges(now),
    )


def coming_purges(now: datetime) -> list[dict]:
    """What the purge sweep will delete in the next COMING_DAYS days, so that a lead can set a
    legal hold in time (docs/security.md, "Custody")."""
    return [
        {
            "reference": stored.request.reference,
            "public_id": stored.request.public_id,
            "name": stored.original_name,
            "produced": isinstance(stored, ProducedData),
            "due": stored.purge_due_at,
        }
        for stored in retention.files_coming(now)
    ]


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[int(fraction * 100) - 1]


def answered_late(*, since: datetime) -> dict[str, int]:
    """Requests received since `since` and answered late: "internal", after the internal target
    only (the legal limit, if any, still ahead); "legal", at or after the legal time limit (an
    answer is in time strictly before it). The two never overlap."""
    answered = LegalRequest.objects.filter(answered_at__isnull=False, received_at__gte=since)
    return answered.aggregate(
        internal=Count(
            "id",
            filter=Q(answered_at__gt=F("due_at"))
            & (Q(legal_due_at__isnull=True) | Q(answered_at__lt=F("legal_due_at"))),
        ),
        legal=Count("id", filter=Q(answered_at__gte=F("legal_due_at"))),
    )


def response_times(*, since: datetime) -> list[dict]:
    """Median and 90th percentile of (answered - received) per instrument, in hours."""
    rows = LegalRequest.objects.filter(
        answered_at__isnull=False, received_at__gte=since
    ).values_list("instrument", "received_at", "answered_at")
    by_instrument: dict[str, list[float]] = {}
    for instrument, received, answered in rows:
        by_instrument.setdefault(instrument, []).append(
            (answered - received).total_seconds() / 3600
        )
    return [
        {
            "instrument": _instrument_label(code),
            "count": len(hours),
            "median_hours": round(statistics.median(hours), 2),
            "p90_hours": round(_percentile(hours, 0.9), 2),
            # The same as durations, which the dashboard shows in hours and minutes.
            "median": timedelta(hours=statistics.median(hours)),
            "p90": timedelta(hours=_percentile(hours, 0.9)),
        }
        for code, hours in sorted(by_instrument.items())
    ]


def transparency_report(user, *, start: datetime, end: datetime) -> list[dict]:
    """Requests received in [start, end): Member State x instrument x outcome, with counts."""
    _lead_or_404(user)
    rows = (
        LegalRequest.objects.filter(received_at__gte=start, received_at__lt=end)
        .values("authority__country", "instrument", "status")
        .annotate(n=Count("id"))
    )
    table: dict[tuple[str, str, str], int] = {}
    for row in rows:
        key = (row["authority__country"], row["instrument"], OUTCOMES[row["status"]])
        table[key] = table.get(key, 0) + row["n"]
    return [
        {
            "country": country,
            "country_name": EU_MEMBER_STATES.get(country, country),
            "instrument": _instrument_label(instrument),
            "outcome": outcome,
            "outcome_label": OUTCOME_LABELS.get(outcome, outcome),
            "count": count,
        }
        for (country, instrument, outcome), count in sorted(table.items())
    ]
