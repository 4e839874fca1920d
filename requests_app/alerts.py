"""Deadline alerts: which alerts a request is due, and the sweep that queues them.

Design (docs/deadlines.md):
- The database is the source of truth. `LegalRequest.next_alert_at` (indexed) says when the sweep
  must look at a request next; a Celery beat task sweeps the rows whose time has come. No ETA
  task per request: losing Redis loses nothing.
- An alert is a Notification row, unique per (request, kind, threshold, deadline version). Two
  sweeps, two beat processes or a redelivered task can only try to insert the same row twice;
  the database keeps one.
- The send task claims the row with a lease, re-checks that the alert still applies (the deadline
  version is current and the request unresolved), sends, then marks it sent.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from portal.services import heartbeat_record

from . import instruments as I
from . import roles
from .models import OPEN_STATUSES, LegalRequest, Notification, Status

logger = logging.getLogger(__name__)
SWEEP_HEARTBEAT = "deadline-sweep"
Kind = Notification.AlertKind
PRESERVATION_ACTIVE = frozenset(
    {Status.SUBMITTED, Status.IN_REVIEW, Status.CLARIFICATION, Status.PRESERVED}
)


@dataclass(frozen=True)
class AlertSpec:
    kind: str
    threshold: int
    at: datetime


def schedule(
    *,
    instrument: str,
    emergency: bool,
    status: str,
    due_at: datetime | None,
    changed_at: datetime | None,
    preservation_until: datetime | None,
    now: datetime,
) -> tuple[list[AlertSpec], datetime | None]:
    """The alerts due now for the current deadline version, and when the next one falls.

    1. While the clock runs (an open status and a deadline): an alert at each fraction of the
       time allowed (PORTAL_ALERT_FRACTIONS), one at the deadline, then escalations every
       PORTAL_OVERDUE_REPEAT_MINUTES until the request is resolved (only the latest escalation
       if several fell due while the sweep was down).
    2. While a preservation runs: a notice PORTAL_PRESERVATION_NOTICE_DAYS before it lapses.
    3. Thresholds that fell before this version of the deadline began are not due: they
       belonged to the deadline as it was (and were alerted then, or had no deadline).
    """
    specs: list[AlertSpec] = []
    if status in OPEN_STATUSES and due_at is not None:
        allowed = I.rule_for(instrument).time_allowed(emergency=emergency)
        for percent in settings.PORTAL_ALERT_FRACTIONS:
            specs.append(
                AlertSpec(Kind.FRACTION, percent, due_at - allowed * (100 - percent) / 100)
            )
        specs.append(AlertSpec(Kind.DEADLINE, 100, due_at))
        every = timedelta(minutes=settings.PORTAL_OVERDUE_REPEAT_MINUTES)
        latest = int((now - due_at) / every) if now > due_at else 0
        if latest >= 1:
            specs.append(AlertSpec(Kind.OVERDUE, latest, due_at + latest * every))
        specs.append(AlertSpec(Kind.OVERDUE, latest + 1, due_at + (latest + 1) * every))
    if preservation_until is not None and status in PRESERVATION_ACTIVE:
        days = settings.PORTAL_PRESERVATION_NOTICE_DAYS
        specs.append(AlertSpec(Kind.PRESERVATION, days, preservation_until - timedelta(days=days)))
    start = changed_at or now
    due = [s for s in specs if start <= s.at <= now]
    upcoming = [s.at for s in specs if s.at > now]
    return due, min(upcoming) if upcoming else None


def request_schedule(request: LegalRequest, now: datetime):
    return schedule(
        instrument=request.instrument,
        emergency=request.is_emergency,
        status=request.status,
        due_at=request.due_at,
        changed_at=request.deadline_changed_at,
        preservation_until=request.preservation_until,
        now=now,
    )


def deadline_changed(request: LegalRequest, *, now: datetime | None = None) -> None:
    """Call (inside the transaction) whenever due_at, the status or the preservation end of a
    request changes: a new deadline version, and the sweep looks at it at once."""
    now = now or timezone.now()
    request.deadline_version += 1
    request.deadline_changed_at = now
    request.next_alert_at = now
    LegalRequest.objects.filter(pk=request.pk).update(
        deadline_version=request.deadline_version,
        deadline_changed_at=now,
        next_alert_at=now,
    )


# --- Recipients -------------------------------------------------------------------------------


def _team(*, leads_only: bool = False) -> list[str]:
    from django.contrib.auth import get_user_model

    groups = [roles.LEAD] if leads_only else [roles.REVIEWER, roles.LEAD]
    users = get_user_model().objects.filter(groups__name__in=groups, is_active=True)
    if not leads_only:
        users = users.filter(on_duty=True)
    return sorted(set(users.values_list("email", flat=True)))


def recipients(request: LegalRequest, kind: str) -> list[str]:
    """The assignee, or the whole on-duty legal team when nobody is assigned; overdue
    escalations also go to every lead; a preservation notice also to the authority."""
    team = [request.assignee.email] if request.assignee_id else _team()
    if kind in (Kind.ARRIVAL,):
        return _team()
    if kind == Kind.OVERDUE:
        return sorted(set(team) | set(_team(leads_only=True)))
    if kind == Kind.PRESERVATION:
        return sorted(set(team) | {request.officer.email})
    return team


# --- Queueing ---------------------------------------------------------------------------------


def alert_key(request: LegalRequest, kind: str, threshold: int, version: int) -> str:
    return f"alert:{request.pk}:{kind}:{threshold}:v{version}"


def alert_queue(
    request: LegalRequest, *, kind: str, threshold: int, due_at: datetime
) -> Notification | None:
    """Insert the alert row once; None if it exists (another sweep or beat got there first)."""
    version = request.deadline_version
    try:
        with transaction.atomic():
            notification = Notification.objects.create(
                key=alert_key(request, kind, threshold, version),
                request=request,
                alert_kind=kind,
                threshold=threshold,
                deadline_version=version,
                due_at=due_at,
                recipients=recipients(request, kind),
                template="deadline_alert",
                language="en",
            )
    except IntegrityError:
        return None
    if not notification.recipients:
        logger.error("alert %s has no recipient: nobody on duty?", notification.key)
    from .tasks import deliver_notification

    transaction.on_commit(lambda: deliver_notification.delay(notification.pk))
    return notification


@dataclass
class SweepResult:
    requests: int = 0
    queued: int = 0
    failed: int = 0


# A request the sweep fails on is tried again after 1, 2, 4 ... at most 60 minutes.
ALERT_RETRY_MAX_MINUTES = 60


def alert_retry_delay(failures: int) -> timedelta:
    return timedelta(minutes=min(ALERT_RETRY_MAX_MINUTES, 2 ** min(failures - 1, 6)))


def deadline_sweep(*, now: datetime | None = None, batch: int = 1000) -> SweepResult:
    """Queue every alert that has fallen due, request by request, with the row locked (skip
    the ones another sweep holds), then move each request's next_alert_at on.

    1. Lock the due rows (partial index request_next_alert), oldest first.
    2. Handle each request in its own savepoint: one that raises (an instrument the rule table
       no longer knows, a corrupt field) rolls back only its own alerts; it is recorded on the
       request (alert_failures, alert_error) and tried again after a backoff, and the others
       are queued. Leads see it on their dashboard and /healthz answers 503.
    3. Stamp the heartbeat only once the sweep has committed: it means "the last sweep
       finished", so a sweep that crashes as a whole turns /healthz red.
    """
    now = now or timezone.now()
    result = SweepResult()
    with transaction.atomic():
        due_ids = list(
            LegalRequest.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(next_alert_at__lte=now)
            .order_by("next_alert_at")
            .values_list("pk", flat=True)[:batch]
        )
        for pk in due_ids:
            result.requests += 1
            try:
                with transaction.atomic():
                    result.queued += _sweep_one(pk, now)
            except Exception as exc:
                result.failed += 1
                _record_alert_failure(pk, exc, now)
    heartbeat_record(name=SWEEP_HEARTBEAT)
    return result


def _sweep_one(pk: int, now: datetime) -> int:
    """Queue one request's due alerts and move its next_alert_at on; clear a failure record."""
    request = LegalRequest.objects.select_related("assignee", "officer").get(pk=pk)
    queued = 0
    due, upcoming = request_schedule(request, now)
    for spec in due:
        if alert_queue(request, kind=spec.kind, threshold=spec.threshold, due_at=spec.at):
            queued += 1
    LegalRequest.objects.filter(pk=pk).update(
        next_alert_at=upcoming, alert_failures=0, alert_error=""
    )
    if request.alert_failures:
        logger.warning(
            "alerts for %s work again after %s failed sweeps",
            request.reference,
            request.alert_failures,
        )
    return queued


def _record_alert_failure(pk: int, exc: Exception, now: datetime) -> None:
    """The request's alerts are failing: keep the error, retry after the backoff (the retry
    time is next_alert_at, so the sweep's indexed query skips it until then)."""
    row = LegalRequest.objects.filter(pk=pk).values("reference", "alert_failures").first()
    if row is None:
        return
    failures = row["alert_failures"] + 1
    retry_at = now + alert_retry_delay(failures)
    logger.exception(
        "alerts failing for %s (failure %s, next try %s)", row["reference"], failures, retry_at
    )
    LegalRequest.objects.filter(pk=pk).update(
        alert_failures=failures,
        alert_error=f"{type(exc).__name__}: {exc}"[:500],
        next_alert_at=retry_at,
    )


def requests_with_failing_alerts():
    """Requests whose alerts the sweep keeps failing on (partial index request_alerts_failing):
    /healthz, the lead dashboard and the leads' banner."""
    return LegalRequest.objects.filter(alert_failures__gt=0)


def alert_still_applies(notification: Notification) -> bool:
    """At send time: the deadline it was computed for is still the request's, and the request
    is not resolved (a request answered a minute before the alert gets no alert)."""
    if not notification.alert_kind or notification.request_id is None:
        return True
    if notification.alert_kind == Kind.DIGEST:
        return True
    request = LegalRequest.objects.only("status", "deadline_version").get(
        pk=notification.request_id
    )
    if notification.alert_kind == Kind.ARRIVAL:
        return request.status in OPEN_STATUSES
    if request.deadline_version != notification.deadline_version:
        return False
    if notification.alert_kind == Kind.PRESERVATION:
        return request.status in PRESERVATION_ACTIVE
    return request.status in OPEN_STATUSES


def daily_digest(*, now: datetime | None = None) -> Notification | None:
    """One digest a day to the leads: what is overdue and what falls due today."""
    now = now or timezone.now()
    open_requests = LegalRequest.objects.filter(status__in=OPEN_STATUSES)
    figures = open_requests.aggregate(
        open=Count("id"),
        overdue=Count("id", filter=Q(due_at__lt=now)),
        today=Count("id", filter=Q(due_at__gte=now, due_at__lt=now + timedelta(days=1))),
        emergency=Count("id", filter=Q(is_emergency=True)),
        unassigned=Count("id", filter=Q(assignee__isnull=True)),
    )
    from .notifications import notifications_failing

    failing = notifications_failing().count()
    return _queue_digest(now, {**figures, "failing_emails": failing})


def _queue_digest(now: datetime, figures: dict) -> Notification | None:
    try:
        with transaction.atomic():
            notification = Notification.objects.create(
                key=f"digest:{now:%Y-%m-%d}",
                alert_kind=Kind.DIGEST,
                threshold=0,
                due_at=now,
                recipients=_team(leads_only=True),
                template="daily_digest",
                context={**figures, "date": f"{now:%Y-%m-%d}"},
            )
    except IntegrityError:
        return None
    from .tasks import deliver_notification

    transaction.on_commit(lambda: deliver_notification.delay(notification.pk))
    return notification
