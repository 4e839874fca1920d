"""Deadline alerts: which alerts a request is due, and the sweep that queues them.

Design (docs/deadlines.md):
- The database is the source of truth. `LegalRequest.next_alert_at` (indexed) says when the sweep
  must look at a request next; a Celery beat task sweeps the rows whose time has come. No ETA
  task per request: losing Redis loses nothing.
- An alert is a Notification row, unique per (request, kind, threshold, deadline version). Two
  sweeps, two beat processes or a redelivered task can only try to insert the same row twice;
  the database keeps one.
- The outbox (requests_app/notifications.py) claims the row with a lease, asks this module's
  send-time hook whether the alert still applies (the deadline version is current and the
  request unresolved) and what time is left, sends, then marks it sent. The hook is registered
  when the app is ready (apps.py): the outbox never imports the alerts.
"""

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from portal.logs import reference_bound
from portal.services import heartbeat_record

from . import instruments, roles
from .ex_post_validation import Validation, ValidationState, validation_state
from .models import OPEN_STATUSES, LegalRequest, Notification
from .notifications import Email, notice_context, notifications_enqueue, notifications_failing
from .preservation import Preservation, PreservationState, preservation_state

logger = logging.getLogger(__name__)
SWEEP_HEARTBEAT = "deadline-sweep"
Kind = Notification.AlertKind
# Alerts of a legal duty that no later change of the deadline undoes (delete the data, validate
# the order): at send time they are checked against the predicate, not the deadline version.
DUTY_KINDS = frozenset({Kind.PRESERVATION_END, Kind.VALIDATION_DUE, Kind.VALIDATION_FAILED})


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
    now: datetime,
    preservation: Preservation | None = None,
    validation: Validation | None = None,
) -> tuple[list[AlertSpec], datetime | None]:
    """The alerts due now for the current deadline version, and when the next one falls.

    1. While the clock runs (an open status and a deadline): an alert at each fraction of the
       time allowed (PORTAL_ALERT_FRACTIONS), one at the deadline, then escalations every
       PORTAL_OVERDUE_REPEAT_MINUTES until the request is resolved (only the latest escalation
       if several fell due while the sweep was down).
    2. While a preservation runs (preservation.preservation_state): a notice
       PORTAL_PRESERVATION_NOTICE_DAYS before it lapses; once it lapsed or was ended, one alert
       to delete the data (PRESERVATION_END), until the deletion is recorded.
    3. An emergency order awaiting its ex post validation (ex_post_validation): a reminder at
       36 hours; once refused or lapsed, one alert to delete (VALIDATION_FAILED: threshold 0
       for a refusal, 48 for a lapse).
    4. Thresholds that fell before this version of the deadline began are not due: they
       belonged to the deadline as it was (and were alerted then, or had no deadline).
    """
    specs: list[AlertSpec] = []
    if status in OPEN_STATUSES and due_at is not None:
        allowed = instruments.rule_for(instrument).time_allowed(emergency=emergency)
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
    if preservation is not None:
        if preservation.state == PreservationState.RUNNING:
            days = settings.PORTAL_PRESERVATION_NOTICE_DAYS
            specs.append(
                AlertSpec(Kind.PRESERVATION, days, preservation.until - timedelta(days=days))
            )
        if preservation.until is not None and preservation.active:
            specs.append(AlertSpec(Kind.PRESERVATION_END, 0, preservation.until))
        if preservation.deletion_due:
            specs.append(AlertSpec(Kind.PRESERVATION_END, 0, preservation.delete_from))
    if validation is not None:
        hours = int((validation.due_at - validation.remind_at).total_seconds() // 3600)
        if validation.state == ValidationState.PENDING:
            specs.append(AlertSpec(Kind.VALIDATION_DUE, hours, validation.remind_at))
            specs.append(AlertSpec(Kind.VALIDATION_FAILED, 48, validation.due_at))
        elif validation.deletion_due:
            threshold = 48 if validation.state == ValidationState.LAPSED else 0
            specs.append(AlertSpec(Kind.VALIDATION_FAILED, threshold, validation.failed_at))
    start = changed_at or now
    due = [s for s in specs if start <= s.at <= now]
    upcoming = [s.at for s in specs if s.at > now]
    return due, min(upcoming) if upcoming else None


def request_schedule(legal_request: LegalRequest, now: datetime):
    return schedule(
        instrument=legal_request.instrument,
        emergency=legal_request.is_emergency,
        status=legal_request.status,
        due_at=legal_request.due_at,
        changed_at=legal_request.deadline_changed_at,
        now=now,
        preservation=preservation_state(legal_request, now),
        validation=validation_state(legal_request, now),
    )


def deadline_changed(legal_request: LegalRequest, *, now: datetime | None = None) -> None:
    """Call (inside the transaction) whenever due_at, the status or the preservation end of a
    request changes: a new deadline version, and the sweep looks at it at once."""
    now = now or timezone.now()
    legal_request.deadline_version += 1
    legal_request.deadline_changed_at = now
    legal_request.next_alert_at = now
    LegalRequest.objects.filter(pk=legal_request.pk).update(
        deadline_version=legal_request.deadline_version,
        deadline_changed_at=now,
        next_alert_at=now,
    )


# --- Recipients -------------------------------------------------------------------------------


class Team:
    """The legal team's addresses, read once per sweep (every unassigned alert goes to the same
    on-duty team) instead of once per alert."""

    def __init__(self) -> None:
        self._on_duty: list[str] | None = None
        self._leads: list[str] | None = None

    @property
    def on_duty(self) -> list[str]:
        if self._on_duty is None:
            self._on_duty = _addresses(groups=[roles.REVIEWER, roles.LEAD], on_duty=True)
        return self._on_duty

    @property
    def leads(self) -> list[str]:
        if self._leads is None:
            self._leads = _addresses(groups=[roles.LEAD])
        return self._leads


def _addresses(*, groups: list[str], on_duty: bool = False) -> list[str]:
    users = get_user_model().objects.filter(groups__name__in=groups, is_active=True)
    if on_duty:
        users = users.filter(on_duty=True)
    return sorted(set(users.values_list("email", flat=True)))


def recipients(legal_request: LegalRequest, kind: str, team: Team | None = None) -> list[str]:
    """The assignee, or the whole on-duty legal team when nobody is assigned; an emergency's
    arrival also to every lead (its approval waits for one); overdue escalations also go to
    every lead; a preservation notice also to the authority."""
    team = team or Team()
    if kind == Kind.ARRIVAL:
        if legal_request.is_emergency:
            # An emergency needs a lead's approval: every lead is told at once, on duty or not.
            return sorted(set(team.on_duty) | set(team.leads))
        return team.on_duty
    assigned = [legal_request.assignee.email] if legal_request.assignee_id else team.on_duty
    if kind == Kind.OVERDUE:
        return sorted(set(assigned) | set(team.leads))
    if kind in (Kind.PRESERVATION, Kind.VALIDATION_DUE):
        return sorted(set(assigned) | {legal_request.officer.email})
    if kind in (Kind.PRESERVATION_END, Kind.VALIDATION_FAILED):
        # A duty of the whole legal team, whoever holds the request.
        return sorted(set(assigned) | set(team.on_duty))
    return assigned


# --- Queueing ---------------------------------------------------------------------------------


def alert_key(legal_request: LegalRequest, kind: str, threshold: int, version: int) -> str:
    return f"alert:{legal_request.pk}:{kind}:{threshold}:v{version}"


def alert_email(
    legal_request: LegalRequest,
    *,
    kind: str,
    threshold: int,
    due_at: datetime,
    team: Team | None = None,
) -> Email:
    """The outbox row of one alert. Its context is filled in when it is sent (the send-time
    hook below): the time left then, not now."""
    version = legal_request.deadline_version
    return Email(
        key=alert_key(legal_request, kind, threshold, version),
        legal_request=legal_request,
        alert_kind=kind,
        threshold=threshold,
        deadline_version=version,
        due_at=due_at,
        recipients=recipients(legal_request, kind, team),
        template="deadline_alert",
        language="en",
    )


def alert_queue(
    legal_request: LegalRequest, *, kind: str, threshold: int, due_at: datetime
) -> Notification | None:
    """Queue one alert (an urgent arrival); None if it was queued before."""
    created = notifications_enqueue(
        [alert_email(legal_request, kind=kind, threshold=threshold, due_at=due_at)]
    )
    return created[0] if created else None


@dataclass
class SweepResult:
    requests: int = 0
    queued: int = 0
    failed: int = 0
    batches: list[float] = field(default_factory=list)


# A request the sweep fails on is tried again after 1, 2, 4 ... at most 60 minutes.
ALERT_RETRY_MAX_MINUTES = 60


def alert_retry_delay(failures: int) -> timedelta:
    return timedelta(minutes=min(ALERT_RETRY_MAX_MINUTES, 2 ** min(failures - 1, 6)))


# Requests per sweep call: one lock, one read and one outbox insert for the lot.
SWEEP_BATCH = 1000


def deadline_sweep(*, now: datetime | None = None, batch: int = SWEEP_BATCH) -> SweepResult:
    """Queue every alert that has fallen due for up to `batch` requests, with their rows locked
    (skip the ones another sweep holds), then move each request's next_alert_at on.

    1. Lock the due rows (partial index request_next_alert), oldest first, and read them with
       their assignee and officer in one query.
    2. Work out each request's due alerts in Python, each on its own: one that raises (an
       instrument the rule table no longer knows, a corrupt field) is recorded on the request
       (alert_failures, alert_error) and tried again after a backoff, and the others go on.
       Leads see it on their dashboard and /healthz answers 503.
    3. Queue the batch's alerts in one outbox call and move next_alert_at on in one UPDATE, in
       a savepoint. If the database refuses that (a row no check above foresaw), the batch is
       done again request by request, each in its own savepoint.
    4. Stamp the heartbeat only once the sweep has committed: it means "the last sweep
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
        result.requests = len(due_ids)
        if due_ids:
            try:
                with transaction.atomic():
                    _sweep_batch(due_ids, now, result)
            except Exception:
                logger.exception("deadline sweep: batch refused, request by request")
                result.queued = result.failed = 0
                for pk in due_ids:
                    _sweep_alone(pk, now, result)
    heartbeat_record(name=SWEEP_HEARTBEAT)
    return result


def deadline_sweep_until_done(*, budget_seconds: float) -> SweepResult:
    """Sweep batch after batch while batches come back full, within a time budget (the beat
    task's): a burst of 10,000 alerts due in one minute is queued in that minute, not one
    batch of 1,000 per beat tick."""
    started = time.monotonic()
    total = SweepResult()
    while True:
        batch_started = time.monotonic()
        result = deadline_sweep()
        total.requests += result.requests
        total.queued += result.queued
        total.failed += result.failed
        total.batches.append(round(time.monotonic() - batch_started, 3))
        # A batch that is not full, or only failures, means nothing more is due now.
        if result.requests < SWEEP_BATCH or result.failed == result.requests:
            return total
        if time.monotonic() - started > budget_seconds:
            logger.warning("deadline sweep: budget spent, the next tick goes on")
            return total


# What the sweep reads of a request: its clock, its recipients and its failure record.
SWEEP_FIELDS = (
    "reference",
    "instrument",
    "is_emergency",
    "status",
    "due_at",
    "deadline_changed_at",
    "deadline_version",
    "received_at",
    "preservation_until",
    "preservation_extended_at",
    "production_reference",
    "preservation_ended_at",
    "validation_due_at",
    "validation_outcome",
    "validation_recorded_at",
    "data_deleted_at",
    "alert_failures",
    "assignee__email",
    "officer__email",
)


def _sweep_batch(due_ids: list[int], now: datetime, result: SweepResult) -> None:
    by_pk = (
        LegalRequest.objects.select_related("assignee", "officer")
        .only(*SWEEP_FIELDS)
        .in_bulk(due_ids)
    )
    team = Team()
    emails: list[Email] = []
    swept: list[LegalRequest] = []
    failures: list[tuple[int, Exception]] = []
    for pk in due_ids:
        legal_request = by_pk.get(pk)
        if legal_request is None:
            continue
        try:
            due, upcoming = request_schedule(legal_request, now)
            emails += [
                alert_email(
                    legal_request, kind=s.kind, threshold=s.threshold, due_at=s.at, team=team
                )
                for s in due
            ]
        except Exception as exc:
            failures.append((pk, exc))
            continue
        _log_recovery(legal_request)
        legal_request.next_alert_at = upcoming
        legal_request.alert_failures = 0
        legal_request.alert_error = ""
        swept.append(legal_request)
    result.queued += len(notifications_enqueue(emails))
    _move_next_alert_at(swept)
    for pk, exc in failures:
        result.failed += 1
        _record_alert_failure(pk, exc, now)


def _move_next_alert_at(swept: list[LegalRequest]) -> None:
    """Each request's next_alert_at, and its failure record cleared, in one statement. On
    PostgreSQL an UPDATE from two arrays: Django's bulk_update builds a CASE of 1,000 branches
    per column, which took most of a sweep's time (docs/performance.md)."""
    if not swept:
        return
    if connection.vendor != "postgresql":
        LegalRequest.objects.bulk_update(swept, ["next_alert_at", "alert_failures", "alert_error"])
        return
    with connection.cursor() as cursor:
        cursor.execute(
            _MOVE_NEXT_ALERT_AT, [[r.pk for r in swept], [r.next_alert_at for r in swept]]
        )


# The table name is the model's and every value a parameter.
_MOVE_NEXT_ALERT_AT = (
    f"UPDATE {LegalRequest._meta.db_table} AS r SET next_alert_at = v.next_alert_at,"  # noqa: S608  # nosec B608
    " alert_failures = 0, alert_error = ''"
    " FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(id, next_alert_at) WHERE r.id = v.id"
)


def _sweep_alone(pk: int, now: datetime, result: SweepResult) -> None:
    """The fallback of a refused batch: one request in its own savepoint."""
    try:
        with transaction.atomic():
            legal_request = LegalRequest.objects.select_related("assignee", "officer").get(pk=pk)
            due, upcoming = request_schedule(legal_request, now)
            result.queued += len(
                notifications_enqueue(
                    alert_email(legal_request, kind=s.kind, threshold=s.threshold, due_at=s.at)
                    for s in due
                )
            )
            LegalRequest.objects.filter(pk=pk).update(
                next_alert_at=upcoming, alert_failures=0, alert_error=""
            )
            _log_recovery(legal_request)
    except Exception as exc:
        result.failed += 1
        _record_alert_failure(pk, exc, now)


def _log_recovery(legal_request: LegalRequest) -> None:
    if legal_request.alert_failures:
        with reference_bound(legal_request.reference):
            logger.warning(
                "alerts for %s work again after %s failed sweeps",
                legal_request.reference,
                legal_request.alert_failures,
            )


def _record_alert_failure(pk: int, exc: Exception, now: datetime) -> None:
    """The request's alerts are failing: keep the error, retry after the backoff (the retry
    time is next_alert_at, so the sweep's indexed query skips it until then)."""
    row = LegalRequest.objects.filter(pk=pk).values("reference", "alert_failures").first()
    if row is None:
        return
    failures = row["alert_failures"] + 1
    retry_at = now + alert_retry_delay(failures)
    with reference_bound(row["reference"]):
        # exc_info names the exception: this runs after the except block that caught it.
        logger.error(
            "alerts failing for %s (failure %s, next try %s)",
            row["reference"],
            failures,
            retry_at,
            exc_info=exc,
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


def alerts_at_send_time(rows: list[Notification]) -> dict[int, dict | None]:
    """The outbox's send-time hook for deadline alerts (registered in apps.py): for each row,
    None if the alert no longer applies (the deadline it was computed for is no longer the
    request's, or the request is resolved: a request answered a minute before its alert gets
    no alert), else what it says now (the time left when it is sent, not when it was queued).
    Raises on a row it cannot answer (the outbox then asks row by row)."""
    requests = LegalRequest.objects.select_related("authority").in_bulk(
        {row.request_id for row in rows}
    )
    answers: dict[int, dict | None] = {}
    for row in rows:
        legal_request = requests[row.request_id]
        if not _still_applies(row, legal_request):
            answers[row.pk] = None
            continue
        answers[row.pk] = {
            **notice_context(legal_request, language=row.language),
            "kind": row.alert_kind,
            "threshold": row.threshold,
            "preservation_until": (
                legal_request.preservation_until.strftime("%Y-%m-%d %H:%M UTC")
                if legal_request.preservation_until
                else ""
            ),
            "validation_due_at": (
                legal_request.validation_due_at.strftime("%Y-%m-%d %H:%M UTC")
                if legal_request.validation_due_at
                else ""
            ),
            "validation_refused": legal_request.validation_outcome == "refused",
        }
    return answers


def _still_applies(row: Notification, legal_request: LegalRequest) -> bool:
    if row.alert_kind == Kind.ARRIVAL:
        return legal_request.status in OPEN_STATUSES
    if row.alert_kind in DUTY_KINDS:
        return _duty_still_applies(row.alert_kind, legal_request)
    if legal_request.deadline_version != row.deadline_version:
        return False
    if row.alert_kind == Kind.PRESERVATION:
        preservation = preservation_state(legal_request, timezone.now())
        return preservation is not None and preservation.state == PreservationState.RUNNING
    return legal_request.status in OPEN_STATUSES


def _duty_still_applies(kind: str, legal_request: LegalRequest) -> bool:
    now = timezone.now()
    if kind == Kind.PRESERVATION_END:
        preservation = preservation_state(legal_request, now)
        return preservation is not None and preservation.deletion_due
    validation = validation_state(legal_request, now)
    if kind == Kind.VALIDATION_DUE:
        return validation is not None and validation.state == ValidationState.PENDING
    return validation is not None and validation.deletion_due


# The alert kinds about one request, checked when sent; the digest is sent as queued.
SEND_TIME_KINDS = (
    Kind.ARRIVAL,
    Kind.FRACTION,
    Kind.DEADLINE,
    Kind.OVERDUE,
    Kind.PRESERVATION,
    *sorted(DUTY_KINDS),
)


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
    failing = notifications_failing().count()
    created = notifications_enqueue(
        [
            Email(
                key=f"digest:{now:%Y-%m-%d}",
                alert_kind=Kind.DIGEST,
                threshold=0,
                due_at=now,
                recipients=Team().leads,
                template="daily_digest",
                context={**figures, "failing_emails": failing, "date": f"{now:%Y-%m-%d}"},
            )
        ]
    )
    return created[0] if created else None
