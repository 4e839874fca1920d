"""A request's life: the statuses it may move between (TRANSITIONS), the move itself
(`transition`), its legal clock (`clock_events`, `recompute_due_at`) and the e-mail telling the
authority of a change (`notify_authority`). The officer's services (requests_app.services) and
the legal team's (requests_app.review.services) both call here; who may act is asked of
requests_app.policies before."""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone, translation
from django.utils.translation import gettext

from . import alerts, deadlines
from .models import LegalRequest, RequestEvent, Status
from .notifications import Email, notice_context, notifications_enqueue
from .retention import ENDED_STATUSES, attachments_schedule_purge

# The one table of allowed transitions. A transition is a conditional update whose row count
# must be 1 (transition, below), so two people acting at once cannot both win.
TRANSITIONS: dict[str, frozenset[str]] = {
    Status.DRAFT: frozenset({Status.SUBMITTED}),
    Status.SUBMITTED: frozenset(
        {
            Status.IN_REVIEW,
            Status.CLARIFICATION,
            Status.REFUSED,
            Status.REFUSED_BY_ENFORCING,
            Status.WITHDRAWN,
        }
    ),
    Status.IN_REVIEW: frozenset(
        {
            Status.CLARIFICATION,
            Status.PRESERVED,
            Status.RESPONDED,
            Status.PARTIALLY_RESPONDED,
            Status.REFUSED,
            Status.REFUSED_BY_ENFORCING,
            Status.WITHDRAWN,
        }
    ),
    Status.CLARIFICATION: frozenset(
        {Status.IN_REVIEW, Status.REFUSED, Status.REFUSED_BY_ENFORCING, Status.WITHDRAWN}
    ),
    Status.PRESERVED: frozenset({Status.RESPONDED, Status.CLOSED, Status.WITHDRAWN}),
    Status.PARTIALLY_RESPONDED: frozenset({Status.RESPONDED, Status.CLOSED, Status.REFUSED}),
    Status.RESPONDED: frozenset({Status.CLOSED}),
    Status.REFUSED: frozenset({Status.CLOSED}),
    Status.REFUSED_BY_ENFORCING: frozenset({Status.CLOSED}),
    Status.WITHDRAWN: frozenset({Status.CLOSED}),
    Status.CLOSED: frozenset(),
}


class TransitionError(ValidationError):
    """Refused because of the request's state (not the user's rights): the page says why."""


def in_english(text) -> str:
    """Text stored in an event row stays English, whoever acted; pages translate it."""
    with translation.override("en"):
        return str(text)


def transition_refusal(current: str, to: str) -> str:
    """Why a request in status `current` cannot become `to` ("" when the table allows it): the
    one wording of the rule, for the services (transition) and the pages (policies)."""
    if to in TRANSITIONS[current]:
        return ""
    return gettext("A request that is “%(current)s” cannot become “%(to)s”.") % {
        "current": Status(current).label,
        "to": Status(to).label,
    }


def transition(
    *,
    legal_request: LegalRequest,
    to: str,
    actor,
    kind: str = RequestEvent.Kind.STATUS_CHANGED,
    detail: str = "",
    visible: bool = True,
    at=None,
    **fields,
) -> RequestEvent:
    """Move a request to another status if the table allows it and nobody moved it meanwhile.
    `at`: the event's time, when the service has fixed it (a submission's receipt); else now."""
    current = legal_request.status
    refusal = transition_refusal(current, to)
    if refusal:
        raise TransitionError(refusal)
    updated = LegalRequest.objects.filter(pk=legal_request.pk, status=current).update(
        status=to, **fields
    )
    if updated != 1:
        raise TransitionError(
            gettext("Someone else changed this request meanwhile; reload the page.")
        )
    legal_request.status = to
    for name, value in fields.items():
        setattr(legal_request, name, value)
    # The request is over: its documents' retention starts (docs/security.md, "Custody").
    if to in ENDED_STATUSES:
        attachments_schedule_purge(legal_request, ended_at=timezone.now())
    return RequestEvent.objects.create(
        request=legal_request,
        kind=kind,
        actor=actor,
        from_status=current,
        to_status=to,
        detail=detail,
        visible_to_authority=visible,
        **({"at": at} if at is not None else {}),
    )


def notify_authority(
    legal_request: LegalRequest, *, key: str, template: str, extra: dict | None = None
) -> None:
    notifications_enqueue(
        [
            Email(
                key=f"{key}:{legal_request.pk}",
                recipients=[legal_request.officer.email],
                template=template,
                context=notice_context(
                    legal_request,
                    language=legal_request.officer.preferred_language,
                    time_zone=legal_request.officer.time_zone,
                )
                | (extra or {}),
                legal_request=legal_request,
                language=legal_request.officer.preferred_language,
            )
        ]
    )


def clock_events(legal_request: LegalRequest) -> list[deadlines.ClockEvent]:
    kinds = {
        RequestEvent.Kind.SUBMITTED: deadlines.RECEIVED,
        RequestEvent.Kind.CLOCK_STOPPED: deadlines.CLOCK_STOPPED,
        RequestEvent.Kind.CLOCK_RESTARTED: deadlines.CLOCK_RESTARTED,
    }
    return [
        deadlines.ClockEvent(kinds[kind], at)
        for kind, at in legal_request.events.filter(kind__in=kinds).values_list("kind", "at")
    ]


def ceil_minute(at):
    """The next whole minute (deadlines are stored to the minute; a hold never ends early)."""
    whole = at.replace(second=0, microsecond=0)
    return whole if whole == at else whole + timedelta(minutes=1)


def recompute_due_at(legal_request: LegalRequest) -> None:
    """Store the deadlines the clock events give: the internal target (due_at, never later than
    the legal limit) and the legal time limit in the enforcing State (legal_due_at). A changed
    due_at is a new deadline version (its alerts replace the old ones, which are cancelled if
    still unsent)."""
    due_at, legal_due_at = deadlines.stored_deadlines(
        instrument=legal_request.instrument,
        emergency=legal_request.is_emergency,
        events=clock_events(legal_request),
        state=settings.PORTAL_ENFORCING_STATE,
    )
    hold_end = legal_request.hold_released_at or legal_request.hold_until
    if due_at is not None and hold_end is not None and hold_end > due_at:
        # e-Evidence Art. 10(2): no data before the enforcing authority's window ends, and they
        # go at its end; so both deadlines fall there (an emergency's 8 hours wait for its 96),
        # and the internal target is still never later than the legal limit.
        due_at = ceil_minute(hold_end)
        if legal_due_at is not None and legal_due_at < due_at:
            legal_due_at = due_at
    changed = due_at != legal_request.due_at or legal_request.deadline_version == 0
    legal_request.due_at = due_at
    legal_request.legal_due_at = legal_due_at
    LegalRequest.objects.filter(pk=legal_request.pk).update(
        due_at=due_at, legal_due_at=legal_due_at
    )
    if changed:
        alerts.deadline_changed(legal_request)
